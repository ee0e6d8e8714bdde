"""A values file placed on one CPU node (lfk8s.chart.overlays): only placement changes, and every
pod of the release, the test hooks included, lands where the overlay says."""

from __future__ import annotations

from typing import Any

import pytest

from lfk8s.chart import values
from lfk8s.chart.overlays import CpuPlacement, gpu_only_components, place_on_cpu_node
from lfk8s.chart.rendering import pod_specs
from lfk8s.paths import ProjectPaths
from tests.conftest import RenderFn

PLACEMENT = CpuPlacement(node_selector={"lfk8s.io/real-node": "true"},
                         tolerations=[{"key": "lfk8s.io/real-node", "operator": "Exists", "effect": "NoSchedule"}],
                         storage_class="lfk8s-node-local", mlflow_tracking_uri="http://10.244.0.1:5000",
                         test_image={"repository": "lfk8s.local/busybox", "tag": "1.35.0"})


def local(paths: ProjectPaths) -> dict[str, Any]:
    return values.load(paths.values_dir / "local.yaml")


@pytest.mark.parametrize("placement", [PLACEMENT, CpuPlacement(node_selector=PLACEMENT.node_selector,
                                                                tolerations=PLACEMENT.tolerations,
                                                                storage_class="lfk8s-node-local")])
def test_every_pod_goes_to_the_node_without_gpus(render: RenderFn, paths: ProjectPaths,
                                                 placement: CpuPlacement) -> None:
    rendered = render(place_on_cpu_node(local(paths), paths, placement))
    specs = list(pod_specs(rendered))
    assert {w["metadata"]["labels"]["app.kubernetes.io/component"] for w, _ in specs} >= {
        "training", "merge", "webui", "inference", "test"}
    for workload, spec in specs:
        name = workload["metadata"]["name"]
        assert spec["nodeSelector"] == PLACEMENT.node_selector, name
        assert spec["tolerations"] == PLACEMENT.tolerations, name
        for container in spec["containers"]:
            assert "nvidia.com/gpu" not in container.get("resources", {}).get("limits", {}), name
    claim = rendered.of_kind("PersistentVolumeClaim")[0]
    assert claim["spec"]["storageClassName"] == "lfk8s-node-local"
    assert not rendered.of_kind("PersistentVolume"), "no static NFS volume: the node's class provides it"


def test_what_the_values_file_chose_is_kept(paths: ProjectPaths) -> None:
    placed = place_on_cpu_node(local(paths), paths, PLACEMENT)
    for key in ("servedModelName", "engine", "modelSource"):
        assert placed["inference"][key] == local(paths)["inference"][key]
    assert placed["training"]["bf16"] is False and placed["storage"]["paths"] == local(paths)["storage"]["paths"]
    assert placed["mlflow"]["trackingUri"] == "http://10.244.0.1:5000"


@pytest.mark.parametrize("change", [{"inference": {"engine": "vllm"}}, {"training": {"stage": "grpo"}}])
def test_gpu_only_software_is_refused(paths: ProjectPaths, change: dict[str, Any]) -> None:
    data = values.deep_merge(local(paths), change)
    with pytest.raises(ValueError, match="needs GPUs"):
        place_on_cpu_node(data, paths, PLACEMENT)


def test_gpu_only_components_are_named(paths: ProjectPaths) -> None:
    assert gpu_only_components({"inference": {"enabled": True, "engine": "vllm"}}, paths) == ["inference"]
    assert gpu_only_components({"inference": {"enabled": True, "engine": "llamafactory"}}, paths) == []
