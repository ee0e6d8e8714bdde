"""Breadth contracts on the rendered manifests: every serving engine, model source and
API-key mode, replicas/PDB/HPA, the router, exposure, every training stage (EasyR1's
included), multi-GPU and multi-node training, and the managed-platform seed's (003)
lessons as named tests. A handful of representative combinations must also render
identically with Helm 4 and Helm 3.

test_manifest_contracts.py holds the narrower contracts (component switches, GPU
placement, secret hygiene for MLflow, names, checksums, labels); these tests do not
repeat them.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any, Callable
from unittest import mock

import pytest
import yaml

from lfk8s import chart as chart_mod
from lfk8s.chart import Rendered, containers, pod_specs
from lfk8s.helm import Helm, HelmError
from lfk8s.paths import ProjectPaths
from lfk8s.values import deep_merge
from tests.helpers import cmdline, flag

RenderFn = Callable[..., Rendered]
Obj = dict[str, Any]

CONFIG_MOUNT = "/etc/llama-factory"
GPU_RESOURCE = "nvidia.com/gpu"
SERVICE_NAME = "llm-inference"
SERVICE_PORT = 8000
ENGINES = ("vllm", "sglang", "llamafactory")
GPU_ENGINES = ("vllm", "sglang")
CONTAINER_PORT = {"vllm": 8000, "sglang": 30000, "llamafactory": 8000}
API_KEY_ENV = {"vllm": "VLLM_API_KEY", "sglang": "SGLANG_API_KEY", "llamafactory": "API_KEY"}
# Engine-neutral value -> (vLLM flag, SGLang flag).
NEUTRAL_FLAGS = {
    "maxModelLen": {"vllm": "--max-model-len", "sglang": "--context-length"},
    "tensorParallelSize": {"vllm": "--tensor-parallel-size", "sglang": "--tp-size"},
    "gpuMemoryUtilization": {"vllm": "--gpu-memory-utilization", "sglang": "--mem-fraction-static"},
}
LF_STAGES = ("pt", "sft", "rm", "ppo", "dpo", "kto")
EASYR1_STAGES = ("grpo", "dapo")
ALPACA_PAIR_COLUMNS = {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"}
MLFLOW = {"trackingUri": "http://mlflow.mlflow.svc:5000"}
JOB_INDEX_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
JOB_NAME_FIELD = "metadata.labels['batch.kubernetes.io/job-name']"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
ENV_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
RELEASE_53 = "r" + "x" * 51 + "z"


# ---------------------------------------------------------------- helpers


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


def dataset_info(rendered: Rendered) -> dict[str, Any]:
    return json.loads(config_data(rendered)["dataset_info.json"])


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


# ---------------------------------------------------------------- 1. engines


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
    helm.lint(paths.chart, values, chart_mod.DEFAULT_NAMESPACE)
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


# ---------------------------------------------------------------- 2. model sources


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


# ---------------------------------------------------------------- 3. API key


def key_values(engine: str, release_secret: str = "", key: str = "api-key", **extra: Any) -> dict[str, Any]:
    """Inference with the API key on (generated unless release_secret is given)."""
    api_key: dict[str, Any] = {"enabled": True}
    if release_secret:
        api_key.update(existingSecret=release_secret, existingSecretKey=key)
    return inference(engine, apiKey=api_key, **extra)


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


# ---------------------------------------------------------------- 4. replicas, PDB, HPA


def test_single_replica_has_no_pdb(render: RenderFn) -> None:
    """replicas 1: one replica, no PodDisruptionBudget."""
    rendered = render(inference("vllm", replicas=1))
    assert inference_deploy(rendered)["spec"]["replicas"] == 1
    assert rendered.of_kind("PodDisruptionBudget") == []


@pytest.mark.parametrize("router", [False, True])
def test_three_replicas_get_pdb_on_inference_pods(render: RenderFn, router: bool) -> None:
    """replicas 3: a policy/v1 PDB with maxUnavailable 1 selecting the inference pods (never the router)."""
    rendered = render(inference("vllm", replicas=3, router={"enabled": router}))
    deploy = inference_deploy(rendered)
    assert deploy["spec"]["replicas"] == 3
    pdb = rendered.get("PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in pdb["spec"]
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert selects(selector, pod_labels(deploy))
    if router:
        assert not selects(selector, pod_labels(router_deploy(rendered)))


def test_autoscaling_renders_hpa_and_drops_replicas(render: RenderFn) -> None:
    """autoscaling: an autoscaling/v2 HPA on the inference Deployment; the Deployment leaves replicas to it."""
    rendered = render(inference("vllm", replicas=1, autoscaling={
        "enabled": True, "minReplicas": 2, "maxReplicas": 6, "targetCPUUtilizationPercentage": 65}))
    deploy = inference_deploy(rendered)
    assert "replicas" not in deploy["spec"]
    hpa = rendered.get("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deploy["metadata"]["name"]}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 65}}}]
    assert selects(rendered.get("PodDisruptionBudget")["spec"]["selector"]["matchLabels"], pod_labels(deploy))


@pytest.mark.parametrize(("min_replicas", "replicas", "pdb"), [(1, 5, False), (2, 1, True), (3, 3, True)])
def test_autoscaling_pdb_follows_min_replicas(render: RenderFn, min_replicas: int, replicas: int, pdb: bool) -> None:
    """With autoscaling the PDB exists when minReplicas > 1, whatever `replicas` says."""
    rendered = render(inference("vllm", replicas=replicas,
                                autoscaling={"enabled": True, "minReplicas": min_replicas, "maxReplicas": 8}))
    assert len(rendered.of_kind("PodDisruptionBudget")) == int(pdb)


def test_autoscaling_custom_metrics_replace_cpu(render: RenderFn) -> None:
    """autoscaling.metrics is the HPA's whole metrics list; the CPU target is gone."""
    metrics = [{"type": "Pods", "pods": {"metric": {"name": "vllm:num_requests_waiting"},
                                         "target": {"type": "AverageValue", "averageValue": "5"}}}]
    rendered = render(inference("vllm", autoscaling={"enabled": True, "maxReplicas": 4, "metrics": metrics}))
    hpa = rendered.get("HorizontalPodAutoscaler")
    assert hpa["spec"]["metrics"] == metrics


