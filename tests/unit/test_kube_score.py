"""kube-score (the pinned build) on every values file's render: no CRITICAL finding, and every
check the chart skips (`kube-score/ignore`) has its reason beside it. A canary proves the run
finds what it should: the training Job stripped of its ephemeral-storage limits is CRITICAL."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from lfk8s.chart import rendering
from lfk8s.chart.helm import Helm
from lfk8s.chart.kube_score import run_kube_score
from lfk8s.chart.rendering import Rendered, pod_specs
from lfk8s.paths import ProjectPaths
from tests.conftest import RenderFn

VALUES_FILES = sorted(p.name for p in (Path(__file__).parents[2] / "values").glob("*.yaml"))
REASONS = "llama-factory.io/kube-score-ignore-reasons"


@pytest.fixture(scope="module")
def renders(helm: Helm, paths: ProjectPaths) -> dict[str, Rendered]:
    return {name: rendering.render_file(helm, paths, paths.values_dir / name) for name in VALUES_FILES}


@pytest.mark.parametrize("name", VALUES_FILES)
def test_no_critical_finding(renders: dict[str, Rendered], name: str) -> None:
    report = run_kube_score(renders[name])
    assert report.critical == [], "\n".join(report.critical)
    assert report.passed > 10


@pytest.mark.parametrize("name", VALUES_FILES)
def test_every_ignored_check_has_its_reason(renders: dict[str, Rendered], name: str) -> None:
    for obj in renders[name].objects:
        annotations = obj["metadata"].get("annotations") or {}
        ignored = [c.strip() for c in annotations.get("kube-score/ignore", "").split(",") if c.strip()]
        reasons = dict(r.split("=", 1) for r in annotations.get(REASONS, "").splitlines() if "=" in r)
        assert sorted(reasons) == sorted(ignored), f"{obj['kind']}/{obj['metadata']['name']}"
        assert all(len(reason) > 20 for reason in reasons.values())


def test_pull_policy_always_needs_no_skip(render: RenderFn, all_on: dict[str, Any]) -> None:
    values = copy.deepcopy(all_on)
    values["images"] = {name: {"pullPolicy": "Always"} for name in ("training", "vllm", "sglang", "easyr1", "router")}
    values["tests"] = {"image": {"pullPolicy": "Always"}}
    rendered = render(values)
    assert not [o for o in rendered.objects if "kube-score/ignore" in (o["metadata"].get("annotations") or {})]
    assert run_kube_score(rendered).critical == []


def test_canary_missing_ephemeral_storage_is_critical(renders: dict[str, Rendered]) -> None:
    stripped = Rendered(renders["local.yaml"].text)
    for workload, spec in pod_specs(stripped):
        if workload["kind"] == "Job":
            for container in spec["containers"]:
                for part in ("requests", "limits"):
                    container["resources"][part].pop("ephemeral-storage")
    critical = run_kube_score(Rendered(yaml.safe_dump_all(stripped.objects, sort_keys=False))).critical
    expected = "container-ephemeral-storage-request-and-limit Job/batch/v1/"
    assert critical and all(c.startswith(expected) for c in critical)
