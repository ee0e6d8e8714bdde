"""The node tier: a local cluster with one real node (containerd, kubelet, kube-proxy, CoreDNS on
this machine) beside its kwok nodes, started once per run of the tier under its own name. Needs root;
one real node per machine, so it waits for no other and skips when another cluster holds it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from lfk8s.cluster.local import LocalCluster, NodePool
from lfk8s.cluster.real_node import LOCK
from lfk8s.testing import realnode
from lfk8s.toolchain import kubebuild

POOL = NodePool(gpu_nodes=1, gpus_per_node=8, cpu_nodes=1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/node/" in str(item.fspath):
            item.add_marker(pytest.mark.node)


def skip_unless_a_real_node_can_start() -> None:
    if os.geteuid() != 0:
        pytest.skip("the real node needs root (kubelet, containerd, iptables, mounts)")
    if LOCK.exists() and Path(LOCK.read_text().strip()).exists():
        pytest.skip(f"this machine's real node is in use by the cluster in {LOCK.read_text().strip()}")


@pytest.fixture(scope="package")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the clusters' logs are kept after `down` (kubelet's, containerd's, ...)."""
    return tmp_path_factory.mktemp("node-logs")


@pytest.fixture(scope="package")
def real_cluster(logs_dir: Path) -> Iterator[LocalCluster]:
    skip_unless_a_real_node_can_start()
    cluster = LocalCluster(name=f"lfk8s-node-{uuid.uuid4().hex[:6]}", pool=POOL, real_node=True)
    try:
        cluster.up(binaries=kubebuild.ensure_cluster_binaries())
        yield cluster
    finally:
        cluster.down(keep_logs=logs_dir / cluster.name)


@pytest.fixture(scope="package")
def node_api(real_cluster: LocalCluster) -> client.ApiClient:
    return real_cluster.api_client()


@pytest.fixture(scope="package")
def busybox(real_cluster: LocalCluster) -> str:
    """The test image, imported into the node's containerd."""
    real_cluster.node.import_image(realnode.busybox_archive())
    return realnode.BUSYBOX_IMAGE


@pytest.fixture
def namespace(node_api: client.ApiClient, busybox: str) -> Iterator[str]:
    """A fresh namespace with Pod Security `restricted` enforced."""
    name = f"node-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(node_api)
    core.create_namespace({"metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    yield name
    core.delete_namespace(name)
