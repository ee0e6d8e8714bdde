"""Small helpers the manifest tests share: a container's command line and flags; and, for the
rendered manifests, the objects, containers, env and config files the tests look at and the
values that switch serving (engine, API key, router) and training on."""

from __future__ import annotations

from typing import Any

import yaml

from lfk8s.chart.rendering import Rendered
from lfk8s.chart.values import deep_merge

Obj = dict[str, Any]

CONFIG_MOUNT = "/etc/llama-factory"
SERVICE_NAME = "llm-inference"
SERVICE_PORT = 8000
ENGINES = ("vllm", "sglang", "llamafactory")
GPU_ENGINES = ("vllm", "sglang")
CONTAINER_PORT = {"vllm": 8000, "sglang": 30000, "llamafactory": 8000}
API_KEY_ENV = {"vllm": "VLLM_API_KEY", "sglang": "SGLANG_API_KEY", "llamafactory": "API_KEY"}
MLFLOW = {"trackingUri": "http://mlflow.mlflow.svc:5000"}


def cmdline(container: Obj) -> list[str]:
    """command + args of a container, as strings."""
    return [str(x) for x in [*(container.get("command") or []), *(container.get("args") or [])]]


def flag(argv: list[str], name: str) -> str:
    """The value of `--name VALUE` or `--name=VALUE`; fails when absent or repeated."""
    values = []
    for index, arg in enumerate(argv):
        if arg == name:
            assert index + 1 < len(argv), f"{name} has no value in {argv}"
            values.append(argv[index + 1])
        elif arg.startswith(name + "="):
            values.append(arg.split("=", 1)[1])
    assert len(values) == 1, f"expected {name} exactly once in {argv}, found {values}"
    return values[0]


def component(obj: Obj) -> str | None:
    """The app.kubernetes.io/component label of an object."""
    return (obj["metadata"].get("labels") or {}).get("app.kubernetes.io/component")


def pod_labels(obj: Obj) -> dict[str, str]:
    """Labels of a workload's pod template."""
    return obj["spec"]["template"]["metadata"]["labels"]


def pod_spec(obj: Obj) -> Obj:
    return obj["spec"]["template"]["spec"]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a matchLabels-style selector matches a label set."""
    return bool(selector) and selector.items() <= labels.items()


def has_flag(argv: list[str], name: str) -> bool:
    return any(a == name or a.startswith(name + "=") for a in argv)


def env_of(container: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container.get("env") or []}


def env_names(container: Obj) -> list[str]:
    return [e["name"] for e in container.get("env") or []]


def secret_ref(container: Obj, name: str) -> dict[str, Any]:
    """The secretKeyRef of one env var (which must carry no literal value)."""
    entry = env_of(container)[name]
    assert "value" not in entry, f"{name} has a literal value"
    return entry["valueFrom"]["secretKeyRef"]


def image_ref(image: dict[str, str]) -> str:
    return f"{image['repository']}:{image['tag']}"


def inference_deploy(rendered: Rendered) -> Obj:
    return rendered.get("Deployment", component="inference")


def inference_container(rendered: Rendered) -> Obj:
    return pod_spec(inference_deploy(rendered))["containers"][0]


def router_deploy(rendered: Rendered) -> Obj:
    return rendered.get("Deployment", component="router")


def router_container(rendered: Rendered) -> Obj:
    return pod_spec(router_deploy(rendered))["containers"][0]


def training_job(rendered: Rendered) -> Obj:
    return rendered.get("Job", component="training")


def train_container(rendered: Rendered) -> Obj:
    found = [c for c in pod_spec(training_job(rendered))["containers"] if c["name"] == "train"]
    assert len(found) == 1
    return found[0]


def config_data(rendered: Rendered) -> dict[str, str]:
    return rendered.get("ConfigMap", component="config")["data"]


def config_file(rendered: Rendered, key: str) -> Any:
    """A file of the ConfigMap, parsed (YAML is a superset of JSON)."""
    return yaml.safe_load(config_data(rendered)[key])


def inference(engine: str = "vllm", **extra: Any) -> dict[str, Any]:
    """Values that enable inference with one engine (plus extra inference keys)."""
    return {"inference": {"enabled": True, "engine": engine, **extra}}


def training(stage: str = "sft", **extra: Any) -> dict[str, Any]:
    """Values that enable a LLaMA-Factory training run, reported nowhere unless told."""
    values: dict[str, Any] = {"training": {"enabled": True, "stage": stage, "reportTo": "none", **extra}}
    if stage == "ppo":
        values["training"].setdefault("rewardModel", "/storage/models/reward-rm")
    if values["training"]["reportTo"] == "mlflow":
        values["mlflow"] = MLFLOW
    return values


def easyr1(stage: str, **extra: Any) -> dict[str, Any]:
    """Values for an EasyR1 run (full weights, two datasets, a custom data directory)."""
    values = training(stage, finetuningType="full", runName="rl-math-7",
                      datasets=[{"name": "math", "fileName": "math/train.parquet"},
                                {"name": "other", "fileName": "other.json"}], **extra)
    return deep_merge(values, {"storage": {"paths": {"data": "/storage/rl-data"}}})


def key_values(engine: str, release_secret: str = "", key: str = "api-key", **extra: Any) -> dict[str, Any]:
    """Inference with the API key on (generated unless release_secret is given)."""
    api_key: dict[str, Any] = {"enabled": True}
    if release_secret:
        api_key.update(existingSecret=release_secret, existingSecretKey=key)
    return inference(engine, apiKey=api_key, **extra)


def router_values(engine: str = "vllm", api_key: dict[str, Any] | None = None, **router: Any) -> dict[str, Any]:
    return inference(engine, replicas=2, router={"enabled": True, **router}, apiKey=api_key or {"enabled": False})


def parse_selector(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(","))
