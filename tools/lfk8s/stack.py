"""The whole local stack on a real CPU node, as `bin/lfk8s up --real-node` runs it and the node
tier tests it (the kwok backend's real node), or `bin/lfk8s install --backend kind` and the kind
tier (kind's CPU worker): the training image built and, with the test-hook image, preloaded into
the node's containerd (no registry); a hostPath volume on the node for the shared storage (on
kind, in the host directory every node mounts); MLflow where pods reach it; and a values file
placed on the node, by the same overlay either way (lfk8s.chart.overlays)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from lfk8s.chart import values
from lfk8s.chart.defaults import chart_values, default
from lfk8s.chart.overlays import CpuPlacement, place_on_cpu_node
from lfk8s.cluster.kind import KindCluster
from lfk8s.cluster.kind_storage import SHARED_PATH
from lfk8s.cluster.local import ClusterError, LocalCluster
from lfk8s.cluster.node_config import GATEWAY, REAL_NODE_LABEL, REAL_NODE_TOLERATION
from lfk8s.cluster.node_images import busybox_archive
from lfk8s.images import build, tiny_model
from lfk8s.images.model import chart_image
from lfk8s.paths import ProjectPaths
from lfk8s.progress import Reporter, quiet

# The class of the real node's hostPath volumes; no provisioner: the harness makes each volume.
STORAGE_CLASS = "lfk8s-real-node"
# Where pods reach this machine (the MLflow server): the real node's bridge address.
HOST_ADDRESS = GATEWAY
# kind: the class of the CPU worker's volume, a hostPath in the directory every kind node mounts
# (kind_storage.SHARED_PATH), under this folder; no provisioner, the harness makes each volume.
KIND_STORAGE_CLASS = "lfk8s-kind-shared"
KIND_STORAGE_DIR = "lfk8s-storage"
HOSTNAME_LABEL = "kubernetes.io/hostname"


def pod_user(paths: ProjectPaths) -> int:
    """The uid the chart's pods run as."""
    return int(default(paths, "podSecurityContext.runAsUser"))


def test_hook_image(paths: ProjectPaths) -> str:
    image = chart_values(paths)["tests"]["image"]
    return f"{image['repository']}:{image['tag']}"


def preload_images(cluster: LocalCluster, paths: ProjectPaths, report: Reporter = quiet) -> str:
    """The training image (built here; a rebuild with nothing changed is all cache) and the
    chart's test-hook image in the node's containerd; returns the training image's reference."""
    build.build(paths, ["training"], report=report)
    reference = chart_image(paths, "training").reference()
    with tempfile.TemporaryDirectory(prefix="lfk8s-preload-") as tmp:
        archive = Path(tmp) / "training.tar"
        report(f"preloading {reference} into the real node")
        subprocess.run(["docker", "save", "--output", str(archive), reference], check=True)
        cluster.node.import_image(archive)
    cluster.node.import_image(busybox_archive(test_hook_image(paths), report))
    return reference


