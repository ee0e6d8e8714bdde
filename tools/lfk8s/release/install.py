"""Installing the chart into a cluster: `helm upgrade --install --wait --wait-for-jobs` through
pyhelm3, watched (lfk8s.release.watch), so a release that cannot become ready is explained in
plain words within seconds instead of a helm timeout."""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes import client

from lfk8s.progress import Reporter, quiet
from lfk8s.release.diagnosis.diagnose import diagnose
from lfk8s.release.diagnosis.model import Problem
from lfk8s.release.diagnosis.scheduling import SCHEDULING_CAUSES
from lfk8s.release.observe import observe
from lfk8s.release.target import Target
from lfk8s.release.watch import DEFAULT_PATIENCE, watch_helm, watch_start


def gpu_request(pod: client.V1Pod, resource: str = "nvidia.com/gpu") -> int:
    total = 0
    for container in pod.spec.containers:
        limits = (container.resources.limits or {}) if container.resources else {}
        total += int(limits.get(resource, 0))
    return total


def release_problems(target: Target) -> list[Problem]:
    """Every cause the release shows now that keeps it from becoming ready, explained."""
    return diagnose(observe(target, watch_start()))


def unschedulable_pods(target: Target) -> list[Problem]:
    """Pods of the release the scheduler has given up on for now, explained."""
    return [p for p in release_problems(target) if p.kind == "Pod" and p.cause in SCHEDULING_CAUSES]


def install(target: Target, values: dict[str, Any], timeout: str = "5m", report: Reporter = quiet,
            patience: float = DEFAULT_PATIENCE, wait_for_jobs: bool = True) -> dict[str, Any]:
    """helm upgrade --install --wait --wait-for-jobs; raises ReleaseStuck early when the release
    cannot become ready: at once for causes waiting cannot heal, after `patience` seconds otherwise.
    Without wait_for_jobs helm returns once the objects are applied (a long training run)."""
    if not wait_for_jobs:
        return target.helm.upgrade_install(target.paths.chart, values, target.release, target.namespace,
                                           wait=False, timeout=timeout)
    return asyncio.run(_install_watched(target, values, timeout, patience))


async def _install_watched(target: Target, values: dict[str, Any], timeout: str, patience: float) -> dict[str, Any]:
    task = asyncio.create_task(target.helm.upgrade_install_async(
        target.paths.chart, values, target.release, target.namespace, wait=True, timeout=timeout))
    return await watch_helm(target, task, patience)
