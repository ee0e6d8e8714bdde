"""Watching a release while something waits on it (helm --wait, a new training run starting):
every second the release is read and diagnosed, and the wait ends early with one sentence per
cause, at once when waiting cannot heal it, after some patience when a retry may."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import urllib3
from kubernetes.client.rest import ApiException

from lfk8s.chart.helm import HelmError
from lfk8s.release.diagnosis.diagnose import Patience, diagnose
from lfk8s.release.diagnosis.model import Problem
from lfk8s.release.observe import observe
from lfk8s.release.target import Target

POLL_SECONDS = 1.0
# Long enough for an image pull's first retries and a scheduler finding room; short next to helm's timeout.
DEFAULT_PATIENCE = 60.0
LOG_LINES = 10
# Events and terminations this long before the watch began still count (clocks of client and cluster differ).
CLOCK_SLACK = datetime.timedelta(seconds=30)
_READ_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError)


def watch_start() -> datetime.datetime:
    """The moment before which terminations belong to earlier attempts."""
    return datetime.datetime.now(datetime.UTC) - CLOCK_SLACK


class ReleaseStuck(RuntimeError):
    """A release that cannot become ready, explained: one line per cause. `helm_error` keeps
    helm's own message (empty when helm was still waiting) for whoever wants the details."""

    def __init__(self, explanation: str, problems: list[Problem], helm_error: str = "") -> None:
        super().__init__(explanation)
        self.problems = problems
        self.helm_error = helm_error


def _log_tail(target: Target, problem: Problem) -> str:
    ref = problem.log
    if ref is None:
        return ""
    try:
        text = target.core.read_namespaced_pod_log(ref.pod, target.namespace, container=ref.container,
                                                   previous=ref.previous, tail_lines=LOG_LINES, _request_timeout=10)
    except _READ_ERRORS as error:
        return f"\n    (its log could not be read: {getattr(error, 'reason', None) or error})"
    lines = [line for line in str(text).splitlines() if line.strip()][-LOG_LINES:]
    return "".join(f"\n    | {line}" for line in lines) if lines else "\n    (its log is empty)"


@dataclass
class Watcher:
    """Diagnoses a release (or one of its components) each time it is asked, with patience."""

    target: Target
    patience: Patience
    component: str | None = None
    since: datetime.datetime = field(default_factory=watch_start)

    def current(self) -> list[Problem]:
        """The problems now; none when the API server did not answer (the wait goes on as it would)."""
        try:
            return diagnose(observe(self.target, self.since, self.component))
        except _READ_ERRORS:
            return []

    def due(self) -> list[Problem]:
        """The problems to stop for, or [] to keep waiting."""
        problems = self.current()
        return problems if self.patience.exhausted(problems, time.monotonic()) else []

    def stuck(self, problems: list[Problem], helm_error: str = "") -> ReleaseStuck:
        explanation = "\n".join(str(p) + _log_tail(self.target, p) for p in problems)
        return ReleaseStuck(explanation, problems, helm_error)


async def _stop_helm(target: Target, task: asyncio.Task[Any]) -> str:
    """Ends helm's wait; returns helm's own error text."""
    target.helm.terminate_own_runs()
    try:
        await asyncio.wait_for(task, timeout=30)
    except HelmError as error:
        return str(error)
    except TimeoutError:
        return "helm did not stop within 30 s of SIGTERM"
    return ""


async def watch_helm(target: Target, task: asyncio.Task[dict[str, Any]], patience: float) -> dict[str, Any]:
    """helm's result; or ReleaseStuck as soon as the release shows a cause helm would only time out on.
    When helm fails by itself (a failed Job, its timeout), the causes found replace its bare message."""
    watcher = Watcher(target, Patience(patience))
    while True:
        done, _ = await asyncio.wait({task}, timeout=POLL_SECONDS)
        if done:
            try:
                return task.result()
            except HelmError as error:
                problems = await asyncio.to_thread(watcher.current)
                if problems:
                    raise await asyncio.to_thread(watcher.stuck, problems, str(error)) from error
                raise
        due = await asyncio.to_thread(watcher.due)
        if due:
            helm_error = await _stop_helm(target, task)
            raise await asyncio.to_thread(watcher.stuck, due, helm_error)


def wait_until(target: Target, done: Callable[[], bool], component: str | None, timeout: float,
               patience: float = DEFAULT_PATIENCE) -> bool:
    """Polls `done` until it is true (True) or `timeout` passes (False), raising ReleaseStuck when
    the component shows a cause it cannot start for."""
    watcher = Watcher(target, Patience(patience), component)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        due = watcher.due()
        if due:
            raise watcher.stuck(due)
        time.sleep(POLL_SECONDS)
    return False
