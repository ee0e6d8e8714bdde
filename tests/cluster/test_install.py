"""Installing values files on the real API server: placement, GPUs, Pod Security, MLflow."""

from __future__ import annotations

import contextlib
import copy
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from lfk8s.chart import values
from lfk8s.chart.defaults import default
from lfk8s.chart.helm import Helm
from lfk8s.cli.main import build_parser
from lfk8s.cluster.local import LocalCluster
from lfk8s.cluster.mlflow_server import MlflowServer
from lfk8s.paths import ProjectPaths
from lfk8s.release import status
from lfk8s.release.install import install
from lfk8s.release.snapshot import settled, wait_for
from lfk8s.release.target import Target, mlflow_tracking_uri
from lfk8s.release.watch import ReleaseStuck


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
    with pytest.raises(ReleaseStuck) as stuck:
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


def test_install_creates_the_namespace_the_values_file_names(
    local_cluster: LocalCluster, mlflow: MlflowServer, cluster_helm: Helm, api: client.ApiClient,
    local_values: dict[str, Any], paths: ProjectPaths, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """`lfk8s install FILE` (no --namespace) of a file naming a namespace that does not exist yet:
    the namespace is created with the chart's Pod Security labels, the release and every object
    of it are there and nowhere else."""
    core = client.CoreV1Api(api)
    namespace, release = f"named-{uuid.uuid4().hex[:6]}", f"lf-{uuid.uuid4().hex[:6]}"
    values_file = tmp_path / "named.yaml"
    values_file.write_text(yaml.safe_dump({**local_values, "namespace": {"name": namespace}}))
    with pytest.raises(ApiException):
        core.read_namespace(namespace)
    args = build_parser().parse_args([
        "install", str(values_file), "--kubeconfig", str(local_cluster.kubeconfig), "--cluster", local_cluster.name,
        "--mlflow-port", str(mlflow.port), "--release", release, "--timeout", "2m"])
    try:
        assert args.func(args, paths) == 0
        assert f"created namespace {namespace}" in " ".join(capsys.readouterr().err.split())
        labels = core.read_namespace(namespace).metadata.labels
        assert default(paths, "namespace.labels").items() <= labels.items()
        assert cluster_helm.status(release, namespace)["info"]["status"] == "deployed"
        selector = f"app.kubernetes.io/instance={release}"
        found = [*core.list_config_map_for_all_namespaces(label_selector=selector).items,
                 *core.list_secret_for_all_namespaces(label_selector=selector).items,
                 *core.list_pod_for_all_namespaces(label_selector=selector).items,
                 *client.AppsV1Api(api).list_deployment_for_all_namespaces(label_selector=selector).items]
        assert len(found) >= 4
        assert {obj.metadata.namespace for obj in found} == {namespace}
    finally:
        with contextlib.suppress(ApiException):
            core.delete_namespace(namespace)
