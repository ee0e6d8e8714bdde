"""The local cluster's generated configuration, checked without starting anything:
kwok stages, node objects, process command lines (the kind backend's: tests/unit/test_kind_config.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

from lfk8s.cluster import kwok_stages
from lfk8s.cluster.local import COMPONENTS, ClusterState, LocalCluster, NodePool


def test_stages_cover_the_lifecycle() -> None:
    docs = list(yaml.safe_load_all(kwok_stages.stages_yaml()))
    assert [d["metadata"]["name"] for d in docs] == [
        "node-initialize", "node-heartbeat-with-lease", "pod-ready",
        "pod-complete-job", "pod-complete-helm-test", "pod-delete"]
    assert all(d["apiVersion"] == "kwok.x-k8s.io/v1alpha1" and d["kind"] == "Stage" for d in docs)
    by_name = {d["metadata"]["name"]: d["spec"] for d in docs}
    assert "phase: Succeeded" in by_name["pod-complete-job"]["next"]["statusTemplate"]
    assert by_name["pod-complete-helm-test"]["selector"]["matchAnnotations"] == {"helm.sh/hook": "test"}
    assert by_name["pod-delete"]["next"]["delete"] is True
    # Node capacity (GPUs) is kept as created, never replaced by kwok's defaults.
    assert "{{ YAML .status.capacity 1 }}" in by_name["node-initialize"]["next"]["statusTemplate"]


def test_job_completion_delay_is_configurable() -> None:
    delays = {d["metadata"]["name"]: d["spec"].get("delay") for d in kwok_stages.stages(job_seconds=2.5)}
    assert delays["pod-complete-job"]["durationMilliseconds"] == 2500
    # A pod may ask to run longer (kwok's annotation convention), as a long training rank does.
    assert kwok_stages.COMPLETE_DELAY_ANNOTATION in delays["pod-complete-job"]["durationFrom"]["expressionFrom"]


def test_node_pool_shapes_gpu_and_cpu_nodes() -> None:
    nodes = NodePool(gpu_nodes=3, gpus_per_node=4, cpu_nodes=2).nodes("c")
    gpu = [n for n in nodes if n["metadata"]["labels"].get("nvidia.com/gpu") == "true"]
    cpu = [n for n in nodes if "nvidia.com/gpu" not in n["metadata"]["labels"]]
    assert [n["metadata"]["name"] for n in gpu] == ["c-gpu-0", "c-gpu-1", "c-gpu-2"]
    assert [n["metadata"]["name"] for n in cpu] == ["c-cpu-0", "c-cpu-1"]
    assert all(
        n["status"]["capacity"]["nvidia.com/gpu"] == "4" == n["status"]["allocatable"]["nvidia.com/gpu"] for n in gpu
    )
    assert all(
        n["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}] for n in gpu
    )
    assert all("taints" not in n["spec"] and "nvidia.com/gpu" not in n["status"]["capacity"] for n in cpu)


def test_control_plane_runs_on_loopback_with_tls(tmp_path: Path) -> None:
    cluster = LocalCluster(name="x", state_root=tmp_path)
    state = ClusterState(ports={"etcd-client": 1, "etcd-peer": 2, "apiserver": 3, "kwok": 4})
    commands = {c: cluster.command(c, Path(f"/bin/{c}"), state) for c in COMPONENTS}
    apiserver = commands["kube-apiserver"]
    assert apiserver[apiserver.index("--bind-address") + 1] == "127.0.0.1"
    assert "--tls-cert-file" in apiserver and "--client-ca-file" in apiserver
    assert apiserver[apiserver.index("--etcd-servers") + 1] == "https://127.0.0.1:1"
    # Default admission plugins (PodSecurity among them) stay on: nothing enables or disables any.
    assert not any("admission-plugins" in arg for arg in apiserver)
    assert "--client-cert-auth" in commands["etcd"]
    assert "https://127.0.0.1:1" in commands["etcd"]
    assert "--manage-nodes-with-label-selector=type=kwok" in commands["kwok"]
    assert all(not arg.startswith("0.0.0.0") for cmd in commands.values() for arg in cmd)
