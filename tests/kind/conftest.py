"""The kind tier: a real kind cluster (node image built on this machine, no registry), created once
per run of the tier under its own name and deleted when the tier ends (package scope: its
nodes hold gigabytes the tiers after it need), with the same mocked-GPU layout as the
kwok backend: GPU workers labelled, tainted and advertising `nvidia.com/gpu`, one CPU worker,
local-path-provisioner as the default StorageClass."""

from __future__ import annotations

import copy
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from lfk8s.chart import values
from lfk8s.chart.helm import Helm
from lfk8s.cluster.kind import KindCluster
from lfk8s.cluster.local import NodePool
from lfk8s.cluster.node_images import busybox_archive
from lfk8s.images.kind_node import ensure_node_image
from lfk8s.paths import ProjectPaths
from lfk8s.release.target import Target
from lfk8s.stack import test_hook_image
from lfk8s.testing.targets import fresh_target
from lfk8s.toolchain import pinned

POOL = NodePool(gpu_nodes=2, gpus_per_node=8, cpu_nodes=1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kind: needs a kind cluster in Docker (created by the fixtures)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/kind/" in str(item.fspath):
            item.add_marker(pytest.mark.kind)


@pytest.fixture(scope="package")
def kind_cluster(paths: ProjectPaths) -> Iterator[KindCluster]:
    cluster = KindCluster(name=f"lfk8s-kt-{uuid.uuid4().hex[:6]}", pool=POOL)
    try:
        cluster.up(ensure_node_image())
        # The chart's helm test hooks run this image (ct install runs them); nothing can pull it here.
        cluster.load_archive(busybox_archive(test_hook_image(paths)))
        yield cluster
    finally:
        cluster.down()
        # `down` leaves nothing of the cluster behind: no node container, no state.
        left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.x-k8s.kind.cluster={cluster.name}"],
                              capture_output=True, text=True, check=True).stdout.split()
        assert not left and not cluster.state_dir.exists(), f"left behind: containers {left}, {cluster.state_dir}"


@pytest.fixture(scope="package")
def api(kind_cluster: KindCluster) -> client.ApiClient:
    return kind_cluster.api_client()


@pytest.fixture(scope="package")
def kind_helm(kind_cluster: KindCluster) -> Helm:
    return Helm(pinned.ensure_helm(4, exact=True), kubeconfig=kind_cluster.kubeconfig, timeout="3m")


@pytest.fixture
def target(kind_helm: Helm, api: client.ApiClient, paths: ProjectPaths) -> Iterator[Target]:
    """A fresh namespace (Pod Security `restricted` enforced) and release name per test."""
    with fresh_target(kind_helm, api, paths) as target:
        yield target


@pytest.fixture
def local_values(paths: ProjectPaths) -> dict[str, Any]:
    """values/local.yaml as it is (its MLflow URI only lands in a Secret: nothing here calls it)."""
    return copy.deepcopy(values.load(paths.values_dir / "local.yaml"))
