"""The local cluster's storage: which storage classes it offers (a default `local-path`, plus
every class the checkout's values files and profiles name, e.g. nfs-client), their objects applied
to the API server, and the provisioner process that serves them (lfk8s.cluster.storage_objects)."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client, dynamic

from lfk8s.chart import values
from lfk8s.chart.profiles import Profile, profile_outputs
from lfk8s.cluster import processes
from lfk8s.cluster.storage_objects import COMPONENT, DEFAULT_CLASS, LocalPathStorage
from lfk8s.paths import ProjectPaths

FIELD_MANAGER = "lfk8s"


def classes_named_in(paths: ProjectPaths) -> tuple[str, ...]:
    """The storage classes the values files (storage.storageClassName) and profiles (storage-class)
    ask for, so each installs on the local cluster unchanged."""
    named = set()
    for values_file in sorted(paths.values_dir.glob("*.yaml")):
        storage = values.load(values_file).get("storage")
        if isinstance(storage, dict) and storage.get("storageClassName"):
            named.add(str(storage["storageClassName"]))
    profiles: list[Profile] = [profile for _, profile in profile_outputs(paths).values()]
    named |= {profile.storage_class for profile in profiles if profile.storage_class}
    return tuple(sorted(named))


def for_cluster(state_dir: Path, real_node: bool, classes: tuple[str, ...] | None) -> LocalPathStorage:
    """The storage of the cluster in `state_dir`; classes None: those the checkout names."""
    if classes is None:
        try:
            classes = classes_named_in(ProjectPaths.discover())
        except FileNotFoundError:  # not run from a checkout: the default class only
            classes = ()
    return LocalPathStorage(state_dir, real_node, classes)


def apply(api: client.ApiClient, storage: LocalPathStorage) -> None:
    """Server-side apply of every object the provisioner needs: repeating it changes nothing."""
    dynamic_client = dynamic.DynamicClient(api)
    for obj in storage.objects():
        resource = dynamic_client.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        dynamic_client.server_side_apply(resource, body=obj, namespace=obj["metadata"].get("namespace"),
                                         field_manager=FIELD_MANAGER, force_conflicts=True)


def start(storage: LocalPathStorage, binary: Path, log_file: Path) -> int:
    """Writes the config and helper-pod files and starts the provisioner; returns its pid."""
    storage.shared_path.mkdir(parents=True, exist_ok=True)
    storage.write_files()
    return processes.start(storage.command(binary), log_file, storage.state_dir)


def describe(storage: LocalPathStorage) -> str:
    """What `up` says about the storage."""
    extra = [name for name in storage.classes if name != DEFAULT_CLASS]
    also = f" and {', '.join(extra)} (named by the values files)" if extra else ""
    where = "helper pods run on the real node" if storage.real_node else "kwok finishes the helper pods"
    return (f"storage classes {DEFAULT_CLASS} (default){also}, all served by {COMPONENT}: RWX volumes under "
            f"{storage.shared_path} ({where})")
