"""The whole local stack on the real node, as `bin/lfk8s up --real-node` runs it and the node
tier tests it: the training image built and, with the test-hook image, preloaded into the node's
containerd (no registry); a hostPath volume on the node for the shared storage; MLflow where
pods reach it; and a values file placed on the node (lfk8s.chart.overlays)."""

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
from lfk8s.cluster.local import LocalCluster
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


def ensure_storage_volume(api: client.ApiClient, name: str, path: Path, size: str = "10Gi") -> None:
    """A hostPath PersistentVolume of STORAGE_CLASS on the real node, at `path` (owned by the
    pods' uid); kept (Retain) when its claim goes, like the data on an NFS export."""
    path.mkdir(parents=True, exist_ok=True)
    volume = {
        "metadata": {"name": name},
        "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteMany"],
                 "persistentVolumeReclaimPolicy": "Retain", "storageClassName": STORAGE_CLASS,
                 "hostPath": {"path": str(path), "type": "Directory"},
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                     {"key": REAL_NODE_LABEL, "operator": "In", "values": ["true"]}]}]}}}}
    try:
        client.CoreV1Api(api).create_persistent_volume(volume)
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
