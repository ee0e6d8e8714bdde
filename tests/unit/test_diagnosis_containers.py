"""Containers that cannot start or keep failing, explained from the status the kubelet reports."""

from __future__ import annotations

from lfk8s.release.diagnosis.containers import container_problems
from tests.unit.diagnosis_objects import container_status, event, observed, pod, stamp

NOT_FOUND = ('rpc error: code = NotFound desc = failed to pull and unpack image "registry.local/train:1": '
             'failed to resolve reference "registry.local/train:1": registry.local/train:1: not found')


def test_an_image_the_registry_does_not_have_is_definitive_with_the_registry_message() -> None:
    status = container_status({"waiting": {"reason": "ErrImagePull", "message": NOT_FOUND}})
    (problem,) = container_problems(observed(pods=[pod("train-0", statuses=[status])]))
    assert problem.definitive and problem.kind == "Pod" and problem.name == "train-0"
    assert 'container main cannot pull image "registry.local/train:1"' in problem.sentence
    assert "registry.local/train:1: not found" in problem.sentence


def test_a_pull_that_may_succeed_on_retry_is_given_patience_and_quotes_the_kubelet_event() -> None:
    status = container_status({"waiting": {"reason": "ImagePullBackOff",
                                            "message": 'Back-off pulling image "registry.local/train:1"'}})
    stuck = pod("train-0", statuses=[status])
    failed = event(stuck, "Failed", 'Failed to pull image "registry.local/train:1": dial tcp: lookup registry.local: '
                   "no such host")
    (problem,) = container_problems(observed(pods=[stuck], events=[failed]))
    assert not problem.definitive
    assert "ImagePullBackOff: Failed to pull image" in problem.sentence and "no such host" in problem.sentence


def test_a_missing_secret_is_named_with_where_to_create_it() -> None:
    status = container_status({"waiting": {"reason": "CreateContainerConfigError",
                                           "message": 'secret "mlflow-creds" not found'}})
    (problem,) = container_problems(observed(pods=[pod("webui-1", "webui", statuses=[status])]))
    assert problem.definitive
    assert "create Secret mlflow-creds in namespace llm" in problem.sentence


def test_a_missing_key_is_named_with_its_object() -> None:
    message = "couldn't find key MLFLOW_TRACKING_URI in Secret llm/mlflow-creds"
    status = container_status({"waiting": {"reason": "CreateContainerConfigError", "message": message}})
    (problem,) = container_problems(observed(pods=[pod("webui-1", "webui", statuses=[status])]))
    assert "add the key MLFLOW_TRACKING_URI to Secret mlflow-creds" in problem.sentence


def test_a_crash_loop_names_exit_code_restarts_and_the_previous_log() -> None:
    status = container_status(
        {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}},
        {"terminated": {"exitCode": 3, "reason": "Error", "finishedAt": stamp(), "containerID": "containerd://ab"}},
        restarts=4, name="engine")
    (problem,) = container_problems(observed(pods=[pod("inference-7", "inference", "Running", statuses=[status])]))
    assert problem.definitive and problem.cause == "CrashLoopBackOff/engine"
    assert "after 4 restarts; last run: exit code 3, Error" in problem.sentence
    assert "kubectl -n llm logs inference-7 -c engine --previous" in problem.sentence
    assert problem.log is not None and problem.log.previous and problem.log.container == "engine"


def test_an_oom_kill_names_the_memory_limit_and_the_component() -> None:
    containers = [{"name": "main", "image": "registry.local/train:1", "resources": {"limits": {"memory": "1Gi"}}}]
    status = container_status({"waiting": {"reason": "CrashLoopBackOff"}},
                              {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": stamp()}},
                              restarts=2)
    (problem,) = container_problems(observed(pods=[pod("train-0", containers=containers, statuses=[status])]))
    assert problem.definitive and problem.cause == "OOMKilled/main"
    assert "OOMKilled, exit code 137" in problem.sentence and "memory limit of 1Gi" in problem.sentence
    assert "raise training's memory limit" in problem.sentence
    # No container id: the container never ran on a kubelet that keeps logs, so no log is read.
    assert problem.log is None


def test_a_failed_job_pod_of_this_attempt_is_given_patience_and_an_older_one_is_ignored() -> None:
    def failed(seconds_from_now: float) -> object:
        status = container_status({"terminated": {"exitCode": 1, "reason": "Error",
                                                  "finishedAt": stamp(seconds_from_now)}})
        return pod(f"train-{int(-seconds_from_now)}", phase="Failed", statuses=[status])

    problems = container_problems(observed(pods=[failed(0), failed(-3600)]))
    assert [p.name for p in problems] == ["train-0"]
    assert not problems[0].definitive and "failed (exit code 1, Error)" in problems[0].sentence


def test_running_and_creating_containers_are_fine() -> None:
    running = container_status({"running": {"startedAt": stamp()}})
    creating = container_status({"waiting": {"reason": "ContainerCreating"}}, name="sidecar")
    assert container_problems(observed(pods=[pod("ok", phase="Running", statuses=[running, creating])])) == []
