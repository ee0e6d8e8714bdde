"""Why a Job or a Deployment's ReplicaSet has no pods: the API server refuses to create them,
for Pod Security (the namespace's enforced level) or a ResourceQuota; from their FailedCreate events."""

from __future__ import annotations

import re
from decimal import InvalidOperation
from typing import Any

from kubernetes.utils import parse_quantity

from lfk8s.release.diagnosis.model import Observed, Problem, events_about, type_kind

_POD_SECURITY = re.compile(r'violates PodSecurity "([^"]+)": (.*)$', re.DOTALL)
_EXCEEDED = re.compile(r"exceeded quota: ([^,]+), requested: (.*), used: (.*), limited: (.*)$", re.DOTALL)
_MUST_SPECIFY = re.compile(r"failed quota: ([^:]+): must specify (.*)$", re.DOTALL)


def _amounts(text: str) -> dict[str, str]:
    """'limits.cpu=1,limits.memory=1Gi' as {resource: quantity}."""
    pairs = (item.split("=", 1) for item in text.strip().split(",") if "=" in item)
    return {key.strip(): value.strip() for key, value in pairs}


def _larger(requested: str, limit: str) -> bool:
    try:
        return bool(parse_quantity(requested) > parse_quantity(limit))
    except (ValueError, InvalidOperation):
        return False


def _short_of_pods(obj: Any) -> bool:
    """True while the controller wants pods it does not have (a finished Job or a scaled-down ReplicaSet wants none)."""
    status = obj.status
    if type_kind(obj) == "Job":
        finished = any(c.type in ("Complete", "Failed") and c.status == "True" for c in status.conditions or [])
        return not finished and (status.active or 0) < (obj.spec.parallelism if obj.spec.parallelism is not None else 1)
    return bool((status.replicas or 0) < (obj.spec.replicas if obj.spec.replicas is not None else 1))


def _owner_text(obj: Any) -> str:
    kind, name = type_kind(obj), obj.metadata.name
    owners = [o for o in obj.metadata.owner_references or [] if o.kind == "Deployment"]
    return f"{kind} {name} (of Deployment {owners[0].name})" if owners else f"{kind} {name}"


def _quota(obj: Any, owner: str, message: str) -> Problem | None:
    exceeded = _EXCEEDED.search(message)
    if exceeded:
        quota, requested, used, limited = (exceeded.group(1).strip(), _amounts(exceeded.group(2)),
                                           _amounts(exceeded.group(3)), _amounts(exceeded.group(4)))
        over = ", ".join(f"{r} {requested[r]} requested, {used.get(r, '0')} used of {limited[r]}"
                         for r in sorted(requested) if r in limited)
        # A pod larger than the whole quota never fits; otherwise other pods ending may make room.
        never = any(_larger(requested[r], limited[r]) for r in requested if r in limited)
        fix = ("lower the component's resources below the quota, or raise the quota" if never else
               "wait for other pods to end, lower the component's resources, or raise the quota")
        return Problem(type_kind(obj), obj.metadata.name, "QuotaExceeded",
                       f"{owner} cannot create its pods: ResourceQuota {quota} is exceeded ({over}); {fix}", never)
    missing = _MUST_SPECIFY.search(message)
    if missing:
        return Problem(type_kind(obj), obj.metadata.name, "QuotaNeedsResources",
                       f"{owner} cannot create its pods: ResourceQuota {missing.group(1).strip()} requires "
                       f"{missing.group(2).strip()} on every container; set them in the component's resources", True)
    return None


def _refusal(observed: Observed, obj: Any, message: str) -> Problem:
    owner = _owner_text(obj)
    security = _POD_SECURITY.search(message)
    if security:
        level, violations = security.group(1), security.group(2).strip()
        return Problem(type_kind(obj), obj.metadata.name, "PodSecurity",
                       f'{owner} cannot create its pods: Pod Security "{level}" of namespace {observed.namespace} '
                       f"refuses them ({violations}); undo the values that weaken the pods' security context "
                       "(the chart's defaults satisfy restricted)", True)
    quota = _quota(obj, owner, message)
    if quota:
        return quota
    return Problem(type_kind(obj), obj.metadata.name, "FailedCreate",
                   f"{owner} cannot create its pods: {message}", False)


def controller_problems(observed: Observed) -> list[Problem]:
    """One problem per Job or ReplicaSet of the release whose latest pod creation was refused."""
    problems = []
    for obj in [*observed.jobs, *observed.replica_sets]:
        if not _short_of_pods(obj):
            continue
        events = events_about(observed, obj, ("FailedCreate", "SuccessfulCreate"))
        if events and events[-1].reason == "FailedCreate":
            message = str(events[-1].message or "").removeprefix("Error creating: ").strip()
            problems.append(_refusal(observed, obj, message))
    return problems

