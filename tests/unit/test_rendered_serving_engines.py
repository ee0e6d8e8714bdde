"""The inference engines in the rendered manifests: for vLLM, SGLang and LLaMA-Factory's API
server, the Service and container ports, the served model name, the engine-neutral values as
each engine's own flags, probes, running without GPUs, every model source (merged, base, a LoRA
adapter) and the API key, generated or read from an existing Secret.

Replicas, the router and exposure are in test_rendered_serving_scaling_and_routing.py;
test_manifest_invariants.py holds the invariants of every render (component switches, GPU
placement, MLflow secret hygiene, names, checksums, labels), which these tests do not repeat.
"""

from __future__ import annotations

import base64
import re
from typing import Any
from unittest import mock

import pytest
import yaml

from lfk8s.chart import rendering
from lfk8s.chart.helm import Helm, HelmError
from lfk8s.chart.rendering import Rendered, containers, pod_specs
from lfk8s.chart.values import deep_merge
from lfk8s.paths import ProjectPaths
from tests.conftest import RenderFn
from tests.helpers import (
    API_KEY_ENV,
    CONFIG_MOUNT,
    CONTAINER_PORT,
    ENGINES,
    GPU_ENGINES,
    SERVICE_NAME,
    SERVICE_PORT,
    Obj,
    cmdline,
    config_file,
    env_names,
    env_of,
    flag,
    has_flag,
    image_ref,
    inference,
    inference_container,
    inference_deploy,
    key_values,
    pod_labels,
    pod_spec,
    secret_ref,
    selects,
)

GPU_RESOURCE = "nvidia.com/gpu"
# Engine-neutral value -> (vLLM flag, SGLang flag).
NEUTRAL_FLAGS = {
    "maxModelLen": {"vllm": "--max-model-len", "sglang": "--context-length"},
    "tensorParallelSize": {"vllm": "--tensor-parallel-size", "sglang": "--tp-size"},
    "gpuMemoryUtilization": {"vllm": "--gpu-memory-utilization", "sglang": "--mem-fraction-static"},
}


# ---------------------------------------------------------------- helpers


def served_model_path(rendered: Rendered, engine: str) -> str:
    """The model directory the engine loads."""
    argv = cmdline(inference_container(rendered))
    if engine == "vllm":
        assert argv[:2] == ["vllm", "serve"]
        return argv[2]
    if engine == "sglang":
        return flag(argv, "--model-path")
    return config_file(rendered, "api.yaml")["model_name_or_path"]


def api_key_secrets(rendered: Rendered) -> list[Obj]:
    return [s for s in rendered.of_kind("Secret") if s["metadata"]["name"].endswith("-api-key")]


# ---------------------------------------------------------------- engines


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_service_port_is_8000_and_container_port_per_engine(render: RenderFn, engine: str) -> None:
    """llm-inference:8000 -> targetPort http, which is 8000/30000/8000 in the engine container."""
    rendered = render(inference(engine))
    svc = rendered.get("Service", name=SERVICE_NAME)
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(SERVICE_PORT, "http")]
    ports = {p["name"]: p["containerPort"] for p in inference_container(rendered)["ports"]}
    assert ports == {"http": CONTAINER_PORT[engine]}
    assert selects(svc["spec"]["selector"], pod_labels(inference_deploy(rendered)))


@pytest.mark.parametrize("engine", ENGINES)
def test_served_model_name_reaches_engine(render: RenderFn, engine: str) -> None:
    """vLLM/SGLang get --served-model-name; LLaMA-Factory's API gets API_MODEL_NAME."""
    served = "acme/llama-3-8b-sft"
    c = inference_container(render(inference(engine, servedModelName=served)))
    argv = cmdline(c)
    if engine == "llamafactory":
        assert env_of(c)["API_MODEL_NAME"]["value"] == served
        assert not has_flag(argv, "--served-model-name")
    else:
        assert flag(argv, "--served-model-name") == served
        assert "API_MODEL_NAME" not in env_of(c)


