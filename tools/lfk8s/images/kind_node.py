"""The kind node image, assembled on this machine with no registry (`images kind-node`).

What `kind build node-image` would do, from parts this machine can get: kind's base-image files
(from the sigs.k8s.io/kind module), Debian's packages (systemd, runc, the CNI plugins, iptables)
on the Debian base made by debootstrap, and the binaries built from source (kubeadm, kubelet,
kubectl, containerd, crictl). The control-plane images (kube-apiserver, kube-controller-manager,
kube-scheduler, kube-proxy, etcd, CoreDNS, pause) and local-path-provisioner's are small images
of those binaries, imported into the node's containerd at build time, pinned and not unpacked,
as kind does. `kind build node-image` itself cannot be used: it pulls its base image and the
etcd, CoreDNS, pause, kindnetd and storage images from registries.

The image is tagged with a digest of its recipe and inputs' versions, so a second call builds
nothing and a changed recipe builds a new image.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from lfk8s.images import kind_files
from lfk8s.images.bases import ensure_base, image_exists
from lfk8s.images.kind_parts import ComponentImage, component_images, save_components
from lfk8s.images.pins import ImageError
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain import kindbuild, kubebuild, nodebuild
from lfk8s.toolchain.kindbuild import kubeadm_cluster_patch
from lfk8s.versions import CONTAINERD_VERSION, KIND_VERSION, KUBERNETES_VERSION

NODE_BASE = "debian:bookworm-slim"
NODE_REPOSITORY = "lfk8s.local/kind-node"
# Bumped by hand when the build steps change in a way the recipe digest does not see.
RECIPE_REVISION = "1"


def _docker(args: list[str], what: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise ImageError(f"{what} failed:\n{(result.stdout + result.stderr)[-3000:]}")
    return result.stdout


def recipe_digest(components: list[ComponentImage]) -> str:
    parts = [RECIPE_REVISION, KIND_VERSION, KUBERNETES_VERSION, CONTAINERD_VERSION, NODE_BASE,
             kind_files.node_dockerfile(NODE_BASE, KUBERNETES_VERSION), kind_files.runc_wrapper(),
             kind_files.containerd_config("pause"), kind_files.cni_script(), kind_files.CNI_UNIT,
             kubeadm_cluster_patch(), *(f"{c.reference}={c.dockerfile()}" for c in components)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def node_image_reference() -> str:
    return f"{NODE_REPOSITORY}:v{KUBERNETES_VERSION.lstrip('v')}-{recipe_digest(component_images())}"


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _node_context(context: Path, components: list[ComponentImage], report: Reporter) -> None:
    """kind's base-image files, ours, and the node's binaries, laid out for node_dockerfile."""
    source = kindbuild.kind_source(report)
    (context / "kind-files").mkdir(parents=True)
    for part in ("usr", "kind", "etc"):
        # The module cache is read-only; copy contents without its modes.
        subprocess.run(["cp", "-r", "--no-preserve=mode", str(source / "images" / "base" / "files" / part),
                        str(context / "kind-files")], check=True)
    pause = next(c for c in components if c.role == "pause").reference
    ours = context / "lfk8s"
    _write(ours / "etc" / "containerd" / "config.toml", kind_files.containerd_config(pause))
    _write(ours / "etc" / "systemd" / "system" / "lfk8s-cni.service", kind_files.CNI_UNIT)
    provisioner = next(c for c in components if c.role == "storage").reference
    helper = next(c for c in components if c.role == "storage-helper").reference
    const_storage = (source / "pkg" / "build" / "nodeimage" / "const_storage.go").read_text()
    _write(context / "kind-files" / "kind" / "manifests" / "default-storage.yaml",
           kind_files.storage_manifest(const_storage, provisioner, helper))
    _write(ours / "bin" / "lfk8s-cni", kind_files.cni_script(), 0o755)
    _write(ours / "sbin" / "runc", kind_files.runc_wrapper(), 0o755)
    binaries = dict(nodebuild.containerd_binaries(report))
    binaries["crictl"] = nodebuild.crictl_binary(report)
    for name, path in binaries.items():
        shutil.copy(path, ours / "bin" / name)
    (context / "kubernetes").mkdir()
    node_tools = {**kubebuild.kubernetes_node_binaries(report), **kindbuild.kubeadm_binaries(report)}
    for name in ("kubeadm", "kubelet", "kubectl"):
        shutil.copy(node_tools[name], context / "kubernetes" / name)
    _write(context / "Dockerfile", kind_files.node_dockerfile(NODE_BASE, KUBERNETES_VERSION))


_IMPORT = """set -e
nohup containerd > /tmp/containerd.log 2>&1 &
for i in $(seq 1 50); do [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 && break; sleep 0.2; done
for archive in /kind-images/*.tar; do
  ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack "$archive"
done
ctr --namespace=k8s.io images list -q
pkill containerd
while pgrep -x containerd >/dev/null; do sleep 0.2; done
rm -rf /tmp/containerd.log /run/containerd
"""


def _preload(base_image: str, archives: Path, reference: str) -> list[str]:
    """Imports the archives into the node's containerd in a build container, then commits it (kind's way)."""
    container = _docker(["run", "-d", "--entrypoint", "sleep", "-v", f"{archives}:/kind-images:ro", base_image,
                         "infinity"], "starting the node build container").strip()
    try:
        listed = _docker(["exec", container, "bash", "-c", _IMPORT], "importing the images into the node's containerd")
        _docker(["commit", "--change", 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]',
                 container, reference], "docker commit of the node image")
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", container], capture_output=True)
    return listed.split()


def ensure_node_image(report: Reporter = quiet) -> str:
    """The node image's reference: in docker already, or built now (several minutes the first time)."""
    components = component_images()
    reference = node_image_reference()
    if image_exists(reference):
        return reference
    ensure_base(NODE_BASE, report)
    env = dict(os.environ, DOCKER_BUILDKIT="0")
    with tempfile.TemporaryDirectory(prefix="lfk8s-kind-node-") as tmp:
        archives = Path(tmp) / "images"
        save_components(components, archives, Path(tmp) / "components", report)
        context = Path(tmp) / "node"
        _node_context(context, components, report)
        base_image = f"{NODE_REPOSITORY}-base:{reference.rsplit(':', 1)[1]}"
        report(f"building the node's base {base_image} (Debian packages from deb.debian.org)")
        _docker(["build", "--pull=false", "-t", base_image, str(context)], "docker build of the node base", env)
        try:
            report("importing the control-plane images into the node's containerd")
            listed = _preload(base_image, archives, reference)
        finally:
            subprocess.run(["docker", "rmi", base_image], capture_output=True)
    missing = [c.reference for c in components if not any(name.endswith(c.reference) for name in listed)]
    if missing:
        subprocess.run(["docker", "rmi", reference], capture_output=True)
        raise ImageError(f"the node's containerd lacks {missing} after the import; it listed {listed}")
    report(f"kind node image {reference} built")
    return reference