def test_hpa_off_renders_none(render: RenderFn) -> None:
    """autoscaling off: no HorizontalPodAutoscaler."""
    assert render(inference("vllm", replicas=3)).of_kind("HorizontalPodAutoscaler") == []


@pytest.mark.parametrize(("engine", "extra"), [
    ("llamafactory", {}),
    ("vllm", {"replicas": 3}),
    ("sglang", {"autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 4}}),
    ("vllm", {"replicas": 2, "router": {"enabled": True}}),
])
def test_rolling_update_never_drops_a_replica(render: RenderFn, engine: str, extra: dict[str, Any]) -> None:
    """Inference (and router) Deployments roll with maxUnavailable 0."""
    rendered = render(inference(engine, **extra))
    deployments = [d for d in rendered.of_kind("Deployment") if component(d) in ("inference", "router")]
    assert len(deployments) == 1 + int(bool(extra.get("router")))
    for deploy in deployments:
        assert deploy["spec"]["strategy"]["type"] == "RollingUpdate"
        assert deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, deploy["metadata"]["name"]


# ---------------------------------------------------------------- 5. router


def router_values(engine: str = "vllm", api_key: dict[str, Any] | None = None, **router: Any) -> dict[str, Any]:
    return inference(engine, replicas=2, router={"enabled": True, **router}, apiKey=api_key or {"enabled": False})


def parse_selector(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(","))


@pytest.mark.parametrize("engine", GPU_ENGINES)
def test_router_discovers_engine_pods(render: RenderFn, engine: str) -> None:
    """vllm-router discovers the release's inference pods through Kubernetes on the engine's port."""
    rendered = render(router_values(engine), release="chat-prod", namespace="llm-serve")
    c = router_container(rendered)
    argv = cmdline(c)
    assert argv[0] == "vllm-router"
    assert flag(argv, "--service-discovery") == "k8s"
    selector_text = flag(argv, "--k8s-label-selector")
    assert selector_text == "app.kubernetes.io/instance=chat-prod,app.kubernetes.io/component=inference"
    selector = parse_selector(selector_text)
    assert selects(selector, pod_labels(inference_deploy(rendered)))
    assert not selects(selector, pod_labels(router_deploy(rendered)))
    assert flag(argv, "--k8s-namespace") == "llm-serve"
    assert int(flag(argv, "--k8s-port")) == CONTAINER_PORT[engine]
    assert int(flag(argv, "--k8s-port")) == inference_container(rendered)["ports"][0]["containerPort"]


@pytest.mark.parametrize("logic", ["roundrobin", "session", "prefixaware"])
def test_router_routing_logic(render: RenderFn, logic: str) -> None:
    """--routing-logic follows the value; --session-key only for session routing."""
    argv = cmdline(router_container(render(router_values(routingLogic=logic, sessionKey="x-tenant"))))
    assert flag(argv, "--routing-logic") == logic
    if logic == "session":
        assert flag(argv, "--session-key") == "x-tenant"
    else:
        assert not has_flag(argv, "--session-key")


def test_service_fronts_router_when_enabled(render: RenderFn) -> None:
    """With the router llm-inference selects the router pods (port http), not the engines."""
    rendered = render(router_values())
    svc = rendered.get("Service", name=SERVICE_NAME)
    selector = svc["spec"]["selector"]
    assert selector["app.kubernetes.io/component"] == "router"
    assert selects(selector, pod_labels(router_deploy(rendered)))
    assert not selects(selector, pod_labels(inference_deploy(rendered)))
    assert [p["name"] for p in router_container(rendered)["ports"]] == ["http"]
    assert svc["spec"]["ports"][0]["port"] == SERVICE_PORT


def test_router_disabled_renders_no_router_objects(render: RenderFn) -> None:
    """Router off: no router Deployment, ServiceAccount, Role or RoleBinding."""
    rendered = render(inference("vllm", replicas=2))
    assert [o["kind"] for o in rendered.objects if component(o) == "router"] == []
    assert rendered.of_kind("Role") == [] and rendered.of_kind("RoleBinding") == []


def test_only_the_router_mounts_a_token(render: RenderFn, all_on: dict[str, Any]) -> None:
    """The router's own ServiceAccount mounts a token; every other pod keeps automount false."""
    rendered = render(deep_merge(all_on, {"inference": {"replicas": 2, "router": {"enabled": True}}}))
    router_sa = rendered.get("ServiceAccount", component="router")
    assert router_sa["automountServiceAccountToken"] is True
    others = [sa for sa in rendered.of_kind("ServiceAccount") if sa is not router_sa]
    assert others and all(sa["automountServiceAccountToken"] is False for sa in others)
    seen = set()
    for obj, spec in pod_specs(rendered):
        seen.add(component(obj))
        if component(obj) == "router":
            assert spec["serviceAccountName"] == router_sa["metadata"]["name"]
            assert spec["automountServiceAccountToken"] is True
        else:
            assert spec["automountServiceAccountToken"] is False, obj["metadata"]["name"]
            assert spec["serviceAccountName"] != router_sa["metadata"]["name"], obj["metadata"]["name"]
    assert {"router", "inference", "training", "merge", "webui"} <= seen


def test_router_rbac_is_minimal(render: RenderFn) -> None:
    """The Role allows pods get/list/watch/patch only; its RoleBinding binds the router's ServiceAccount."""
    rendered = render(router_values(), namespace="llm-serve")
    sa = rendered.get("ServiceAccount", component="router")
    role = rendered.get("Role")
    assert len(role["rules"]) == 1
    rule = role["rules"][0]
    assert rule["apiGroups"] == [""]
    assert rule["resources"] == ["pods"]
    assert sorted(rule["verbs"]) == ["get", "list", "patch", "watch"]
    assert set(rule) <= {"apiGroups", "resources", "verbs"}
    binding = rendered.get("RoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "llm-serve"}]
    assert rendered.of_kind("ClusterRole") == [] and rendered.of_kind("ClusterRoleBinding") == []


@pytest.mark.parametrize("engine", GPU_ENGINES)
@pytest.mark.parametrize("existing", [False, True])
def test_router_shares_engine_api_key(render: RenderFn, engine: str, existing: bool) -> None:
    """With apiKey the router reads VLLM_API_KEY from the same Secret and key as the engine."""
    api_key: dict[str, Any] = {"enabled": True}
    if existing:
        api_key.update(existingSecret="team-llm-keys", existingSecretKey="openai-key")
    rendered = render(router_values(engine, api_key=api_key))
    engine_ref = secret_ref(inference_container(rendered), API_KEY_ENV[engine])
    assert secret_ref(router_container(rendered), "VLLM_API_KEY") == engine_ref
    if existing:
        assert engine_ref == {"name": "team-llm-keys", "key": "openai-key"}


def test_router_without_api_key_has_no_key_env(render: RenderFn) -> None:
    """apiKey off: the router gets no VLLM_API_KEY."""
    assert "VLLM_API_KEY" not in env_of(router_container(render(router_values())))


# ---------------------------------------------------------------- 6. exposure


@pytest.mark.parametrize("path", ["/", "/llm"])
def test_ingress(render: RenderFn, path: str) -> None:
    """ingress: className, annotations, tls and host as given; path Prefix to llm-inference:8000."""
    annotations = {"nginx.ingress.kubernetes.io/proxy-read-timeout": "600"}
    tls = [{"secretName": "llm-tls", "hosts": ["llm.example.com"]}]
    rendered = render(inference("vllm", ingress={"enabled": True, "className": "nginx", "annotations": annotations,
                                                 "tls": tls, "host": "llm.example.com", "path": path}))
    ing = rendered.get("Ingress")
    assert ing["apiVersion"] == "networking.k8s.io/v1"
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert annotations.items() <= (ing["metadata"].get("annotations") or {}).items()
    assert ing["spec"]["tls"] == tls
    [rule] = ing["spec"]["rules"]
    assert rule["host"] == "llm.example.com"
    [route] = rule["http"]["paths"]
    assert (route["path"], route["pathType"]) == (path, "Prefix")
    assert route["backend"] == {"service": {"name": SERVICE_NAME, "port": {"number": SERVICE_PORT}}}
    assert rendered.get("Service", name=SERVICE_NAME)


def test_ingress_off_renders_none(render: RenderFn) -> None:
    """ingress and httpRoute off (the defaults): neither object."""
    rendered = render(inference("vllm"))
    assert rendered.of_kind("Ingress") == [] and rendered.of_kind("HTTPRoute") == []


def test_http_route(render: RenderFn) -> None:
    """httpRoute: a gateway.networking.k8s.io/v1 HTTPRoute with the parentRefs/hostnames, backend llm-inference:8000."""
    parents = [{"name": "public-gw", "namespace": "gateway-system", "sectionName": "https"}]
    rendered = render(inference("sglang", httpRoute={"enabled": True, "parentRefs": parents,
                                                     "hostnames": ["llm.example.com"]}))
    route = rendered.get("HTTPRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == parents
    assert route["spec"]["hostnames"] == ["llm.example.com"]
    backends = [b for rule in route["spec"]["rules"] for b in rule["backendRefs"]]
    assert [(b["name"], b["port"]) for b in backends] == [(SERVICE_NAME, SERVICE_PORT)]


def test_http_route_needs_a_gateway(render: RenderFn) -> None:
    """httpRoute without parentRefs is refused by the chart's checks."""
    with pytest.raises(HelmError, match="parentRefs"):
        render(inference("vllm", httpRoute={"enabled": True}))


@pytest.mark.parametrize("service_type", ["NodePort", "LoadBalancer"])
def test_service_type_is_honoured(render: RenderFn, service_type: str) -> None:
    """inference.service.type sets the Service type; the port stays 8000."""
    svc = render(inference("vllm", service={"type": service_type})).get("Service", name=SERVICE_NAME)
    assert svc["spec"]["type"] == service_type
    assert svc["spec"]["ports"][0]["port"] == SERVICE_PORT


# ---------------------------------------------------------------- 7. training stages


@pytest.mark.parametrize("stage", LF_STAGES)
def test_train_yaml_stage(render: RenderFn, stage: str) -> None:
    """train.yaml's stage is training.stage, run by `llamafactory-cli train` without an easyr1.yaml."""
    rendered = render(training(stage))
    assert config_file(rendered, "train.yaml")["stage"] == stage
    assert cmdline(train_container(rendered)) == ["llamafactory-cli", "train", f"{CONFIG_MOUNT}/train.yaml"]
    assert "easyr1.yaml" not in config_data(rendered)


@pytest.mark.parametrize("stage", ["rm", "dpo"])
def test_pairwise_stages_register_ranked_datasets(render: RenderFn, stage: str) -> None:
    """rm/dpo: each dataset is ranking true with alpaca's prompt/query/chosen/rejected columns."""
    info = dataset_info(render(training(stage)))
    entry = info["local_alpaca"]
    assert entry["ranking"] is True
    assert entry["columns"] == ALPACA_PAIR_COLUMNS


@pytest.mark.parametrize(("stage", "given", "expected"), [
    ("dpo", {"chosen": "better", "prompt": "question"},
     {**ALPACA_PAIR_COLUMNS, "chosen": "better", "prompt": "question"}),
    ("rm", {"rejected": "worse"}, {**ALPACA_PAIR_COLUMNS, "rejected": "worse"}),
    ("pt", {"prompt": "body"}, {"prompt": "body"}),
    ("kto", {"kto_tag": "label"}, None),
])
def test_user_columns_win_over_stage_defaults(render: RenderFn, stage: str, given: dict[str, str],
                                              expected: dict[str, str] | None) -> None:
    """Columns the user gives replace the stage's default for that column; the other defaults stay."""
    values = training(stage, datasets=[{"name": "mine", "fileName": "mine.json", "columns": given}])
    columns = dataset_info(render(values))["mine"]["columns"]
    assert given.items() <= columns.items()
    if expected is not None:
        assert columns == expected


def test_kto_dataset_gets_kto_tag(render: RenderFn) -> None:
    """kto: the dataset maps kto_tag (and is not pairwise)."""
    entry = dataset_info(render(training("kto")))["local_alpaca"]
    assert entry["columns"]["kto_tag"] == "kto_tag"
    assert "chosen" not in entry["columns"] and "rejected" not in entry["columns"]
    assert not entry.get("ranking", False)


def test_pt_dataset_reads_raw_text(render: RenderFn) -> None:
    """pt: the dataset's prompt column is `text`."""
    entry = dataset_info(render(training("pt")))["local_alpaca"]
    assert entry["columns"] == {"prompt": "text"}
    assert not entry.get("ranking", False)


def test_ppo_reward_model(render: RenderFn) -> None:
    """ppo: train.yaml has reward_model and reward_model_type from the values."""
    rendered = render(training("ppo", rewardModel="/storage/models/rm-v2", rewardModelType="full"))
    cfg = config_file(rendered, "train.yaml")
    assert cfg["reward_model"] == "/storage/models/rm-v2"
    assert cfg["reward_model_type"] == "full"


@pytest.mark.parametrize("stage", LF_STAGES)
def test_preference_keys_per_stage(render: RenderFn, stage: str) -> None:
    """dpo gets pref_beta and pref_loss, kto pref_beta only, others neither; only ppo gets reward keys."""
    cfg = config_file(render(training(stage, preference={"beta": 0.25, "loss": "simpo"})), "train.yaml")
    if stage in ("dpo", "kto"):
        assert cfg["pref_beta"] == pytest.approx(0.25)
    else:
        assert "pref_beta" not in cfg
    if stage == "dpo":
        assert cfg["pref_loss"] == "simpo"
    else:
        assert "pref_loss" not in cfg
    assert ("reward_model" in cfg) is (stage == "ppo")


# ---------------------------------------------------------------- 8. EasyR1


@pytest.mark.parametrize("stage", EASYR1_STAGES)
def test_easyr1_container(render: RenderFn, stage: str) -> None:
    """grpo/dapo run verl.trainer.main on easyr1.yaml in images.easyr1, without torchrun variables."""
    image = {"repository": "registry.example/easyr1", "tag": "0.3.2-rc1"}
    rendered = render(deep_merge(easyr1(stage, gpus=4), {"images": {"easyr1": image}}))
    c = train_container(rendered)
    assert cmdline(c) == ["python3", "-m", "verl.trainer.main", f"config={CONFIG_MOUNT}/easyr1.yaml"]
    assert c["image"] == image_ref(image)
    assert {"FORCE_TORCHRUN", "NPROC_PER_NODE"} & set(env_names(c)) == set()
    assert "easyr1.yaml" in config_data(rendered)


@pytest.mark.parametrize("stage", EASYR1_STAGES)
@pytest.mark.parametrize("gpus", [1, 4])
def test_easyr1_config(render: RenderFn, stage: str, gpus: int) -> None:
    """easyr1.yaml: GRPO advantages (dapo adds no-KL, online filtering, clip 0.28), data, run name, GPUs."""
    cfg = config_file(render(easyr1(stage, gpus=gpus)), "easyr1.yaml")
    algorithm = cfg["algorithm"]
    actor = cfg["worker"]["actor"]
    assert algorithm["adv_estimator"] == "grpo"
    if stage == "dapo":
        assert algorithm["disable_kl"] is True
        assert algorithm["online_filtering"] is True
        assert actor["clip_ratio_high"] == pytest.approx(0.28)
    else:
        assert not algorithm.get("disable_kl", False)
        assert not algorithm.get("online_filtering", False)
        assert "clip_ratio_high" not in actor
    assert cfg["data"]["train_files"] == "/storage/rl-data/math/train.parquet"
    assert cfg["trainer"]["experiment_name"] == "rl-math-7"
    assert cfg["trainer"]["n_gpus_per_node"] == gpus


@pytest.mark.parametrize(("report_to", "mlflow"), [("mlflow", True), ("none", False), ("tensorboard", False)])
def test_easyr1_logger_follows_report_to(render: RenderFn, report_to: str, mlflow: bool) -> None:
    """trainer.logger includes mlflow exactly when reportTo is mlflow."""
    cfg = config_file(render(easyr1("grpo", reportTo=report_to)), "easyr1.yaml")
    assert ("mlflow" in cfg["trainer"]["logger"]) is mlflow


@pytest.mark.parametrize("stage", EASYR1_STAGES)
def test_easyr1_refuses_lora(render: RenderFn, stage: str) -> None:
    """EasyR1 stages need finetuningType full (the chart's checks say so)."""
    with pytest.raises(HelmError, match="finetuningType"):
        render(training(stage, finetuningType="lora"))


# ---------------------------------------------------------------- 9. multi-GPU


def test_multi_gpu_forces_torchrun(render: RenderFn) -> None:
    """gpus 4: FORCE_TORCHRUN "1" and NPROC_PER_NODE "4"."""
    env = env_of(train_container(render(training("sft", gpus=4))))
    assert env["FORCE_TORCHRUN"]["value"] == "1"
    assert env["NPROC_PER_NODE"]["value"] == "4"


def test_single_gpu_runs_without_torchrun(render: RenderFn) -> None:
    """gpus 1 without DeepSpeed: no FORCE_TORCHRUN, no deepspeed key."""
    rendered = render(training("sft", gpus=1))
    assert "FORCE_TORCHRUN" not in env_of(train_container(rendered))
    assert "deepspeed" not in config_file(rendered, "train.yaml")


@pytest.mark.parametrize("zero", ["z2", "z3"])
def test_deepspeed_on_one_gpu_forces_torchrun(render: RenderFn, zero: str) -> None:
    """DeepSpeed on 1 GPU: FORCE_TORCHRUN "1" and train.yaml's deepspeed names a file the ConfigMap ships."""
    rendered = render(training("sft", gpus=1, deepspeed=zero))
    env = env_of(train_container(rendered))
    assert env["FORCE_TORCHRUN"]["value"] == "1"
    assert env["NPROC_PER_NODE"]["value"] == "1"
    path = config_file(rendered, "train.yaml")["deepspeed"]
    assert path == f"{CONFIG_MOUNT}/ds_{zero}.json"
    assert path.rsplit("/", 1)[1] in config_data(rendered)


@pytest.mark.parametrize(("key", "stage"), [("ds_z2.json", 2), ("ds_z3.json", 3)])
def test_deepspeed_configs_are_json(render: RenderFn, key: str, stage: int) -> None:
    """ds_z2.json / ds_z3.json parse as JSON with zero_optimization.stage 2 / 3."""
    config = json.loads(config_data(render({}))[key])
    assert config["zero_optimization"]["stage"] == stage


# ---------------------------------------------------------------- 10. multi-node


MASTER_PORT = 29611


@pytest.fixture()
def multinode(render: RenderFn) -> Rendered:
    """Three nodes of eight GPUs each, on a non-default rendezvous port."""
    return render(training("sft", nodes=3, gpus=8, masterPort=MASTER_PORT))


def rendezvous_service(rendered: Rendered) -> Obj:
    found = [s for s in rendered.of_kind("Service") if component(s) == "training"]
    assert len(found) == 1
    return found[0]


def test_multinode_job_is_indexed(multinode: Rendered) -> None:
    """nodes 3: an Indexed Job with completions and parallelism 3."""
    spec = training_job(multinode)["spec"]
    assert spec["completionMode"] == "Indexed"
    assert (spec["completions"], spec["parallelism"]) == (3, 3)


def test_multinode_rendezvous_service(multinode: Rendered) -> None:
    """A headless Service, publishing unready pods, names the pods' subdomain and listens on masterPort."""
    svc = rendezvous_service(multinode)
    job = training_job(multinode)
    assert pod_spec(job)["subdomain"] == svc["metadata"]["name"]
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["publishNotReadyAddresses"] is True
    assert selects(svc["spec"]["selector"], pod_labels(job))
    [port] = svc["spec"]["ports"]
    assert port["port"] == MASTER_PORT
    target = port.get("targetPort", MASTER_PORT)
    container_ports = {p.get("name"): p["containerPort"] for p in train_container(multinode).get("ports") or []}
    assert (target if isinstance(target, int) else container_ports[target]) == MASTER_PORT


def test_multinode_rank_env(multinode: Rendered) -> None:
    """The train container knows the node count, its rank, and rank 0's address and port."""
    c = train_container(multinode)
    env = env_of(c)
    order = env_names(c)
    assert len(order) == len(set(order)), "duplicate env names"
    assert env["NNODES"]["value"] == "3"
    assert env["NPROC_PER_NODE"]["value"] == "8"
    assert env["FORCE_TORCHRUN"]["value"] == "1"
    assert env["NODE_RANK"]["valueFrom"]["fieldRef"]["fieldPath"] == JOB_INDEX_FIELD
    assert env["JOB_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == JOB_NAME_FIELD
    assert env["RENDEZVOUS"]["value"] == rendezvous_service(multinode)["metadata"]["name"]
    assert env["MASTER_ADDR"]["value"] == "$(JOB_NAME)-0.$(RENDEZVOUS)"
    assert order.index("MASTER_ADDR") > order.index("JOB_NAME")
    assert order.index("MASTER_ADDR") > order.index("RENDEZVOUS")
    assert env["MASTER_PORT"]["value"] == str(MASTER_PORT)


def test_multinode_waits_for_peers(multinode: Rendered) -> None:
    """An init container wait-for-peers runs before training with the rank variables it needs."""
    spec = pod_spec(training_job(multinode))
    assert [c["name"] for c in spec.get("initContainers") or []] == ["wait-for-peers"]
    env = env_of(spec["initContainers"][0])
    assert env["NNODES"]["value"] == "3"
    assert env["RENDEZVOUS"]["value"] == rendezvous_service(multinode)["metadata"]["name"]
    assert env["JOB_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == JOB_NAME_FIELD


def test_multinode_pod_failure_policy(multinode: Rendered) -> None:
    """Disruptions are ignored (checked first); any non-zero exit of `train` fails the whole Job."""
    spec = training_job(multinode)["spec"]
    assert pod_spec(training_job(multinode))["restartPolicy"] == "Never"
    rules = spec["podFailurePolicy"]["rules"]
    ignore = [i for i, r in enumerate(rules) if r["action"] == "Ignore"
              and {"type": "DisruptionTarget"} in [{"type": c["type"]} for c in r.get("onPodConditions") or []]]
    fail = [i for i, r in enumerate(rules) if r["action"] == "FailJob" and r.get("onExitCodes") == {
        "containerName": "train", "operator": "NotIn", "values": [0]}]
    assert len(ignore) == 1 and len(fail) == 1, rules
    assert ignore[0] < fail[0], "a disrupted pod must be ignored before its exit code fails the Job"


def test_multinode_network_policy_connects_ranks(multinode: Rendered) -> None:
    """A NetworkPolicy admits training pods from training pods, on any port."""
    job = training_job(multinode)
    policies = [p for p in multinode.of_kind("NetworkPolicy")
                if selects(p["spec"]["podSelector"].get("matchLabels") or {}, pod_labels(job))
                and component(p) == "training"]
    assert len(policies) == 1
    spec = policies[0]["spec"]
    assert "Ingress" in spec["policyTypes"]
    peer_rules = [r for r in spec["ingress"]
                  if any(selects((f.get("podSelector") or {}).get("matchLabels") or {}, pod_labels(job))
                         for f in r.get("from") or [])]
    assert peer_rules and all("ports" not in r for r in peer_rules)


def test_single_node_has_no_multinode_parts(render: RenderFn) -> None:
    """nodes 1: no Indexed Job, subdomain, rendezvous Service, peer NetworkPolicy, init container or rank env."""
    rendered = render(training("sft", nodes=1, gpus=8))
    job = training_job(rendered)
    assert job["spec"].get("completionMode", "NonIndexed") == "NonIndexed"
    assert job["spec"].get("completions", 1) == 1
    assert "subdomain" not in pod_spec(job)
    assert not pod_spec(job).get("initContainers")
    assert [s for s in rendered.of_kind("Service") if component(s) == "training"] == []
    assert [p for p in rendered.of_kind("NetworkPolicy") if component(p) == "training"] == []
    assert {"NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"} & set(env_names(train_container(rendered))) == set()


@pytest.mark.parametrize("values", [
    training("sft", nodes=3, gpus=8),
    deep_merge(key_values("sglang"), training("sft", nodes=2, gpus=1)),
    deep_merge(router_values("sglang", api_key={"enabled": True}), training("dpo", gpus=2, deepspeed="z3")),
], ids=["multinode", "sglang-key-multinode", "sglang-router-key-deepspeed"])
def test_env_references_are_defined_earlier(render: RenderFn, values: dict[str, Any]) -> None:
    """Every $(VAR) in an env value names an earlier variable; in args, one the container defines."""
    rendered = render(values)
    checked = 0
    for obj, spec in pod_specs(rendered):
        for c in containers(spec):
            defined: list[str] = []
            for e in c.get("env") or []:
                for ref in ENV_REF.findall(str(e.get("value", ""))):
                    assert ref in defined, (obj["metadata"]["name"], c["name"], e["name"], ref)
                    checked += 1
                defined.append(e["name"])
            if obj["kind"] == "Deployment":
                for arg in cmdline(c):
                    for ref in ENV_REF.findall(arg):
                        assert ref in defined, (obj["metadata"]["name"], c["name"], arg)
                        checked += 1
    assert checked >= 1


# ---------------------------------------------------------------- 11. seed-003 lessons


def lesson_everything_on(all_on: dict[str, Any]) -> dict[str, Any]:
    """All components with router, multi-node training, ingress, HTTPRoute, API key, PDB and HPA."""
    return deep_merge(all_on, {
        "training": {"nodes": 3, "gpus": 8},
        "inference": {"replicas": 2, "router": {"enabled": True}, "apiKey": {"enabled": True},
                      "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 4},
                      "ingress": {"enabled": True, "host": "llm.example.com"},
                      "httpRoute": {"enabled": True, "parentRefs": [{"name": "gw"}]}},
    })


@pytest.mark.parametrize("release", [RELEASE_53, "llama-factory-" + "y" * 39])
def test_lesson_names_over_63_chars_break_services_labels_and_dns(render: RenderFn, all_on: dict[str, Any],
                                                                   release: str) -> None:
    """A 53-char release with router, multi-node and ingress on: every name, hostname and label fits 63."""
    assert len(release) == 53
    rendered = render(lesson_everything_on(all_on), release=release)
    kinds = {o["kind"] for o in rendered.objects}
    assert {"Role", "RoleBinding", "Ingress", "HTTPRoute", "HorizontalPodAutoscaler",
            "PodDisruptionBudget"} <= kinds
    for obj in rendered.objects:
        name = obj["metadata"]["name"]
        assert len(name) <= 63 and DNS_LABEL.match(name), name
        labels = dict(obj["metadata"].get("labels") or {})
        if obj["kind"] in ("Deployment", "Job"):
            labels.update(pod_labels(obj))
        for key, value in labels.items():
            assert len(str(value)) <= 63, (name, key, value)
    job = training_job(rendered)
    subdomain = pod_spec(job)["subdomain"]
    for rank in range(3):
        hostname = f"{job['metadata']['name']}-{rank}"
        assert len(hostname) <= 63 and DNS_LABEL.match(hostname), hostname
    assert len(subdomain) <= 63 and DNS_LABEL.match(subdomain)
    assert env_of(train_container(rendered))["RENDEZVOUS"]["value"] == subdomain
    for value in parse_selector(flag(cmdline(router_container(rendered)), "--k8s-label-selector")).values():
        assert len(value) <= 63, value
    keys = [(o["kind"], o["metadata"]["name"]) for o in rendered.objects]
    assert len(keys) == len(set(keys)), "two objects of one kind share a truncated name"
    # Every reference still points at an object that exists after truncation.
    names = {(o["kind"], o["metadata"]["name"]) for o in rendered.objects}
    assert ("Service", subdomain) in names
    assert ("ServiceAccount", pod_spec(router_deploy(rendered))["serviceAccountName"]) in names
    ref = secret_ref(inference_container(rendered), "VLLM_API_KEY")
    assert ("Secret", ref["name"]) in names
    assert ("Deployment", rendered.get("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"]) in names


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("api_key", [False, True])
def test_lesson_one_second_readiness_timeout_marks_busy_servers_not_ready(render: RenderFn, engine: str,
                                                                            api_key: bool) -> None:
    """Readiness waits >= 5 s for every engine (with or without a key) and for the router."""
    rendered = render(router_values(engine, api_key={"enabled": api_key}))
    assert inference_container(rendered)["readinessProbe"]["timeoutSeconds"] >= 5
    assert router_container(rendered)["readinessProbe"]["timeoutSeconds"] >= 5


def test_lesson_readiness_timeout_below_5_is_refused(render: RenderFn) -> None:
    """inference.readinessProbe.timeoutSeconds 1 does not render."""
    with pytest.raises(HelmError):
        render(inference("vllm", readinessProbe={"timeoutSeconds": 1}))


@pytest.mark.parametrize("engine", GPU_ENGINES)
@pytest.mark.parametrize("source", ["merged", "base", "lora"])
def test_lesson_without_served_model_name_router_and_clients_disagree(render: RenderFn, engine: str,
                                                                       source: str) -> None:
    """--served-model-name is servedModelName for vLLM and SGLang in every model source."""
    rendered = render(inference(engine, modelSource=source, servedModelName="team/chat-v3"))
    assert flag(cmdline(inference_container(rendered)), "--served-model-name") == "team/chat-v3"


@pytest.mark.parametrize("router", [False, True])
def test_lesson_sglang_port_30000_behind_stable_service_port_8000(render: RenderFn, router: bool) -> None:
    """SGLang listens on 30000; the Service, Ingress, HTTPRoute and test pods use 8000."""
    rendered = render(inference("sglang", replicas=2, router={"enabled": router},
                                ingress={"enabled": True},
                                httpRoute={"enabled": True, "parentRefs": [{"name": "gw"}]}))
    c = inference_container(rendered)
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 30000}
    assert int(flag(cmdline(c), "--port")) == 30000
    svc = rendered.get("Service", name=SERVICE_NAME)
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(SERVICE_PORT, "http")]
    ingress_port = rendered.get("Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]
    assert ingress_port == {"number": SERVICE_PORT}
    assert rendered.get("HTTPRoute")["spec"]["rules"][0]["backendRefs"][0]["port"] == SERVICE_PORT
    test_scripts = [" ".join(cmdline(pod["spec"]["containers"][0])) for pod in rendered.of_kind("Pod")]
    test_scripts = [script for script in test_scripts if SERVICE_NAME in script]
    assert test_scripts, "no helm test pod calls the Service"
    for script in test_scripts:
        assert f"{SERVICE_NAME}." in script and f":{SERVICE_PORT}/" in script and ":30000" not in script
    if router:
        assert int(flag(cmdline(router_container(rendered)), "--k8s-port")) == 30000


# ---------------------------------------------------------------- Helm 4 and Helm 3


PARITY_CASES = {
    "llamafactory-cpu-lora-key": deep_merge(inference("llamafactory", gpus=0, modelSource="lora",
                                                      apiKey={"enabled": True}), {}),
    "sglang-router-session-existing-key": router_values(
        "sglang", api_key={"enabled": True, "existingSecret": "team-keys", "existingSecretKey": "k"},
        routingLogic="session"),
    "vllm-hpa-ingress-httproute": inference(
        "vllm", modelSource="lora", autoscaling={"enabled": True, "minReplicas": 2, "maxReplicas": 5},
        ingress={"enabled": True, "className": "nginx", "host": "llm.example.com"},
        httpRoute={"enabled": True, "parentRefs": [{"name": "gw"}], "hostnames": ["llm.example.com"]},
        service={"type": "NodePort"}),
    "multinode-sft": training("sft", nodes=3, gpus=8, reportTo="mlflow"),
    "dpo-deepspeed-columns": training("dpo", gpus=1, deepspeed="z3",
                                      datasets=[{"name": "prefs", "fileName": "p.json", "columns": {"chosen": "c"}}]),
    "dapo-mlflow": easyr1("dapo", gpus=2, reportTo="mlflow"),
    "ppo": training("ppo", rewardModelType="full"),
}


@pytest.mark.parametrize("case", sorted(PARITY_CASES))
def test_helm4_and_helm3_render_identically(helm: Helm, helm3: Helm, paths: ProjectPaths, case: str) -> None:
    """The same values give the same objects with Helm 4 and Helm 3 (generated API keys masked)."""
    values = PARITY_CASES[case]
    four = chart_mod.render(helm, paths, values)
    three = chart_mod.render(helm3, paths, values)
    assert any(o["kind"] in ("Deployment", "Job") for o in four.objects)
    assert four.comparable() == three.comparable()
