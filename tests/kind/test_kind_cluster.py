"""The kind cluster itself: real kubelets on the node image built here, the mocked-GPU layout,
pod networking across nodes, a dynamic claim binding, and `up` being idempotent."""

from __future__ import annotations

import subprocess
import time
import uuid
from typing import Any

from kubernetes import client

from lfk8s.cluster.kind import KindCluster
from lfk8s.cluster.local import GPU_LABEL, GPU_TAINT
from lfk8s.images.kind_node import ensure_node_image, node_image_reference
from lfk8s.images.kind_parts import STORAGE_REPOSITORY
from lfk8s.versions import CONTAINERD_VERSION, KUBERNETES_VERSION

from .conftest import POOL

# The Debian image preloaded on every node (local-path-provisioner's helper): sh, getent, coreutils.
TOOLS_IMAGE = f"{STORAGE_REPOSITORY}/local-path-helper:bookworm"


def nodes(api: client.ApiClient) -> dict[str, client.V1Node]:
    return {n.metadata.name: n for n in client.CoreV1Api(api).list_node().items}


def test_nodes_are_real_kubelets_with_the_gpu_layout(kind_cluster: KindCluster, api: client.ApiClient) -> None:
    found = nodes(api)
    assert len(found) == 1 + POOL.gpu_nodes + POOL.cpu_nodes
    for node in found.values():
        assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)
        assert node.status.node_info.kubelet_version == f"v{KUBERNETES_VERSION}"
        assert node.status.node_info.container_runtime_version == f"containerd://{CONTAINERD_VERSION.lstrip('v')}"
    gpu = [n for n in found.values() if (n.metadata.labels or {}).get(GPU_LABEL) == "true"]
    assert len(gpu) == POOL.gpu_nodes
    for node in gpu:
        assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [tuple(GPU_TAINT.values())]
        assert node.status.capacity[GPU_LABEL] == node.status.allocatable[GPU_LABEL] == str(POOL.gpus_per_node)
    control = [n for n in found.values() if "node-role.kubernetes.io/control-plane" in (n.metadata.labels or {})]
    assert len(control) == 1
    cpu = [n for n in found.values() if n not in gpu and n not in control]
    assert len(cpu) == POOL.cpu_nodes
    for node in cpu:
        assert not node.spec.taints and GPU_LABEL not in (node.status.capacity or {})


def test_nodes_run_the_image_built_here(kind_cluster: KindCluster, api: client.ApiClient) -> None:
    for name in nodes(api):
        image = subprocess.run(["docker", "inspect", "-f", "{{.Config.Image}}", name], capture_output=True,
                               text=True, check=True).stdout.strip()
        assert image == node_image_reference()


