"""Backend `kind`, for machines with a Docker engine: the same mocked-GPU layout on kind.

kind cannot run without Docker, so here the harness only writes the config and the
commands; where Docker exists `KindCluster.up` runs them. GPU workers carry the same
label and taint as real GPU pools; their `nvidia.com/gpu` capacity is patched onto the
Node status (the documented way to advertise an extended resource without a device plugin).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from lfk8s.cluster.local import GPU_LABEL, GPU_TAINT, NodePool
from lfk8s.paths import cache_dir

Runner = Callable[[list[str]], None]

_TAINT_PATCH = f"""kind: JoinConfiguration
nodeRegistration:
  taints:
  - key: {GPU_TAINT['key']}
    value: {GPU_TAINT['value']}
    effect: {GPU_TAINT['effect']}
"""


def kind_config(name: str, pool: NodePool, node_image: str | None = None) -> dict[str, Any]:
    def node(role: str, gpu: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {"role": role}
        if node_image:
            entry["image"] = node_image
        if gpu:
            entry["labels"] = {GPU_LABEL: "true", "nvidia.com/gpu.count": str(pool.gpus_per_node)}
            entry["kubeadmConfigPatches"] = [_TAINT_PATCH]
        return entry

    nodes = [node("control-plane", gpu=False)]
    nodes += [node("worker", gpu=True) for _ in range(pool.gpu_nodes)]
    nodes += [node("worker", gpu=False) for _ in range(pool.cpu_nodes)]
    return {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "name": name, "nodes": nodes}


def gpu_status_patch(pool: NodePool) -> dict[str, Any]:
    count = str(pool.gpus_per_node)
    return {"status": {"capacity": {GPU_LABEL: count}, "allocatable": {GPU_LABEL: count}}}


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True)


@dataclass
class KindCluster:
    name: str = "lfk8s"
    pool: NodePool = field(default_factory=NodePool)
    node_image: str | None = None
    state_root: Path = field(default_factory=lambda: cache_dir() / "clusters")

    @property
    def state_dir(self) -> Path:
        return self.state_root / f"kind-{self.name}"

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def config_path(self) -> Path:
        return self.state_dir / "kind-config.yaml"

    def write_config(self) -> Path:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(kind_config(self.name, self.pool, self.node_image), sort_keys=False))
        return self.config_path

    def create_command(self) -> list[str]:
        return ["kind", "create", "cluster", "--name", self.name, "--config", str(self.config_path),
                "--kubeconfig", str(self.kubeconfig), "--wait", "180s"]

    def delete_command(self) -> list[str]:
        return ["kind", "delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig)]

    @staticmethod
    def available() -> str | None:
        """Why kind cannot run here, or None when it can."""
        if not shutil.which("kind"):
            return "kind is not installed (go install sigs.k8s.io/kind@latest)"
        if not shutil.which("docker") or subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
            return "kind needs a running Docker engine"
        return None

    def up(self, runner: Runner = _run, patch_gpus: Callable[[], None] | None = None) -> None:
        self.write_config()
        runner(self.create_command())
        (patch_gpus or self.patch_gpu_capacity)()

    def patch_gpu_capacity(self) -> list[str]:
        api = client.CoreV1Api(config.new_client_from_config(config_file=str(self.kubeconfig)))
        patched = []
        for node in api.list_node(label_selector=f"{GPU_LABEL}=true").items:
            api.patch_node_status(node.metadata.name, gpu_status_patch(self.pool))
            patched.append(node.metadata.name)
        return patched

    def down(self, runner: Runner = _run) -> None:
        runner(self.delete_command())
