"""NOTES.txt tells the user what was deployed and how to reach it."""

from __future__ import annotations

from typing import Any

from lfk8s.chart.helm import Helm
from lfk8s.paths import ProjectPaths


def notes(helm: Helm, paths: ProjectPaths, values: dict[str, Any]) -> str:
    return helm.notes(paths.chart, values, "demo", "llm-training")


def test_all_components_are_described(helm: Helm, paths: ProjectPaths, all_on: dict[str, Any]) -> None:
    all_on["inference"]["servedModelName"] = "my-model"
    text = notes(helm, paths, all_on)
    assert "kubectl -n llm-training port-forward svc/llm-inference 8000:8000" in text
    assert '"model": "my-model"' in text
    assert "port-forward svc/demo-llama-factory-webui 7860:7860" in text
    assert "Training (sft, lora, run \"run-1\"" in text
    assert "Merge (/storage/output/lora-adapter/run-1 -> /storage/models/merged-model" in text
    assert "helm test demo -n llm-training" in text


def test_base_only_mentions_no_workload(helm: Helm, paths: ProjectPaths) -> None:
    text = notes(helm, paths, {"mlflow": {"trackingUri": "http://mlflow:5000"}})
    assert "claim demo-llama-factory-storage mounted at /storage (kept on uninstall)" in text
    for absent in ("Training (", "Merge (", "WebUI:", "Inference ("):
        assert absent not in text


def test_notes_run_the_preflight(helm: Helm, paths: ProjectPaths) -> None:
    import pytest

    from lfk8s.chart.helm import HelmError
    with pytest.raises(HelmError, match="storage.nfs.server"):
        notes(helm, paths, {"storage": {"type": "nfs"}})
