"""Backend `kind`: the same mocked-GPU layout as the kwok backend, on real kind nodes in Docker.

The node image is assembled here (lfk8s.images.kind_node: no registry is needed; the CLI passes
it in, as images and cluster are sibling layers), kind is built
from the Go module proxy, and `kind create cluster` runs with this project's config: one control
plane, GPU workers labelled and tainted like a real GPU pool, CPU workers, no kindnetd (each
node's lfk8s-cni sets up a bridge network), local-path-provisioner as the default StorageClass,
and ReadWriteMany classes for those the values files name (kind_storage).
GPU workers have no GPUs: their `nvidia.com/gpu` capacity is patched onto the Node status (the
documented way to advertise an extended resource without a device plugin), so GPU pods schedule.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from lfk8s.cluster import kind_host, kind_images, kind_nodes, kind_runtime, kind_storage
from lfk8s.cluster.local import GPU_LABEL, GPU_TAINT, ClusterError, NodePool
from lfk8s.cluster.mlflow_server import DEFAULT_PORT, MlflowServer
from lfk8s.cluster.storage_provisioner import classes_named_in
from lfk8s.paths import ProjectPaths, cache_dir
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain import kindbuild
from lfk8s.toolchain.docker import docker_answers, ensure_docker
from lfk8s.toolchain.kindbuild import kubeadm_cluster_patch

_TAINT_PATCH = f"""kind: JoinConfiguration
nodeRegistration:
  taints:
  - key: {GPU_TAINT['key']}
    value: {GPU_TAINT['value']}
    effect: {GPU_TAINT['effect']}
