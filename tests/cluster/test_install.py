"""Installing values files on the real API server: placement, GPUs, Pod Security, MLflow."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes import client

from lfk8s.chart import values
from lfk8s.cluster.mlflow_server import MlflowServer
from lfk8s.paths import ProjectPaths
from lfk8s.release import status
from lfk8s.release.install import Unschedulable, install
from lfk8s.release.snapshot import settled, wait_for
from lfk8s.release.target import Target, mlflow_tracking_uri


def installed(target: Target, values: dict[str, Any]) -> list[status.PodRow]:
    install(target, values, timeout="2m")
    assert wait_for(lambda: settled(target), timeout=60)
    return status.pod_rows(target)


def test_local_values_install_and_place_pods(target: Target, local_values: dict[str, Any], paths: ProjectPaths) -> None:
    effective = values.with_chart_defaults(local_values, paths)
    rows = installed(target, local_values)
    by_component = {row.component: row for row in rows}
    assert set(by_component) == {"training", "merge", "webui", "inference"}
    for component in ("training", "webui", "inference"):
        row = by_component[component]
        assert row.node_is_gpu, f"{component} landed on {row.node}"
        assert row.gpus == effective[component]["gpus"] >= 1
    # The merge runs on CPU: it carries no GPU toleration, so it cannot land on a tainted GPU node.
    assert not by_component["merge"].node_is_gpu and by_component["merge"].gpus == 0
    assert by_component["training"].phase == by_component["merge"].phase == "Succeeded"
    assert by_component["inference"].ready and by_component["webui"].ready


def test_gpu_counts_never_exceed_a_node(target: Target, local_values: dict[str, Any]) -> None:
    values = copy.deepcopy(local_values)
    values["inference"].update({"replicas": 3, "gpus": 4, "tensorParallelSize": 4})
    rows = installed(target, values)
    per_node: dict[str, int] = {}
    for row in rows:
        if row.phase == "Running":
            per_node[row.node] = per_node.get(row.node, 0) + row.gpus
    assert sum(r.gpus for r in rows if r.component == "inference") == 12
    assert max(per_node.values()) <= 8


def test_too_many_gpus_stays_pending_and_says_why(target: Target, local_values: dict[str, Any]) -> None:
    values = copy.deepcopy(local_values)
    values["inference"].update({"gpus": 16, "tensorParallelSize": 16})
    with pytest.raises(Unschedulable) as stuck:
        install(target, values, timeout="2m")
    message = str(stuck.value)
    assert "asks for 16 nvidia.com/gpu but the largest GPU node has 8" in message
    assert "-inference-" in message
    pods = [r for r in status.pod_rows(target) if r.component == "inference"]
    assert pods and all(r.phase == "Pending" and not r.node for r in pods)


def test_restricted_namespace_accepts_every_pod(
    target: Target, local_values: dict[str, Any], api: client.ApiClient
) -> None:
    labels = client.CoreV1Api(api).read_namespace(target.namespace).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    rows = installed(target, local_values)
    assert len(rows) == 4  # every component's pod was admitted; none is exempt


def test_mlflow_secret_points_at_a_server_that_answers(
    target: Target, local_values: dict[str, Any], mlflow: MlflowServer
) -> None:
    installed(target, local_values)
    uri, secret_name = mlflow_tracking_uri(target)
    assert uri == mlflow.url and secret_name.endswith("-mlflow")
    experiment = f"exp-{target.release}"
    assert mlflow.ensure_experiment(experiment, uri).isdigit()
    assert experiment in mlflow.experiments()


def test_helm_test_hooks_pass(target: Target, local_values: dict[str, Any]) -> None:
    """kwok plays the test pods (nothing runs in a mocked pod): this proves the hooks are
    admitted, scheduled and reported by `helm test`; the MLflow hook's target is proven
    real by test_mlflow_secret_points_at_a_server_that_answers."""
    installed(target, local_values)
    out = target.helm.test(target.release, target.namespace)
    assert out.count("Phase:          Succeeded") == 3
    assert "-test-inference" in out and "-test-chat" in out and "-test-mlflow" in out
