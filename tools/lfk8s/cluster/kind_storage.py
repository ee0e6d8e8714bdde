"""ReadWriteMany storage on the kind cluster, for the classes the checkout's values files name.

The node image's local-path-provisioner (kind's manifest) serves the default class `standard`
from each node's own disk: ReadWriteOnce only. The chart's storage is ReadWriteMany (NFS in real
clusters), so every node also mounts one directory of this host (kind extraMounts, the same
directory on all nodes: honestly shared, as NFS would be), and the provisioner serves the named
classes (e.g. nfs-client) from it in its sharedFileSystemPath mode, per class
(storageClassConfigs), with Immediate binding as an NFS class has.
"""

from __future__ import annotations

import json
import time
from typing import Any

from kubernetes import client

from lfk8s.cluster.local import ClusterError
from lfk8s.progress import Reporter, quiet

NAMESPACE = "local-path-storage"
CONFIG_MAP = "local-path-config"
DEFAULT_CLASS = "standard"
PROVISIONER = "rancher.io/local-path"
# Where each node mounts the shared host directory.
SHARED_PATH = "/var/lfk8s-shared"
# kind's manifest keeps each node's own volumes here.
NODE_PATH = "/var/local-path-provisioner"
MANAGED_BY = {"app.kubernetes.io/managed-by": "lfk8s"}


def provisioner_config(shared_classes: tuple[str, ...]) -> dict[str, Any]:
    """The default class on each node's disk, every shared class on the shared directory."""
    configs: dict[str, Any] = {DEFAULT_CLASS: {"nodePathMap": [
        {"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [NODE_PATH]}]}}
    configs.update({name: {"sharedFileSystemPath": SHARED_PATH} for name in shared_classes if name != DEFAULT_CLASS})
    return {"storageClassConfigs": configs}


def storage_class(name: str) -> client.V1StorageClass:
    return client.V1StorageClass(
        metadata=client.V1ObjectMeta(name=name, labels=dict(MANAGED_BY)), provisioner=PROVISIONER,
        reclaim_policy="Delete", volume_binding_mode="Immediate")


def apply_shared_classes(api: client.ApiClient, shared_classes: tuple[str, ...], report: Reporter = quiet,
                         timeout: float = 120) -> None:
    """The provisioner's config with the shared classes, the classes themselves, and the provisioner
    restarted on the new config when it changed (it reads its config at start)."""
    core, storage, apps = client.CoreV1Api(api), client.StorageV1Api(api), client.AppsV1Api(api)
    wanted = json.dumps(provisioner_config(shared_classes), indent=2)
    current = core.read_namespaced_config_map(CONFIG_MAP, NAMESPACE)
    existing = {c.metadata.name for c in storage.list_storage_class().items}
    for name in shared_classes:
        if name not in existing and name != DEFAULT_CLASS:
            storage.create_storage_class(storage_class(name))
    if (current.data or {}).get("config.json") == wanted:
        return
    report(f"storage classes {', '.join(shared_classes)}: ReadWriteMany on the host directory every node mounts")
    core.patch_namespaced_config_map(CONFIG_MAP, NAMESPACE, {"data": {"config.json": wanted}})
    for pod in core.list_namespaced_pod(NAMESPACE, label_selector="app=local-path-provisioner").items:
        core.delete_namespaced_pod(pod.metadata.name, NAMESPACE)
    deadline = time.monotonic() + timeout
    while True:
        pods = core.list_namespaced_pod(NAMESPACE, label_selector="app=local-path-provisioner").items
        fresh = [p for p in pods if p.metadata.deletion_timestamp is None]
        ready = [p for p in fresh if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
        if ready:
            return
        if time.monotonic() > deadline:
            deployment = apps.read_namespaced_deployment("local-path-provisioner", NAMESPACE)
            raise ClusterError(f"local-path-provisioner did not come back on its new config: {deployment.status}")
        time.sleep(1)
