"""The training Job's podFailurePolicy on the real API server, controllers and scheduler, with
two GPU nodes of this module's own (kwok nodes labelled like the pool's, plus a label only the
run's nodeSelector names, created and removed here so no other test loses a node):

- the node under a running training pod is deleted: the pod garbage collector marks the pod
  DisruptionTarget, the replacement lands on the other node, and the Job's backoff budget
  (status.failed) is untouched;
- the pod is evicted through the eviction API, as `kubectl drain` does: the same;
- the trainer exits 2 or 127, or the check-mlflow init container exits 2 (configuration errors):
  the Job fails at once, without a retry, while an exit 1 is retried within backoffLimit.

kwok plays the kubelet here: no container runs, so a container's exit is written into the pod's
status through the status subresource, as a kubelet reports it.
"""

from __future__ import annotations

import copy
import datetime
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, watch

from lfk8s.cluster.kwok_stages import COMPLETE_DELAY_ANNOTATION
from lfk8s.cluster.local import LocalCluster, NodePool
from lfk8s.release import operate
from lfk8s.release.install import install
from lfk8s.release.snapshot import wait_for
from lfk8s.release.target import Target

FAULTS_LABEL = "lfk8s.io/faults-test"


@pytest.fixture
def own_gpu_nodes(local_cluster: LocalCluster, api: client.ApiClient) -> Iterator[tuple[str, list[str]]]:
    """Two 8-GPU kwok nodes of this test only: (their extra label's value, their names)."""
    core, suffix = client.CoreV1Api(api), uuid.uuid4().hex[:6]
    names = [f"faults-{suffix}-gpu-{i}" for i in range(2)]
    for name in names:
        node = NodePool(gpus_per_node=8)._node(name, gpus=8)
        node["metadata"]["labels"][FAULTS_LABEL] = suffix
        core.create_node(node)
    try:
        assert wait_for(lambda: all(_ready(core.read_node(n)) for n in names), timeout=60), "kwok left them NotReady"
        yield suffix, names
    finally:
        for name in names:
            try:
                core.delete_node(name)
            except client.ApiException as error:
                if error.status != 404:
                    raise


def _ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def _training_only(local_values: dict[str, Any], suffix: str) -> dict[str, Any]:
    values = copy.deepcopy(local_values)
    values.update({c: {**values[c], "enabled": False} for c in ("merge", "webui", "inference")})
    # kwok ends Job pods a second after they run; this run keeps running until the test acts.
    values["training"].update({"podAnnotations": {COMPLETE_DELAY_ANNOTATION: "3600s"},
                               "nodeSelector": {"nvidia.com/gpu": "true", FAULTS_LABEL: suffix}})
    return values


def _running(target: Target) -> list[Any]:
    return [p for p in operate.component_pods(target, "training")
            if p.status.phase == "Running" and not p.metadata.deletion_timestamp]


def _start(target: Target, local_values: dict[str, Any], suffix: str) -> Any:
    install(target, _training_only(local_values, suffix), timeout="2m", wait_for_jobs=False)
    assert wait_for(lambda: len(_running(target)) == 1, timeout=60), "the training pod never ran"
    return _running(target)[0]


def _job(target: Target) -> Any:
    (job,) = target.batch.list_namespaced_job(target.namespace, label_selector=target.selector).items
    return job


class ConditionWatch:
    """Every condition type a pod carried while it went away (it is deleted within seconds)."""

    def __init__(self, target: Target, pod_name: str) -> None:
        self.types: set[str] = set()
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, args=(target, pod_name), daemon=True)
        self._thread.start()

    def _run(self, target: Target, pod_name: str) -> None:
        for event in self._watch.stream(target.core.list_namespaced_pod, target.namespace,
                                        field_selector=f"metadata.name={pod_name}", timeout_seconds=180):
            self.types |= {c.type for c in event["object"].status.conditions or []}
            if event["type"] == "DELETED":
                break

    def stop(self) -> set[str]:
        self._thread.join(timeout=5)
        self._watch.stop()
        return self.types


