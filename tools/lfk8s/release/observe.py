"""Reading what a diagnosis needs about a release from the API server: its pods, claims, Jobs,
ReplicaSets and the namespace's events; nodes only when a pod is unschedulable, storage classes
and volumes only when a claim is Pending (cluster-wide lists, skipped when RBAC forbids them)."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from lfk8s.release.diagnosis.model import COMPONENT_LABEL, Observed
from lfk8s.release.diagnosis.scheduling import unschedulable_message
from lfk8s.release.target import Target


def _cluster_list(list_all: Callable[[], Any]) -> list[Any] | None:
    """A cluster-scoped list, or None when this user may not read it (a namespace-only role)."""
    try:
        return list(list_all().items)
    except ApiException as error:
        if error.status in (401, 403):
            return None
        raise


def _claims(target: Target, pods: list[Any]) -> list[Any]:
    """The release's own claims and any other claim its pods mount (an existing claim)."""
    claims = {c.metadata.name: c for c in target.core.list_namespaced_persistent_volume_claim(
        target.namespace, label_selector=target.selector).items}
    mounted = {v.persistent_volume_claim.claim_name for p in pods for v in p.spec.volumes or []
               if v.persistent_volume_claim}
    for name in sorted(mounted - set(claims)):
        try:
            claims[name] = target.core.read_namespaced_persistent_volume_claim(name, target.namespace)
        except ApiException as error:
            if error.status != 404:
                raise
    return list(claims.values())


def observe(target: Target, since: datetime.datetime, component: str | None = None) -> Observed:
    """One reading of the release (of one component's pods and controllers when named)."""
    selector = f"{target.selector},{COMPONENT_LABEL}={component}" if component else target.selector
    namespace = target.namespace
    pods = list(target.core.list_namespaced_pod(namespace, label_selector=selector).items)
    claims = _claims(target, pods)
    observed = Observed(
        namespace=namespace, since=since, pods=pods, claims=claims,
        events=list(target.core.list_namespaced_event(namespace).items),
        jobs=list(target.batch.list_namespaced_job(namespace, label_selector=selector).items),
        replica_sets=list(target.apps.list_namespaced_replica_set(namespace, label_selector=selector).items))
    if any(unschedulable_message(pod) is not None for pod in pods):
        observed = dataclasses.replace(observed, nodes=_cluster_list(target.core.list_node))
    if any((c.status.phase if c.status else None) == "Pending" for c in claims):
        storage = client.StorageV1Api(target.api)
        observed = dataclasses.replace(observed, storage_classes=_cluster_list(storage.list_storage_class),
                         volumes=_cluster_list(target.core.list_persistent_volume))
    return observed

