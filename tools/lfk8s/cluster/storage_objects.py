"""What the local cluster's storage provisioner is given: its config file, its helper pod, its
RBAC, the storage classes mapped to it, and the kwok stage that finishes its helper pods.

rancher's local-path-provisioner runs as a host process of the local cluster (as kwok does). Every
node of that cluster is on this one host, so one directory under the cluster's state is honestly
shared by all of them: the provisioner's sharedFileSystemPath mode, which provisions
ReadWriteMany volumes (the chart's storage is RWX) as hostPath volumes without node affinity.

What the provisioner does with a claim (v0.0.30, provisioner.go): it never touches the disk
itself. It creates a helper pod that runs the `setup` script (`mkdir -m 0777 -p $VOL_DIR`) with
the shared directory mounted, waits up to cmdTimeoutSeconds for the pod to succeed, then creates
the PersistentVolume (hostPath, type DirectoryOrCreate). `setupCommand` only replaces the command
inside that pod; nothing makes the host process create the directory. So:
- with only kwok nodes, the helper pod is finished by the kwok stage below without running: the
  volume binds but its directory is not created (nothing on a kwok node mounts it either);
- with the real node, helper pods are pinned to it and really run there (busybox, preloaded), so
  the directory exists, world-writable as upstream makes it, before any pod mounts it.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lfk8s.cluster import kwok_stages
from lfk8s.cluster.node_config import REAL_NODE_LABEL

PROVISIONER = "rancher.io/local-path"
COMPONENT = "local-path-provisioner"
NAMESPACE = "local-path-storage"
SERVICE_ACCOUNT = "local-path-provisioner-service-account"
CONFIG_MAP = "local-path-config"
DEFAULT_CLASS = "local-path"
# The user its client certificate names (the local cluster issues it, as for its other components).
USER = "lfk8s:local-path-provisioner"
# Debian trixie's busybox-static 1.37.0 under the name upstream's helper pod uses (busybox); there is
# no registry, so it is imported into the real node (lfk8s.cluster.node_images.busybox_archive).
HELPER_IMAGE = "busybox:1.37.0"
HELPER_LABEL = ("lfk8s.io/storage-helper", "true")
MANAGED_BY = {"app.kubernetes.io/managed-by": "lfk8s"}
# Upstream's scripts (deploy/local-path-storage.yaml).
SETUP = '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n'
TEARDOWN = '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n'


@dataclass(frozen=True)
class LocalPathStorage:
    """The provisioner of one local cluster: volumes under `state_dir`/local-path, one default
    class plus `extra_classes` (the classes the values files name), all served the same way."""

    state_dir: Path
    real_node: bool = False
    extra_classes: tuple[str, ...] = ()

    @property
    def shared_path(self) -> Path:
        return self.state_dir / "local-path"

    @property
    def config_file(self) -> Path:
        # The provisioner reads a path ending in .json as a file, anything else as JSON text.
        return self.state_dir / "local-path-config.json"

    @property
    def helper_pod_file(self) -> Path:
        return self.state_dir / "local-path-helper-pod.yaml"

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / f"{COMPONENT}.kubeconfig"

    @property
    def classes(self) -> list[str]:
        return [DEFAULT_CLASS, *sorted(set(self.extra_classes) - {DEFAULT_CLASS})]

    def config(self) -> dict[str, Any]:
        # One shared path for every class: nodePathMap must then be empty (upstream README).
        return {"nodePathMap": [], "sharedFileSystemPath": str(self.shared_path), "cmdTimeoutSeconds": 120}

    def helper_pod(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            # The helper never calls the API.
            "automountServiceAccountToken": False,
            "containers": [{"name": "helper-pod", "image": HELPER_IMAGE, "imagePullPolicy": "Never"}],
        }
        if self.real_node:
            # The provisioner adds a toleration of every taint; this makes the real node the only choice.
            spec["nodeSelector"] = {REAL_NODE_LABEL: "true"}
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "helper-pod", "labels": dict([HELPER_LABEL])}, "spec": spec}

    def write_files(self) -> None:
        self.config_file.write_text(json.dumps(self.config(), indent=2))
        self.helper_pod_file.write_text(yaml.safe_dump(self.helper_pod(), sort_keys=False))

    def command(self, binary: Path) -> list[str]:
        return [str(binary), "--debug", "start", "--kubeconfig", str(self.kubeconfig),
                "--config", str(self.config_file), "--helper-pod-file", str(self.helper_pod_file),
                "--provisioner-name", PROVISIONER, "--namespace", NAMESPACE, "--configmap-name", CONFIG_MAP,
                "--service-account-name", SERVICE_ACCOUNT, "--helper-image", HELPER_IMAGE]

    def storage_classes(self) -> list[dict[str, Any]]:
        """Immediate binding: a claim binds before any pod uses it, as helm's --wait and an NFS
        class expect; reclaim Delete like upstream's class."""
        return [{"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                 "metadata": {"name": name, "labels": dict(MANAGED_BY),
                              "annotations": {"storageclass.kubernetes.io/is-default-class":
                                              str(name == DEFAULT_CLASS).lower()}},
                 "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}
                for name in self.classes]

    def objects(self) -> list[dict[str, Any]]:
        """Namespace, ServiceAccount, scripts, upstream's RBAC bound to USER, then the classes."""
        meta = {"namespace": NAMESPACE, "labels": dict(MANAGED_BY)}
        # Helper pods mount hostPath and run as root: the namespace is `privileged`, as upstream needs.
        namespace = {"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": NAMESPACE, "labels": {**MANAGED_BY,
                                                                "pod-security.kubernetes.io/enforce": "privileged"}}}
        account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SERVICE_ACCOUNT, **meta},
                   "automountServiceAccountToken": False}
        scripts = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CONFIG_MAP, **meta},
                   "data": {"setup": SETUP, "teardown": TEARDOWN}}
        return [namespace, account, scripts, *_rbac(meta), *self.storage_classes()]


