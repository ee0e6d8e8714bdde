"""The API objects a real node needs besides itself: RBAC for the API server's calls to kubelet
and for CoreDNS, and the kube-dns Service whose address pods use as their nameserver (its one
endpoint is CoreDNS on the node's address). Created idempotently."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from lfk8s.cluster.node_config import CLUSTER_DNS, GATEWAY

# The users the client certificates name (lfk8s.cluster.real_node issues them).
APISERVER_KUBELET_USER = "kube-apiserver-kubelet-client"
COREDNS_USER = "lfk8s:coredns"
# A label value (no slash).
MANAGED_BY = "lfk8s-real-node"


def _create(create: Callable[..., Any], *args: Any) -> None:
    try:
        create(*args)
    except ApiException as error:
        if error.status != 409:
            raise


def _exists(read: Callable[..., Any], *args: Any) -> bool:
    try:
        read(*args)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def _binding(name: str, role: str, user: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": MANAGED_BY}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}


def coredns_role() -> dict[str, Any]:
    """What CoreDNS's kubernetes plugin reads (upstream's deployment manifest grants the same)."""
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "lfk8s:coredns", "labels": {"app.kubernetes.io/managed-by": MANAGED_BY}},
            "rules": [{"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"],
                       "verbs": ["list", "watch"]},
                      {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                       "verbs": ["list", "watch"]}]}


def kube_dns_service() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system",
                         "labels": {"k8s-app": "kube-dns", "app.kubernetes.io/managed-by": MANAGED_BY}},
            # No selector: the endpoint is CoreDNS on the node, outside any pod.
            "spec": {"clusterIP": CLUSTER_DNS,
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}}


def kube_dns_endpoints(node_name: str) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kube-dns-lfk8s", "namespace": "kube-system",
                         "labels": {"kubernetes.io/service-name": "kube-dns",
                                    "endpointslice.kubernetes.io/managed-by": MANAGED_BY}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [GATEWAY], "conditions": {"ready": True}, "nodeName": node_name}],
            "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                      {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}


def ensure(api: client.ApiClient, node_name: str) -> None:
    """RBAC, then the kube-dns Service and its endpoint."""
    rbac = client.RbacAuthorizationV1Api(api)
    # system:kubelet-api-admin is a bootstrap role: logs, exec, port-forward, metrics through kubelet.
    _create(rbac.create_cluster_role_binding,
            _binding("lfk8s:kube-apiserver-kubelet-client", "system:kubelet-api-admin", APISERVER_KUBELET_USER))
    _create(rbac.create_cluster_role, coredns_role())
    _create(rbac.create_cluster_role_binding, _binding("lfk8s:coredns", "lfk8s:coredns", COREDNS_USER))
    core = client.CoreV1Api(api)
    # A second create of a Service with a fixed address fails on the address (422), not with 409.
    if not _exists(core.read_namespaced_service, "kube-dns", "kube-system"):
        _create(core.create_namespaced_service, "kube-system", kube_dns_service())
    _create(client.DiscoveryV1Api(api).create_namespaced_endpoint_slice, "kube-system", kube_dns_endpoints(node_name))
