"""Each cause the diagnosis names, provoked on the local cluster: `install` stops with one plain
sentence naming the object, the cause and the fix, well before helm's timeout (within 30 s).

The apiserver, controllers and scheduler are real, so claims, quotas, Pod Security, selectors and
taints fail as they would anywhere. kwok plays the kubelet and runs no container, so for the
kubelet's causes (image pulls, crash loops, OOM kills, missing Secrets) the test writes the pod
status the way a kubelet reports it, through the status subresource."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

from lfk8s.cluster.kwok_stages import COMPLETE_DELAY_ANNOTATION
from lfk8s.release import operate, upgrades
from lfk8s.release.install import install
from lfk8s.release.snapshot import wait_for
from lfk8s.release.target import Target
from lfk8s.release.watch import ReleaseStuck

WITHIN = 30.0


def explained(target: Target, values: dict[str, Any], patience: float = 60) -> tuple[str, float]:
    """install's explanation and how long after the start it came."""
    start = time.monotonic()
    with pytest.raises(ReleaseStuck) as stuck:
        install(target, values, timeout="3m", patience=patience)
    # helm was stopped early; its own words stay with the explanation (for a --verbose).
    assert "Error: " in stuck.value.helm_error
    return str(stuck.value), time.monotonic() - start


def only(values: dict[str, Any], *components: str) -> dict[str, Any]:
    out = copy.deepcopy(values)
    for name in ("training", "merge", "webui", "inference"):
        out[name]["enabled"] = name in components
    return out


def test_claim_with_a_storage_class_that_does_not_exist(target: Target, local_values: dict[str, Any]) -> None:
    values = only(local_values, "webui")
    values["storage"] = {"type": "pvc", "size": "1Gi", "storageClassName": "lfk8s-no-such-class"}
    message, seconds = explained(target, values)
    assert seconds < WITHIN, message
    assert "PersistentVolumeClaim " in message and 'StorageClass "lfk8s-no-such-class" does not exist' in message
    classes = client.StorageV1Api(target.api).list_storage_class().items
    for storage_class in classes:
        assert f'"{storage_class.metadata.name}"' in message
    if not classes:
        assert "the cluster has no StorageClass" in message


def test_resource_quota_smaller_than_a_pod(target: Target, local_values: dict[str, Any]) -> None:
    quota = client.V1ResourceQuota(metadata=client.V1ObjectMeta(name="team-quota"),
                                   spec=client.V1ResourceQuotaSpec(hard={"limits.memory": "512Mi"}))
    target.core.create_namespaced_resource_quota(target.namespace, quota)
    # Until the quota controller has counted usage, admission refuses with "status unknown".
    assert wait_for(lambda: bool(target.core.read_namespaced_resource_quota("team-quota", target.namespace)
                                 .status.hard), timeout=30)
    message, seconds = explained(target, only(local_values, "webui"))
    assert seconds < WITHIN, message
    assert "(of Deployment " in message and "cannot create its pods: ResourceQuota team-quota is exceeded" in message
    assert "limits.memory 1Gi requested, 0 used of 512Mi" in message and "raise the quota" in message


def test_pod_template_that_violates_pod_security(target: Target, local_values: dict[str, Any]) -> None:
    values = only(local_values, "training")
    values["podSecurityContext"] = {"runAsNonRoot": False}
    message, seconds = explained(target, values)
    assert seconds < WITHIN, message
    assert f'cannot create its pods: Pod Security "restricted:latest" of namespace {target.namespace}' in message
    assert message.startswith("Job ") and "runAsNonRoot != true" in message


def test_node_selector_no_node_matches(target: Target, local_values: dict[str, Any]) -> None:
    values = only(local_values, "inference")
    values["inference"]["nodeSelector"] = {"lfk8s.io/pool": "h100"}
    message, seconds = explained(target, values)
    assert seconds < WITHIN, message
    assert "-inference-" in message
    assert "cannot be scheduled: no node has the label lfk8s.io/pool=h100 of its nodeSelector" in message