def _rbac(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """upstream's Role and ClusterRole (deploy/local-path-storage.yaml), bound to USER."""
    rbac = "rbac.authorization.k8s.io"
    subject = [{"apiGroup": rbac, "kind": "User", "name": USER}]
    cluster_rules = [
        {"apiGroups": [""], "resources": ["nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["persistentvolumes"],
         "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get", "list", "watch"]},
    ]
    pod_rules = [{"apiGroups": [""], "resources": ["pods"],
                  "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]}]
    name = "local-path-provisioner"
    cluster_meta = {"name": f"lfk8s:{name}", "labels": dict(MANAGED_BY)}
    return [
        {"apiVersion": f"{rbac}/v1", "kind": "ClusterRole", "metadata": cluster_meta, "rules": cluster_rules},
        {"apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding", "metadata": cluster_meta, "subjects": subject,
         "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": cluster_meta["name"]}},
        {"apiVersion": f"{rbac}/v1", "kind": "Role", "metadata": {"name": name, **meta}, "rules": pod_rules},
        {"apiVersion": f"{rbac}/v1", "kind": "RoleBinding", "metadata": {"name": name, **meta}, "subjects": subject,
         "roleRef": {"apiGroup": rbac, "kind": "Role", "name": name}},
    ]


def helper_pod_stage() -> dict[str, Any]:
    """kwok's completion of the helper pods on kwok nodes, at once (the provisioner polls each
    second): the helm-test completion stage, selecting the helper's label instead."""
    stages = {stage["metadata"]["name"]: stage for stage in kwok_stages.stages()}
    stage = copy.deepcopy(stages["pod-complete-helm-test"])
    stage["metadata"]["name"] = "pod-complete-storage-helper"
    selector = stage["spec"]["selector"]
    del selector["matchAnnotations"]
    selector["matchLabels"] = dict([HELPER_LABEL])
    stage["spec"].pop("delay", None)
    return stage


def kwok_stages_yaml() -> str:
    """The local cluster's kwok stages with the helper pods' completion added."""
    return yaml.safe_dump_all([*kwok_stages.stages(), helper_pod_stage()], sort_keys=False, width=1000)
