"""Why the scheduler cannot place a pod: a nodeSelector (or required node affinity) no node
matches, a taint on every matching node that the pod does not tolerate, a request larger than
any node it may use. Anything else is the scheduler's own words, given patience."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kubernetes.utils import parse_quantity

from lfk8s.release.diagnosis.model import Observed, Problem, component, events_about

# Taints a node carries while it starts, drains or is under pressure: they come and go.
_PASSING_TAINT_PREFIXES = ("node.kubernetes.io/", "node.cloudprovider.kubernetes.io/")
_BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")
SCHEDULING_CAUSES = ("NodeSelector", "NodeAffinity", "Taint", "TooBig", "Unschedulable")


def unschedulable_message(pod: Any) -> str | None:
    """The scheduler's message when it has given up on the pod for now, else None."""
    if pod.status is None or pod.status.phase != "Pending":
        return None
    for condition in pod.status.conditions or []:
        if condition.type == "PodScheduled" and condition.status == "False" and condition.reason == "Unschedulable":
            return str(condition.message or "")
    return None


def tolerates(toleration: Any, taint: Any) -> bool:
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.operator == "Exists":
        return not toleration.key or toleration.key == taint.key
    return bool(toleration.key == taint.key and (toleration.value or "") == (taint.value or ""))


def taint_text(taint: Any) -> str:
    return f"{taint.key}={taint.value}:{taint.effect}" if taint.value else f"{taint.key}:{taint.effect}"


def _labels(node: Any) -> dict[str, str]:
    return dict(node.metadata.labels or {})


def _expression_holds(expression: Any, labels: dict[str, str]) -> bool:
    value, values = labels.get(expression.key), expression.values or []
    match expression.operator:
        case "In":
            return value in values
        case "NotIn":
            return value not in values
        case "Exists":
            return value is not None
        case "DoesNotExist":
            return value is None
        case "Gt" | "Lt" if value is not None and value.lstrip("-").isdigit() and values:
            return int(value) > int(values[0]) if expression.operator == "Gt" else int(value) < int(values[0])
    return False


def _affinity_allows(pod: Any, node: Any) -> bool:
    affinity = pod.spec.affinity.node_affinity if pod.spec.affinity else None
    required = affinity.required_during_scheduling_ignored_during_execution if affinity else None
    if not required:
        return True
    labels = _labels(node)
    return any(all(_expression_holds(e, labels) for e in term.match_expressions or [])
               for term in required.node_selector_terms or [])


def _untolerated(pod: Any, node: Any) -> list[Any]:
    tolerations = pod.spec.tolerations or []
    return [t for t in node.spec.taints or [] if t.effect in _BLOCKING_EFFECTS
            and not any(tolerates(tol, t) for tol in tolerations)] if node.spec else []