def test_taint_no_toleration_matches(target: Target, local_values: dict[str, Any]) -> None:
    values = only(local_values, "inference")
    values["gpu"] = {"tolerations": [{"key": "example.com/other", "operator": "Exists", "effect": "NoSchedule"}]}
    message, seconds = explained(target, values)
    assert seconds < WITHIN, message
    gpu_nodes = client.CoreV1Api(target.api).list_node(label_selector="nvidia.com/gpu=true").items
    assert "has a taint it does not tolerate: nvidia.com/gpu=present:NoSchedule" in message
    assert all(node.metadata.name in message for node in gpu_nodes)


def test_check_upgrade_reports_the_cause_as_its_failed_step(target: Target, local_values: dict[str, Any]) -> None:
    values = only(local_values, "inference")
    values["inference"]["nodeSelector"] = {"lfk8s.io/pool": "h100"}
    start = time.monotonic()
    (step,) = upgrades.check_upgrade(target, values, timeout="3m")
    assert time.monotonic() - start < WITHIN
    assert step.name == "install" and not step.ok
    assert "no node has the label lfk8s.io/pool=h100 of its nodeSelector" in step.detail


def test_train_stops_when_the_new_run_cannot_start(target: Target, local_values: dict[str, Any]) -> None:
    install(target, only(local_values, "training"), timeout="3m")
    start = time.monotonic()
    with pytest.raises(ReleaseStuck) as stuck:
        operate.start_training_run(target, "run-tainted", overrides={"training": {"nodeSelector": {"pool": "none"}}})
    assert time.monotonic() - start < WITHIN
    assert "-train-" in str(stuck.value) and "no node has the label pool=none of its nodeSelector" in str(stuck.value)


# ---------- the kubelet's causes: kwok plays the kubelet, the test writes what a kubelet reports ----------

StatusOf = Callable[[client.V1Pod], dict[str, Any]]


