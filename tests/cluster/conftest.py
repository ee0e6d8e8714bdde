"""The cluster tier: a real kube-apiserver, controllers and scheduler with kwok-mocked GPU
nodes, started once per session under its own name, and a real MLflow server beside it."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from lfk8s.chart import values
from lfk8s.chart.helm import Helm
from lfk8s.cluster.local import LocalCluster, NodePool
from lfk8s.cluster.mlflow_server import MlflowServer
from lfk8s.cluster.processes import free_port
from lfk8s.paths import ProjectPaths
from lfk8s.release.target import Target, ensure_namespace
from lfk8s.toolchain import kubebuild, pinned

POOL = NodePool(gpu_nodes=2, gpus_per_node=8, cpu_nodes=1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster/" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    cluster = LocalCluster(name=f"lfk8s-test-{uuid.uuid4().hex[:6]}", pool=POOL)
    cluster.up(binaries=kubebuild.ensure_cluster_binaries())
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="session")
def mlflow(local_cluster: LocalCluster) -> Iterator[MlflowServer]:
    with MlflowServer.for_cluster(local_cluster, port=free_port()) as server:
        yield server


@pytest.fixture(scope="session")
def api(local_cluster: LocalCluster) -> client.ApiClient:
    return local_cluster.api_client()


@pytest.fixture(scope="session")
def cluster_helm(local_cluster: LocalCluster) -> Helm:
    return Helm(pinned.ensure_helm(4, exact=True), kubeconfig=local_cluster.kubeconfig, timeout="3m")


@pytest.fixture
def target(
    cluster_helm: Helm, api: client.ApiClient, paths: ProjectPaths, request: pytest.FixtureRequest
) -> Iterator[Target]:
    """A fresh namespace (Pod Security `restricted` enforced) and release name per test."""
    suffix = uuid.uuid4().hex[:6]
    target = Target(helm=cluster_helm, api=api, paths=paths, release=f"lf-{suffix}", namespace=f"t-{suffix}")
    ensure_namespace(target)
    yield target
    client.CoreV1Api(api).delete_namespace(target.namespace)


@pytest.fixture
def local_values(paths: ProjectPaths, mlflow: MlflowServer) -> dict[str, Any]:
    """values/local.yaml, pointed at this session's MLflow server."""
    data = copy.deepcopy(values.load(paths.values_dir / "local.yaml"))
    data["mlflow"]["trackingUri"] = mlflow.url
    return data
