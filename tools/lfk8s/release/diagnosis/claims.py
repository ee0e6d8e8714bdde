"""Why a PersistentVolumeClaim stays Pending: a StorageClass that does not exist, no class named
and none marked default, no provisioner answering, an access mode no class or volume offers."""

from __future__ import annotations

from typing import Any

from lfk8s.release.diagnosis.model import Observed, Problem, events_about

DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")
# Volumes made by hand for this class: nothing provisions, the claim binds to an existing volume.
NO_PROVISIONER = "kubernetes.io/no-provisioner"
_PROVISIONER_EVENTS = ("ExternalProvisioning", "Provisioning", "ProvisioningFailed", "ProvisioningSucceeded")


def is_default(storage_class: Any) -> bool:
    annotations = storage_class.metadata.annotations or {}
    return any(annotations.get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS)


def classes_text(classes: list[Any]) -> str:
    """The cluster's StorageClasses as a user would pick from them: names, the default marked."""
    if not classes:
        return "the cluster has no StorageClass"
    names = sorted(f'"{c.metadata.name}"' + (" (default)" if is_default(c) else "") for c in classes)
    return "the cluster has " + ", ".join(names)


def _problem(claim: Any, cause: str, why: str, fix: str, definitive: bool) -> Problem:
    name = claim.metadata.name
    return Problem("PersistentVolumeClaim", name, cause, f"PersistentVolumeClaim {name} is Pending: {why}; {fix}",
                   definitive)


def _modes(claim: Any) -> list[str]:
    return list(claim.spec.access_modes or [])


def _offers(volume: Any, modes: list[str]) -> bool:
    return set(modes) <= set(volume.spec.access_modes or [])


def _from_classes(observed: Observed, claim: Any) -> Problem | None:
    classes = observed.storage_classes
    if classes is None or claim.spec.volume_name:
        return None
    named = claim.spec.storage_class_name
    if named and named not in {c.metadata.name for c in classes}:
        return _problem(claim, "StorageClassMissing",
                        f'StorageClass "{named}" does not exist ({classes_text(classes)})',
                        f'name one of these classes, or create "{named}"', True)
    if named is None and not any(is_default(c) for c in classes):
        # A claim without a class may still bind to a volume without one.
        volumes = observed.volumes or []
        if any(not v.spec.storage_class_name and v.status.phase == "Available" and _offers(v, _modes(claim))
               for v in volumes):
            return None
        return _problem(claim, "NoDefaultStorageClass",
                        f"it names no StorageClass and none is marked default ({classes_text(classes)})",
                        f"name one of these classes, or mark one default ({DEFAULT_CLASS_ANNOTATIONS[0]}=true)", True)
    return None


def _from_static_volumes(observed: Observed, claim: Any) -> Problem | None:
    """A class that provisions nothing (or none at all): the claim can only bind to an existing volume."""
    named = claim.spec.storage_class_name
    classes = {c.metadata.name: c for c in observed.storage_classes or []}
    static = named == "" or (named in classes and classes[named].provisioner == NO_PROVISIONER)
    if not static or observed.volumes is None or claim.spec.volume_name:
        return None
    same_class = [v for v in observed.volumes if (v.spec.storage_class_name or "") == named]
    available = [v for v in same_class if v.status.phase == "Available"]
    modes = _modes(claim)
    if available and not any(_offers(v, modes) for v in available):
        offered = sorted({mode for v in available for mode in v.spec.access_modes or []})
        label = f'StorageClass "{named}"' if named else "no StorageClass"
        return _problem(claim, "AccessModeNotOffered",
                        f"no available PersistentVolume of {label} offers {', '.join(modes)} "
                        f"(they offer {', '.join(offered) or 'nothing'})",
                        f"create a volume with {', '.join(modes)}, or use a class that offers it", True)
    return None


def _from_events(observed: Observed, claim: Any) -> Problem | None:
    events = events_about(observed, claim, _PROVISIONER_EVENTS)
    if not events:
        return None
    latest = events[-1]
    named = claim.spec.storage_class_name or "(default)"
    message = (latest.message or "").strip()
    if latest.reason == "ProvisioningFailed":
        lowered = message.lower()
        if "access mode" in lowered or "accessmode" in lowered:
            return _problem(claim, "AccessModeNotOffered",
                            f'StorageClass "{named}" does not offer {", ".join(_modes(claim))} '
                            f'(provisioner: "{message}")',
                            "use a class whose provisioner offers it (NFS, CephFS, a cloud file store)", True)
        return _problem(claim, "ProvisioningFailed", f'provisioning failed: "{message}"',
                        "fix what the provisioner says, or use another StorageClass", False)
    answered = any(e.reason in ("Provisioning", "ProvisioningSucceeded") for e in events)
    if latest.reason == "ExternalProvisioning" and not answered:
        provisioner = next((c.provisioner for c in observed.storage_classes or []
                            if c.metadata.name == claim.spec.storage_class_name), "")
        who = f"provisioner {provisioner}" if provisioner else "its provisioner"
        return _problem(claim, "NoProvisioner",
                        f'no provisioner has answered for StorageClass "{named}" ({who}: "{message}")',
                        f"check that the controller of {who} runs in the cluster, or use another StorageClass", False)
    return None


def claim_problems(observed: Observed) -> list[Problem]:
    """One problem per Pending claim of the release whose cause can be named."""
    problems = []
    for claim in observed.claims:
        if (claim.status.phase if claim.status else None) != "Pending":
            continue
        found = (_from_classes(observed, claim) or _from_static_volumes(observed, claim)
                 or _from_events(observed, claim))
        if found:
            problems.append(found)
    return problems


def pending_claim_names(observed: Observed) -> set[str]:
    return {c.metadata.name for c in observed.claims if (c.status.phase if c.status else None) == "Pending"}