def host_path_volume(name: str, path: str, size: str, storage_class: str, key: str, value: str) -> dict[str, Any]:
    """A ReadWriteMany hostPath PersistentVolume at the node's `path`, on nodes labelled key=value;
    kept (Retain) when its claim goes, like the data on an NFS export."""
    return {"metadata": {"name": name},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteMany"],
                     "persistentVolumeReclaimPolicy": "Retain", "storageClassName": storage_class,
                     "hostPath": {"path": path, "type": "Directory"},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": key, "operator": "In", "values": [value]}]}]}}}}


def ensure_volume(api: client.ApiClient, volume: dict[str, Any]) -> None:
    """Creates `volume`; one there already whose claim went (Released) is made Available again."""
    core = client.CoreV1Api(api)
    try:
        core.create_persistent_volume(volume)
    except ApiException as error:
        if error.status != 409:
            raise
        name = volume["metadata"]["name"]
        if core.read_persistent_volume(name).status.phase == "Released":
            core.patch_persistent_volume(name, {"spec": {"claimRef": None}})


def ensure_storage_volume(api: client.ApiClient, name: str, path: Path, size: str = "10Gi") -> None:
    """A hostPath PersistentVolume of STORAGE_CLASS on the real node, at `path` (owned by the
    pods' uid); kept (Retain) when its claim goes, like the data on an NFS export."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        client.CoreV1Api(api).create_persistent_volume(
            host_path_volume(name, str(path), size, STORAGE_CLASS, REAL_NODE_LABEL, "true"))
    except ApiException as error:
        if error.status != 409:
            raise


def on_real_node(values: dict[str, Any], paths: ProjectPaths, mlflow_url: str) -> dict[str, Any]:
    """`values` with its CPU-capable workloads placed on the real node, its claim on the node's
    storage class, and MLflow at `mlflow_url` (an address pods reach)."""
    placement = CpuPlacement(node_selector={REAL_NODE_LABEL: "true"}, tolerations=[dict(REAL_NODE_TOLERATION)],
                             storage_class=STORAGE_CLASS, mlflow_tracking_uri=mlflow_url)
    return place_on_cpu_node(values, paths, placement)


def values_file_on_real_node(cluster: LocalCluster, paths: ProjectPaths, values_file: Path, mlflow_url: str,
                             report: Reporter = quiet) -> dict[str, Any]:
    """The values file's CPU workloads placed on the cluster's real node, with the images preloaded
    and a volume on the node holding a tiny model and dataset made here (the local stand-in for
    the models and data users keep on their shared storage)."""
    image = preload_images(cluster, paths, report)
    storage = cluster.state_dir / "storage"
    if not (storage / "models" / "base-model").exists():
        report("writing a tiny model and dataset to the real node's storage")
        tiny_model.prepare_storage(image, storage, pod_user(paths))
    data = values.load(values_file)
    values.validate(data, paths, str(values_file))
    size = values.with_chart_defaults(data, paths)["storage"]["size"]
    ensure_storage_volume(cluster.api_client(), f"{cluster.name}-storage", storage, size)
    return on_real_node(data, paths, mlflow_url)


def on_kind_worker(values: dict[str, Any], paths: ProjectPaths, node: str, mlflow_url: str) -> dict[str, Any]:
    """`values` with its CPU-capable workloads on kind's CPU worker `node` (no GPUs: GPU-only
    engines are refused), its claim on KIND_STORAGE_CLASS, and MLflow at `mlflow_url`."""
    placement = CpuPlacement(node_selector={HOSTNAME_LABEL: node}, storage_class=KIND_STORAGE_CLASS,
                             mlflow_tracking_uri=mlflow_url)
    return place_on_cpu_node(values, paths, placement)


def training_image(paths: ProjectPaths, report: Reporter = quiet) -> str:
    """The chart's training image as docker has it; built (images/training) only when missing."""
    reference = chart_image(paths, "training").reference()
    if subprocess.run(["docker", "image", "inspect", reference], capture_output=True).returncode != 0:
        build.build(paths, ["training"], report=report)
    return reference


def values_on_kind(kind: KindCluster, paths: ProjectPaths, data: dict[str, Any], namespace: str, mlflow_url: str,
                   report: Reporter = quiet) -> dict[str, Any]:
    """`data` placed on kind's (first) CPU worker, with the training image imported into that node
    only, and a volume there for `namespace` on the shared directory holding a tiny model and
    dataset made here (the stand-in for the models and data users keep on their shared storage)."""
    api = kind.api_client()
    workers = kind.cpu_workers(api)
    if not workers:
        raise ClusterError(f"kind cluster {kind.name} has no CPU worker (--cpu-nodes 0)")
    placed = on_kind_worker(data, paths, workers[0], mlflow_url)
    image = training_image(paths, report)
    kind.import_image(workers[0], image, report)
    storage = kind.shared_dir / KIND_STORAGE_DIR
    if not (storage / "models" / "base-model").exists():
        report(f"writing a tiny model and dataset to {storage} (every kind node's {SHARED_PATH})")
        tiny_model.prepare_storage(image, storage, pod_user(paths))
    size = values.with_chart_defaults(data, paths)["storage"]["size"]
    ensure_volume(api, host_path_volume(f"{kind.name}-{namespace}-storage", f"{SHARED_PATH}/{KIND_STORAGE_DIR}",
                                        size, KIND_STORAGE_CLASS, HOSTNAME_LABEL, workers[0]))
    return placed
