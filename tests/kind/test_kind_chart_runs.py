"""values/local.yaml running for real on the kind cluster's CPU worker: placed there by the same
overlay as the kwok backend's real node (lfk8s.stack.values_on_kind), GPU workloads kept off the
GPU workers (gpus 0: those workers' GPUs are patched capacity, with no device plugin to run a GPU
pod). The training image built here is imported into that one node, the tiny model and dataset are
on the host directory every node mounts, MLflow listens on kind's network gateway. The training
Job trains and reports to MLflow, the merge Job merges, the engine and the WebUI become ready, and
`helm test` runs every hook in its container; their output is asserted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lfk8s import stack
from lfk8s.cluster.kind import KindCluster
from lfk8s.cluster.mlflow_server import MlflowServer
from lfk8s.cluster.processes import free_port
from lfk8s.paths import ProjectPaths
from lfk8s.release.install import gpu_request, install
from lfk8s.release.target import Target


@pytest.fixture(scope="module")
def mlflow(kind_cluster: KindCluster) -> Iterator[MlflowServer]:
    with kind_cluster.mlflow(free_port()) as server:
        yield server


def test_local_values_run_on_the_cpu_worker_and_pass_helm_test(
        kind_cluster: KindCluster, target: Target, local_values: dict[str, Any], mlflow: MlflowServer,
        paths: ProjectPaths) -> None:
    placed = stack.values_on_kind(kind_cluster, paths, local_values, target.namespace, mlflow.url)
    install(target, placed, timeout="20m")
    (worker,) = kind_cluster.cpu_workers()
    pods = target.core.list_namespaced_pod(target.namespace, label_selector=target.selector).items
    assert {p.metadata.labels["app.kubernetes.io/component"] for p in pods} >= {
        "training", "merge", "webui", "inference"}
    for pod in pods:
        assert pod.spec.node_name == worker and gpu_request(pod) == 0, (pod.metadata.name, pod.spec.node_name)
    for job in target.batch.list_namespaced_job(target.namespace, label_selector=target.selector).items:
        assert job.status.succeeded == 1, job.metadata.name
    (run,) = [r for r in mlflow.runs("llama-factory") if r["info"]["run_name"] == "run-1"]
    assert {m["key"]: m["value"] for m in run["data"]["metrics"]}["train_loss"] > 0

    output = target.helm.run(["test", target.release, "--namespace", target.namespace, "--logs",
                              "--timeout", "5m"])
    hooks = target.core.list_namespaced_pod(
        target.namespace, label_selector=f"{target.selector},app.kubernetes.io/component=test").items
    assert len(hooks) == 3, [p.metadata.name for p in hooks]
    for hook in hooks:
        assert hook.spec.node_name == worker and hook.status.phase == "Succeeded", hook.metadata.name
    # The hooks' own output: /v1/models from the engine, a chat completion through the Service.
    assert '"id":"llama-factory-model"' in output.replace(" ", ""), output[-3000:]
    assert '"choices"' in output, output[-3000:]
