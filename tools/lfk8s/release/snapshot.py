"""Reading a release back: every object and pod with what an upgrade could change, the
difference between two readings, and whether the release has settled."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from lfk8s.release.target import Target


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
                status = raw.get("status", {})
                detail["restarts"] = sum(s.get("restartCount", 0) for s in status.get("containerStatuses", []) or [])
                detail["phase"] = status.get("phase")
                owners = [o["uid"] for o in raw["metadata"].get("ownerReferences", [])]
                content = {"spec": raw.get("spec"), "owner": owners}
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
    return Diff(added=sorted(after.keys() - before.keys()), removed=sorted(before.keys() - after.keys()),
                changed=sorted(changed))


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
