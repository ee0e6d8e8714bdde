"""Why a container does not run, from the status the kubelet reports: an image it cannot pull,
a Secret or ConfigMap (or key) it needs and that does not exist, a crash loop, an OOM kill."""

from __future__ import annotations

import datetime
import re
from typing import Any

from lfk8s.release.diagnosis.model import LogRef, Observed, Problem, component, events_about

PULL_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
# What a registry (or the kubelet) answers when a retry cannot change the outcome.
_FINAL_PULL_WORDS = ("not found", "manifest unknown", "unauthorized", "denied", "invalid reference format",
                     "invalidimagename", "errimageneverpull")
_MISSING_OBJECT = re.compile(r'(secret|configmap) "([^"]+)" not found', re.IGNORECASE)
_MISSING_KEY = re.compile(r"couldn't find key (\S+) in (Secret|ConfigMap) ([^/\s]+)/(\S+)")
_KINDS = {"secret": "Secret", "configmap": "ConfigMap"}


def _pod_problem(pod: Any, container: str, cause: str, text: str, definitive: bool,
                 log: LogRef | None = None) -> Problem:
    name = pod.metadata.name
    return Problem("Pod", name, f"{cause}/{container}", f"pod {name}: container {container} {text}", definitive, log)


def _registry_message(observed: Observed, pod: Any, image: str, fallback: str) -> str:
    """The registry's words: the kubelet's latest pull failure event for this image, else the waiting message."""
    for event in reversed(events_about(observed, pod, ("Failed",))):
        if image and image in (event.message or ""):
            return str(event.message).strip()
    return fallback


def _pull(observed: Observed, pod: Any, status: Any, image: str) -> Problem | None:
    waiting = status.state.waiting if status.state else None
    if not waiting or waiting.reason not in PULL_REASONS:
        return None
    message = _registry_message(observed, pod, image, (waiting.message or "").strip())
    final = any(word in f"{waiting.reason} {message}".lower() for word in _FINAL_PULL_WORDS)
    return _pod_problem(pod, status.name, "ImagePull",
                        f'cannot pull image "{image}" ({waiting.reason}: {message or "no message"}); check the '
                        "image's name and tag in the values and that the nodes can reach its registry "
                        "(imagePullSecrets for a private one)", final)


def _config(pod: Any, status: Any, namespace: str) -> Problem | None:
    waiting = status.state.waiting if status.state else None
    if not waiting or waiting.reason != "CreateContainerConfigError":
        return None
    message = (waiting.message or "").strip()
    missing_key = _MISSING_KEY.search(message)
    missing = _MISSING_OBJECT.search(message)
    if missing_key:
        key, kind, _, name = missing_key.groups()
        fix = f"add the key {key} to {kind} {name}, or name the key it has in the values"
    elif missing:
        kind, name = _KINDS[missing.group(1).lower()], missing.group(2)
        fix = f"create {kind} {name} in namespace {namespace}, or name an existing one in the values"
    else:
        fix = "fix the configuration the message names"
    return _pod_problem(pod, status.name, "CreateContainerConfigError",
                        f"cannot start (CreateContainerConfigError: {message}); {fix}", True)


def _after(terminated: Any, since: datetime.datetime) -> bool:
    finished = terminated.finished_at
    return finished is None or finished >= since


def _ended_badly(terminated: Any) -> bool:
    return bool(terminated.exit_code) or terminated.reason == "OOMKilled"


def _termination(status: Any, since: datetime.datetime) -> tuple[Any, bool] | None:
    """The container's run that ended badly in this attempt, and whether it is the previous run."""
    state, last = status.state, status.last_state
    if state and state.terminated and _ended_badly(state.terminated) and _after(state.terminated, since):
        return state.terminated, False
    if last and last.terminated and _ended_badly(last.terminated):
        looping = bool(state and state.waiting and state.waiting.reason == "CrashLoopBackOff")
        if looping or _after(last.terminated, since):
            return last.terminated, True
    return None


def _memory_limit(spec: Any) -> str:
    limits = (spec.resources.limits or {}) if spec is not None and spec.resources else {}
    return str(limits.get("memory", ""))


def _crash(pod: Any, status: Any, spec: Any, observed: Observed) -> Problem | None:
    found = _termination(status, observed.since)
    if found is None:
        return None
    terminated, previous = found
    # Only a container that ran (it has an id) left a log to read.
    log = LogRef(pod.metadata.name, status.name, previous) if terminated.container_id else None
    how = f"exit code {terminated.exit_code}, {terminated.reason or 'no reason given'}"
    command = (f"kubectl -n {observed.namespace} logs {pod.metadata.name} -c {status.name}"
               + (" --previous" if previous else ""))
    if terminated.reason == "OOMKilled":
        limit = _memory_limit(spec)
        under = f"its memory limit of {limit}" if limit else "no memory limit (the node ran out)"
        return _pod_problem(pod, status.name, "OOMKilled",
                            f"ran out of memory (OOMKilled, exit code {terminated.exit_code}) under {under}; raise "
                            f"{component(pod)}'s memory limit (resources.limits.memory) or make it use less", True, log)
    waiting = status.state.waiting if status.state else None
    if waiting and waiting.reason == "CrashLoopBackOff":
        return _pod_problem(pod, status.name, "CrashLoopBackOff",
                            f"keeps crashing (CrashLoopBackOff after {status.restart_count} restarts; "
                            f"last run: {how}); fix what its log says ({command})", True, log)
    if previous:
        return _pod_problem(pod, status.name, "Restarted",
                            f"crashed and was restarted ({status.restart_count} restarts; last run: {how}); "
                            f"fix what its log says ({command})", False, log)
    # A failed Job pod: the Job may retry it (backoffLimit), so it is given patience.
    return _pod_problem(pod, status.name, "Failed", f"failed ({how}); fix what its log says ({command})", False, log)


def container_problems(observed: Observed) -> list[Problem]:
    """One problem per container of the release's pods that cannot start or keeps failing."""
    problems = []
    for pod in observed.pods:
        if pod.metadata.deletion_timestamp or pod.status is None:
            continue
        specs = {c.name: c for c in [*(pod.spec.init_containers or []), *pod.spec.containers]}
        for status in [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]:
            spec = specs.get(status.name)
            image = status.image or (spec.image if spec is not None else "")
            found = (_pull(observed, pod, status, image) or _config(pod, status, observed.namespace)
                     or _crash(pod, status, spec, observed))
            if found:
                problems.append(found)
    return problems
