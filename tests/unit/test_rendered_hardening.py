"""What kube-score asked for, on rendered manifests: bounded ephemeral storage (requests, limits
and a /tmp of the limit's size), liveness distinct from readiness, replicas spread across nodes,
a PodDisruptionBudget for a replicated router, and serving that mounts the storage read-only."""

from __future__ import annotations

from typing import Any

import pytest

from lfk8s.chart.rendering import containers, pod_specs
from lfk8s.chart.values import deep_merge
from tests.conftest import RenderFn
from tests.helpers import (
    component,
    inference,
    inference_container,
    inference_deploy,
    pod_spec,
    router_deploy,
    router_values,
    selects,
)


def test_every_container_bounds_its_ephemeral_storage(render: RenderFn, all_on: dict[str, Any]) -> None:
    for workload, spec in pod_specs(render(all_on)):
        for container in containers(spec):
            for part in ("requests", "limits"):
                assert "ephemeral-storage" in container["resources"][part], (workload["metadata"]["name"],
                                                                             container["name"], part)


def test_tmp_is_sized_to_the_component_limit(render: RenderFn, all_on: dict[str, Any]) -> None:
    values = deep_merge(all_on, {"ephemeralStorage": {"limit": "30Gi"},
                                 "inference": {"resources": {"limits": {"ephemeral-storage": "7Gi"}}}})
    for workload, spec in pod_specs(render(values)):
        tmp = [v for v in spec.get("volumes") or [] if v["name"] == "tmp"]
        if not tmp:
            continue
        expected = "7Gi" if component(workload) == "inference" else "30Gi"
        assert tmp[0]["emptyDir"]["sizeLimit"] == expected, workload["metadata"]["name"]
        main = spec["containers"][0]
        assert main["resources"]["limits"]["ephemeral-storage"] == expected


def test_inference_reads_the_storage_only(render: RenderFn) -> None:
    mounts = {m["name"]: m for m in inference_container(render(inference("vllm")))["volumeMounts"]}
    assert mounts["storage"]["readOnly"] is True


@pytest.mark.parametrize("replicas", [1, 3])
def test_inference_replicas_spread_over_nodes(render: RenderFn, replicas: int) -> None:
    """Preferred, not required: a GPU pool may have fewer nodes than replicas (autoscaling may add them)."""
    deployment = inference_deploy(render(inference("vllm", replicas=replicas)))
    (term,) = pod_spec(deployment)["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert selects(term["podAffinityTerm"]["labelSelector"]["matchLabels"],
                   deployment["spec"]["template"]["metadata"]["labels"])


def test_the_users_affinity_wins(render: RenderFn) -> None:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a100"]}]}]}}}
    spec = pod_spec(inference_deploy(render(inference("vllm", replicas=2, affinity=affinity))))
    assert spec["affinity"] == affinity


def test_replicated_router_has_a_disruption_budget_and_spreads(render: RenderFn) -> None:
    rendered = render(deep_merge(router_values(), {"inference": {"router": {"replicas": 2}}}))
    (pdb,) = [p for p in rendered.of_kind("PodDisruptionBudget") if component(p) == "router"]
    assert pdb["spec"]["maxUnavailable"] == 1
    router = router_deploy(rendered)
    assert selects(pdb["spec"]["selector"]["matchLabels"], router["spec"]["template"]["metadata"]["labels"])
    assert "podAntiAffinity" in pod_spec(router)["affinity"]
    single = render(router_values())
    assert [p for p in single.of_kind("PodDisruptionBudget") if component(p) == "router"] == []


def test_liveness_differs_from_readiness(render: RenderFn, all_on: dict[str, Any]) -> None:
    rendered = render(deep_merge(all_on, router_values()))
    for workload, spec in pod_specs(rendered):
        for container in spec["containers"]:
            if "livenessProbe" in container:
                live, ready = container["livenessProbe"], container["readinessProbe"]
                probe = ("httpGet", "tcpSocket", "exec", "grpc")
                assert {k: live.get(k) for k in probe} != {k: ready.get(k) for k in probe}, workload["metadata"]["name"]
