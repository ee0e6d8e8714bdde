"""Container images for the real node without a registry: docker-archive tars written here and
imported into the node's containerd (`ctr -n k8s.io images import`).

An image is one layer of files; the archive is the format `docker save` writes (manifest.json,
the config, the layer), which `ctr images import` reads. Archives are byte-for-byte reproducible
(fixed times and owners). The pause image every pod sandbox needs is made from the pause binary
the toolchain compiles.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lfk8s.cluster.node_config import SANDBOX_IMAGE

# 2000-01-01: a fixed time keeps archives reproducible.
_EPOCH = 946684800
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ImageFile:
    """One entry of an image's layer: a file (data), a directory (data None) or a symlink (link)."""

    path: str
    data: bytes | None = None
    mode: int = 0o644
    link: str = ""
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class ImageSpec:
    reference: str
    files: list[ImageFile]
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    user: str = ""
    env: list[str] = field(default_factory=lambda: [DEFAULT_PATH])
    workdir: str = "/"


def _add(tar: tarfile.TarFile, entry: ImageFile) -> None:
    info = tarfile.TarInfo(entry.path.lstrip("/"))
    info.mtime, info.uid, info.gid, info.mode = _EPOCH, entry.uid, entry.gid, entry.mode
    if entry.link:
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, entry.link, 0o777
        tar.addfile(info)
    elif entry.data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(entry.data)
        tar.addfile(info, io.BytesIO(entry.data))


def _parents(files: list[ImageFile]) -> list[ImageFile]:
    """The directories the files sit in that the list does not name itself, so the layer is complete."""
    named = {f.path.strip("/") for f in files}
    parents: set[str] = set()
    for f in files:
        parts = f.path.strip("/").split("/")[:-1]
        parents.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return [ImageFile(p, None, 0o755) for p in sorted(parents - named)]


def layer_tar(files: list[ImageFile]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(_parents(files) + files, key=lambda f: f.path.strip("/")):
            _add(tar, entry)
    return buffer.getvalue()


def image_config(spec: ImageSpec, diff_id: str) -> dict[str, Any]:
    config: dict[str, Any] = {"Env": spec.env, "WorkingDir": spec.workdir}
    if spec.entrypoint:
        config["Entrypoint"] = spec.entrypoint
    if spec.cmd:
        config["Cmd"] = spec.cmd
    if spec.user:
        config["User"] = spec.user
    return {"architecture": "amd64", "os": "linux", "created": "2000-01-01T00:00:00Z", "config": config,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": "2000-01-01T00:00:00Z", "created_by": "lfk8s.cluster.node_images"}]}


def write_archive(spec: ImageSpec, path: Path) -> Path:
    """The image as a docker-archive tar at `path`."""
    layer = layer_tar(spec.files)
    layer_digest = hashlib.sha256(layer).hexdigest()
    config = json.dumps(image_config(spec, f"sha256:{layer_digest}"), sort_keys=True).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [spec.reference],
                            "Layers": [f"{layer_digest}/layer.tar"]}]).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, ImageFile(layer_digest, None, 0o755))
        for name, data in ((f"{layer_digest}/layer.tar", layer), (config_name, config), ("manifest.json", manifest)):
            _add(tar, ImageFile(name, data))
    return path


def pause_image(pause_binary: Path) -> ImageSpec:
    """registry.k8s.io/pause as the node's containerd expects it (pinned as its sandbox image)."""
    return ImageSpec(reference=SANDBOX_IMAGE, files=[ImageFile("pause", pause_binary.read_bytes(), 0o755)],
                     entrypoint=["/pause"], user="65535:65535", env=[])


def import_archive(ctr: Path, socket: Path, archive: Path) -> str:
    """Imports a docker-archive into containerd's k8s.io namespace (where the CRI looks), unpacked."""
    command = [str(ctr), "--address", str(socket), "--namespace", "k8s.io", "images", "import",
               "--snapshotter", "overlayfs", str(archive)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {(result.stdout + result.stderr).strip()}")
    return result.stdout
