"""The chart's training Job, merge Job and llamafactory-engine Deployment, as rendered for
values/local.yaml, run for real on the CPU as containers of the training image built from
images/training (its full lock): their exact image, command, args and env, under the pod's
security context (uid 10001, read-only root filesystem, no capabilities) with only the pod's
volumes, a tiny model made here and the real MLflow server. What differs from a kubelet: the
claim is a folder of this machine, the containers share its network, and the inference port is
moved to a free one (API_PORT) so a busy 8000 cannot fail the test."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lfk8s import stack
from lfk8s.chart import rendering, values
from lfk8s.chart.helm import Helm
from lfk8s.cluster.mlflow_server import MlflowServer
from lfk8s.cluster.processes import free_port
from lfk8s.images import tiny_model
from lfk8s.paths import ProjectPaths
from lfk8s.release import operate
from lfk8s.testing import containers

TRAIN_TIMEOUT = 900


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
def storage(root: Path, training_image: str, paths: ProjectPaths) -> Path:
    storage = root / "storage"
    tiny_model.prepare_storage(training_image, storage, stack.pod_user(paths))
    return storage


def _name(component: str) -> str:
    return f"lfk8s-realrun-{component}-{uuid.uuid4().hex[:6]}"


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-40:])


def _run_to_completion(rendered: rendering.Rendered, component: str, root: Path, timeout: float) -> None:
    run = containers.container_run(rendered, component, root)
    log = root / f"{component}.log"
    result = run.run(_name(component), log, timeout)
    assert result.returncode == 0, f"{component} exited {result.returncode}:\n{_tail(log.read_text())}"


def test_pods_run_in_the_image_the_chart_names(rendered: rendering.Rendered, root: Path, training_image: str,
                                               paths: ProjectPaths) -> None:
    for component in ("training", "merge", "inference"):
        run = containers.container_run(rendered, component, root)
        assert run.image == training_image
        uid = stack.pod_user(paths)
        assert run.user == f"{uid}:{uid}" and run.read_only and run.drop_all_capabilities


@pytest.fixture(scope="module")
def trained(rendered: rendering.Rendered, root: Path, storage: Path) -> Path:
    run = containers.container_run(rendered, "training", root)
    assert run.command[:2] == ["llamafactory-cli", "train"]
    _run_to_completion(rendered, "training", root, TRAIN_TIMEOUT)
    return storage / "output" / "lora-adapter" / "run-1"


def test_training_writes_the_adapter(trained: Path) -> None:
    assert (trained / "adapter_config.json").exists()
    assert (trained / "adapter_model.safetensors").stat().st_size > 0
    assert json.loads((trained / "adapter_config.json").read_text())["r"] == 8


def test_training_reports_to_mlflow(trained: Path, mlflow: MlflowServer) -> None:
    (run,) = [r for r in mlflow.runs("llama-factory") if r["info"]["run_name"] == "run-1"]
    metrics = {m["key"]: m["value"] for m in run["data"].get("metrics", [])}
    assert "train_loss" in metrics and metrics["train_loss"] > 0
    params = {p["key"]: p["value"] for p in run["data"].get("params", [])}
    assert params.get("learning_rate") in ("0.0001", "1e-04")


@pytest.fixture(scope="module")
def merged(rendered: rendering.Rendered, root: Path, trained: Path, storage: Path) -> Path:
    assert containers.container_run(rendered, "merge", root).command[:2] == ["llamafactory-cli", "export"]
    _run_to_completion(rendered, "merge", root, 600)
    return storage / "models" / "merged-model"


def test_merge_writes_the_merged_model(merged: Path) -> None:
    assert (merged / "config.json").exists()
    assert list(merged.glob("*.safetensors"))
    assert not (merged / "adapter_config.json").exists()


@pytest.fixture(scope="module")
def api_server(rendered: rendering.Rendered, root: Path, merged: Path) -> Iterator[str]:
    run = containers.container_run(rendered, "inference", root)
    assert run.command == ["llamafactory-cli", "api", "/etc/llama-factory/api.yaml"]
    port = free_port()
    run.env["API_PORT"] = str(port)
    name = _name("inference")
    run.start(name)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if not containers.running(name):
                pytest.fail(f"API server exited:\n{_tail(containers.logs(name))}")
            try:
                with urllib.request.urlopen(f"{url}/v1/models", timeout=2):
                    break
            except OSError:
                time.sleep(1)
        yield url
    finally:
        containers.remove(name)


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