def _requests(pod: Any) -> dict[str, tuple[Decimal, str]]:
    """What the pod asks of a node per resource (a limit stands for a missing request), as (amount, text)."""
    def asked(containers: list[Any]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for container in containers:
            resources = container.resources
            limits, requests = (resources.limits or {}, resources.requests or {}) if resources else ({}, {})
            merged = {**limits, **requests}
            for name, quantity in merged.items():
                out.setdefault(name, []).append(str(quantity))
        return out

    totals: dict[str, tuple[Decimal, str]] = {}
    for name, quantities in asked(pod.spec.containers).items():
        amount = sum((parse_quantity(q) for q in quantities), Decimal(0))
        totals[name] = (amount, quantities[0] if len(quantities) == 1 else f"{amount.normalize():f}")
    for name, quantities in asked(pod.spec.init_containers or []).items():
        largest = max(quantities, key=parse_quantity)
        if parse_quantity(largest) > totals.get(name, (Decimal(0), ""))[0]:
            totals[name] = (parse_quantity(largest), largest)
    return totals


def _too_big(pod: Any, nodes: list[Any], message: str) -> str | None:
    for resource, (amount, text) in sorted(_requests(pod).items()):
        offered = [(parse_quantity(n.status.allocatable[resource]), str(n.status.allocatable[resource]))
                   for n in nodes if n.status and resource in (n.status.allocatable or {})]
        largest = max(offered, default=(Decimal(0), "0"))
        if amount <= largest[0]:
            continue
        if resource.endswith("/gpu"):
            return (f"it asks for {text} {resource} but the largest GPU node has {largest[1]}; lower "
                    f"{component(pod)}'s `gpus` (and tensorParallelSize) to at most {largest[1]}, or add bigger GPU "
                    f"nodes (scheduler: {message})")
        return (f"it asks for {text} {resource} but the largest node it may use has {largest[1]}; lower "
                f"{component(pod)}'s resources, or add bigger nodes (scheduler: {message})")
    return None


def _selector_text(pod: Any, nodes: list[Any]) -> str:
    selector = pod.spec.node_selector or {}
    for key, value in sorted(selector.items()):
        if not any(_labels(n).get(key) == value for n in nodes):
            present = sorted({_labels(n)[key] for n in nodes if key in _labels(n)})
            seen = f"nodes have {key}={', '.join(present)}" if present else f"no node has the label {key}"
            return f"no node has the label {key}={value} of its nodeSelector ({seen})"
    pairs = ", ".join(f"{k}={v}" for k, v in sorted(selector.items()))
    return f"no node has all the labels of its nodeSelector ({pairs})"


def _explain(observed: Observed, pod: Any, message: str) -> Problem:
    name, nodes = pod.metadata.name, observed.nodes
    # A cluster autoscaler adding nodes may yet bring a matching one.
    scaling = bool(events_about(observed, pod, ("TriggeredScaleUp",)))

    def problem(cause: str, why: str, definitive: bool = True) -> Problem:
        return Problem("Pod", name, cause, f"pod {name} cannot be scheduled: {why}", definitive and not scaling)

    if nodes is None:
        return problem("Unschedulable", f"scheduler: {message}", False)
    selector = pod.spec.node_selector or {}
    by_selector = [n for n in nodes if all(_labels(n).get(k) == v for k, v in selector.items())]
    if not by_selector:
        return problem("NodeSelector", f"{_selector_text(pod, nodes)}; change {component(pod)}'s nodeSelector "
                                       "in the values, or label the nodes that should run it")
    matching = [n for n in by_selector if _affinity_allows(pod, n)]
    if not matching:
        return problem("NodeAffinity", f"no node matching its nodeSelector matches its required node affinity; "
                                       f"change {component(pod)}'s affinity in the values, or label the nodes")
    blocked = {n.metadata.name: _untolerated(pod, n) for n in matching}
    lasting = {node: [t for t in taints if not t.key.startswith(_PASSING_TAINT_PREFIXES)]
               for node, taints in blocked.items()}
    if all(lasting.values()):
        taints = sorted({taint_text(t) for ts in lasting.values() for t in ts})
        return problem("Taint", f"every node matching its nodeSelector has a taint it does not tolerate: "
                                f"{', '.join(taints)} (on {', '.join(sorted(lasting))}); add a toleration for it "
                                f"to {component(pod)}'s tolerations in the values, or use untainted nodes")
    eligible = [n for n in matching if not blocked[n.metadata.name]]
    too_big = _too_big(pod, eligible, message) if eligible else None
    if too_big:
        return problem("TooBig", too_big)
    return problem("Unschedulable", f"scheduler: {message}", False)


def scheduling_problems(observed: Observed, explained_claims: set[str]) -> list[Problem]:
    """One problem per pod the scheduler has given up on, except pods waiting for a claim whose
    own problem says why."""
    problems = []
    for pod in observed.pods:
        message = unschedulable_message(pod)
        if message is None:
            continue
        claims = {v.persistent_volume_claim.claim_name for v in pod.spec.volumes or [] if v.persistent_volume_claim}
        if claims & explained_claims:
            continue
        problems.append(_explain(observed, pod, message))
    return problems
