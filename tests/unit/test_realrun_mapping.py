"""How a rendered pod becomes a local process: mounts mapped once, env resolved as the kubelet would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lfk8s.testing import realrun
from tests.conftest import RenderFn


def local_values() -> dict[str, Any]:
    return yaml.safe_load((Path(__file__).parents[2] / "values" / "local.yaml").read_text())


def test_training_pod_maps_every_mount_once(render: RenderFn, tmp_path: Path) -> None:
    pod = realrun.local_pod(render(local_values()), "training", tmp_path)
    assert set(pod.mounts) == {"/storage", "/etc/llama-factory", "/tmp", "/dev/shm"}
    assert pod.command == ["llamafactory-cli", "train", str(tmp_path / "config" / "train.yaml")]
    train = yaml.safe_load((tmp_path / "config" / "train.yaml").read_text())
    assert train["model_name_or_path"] == str(tmp_path / "storage" / "models" / "base-model")
    assert train["dataset_dir"] == str(tmp_path / "config")
    # tmp_path itself lies under /tmp: a second pass would have mapped it again.
    assert str(tmp_path / "tmp" / str(tmp_path).lstrip("/")) not in (tmp_path / "config" / "train.yaml").read_text()
    assert pod.env["HOME"] == str(tmp_path / "tmp")


def test_env_comes_from_the_rendered_configmap_and_secret(render: RenderFn, tmp_path: Path) -> None:
    values = local_values()
    values["mlflow"].update({"trackingUri": "http://mlflow.test:5000", "username": "alice"})
    pod = realrun.local_pod(render(values), "training", tmp_path)
    assert pod.env["MLFLOW_TRACKING_URI"] == "http://mlflow.test:5000"
    assert pod.env["MLFLOW_TRACKING_USERNAME"] == "alice"
    assert "MLFLOW_TRACKING_PASSWORD" not in pod.env  # optional and absent from the Secret
    assert pod.env["LORA_OUTPUT_PATH"] == str(tmp_path / "storage" / "output" / "lora-adapter" / "run-1")


def test_kubelet_style_expansion_and_port_mapping(render: RenderFn, tmp_path: Path) -> None:
    values = local_values()
    values["inference"].update({"engine": "sglang", "apiKey": {"enabled": True, "existingSecret": ""}})
    rendered = render(values)
    pod = realrun.local_pod(rendered, "inference", tmp_path, port_map={30000: 40123})
    key = pod.env["SGLANG_API_KEY"]
    assert len(key) == 48
    assert pod.command[pod.command.index("--api-key") + 1] == key
    assert pod.ports == {"http": 40123}


def test_webui_working_directory_is_the_storage_subpath(render: RenderFn, tmp_path: Path) -> None:
    pod = realrun.local_pod(render(local_values()), "webui", tmp_path)
    assert pod.cwd == tmp_path / "storage" / "webui"
    assert pod.env["GRADIO_SERVER_PORT"] == "7860"
