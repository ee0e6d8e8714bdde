"""Jobs and ReplicaSets whose pods the API server refuses: Pod Security and ResourceQuota."""

from __future__ import annotations

from lfk8s.release.diagnosis.controllers import controller_problems
from tests.unit.diagnosis_objects import event, job, observed, replica_set

PSA = ('Error creating: pods "lf-train-abc-x7k2p" is forbidden: violates PodSecurity "restricted:latest": '
       "runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false)")


def quota(requested: str, used: str, limited: str) -> str:
    return (f'Error creating: pods "lf-inference-5d9-abcde" is forbidden: exceeded quota: team-quota, '
            f"requested: {requested}, used: {used}, limited: {limited}")


def test_pod_security_refusal_of_a_job_names_level_violation_and_namespace() -> None:
    training = job("lf-train-abc")
    (problem,) = controller_problems(observed(jobs=[training], events=[event(training, "FailedCreate", PSA)]))
    assert problem.definitive and problem.kind == "Job" and problem.cause == "PodSecurity"
    assert 'Job lf-train-abc cannot create its pods: Pod Security "restricted:latest" of namespace llm' \
        in problem.sentence
    assert "runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false)" in problem.sentence


def test_a_quota_smaller_than_one_pod_is_definitive_and_names_the_deployment() -> None:
    rs = replica_set("lf-inference-5d9", "lf-inference")
    refused = event(rs, "FailedCreate", quota("limits.memory=1Gi", "limits.memory=0", "limits.memory=512Mi"))
    (problem,) = controller_problems(observed(replica_sets=[rs], events=[refused]))
    assert problem.definitive and problem.cause == "QuotaExceeded"
    assert "ReplicaSet lf-inference-5d9 (of Deployment lf-inference) cannot create its pods" in problem.sentence
    assert "ResourceQuota team-quota is exceeded (limits.memory 1Gi requested, 0 used of 512Mi)" in problem.sentence


def test_a_quota_other_pods_use_up_is_given_patience() -> None:
    rs = replica_set("lf-inference-5d9", "lf-inference")
    refused = event(rs, "FailedCreate", quota("requests.nvidia.com/gpu=2", "requests.nvidia.com/gpu=7",
                                              "requests.nvidia.com/gpu=8"))
    (problem,) = controller_problems(observed(replica_sets=[rs], events=[refused]))
    assert not problem.definitive and "wait for other pods to end" in problem.sentence


def test_a_quota_that_needs_limits_is_definitive() -> None:
    training = job("lf-train-abc")
    message = 'Error creating: pods "x" is forbidden: failed quota: team-quota: must specify limits.cpu,limits.memory'
    (problem,) = controller_problems(observed(jobs=[training], events=[event(training, "FailedCreate", message)]))
    assert problem.definitive and "requires limits.cpu,limits.memory on every container" in problem.sentence


def test_a_later_successful_creation_or_a_finished_controller_clears_the_refusal() -> None:
    training = job("lf-train-abc")
    events = [event(training, "FailedCreate", PSA, 0), event(training, "SuccessfulCreate", "Created pod: x", 5)]
    assert controller_problems(observed(jobs=[training], events=events)) == []
    done = job("lf-train-old", finished="Complete")
    assert controller_problems(observed(jobs=[done], events=[event(done, "FailedCreate", PSA)])) == []
    scaled_down = replica_set("lf-inference-old", "lf-inference", wanted=0)
    assert controller_problems(observed(replica_sets=[scaled_down],
                                        events=[event(scaled_down, "FailedCreate", PSA)])) == []
