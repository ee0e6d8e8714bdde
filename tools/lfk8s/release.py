"""Installing the chart into a cluster and reading back what it did.

`install` is `helm upgrade --install --wait --wait-for-jobs` through pyhelm3, watched: a pod
the scheduler cannot place is reported in plain words instead of a helm timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from kubernetes import client
from kubernetes.client.rest import ApiException

from lfk8s.progress import Reporter, quiet
from lfk8s.helm import Helm, HelmError
from lfk8s.paths import ProjectPaths

RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted"}



class Unschedulable(RuntimeError):
    """Pods the scheduler cannot place, explained."""


@dataclass(frozen=True)
class Target:
    """Where a release goes: the cluster (an API client and helm bound to its kubeconfig)."""

    helm: Helm
    api: client.ApiClient
    paths: ProjectPaths
    release: str = "llama-factory"
    namespace: str = "llm-training"

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api)

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/instance={self.release}"


def ensure_namespace(target: Target, namespace: str | None = None, labels: dict[str, str] | None = None) -> None:
    """The namespace with Pod Security `restricted` enforced, as a platform team would make it."""
    name = namespace or target.namespace
    body = {"metadata": {"name": name, "labels": {**RESTRICTED, **(labels or {})}}}
    try:
        target.core.create_namespace(body)
    except ApiException as error:
        if error.status != 409:
            raise
        target.core.patch_namespace(name, body)


def mlflow_tracking_uri(target: Target, existing_secret: str = "") -> tuple[str, str]:
    """(MLFLOW_TRACKING_URI, Secret name) the release's pods receive; ("", "") without one."""
    import base64

    if existing_secret:
        secrets = [target.core.read_namespaced_secret(existing_secret, target.namespace)]
    else:
        secrets = target.core.list_namespaced_secret(
            target.namespace, label_selector=f"{target.selector},app.kubernetes.io/component=mlflow").items
    for secret in secrets:
        encoded = (secret.data or {}).get("MLFLOW_TRACKING_URI")
        if encoded:
            return base64.b64decode(encoded).decode(), secret.metadata.name
    return "", ""


# ---------- scheduling problems, in plain words ----------

def gpu_request(pod: client.V1Pod, resource: str = "nvidia.com/gpu") -> int:
    total = 0
    for container in pod.spec.containers:
        limits = (container.resources.limits or {}) if container.resources else {}
        total += int(limits.get(resource, 0))
    return total


def _largest_gpu_node(target: Target, resource: str = "nvidia.com/gpu") -> int:
    return max((int((node.status.allocatable or {}).get(resource, 0)) for node in target.core.list_node().items), default=0)


@dataclass(frozen=True)
class SchedulingProblem:
    pod: str
    explanation: str
    # True when no node can ever fit the pod (it asks for more GPUs than any node has);
    # otherwise the scheduler may still place it (a claim binding, GPUs freeing up).
    definitive: bool

    def __str__(self) -> str:
        return f"pod {self.pod} cannot be scheduled: {self.explanation}"


def unschedulable_pods(target: Target) -> list[SchedulingProblem]:
    """Pods of the release the scheduler has given up on for now, explained."""
    problems = []
    largest: int | None = None
    for pod in target.core.list_namespaced_pod(target.namespace, label_selector=target.selector).items:
        if pod.status.phase != "Pending":
            continue
        for condition in pod.status.conditions or []:
            if condition.type != "PodScheduled" or condition.status != "False" or condition.reason != "Unschedulable":
                continue
            gpus = gpu_request(pod)
            largest = _largest_gpu_node(target) if largest is None else largest
            if gpus > largest:
                why = (f"it asks for {gpus} nvidia.com/gpu but the largest GPU node has {largest}; "
                       f"lower the component's `gpus` (and tensorParallelSize) to at most {largest}, or add bigger GPU nodes")
                problems.append(SchedulingProblem(pod.metadata.name, f"{why} (scheduler: {condition.message})", True))
            else:
                problems.append(SchedulingProblem(pod.metadata.name, f"scheduler: {condition.message}", False))
    return problems


def install(target: Target, values: dict[str, Any], timeout: str = "5m", report: Reporter = quiet,
            patience: float = 90, wait_for_jobs: bool = True) -> dict[str, Any]:
    """helm upgrade --install --wait --wait-for-jobs; stops early when pods cannot be scheduled:
    at once when no node could ever fit a pod, after `patience` seconds otherwise.
    Without wait_for_jobs helm returns once the objects are applied (a long training run)."""
    if not wait_for_jobs:
        return target.helm.upgrade_install(target.paths.chart, values, target.release, target.namespace,
                                           wait=False, timeout=timeout)
    return asyncio.run(_install_watched(target, values, timeout, report, patience))


