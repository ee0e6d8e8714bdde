"""Waits a fresh kind cluster needs (its nodes Ready, its default storage serving), and kind's network."""

from __future__ import annotations

import json
import subprocess
import time

from kubernetes import client

from lfk8s.cluster.local import ClusterError
from lfk8s.progress import Reporter, quiet

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
KIND_NETWORK = "kind"


def _ready(node: client.V1Node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))


def kubelet_log_tails(cluster: str, skip: set[str], lines: int = 8) -> str:
    """The end of the kubelet log of each node container of `cluster` not in `skip`: why it is missing."""
    listed = subprocess.run(["docker", "ps", "-a", "--filter", f"label=io.x-k8s.kind.cluster={cluster}",
                             "--format", "{{.Names}}"], capture_output=True, text=True).stdout.split()
    tails = []
    for name in sorted(set(listed) - skip):
        log = subprocess.run(["docker", "exec", name, "journalctl", "-u", "kubelet", "--no-pager", "-n", str(lines)],
                             capture_output=True, text=True)
        tails.append(f"--- {name} kubelet:\n{(log.stdout + log.stderr).strip()}")
    return "\n".join(tails)


def wait_nodes_ready(api: client.ApiClient, count: int, report: Reporter = quiet, timeout: float = 300,
                     cluster: str = "") -> None:
    """All `count` nodes registered and Ready (each turns Ready once its lfk8s-cni wrote the CNI config)."""
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + timeout
    report(f"waiting for {count} nodes to be Ready")
    while True:
        nodes = core.list_node().items
        not_ready = [n.metadata.name for n in nodes if not _ready(n)]
        if len(nodes) >= count and not not_ready:
            return
        if time.monotonic() > deadline:
            ready = {n.metadata.name for n in nodes} - set(not_ready)
            raise ClusterError(f"{len(nodes)} of {count} nodes registered within {timeout:.0f}s; "
                               f"not Ready: {not_ready}\n{kubelet_log_tails(cluster, ready) if cluster else ''}")
        time.sleep(2)


def default_storage_class(api: client.ApiClient) -> str | None:
    for storage_class in client.StorageV1Api(api).list_storage_class().items:
        if (storage_class.metadata.annotations or {}).get(DEFAULT_CLASS_ANNOTATION) == "true":
            return str(storage_class.metadata.name)
    return None


def wait_default_storage(api: client.ApiClient, report: Reporter = quiet, timeout: float = 180) -> str:
    """The default StorageClass's name, once local-path-provisioner (which serves it) is available."""
    apps = client.AppsV1Api(api)
    deadline = time.monotonic() + timeout
    report("waiting for local-path-provisioner (the default StorageClass)")
    while True:
        name = default_storage_class(api)
        deployments = apps.list_namespaced_deployment("local-path-storage").items
        if name and deployments and all((d.status.available_replicas or 0) >= 1 for d in deployments):
            return name
        if time.monotonic() > deadline:
            raise ClusterError(f"no default StorageClass served within {timeout:.0f}s (class: {name}, "
                               f"provisioner deployments: {[d.metadata.name for d in deployments]})")
        time.sleep(2)


def remove_kind_network() -> bool:
    """Removes the docker network kind created, when no container is attached; True if removed."""
    result = subprocess.run(["docker", "network", "inspect", KIND_NETWORK], capture_output=True, text=True)
    if result.returncode != 0:
        return False
    networks = json.loads(result.stdout)
    if not networks or networks[0].get("Containers"):
        return False
    return subprocess.run(["docker", "network", "rm", KIND_NETWORK], capture_output=True).returncode == 0


def network_gateway() -> str:
    """The IPv4 gateway of kind's docker network: this host, as the nodes reach it."""
    result = subprocess.run(["docker", "network", "inspect", KIND_NETWORK], capture_output=True, text=True)
    if result.returncode != 0:
        raise ClusterError(f"no docker network {KIND_NETWORK!r} (is a kind cluster up?): {result.stderr.strip()}")
    for config in json.loads(result.stdout)[0]["IPAM"]["Config"] or []:
        gateway = str(config.get("Gateway", ""))
        if gateway and ":" not in gateway:
            return gateway
    raise ClusterError(f"docker network {KIND_NETWORK!r} has no IPv4 gateway")
