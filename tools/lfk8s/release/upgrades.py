"""Proof that upgrades do what they should, and nothing else.

1. The same values again: no object's generation, spec or uid changes, no Job re-runs,
   no pod restarts.
2. A new training run (learning rate and run name changed): a new Job starts (no "field is immutable"),
   the inference Deployment and its pods are untouched.
3. One inference parameter changed (the served model name): only the inference pods roll.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from lfk8s.chart.helm import HelmError
from lfk8s.chart.values import with_chart_defaults
from lfk8s.progress import Reporter, quiet
from lfk8s.release.install import install
from lfk8s.release.snapshot import Diff, ObjectState, diff, settled, snapshot, wait_for
from lfk8s.release.target import Target
from lfk8s.release.watch import ReleaseStuck


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    detail: str


def _components(keys: list[tuple[str, str]], states: dict[tuple[str, str], ObjectState]) -> set[str]:
    return {states[key].component for key in keys if key in states}


Snapshot = dict[tuple[str, str], ObjectState]


def _apply(target: Target, values: dict[str, Any], timeout: str) -> tuple[Snapshot, str | None]:
    try:
        install(target, values, timeout=timeout)
    except (HelmError, ReleaseStuck) as error:
        return {}, str(error)
    wait_for(lambda: settled(target), timeout=120)
    return snapshot(target), None


def _touched_components(change: Diff, before: Snapshot, after: Snapshot) -> set[str]:
    return _components(change.removed + change.changed, before) | _components(change.added + change.changed, after)


def check_upgrade(target: Target, values: dict[str, Any], timeout: str = "5m", report: Reporter = quiet) -> list[Step]:
    steps: list[Step] = []
    report("installing (or upgrading to) the values as given")
    base, error = _apply(target, values, timeout)
    if error:
        return [Step("install", False, error)]

    report("upgrading again with identical values")
    same, error = _apply(target, values, timeout)
    change = diff(base, same)
    steps.append(Step("identical values change nothing", not error and change.empty(), error or change.describe()))
    current_values, current = values, same

    effective = with_chart_defaults(values, target.paths)
    if effective["training"]["enabled"]:
        report("starting a new training run (learningRate and runName)")
        changed_values = copy.deepcopy(current_values)
        training = with_chart_defaults(current_values, target.paths)["training"]
        # A new run as users start one: another learning rate under a new run name (a new output
        # directory), which must not restart the engine or the WebUI.
        changed_values["training"]["learningRate"] = training["learningRate"] * 2
        changed_values["training"]["runName"] = f"{training['runName']}-v2"
        after, error = _apply(target, changed_values, timeout)
        change = diff(current, after)
        new_jobs = [name for kind, name in change.added
                    if kind == "Job" and after[(kind, name)].component == "training"]
        untouched = not ({"inference", "webui"} & _touched_components(change, current, after))
        steps.append(Step("training change starts a new run, inference untouched",
                          not error and bool(new_jobs) and untouched,
                          error or f"new training Job: {', '.join(new_jobs) or 'none'}; {change.describe()}"))
        if not error:
            current_values, current = changed_values, after

    if effective["inference"]["enabled"]:
        # The served model name reaches every engine (flag or env); maxModelLen does not reach
        # LLaMA-Factory's own API server.
        report("changing one inference parameter (servedModelName)")
        changed_values = copy.deepcopy(current_values)
        name = with_chart_defaults(current_values, target.paths)["inference"]["servedModelName"]
        changed_values["inference"]["servedModelName"] = f"{name}-v2"
        after, error = _apply(target, changed_values, timeout)
        change = diff(current, after)
        touched = _touched_components(change, current, after)
        steps.append(Step("inference change rolls only inference pods",
                          not error and touched == {"inference"},
                          error or f"components touched: {sorted(touched)}; {change.describe()}"))
    return steps
