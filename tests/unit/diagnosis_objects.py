"""Kubernetes client model objects for the diagnosis tests, built from the JSON the API server
returns (camelCase, as `kubectl get -o json` shows it), so the tests read like what they mimic."""

from __future__ import annotations

import datetime
from typing import Any

from kubernetes import client

from lfk8s.release.diagnosis.model import Observed

NOW = datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.UTC)
NAMESPACE = "llm"


def stamp(seconds_from_now: float = 0) -> str:
    return (NOW + datetime.timedelta(seconds=seconds_from_now)).strftime("%Y-%m-%dT%H:%M:%SZ")


def observed(**lists: Any) -> Observed:
    return Observed(namespace=NAMESPACE, since=NOW - datetime.timedelta(minutes=1), **lists)


def pod(name: str, component: str = "training", phase: str = "Pending", containers: list[dict[str, Any]] | None = None,
        statuses: list[dict[str, Any]] | None = None, unschedulable: str | None = None, **spec: Any) -> Any:
    conditions = ([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": unschedulable}]
                  if unschedulable is not None else [])
    return client.V1Pod.from_dict({
        "metadata": {"name": name, "namespace": NAMESPACE, "uid": f"uid-{name}",
                     "labels": {"app.kubernetes.io/instance": "lf", "app.kubernetes.io/component": component}},
        "spec": {"containers": containers or [{"name": "main", "image": "registry.local/train:1"}], **spec},
        "status": {"phase": phase, "conditions": conditions, "containerStatuses": statuses or []},
    })


def container_status(state: dict[str, Any], last_state: dict[str, Any] | None = None, restarts: int = 0,
                     name: str = "main", image: str = "registry.local/train:1") -> dict[str, Any]:
    return {"name": name, "image": image, "imageID": "", "ready": False, "restartCount": restarts,
            "state": state, "lastState": last_state or {}}


def event(obj: Any, reason: str, message: str, seconds_from_now: float = 0) -> Any:
    kind = type(obj).__name__.removeprefix("V1")
    return client.CoreV1Event.from_dict({
        "metadata": {"name": f"{obj.metadata.name}.{reason}.{seconds_from_now}", "namespace": NAMESPACE},
        "involvedObject": {"kind": kind, "name": obj.metadata.name, "uid": obj.metadata.uid},
        "reason": reason, "message": message, "type": "Warning", "lastTimestamp": stamp(seconds_from_now)})


def node(name: str, labels: dict[str, str] | None = None, taints: list[dict[str, str]] | None = None,
         **allocatable: str) -> Any:
    return client.V1Node.from_dict({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {"taints": taints or []},
        "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110", **allocatable}}})


def claim(name: str, storage_class: str | None = None, phase: str = "Pending",
          modes: tuple[str, ...] = ("ReadWriteMany",)) -> Any:
    spec: dict[str, Any] = {"accessModes": list(modes), "resources": {"requests": {"storage": "10Gi"}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return client.V1PersistentVolumeClaim.from_dict({
        "metadata": {"name": name, "namespace": NAMESPACE, "uid": f"uid-{name}"},
        "spec": spec, "status": {"phase": phase}})


def storage_class(name: str, provisioner: str, default: bool = False) -> Any:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return client.V1StorageClass.from_dict({"metadata": {"name": name, "annotations": annotations},
                                            "provisioner": provisioner})


def volume(name: str, storage_class: str, modes: tuple[str, ...], phase: str = "Available") -> Any:
    return client.V1PersistentVolume.from_dict({
        "metadata": {"name": name},
        "spec": {"storageClassName": storage_class, "accessModes": list(modes), "capacity": {"storage": "10Gi"}},
        "status": {"phase": phase}})


def job(name: str, active: int = 0, finished: str | None = None) -> Any:
    conditions = [{"type": finished, "status": "True"}] if finished else []
    return client.V1Job.from_dict({
        "metadata": {"name": name, "namespace": NAMESPACE, "uid": f"uid-{name}"},
        "spec": {"parallelism": 1, "template": {"spec": {"containers": []}}},
        "status": {"active": active, "conditions": conditions}})


def replica_set(name: str, deployment: str, replicas: int = 0, wanted: int = 1) -> Any:
    return client.V1ReplicaSet.from_dict({
        "metadata": {"name": name, "namespace": NAMESPACE, "uid": f"uid-{name}",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment,
                                          "uid": f"uid-{deployment}"}]},
        "spec": {"replicas": wanted, "selector": {}},
        "status": {"replicas": replicas}})
