"""How a rendered pod becomes a `docker run`: the chart's image, command and env (references
resolved, `$(VAR)` expanded as the kubelet does), its security context and only its volumes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lfk8s.testing import containers
from tests.conftest import RenderFn


def local_values() -> dict[str, Any]:
    return yaml.safe_load((Path(__file__).parents[2] / "values" / "local.yaml").read_text())


def flag_values(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args) if arg == flag]


def test_training_container_keeps_the_pods_security_context(render: RenderFn, tmp_path: Path) -> None:
    run = containers.container_run(render(local_values()), "training", tmp_path)
    args = run.docker_args("train")
    assert run.image == "ghcr.io/llama-factory-k8s/llama-factory-train:0.9.5"
    assert flag_values(args, "--user") == ["10001:10001"] and flag_values(args, "--group-add") == ["10001"]
    assert "--read-only" in args and flag_values(args, "--cap-drop") == ["ALL"]
    assert flag_values(args, "--security-opt") == ["no-new-privileges"]
    # The pod's command replaces the image's entrypoint; its paths are the pod's own.
    entrypoint = args.index("--entrypoint")
    assert args[entrypoint + 1:] == ["llamafactory-cli", run.image, "train", "/etc/llama-factory/train.yaml"]


def test_only_the_pods_volumes_are_mounted(render: RenderFn, tmp_path: Path) -> None:
    run = containers.container_run(render(local_values()), "training", tmp_path)
    assert sorted(run.tmpfs) == ["/dev/shm", "/tmp"]
    assert [(str(host.relative_to(tmp_path)), path, ro) for host, path, ro in run.binds] == [
        ("storage", "/storage", False), ("configmaps/config", "/etc/llama-factory", True)]
    train = yaml.safe_load((tmp_path / "configmaps" / "config" / "train.yaml").read_text())
    assert train["model_name_or_path"] == "/storage/models/base-model"
    assert train["dataset_dir"] == "/etc/llama-factory"


def test_env_comes_from_the_rendered_configmap_and_secret(render: RenderFn, tmp_path: Path) -> None:
    values = local_values()
    values["mlflow"].update({"trackingUri": "http://mlflow.test:5000", "username": "alice"})
    run = containers.container_run(render(values), "training", tmp_path)
    assert run.env["MLFLOW_TRACKING_URI"] == "http://mlflow.test:5000"
    assert run.env["MLFLOW_TRACKING_USERNAME"] == "alice"
    assert "MLFLOW_TRACKING_PASSWORD" not in run.env  # optional and absent from the Secret
    assert run.env["LORA_OUTPUT_PATH"] == "/storage/output/lora-adapter/run-1"
    assert run.env["HOME"] == "/tmp"


def test_kubelet_style_expansion(render: RenderFn, tmp_path: Path) -> None:
    values = local_values()
    values["inference"].update({"engine": "sglang", "apiKey": {"enabled": True, "existingSecret": ""}})
    run = containers.container_run(render(values), "inference", tmp_path)
    key = run.env["SGLANG_API_KEY"]
    assert len(key) == 48
    assert run.command[run.command.index("--api-key") + 1] == key


def test_webui_working_directory_is_the_storage_subpath(render: RenderFn, tmp_path: Path) -> None:
    run = containers.container_run(render(local_values()), "webui", tmp_path)
    assert run.workdir == "/workspace"
    assert (tmp_path / "storage" / "webui", "/workspace", False) in run.binds
    assert run.env["GRADIO_SERVER_PORT"] == "7860"


def test_a_volume_of_another_kind_is_refused(render: RenderFn, tmp_path: Path) -> None:
    rendered = render(local_values())
    _, spec = containers.workload(rendered, "training")
    spec["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    spec["containers"][0]["volumeMounts"].append({"name": "host", "mountPath": "/host"})
    try:
        containers.container_run(rendered, "training", tmp_path)
    except ValueError as error:
        assert "volume host" in str(error)
    else:
        raise AssertionError("a hostPath volume was accepted")
