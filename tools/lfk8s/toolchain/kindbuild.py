"""Builds what a kind cluster needs beyond the real node's tools, from source through the Go module proxy.

kind itself (sigs.k8s.io/kind at KIND_VERSION), kubeadm and kubectl (k8s.io/kubernetes at
KUBERNETES_VERSION, with the same wrapper module, tags and version stamps as the control plane),
and a CoreDNS with the plugins kubeadm's default Corefile names (the real node's CoreDNS lacks
prometheus, reload and loadbalance, and CoreDNS refuses a Corefile naming a plugin it lacks).
Each is checked with its version flag and cached under cache_dir() keyed by version.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from lfk8s.paths import cache_dir
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain import kubebuild, nodebuild
from lfk8s.toolchain.builders import GoBinary, ToolchainError
from lfk8s.versions import COREDNS_VERSION, ETCD_VERSION, KIND_VERSION, KUBERNETES_VERSION

KIND_PACKAGE = "sigs.k8s.io/kind"
KUBEADM_COMMANDS = ("kubeadm", "kubectl")
# kubeadm's default Corefile (cmd/kubeadm/app/phases/addons/dns/manifests.go) uses these plugins.
KIND_COREDNS_PLUGINS = ("errors", "health", "ready", "kubernetes", "prometheus", "forward", "cache", "loop",
                        "reload", "loadbalance")


def etcd_tag() -> str:
    return ETCD_VERSION.lstrip("v")


def kubeadm_cluster_patch() -> str:
    """The kubeadm ClusterConfiguration patch naming the etcd and CoreDNS built here by their own
    tags (not kubeadm's defaults): the kind config carries it, and the node image is checked with it."""
    return (f"kind: ClusterConfiguration\netcd:\n  local:\n    imageTag: \"{etcd_tag()}\"\n"
            f"dns:\n  imageTag: \"{COREDNS_VERSION}\"\n")


def kind_tool() -> GoBinary:
    # kind's version is a source constant; only the commit is stamped (unknown through the proxy).
    return GoBinary(name="kind", package=KIND_PACKAGE, version=KIND_VERSION)


def kind_binary(report: Reporter = quiet) -> Path:
    """kind at KIND_VERSION, built once."""
    tool = kind_tool()
    if tool.path.exists():
        return tool.path
    path = tool.ensure(report)
    try:
        kubebuild.check_version(path, f"kind {KIND_VERSION}", flag="version")
    except ToolchainError:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise
    return path


def kind_source(report: Reporter = quiet) -> Path:
    """The unpacked sigs.k8s.io/kind module at KIND_VERSION (its images/base/files are the node's files)."""
    with tempfile.TemporaryDirectory(prefix="lfk8s-kind-src-") as tmp:
        output = kubebuild.run_go(["mod", "download", "-json", f"{KIND_PACKAGE}@{KIND_VERSION}"], Path(tmp),
                                  f"go mod download {KIND_PACKAGE}@{KIND_VERSION}")
    return Path(json.loads(output)["Dir"])


def kubeadm_dir() -> Path:
    return cache_dir() / f"kubernetes-kubeadm-v{KUBERNETES_VERSION.lstrip('v')}"


def kubeadm_binaries(report: Reporter = quiet) -> dict[str, Path]:
    """kubeadm and kubectl at KUBERNETES_VERSION."""
    final = kubeadm_dir()
    binaries = {name: final / name for name in KUBEADM_COMMANDS}
    if all(path.exists() for path in binaries.values()):
        return binaries
    version = "v" + KUBERNETES_VERSION.lstrip("v")
    kubebuild.go_executable()
    staging = kubebuild.staging_dir(final)
    with tempfile.TemporaryDirectory(prefix="lfk8s-kubeadm-") as tmp:
        workdir = Path(tmp)
        upstream, released = kubebuild.download_module("k8s.io/kubernetes", version, workdir)
        (workdir / "go.mod").write_text(kubebuild.kubernetes_wrapper_gomod(upstream, version))
        ldflags = kubebuild.kubernetes_ldflags(version, released)
        for name in KUBEADM_COMMANDS:
            report(f"building {name} {version} from source (first run only, about a minute once kubelet is built)")
            kubebuild.build_main(workdir, f"k8s.io/kubernetes/cmd/{name}", staging / name, ldflags,
                                 kubebuild.KUBERNETES_BUILD_TAGS)
        for name in KUBEADM_COMMANDS:
            _check_client_version(staging / name, version)
    kubebuild.publish(staging, final)
    return binaries


def _check_client_version(binary: Path, version: str) -> None:
    # `kubectl version` alone also asks a server; --client (and kubeadm's -o short) do not.
    flags = ["--client"] if binary.name == "kubectl" else ["-o", "short"]
    result = subprocess.run([str(binary), "version", *flags], capture_output=True, text=True, timeout=60)
    if result.returncode != 0 or version not in result.stdout:
        raise ToolchainError(f"{binary.name} version printed {(result.stdout + result.stderr).strip()!r}, "
                             f"expected {version!r}")


def kind_coredns_dir() -> Path:
    return cache_dir() / f"coredns-kubeadm-{COREDNS_VERSION}"


def kind_coredns_binary(report: Reporter = quiet) -> Path:
    """CoreDNS at COREDNS_VERSION with the plugins of kubeadm's Corefile."""
    return nodebuild.build_coredns(kind_coredns_dir(), KIND_COREDNS_PLUGINS, "with kubeadm's plugins", report)