def test_llamafactory_engine_runs_the_api_server(render: RenderFn) -> None:
    """Engine llamafactory: `llamafactory-cli api api.yaml` in the training image, on 0.0.0.0:8000."""
    train_image = {"repository": "registry.example/lf-train", "tag": "0.9.5-cu124"}
    rendered = render(deep_merge(inference("llamafactory"), {"images": {"training": train_image}}))
    c = inference_container(rendered)
    assert cmdline(c) == ["llamafactory-cli", "api", f"{CONFIG_MOUNT}/api.yaml"]
    assert c["image"] == image_ref(train_image)
    env = env_of(c)
    assert env["API_HOST"]["value"] == "0.0.0.0"
    assert env["API_PORT"]["value"] == str(CONTAINER_PORT["llamafactory"])
    assert config_file(rendered, "api.yaml")["infer_backend"] == "huggingface"
    config_mount = [m for m in c["volumeMounts"] if m["mountPath"] == CONFIG_MOUNT]
    assert len(config_mount) == 1
    volumes = {v["name"]: v for v in pod_spec(inference_deploy(rendered))["volumes"]}
    cm = rendered.get("ConfigMap", component="config")
    assert volumes[config_mount[0]["name"]]["configMap"]["name"] == cm["metadata"]["name"]


@pytest.mark.parametrize("engine", GPU_ENGINES)
def test_engine_neutral_values_map_to_engine_flags(render: RenderFn, engine: str) -> None:
    """maxModelLen, tensorParallelSize and gpuMemoryUtilization become the engine's own flags, once each."""
    rendered = render(inference(engine, gpus=2, tensorParallelSize=2, maxModelLen=12345, gpuMemoryUtilization=0.77))
    argv = cmdline(inference_container(rendered))
    assert int(flag(argv, NEUTRAL_FLAGS["maxModelLen"][engine])) == 12345
    assert int(flag(argv, NEUTRAL_FLAGS["tensorParallelSize"][engine])) == 2
    assert float(flag(argv, NEUTRAL_FLAGS["gpuMemoryUtilization"][engine])) == pytest.approx(0.77)
    other = "sglang" if engine == "vllm" else "vllm"
    for names in NEUTRAL_FLAGS.values():
        assert not has_flag(argv, names[other]), names[other]
    assert flag(argv, "--host") == "0.0.0.0"
    assert int(flag(argv, "--port")) == CONTAINER_PORT[engine]


def test_llamafactory_without_gpus_runs_on_cpu_nodes(render: RenderFn, helm: Helm, paths: ProjectPaths) -> None:
    """Engine llamafactory with gpus 0 passes the chart's checks and asks for no GPU at all."""
    values = inference("llamafactory", gpus=0)
    helm.lint(paths.chart, values, rendering.DEFAULT_NAMESPACE)
    spec = pod_spec(inference_deploy(render(values)))
    assert GPU_RESOURCE not in (spec.get("nodeSelector") or {})
    assert [t for t in spec.get("tolerations") or [] if t.get("key") == GPU_RESOURCE] == []
    for c in containers(spec):
        for section in ("limits", "requests"):
            assert GPU_RESOURCE not in ((c.get("resources") or {}).get(section) or {}), (c["name"], section)