def explained_after_kubelet_reports(target: Target, values: dict[str, Any], status_of: StatusOf,
                                    patience: float = 60) -> tuple[ReleaseStuck, float]:
    """Installs in a thread; once the training pod runs, writes `status_of(pod)` as its status.
    Returns install's error and how long after the status was written it came."""
    values = only(values, "training")
    # The run holds its pod for two minutes, so helm is still waiting when the status is written.
    values["training"]["podAnnotations"] = {COMPLETE_DELAY_ANNOTATION: "120s"}
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            install(target, values, timeout="3m", patience=patience)
        except ReleaseStuck as error:
            outcome["error"] = error
        outcome["at"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def running_pod() -> client.V1Pod | None:
        pods = target.core.list_namespaced_pod(target.namespace, label_selector=target.selector).items
        return next((p for p in pods if p.status.phase == "Running" and p.status.pod_ip), None)

    assert wait_for(lambda: running_pod() is not None, timeout=60)
    pod = running_pod()
    assert pod is not None
    target.core.patch_namespaced_pod_status(pod.metadata.name, target.namespace, {"status": status_of(pod)})
    written = time.monotonic()
    thread.join(timeout=90)
    assert "error" in outcome, "install did not stop"
    error: ReleaseStuck = outcome["error"]
    return error, outcome["at"] - written


def _not_ready(phase: str, container: str, state: dict[str, Any], last_state: dict[str, Any] | None = None,
               restarts: int = 0, image: str = "") -> dict[str, Any]:
    """A pod status as the kubelet writes it. No containerID: no container ran, and kwok serves no logs."""
    return {"phase": phase,
            "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
                           {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady"}],
            "containerStatuses": [{"name": container, "image": image, "imageID": "", "ready": False,
                                   "started": False, "restartCount": restarts, "state": state,
                                   "lastState": last_state or {}}]}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def test_image_the_registry_does_not_have(target: Target, local_values: dict[str, Any]) -> None:
    def status_of(pod: client.V1Pod) -> dict[str, Any]:
        container = pod.spec.containers[0]
        registry = (f'rpc error: code = NotFound desc = failed to pull and unpack image "{container.image}": '
                    f'failed to resolve reference "{container.image}": {container.image}: not found')
        return _not_ready("Pending", container.name, {"waiting": {"reason": "ErrImagePull", "message": registry}},
                          image=container.image)

    stuck, seconds = explained_after_kubelet_reports(target, local_values, status_of)
    message = str(stuck)
    assert seconds < WITHIN, message
    assert "cannot pull image" in message and "ErrImagePull" in message and ": not found" in message


def test_image_pull_that_may_heal_is_given_patience(target: Target, local_values: dict[str, Any]) -> None:
    def status_of(pod: client.V1Pod) -> dict[str, Any]:
        container = pod.spec.containers[0]
        waiting = {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{container.image}": '
                   "ErrImagePull: dial tcp: lookup registry.example: no such host"}
        return _not_ready("Pending", container.name, {"waiting": waiting}, image=container.image)

    stuck, seconds = explained_after_kubelet_reports(target, local_values, status_of, patience=5)
    message = str(stuck)
    assert 5 <= seconds < WITHIN, message
    assert "ImagePullBackOff" in message and "no such host" in message


def test_crash_loop_names_exit_code(target: Target, local_values: dict[str, Any]) -> None:
    def status_of(pod: client.V1Pod) -> dict[str, Any]:
        container = pod.spec.containers[0].name
        return _not_ready("Running", container,
                          {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting"}},
                          {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": _now(), "finishedAt": _now()}},
                          restarts=3, image=pod.spec.containers[0].image)

    stuck, seconds = explained_after_kubelet_reports(target, local_values, status_of)
    message = str(stuck)
    assert seconds < WITHIN, message
    assert "keeps crashing (CrashLoopBackOff after 3 restarts; last run: exit code 1, Error)" in message
    assert "--previous" in message


def test_oom_kill_names_the_memory_limit(target: Target, local_values: dict[str, Any]) -> None:
    def status_of(pod: client.V1Pod) -> dict[str, Any]:
        container = pod.spec.containers[0].name
        return _not_ready("Running", container, {"waiting": {"reason": "CrashLoopBackOff"}},
                          {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": _now(),
                                          "finishedAt": _now()}},
                          restarts=1, image=pod.spec.containers[0].image)

    stuck, seconds = explained_after_kubelet_reports(target, local_values, status_of)
    message = str(stuck)
    assert seconds < WITHIN, message
    limit = local_values["training"]["resources"]["limits"]["memory"]
    assert f"ran out of memory (OOMKilled, exit code 137) under its memory limit of {limit}" in message
    assert "raise training's memory limit" in message


def test_failed_run_keeps_helm_error_beside_the_cause(target: Target, local_values: dict[str, Any]) -> None:
    """The Job fails (backoffLimit 0), so helm stops by itself; the cause replaces its bare message."""
    def status_of(pod: client.V1Pod) -> dict[str, Any]:
        container = pod.spec.containers[0]
        status = _not_ready("Failed", container.name, {"terminated": {
            "exitCode": 2, "reason": "Error", "startedAt": _now(), "finishedAt": _now()}}, image=container.image)
        status["conditions"] = [{"type": "Ready", "status": "False", "reason": "PodFailed"}]
        return status

    error, seconds = explained_after_kubelet_reports(target, local_values, status_of, patience=600)
    assert seconds < WITHIN, str(error)
    assert "container train failed (exit code 2, Error)" in str(error)
    assert "Job Failed" in error.helm_error and "-train-" in error.helm_error


def test_missing_secret_is_named(target: Target, local_values: dict[str, Any]) -> None:
    values = copy.deepcopy(local_values)
    values["mlflow"] = {**values["mlflow"], "trackingUri": "", "existingSecret": "lfk8s-missing-mlflow"}

    def status_of(pod: client.V1Pod) -> dict[str, Any]:
        container = pod.spec.containers[0]
        waiting = {"reason": "CreateContainerConfigError", "message": 'secret "lfk8s-missing-mlflow" not found'}
        return _not_ready("Pending", container.name, {"waiting": waiting}, image=container.image)

    stuck, seconds = explained_after_kubelet_reports(target, values, status_of)
    message = str(stuck)
    assert seconds < WITHIN, message
    assert f"create Secret lfk8s-missing-mlflow in namespace {target.namespace}" in message
