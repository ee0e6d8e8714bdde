"""Builds the local cluster's storage provisioner, rancher's local-path-provisioner, from source
through the Go module proxy (its module has no replace lines: plain `go install`), stamped with
its version, checked with `--version` and cached under cache_dir() keyed by version."""

from __future__ import annotations

import shutil
from pathlib import Path

from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain.builders import GoBinary, ToolchainError
from lfk8s.toolchain.kubebuild import check_version
from lfk8s.versions import LOCAL_PATH_PROVISIONER_VERSION

PROVISIONER_PACKAGE = "github.com/rancher/local-path-provisioner"
# Measured on 2 cores with empty Go module and build caches (downloads included).
_ESTIMATE = "about 3.5 minutes"


def provisioner_tool(version: str = LOCAL_PATH_PROVISIONER_VERSION) -> GoBinary:
    # scripts/build stamps main.VERSION; without it `--version` says 0.0.1.
    return GoBinary(name="local-path-provisioner", package=PROVISIONER_PACKAGE, version=version,
                    ldflags=f"-X main.VERSION={version}")


def ensure_provisioner(report: Reporter = quiet) -> Path:
    """The local-path-provisioner binary at LOCAL_PATH_PROVISIONER_VERSION, built once."""
    tool = provisioner_tool()
    if tool.path.exists():
        return tool.path
    report(f"local-path-provisioner {tool.version}: first build takes {_ESTIMATE} on 2 cores")
    path = tool.ensure(report)
    try:
        check_version(path, f"version {tool.version}")
    except ToolchainError:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise
    return path
