"""Invariants of the rendered manifests of the llama-factory chart.

Each test renders the chart with `helm template` (Helm 4) and asserts concrete values the
chart promises: which objects each switch renders, the engine command lines, GPU placement,
the generated LLaMA-Factory files, secret hygiene, security defaults, name lengths, stable
names and checksums, and the standard labels.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from lfk8s.chart.helm import Helm
from lfk8s.chart.rendering import Rendered, containers, pod_specs
from lfk8s.chart.values import deep_merge
from lfk8s.paths import ProjectPaths
from tests.helpers import cmdline, flag

RenderFn = Callable[..., Rendered]
Obj = dict[str, Any]

CONFIG_MOUNT = "/etc/llama-factory"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_NODE_SELECTOR = {"nvidia.com/gpu": "true"}
BASE_KINDS = ["ConfigMap", "NetworkPolicy", "PersistentVolumeClaim", "ServiceAccount"]
WORKLOAD_KINDS = ("Deployment", "Job", "StatefulSet", "DaemonSet")
LONG_RELEASES = ["r" + "x" * 51 + "z", "llama-factory-" + "y" * 39]
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
    "app.kubernetes.io/version",
    "app.kubernetes.io/part-of",
)


# ---------------------------------------------------------------- helpers


def component(obj: Obj) -> str | None:
    """The app.kubernetes.io/component label of an object."""
    return obj["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def is_hook(obj: Obj) -> bool:
    """Whether the object is a Helm hook (helm test pods)."""
    return "helm.sh/hook" in (obj["metadata"].get("annotations") or {})


def workload(rendered: Rendered, comp: str) -> Obj:
    """The single Deployment or Job of a component."""
    found = [o for o in rendered.objects if o["kind"] in WORKLOAD_KINDS and component(o) == comp]
    assert len(found) == 1, f"expected one workload for {comp}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def pod_template(obj: Obj) -> Obj:
    return obj["spec"]["template"]


def main_container(obj: Obj) -> Obj:
    """The first regular container of a workload's pod template."""
    return pod_template(obj)["spec"]["containers"][0]


def inference_container(rendered: Rendered) -> Obj:
    return main_container(rendered.get("Deployment", component="inference"))


def config_data(rendered: Rendered) -> dict[str, str]:
    return rendered.get("ConfigMap", component="config")["data"]


def train_yaml(rendered: Rendered) -> dict[str, Any]:
    return yaml.safe_load(config_data(rendered)["train.yaml"])


def merge_yaml(rendered: Rendered) -> dict[str, Any]:
    return yaml.safe_load(config_data(rendered)["merge.yaml"])


def env_of(container: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container.get("env") or []}


def volume(pod_spec: Obj, name: str) -> Obj:
    found = [v for v in pod_spec.get("volumes") or [] if v["name"] == name]
    assert len(found) == 1, f"expected one volume {name}, found {found}"
    return found[0]


def mount_at(container: Obj, path: str) -> Obj:
    found = [m for m in container.get("volumeMounts") or [] if m["mountPath"] == path]
    assert len(found) == 1, f"expected one mount at {path} in {container['name']}, found {found}"
    return found[0]


def all_labels(obj: Obj) -> list[dict[str, str]]:
    """Label maps of an object and of its pod template, if any."""
    maps = [obj["metadata"].get("labels") or {}]
    if obj["kind"] in WORKLOAD_KINDS:
        maps.append(obj["spec"]["template"]["metadata"].get("labels") or {})
    return maps


def job_names(rendered: Rendered) -> dict[str, str]:
    return {component(j): j["metadata"]["name"] for j in rendered.of_kind("Job")}


def checksum(obj: Obj) -> str:
    return pod_template(obj)["metadata"]["annotations"]["checksum/config"]


# ---------------------------------------------------------------- 1. component switches


def test_defaults_render_only_base_objects(render: RenderFn) -> None:
    """Default values: one ServiceAccount, ConfigMap, PVC and NetworkPolicy, and nothing that runs."""
    rendered = render({})
    assert sorted(o["kind"] for o in rendered.objects) == BASE_KINDS
    assert not [o for o in rendered.objects if o["kind"] in (*WORKLOAD_KINDS, "Pod")]


