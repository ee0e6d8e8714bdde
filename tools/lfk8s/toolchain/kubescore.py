"""kube-score, built from the Go module proxy at its pin and cached under ~/.cache/lfk8s: the
second linter of the rendered manifests, beside checkov."""

from __future__ import annotations

from pathlib import Path

from lfk8s import versions
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain.builders import GoBinary

# kube-score prints these with `kube-score version`; without them it reports "dev".
KUBE_SCORE = GoBinary(
    "kube-score", "github.com/zegl/kube-score/cmd/kube-score", versions.KUBE_SCORE_VERSION,
    ldflags=f"-X main.version={versions.KUBE_SCORE_VERSION.lstrip('v')}",
)


def kube_score_executable(report: Reporter = quiet) -> Path:
    return KUBE_SCORE.ensure(report)
