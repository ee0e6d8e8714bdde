"""Installing the chart into a cluster: `helm upgrade --install --wait --wait-for-jobs` through
pyhelm3, watched, so a pod the scheduler cannot place is reported in plain words instead of a
helm timeout."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from lfk8s.chart.helm import HelmError
from lfk8s.progress import Reporter, quiet
from lfk8s.release.target import Target


class Unschedulable(RuntimeError):
    """Pods the scheduler cannot place, explained."""


def gpu_request(pod: client.V1Pod, resource: str = "nvidia.com/gpu") -> int:
    total = 0
    for container in pod.spec.containers:
        limits = (container.resources.limits or {}) if container.resources else {}
        total += int(limits.get(resource, 0))
    return total


def _largest_gpu_node(target: Target, resource: str = "nvidia.com/gpu") -> int:
    nodes = target.core.list_node().items
    return max((int((node.status.allocatable or {}).get(resource, 0)) for node in nodes), default=0)


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
                       f"lower the component's `gpus` (and tensorParallelSize) to at most {largest}, "
                       "or add bigger GPU nodes")
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
            with contextlib.suppress(TimeoutError, HelmError):
                await asyncio.wait_for(task, timeout=30)
            raise Unschedulable("\n".join(str(p) for p in problems))
