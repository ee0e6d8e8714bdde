"""kube-score on rendered manifests, beside checkov in `lfk8s lint`: its CRITICAL findings are
problems; its warnings are reported; checks the chart skips carry a `kube-score/ignore`
annotation with their reason beside it (llama-factory.io/kube-score-ignore-reasons)."""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lfk8s import versions
from lfk8s.chart.rendering import Rendered
from lfk8s.toolchain.kubescore import kube_score_executable

# kube-score's grades (scorecard.Grade): 1 critical, 5 warning, 7 almost OK, 10 all OK; 0 skipped.
CRITICAL, WARNING = 1, 5


@dataclass
class KubeScoreReport:
    critical: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    passed: int = 0
    skipped: int = 0  # ignored by annotation, or not applicable


def _findings(obj: dict[str, Any], check: dict[str, Any]) -> list[str]:
    name = obj["object_name"]  # kind/apiVersion/namespace/name
    comments = check.get("comments") or [{}]
    return [f"{check['check']['id']} {name}: " + " ".join(
        part for part in (f"({c['path']})" if c.get("path") else "", c.get("summary", "")) if part)
        for c in comments]


def report_of(scored: list[dict[str, Any]]) -> KubeScoreReport:
    """A report from `kube-score score -o json` (format v2)."""
    report = KubeScoreReport()
    for obj in scored:
        for check in obj["checks"]:
            if check.get("skipped"):
                report.skipped += 1
            elif check["grade"] == CRITICAL:
                report.critical += _findings(obj, check)
            elif check["grade"] == WARNING:
                report.warnings += _findings(obj, check)
            else:
                report.passed += 1
    return report


def kube_version() -> str:
    """kube-score takes vMAJOR.MINOR only."""
    return "v" + ".".join(versions.KUBERNETES_VERSION.split(".")[:2])


def run_kube_score(rendered: Rendered) -> KubeScoreReport:
    with tempfile.TemporaryDirectory(prefix="lfk8s-kube-score-") as tmp:
        manifest = Path(tmp) / "manifests.yaml"
        manifest.write_text(rendered.text)
        result = subprocess.run(
            [str(kube_score_executable()), "score", "--kubernetes-version", kube_version(),
             "--output-format", "json", str(manifest)],
            capture_output=True, text=True,
        )
    # kube-score exits 1 when it finds a CRITICAL problem; the JSON is complete either way.
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise RuntimeError(f"kube-score failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return report_of(json.loads(result.stdout))
