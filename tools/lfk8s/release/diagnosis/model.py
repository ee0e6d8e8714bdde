"""What a diagnosis reads (one observation of a release) and what it finds (problems)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

COMPONENT_LABEL = "app.kubernetes.io/component"
_EPOCH = datetime.datetime.min.replace(tzinfo=datetime.UTC)


@dataclass(frozen=True)
class LogRef:
    """A container whose last log lines explain a problem (`previous`: the run before the restart)."""

    pod: str
    container: str
    previous: bool


@dataclass(frozen=True)
class Problem:
    """One cause, said in one sentence that names the object, the cause and the fix."""

    kind: str
    name: str
    cause: str
    sentence: str
    # True when waiting cannot heal it (a missing StorageClass); False when a retry may (a pull).
    definitive: bool
    log: LogRef | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return self.kind, self.name, self.cause

    def __str__(self) -> str:
        return self.sentence


@dataclass(frozen=True)
class Observed:
    """One reading of a release. None for a cluster-scoped list the caller may not read (RBAC):
    the checks that need it are skipped rather than guessed."""

    namespace: str
    # Terminations before this moment belong to earlier attempts (an old run's failed pod).
    since: datetime.datetime
    pods: list[Any] = field(default_factory=list)
    claims: list[Any] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    jobs: list[Any] = field(default_factory=list)
    replica_sets: list[Any] = field(default_factory=list)
    nodes: list[Any] | None = None
    storage_classes: list[Any] | None = None
    volumes: list[Any] | None = None


def event_time(event: Any) -> datetime.datetime:
    """When an event last happened, whichever of the API's time fields its recorder filled."""
    series = event.series
    for moment in (series.last_observed_time if series else None, event.last_timestamp, event.event_time,
                   event.first_timestamp, event.metadata.creation_timestamp if event.metadata else None):
        if isinstance(moment, datetime.datetime):
            return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
    return _EPOCH


def events_about(observed: Observed, obj: Any, reasons: Iterable[str] | None = None) -> list[Any]:
    """The events about one object (by uid when both carry one), oldest first."""
    wanted = set(reasons) if reasons is not None else None
    uid, name = obj.metadata.uid, obj.metadata.name
    found = []
    for event in observed.events:
        ref = event.involved_object
        same = ref.uid == uid if (uid and ref.uid) else ref.name == name and ref.kind == type_kind(obj)
        if same and (wanted is None or event.reason in wanted):
            found.append(event)
    return sorted(found, key=event_time)


def type_kind(obj: Any) -> str:
    """The Kubernetes kind of a client model object (V1PersistentVolumeClaim -> PersistentVolumeClaim)."""
    return str(obj.kind or type(obj).__name__.removeprefix("V1"))


def component(obj: Any) -> str:
    return str((obj.metadata.labels or {}).get(COMPONENT_LABEL, "")) or "the component"


def quote_list(names: Iterable[str]) -> str:
    listed = ", ".join(f'"{name}"' for name in names)
    return listed or "none"