def _replaced_on_the_other_node(target: Target, first: Any, nodes: list[str]) -> Any:
    assert wait_for(lambda: any(p.metadata.name != first.metadata.name for p in _running(target)), timeout=120), (
        "no replacement pod ran")
    (replacement,) = [p for p in _running(target) if p.metadata.name != first.metadata.name]
    assert replacement.spec.node_name in nodes and replacement.spec.node_name != first.spec.node_name
    return replacement


def test_node_loss_is_retried_without_using_the_backoff_budget(
        target: Target, local_values: dict[str, Any], own_gpu_nodes: tuple[str, list[str]]) -> None:
    suffix, nodes = own_gpu_nodes
    first = _start(target, local_values, suffix)
    assert first.spec.node_name in nodes
    conditions = ConditionWatch(target, first.metadata.name)
    target.core.delete_node(first.spec.node_name)
    # The pod garbage collector removes pods of a deleted node after a quarantine of about 40 s.
    _replaced_on_the_other_node(target, first, nodes)
    assert "DisruptionTarget" in conditions.stop()
    job = _job(target)
    assert not job.status.failed and job.status.active == 1
    assert not any(c.type == "Failed" for c in job.status.conditions or [])


def test_eviction_is_retried_without_using_the_backoff_budget(
        target: Target, local_values: dict[str, Any], own_gpu_nodes: tuple[str, list[str]]) -> None:
    suffix, nodes = own_gpu_nodes
    first = _start(target, local_values, suffix)
    # What a drain does first: the node takes no new pods.
    target.core.patch_node(first.spec.node_name, {"spec": {"unschedulable": True}})
    conditions = ConditionWatch(target, first.metadata.name)
    target.core.create_namespaced_pod_eviction(first.metadata.name, target.namespace, client.V1Eviction(
        metadata=client.V1ObjectMeta(name=first.metadata.name, namespace=target.namespace)))
    _replaced_on_the_other_node(target, first, nodes)
    assert "DisruptionTarget" in conditions.stop()
    job = _job(target)
    assert not job.status.failed and job.status.active == 1


def _exit(target: Target, pod: Any, code: int, container: str = "train") -> None:
    """A container's exit (the trainer, or an init container before it), written into the pod's
    status as a kubelet reports it."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    init = container != "train"
    state = {"terminated": {"exitCode": code, "reason": "Error", "startedAt": now, "finishedAt": now}}
    status: dict[str, Any] = {"phase": "Failed", "initContainerStatuses" if init else "containerStatuses": [{
        "name": container, "image": pod.spec.containers[0].image, "imageID": "", "ready": False,
        "restartCount": 0, "state": state}]}
    if init:
        # The trainer never started.
        status["containerStatuses"] = [{"name": "train", "image": pod.spec.containers[0].image, "imageID": "",
                                        "ready": False, "restartCount": 0,
                                        "state": {"waiting": {"reason": "PodInitializing"}}}]
    target.core.patch_namespaced_pod_status(pod.metadata.name, target.namespace, {"status": status})


def _failed_condition(target: Target) -> Any:
    return next((c for c in _job(target).status.conditions or [] if c.type == "Failed" and c.status == "True"), None)


@pytest.mark.parametrize(("container", "code"), [("train", 2), ("train", 127), ("check-mlflow", 2)])
def test_a_configuration_error_fails_the_job_at_once(
        target: Target, local_values: dict[str, Any], own_gpu_nodes: tuple[str, list[str]], container: str,
        code: int) -> None:
    suffix, _ = own_gpu_nodes
    pod = _start(target, local_values, suffix)
    _exit(target, pod, code, container)
    assert wait_for(lambda: _failed_condition(target) is not None, timeout=60), "the Job did not fail"
    assert _failed_condition(target).reason == "PodFailurePolicy"
    assert [p.metadata.name for p in operate.component_pods(target, "training")] == [pod.metadata.name]
    assert _job(target).status.failed == 1


def test_a_crash_is_retried_within_the_backoff_limit(
        target: Target, local_values: dict[str, Any], own_gpu_nodes: tuple[str, list[str]]) -> None:
    suffix, _ = own_gpu_nodes
    pod = _start(target, local_values, suffix)
    _exit(target, pod, 1)
    assert wait_for(lambda: any(p.metadata.name != pod.metadata.name for p in _running(target)), timeout=60), (
        "a crashed run was not retried")
    job = _job(target)
    assert job.status.failed == 1 and _failed_condition(target) is None
