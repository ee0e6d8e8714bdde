"""The cluster tier: a real kube-apiserver, controllers and scheduler with kwok-mocked GPU
nodes, started once per run of the tier under its own name (package scope: stopped when
the tier ends, before the tiers that need the machine's disk and memory), and a real MLflow server beside it.

Against a cluster of the user's instead (a kind cluster in CI, a staging cluster):
`bin/test tests/cluster --kubeconfig PATH` (pytest-helm-charts' option; its `--cluster-type
existing` says the same). The tests then install into fresh namespaces there, with an MLflow server
on this machine's loopback, and skip, saying why, those that need the local cluster's own control
(its processes, its node pool, its CLI name)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from lfk8s.chart import values
from lfk8s.chart.helm import Helm
from lfk8s.cluster.local import LocalCluster, NodePool
from lfk8s.cluster.mlflow_server import MlflowServer
from lfk8s.cluster.processes import free_port
from lfk8s.paths import ProjectPaths
from lfk8s.release.target import Target
from lfk8s.testing.targets import fresh_target
from lfk8s.toolchain import kubebuild, pinned

POOL = NodePool(gpu_nodes=2, gpus_per_node=8, cpu_nodes=1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster/" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="package")
def existing_kubeconfig(pytestconfig: pytest.Config) -> Path | None:
    """The user's cluster, when given on the command line (never taken from $KUBECONFIG: a test
    run must not land on whatever cluster the shell points at)."""
    kubeconfig = pytestconfig.getoption("kubeconfig", default=None)
    cluster_type = pytestconfig.getoption("cluster_type", default=None)
    if cluster_type not in (None, "", "existing"):
        raise pytest.UsageError(f"--cluster-type {cluster_type}: the cluster tier runs on the local cluster it "
                                "starts, or on an existing one (--cluster-type existing --kubeconfig PATH)")
    if cluster_type == "existing" and not kubeconfig:
        raise pytest.UsageError("--cluster-type existing needs --kubeconfig PATH")
    if kubeconfig and not Path(kubeconfig).is_file():
        raise pytest.UsageError(f"--kubeconfig {kubeconfig}: no such file")
    return Path(kubeconfig) if kubeconfig else None


@pytest.fixture(scope="package")
def local_cluster(existing_kubeconfig: Path | None) -> Iterator[LocalCluster]:
    if existing_kubeconfig:
        pytest.skip(f"needs the local cluster's own control; this run targets {existing_kubeconfig}")
    cluster = LocalCluster(name=f"lfk8s-test-{uuid.uuid4().hex[:6]}", pool=POOL)
    cluster.up(binaries=kubebuild.ensure_cluster_binaries())
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="package")
def cluster_kubeconfig(existing_kubeconfig: Path | None, request: pytest.FixtureRequest) -> Path:
    """The kubeconfig of the cluster under test: the user's, or the local cluster's."""
    if existing_kubeconfig:
        return existing_kubeconfig
    local: LocalCluster = request.getfixturevalue("local_cluster")
    return local.kubeconfig


@pytest.fixture(scope="package")
def mlflow(existing_kubeconfig: Path | None, request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    if existing_kubeconfig:
        server = MlflowServer(tmp_path_factory.mktemp("mlflow"), free_port())
    else:
        server = MlflowServer.for_cluster(request.getfixturevalue("local_cluster"), port=free_port())
    with server:
        yield server


@pytest.fixture(scope="package")
def api(cluster_kubeconfig: Path) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(cluster_kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration)


@pytest.fixture(scope="package")
def cluster_helm(cluster_kubeconfig: Path) -> Helm:
    return Helm(pinned.ensure_helm(4, exact=True), kubeconfig=cluster_kubeconfig, timeout="3m")


@pytest.fixture
def target(
    cluster_helm: Helm, api: client.ApiClient, paths: ProjectPaths, request: pytest.FixtureRequest
) -> Iterator[Target]:
    """A fresh namespace (Pod Security `restricted` enforced) and release name per test."""
    with fresh_target(cluster_helm, api, paths) as target:
        yield target


@pytest.fixture
def local_values(paths: ProjectPaths, mlflow: MlflowServer) -> dict[str, Any]:
    """values/local.yaml, pointed at this tier's MLflow server."""
    data = copy.deepcopy(values.load(paths.values_dir / "local.yaml"))
    data["mlflow"]["trackingUri"] = mlflow.url
    return data
