"""The images preloaded into the kind node: the control plane, CoreDNS, pause and local-path storage.

Each is a small image of a binary built here, under the name kubeadm asks for (`kubeadm config
images list` with the same ClusterConfiguration patch the cluster is created with, checked at
build time). etcd and CoreDNS are the versions built here, not kubeadm's defaults, so the patch
names their tags instead of passing them off under kubeadm's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lfk8s.images.kind_files import component_dockerfile
from lfk8s.images.pins import ImageError
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain import kindbuild, kubebuild, nodebuild, storagebuild
from lfk8s.toolchain.kindbuild import etcd_tag, kubeadm_cluster_patch
from lfk8s.versions import COREDNS_VERSION, KUBERNETES_VERSION, LOCAL_PATH_PROVISIONER_VERSION, PAUSE_VERSION

DEBIAN_BASE = "debian:bookworm-slim"
REGISTRY = "registry.k8s.io"
STORAGE_REPOSITORY = "lfk8s.local/kind"


@dataclass(frozen=True)
class ComponentImage:
    """One image: `binary` (a tool name) at `path`, FROM `base` with Debian `packages`."""

    role: str
    reference: str
    binary: str
    path: str
    base: str = "scratch"
    packages: tuple[str, ...] = ()
    entrypoint: bool = False

    def dockerfile(self) -> str:
        if not self.binary:
            return f"FROM {self.base}\n"
        return component_dockerfile(self.binary, self.path, self.base, self.packages, self.entrypoint)


def component_images() -> list[ComponentImage]:
    version = "v" + KUBERNETES_VERSION.lstrip("v")
    images = [ComponentImage(name, f"{REGISTRY}/{name}:{version}", name, f"/usr/local/bin/{name}")
              for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")]
    images += [
        # kube-proxy programs iptables (Debian's, nft backend) and clears conntrack entries.
        ComponentImage("kube-proxy", f"{REGISTRY}/kube-proxy:{version}", "kube-proxy", "/usr/local/bin/kube-proxy",
                       DEBIAN_BASE, ("iptables", "conntrack", "ipset", "kmod")),
        ComponentImage("etcd", f"{REGISTRY}/etcd:{etcd_tag()}", "etcd", "/usr/local/bin/etcd"),
        ComponentImage("coredns", f"{REGISTRY}/coredns/coredns:{COREDNS_VERSION}", "coredns", "/coredns",
                       entrypoint=True),
        ComponentImage("pause", f"{REGISTRY}/pause:{PAUSE_VERSION}", "pause", "/pause", entrypoint=True),
        ComponentImage("storage", f"{STORAGE_REPOSITORY}/local-path-provisioner:{LOCAL_PATH_PROVISIONER_VERSION}",
                       "local-path-provisioner", "/usr/local/bin/local-path-provisioner"),
        # The provisioner's helper pods run sh, mkdir and rm: the Debian base as it is.
        ComponentImage("storage-helper", f"{STORAGE_REPOSITORY}/local-path-helper:bookworm", "", "", DEBIAN_BASE),
    ]
    return images


def _binaries(report: Reporter) -> dict[str, Path]:
    binaries = {**kubebuild.kubernetes_binaries(report), **kubebuild.kubernetes_node_binaries(report)}
    binaries["etcd"] = kubebuild.etcd_binary(report)
    binaries["coredns"] = kindbuild.kind_coredns_binary(report)
    binaries["pause"] = nodebuild.pause_binary(report)
    binaries["local-path-provisioner"] = storagebuild.ensure_provisioner(report)
    binaries["kubeadm"] = kindbuild.kubeadm_binaries(report)["kubeadm"]
    return binaries


def check_kubeadm_images(kubeadm: Path, components: list[ComponentImage]) -> None:
    """Every image kubeadm will ask for is one of ours (fails the build before it starts otherwise)."""
    with tempfile.TemporaryDirectory(prefix="lfk8s-kubeadm-images-") as tmp:
        config = Path(tmp) / "kubeadm.yaml"
        config.write_text("apiVersion: kubeadm.k8s.io/v1beta4\n"
                          f"kubernetesVersion: v{KUBERNETES_VERSION.lstrip('v')}\n" + kubeadm_cluster_patch())
        result = subprocess.run([str(kubeadm), "config", "images", "list", "--config", str(config)],
                                capture_output=True, text=True)
    if result.returncode != 0:
        raise ImageError(f"kubeadm config images list failed: {result.stderr.strip()[-2000:]}")
    wanted = set(result.stdout.split())
    missing = sorted(wanted - {c.reference for c in components})
    if missing:
        raise ImageError(f"kubeadm asks for images the kind node would not have: {missing}")


def save_components(components: list[ComponentImage], archives: Path, workdir: Path, report: Reporter = quiet) -> None:
    """Builds each image in docker, saves it as a docker archive under `archives`, and untags it."""
    binaries = _binaries(report)
    check_kubeadm_images(binaries["kubeadm"], components)
    archives.mkdir(parents=True)
    env = dict(os.environ, DOCKER_BUILDKIT="0")
    for component in components:
        context = workdir / component.role
        context.mkdir(parents=True)
        if component.binary:
            shutil.copy(binaries[component.binary], context / component.binary)
        (context / "Dockerfile").write_text(component.dockerfile())
        report(f"image {component.reference}")
        for command in (["build", "--pull=false", "-t", component.reference, str(context)],
                        ["save", "-o", str(archives / f"{component.role}.tar"), component.reference]):
            result = subprocess.run(["docker", *command], capture_output=True, text=True, env=env)
            if result.returncode != 0:
                raise ImageError(f"docker {command[0]} {component.reference} failed:\n{result.stderr[-3000:]}")
        # The archive is what the node needs; the tag would only clutter docker's image list.
        subprocess.run(["docker", "rmi", component.reference], capture_output=True)