"""
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
# kubelet 1.35 refuses a cgroup v1 host unless told; on cgroup v2 the setting changes nothing.
_KUBELET_PATCH = "kind: KubeletConfiguration\nfailCgroupV1: false\n"


def kind_config(name: str, pool: NodePool, node_image: str | None = None,
                shared_dir: Path | None = None) -> dict[str, Any]:
    def node(role: str, gpu: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {"role": role}
        if node_image:
            entry["image"] = node_image
        if shared_dir:
            # One host directory on every node: the ReadWriteMany classes' volumes (kind_storage).
            entry["extraMounts"] = [{"hostPath": str(shared_dir), "containerPath": kind_storage.SHARED_PATH}]
        if gpu:
            entry["labels"] = {GPU_LABEL: "true", "nvidia.com/gpu.count": str(pool.gpus_per_node)}
            entry["kubeadmConfigPatches"] = [_TAINT_PATCH]
        return entry

    nodes = [node("control-plane", gpu=False)]
    nodes += [node("worker", gpu=True) for _ in range(pool.gpu_nodes)]
    nodes += [node("worker", gpu=False) for _ in range(pool.cpu_nodes)]
    return {
        "kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "name": name,
        # kindnetd's image cannot be had here; the node image's lfk8s-cni does its job.
        "networking": {"disableDefaultCNI": True},
        # The node image carries the etcd and CoreDNS built here, under their own tags.
        "kubeadmConfigPatches": [kubeadm_cluster_patch(), _KUBELET_PATCH],
        "nodes": nodes,
    }


def gpu_status_patch(pool: NodePool) -> dict[str, Any]:
    count = str(pool.gpus_per_node)
    return {"status": {"capacity": {GPU_LABEL: count}, "allocatable": {GPU_LABEL: count}}}


@dataclass
class KindCluster:
    name: str = "lfk8s"
    pool: NodePool = field(default_factory=NodePool)
    state_root: Path = field(default_factory=lambda: cache_dir() / "clusters")
    # The ReadWriteMany classes besides `standard`; None: those the checkout's values files name.
    shared_classes: tuple[str, ...] | None = None

    @property
    def state_dir(self) -> Path:
        return self.state_root / f"kind-{self.name}"

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def shared_dir(self) -> Path:
        return self.state_dir / "shared"

    def rwx_classes(self) -> tuple[str, ...]:
        if self.shared_classes is not None:
            return self.shared_classes
        try:
            return classes_named_in(ProjectPaths.discover())
        except FileNotFoundError:  # not run from a checkout: no named classes
            return ()

    @property
    def config_path(self) -> Path:
        return self.state_dir / "kind-config.yaml"

    def write_config(self, node_image: str) -> Path:
        self.shared_dir.mkdir(parents=True, exist_ok=True)
        config = kind_config(self.name, self.pool, node_image, self.shared_dir)
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        return self.config_path

    def create_command(self, kind: Path) -> list[str]:
        return [str(kind), "create", "cluster", "--name", self.name, "--config", str(self.config_path),
                "--kubeconfig", str(self.kubeconfig), "--wait", "180s"]

    def _kind(self, kind: Path, args: list[str], env: dict[str, str] | None, what: str) -> str:
        result = subprocess.run([str(kind), *args], capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise ClusterError(f"{what} failed:\n{(result.stdout + result.stderr)[-4000:]}")
        return result.stdout

    def exists(self, kind: Path) -> bool:
        return self.name in self._kind(kind, ["get", "clusters"], None, "kind get clusters").split()

    def up(self, image: str, report: Reporter = quiet) -> None:
        """Creates the cluster from node image `image` (lfk8s.images.kind_node builds it), or finds
        it running; then makes sure every node is Ready, the GPU workers advertise their GPUs and
        dynamic claims can bind."""
        if not docker_answers():
            ensure_docker(report)
        kind = kindbuild.kind_binary(report)
        kind_host.raise_inotify(report)
        if not self.exists(kind):
            env = kind_runtime.kind_environment(image, report)
            self.write_config(image)
            report(f"kind create cluster {self.name} ({self.pool.gpu_nodes} GPU + {self.pool.cpu_nodes} CPU workers)")
            self._kind(kind, self.create_command(kind)[1:], env, "kind create cluster")
        elif not self.kubeconfig.exists():
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._kind(kind, ["export", "kubeconfig", "--name", self.name, "--kubeconfig", str(self.kubeconfig)],
                       None, "kind export kubeconfig")
        api = self.api_client()
        kind_nodes.wait_nodes_ready(api, 1 + self.pool.gpu_nodes + self.pool.cpu_nodes, report, cluster=self.name)
        self.patch_gpu_capacity(api)
        kind_nodes.wait_default_storage(api, report)
        kind_storage.apply_shared_classes(api, self.rwx_classes(), report)

    def load_archive(self, archive: Path, report: Reporter = quiet) -> None:
        """A docker-archive image into every node's containerd (no registry to pull from)."""
        report(f"kind load image-archive {archive.name}")
        self._kind(kindbuild.kind_binary(report), ["load", "image-archive", str(archive), "--name", self.name], None,
                   f"kind load image-archive {archive}")

    def cpu_workers(self, api: client.ApiClient | None = None) -> list[str]:
        """The workers without GPUs, by name: where the chart's CPU workloads run for real."""
        nodes = client.CoreV1Api(api or self.api_client()).list_node().items
        return sorted(n.metadata.name for n in nodes if (n.metadata.labels or {}).get(GPU_LABEL) != "true"
                      and CONTROL_PLANE_LABEL not in (n.metadata.labels or {}))

    def import_image(self, node: str, reference: str, report: Reporter = quiet) -> bool:
        """Docker's image `reference` into one node's containerd, within modest disk (kind_images)."""
        return kind_images.import_flattened(node, reference, report)

    def mlflow(self, port: int = DEFAULT_PORT) -> MlflowServer:
        """This cluster's MLflow, on the gateway of kind's docker network: the address the nodes (and
        their pods, masqueraded by the node) reach this host at."""
        return MlflowServer(self.state_dir / "mlflow", port, kind_nodes.network_gateway())

    def api_client(self) -> client.ApiClient:
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def patch_gpu_capacity(self, api: client.ApiClient | None = None) -> list[str]:
        core = client.CoreV1Api(api or self.api_client())
        patched = []
        for node in core.list_node(label_selector=f"{GPU_LABEL}=true").items:
            core.patch_node_status(node.metadata.name, gpu_status_patch(self.pool))
            patched.append(node.metadata.name)
        return patched

    def down(self, report: Reporter = quiet) -> None:
        """Deletes the cluster's nodes, kind's network once no cluster uses it, and the state dir."""
        kind = kindbuild.kind_tool().path
        MlflowServer(self.state_dir / "mlflow").stop()
        if kind.exists():
            report(f"kind delete cluster {self.name}")
            self._kind(kind, ["delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig)], None,
                       "kind delete cluster")
            if not self._kind(kind, ["get", "clusters"], None, "kind get clusters").split():
                kind_nodes.remove_kind_network()
                kind_host.restore_inotify(report)
        shutil.rmtree(self.state_dir, ignore_errors=True)
