"""The whole diagnosis, and when a watcher stops: at once for definitive causes, after patience
for transient ones, starting over when a cause goes away."""

from __future__ import annotations

from lfk8s.release.diagnosis.diagnose import Patience, diagnose
from lfk8s.release.diagnosis.model import Problem, event_time
from tests.unit.diagnosis_objects import NOW, claim, container_status, event, node, observed, pod, storage_class


def problem(cause: str, definitive: bool) -> Problem:
    return Problem("Pod", "p", cause, f"pod p: {cause}", definitive)


def test_definitive_causes_stop_at_once() -> None:
    assert Patience(60).exhausted([problem("TooBig", True)], now=0)


def test_transient_causes_stop_after_patience_and_start_over_when_they_go_away() -> None:
    patience = Patience(60)
    pull = [problem("ImagePull/main", False)]
    assert not patience.exhausted(pull, now=0)
    assert not patience.exhausted(pull, now=59)
    assert not patience.exhausted([], now=61)
    assert not patience.exhausted(pull, now=70)
    assert patience.exhausted(pull, now=130)


def test_no_problem_never_stops() -> None:
    assert not Patience(0).exhausted([], now=1000)


def test_diagnose_explains_the_claim_instead_of_the_pod_waiting_for_it() -> None:
    volumes = [{"name": "storage", "persistentVolumeClaim": {"claimName": "data"}}]
    waiting = pod("train-0", unschedulable="pod has unbound immediate PersistentVolumeClaims", volumes=volumes)
    pulling = pod("webui-0", "webui", statuses=[container_status({"waiting": {"reason": "InvalidImageName",
                                                                             "message": "bad"}})])
    problems = diagnose(observed(pods=[waiting, pulling], claims=[claim("data", "nope")], nodes=[node("n")],
                                 storage_classes=[storage_class("standard", "x", default=True)], volumes=[]))
    assert [(p.kind, p.name) for p in problems] == [("PersistentVolumeClaim", "data"), ("Pod", "webui-0")]
    assert all(p.definitive for p in problems)


def test_event_time_reads_the_newest_field_the_recorder_filled() -> None:
    recorded = event(pod("p"), "Failed", "x", seconds_from_now=30)
    assert event_time(recorded) > NOW
    recorded.last_timestamp = None
    recorded.metadata.creation_timestamp = NOW
    assert event_time(recorded) == NOW
