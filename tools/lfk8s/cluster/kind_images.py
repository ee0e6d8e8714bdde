"""A large docker image into one kind node's containerd within modest disk: `docker save` (what
`kind load` runs) makes a full temporary copy in the daemon first, then containerd holds the
layers twice (content and unpacked). Here the image's filesystem is streamed from `docker export`
(no temporary copy), gzip-compressed on the way as one layer into the node's content store, and
imported as a one-layer OCI image under the same name, with docker's config (user, env, entry
point, working dir); peak about 1.5 times the image, its compressed layer dropped after unpack.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import zlib
from typing import IO, Any

from lfk8s.cluster.local import ClusterError
from lfk8s.progress import Reporter, quiet

DOCKER_ID_LABEL = "lfk8s.io/docker-image-id"
_CHUNK = 1 << 20


def _ctr(node: str, *args: str) -> list[str]:
    return ["docker", "exec", "-i", node, "ctr", "-n", "k8s.io", *args]


def present(node: str, reference: str, image_id: str) -> bool:
    listed = subprocess.run(_ctr(node, "images", "ls", f"name=={reference}"), capture_output=True, text=True)
    return f"{DOCKER_ID_LABEL}={image_id}" in listed.stdout


def _stream_layer(source: IO[bytes], sink: IO[bytes]) -> tuple[str, str, int]:
    """Gzips `source` into `sink`; (diff id, blob digest, blob size)."""
    uncompressed, compressed = hashlib.sha256(), hashlib.sha256()
    gzip = zlib.compressobj(1, zlib.DEFLATED, 31)
    size = 0
    while chunk := source.read(_CHUNK):
        uncompressed.update(chunk)
        out = gzip.compress(chunk)
        compressed.update(out)
        sink.write(out)
        size += len(out)
    out = gzip.flush()
    compressed.update(out)
    sink.write(out)
    size += len(out)
    return f"sha256:{uncompressed.hexdigest()}", f"sha256:{compressed.hexdigest()}", size


def _descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": f"sha256:{hashlib.sha256(data).hexdigest()}", "size": len(data)}


def oci_archive(reference: str, inspect: dict[str, Any], diff_id: str, layer: dict[str, Any]) -> bytes:
    """An OCI layout tar with the index, manifest and config; the layer blob is in the store already."""
    config = json.dumps({"architecture": inspect["Architecture"], "os": inspect["Os"],
                         "config": {k: v for k, v in inspect["Config"].items() if v and k in (
                             "User", "Env", "Entrypoint", "Cmd", "WorkingDir", "Labels", "ExposedPorts", "Volumes")},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    config_desc = _descriptor("application/vnd.oci.image.config.v1+json", config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": config_desc, "layers": [layer]}).encode()
    manifest_desc = _descriptor("application/vnd.oci.image.manifest.v1+json", manifest)
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {**manifest_desc, "annotations": {"io.containerd.image.name": reference,
                                          "org.opencontainers.image.ref.name": reference}}]}).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in (("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index),
                           (f"blobs/sha256/{config_desc['digest'][7:]}", config),
                           (f"blobs/sha256/{manifest_desc['digest'][7:]}", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def import_flattened(node: str, reference: str, report: Reporter = quiet) -> bool:
    """Docker's image `reference` into `node`'s containerd (see the module); skipped when the node
    has this very image already (docker's image id, kept as a label). True if imported."""
    inspect = json.loads(subprocess.run(["docker", "image", "inspect", reference], capture_output=True, text=True,
                                        check=True).stdout)[0]
    if present(node, reference, inspect["Id"]):
        return False
    report(f"importing {reference} into {node}'s containerd (docker export, gzip, one layer)")
    container = subprocess.run(["docker", "create", "--entrypoint", "/bin/true", reference], capture_output=True,
                               text=True, check=True).stdout.strip()
    try:
        export = subprocess.Popen(["docker", "export", container], stdout=subprocess.PIPE)
        ingest = subprocess.Popen(_ctr(node, "content", "ingest", f"lfk8s-{container[:12]}"), stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert export.stdout and ingest.stdin and ingest.stderr
        diff_id, digest, size = _stream_layer(export.stdout, ingest.stdin)
        ingest.stdin.close()
        ingest_err = ingest.stderr.read().decode()
        if export.wait() != 0 or ingest.wait() != 0:
            raise ClusterError(f"could not stream {reference} into {node}: {ingest_err[-2000:]}")
    finally:
        subprocess.run(["docker", "rm", container], capture_output=True)
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size}
    imported = subprocess.run(_ctr(node, "images", "import", "--local", "--discard-unpacked-layers", "--label",
                                   f"{DOCKER_ID_LABEL}={inspect['Id']}", "-"),
                              input=oci_archive(reference, inspect, diff_id, layer), capture_output=True)
    if imported.returncode != 0 or not present(node, reference, inspect["Id"]):
        raise ClusterError(f"could not import {reference} into {node}: {imported.stderr.decode()[-2000:]}")
    return True
