"""The CNCF distribution registry (`registry serve`), built from the Go module proxy at its pin:
the real OCI registry the chart is pushed to, pulled from and installed from in the tests."""

from __future__ import annotations

from pathlib import Path

from lfk8s import versions
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain.builders import GoBinary

DISTRIBUTION = GoBinary(
    "registry", "github.com/distribution/distribution/v3/cmd/registry", versions.DISTRIBUTION_VERSION,
    ldflags=f"-X github.com/distribution/distribution/v3/version.version={versions.DISTRIBUTION_VERSION}",
)


def registry_executable(report: Reporter = quiet) -> Path:
    return DISTRIBUTION.ensure(report)