def _restricted_pod(name: str, command: str, node_selector: dict[str, str], gpu_toleration: bool = False,
                    claim: str | None = None) -> dict[str, Any]:
    """A pod Pod Security `restricted` admits, running `command` in the preloaded Debian image."""
    container: dict[str, Any] = {
        "name": "c", "image": TOOLS_IMAGE, "imagePullPolicy": "Never", "command": ["sh", "-c", command],
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
    }
    spec: dict[str, Any] = {"restartPolicy": "Never", "nodeSelector": node_selector, "containers": [container]}
    if gpu_toleration:
        spec["tolerations"] = [{"key": GPU_TAINT["key"], "operator": "Exists", "effect": "NoSchedule"}]
    if claim:
        container["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def _finished(core: client.CoreV1Api, namespace: str, name: str, timeout: float = 120) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = core.read_namespaced_pod(name, namespace)
        if pod.status.phase in ("Succeeded", "Failed"):
            return pod.status.phase, core.read_namespaced_pod_log(name, namespace)
        time.sleep(1)
    raise AssertionError(f"pod {name} did not finish within {timeout:.0f}s: {pod.status}")


def test_dynamic_claim_binds_on_the_default_class(kind_cluster: KindCluster, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    namespace = f"claim-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": namespace, "labels": {"pod-security.kubernetes.io/enforce":
                                                                       "restricted"}}})
    try:
        core.create_namespaced_persistent_volume_claim(namespace, {
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
        cpu_node = {"kubernetes.io/hostname": f"{kind_cluster.name}-worker{POOL.gpu_nodes + 1}"}
        core.create_namespaced_pod(namespace, _restricted_pod("writer", "echo kept > /data/f && cat /data/f",
                                                              cpu_node, claim="data"))
        phase, log = _finished(core, namespace, "writer")
        assert (phase, log.strip()) == ("Succeeded", "kept")
        claim = core.read_namespaced_persistent_volume_claim("data", namespace)
        assert claim.status.phase == "Bound" and claim.spec.storage_class_name == "standard"
    finally:
        core.delete_namespace(namespace)


def test_pods_on_a_gpu_worker_resolve_services_through_coredns_on_another_node(
        kind_cluster: KindCluster, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    dns_nodes = {p.spec.node_name for p in core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns")
                 .items}
    gpu_node = f"{kind_cluster.name}-worker"
    assert gpu_node not in dns_nodes  # the lookup has to cross nodes, over lfk8s-cni's routes
    namespace = f"dns-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        core.create_namespaced_pod(namespace, _restricted_pod(
            "lookup", "getent hosts kubernetes.default.svc.cluster.local", {"kubernetes.io/hostname": gpu_node},
            gpu_toleration=True))
        phase, log = _finished(core, namespace, "lookup")
        assert phase == "Succeeded" and log.split()[:2] == ["10.96.0.1", "kubernetes.default.svc.cluster.local"]
    finally:
        core.delete_namespace(namespace)


def _image_id(reference: str) -> str:
    return subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", reference], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_up_again_builds_and_changes_nothing(kind_cluster: KindCluster, api: client.ApiClient) -> None:
    before = {name: node.metadata.uid for name, node in nodes(api).items()}
    image_before = _image_id(node_image_reference())
    started = time.monotonic()
    kind_cluster.up(ensure_node_image())
    assert time.monotonic() - started < 60
    assert _image_id(node_image_reference()) == image_before
    assert {name: node.metadata.uid for name, node in nodes(api).items()} == before


def test_read_write_many_class_shares_one_volume_across_nodes(kind_cluster: KindCluster,
                                                               api: client.ApiClient) -> None:
    """The classes the values files name (nfs-client) are ReadWriteMany: what a pod on a GPU worker
    writes, a pod on the CPU worker reads from the same claim."""
    classes = kind_cluster.rwx_classes()
    assert classes, "the checkout's values files name no storage class"
    core = client.CoreV1Api(api)
    namespace = f"rwx-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        core.create_namespaced_persistent_volume_claim(namespace, {
            "metadata": {"name": "shared"},
            "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": classes[0],
                     "resources": {"requests": {"storage": "1Gi"}}}})
        gpu_node = {"kubernetes.io/hostname": f"{kind_cluster.name}-worker"}
        cpu_node = {"kubernetes.io/hostname": f"{kind_cluster.name}-worker{POOL.gpu_nodes + 1}"}
        core.create_namespaced_pod(namespace, _restricted_pod("writer", "echo across > /data/f", gpu_node,
                                                              gpu_toleration=True, claim="shared"))
        assert _finished(core, namespace, "writer")[0] == "Succeeded"
        core.create_namespaced_pod(namespace, _restricted_pod("reader", "cat /data/f", cpu_node, claim="shared"))
        phase, log = _finished(core, namespace, "reader")
        assert (phase, log.strip()) == ("Succeeded", "across")
        volume = core.read_namespaced_persistent_volume_claim("shared", namespace).spec.volume_name
        assert volume in {p.name.split("_")[0] for p in kind_cluster.shared_dir.iterdir()}
    finally:
        core.delete_namespace(namespace)
