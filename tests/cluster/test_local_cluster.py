"""The local cluster itself: real control plane, mocked GPU nodes, real admission."""

from __future__ import annotations

import json
import uuid

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from lfk8s import versions
from lfk8s.cluster.local import GPU_LABEL, LocalCluster
from lfk8s.toolchain import kubebuild
from tests.cluster.conftest import POOL


def test_api_server_reports_the_pinned_version(api: client.ApiClient) -> None:
    info = client.VersionApi(api).get_code()
    assert info.git_version == f"v{versions.KUBERNETES_VERSION}"


def test_gpu_nodes_are_labelled_tainted_and_have_gpus(api: client.ApiClient) -> None:
    nodes = client.CoreV1Api(api).list_node().items
    gpu = [n for n in nodes if (n.metadata.labels or {}).get(GPU_LABEL) == "true"]
    cpu = [n for n in nodes if GPU_LABEL not in (n.metadata.labels or {})]
    assert len(gpu) == POOL.gpu_nodes and len(cpu) == POOL.cpu_nodes
    for node in gpu:
        assert node.status.allocatable[GPU_LABEL] == str(POOL.gpus_per_node)
        assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [("nvidia.com/gpu", "present", "NoSchedule")]
    for node in nodes:
        assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True"
    assert all(GPU_LABEL not in (n.status.allocatable or {}) for n in cpu)


def test_up_is_idempotent(local_cluster: LocalCluster) -> None:
    before = local_cluster.state().pids
    local_cluster.up(binaries=kubebuild.ensure_cluster_binaries())
    assert local_cluster.state().pids == before
    assert local_cluster.healthy()


def test_pod_security_admission_is_enforced(api: client.ApiClient) -> None:
    """The restricted namespace rejects a pod that runs as root with privilege escalation."""
    core = client.CoreV1Api(api)
    namespace = f"psa-{uuid.uuid4().hex[:6]}"
    core.create_namespace(
        {"metadata": {"name": namespace, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    )
    try:
        pod = {"metadata": {"name": "rooty"}, "spec": {"containers": [{"name": "c", "image": "busybox:1.37.0"}]}}
        with pytest.raises(ApiException) as rejected:
            core.create_namespaced_pod(namespace, pod)
        assert rejected.value.status == 403
        assert "violates PodSecurity \"restricted" in json.loads(rejected.value.body)["message"]
    finally:
        core.delete_namespace(namespace)


def test_resident_memory_is_measured(local_cluster: LocalCluster) -> None:
    memory = local_cluster.resident_memory_bytes()
    assert set(memory) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok",
                           "local-path-provisioner"}
    assert all(value > 1024 * 1024 for value in memory.values())


def test_down_leaves_nothing_running(tmp_path) -> None:
    """A second, throwaway cluster: down stops every process and removes the state."""
    cluster = LocalCluster(name=f"lfk8s-down-{uuid.uuid4().hex[:6]}", state_root=tmp_path,
                           pool=POOL.__class__(gpu_nodes=1, gpus_per_node=8, cpu_nodes=0))
    cluster.up(binaries=kubebuild.ensure_cluster_binaries())
    pids = list(cluster.state().pids.values())
    assert cluster.healthy()
    cluster.down()
    from lfk8s.cluster.processes import alive
    assert not any(alive(pid) for pid in pids)
    assert not cluster.state_dir.exists()
