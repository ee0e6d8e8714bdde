"""The nodes of a cluster as the harness reports them: GPUs, taints, readiness."""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes import client

from lfk8s.cluster.local import GPU_LABEL
from lfk8s.cluster.node_config import REAL_NODE_LABEL


@dataclass(frozen=True)
class NodeSummary:
    name: str
    gpus: str
    taints: str
    ready: bool
    # A real node (kubelet and containerd on this machine) rather than a mocked one.
    real: bool = False


def node_summaries(api: client.ApiClient) -> list[NodeSummary]:
    summaries = []
    for node in client.CoreV1Api(api).list_node().items:
        ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
        taints = ", ".join(f"{t.key}={t.value or ''}:{t.effect}" for t in node.spec.taints or []) or "-"
        gpus = (node.status.allocatable or {}).get(GPU_LABEL, "0")
        real = (node.metadata.labels or {}).get(REAL_NODE_LABEL) == "true"
        summaries.append(NodeSummary(node.metadata.name, gpus, taints, ready, real))
    return summaries