@pytest.mark.parametrize("engine", GPU_ENGINES)
def test_gpu_engines_refuse_zero_gpus(render: RenderFn, engine: str) -> None:
    """The check that lets llamafactory run without GPUs still refuses vLLM/SGLang without one."""
    with pytest.raises(HelmError, match="inference.gpus"):
        render(inference(engine, gpus=0))


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_probes(render: RenderFn, engine: str) -> None:
    """Readiness times out after >= 5 s; liveness/startup are /health, or a TCP check for llamafactory."""
    c = inference_container(render(inference(engine)))
    assert c["readinessProbe"]["timeoutSeconds"] >= 5
    for probe in ("livenessProbe", "startupProbe"):
        if engine == "llamafactory":
            assert c[probe]["tcpSocket"] == {"port": "http"}, probe
            assert "httpGet" not in c[probe], probe
        else:
            assert c[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
            assert "tcpSocket" not in c[probe], probe


# ---------------------------------------------------------------- model sources


PATHS = {"baseModel": "/storage/m/base-x", "mergedModel": "/storage/m/merged-x", "loraOutput": "/storage/out/adapters"}


def source_values(engine: str, source: str, **inference_extra: Any) -> dict[str, Any]:
    """Inference with one model source, distinctive paths and run name."""
    return deep_merge(inference(engine, modelSource=source, servedModelName="acme-8b", **inference_extra),
                      {"storage": {"paths": PATHS}, "training": {"runName": "sft-r9"}})


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("source", "expected"), [("merged", PATHS["mergedModel"]), ("base", PATHS["baseModel"]),
                                                  ("lora", PATHS["baseModel"])])
def test_model_source_selects_model_path(render: RenderFn, engine: str, source: str, expected: str) -> None:
    """merged serves mergedModel, base and lora the base model; only lora carries an adapter."""
    rendered = render(source_values(engine, source))
    assert served_model_path(rendered, engine) == expected
    argv = cmdline(inference_container(rendered))
    api = config_file(rendered, "api.yaml")
    lora = source == "lora"
    if engine == "vllm":
        assert ("--enable-lora" in argv) is lora
        assert has_flag(argv, "--lora-modules") is lora
    elif engine == "sglang":
        assert has_flag(argv, "--lora-paths") is lora
    else:
        assert ("adapter_name_or_path" in api) is lora


@pytest.mark.parametrize(("rank", "expected"), [(8, 8), (24, 32), (300, 320), (16, 16), (1, 8), (512, 512)])
def test_vllm_max_lora_rank_is_smallest_allowed_at_least_trained_rank(render: RenderFn, rank: int,
                                                                        expected: int) -> None:
    """--max-lora-rank is the smallest of vLLM's allowed ranks that holds training.lora.rank."""
    values = deep_merge(source_values("vllm", "lora"), {"training": {"lora": {"rank": rank}}})
    assert int(flag(cmdline(inference_container(render(values))), "--max-lora-rank")) == expected


@pytest.mark.parametrize(("rank", "max_rank"), [(8, 128), (24, 64), (300, 512)])
def test_inference_lora_max_rank_overrides(render: RenderFn, rank: int, max_rank: int) -> None:
    """inference.lora.maxRank wins over the rank derived from training.lora.rank."""
    values = deep_merge(source_values("vllm", "lora", lora={"maxRank": max_rank}),
                        {"training": {"lora": {"rank": rank}}})
    assert int(flag(cmdline(inference_container(render(values))), "--max-lora-rank")) == max_rank


def test_vllm_lora_defaults(render: RenderFn) -> None:
    """vLLM lora: --enable-lora and --lora-modules <servedModelName>-lora=<loraOutput>/<runName>."""
    argv = cmdline(inference_container(render(source_values("vllm", "lora"))))
    assert argv.count("--enable-lora") == 1
    assert flag(argv, "--lora-modules") == f"acme-8b-lora={PATHS['loraOutput']}/sft-r9"
    assert flag(argv, "--served-model-name") == "acme-8b"


@pytest.mark.parametrize(("engine", "lora_flag"), [("vllm", "--lora-modules"), ("sglang", "--lora-paths")])
def test_lora_name_and_adapter_path_override(render: RenderFn, engine: str, lora_flag: str) -> None:
    """inference.lora.name and adapterPath replace the default adapter name and path."""
    values = source_values(engine, "lora", lora={"name": "support-bot", "adapterPath": "/storage/adapters/v7"})
    argv = cmdline(inference_container(render(values)))
    assert flag(argv, lora_flag) == "support-bot=/storage/adapters/v7"


