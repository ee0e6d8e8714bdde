"""The local cluster's real node: Ready and left alone by kwok, pods that really run under Pod
Security `restricted` with logs and exec through the API server, cluster DNS and Services, the API
server through the `kubernetes` Service, and a `down` that leaves nothing on the host.

The last test takes the session's cluster down: keep it last.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from kubernetes import client
from kubernetes.stream import stream

from lfk8s import versions
from lfk8s.cluster import node_host, node_images
from lfk8s.cluster.local import KWOK_LABEL, LocalCluster, NodePool
from lfk8s.cluster.node_config import CNI_NETWORK, REAL_NODE_LABEL, REAL_NODE_TAINT
from lfk8s.cluster.processes import alive
from lfk8s.cluster.real_node import LOCK
from lfk8s.testing import realnode
from lfk8s.toolchain import kubebuild


def pod_without_toleration(name: str, node_selector: dict[str, str] | None = None) -> dict[str, Any]:
    pod = realnode.restricted_pod(name, ["sleep", "60"])
    del pod["spec"]["tolerations"]
    pod["spec"]["nodeSelector"] = node_selector or {}
    return pod


def test_node_is_ready_labelled_tainted_and_not_kwok(real_cluster: LocalCluster, node_api: client.ApiClient) -> None:
    core = client.CoreV1Api(node_api)
    node = core.read_node(real_cluster.node.name)
    conditions = {c.type: (c.status, c.reason) for c in node.status.conditions}
    assert conditions["Ready"] == ("True", "KubeletReady")
    labels = node.metadata.labels
    assert labels[REAL_NODE_LABEL] == "true"
    assert labels["kubernetes.io/hostname"] == real_cluster.node.name
    assert KWOK_LABEL[0] not in labels and "kwok.x-k8s.io/node" not in (node.metadata.annotations or {})
    assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [tuple(REAL_NODE_TAINT.values())]
    # Reported by the real kubelet and containerd, not by kwok.
    assert node.status.node_info.kubelet_version == f"v{versions.KUBERNETES_VERSION}"
    assert node.status.node_info.container_runtime_version == f"containerd://{versions.CONTAINERD_VERSION.lstrip('v')}"
    # kubelet's heartbeat: its own lease (kwok's leases name kwok's holder identity, not the node).
    leases = client.CoordinationV1Api(node_api)
    deadline = time.monotonic() + 30
    lease = None
    while lease is None and time.monotonic() < deadline:
        with contextlib.suppress(client.ApiException):
            lease = leases.read_namespaced_lease(real_cluster.node.name, "kube-node-lease")
        time.sleep(0.5)
    assert lease is not None and lease.spec.holder_identity == real_cluster.node.name


def test_up_again_changes_nothing(real_cluster: LocalCluster) -> None:
    before = real_cluster.state()
    LocalCluster(name=real_cluster.name, pool=real_cluster.pool).up(binaries=kubebuild.ensure_cluster_binaries())
    after = real_cluster.state()
    assert after.pids == before.pids and after.real_node and after.host == before.host
    assert real_cluster.healthy()


def test_mocked_workloads_stay_off_the_real_node(real_cluster: LocalCluster, node_api: client.ApiClient,
                                                 namespace: str) -> None:
    """Without the toleration a pod goes to a kwok node; aimed at the real node, it is not scheduled."""
    core = client.CoreV1Api(node_api)
    core.create_namespaced_pod(namespace, pod_without_toleration("anywhere"))
    core.create_namespaced_pod(namespace, pod_without_toleration(
        "aimed", {"kubernetes.io/hostname": real_cluster.node.name}))

    def unschedulable(pod: Any) -> bool:
        return any(c.type == "PodScheduled" and c.reason == "Unschedulable" for c in pod.status.conditions or [])

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (core.read_namespaced_pod("anywhere", namespace).spec.node_name
                                               and unschedulable(core.read_namespaced_pod("aimed", namespace))):
        time.sleep(0.5)
    placed = core.read_namespaced_pod("anywhere", namespace).spec.node_name
    assert placed and placed != real_cluster.node.name
    assert core.read_node(placed).metadata.labels.get(KWOK_LABEL[0]) == KWOK_LABEL[1]
    aimed = core.read_namespaced_pod("aimed", namespace)
    assert aimed.spec.node_name is None and unschedulable(aimed)
    assert any("untolerated taint" in (c.message or "") for c in aimed.status.conditions), aimed.status.conditions


def test_restricted_pod_runs_and_its_log_comes_through_the_api_server(real_cluster: LocalCluster,
                                                                      node_api: client.ApiClient,
                                                                      namespace: str) -> None:
    script = ("id; grep -E '^(CapEff|Seccomp):' /proc/self/status; "
              "if touch /probe 2>/dev/null; then echo rootfs-writable; else echo rootfs-read-only; fi; "
              "echo hello-from-the-real-node")
    client.CoreV1Api(node_api).create_namespaced_pod(namespace, realnode.restricted_pod("hello", ["sh", "-c", script]))
    log = realnode.wait_for_pod(node_api, namespace, "hello")
    assert "uid=10001 gid=10001" in log
    assert "CapEff:\t0000000000000000" in log
    assert "Seccomp:\t2" in log  # a seccomp filter (RuntimeDefault) is on
    assert "rootfs-read-only" in log
    assert "hello-from-the-real-node" in log
    assert client.CoreV1Api(node_api).read_namespaced_pod("hello", namespace).spec.node_name == real_cluster.node.name


def test_a_failing_container_fails_the_wait_with_its_own_log(node_api: client.ApiClient, namespace: str) -> None:
    pod = realnode.restricted_pod("fails", ["sh", "-c", "echo the-reason-it-failed; exit 3"])
    client.CoreV1Api(node_api).create_namespaced_pod(namespace, pod)
    with pytest.raises(realnode.PodFailed) as failed:
        realnode.wait_for_pod(node_api, namespace, "fails")
    assert "exit code 3" in str(failed.value) and "the-reason-it-failed" in str(failed.value)


def test_service_names_resolve_and_answer_through_the_service(node_api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(node_api)
    core.create_namespaced_pod(namespace, realnode.restricted_pod(
        "web", ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"], labels={"app": "web"}, restart="Always", port=8080))
    service = core.create_namespaced_service(namespace, {
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}})
    realnode.wait_for_pod(node_api, namespace, "web", until="Ready")
    fqdn = f"web.{namespace}.svc.cluster.local"
    # (busybox 1.35's wget -T crashes: retry without it.)
    script = f"nslookup {fqdn}; for i in $(seq 1 20); do wget -q -O- http://web/ && exit 0; sleep 1; done; exit 1"
    core.create_namespaced_pod(namespace, realnode.restricted_pod("client", ["sh", "-c", script]))
    log = realnode.wait_for_pod(node_api, namespace, "client")
    assert f"Name:\t{fqdn}\nAddress: {service.spec.cluster_ip}" in log
    assert node_images.INDEX_HTML.decode() in log
    # exec through the API server and kubelet, too.
    out = stream(core.connect_get_namespaced_pod_exec, "web", namespace, container="main",
                 command=["cat", "/www/index.html"], stderr=True, stdin=False, stdout=True, tty=False)
    assert out == node_images.INDEX_HTML.decode()


def test_pods_reach_the_api_server_through_the_kubernetes_service(real_cluster: LocalCluster,
                                                                   node_api: client.ApiClient,
                                                                   namespace: str) -> None:
    """A TLS 1.2 ClientHello sent with nc to kubernetes.default.svc:443 is answered with the API
    server's own certificate (busybox's TLS cannot talk to Go's; see lfk8s.testing.realnode)."""
    core = client.CoreV1Api(node_api)
    hello = realnode.tls12_client_hello("kubernetes.default.svc")
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "hello"},
                                                  "binaryData": {"hello": _base64(hello)}})
    script = "nc -w 2 kubernetes.default.svc 443 < /tls/hello | od -An -v -tx1"
    pod = realnode.restricted_pod("tls", ["sh", "-c", script])
    pod["spec"]["volumes"] = [{"name": "hello", "configMap": {"name": "hello"}}]
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "hello", "mountPath": "/tls", "readOnly": True}]
    core.create_namespaced_pod(namespace, pod)
    reply = bytes.fromhex("".join(realnode.wait_for_pod(node_api, namespace, "tls").split()))
    assert realnode.server_handshake_types(reply)[:2] == [2, 11], reply[:64].hex()  # ServerHello, Certificate
    apiserver = x509.load_pem_x509_certificate(real_cluster.pki.cert("apiserver").read_bytes())
    assert apiserver.public_bytes(Encoding.DER) in reply


