"""Upgrades, rollback, uninstall and re-install on the real API server."""

from __future__ import annotations

import copy
from typing import Any

from lfk8s.release import upgrades
from lfk8s.release.install import install
from lfk8s.release.snapshot import diff, settled, snapshot, wait_for
from lfk8s.release.target import Target


def test_upgrade_checks_pass(target: Target, local_values: dict[str, Any]) -> None:
    steps = upgrades.check_upgrade(target, local_values, timeout="2m")
    assert [s.name for s in steps] == ["identical values change nothing",
                                       "training change starts a new run, inference untouched",
                                       "inference change rolls only inference pods"]
    assert all(step.ok for step in steps), [(s.name, s.detail) for s in steps if not s.ok]


def test_noop_check_detects_a_change(target: Target, local_values: dict[str, Any]) -> None:
    """The comparison the checks rely on does see a rollout."""
    install(target, local_values, timeout="2m")
    wait_for(lambda: settled(target))
    before = snapshot(target)
    changed = copy.deepcopy(local_values)
    changed["webui"]["port"] = 7861
    install(target, changed, timeout="2m")
    wait_for(lambda: settled(target))
    touched = diff(before, snapshot(target)).touched()
    assert any(kind == "Deployment" and name.endswith("-webui") for kind, name in touched)


def _served_name(target: Target) -> str:
    (deployment,) = target.apps.list_namespaced_deployment(
        target.namespace, label_selector=f"{target.selector},app.kubernetes.io/component=inference").items
    env = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}
    return env["API_MODEL_NAME"]


def test_rollback_restores_the_previous_revision(target: Target, local_values: dict[str, Any]) -> None:
    assert local_values["inference"]["engine"] == "llamafactory"  # the name travels in API_MODEL_NAME
    install(target, local_values, timeout="2m")
    changed = copy.deepcopy(local_values)
    changed["inference"]["servedModelName"] = "renamed-model"
    install(target, changed, timeout="2m")
    assert _served_name(target) == "renamed-model"
    target.helm.rollback(target.release, target.namespace, 1)
    assert _served_name(target) == local_values["inference"]["servedModelName"]
    history = target.helm.history(target.release, target.namespace)
    assert [h["revision"] for h in history] == [1, 2, 3] and history[-1]["status"] == "deployed"


def test_uninstall_keeps_the_claim_and_reinstall_reuses_it(target: Target, local_values: dict[str, Any]) -> None:
    install(target, local_values, timeout="2m")
    (claim,) = target.core.list_namespaced_persistent_volume_claim(
        target.namespace, label_selector=target.selector
    ).items
    volume = claim.spec.volume_name
    target.helm.uninstall(target.release, target.namespace)
    assert wait_for(lambda: not target.core.list_namespaced_pod(target.namespace, label_selector=target.selector).items)
    left = snapshot(target)
    assert {kind for kind, _ in left} == {"PersistentVolumeClaim"}
    assert target.core.read_persistent_volume(volume).status.phase == "Bound"

    install(target, local_values, timeout="2m")
    (again,) = target.core.list_namespaced_persistent_volume_claim(
        target.namespace, label_selector=target.selector
    ).items
    assert again.metadata.uid == claim.metadata.uid and again.spec.volume_name == volume