def test_sglang_lora_paths(render: RenderFn) -> None:
    """SGLang lora: --lora-paths <name>=<path> on the base model, never vLLM's --lora-modules."""
    argv = cmdline(inference_container(render(source_values("sglang", "lora"))))
    assert flag(argv, "--lora-paths") == f"acme-8b-lora={PATHS['loraOutput']}/sft-r9"
    assert not has_flag(argv, "--lora-modules")
    assert flag(argv, "--model-path") == PATHS["baseModel"]


@pytest.mark.parametrize("adapter_path", ["", "/storage/adapters/v7"])
def test_llamafactory_lora_api_yaml(render: RenderFn, adapter_path: str) -> None:
    """LLaMA-Factory lora: api.yaml has the base model, the adapter and finetuning_type lora."""
    rendered = render(source_values("llamafactory", "lora", lora={"adapterPath": adapter_path}))
    api = config_file(rendered, "api.yaml")
    assert api["model_name_or_path"] == PATHS["baseModel"]
    assert api["adapter_name_or_path"] == (adapter_path or f"{PATHS['loraOutput']}/sft-r9")
    assert api["finetuning_type"] == "lora"
    assert cmdline(inference_container(rendered)) == ["llamafactory-cli", "api", f"{CONFIG_MOUNT}/api.yaml"]


# ---------------------------------------------------------------- API key


def generated_key(rendered: Rendered) -> tuple[Obj, str]:
    """The chart's API-key Secret and its decoded key."""
    secrets = api_key_secrets(rendered)
    assert len(secrets) == 1
    secret = secrets[0]
    assert list(secret["data"]) == ["api-key"]
    return secret, base64.b64decode(secret["data"]["api-key"]).decode()


@pytest.mark.parametrize("engine", ENGINES)
def test_api_key_disabled_renders_no_key(render: RenderFn, engine: str) -> None:
    """apiKey off: no api-key Secret, no key variable, no --api-key flag."""
    rendered = render(inference(engine))
    assert api_key_secrets(rendered) == []
    c = inference_container(rendered)
    assert set(env_names(c)) & set(API_KEY_ENV.values()) == set()
    assert not has_flag(cmdline(c), "--api-key")


@pytest.mark.parametrize("engine", ENGINES)
def test_api_key_generated_secret_reaches_engine_by_reference(render: RenderFn, engine: str) -> None:
    """apiKey on: Secret <fullname>-api-key holds 48 alphanumerics, read by the engine's own variable."""
    rendered = render(key_values(engine), release="chat")
    secret, value = generated_key(rendered)
    assert secret["metadata"]["name"] == "chat-llama-factory-api-key"
    assert re.fullmatch(r"[A-Za-z0-9]{48}", value), value
    c = inference_container(rendered)
    assert secret_ref(c, API_KEY_ENV[engine]) == {"name": "chat-llama-factory-api-key", "key": "api-key"}
    assert set(env_names(c)) & set(API_KEY_ENV.values()) == {API_KEY_ENV[engine]}
    argv = cmdline(c)
    if engine == "sglang":
        assert flag(argv, "--api-key") == "$(SGLANG_API_KEY)"
    else:
        assert not has_flag(argv, "--api-key")


@pytest.mark.parametrize("engine", ENGINES)
def test_api_key_existing_secret_is_referenced_not_created(render: RenderFn, engine: str) -> None:
    """apiKey.existingSecret + existingSecretKey: no Secret rendered, the engine reads that Secret's key."""
    rendered = render(key_values(engine, release_secret="team-llm-keys", key="openai-key"))
    assert rendered.of_kind("Secret") == []
    c = inference_container(rendered)
    assert secret_ref(c, API_KEY_ENV[engine]) == {"name": "team-llm-keys", "key": "openai-key"}
    if engine == "sglang":
        assert flag(cmdline(c), "--api-key") == "$(SGLANG_API_KEY)"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("router", [False, True])