def _base64(data: bytes) -> str:
    import base64
    return base64.b64encode(data).decode()


def host_leftovers(cluster: LocalCluster, pids: list[int], saved: dict[str, Any]) -> dict[str, Any]:
    """Everything of a real node still on the host (all empty after a clean `down`)."""
    node = cluster.node
    propagation = node_host.mount_propagation()["/"]
    return {
        "processes": [pid for pid in pids if alive(pid)],
        "shims": node_host.pids_with_argument(str(node.layout.containerd_socket)),
        "mounts": node_host.mounts_under(cluster.state_dir) if cluster.state_dir.exists() else [],
        "bridge": node_host.bridge_exists(),
        "iptables": node_host.leftover_rules(),
        "cgroups": [str(p) for p in node_host.kubepods_cgroups()],
        # A docker daemon's forwarding is left on (RealNode.clean_host).
        "sysctls": {k: v for k, v in node_host.read_sysctls().items() if saved["sysctls"].get(k) != v
                    and not (k == "net.ipv4.ip_forward" and node_host.chain_exists("filter", "DOCKER-USER"))},
        "propagation of /": propagation if propagation != saved["propagation"]["/"] else "",
        "host files": node_host.leftover_host_files(saved["created_dirs"], CNI_NETWORK, node.layout.pod_logs),
        "lock": LOCK.exists() or LOCK.parent.exists(),
        "state dir": cluster.state_dir.exists(),
    }


