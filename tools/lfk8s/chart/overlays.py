"""Values layered over a values file to run its CPU-capable workloads on one particular node: a
real node of the local cluster, or a CPU pool of a user's cluster. Only placement changes: no
GPUs, the node's selector and tolerations, a storage class the node can mount, what the pods
can reach (the tracking server, the test image) and memory sized for real processes. The values
file's own choices (models, datasets, engines, names) stay as they are."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lfk8s.chart.values import deep_merge, with_chart_defaults
from lfk8s.paths import ProjectPaths

# Components whose software runs on a CPU: LLaMA-Factory's own stages (not EasyR1's), the merge,
# the WebUI and the llamafactory inference engine (vLLM and SGLang need GPUs).
CPU_COMPONENTS = ("training", "merge", "webui", "inference")
EASYR1_STAGES = ("grpo", "dapo")


@dataclass(frozen=True)
class CpuPlacement:
    node_selector: dict[str, str]
    tolerations: list[dict[str, str]] = field(default_factory=list)
    storage_class: str = ""
    mlflow_tracking_uri: str = ""
    test_image: dict[str, str] = field(default_factory=dict)
    # Real processes: torch and transformers alone take about 1 GiB before a model loads.
    resources: dict[str, dict[str, str]] = field(default_factory=lambda: {
        "requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "6Gi"}})


def cpu_capable(values: dict[str, Any], component: str) -> bool:
    settings = values[component]
    if component == "training":
        return settings["stage"] not in EASYR1_STAGES
    if component == "inference":
        return bool(settings["engine"] == "llamafactory")
    return True


def gpu_only_components(values: dict[str, Any], paths: ProjectPaths) -> list[str]:
    """The enabled components that need GPUs (vLLM, SGLang, EasyR1) and so cannot run on a CPU node."""
    effective = with_chart_defaults(values, paths)
    return [c for c in CPU_COMPONENTS if effective[c]["enabled"] and not cpu_capable(effective, c)]


def place_on_cpu_node(values: dict[str, Any], paths: ProjectPaths, placement: CpuPlacement) -> dict[str, Any]:
    """`values` with every enabled CPU-capable component placed by `placement`; a component that
    needs GPUs (vLLM, SGLang, EasyR1) is refused rather than left where it cannot run."""
    if needs_gpus := gpu_only_components(values, paths):
        raise ValueError(f"{needs_gpus[0]} needs GPUs ({needs_gpus[0]}.engine/stage) and cannot run on a CPU node")
    effective = with_chart_defaults(values, paths)
    overlay: dict[str, Any] = {}
    for component in CPU_COMPONENTS:
        if not effective[component]["enabled"]:
            continue
        overlay[component] = {"nodeSelector": placement.node_selector, "tolerations": placement.tolerations,
                              "resources": placement.resources}
        if "gpus" in effective[component]:
            overlay[component]["gpus"] = 0
    if placement.storage_class:
        overlay["storage"] = {"type": "pvc", "storageClassName": placement.storage_class}
    if placement.mlflow_tracking_uri:
        overlay["mlflow"] = {"trackingUri": placement.mlflow_tracking_uri}
    # The test hooks run where the workloads run.
    overlay["tests"] = {"nodeSelector": placement.node_selector, "tolerations": placement.tolerations}
    if placement.test_image:
        overlay["tests"]["image"] = placement.test_image
    return deep_merge(values, overlay)