@pytest.mark.parametrize(
    ("switch", "extra_values", "expected"),
    [
        ("training", {"training": {"reportTo": "none"}}, [("Job", "training")]),
        ("merge", {}, [("Job", "merge")]),
        ("webui", {}, [("Deployment", "webui"), ("Service", "webui")]),
        ("inference", {}, [("Deployment", "inference"), ("Service", "inference")]),
    ],
)
def test_each_component_alone_renders_its_workload(
    render: RenderFn, switch: str, extra_values: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    """One switch on renders the base objects plus exactly that component's workload (and Service)."""
    rendered = render(deep_merge({switch: {"enabled": True}}, extra_values))
    base = [o for o in rendered.objects if o["kind"] in BASE_KINDS]
    assert sorted(o["kind"] for o in base) == BASE_KINDS
    extras = sorted((o["kind"], component(o)) for o in rendered.objects
                    if o["kind"] not in BASE_KINDS and not is_hook(o))
    assert extras == sorted(expected)


def test_nfs_storage_renders_bound_volume_and_claim(render: RenderFn) -> None:
    """storage.type nfs: a Retain NFS PersistentVolume and a claim bound to it by volumeName."""
    rendered = render({"storage": {"type": "nfs", "nfs": {"server": "nfs.example.internal", "path": "/exports/llm"}}})
    pv = rendered.get("PersistentVolume")
    pvc = rendered.get("PersistentVolumeClaim")
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pv["spec"]["nfs"] == {"server": "nfs.example.internal", "path": "/exports/llm"}
    assert pvc["spec"]["volumeName"] == pv["metadata"]["name"]
    assert pvc["spec"]["storageClassName"] == ""
    assert pv["spec"]["storageClassName"] == ""
    assert pv["spec"]["claimRef"]["name"] == pvc["metadata"]["name"]
    assert pv["spec"]["claimRef"]["namespace"] == pvc["metadata"]["namespace"]


def test_existing_claim_renders_no_pvc_and_is_mounted(render: RenderFn, all_on: dict[str, Any]) -> None:
    """storage.type existingClaim: no PVC is created and every pod mounts the named claim."""
    rendered = render(deep_merge(all_on, {"storage": {"type": "existingClaim", "existingClaim": "team-models-rwx"}}))
    assert rendered.of_kind("PersistentVolumeClaim") == []
    assert rendered.of_kind("PersistentVolume") == []
    mounted = 0
    for obj, spec in pod_specs(rendered):
        if obj["kind"] == "Pod":
            continue
        assert volume(spec, "storage")["persistentVolumeClaim"]["claimName"] == "team-models-rwx", (
            obj["metadata"]["name"]
        )
        mounted += 1
    assert mounted == 4


def test_existing_mlflow_secret_is_referenced_not_created(render: RenderFn, all_on: dict[str, Any]) -> None:
    """mlflow.existingSecret: no Secret is rendered and the pods read the named Secret."""
    values = copy.deepcopy(all_on)
    values["mlflow"] = {"existingSecret": "team-mlflow-creds"}
    rendered = render(values)
    assert rendered.of_kind("Secret") == []
    refs = set()
    for _, spec in pod_specs(rendered):
        for c in containers(spec):
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    refs.add(ref["name"])
    assert refs == {"team-mlflow-creds"}
    training_env = env_of(main_container(workload(rendered, "training")))
    assert training_env["MLFLOW_TRACKING_URI"]["valueFrom"]["secretKeyRef"]["name"] == "team-mlflow-creds"


# ---------------------------------------------------------------- 2. inference


ENGINE_PORTS = {"vllm": 8000, "sglang": 30000}


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_inference_service_is_stable_across_engines(render: RenderFn, engine: str) -> None:
    """Service llm-inference on port 8000 -> the container port named http, whatever the engine."""
    rendered = render({"inference": {"enabled": True, "engine": engine}})
    svc = rendered.get("Service", component="inference")
    assert svc["metadata"]["name"] == "llm-inference"
    assert len(svc["spec"]["ports"]) == 1
    port = svc["spec"]["ports"][0]
    assert port["port"] == 8000
    assert port["targetPort"] == "http"
    ports = {p["name"]: p["containerPort"] for p in inference_container(rendered)["ports"]}
    assert ports == {"http": ENGINE_PORTS[engine]}
    deploy = rendered.get("Deployment", component="inference")
    assert svc["spec"]["selector"].items() <= pod_template(deploy)["metadata"]["labels"].items()


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
@pytest.mark.parametrize("served", ["llama-factory-model", "acme/llama-3-8b-sft"])
def test_inference_served_model_name(render: RenderFn, engine: str, served: str) -> None:
    """--served-model-name is always passed and equals inference.servedModelName."""
    rendered = render({"inference": {"enabled": True, "engine": engine, "servedModelName": served}})
    assert flag(cmdline(inference_container(rendered)), "--served-model-name") == served


def test_vllm_command_line(render: RenderFn) -> None:
    """vLLM: `vllm serve <model>` with the context, TP and memory values mapped to its flags."""
    rendered = render({"inference": {"enabled": True, "engine": "vllm", "gpus": 2, "tensorParallelSize": 2,
                                     "maxModelLen": 12288, "gpuMemoryUtilization": 0.85}})
    argv = cmdline(inference_container(rendered))
    assert argv[:3] == ["vllm", "serve", "/storage/models/merged-model"]
    assert int(flag(argv, "--max-model-len")) == 12288
    assert int(flag(argv, "--tensor-parallel-size")) == 2
    assert float(flag(argv, "--gpu-memory-utilization")) == pytest.approx(0.85)
    assert int(flag(argv, "--port")) == 8000


def test_sglang_command_line(render: RenderFn) -> None:
    """SGLang: `python3 -m sglang.launch_server` with its own flag names and --host 0.0.0.0."""
    rendered = render({"inference": {"enabled": True, "engine": "sglang", "gpus": 4, "tensorParallelSize": 4,
                                     "maxModelLen": 16384, "gpuMemoryUtilization": 0.8}})
    argv = cmdline(inference_container(rendered))
    assert argv[:3] == ["python3", "-m", "sglang.launch_server"]
    assert flag(argv, "--model-path") == "/storage/models/merged-model"
    assert int(flag(argv, "--context-length")) == 16384
    assert int(flag(argv, "--tp-size")) == 4
    assert float(flag(argv, "--mem-fraction-static")) == pytest.approx(0.8)
    assert flag(argv, "--host") == "0.0.0.0"
    assert int(flag(argv, "--port")) == 30000
    for vllm_only in ("--max-model-len", "--tensor-parallel-size", "--gpu-memory-utilization"):
        assert vllm_only not in argv


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
@pytest.mark.parametrize(("source", "expected"), [("merged", "/storage/m/merged-x"), ("base", "/storage/m/base-x")])
def test_inference_model_source(render: RenderFn, engine: str, source: str, expected: str) -> None:
    """modelSource merged/base serves storage.paths.mergedModel/baseModel."""
    rendered = render({
        "storage": {"paths": {"mergedModel": "/storage/m/merged-x", "baseModel": "/storage/m/base-x"}},
        "inference": {"enabled": True, "engine": engine, "modelSource": source},
    })
    argv = cmdline(inference_container(rendered))
    model = argv[2] if engine == "vllm" else flag(argv, "--model-path")
    assert model == expected


@pytest.mark.parametrize(("engine", "ready_path"), [("vllm", "/v1/models"), ("sglang", "/ready")])
def test_inference_pod_runtime_contract(render: RenderFn, engine: str, ready_path: str) -> None:
    """No service links, memory /dev/shm, probes sized for model loading, no unavailable replica on rollout."""
    rendered = render({"inference": {"enabled": True, "engine": engine}})
    deploy = rendered.get("Deployment", component="inference")
    spec = pod_template(deploy)["spec"]
    assert spec["enableServiceLinks"] is False
    c = spec["containers"][0]
    shm_mount = mount_at(c, "/dev/shm")
    assert volume(spec, shm_mount["name"])["emptyDir"]["medium"] == "Memory"
    startup = c["startupProbe"]
    assert startup["failureThreshold"] * startup["periodSeconds"] >= 1800
    readiness = c["readinessProbe"]
    assert readiness["httpGet"]["path"] == ready_path
    assert readiness["timeoutSeconds"] >= 5
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert deploy["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


# ---------------------------------------------------------------- 3. GPU placement


COMPONENTS = ("training", "merge", "webui", "inference")


def gpu_values(all_on: dict[str, Any]) -> dict[str, Any]:
    """Every component on, each with a distinct GPU count (merge on GPU)."""
    return deep_merge(all_on, {
        "training": {"gpus": 4},
        "merge": {"gpus": 1, "exportDevice": "auto"},
        "webui": {"gpus": 1},
        "inference": {"gpus": 2, "tensorParallelSize": 2},
    })


@pytest.mark.parametrize("comp", COMPONENTS)
def test_gpu_workloads_land_on_gpu_nodes(render: RenderFn, all_on: dict[str, Any], comp: str) -> None:
    """A component with gpus > 0 gets the GPU nodeSelector, the GPU toleration and an equal GPU limit."""
    values = gpu_values(all_on)
    rendered = render(values)
    spec = pod_template(workload(rendered, comp))["spec"]
    assert spec["nodeSelector"] == GPU_NODE_SELECTOR
    assert any(t.get("key") == GPU_RESOURCE and t.get("effect") == "NoSchedule" for t in spec.get("tolerations") or [])
    main = spec["containers"][0]
    assert int(main["resources"]["limits"][GPU_RESOURCE]) == values[comp]["gpus"]


def test_cpu_merge_has_no_gpu_placement(render: RenderFn) -> None:
    """merge.gpus 0 with exportDevice cpu: no GPU nodeSelector, toleration or limit on the merge pod."""
    rendered = render({"merge": {"enabled": True, "gpus": 0, "exportDevice": "cpu"}})
    spec = pod_template(workload(rendered, "merge"))["spec"]
    assert GPU_RESOURCE not in (spec.get("nodeSelector") or {})
    assert not [t for t in spec.get("tolerations") or [] if t.get("key") == GPU_RESOURCE]
    for c in containers(spec):
        for section in ("limits", "requests"):
            assert GPU_RESOURCE not in (c.get("resources", {}).get(section) or {}), c["name"]


@pytest.mark.parametrize("comp", ["training", "webui", "inference"])
def test_component_node_selector_replaces_gpu_selector(render: RenderFn, all_on: dict[str, Any], comp: str) -> None:
    """A component's own nodeSelector replaces gpu.nodeSelector (not merged into it)."""
    rendered = render(deep_merge(all_on, {comp: {"nodeSelector": {"node-pool": "a100-spot"}}}))
    spec = pod_template(workload(rendered, comp))["spec"]
    assert spec["nodeSelector"] == {"node-pool": "a100-spot"}
    assert int(spec["containers"][0]["resources"]["limits"][GPU_RESOURCE]) == 1


# ---------------------------------------------------------------- 4. training config


def training_values(all_on: dict[str, Any], **training: Any) -> dict[str, Any]:
    return deep_merge(all_on, {"training": {"runName": "sft-llama3-r7", **training}})


def test_train_yaml_core_keys(render: RenderFn, all_on: dict[str, Any]) -> None:
    """train.yaml: sft + lora, reported to MLflow under runName, output under loraOutput/<runName>."""
    rendered = render(training_values(all_on))
    cfg = train_yaml(rendered)
    assert cfg["stage"] == "sft"
    assert cfg["finetuning_type"] == "lora"
    assert cfg["report_to"] == "mlflow"
    assert cfg["run_name"] == "sft-llama3-r7"
    assert cfg["output_dir"] == "/storage/output/lora-adapter/sft-llama3-r7"
    assert cfg["model_name_or_path"] == "/storage/models/base-model"
    assert "quantization_bit" not in cfg


@pytest.mark.parametrize("learning_rate", [1e-5, 2e-5, 5e-7, 0.0003])
def test_train_yaml_learning_rate_is_a_float(render: RenderFn, all_on: dict[str, Any], learning_rate: float) -> None:
    """learning_rate reaches LLaMA-Factory as a float (toYaml's 1e-05 would be a string to PyYAML)."""
    cfg = train_yaml(render(training_values(all_on, learningRate=learning_rate)))
    assert type(cfg["learning_rate"]) is float
    assert cfg["learning_rate"] == pytest.approx(learning_rate, rel=1e-9)


def test_train_yaml_large_integers_stay_integers(render: RenderFn, all_on: dict[str, Any]) -> None:
    """save_steps 1000000 is an int (toYaml would print 1e+06)."""
    cfg = train_yaml(render(training_values(all_on, saveSteps=1000000)))
    assert type(cfg["save_steps"]) is int
    assert cfg["save_steps"] == 1000000


def test_qlora_quantizes_training_not_merge(render: RenderFn, all_on: dict[str, Any]) -> None:
    """qlora: lora + 4-bit bnb in train.yaml; merge.yaml merges into the unquantized base."""
    rendered = render(deep_merge(training_values(all_on, finetuningType="qlora"),
                                 {"storage": {"paths": {"baseModel": "/storage/models/qbase"}}}))
    cfg = train_yaml(rendered)
    assert cfg["finetuning_type"] == "lora"
    assert cfg["quantization_bit"] == 4
    assert cfg["quantization_method"] == "bnb"
    merge = merge_yaml(rendered)
    assert "quantization_bit" not in merge
    assert "quantization_method" not in merge
    assert merge["model_name_or_path"] == "/storage/models/qbase"
    assert merge["finetuning_type"] == "lora"
    assert merge["adapter_name_or_path"] == "/storage/output/lora-adapter/sft-llama3-r7"


def test_training_extra_args_are_merged(render: RenderFn, all_on: dict[str, Any]) -> None:
    """training.extraArgs keys appear in train.yaml and override generated keys."""
    extra = {"flash_attn": "fa2", "neftune_noise_alpha": 5, "lr_scheduler_type": "linear", "val_size": 0.05}
    cfg = train_yaml(render(training_values(all_on, extraArgs=extra)))
    assert cfg["flash_attn"] == "fa2"
    assert cfg["neftune_noise_alpha"] == 5
    assert cfg["lr_scheduler_type"] == "linear"
    assert cfg["val_size"] == pytest.approx(0.05)
    assert cfg["stage"] == "sft"


def test_datasets_are_registered(render: RenderFn, all_on: dict[str, Any]) -> None:
    """Every dataset of train.yaml is in dataset_info.json, relative files under storage.paths.data."""
    datasets = [
        {"name": "alpaca_zh", "fileName": "alpaca/zh.json"},
        {"name": "chat.logs", "fileName": "/storage/shared/chat.jsonl", "formatting": "sharegpt"},
        {"name": "prefs_v2", "fileName": "prefs.json", "ranking": True},
    ]
    rendered = render(deep_merge(training_values(all_on, datasets=datasets),
                                 {"storage": {"paths": {"data": "/storage/ds"}}}))
    cfg = train_yaml(rendered)
    names = cfg["dataset"].split(",")
    assert names == ["alpaca_zh", "chat.logs", "prefs_v2"]
    info = json.loads(config_data(rendered)["dataset_info.json"])
    assert set(names) <= set(info)
    assert info["alpaca_zh"]["file_name"] == "/storage/ds/alpaca/zh.json"
    assert info["chat.logs"]["file_name"] == "/storage/shared/chat.jsonl"
    assert info["chat.logs"]["formatting"] == "sharegpt"
    assert info["prefs_v2"]["file_name"] == "/storage/ds/prefs.json"
    assert info["prefs_v2"]["ranking"] is True
    assert not info["alpaca_zh"].get("ranking", False)


def test_dataset_dir_is_the_config_mount(render: RenderFn, all_on: dict[str, Any]) -> None:
    """dataset_dir is where the training container mounts the ConfigMap, which holds dataset_info.json."""
    rendered = render(training_values(all_on))
    cfg = train_yaml(rendered)
    job = workload(rendered, "training")
    spec = pod_template(job)["spec"]
    mount = mount_at(main_container(job), cfg["dataset_dir"])
    cm = rendered.get("ConfigMap", component="config")
    assert volume(spec, mount["name"])["configMap"]["name"] == cm["metadata"]["name"]
    assert "dataset_info.json" in cm["data"]
    argv = cmdline(main_container(job))
    assert argv[:2] == ["llamafactory-cli", "train"]
    assert argv[2] == f"{cfg['dataset_dir']}/train.yaml"


# ---------------------------------------------------------------- 5. secrets


MLFLOW_SECRETS = {
    "trackingUri": "https://mlflow-q7xz.secret-host.example:8443/track",
    "username": "mlf-user-zq81x",
    "password": "mlf-pass-k39vQ",
    "token": "mlf-token-w52jR",
}
SECRET_KEYS = {
    "trackingUri": "MLFLOW_TRACKING_URI",
    "username": "MLFLOW_TRACKING_USERNAME",
    "password": "MLFLOW_TRACKING_PASSWORD",
    "token": "MLFLOW_TRACKING_TOKEN",
}


@pytest.fixture()
def secret_render(render: RenderFn, all_on: dict[str, Any]) -> Rendered:
    """Everything on, with distinctive MLflow credentials."""
    return render(deep_merge(all_on, {"mlflow": MLFLOW_SECRETS}))


def test_secrets_stay_out_of_args_and_configmaps(secret_render: Rendered) -> None:
    """No command, arg, plain env value or ConfigMap value holds an MLflow credential."""
    leaks = []
    for obj, spec in pod_specs(secret_render):
        for c in containers(spec):
            plain = [*cmdline(c), *(str(e.get("value", "")) for e in c.get("env") or [])]
            for text in plain:
                leaks += [(obj["metadata"]["name"], c["name"], s) for s in MLFLOW_SECRETS.values() if s in text]
    for cm in secret_render.of_kind("ConfigMap"):
        for key, text in (cm.get("data") or {}).items():
            leaks += [(cm["metadata"]["name"], key, s) for s in MLFLOW_SECRETS.values() if s in text]
    assert leaks == []


def test_secrets_only_in_the_secret(secret_render: Rendered) -> None:
    """The credentials appear in no object other than the Secret (annotations and labels included)."""
    leaking = [o["metadata"]["name"] for o in secret_render.objects if o["kind"] != "Secret"
               and any(s in yaml.safe_dump(o) for s in MLFLOW_SECRETS.values())]
    assert leaking == []


def test_secret_holds_credentials_and_training_reads_it(secret_render: Rendered) -> None:
    """The chart's Secret holds every credential; training gets MLFLOW_TRACKING_URI by secretKeyRef."""
    secret = secret_render.get("Secret", component="mlflow")
    data = {**{k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()},
            **(secret.get("stringData") or {})}
    assert data == {SECRET_KEYS[k]: v for k, v in MLFLOW_SECRETS.items()}
    env = env_of(main_container(workload(secret_render, "training")))
    ref = env["MLFLOW_TRACKING_URI"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == secret["metadata"]["name"]
    assert ref["key"] == "MLFLOW_TRACKING_URI"
    assert "value" not in env["MLFLOW_TRACKING_URI"]
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": secret["metadata"]["name"], "key": key,
                                                         "optional": True}


# ---------------------------------------------------------------- 6. WebUI


def test_webui_container(render: RenderFn) -> None:
    """`llamafactory-cli webui` without flags, Gradio env, and a writable working directory on the storage."""
    rendered = render({"webui": {"enabled": True, "port": 7999}})
    deploy = workload(rendered, "webui")
    spec = pod_template(deploy)["spec"]
    c = main_container(deploy)
    argv = cmdline(c)
    assert argv == ["llamafactory-cli", "webui"]
    assert not [a for a in argv if a.startswith(("--host", "--port", "--server"))]
    env = env_of(c)
    assert env["GRADIO_SERVER_NAME"]["value"] == "0.0.0.0"
    assert env["GRADIO_SERVER_PORT"]["value"] == "7999"
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 7999}
    workdir = c["workingDir"]
    assert workdir
    mount = mount_at(c, workdir)
    assert not mount.get("readOnly", False)
    assert "persistentVolumeClaim" in volume(spec, mount["name"])


# ---------------------------------------------------------------- 7. security defaults


def test_every_pod_is_locked_down(render: RenderFn, all_on: dict[str, Any]) -> None:
    """Pods (helm test pods and the merge init container included) meet the restricted profile and have resources."""
    rendered = render(all_on)
    seen_pods = set()
    seen_containers = set()
    for obj, spec in pod_specs(rendered):
        name = obj["metadata"]["name"]
        seen_pods.add((obj["kind"], component(obj)))
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        for c in containers(spec):
            seen_containers.add(c["name"])
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (name, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            for section in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    assert c["resources"][section][resource], (name, c["name"], section, resource)
    assert seen_pods == {("Job", "training"), ("Job", "merge"), ("Deployment", "webui"),
                         ("Deployment", "inference"), ("Pod", "test")}
    assert "wait-for-adapter" in seen_containers
    assert len(rendered.of_kind("Pod")) == 3


def test_service_account_mounts_no_token(render: RenderFn) -> None:
    """The ServiceAccount itself has automountServiceAccountToken false."""
    assert render({}).get("ServiceAccount")["automountServiceAccountToken"] is False


# ---------------------------------------------------------------- 8. names


@pytest.mark.parametrize("release", LONG_RELEASES)
@pytest.mark.parametrize("storage_type", ["pvc", "nfs"])
def test_names_and_labels_fit_with_longest_release(
    render: RenderFn, all_on: dict[str, Any], release: str, storage_type: str
) -> None:
    """A 53-character release with everything on: names and label values <= 63, Job names <= 52."""
    assert len(release) == 53
    values = deep_merge(all_on, {"storage": {"type": storage_type}})
    if storage_type == "nfs":
        values["storage"]["nfs"] = {"server": "10.0.0.5", "path": "/exports/llm"}
    rendered = render(values, release=release)
    assert len(rendered.of_kind("Job")) == 2
    for obj in rendered.objects:
        name = obj["metadata"]["name"]
        assert len(name) <= 63, name
        assert DNS_LABEL.match(name), name
        for labels in all_labels(obj):
            for key, value in labels.items():
                assert len(str(value)) <= 63, (name, key, value)
                assert LABEL_VALUE.match(str(value)), (name, key, value)
    for job in rendered.of_kind("Job"):
        assert len(job["metadata"]["name"]) <= 52, job["metadata"]["name"]
    keys = [(o["kind"], o["metadata"]["name"]) for o in rendered.objects]
    assert len(keys) == len(set(keys)), "two objects of one kind share a truncated name"


# ---------------------------------------------------------------- 9. stability and checksums


def test_rendering_is_deterministic(render: RenderFn, all_on: dict[str, Any]) -> None:
    """The same values render byte-identical output, Job names included."""
    first = render(all_on)
    second = render(all_on)
    assert first.text == second.text
    assert job_names(first) == job_names(second)
    assert set(job_names(first)) == {"training", "merge"}


def test_learning_rate_change_reruns_training_only(render: RenderFn, all_on: dict[str, Any]) -> None:
    """A new learning rate renames the training Job and changes its checksum; merge and inference stay."""
    before = render(deep_merge(all_on, {"training": {"learningRate": 1e-4}}))
    after = render(deep_merge(all_on, {"training": {"learningRate": 2e-4}}))
    assert job_names(before)["training"] != job_names(after)["training"]
    assert checksum(workload(before, "training")) != checksum(workload(after, "training"))
    assert job_names(before)["merge"] == job_names(after)["merge"]
    assert pod_template(workload(before, "inference")) == pod_template(workload(after, "inference"))
    assert pod_template(workload(before, "webui")) == pod_template(workload(after, "webui"))


def test_max_model_len_change_touches_only_inference(render: RenderFn, all_on: dict[str, Any]) -> None:
    """A new inference.maxModelLen changes the inference pod template and nothing else that runs."""
    before = render(deep_merge(all_on, {"inference": {"maxModelLen": 4096}}))
    after = render(deep_merge(all_on, {"inference": {"maxModelLen": 8192}}))
    assert pod_template(workload(before, "inference")) != pod_template(workload(after, "inference"))
    assert job_names(before) == job_names(after)
    assert pod_template(workload(before, "webui")) == pod_template(workload(after, "webui"))
    assert config_data(before) == config_data(after)


def test_tracking_uri_change_rolls_mlflow_consumers(render: RenderFn, all_on: dict[str, Any]) -> None:
    """A new MLflow URI rolls the WebUI and renames the training Job, but leaves inference alone."""
    before = render(deep_merge(all_on, {"mlflow": {"trackingUri": "http://mlflow-a.mlflow.svc:5000"}}))
    after = render(deep_merge(all_on, {"mlflow": {"trackingUri": "http://mlflow-b.mlflow.svc:5000"}}))
    assert checksum(workload(before, "webui")) != checksum(workload(after, "webui"))
    assert job_names(before)["training"] != job_names(after)["training"]
    assert pod_template(workload(before, "inference")) == pod_template(workload(after, "inference"))


def test_pod_templates_carry_no_chart_version_labels(render: RenderFn, all_on: dict[str, Any]) -> None:
    """Pod template labels hold neither helm.sh/chart nor app.kubernetes.io/version."""
    rendered = render(all_on)
    templates = [o for o in rendered.objects if o["kind"] in WORKLOAD_KINDS]
    assert len(templates) == 4
    for obj in templates:
        labels = pod_template(obj)["metadata"]["labels"]
        assert "helm.sh/chart" not in labels, obj["metadata"]["name"]
        assert "app.kubernetes.io/version" not in labels, obj["metadata"]["name"]


def test_chart_version_bump_keeps_pods_and_jobs(
    helm: Helm, paths: ProjectPaths, all_on: dict[str, Any], tmp_path: Path
) -> None:
    """A chart with another version/appVersion renders the same Job names and pod templates."""
    bumped = tmp_path / "llama-factory"
    shutil.copytree(paths.chart, bumped)
    chart_yaml = yaml.safe_load((bumped / "Chart.yaml").read_text())
    chart_yaml["version"] = "9.8.7"
    chart_yaml["appVersion"] = "9.9.9-test"
    (bumped / "Chart.yaml").write_text(yaml.safe_dump(chart_yaml))
    original = Rendered(helm.template(paths.chart, all_on, "llama-factory", "llm-training"))
    changed = Rendered(helm.template(bumped, all_on, "llama-factory", "llm-training"))
    assert original.get("ConfigMap")["metadata"]["labels"]["helm.sh/chart"] != \
        changed.get("ConfigMap")["metadata"]["labels"]["helm.sh/chart"]
    assert job_names(original) == job_names(changed)
    for comp in COMPONENTS:
        assert pod_template(workload(original, comp)) == pod_template(workload(changed, comp)), comp


# ---------------------------------------------------------------- 10. standard labels and hooks


def test_every_object_has_standard_labels(render: RenderFn, all_on: dict[str, Any]) -> None:
    """Every object carries name, instance, managed-by, chart, version and part-of labels."""
    values = deep_merge(all_on, {"storage": {"type": "nfs", "nfs": {"server": "10.0.0.5", "path": "/exports/llm"}}})
    rendered = render(values, release="rel-labels")
    kinds = {o["kind"] for o in rendered.objects}
    assert {"PersistentVolume", "Secret", "Pod", "Job", "Deployment", "Service"} <= kinds
    for obj in rendered.objects:
        labels = obj["metadata"].get("labels") or {}
        missing = [k for k in STANDARD_LABELS if not labels.get(k)]
        assert missing == [], (obj["kind"], obj["metadata"]["name"], missing)
        assert labels["app.kubernetes.io/instance"] == "rel-labels"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/part-of"] == "llama-factory"


def test_pvc_is_kept_on_uninstall(render: RenderFn) -> None:
    """The storage claim carries helm.sh/resource-policy keep."""
    pvc = render({}).get("PersistentVolumeClaim")
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, set()),
        ({"inference": {"enabled": True}}, {"inference", "chat"}),
        ({"mlflow": {"trackingUri": "http://mlflow.mlflow.svc:5000"}}, {"mlflow"}),
        ({"mlflow": {"existingSecret": "team-mlflow"}}, {"mlflow"}),
        ({"inference": {"enabled": True}, "mlflow": {"trackingUri": "http://mlflow.mlflow.svc:5000"}},
         {"inference", "chat", "mlflow"}),
    ],
)
def test_helm_test_pods(render: RenderFn, values: dict[str, Any], expected: set[str]) -> None:
    """Two helm test Pods for inference when enabled (/v1/models, a chat completion)
    and one for MLflow when configured."""
    rendered = render(values)
    pods = rendered.of_kind("Pod")
    assert all(p["metadata"]["annotations"]["helm.sh/hook"] == "test" for p in pods)
    assert all(component(p) == "test" for p in pods)
    targets = [p["metadata"]["name"].rsplit("-test-", 1)[-1] for p in pods]
    assert sorted(targets) == sorted(expected)