def take_down(cluster: LocalCluster, logs_dir: Path) -> dict[str, Any]:
    """`down`, then what it left on the host."""
    state = cluster.state()
    pids, saved = list(state.pids.values()), state.host
    cluster.down(keep_logs=logs_dir / cluster.name)
    return {k: v for k, v in host_leftovers(cluster, pids, saved).items() if v}


def test_down_leaves_nothing_and_a_second_up_down_finds_nothing(real_cluster: LocalCluster, node_api: client.ApiClient,
                                                                busybox: str, logs_dir: Path) -> None:
    """Runs last: takes the session's cluster down with a pod still running, then a second cycle."""
    core = client.CoreV1Api(node_api)
    core.create_namespace({"metadata": {"name": "still-running"}})
    core.create_namespaced_pod("still-running", realnode.restricted_pod("sleeper", ["sleep", "3600"], port=None))
    realnode.wait_for_pod(node_api, "still-running", "sleeper", until="Running")
    assert set(real_cluster.state().pids) >= {"containerd", "kubelet", "kube-proxy", "coredns"}
    assert take_down(real_cluster, logs_dir) == {}
    again = LocalCluster(name=f"lfk8s-node-{uuid.uuid4().hex[:6]}", pool=NodePool(gpu_nodes=0, cpu_nodes=0),
                         real_node=True)
    try:
        again.up(binaries=kubebuild.ensure_cluster_binaries())
        assert again.node.ready(again.api_client())
    finally:
        leftovers = take_down(again, logs_dir)
    assert leftovers == {}
