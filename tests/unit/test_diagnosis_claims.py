"""A Pending PersistentVolumeClaim explained from the classes, volumes and provisioner events."""

from __future__ import annotations

from lfk8s.release.diagnosis.claims import claim_problems
from tests.unit.diagnosis_objects import claim, event, observed, storage_class, volume

CLASSES = [storage_class("standard", "rancher.io/local-path", default=True), storage_class("nfs", "nfs.csi.k8s.io")]


def test_a_class_that_does_not_exist_is_named_with_the_classes_the_cluster_has() -> None:
    (problem,) = claim_problems(observed(claims=[claim("data", "fast-ssd")], storage_classes=CLASSES, volumes=[]))
    assert problem.definitive and problem.kind == "PersistentVolumeClaim" and problem.name == "data"
    assert 'StorageClass "fast-ssd" does not exist' in problem.sentence
    assert '"nfs", "standard" (default)' in problem.sentence
    assert 'create "fast-ssd"' in problem.sentence


def test_a_cluster_without_classes_says_so() -> None:
    (problem,) = claim_problems(observed(claims=[claim("data", "fast-ssd")], storage_classes=[], volumes=[]))
    assert "the cluster has no StorageClass" in problem.sentence


def test_no_class_named_and_no_default_is_definitive() -> None:
    classes = [storage_class("nfs", "nfs.csi.k8s.io")]
    (problem,) = claim_problems(observed(claims=[claim("data")], storage_classes=classes, volumes=[]))
    assert problem.definitive and problem.cause == "NoDefaultStorageClass"
    assert "names no StorageClass and none is marked default" in problem.sentence
    assert '"nfs"' in problem.sentence and "is-default-class=true" in problem.sentence


def test_no_class_named_binds_to_a_classless_volume_when_one_offers_the_mode() -> None:
    classes = [storage_class("nfs", "nfs.csi.k8s.io")]
    free = volume("pv-1", "", ("ReadWriteMany",))
    assert claim_problems(observed(claims=[claim("data")], storage_classes=classes, volumes=[free])) == []


def test_no_provisioner_answering_is_given_patience_and_names_the_provisioner() -> None:
    pending = claim("data", "nfs")
    waiting = event(pending, "ExternalProvisioning", "Waiting for a volume to be created either by the external "
                    "provisioner 'nfs.csi.k8s.io' or manually by the system administrator.")
    (problem,) = claim_problems(observed(claims=[pending], events=[waiting], storage_classes=CLASSES, volumes=[]))
    assert not problem.definitive and problem.cause == "NoProvisioner"
    assert "provisioner nfs.csi.k8s.io" in problem.sentence and "runs in the cluster" in problem.sentence


def test_a_provisioner_that_answered_is_not_reported_missing() -> None:
    pending = claim("data", "nfs")
    events = [event(pending, "ExternalProvisioning", "Waiting for a volume ...", 0),
              event(pending, "Provisioning", "External provisioner is provisioning volume for claim", 1),
              event(pending, "ExternalProvisioning", "Waiting for a volume ...", 2)]
    assert claim_problems(observed(claims=[pending], events=events, storage_classes=CLASSES, volumes=[])) == []


def test_an_access_mode_the_provisioner_refuses_is_definitive() -> None:
    pending = claim("data", "standard")
    refused = event(pending, "ProvisioningFailed", "failed to provision volume with StorageClass \"standard\": "
                    "Only support ReadWriteOnce access mode")
    (problem,) = claim_problems(observed(claims=[pending], events=[refused], storage_classes=CLASSES, volumes=[]))
    assert problem.definitive and problem.cause == "AccessModeNotOffered"
    assert 'StorageClass "standard" does not offer ReadWriteMany' in problem.sentence
    assert "Only support ReadWriteOnce access mode" in problem.sentence


def test_static_volumes_of_the_class_without_the_access_mode_are_definitive() -> None:
    classes = [storage_class("local", "kubernetes.io/no-provisioner")]
    volumes = [volume("pv-a", "local", ("ReadWriteOnce",)), volume("pv-b", "local", ("ReadWriteOnce",))]
    (problem,) = claim_problems(observed(claims=[claim("data", "local")], storage_classes=classes, volumes=volumes))
    assert problem.definitive and problem.cause == "AccessModeNotOffered"
    assert "offers ReadWriteMany (they offer ReadWriteOnce)" in problem.sentence


def test_other_provisioning_failures_are_given_patience_with_the_provisioner_words() -> None:
    pending = claim("data", "nfs")
    failed = event(pending, "ProvisioningFailed", "rpc error: code = DeadlineExceeded desc = context deadline exceeded")
    (problem,) = claim_problems(observed(claims=[pending], events=[failed], storage_classes=CLASSES, volumes=[]))
    assert not problem.definitive and "context deadline exceeded" in problem.sentence


def test_a_bound_claim_or_unreadable_classes_raise_nothing() -> None:
    assert claim_problems(observed(claims=[claim("data", "fast-ssd", phase="Bound")], storage_classes=CLASSES)) == []
    # Without permission to list classes (None), a missing class is not guessed.
    assert claim_problems(observed(claims=[claim("data", "fast-ssd")], storage_classes=None, volumes=None)) == []
