"""Helm 3 and 4 built from source with the stamps helm's release builds carry.

helm's Makefile (at the pinned tags v3.22.0 and v4.3.1) stamps internal/version and, for
helm 3 only, the Kubernetes version offline rendering assumes (pkg/chartutil and
pkg/lint/rules k8sVersionMajor/Minor, taken from the k8s.io/client-go it builds with). Without
those, helm 3 renders as Kubernetes v1.20 and refuses charts with a newer kubeVersion. Helm 4
reads its client-go version from the binary's build information instead, so it needs only
the version stamps.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from lfk8s import versions
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain import kubebuild
from lfk8s.toolchain.builders import GoBinary, ToolchainError

# The -X targets (relative to helm.sh/helm/vN) the Makefile sets, with the value each gets;
# {version}, {kube_major} and {kube_minor} are filled in at build time.
_VERSION_STAMPS = (
    ("internal/version.version", "{version}"),
    # The module proxy serves the tagged tree as it is: the Makefile's GIT_DIRTY is "clean".
    ("internal/version.gitTreeState", "clean"),
)
_KUBE_STAMPS = tuple(
    (f"{package}.{variable}", value)
    for package in ("pkg/chartutil", "pkg/lint/rules")
    for variable, value in (("k8sVersionMajor", "{kube_major}"), ("k8sVersionMinor", "{kube_minor}"))
)
STAMPS: dict[int, tuple[tuple[str, str], ...]] = {3: _VERSION_STAMPS + _KUBE_STAMPS, 4: _VERSION_STAMPS}

# Makefile targets left at helm's defaults, and why: the proxy carries no commit hash (an
# empty gitCommit is helm's own default), and a tagged release's metadata is empty.
NOT_STAMPED = {
    "internal/version.gitCommit": "the Go module proxy carries no commit hash",
    "internal/version.metadata": "empty for a tagged release, as helm's default is",
}

# Measured on 2 cores: about a minute each with an empty Go build cache, 28 s for both when
# only the stamps changed (the build cache holds everything but the link).
_ESTIMATE = "about a minute on 2 cores, seconds when only its stamps changed"


def helm_module(major: int) -> str:
    return f"helm.sh/helm/v{major}"


def stamp_key(major: int) -> str:
    """A short hash of the stamp recipe: in the cache path, so changed stamps mean one rebuild."""
    return hashlib.sha256(repr(STAMPS[major]).encode()).hexdigest()[:8]


def kube_client_version(helm_gomod: str) -> tuple[str, str]:
    """(major, minor) of the Kubernetes release matching the k8s.io/client-go helm requires,
    computed as the Makefile's K8S_MODULES_MAJOR_VER/MINOR_VER: client-go v0.X.Y is Kubernetes 1.X."""
    requires, _ = kubebuild.parse_gomod(helm_gomod)
    client_go = requires.get("k8s.io/client-go")
    if client_go is None:
        raise ToolchainError("helm's go.mod requires no k8s.io/client-go: cannot stamp its Kubernetes version")
    major, minor = client_go.lstrip("v").split(".")[:2]
    return str(int(major) + 1), minor


def helm_ldflags(major: int, version: str, helm_gomod: str) -> str:
    kube_major, kube_minor = kube_client_version(helm_gomod)
    values = {"version": version, "kube_major": kube_major, "kube_minor": kube_minor}
    module = helm_module(major)
    return " ".join(f"-X {module}/{target}={value.format(**values)}" for target, value in STAMPS[major])


def helm_go_binary(major: int, ldflags: str = "") -> GoBinary:
    return GoBinary(name="helm", package=f"{helm_module(major)}/cmd/helm", version=versions.HELM_VERSIONS[major],
                    ldflags=ldflags, key=stamp_key(major))


def build_path(major: int) -> Path:
    """Where the pinned build of helm `major` lives (or will) in the cache."""
    return helm_go_binary(major).path


def probe_version(binary: Path) -> str:
    """What `helm version` says its version is; ToolchainError when it cannot say."""
    try:
        result = subprocess.run([str(binary), "version", "--template", "{{.Version}}"],
                                capture_output=True, text=True, timeout=60)
    except OSError as error:
        raise ToolchainError(f"cannot run {binary}: {error.strerror}") from error
    except subprocess.TimeoutExpired as error:
        raise ToolchainError(f"`{binary} version` did not answer in 60 s") from error
    if result.returncode != 0:
        raise ToolchainError(f"`{binary} version` failed: {(result.stderr or result.stdout).strip()[-500:]}")
    return result.stdout.strip()


def ensure_built(major: int, report: Reporter = quiet) -> Path:
    """The pinned helm `major`, built from source once and then taken from the cache."""
    path = build_path(major)
    if path.exists():
        return path
    version = versions.HELM_VERSIONS[major]
    module = helm_module(major)
    report(f"helm {major}: no helm of yours fits; the first build takes {_ESTIMATE}")
    with tempfile.TemporaryDirectory(prefix="lfk8s-helm-") as tmp:
        gomod, _ = kubebuild.download_module(module, version, Path(tmp))
    built = helm_go_binary(major, helm_ldflags(major, version, gomod)).ensure(report)
    found = probe_version(built)
    if found != version:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise ToolchainError(f"the helm just built says it is {found!r}, expected {version}")
    return built
