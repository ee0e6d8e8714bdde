"""values/local.yaml placed on kind's CPU worker (lfk8s.stack.on_kind_worker, the real node's overlay
with the worker's hostname): every pod there with no GPUs, the claim on the class of the volume the
harness makes in the directory every node mounts; the MLflow address is kind's network gateway;
the training image goes into the worker as one gzip layer streamed from `docker export`."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from typing import Any

import pytest

from lfk8s import stack
from lfk8s.chart import values
from lfk8s.chart.rendering import pod_specs
from lfk8s.cluster import kind_images, kind_nodes
from lfk8s.cluster.kind_storage import SHARED_PATH
from lfk8s.cluster.local import ClusterError
from lfk8s.paths import ProjectPaths
from tests.conftest import RenderFn

WORKER = "lfk8s-kt-abc123-worker3"


def test_every_pod_goes_to_the_cpu_worker_without_gpus(render: RenderFn, paths: ProjectPaths) -> None:
    placed = stack.on_kind_worker(values.load(paths.values_dir / "local.yaml"), paths, WORKER,
                                  "http://172.24.0.1:5000")
    rendered = render(placed)
    specs = list(pod_specs(rendered))
    assert {w["metadata"]["labels"]["app.kubernetes.io/component"] for w, _ in specs} >= {
        "training", "merge", "webui", "inference", "test"}
    for workload, spec in specs:
        assert spec["nodeSelector"] == {"kubernetes.io/hostname": WORKER}, workload["metadata"]["name"]
        for container in spec["containers"]:
            assert "nvidia.com/gpu" not in container.get("resources", {}).get("limits", {}), workload["metadata"]
    claim = rendered.of_kind("PersistentVolumeClaim")[0]
    assert claim["spec"]["storageClassName"] == stack.KIND_STORAGE_CLASS
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert placed["mlflow"]["trackingUri"] == "http://172.24.0.1:5000"


def test_gpu_only_engine_is_refused_on_the_cpu_worker(paths: ProjectPaths) -> None:
    data = values.deep_merge(values.load(paths.values_dir / "local.yaml"), {"inference": {"engine": "vllm"}})
    with pytest.raises(ValueError, match="inference needs GPUs"):
        stack.on_kind_worker(data, paths, WORKER, "http://172.24.0.1:5000")


def test_the_volume_is_the_shared_directory_on_that_worker() -> None:
    volume = stack.host_path_volume("k-ns-storage", f"{SHARED_PATH}/{stack.KIND_STORAGE_DIR}", "10Gi",
                                    stack.KIND_STORAGE_CLASS, stack.HOSTNAME_LABEL, WORKER)
    spec: dict[str, Any] = volume["spec"]
    assert spec["hostPath"] == {"path": "/var/lfk8s-shared/lfk8s-storage", "type": "Directory"}
    assert spec["accessModes"] == ["ReadWriteMany"] and spec["persistentVolumeReclaimPolicy"] == "Retain"
    assert spec["nodeAffinity"]["required"]["nodeSelectorTerms"] == [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": [WORKER]}]}]


def network(config: list[dict[str, str]]) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess([], 0, json.dumps([{"IPAM": {"Config": config}}]), "")


def test_the_gateway_is_the_ipv4_one_of_kinds_network(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = network([{"Subnet": "fc00:f853:ccd:e793::/64", "Gateway": "fc00:f853:ccd:e793::1"},
                      {"Subnet": "172.24.0.0/16", "Gateway": "172.24.0.1"}])
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: answer)
    assert kind_nodes.network_gateway() == "172.24.0.1"
    only_v6 = network([{"Subnet": "fc00:f853:ccd:e793::/64"}])
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: only_v6)
    with pytest.raises(ClusterError, match="no IPv4 gateway"):
        kind_nodes.network_gateway()


def test_a_streamed_layer_is_gzip_with_both_digests() -> None:
    data = b"layer bytes " * 100_000
    sink = io.BytesIO()
    diff_id, digest, size = kind_images._stream_layer(io.BytesIO(data), sink)
    assert diff_id == f"sha256:{hashlib.sha256(data).hexdigest()}"
    assert digest == f"sha256:{hashlib.sha256(sink.getvalue()).hexdigest()}" and size == len(sink.getvalue())
    assert gzip.decompress(sink.getvalue()) == data and size < len(data)


def test_the_oci_archive_names_the_image_and_keeps_dockers_config() -> None:
    inspect = {"Architecture": "amd64", "Os": "linux", "Config": {
        "User": "10001:10001", "Env": ["PATH=/opt/venv/bin"], "Entrypoint": ["llamafactory-cli"], "Cmd": None,
        "Hostname": "abc"}}
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + "a" * 64, "size": 3}
    archive = kind_images.oci_archive("r/x:1", inspect, "sha256:" + "b" * 64, layer)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    (entry,) = json.loads(files["index.json"])["manifests"]
    assert entry["annotations"]["io.containerd.image.name"] == "r/x:1"
    manifest = json.loads(files[f"blobs/sha256/{entry['digest'][7:]}"])
    assert manifest["layers"] == [layer] and f"blobs/sha256/{'a' * 64}" not in files
    config = json.loads(files[f"blobs/sha256/{manifest['config']['digest'][7:]}"])
    assert config["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + "b" * 64]}
    assert config["config"] == {"User": "10001:10001", "Env": ["PATH=/opt/venv/bin"],
                                "Entrypoint": ["llamafactory-cli"]}