def test_api_key_value_never_in_args_or_other_objects(render: RenderFn, engine: str, router: bool) -> None:
    """The generated key appears in no command, arg or env value, and in no object but its Secret."""
    rendered = render(key_values(engine, replicas=2, router={"enabled": router}))
    secret, value = generated_key(rendered)
    leaks = []
    for obj, spec in pod_specs(rendered):
        for c in containers(spec):
            plain = [*cmdline(c), *(str(e.get("value", "")) for e in c.get("env") or [])]
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                plain += [str(x) for x in ((c.get(probe) or {}).get("exec") or {}).get("command", [])]
            leaks += [(obj["metadata"]["name"], c["name"]) for text in plain if value in text]
    assert leaks == []
    others = [o["metadata"]["name"] for o in rendered.objects if o is not secret and value in yaml.safe_dump(o)]
    assert others == []


@pytest.mark.parametrize("engine", ["vllm", "llamafactory"])
def test_api_key_readiness_probe_sends_the_key(render: RenderFn, engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """vLLM/LLaMA-Factory with a key: an exec probe asks /v1/models with `Bearer $KEY` from the env."""
    c = inference_container(render(key_values(engine)))
    readiness = c["readinessProbe"]
    assert "httpGet" not in readiness
    command = readiness["exec"]["command"]
    assert command[:2] == ["python3", "-c"]
    script = command[2]
    assert "urllib" in script and "Authorization" in script and API_KEY_ENV[engine] in script
    # Run the probe's script against a stubbed urlopen: it must send the key from the env.
    monkeypatch.setenv(API_KEY_ENV[engine], "probe-key-123")
    with mock.patch("urllib.request.urlopen") as urlopen:
        exec(compile(script, "<readinessProbe>", "exec"), {})  # noqa: S102 - the chart's own probe
    assert urlopen.call_count == 1
    request = urlopen.call_args.args[0]
    assert request.full_url == f"http://127.0.0.1:{CONTAINER_PORT[engine]}/v1/models"
    assert request.get_header("Authorization") == "Bearer probe-key-123"
    assert readiness["timeoutSeconds"] >= 5


@pytest.mark.parametrize("engine", ENGINES)
def test_api_key_keeps_open_health_probes(render: RenderFn, engine: str) -> None:
    """With a key SGLang keeps httpGet /ready; liveness stays /health (TCP for llamafactory)."""
    c = inference_container(render(key_values(engine)))
    if engine == "sglang":
        assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    if engine == "llamafactory":
        assert c["livenessProbe"]["tcpSocket"] == {"port": "http"}
    else:
        assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}


@pytest.mark.parametrize(("source", "extra", "files"), [
    ("merged", {}, ["/storage/models/merged-model/tokenizer_config.json"]),
    ("base", {}, ["/storage/models/base-model/config.json"]),
    ("lora", {"lora": {"adapterPath": "/storage/output/lora-adapter/run-7"}},
     ["/storage/models/base-model/config.json", "/storage/output/lora-adapter/run-7/adapter_config.json"]),
])
def test_engine_waits_for_the_model_it_serves(render: RenderFn, source: str, extra: dict[str, Any],
                                             files: list[str]) -> None:
    """Installed with training and the merge, the engine starts once its files are on the storage
    rather than crash-looping (found running the chart on a real kubelet)."""
    spec = inference_deploy(render(inference("vllm", modelSource=source, **extra)))["spec"]["template"]["spec"]
    (wait,) = spec["initContainers"]
    assert wait["name"] == "wait-for-model" and wait["image"] == spec["containers"][0]["image"]
    assert env_of(wait)["MODEL_FILES"]["value"].split() == files
    assert wait["volumeMounts"] == [{"name": "storage", "mountPath": "/storage", "readOnly": True}]