def test_webui_workspace_is_made_by_the_pods_user(render: RenderFn) -> None:
    """The WebUI's working directory is a subPath of the claim; the kubelet would make it as root
    (unwritable for uid 10001, found on a real kubelet), so an init container makes it first."""
    deployment = next(o for o in render({"mlflow": {"trackingUri": "http://m:5000"}, "webui": {"enabled": True}})
                      .of_kind("Deployment") if o["metadata"]["labels"]["app.kubernetes.io/component"] == "webui")
    spec = deployment["spec"]["template"]["spec"]
    (prepare,) = spec["initContainers"]
    assert prepare["command"] == ["sh", "-c", "mkdir -p /storage/webui"]
    assert {"name": "storage", "mountPath": "/storage"} in prepare["volumeMounts"]
    main = spec["containers"][0]
    assert {"name": "storage", "mountPath": "/workspace", "subPath": "webui"} in main["volumeMounts"]
    assert spec["securityContext"]["runAsUser"] == 10001


def test_a_new_training_run_restarts_neither_engine_nor_webui(render: RenderFn) -> None:
    """A new run changes the run's output path; the long-running pods do not read it (found on the
    real node, where `runName` rolled the engine and the WebUI)."""
    def templates(run: str) -> dict[str, Any]:
        rendered = render({"mlflow": {"trackingUri": "http://m:5000"}, "webui": {"enabled": True},
                           "inference": {"enabled": True}, "training": {"enabled": True, "runName": run}})
        return {o["metadata"]["name"]: o["spec"]["template"] for o in rendered.of_kind("Deployment")}
    first, second = templates("run-1"), templates("run-2")
    assert len(first) == 2 and first == second
