"""The kind backend's generated config and host helpers, checked without creating a cluster."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from lfk8s.cluster import kind_host, kind_storage
from lfk8s.cluster.kind import KindCluster, gpu_status_patch, kind_config
from lfk8s.cluster.kind_runtime import RUNTIME, docker_shim, merged_daemon_config
from lfk8s.cluster.local import NodePool
from lfk8s.images.kind_parts import component_images
from lfk8s.toolchain.kindbuild import kubeadm_cluster_patch
from lfk8s.versions import COREDNS_VERSION, ETCD_VERSION, KUBERNETES_VERSION, PAUSE_VERSION


def test_kind_config_has_gpu_workers_with_label_and_taint() -> None:
    config = kind_config("c", NodePool(gpu_nodes=2, gpus_per_node=8, cpu_nodes=1), node_image="lfk8s.local/n:1")
    roles = [n["role"] for n in config["nodes"]]
    assert roles == ["control-plane", "worker", "worker", "worker"]
    gpu_workers = [n for n in config["nodes"] if n.get("labels", {}).get("nvidia.com/gpu") == "true"]
    assert len(gpu_workers) == 2
    taint_patch = yaml.safe_load(gpu_workers[0]["kubeadmConfigPatches"][0])
    assert taint_patch["kind"] == "JoinConfiguration"
    assert taint_patch["nodeRegistration"]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    ]
    assert all(n["image"] == "lfk8s.local/n:1" for n in config["nodes"])
    assert gpu_status_patch(NodePool(gpus_per_node=8)) == {
        "status": {"capacity": {"nvidia.com/gpu": "8"}, "allocatable": {"nvidia.com/gpu": "8"}}
    }


def test_kind_config_replaces_kindnetd_and_names_the_images_built_here() -> None:
    config = kind_config("c", NodePool())
    assert config["networking"] == {"disableDefaultCNI": True}
    patches = {doc["kind"]: doc for doc in map(yaml.safe_load, config["kubeadmConfigPatches"])}
    assert patches["ClusterConfiguration"]["etcd"]["local"]["imageTag"] == ETCD_VERSION.lstrip("v")
    assert patches["ClusterConfiguration"]["dns"]["imageTag"] == COREDNS_VERSION
    assert patches["KubeletConfiguration"] == {"kind": "KubeletConfiguration", "failCgroupV1": False}


def test_component_images_are_the_names_kubeadm_pulls() -> None:
    references = {c.reference for c in component_images()}
    version = f"v{KUBERNETES_VERSION}"
    assert {f"registry.k8s.io/{name}:{version}" for name in
            ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")} <= references
    assert {f"registry.k8s.io/etcd:{ETCD_VERSION.lstrip('v')}", f"registry.k8s.io/coredns/coredns:{COREDNS_VERSION}",
            f"registry.k8s.io/pause:{PAUSE_VERSION}"} <= references
    assert "imageTag" in kubeadm_cluster_patch()
    proxy = next(c for c in component_images() if c.role == "kube-proxy")
    assert "iptables" in proxy.dockerfile() and "COPY kube-proxy /usr/local/bin/kube-proxy" in proxy.dockerfile()


def test_create_command_and_state_paths(tmp_path: Path) -> None:
    cluster = KindCluster(name="c", state_root=tmp_path)
    cluster.write_config("lfk8s.local/n:1")
    assert yaml.safe_load(cluster.config_path.read_text())["name"] == "c"
    assert cluster.create_command(Path("/k/kind")) == [
        "/k/kind", "create", "cluster", "--name", "c", "--config", str(cluster.config_path),
        "--kubeconfig", str(cluster.kubeconfig), "--wait", "180s"]


def test_daemon_config_adds_the_runtime_and_keeps_the_rest() -> None:
    merged = json.loads(merged_daemon_config('{"log-level": "warn", "runtimes": {"x": {"path": "/x"}}}',
                                             Path("/w/runc")))
    assert merged == {"log-level": "warn", "runtimes": {"x": {"path": "/x"}, RUNTIME: {"path": "/w/runc"}}}
    assert json.loads(merged_daemon_config("", Path("/w/runc"))) == {"runtimes": {RUNTIME: {"path": "/w/runc"}}}


def test_docker_shim_adds_the_runtime_to_run_only(tmp_path: Path) -> None:
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    shim = tmp_path / "shim"
    shim.write_text(docker_shim(str(fake)))
    shim.chmod(0o755)

    def run(*args: str) -> str:
        return subprocess.run([str(shim), *args], capture_output=True, text=True, check=True).stdout.strip()

    assert run("run", "--privileged", "img") == f"run --runtime={RUNTIME} --privileged img"
    assert run("ps", "-a") == "ps -a"
    assert run("exec", "c", "run") == "exec c run"


def test_inotify_is_raised_then_restored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LFK8S_CACHE", str(tmp_path / "cache"))
    setting = tmp_path / "max_user_instances"
    setting.write_text("128\n")
    kind_host.raise_inotify(setting=setting)
    kind_host.raise_inotify(setting=setting)  # a second cluster keeps the first original
    assert setting.read_text() == str(kind_host.WANTED)
    kind_host.restore_inotify(setting=setting)
    assert setting.read_text() == "128"
    setting.write_text("1024")
    kind_host.raise_inotify(setting=setting)
    kind_host.restore_inotify(setting=setting)
    assert setting.read_text() == "1024"  # never lowered, nothing to restore


def test_every_node_mounts_the_shared_directory(tmp_path: Path) -> None:
    config = kind_config("c", NodePool(gpu_nodes=1, cpu_nodes=1), shared_dir=tmp_path)
    assert all(n["extraMounts"] == [{"hostPath": str(tmp_path), "containerPath": kind_storage.SHARED_PATH}]
               for n in config["nodes"])
    assert "extraMounts" not in kind_config("c", NodePool())["nodes"][0]


def test_provisioner_serves_named_classes_from_the_shared_directory() -> None:
    config = kind_storage.provisioner_config(("nfs-client", "standard"))
    classes = config["storageClassConfigs"]
    assert classes["nfs-client"] == {"sharedFileSystemPath": kind_storage.SHARED_PATH}
    # The default class keeps kind's per-node volumes (ReadWriteOnce), as kind's manifest has it.
    assert classes["standard"]["nodePathMap"][0]["paths"] == [kind_storage.NODE_PATH]
    assert set(classes) == {"nfs-client", "standard"}
