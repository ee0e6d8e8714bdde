"""The chart's training Job, merge Job and llamafactory-engine Deployment, as rendered for
values/local.yaml, run for real on the CPU: their exact commands, args and env, with the
real LLaMA-Factory of the training image's lock, a tiny model made here, and the real MLflow
server. Only the volume mounts are mapped (to folders under a temporary root) and the
serving port (to a free local port)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lfk8s.chart import rendering, values
from lfk8s.chart.helm import Helm
from lfk8s.cluster.mlflow_server import MlflowServer
from lfk8s.cluster.processes import free_port
from lfk8s.paths import ProjectPaths
from lfk8s.release import operate
from lfk8s.testing import realrun

TRAIN_TIMEOUT = 900


@pytest.fixture(scope="module")
def runtime(paths: ProjectPaths) -> Path:
    return realrun.ensure_runtime(paths)


@pytest.fixture(scope="module")
def mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with MlflowServer(tmp_path_factory.mktemp("mlflow"), free_port()) as server:
        yield server


@pytest.fixture(scope="module")
def rendered(helm: Helm, paths: ProjectPaths, mlflow: MlflowServer) -> rendering.Rendered:
    data = values.load(paths.values_dir / "local.yaml")
    # The local cluster's MLflow address, pointed at this test's server.
    data["mlflow"]["trackingUri"] = mlflow.url
    return rendering.render(helm, paths, data)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pods")


@pytest.fixture(scope="module")
def storage(rendered: rendering.Rendered, root: Path, runtime: Path) -> Path:
    """The shared storage as users prepare it: a base model and a dataset, nothing downloaded."""
    storage = realrun.local_pod(rendered, "training", root).mounts["/storage"]
    (storage / "data").mkdir(parents=True, exist_ok=True)
    (storage / "data" / "train.json").write_text(json.dumps(realrun.tiny_dataset()))
    realrun.make_tiny_model(
        realrun.python_of(runtime), storage / "models" / "base-model", storage / "data" / "train.json"
    )
    return storage


def _log_tail(path: Path) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-40:]) if path.exists() else ""


@pytest.fixture(scope="module")
def trained(rendered: rendering.Rendered, root: Path, storage: Path, runtime: Path) -> Path:
    pod = realrun.local_pod(rendered, "training", root)
    assert pod.command[:2] == ["llamafactory-cli", "train"]
    log = root / "train.log"
    result = pod.run(runtime, TRAIN_TIMEOUT, log)
    assert result.returncode == 0, _log_tail(log)
    return storage / "output" / "lora-adapter" / "run-1"


def test_training_writes_the_adapter(trained: Path) -> None:
    assert (trained / "adapter_config.json").exists()
    assert (trained / "adapter_model.safetensors").stat().st_size > 0
    assert json.loads((trained / "adapter_config.json").read_text())["r"] == 8


def test_training_reports_to_mlflow(trained: Path, mlflow: MlflowServer) -> None:
    request = urllib.request.Request(f"{mlflow.url}/api/2.0/mlflow/runs/search",
                                     data=json.dumps(
                                         {"experiment_ids": [_experiment_id(mlflow, "llama-factory")]}
                                     ).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        runs = json.loads(response.read())["runs"]
    (run,) = [r for r in runs if r["info"]["run_name"] == "run-1"]
    metrics = {m["key"]: m["value"] for m in run["data"].get("metrics", [])}
    assert "train_loss" in metrics and metrics["train_loss"] > 0
    params = {p["key"]: p["value"] for p in run["data"].get("params", [])}
    assert params.get("learning_rate") in ("0.0001", "1e-04")


def _experiment_id(mlflow: MlflowServer, name: str) -> str:
    with urllib.request.urlopen(
        f"{mlflow.url}/api/2.0/mlflow/experiments/get-by-name?experiment_name={name}", timeout=10
    ) as r:
        return json.loads(r.read())["experiment"]["experiment_id"]


@pytest.fixture(scope="module")
def merged(rendered: rendering.Rendered, root: Path, trained: Path, runtime: Path, storage: Path) -> Path:
    pod = realrun.local_pod(rendered, "merge", root)
    assert pod.command[:2] == ["llamafactory-cli", "export"]
    log = root / "merge.log"
    result = pod.run(runtime, 600, log)
    assert result.returncode == 0, _log_tail(log)
    return storage / "models" / "merged-model"


def test_merge_writes_the_merged_model(merged: Path) -> None:
    assert (merged / "config.json").exists()
    assert list(merged.glob("*.safetensors"))
    assert not (merged / "adapter_config.json").exists()


@pytest.fixture(scope="module")
def api_server(rendered: rendering.Rendered, root: Path, merged: Path, runtime: Path) -> Iterator[str]:
    port = free_port()
    pod = realrun.local_pod(rendered, "inference", root, port_map={8000: port})
    assert pod.command == ["llamafactory-cli", "api", str(pod.mounts["/etc/llama-factory"] / "api.yaml")]
    log = root / "api.log"
    process = pod.start(runtime, log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"API server exited:\n{_log_tail(log)}")
            try:
                with urllib.request.urlopen(f"{url}/v1/models", timeout=2):
                    break
            except OSError:
                time.sleep(1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_api_lists_the_served_model(api_server: str) -> None:
    with urllib.request.urlopen(f"{api_server}/v1/models", timeout=10) as response:
        names = [m["id"] for m in json.loads(response.read())["data"]]
    assert names == ["llama-factory-model"]


def test_chat_completion_with_the_served_model_name(api_server: str) -> None:
    answer: dict[str, Any] = operate.chat_request(api_server, "llama-factory-model", "What colour is the sky?", None,
                                                  max_tokens=8)
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert isinstance(answer["choices"][0]["message"]["content"], str)
