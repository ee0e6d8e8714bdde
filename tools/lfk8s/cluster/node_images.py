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
import lzma
import re
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lfk8s.cluster.node_config import SANDBOX_IMAGE
from lfk8s.paths import cache_dir
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain import debian

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


# The Debian suite whose busybox-static the busybox image is made of: trixie's 1.37.0, the
# version of the chart's test-hook image (bookworm's 1.35 crashes on `wget -T`, which the hooks use).
BUSYBOX_SUITE = "trixie"
# A page at /www/index.html, for `httpd -h /www` checks of pod networking.
INDEX_HTML = b"hello from the lfk8s real node\n"


# ---------- busybox, from Debian's busybox-static ----------

def deb_member(deb: bytes, prefix: str) -> tuple[str, bytes]:
    """The first member of a .deb (an ar archive) whose name starts with `prefix`."""
    if not deb.startswith(b"!<arch>\n"):
        raise ValueError("not a .deb (ar archive)")
    offset = 8
    while offset + 60 <= len(deb):
        header = deb[offset:offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        if name.startswith(prefix):
            return name, deb[offset + 60:offset + 60 + size]
        offset += 60 + size + (size % 2)
    raise ValueError(f"no {prefix}* in the .deb")


def busybox_binary(deb: Path) -> bytes:
    """bin/busybox from the busybox-static package's data.tar.xz."""
    name, data = deb_member(deb.read_bytes(), "data.tar")
    if name.endswith(".xz"):
        data = lzma.decompress(data)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        # /bin before Debian's merged /usr (bookworm), /usr/bin after (trixie).
        names = set(tar.getnames())
        path = next((p for p in ("./bin/busybox", "./usr/bin/busybox") if p in names), None)
        member = tar.extractfile(path) if path else None
        if member is None:
            raise ValueError(f"{deb} has no bin/busybox")
        return member.read()


def busybox_image_spec(binary: bytes, applets: list[str], reference: str) -> ImageSpec:
    files = [ImageFile("bin/busybox", binary, 0o755)]
    files += [ImageFile(f"bin/{name}", link="busybox") for name in applets if name != "busybox"]
    files += [ImageFile("www/index.html", INDEX_HTML), ImageFile("tmp", None, 0o1777)]
    return ImageSpec(reference=reference, files=files, cmd=["sh"])


def busybox_archive(reference: str, report: Reporter = quiet) -> Path:
    """A busybox image named `reference`, as a docker-archive cached beside the .deb it comes
    from: Debian trixie's busybox-static 1.37.0, the version of the chart's test-hook image
    (bookworm's 1.35 crashes on `wget -T`, which the hooks use)."""
    deb = debian.download_deb("busybox-static", report, suite=BUSYBOX_SUITE)
    tag = re.sub(r"[^A-Za-z0-9_.-]", "_", reference)
    archive = cache_dir() / "images" / f"{deb.stem}-{tag}.tar"
    if archive.exists():
        return archive
    binary = busybox_binary(deb)
    with tempfile.TemporaryDirectory() as tmp:
        runnable = Path(tmp) / "busybox"
        runnable.write_bytes(binary)
        runnable.chmod(0o755)
        applets = subprocess.run([str(runnable), "--list"], capture_output=True, text=True, check=True).stdout.split()
    return write_archive(busybox_image_spec(binary, applets, reference), archive)