async def _install_watched(target: Target, values: dict[str, Any], timeout: str, report: Reporter,
                           patience: float) -> dict[str, Any]:
    task = asyncio.create_task(target.helm.upgrade_install_async(
        target.paths.chart, values, target.release, target.namespace, wait=True, timeout=timeout))
    stuck_since: float | None = None
    while True:
        done, _ = await asyncio.wait({task}, timeout=1.0)
        if done:
            return task.result()
        problems = await asyncio.to_thread(unschedulable_pods, target)
        if not problems:
            stuck_since = None
            continue
        stuck_since = stuck_since or time.monotonic()
        if any(p.definitive for p in problems) or time.monotonic() - stuck_since >= patience:
            target.helm.terminate_own_runs()
            try:
                await asyncio.wait_for(task, timeout=30)
            except (asyncio.TimeoutError, HelmError):
                pass
            raise Unschedulable("\n".join(str(p) for p in problems))


# ---------- reading the release back ----------

@dataclass(frozen=True)
class ObjectState:
    kind: str
    name: str
    uid: str
    generation: int | None
    spec_hash: str
    component: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def snapshot(target: Target) -> dict[tuple[str, str], ObjectState]:
    """Every object of the release (and its pods) with what an upgrade could change."""
    api = target.api
    out: dict[tuple[str, str], ObjectState] = {}
    listings = {
        "Deployment": target.apps.list_namespaced_deployment,
        "Job": target.batch.list_namespaced_job,
        "Service": target.core.list_namespaced_service,
        "ConfigMap": target.core.list_namespaced_config_map,
        "Secret": target.core.list_namespaced_secret,
        "PersistentVolumeClaim": target.core.list_namespaced_persistent_volume_claim,
        "ServiceAccount": target.core.list_namespaced_service_account,
        "NetworkPolicy": client.NetworkingV1Api(api).list_namespaced_network_policy,
        "Pod": target.core.list_namespaced_pod,
    }
    for kind, lister in listings.items():
        for obj in lister(target.namespace, label_selector=target.selector).items:
            raw = api.sanitize_for_serialization(obj)
            content = raw.get("spec", raw.get("data", raw.get("stringData")))
            detail: dict[str, Any] = {}
            if kind == "Pod":
                detail["restarts"] = sum(s.get("restartCount", 0) for s in raw.get("status", {}).get("containerStatuses", []) or [])
                detail["phase"] = raw.get("status", {}).get("phase")
                content = {"spec": raw.get("spec"), "owner": [o["uid"] for o in raw["metadata"].get("ownerReferences", [])]}
            component = (obj.metadata.labels or {}).get("app.kubernetes.io/component", "")
            out[(kind, obj.metadata.name)] = ObjectState(kind, obj.metadata.name, obj.metadata.uid,
                                                         obj.metadata.generation, _hash(content), component, detail)
    return out


@dataclass(frozen=True)
class Diff:
    added: list[tuple[str, str]]
    removed: list[tuple[str, str]]
    changed: list[tuple[str, str]]

    def touched(self) -> list[tuple[str, str]]:
        return sorted(self.added + self.removed + self.changed)

    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def describe(self) -> str:
        parts = []
        for label in ("added", "removed", "changed"):
            items = getattr(self, label)
            if items:
                parts.append(f"{label}: " + ", ".join(f"{k}/{n}" for k, n in sorted(items)))
        return "; ".join(parts) or "no change"


def diff(before: dict[tuple[str, str], ObjectState], after: dict[tuple[str, str], ObjectState]) -> Diff:
    changed = [key for key in before.keys() & after.keys()
               if (before[key].uid, before[key].generation, before[key].spec_hash, before[key].detail.get("restarts"))
               != (after[key].uid, after[key].generation, after[key].spec_hash, after[key].detail.get("restarts"))]
    return Diff(added=sorted(after.keys() - before.keys()), removed=sorted(before.keys() - after.keys()), changed=sorted(changed))


def wait_for(predicate: Callable[[], bool], timeout: float = 60, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def settled(target: Target) -> bool:
    """No pod of the release is on its way in or out (rollouts done, Jobs finished)."""
    pods = target.core.list_namespaced_pod(target.namespace, label_selector=target.selector).items
    return all(p.metadata.deletion_timestamp is None and p.status.phase in ("Running", "Succeeded") for p in pods)
