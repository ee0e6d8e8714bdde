"""A corpus of bad values: each must be refused by Helm 4, Helm 3 and (for schema cases) lfk8s.

Schema cases break a rule of values.schema.yaml; preflight cases are schema-valid but break a
cross-field rule of templates/_preflight.tpl. Every refusal must name the offending field, so a
user can find what to fix without reading the rendering.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from lfk8s.chart import rendering
from lfk8s.chart import values as values_mod
from lfk8s.chart.helm import Helm, HelmError
from lfk8s.paths import ProjectPaths

HELM_MAJORS = (4, 3)
MIN_CORPUS = 40
PREFLIGHT_HEADER = "llama-factory: invalid values:"

SCHEMA_CASES: list[Any] = [
    # Wrong enum
    pytest.param({"inference": {"router": {"routingLogic": "random"}}}, "inference.router.routingLogic",
                 id="enum-router-logic"),
    pytest.param({"inference": {"lora": {"maxRank": 24}}}, "inference.lora.maxRank", id="enum-lora-max-rank"),
    pytest.param({"training": {"deepspeed": "z1"}}, "training.deepspeed", id="enum-deepspeed"),
    pytest.param({"training": {"nodes": 0}}, "training.nodes", id="range-training-nodes"),
    pytest.param({"training": {"easyr1": {"rewardFunction": "math.py"}}}, "training.easyr1.rewardFunction",
                 id="pattern-reward-function"),
    pytest.param({"training": {"stage": "orpo"}}, "training.stage", id="enum-training-stage"),
    pytest.param({"training": {"finetuningType": "adapter"}}, "training.finetuningType", id="enum-finetuning-type"),
    pytest.param({"inference": {"engine": "tgi"}}, "inference.engine", id="enum-inference-engine"),
    pytest.param({"images": {"training": {"pullPolicy": "Sometimes"}}}, "images.training.pullPolicy",
                 id="enum-pull-policy"),
    pytest.param({"storage": {"type": "hostPath"}}, "storage.type", id="enum-storage-type"),
    pytest.param({"training": {"lrSchedulerType": "cosine_restarts"}}, "training.lrSchedulerType",
                 id="enum-lr-scheduler"),
    pytest.param({"inference": {"dtype": "int8"}}, "inference.dtype", id="enum-inference-dtype"),
    pytest.param({"inference": {"modelSource": "adapter"}}, "inference.modelSource", id="enum-model-source"),
    pytest.param({"merge": {"exportDevice": "cuda"}}, "merge.exportDevice", id="enum-export-device"),
    pytest.param({"inference": {"service": {"type": "Ingress"}}}, "inference.service.type",
                 id="enum-inference-service-type"),
    pytest.param({"webui": {"service": {"type": "ExternalName"}}}, "webui.service.type", id="enum-webui-service-type"),
    # Out of range
    pytest.param({"training": {"lora": {"rank": 0}}}, "training.lora.rank", id="range-lora-rank-0"),
    pytest.param({"training": {"lora": {"rank": 1000}}}, "training.lora.rank", id="range-lora-rank-1000"),
    pytest.param({"inference": {"replicas": -1}}, "inference.replicas", id="range-inference-replicas-negative"),
    pytest.param({"training": {"gpus": -1}}, "training.gpus", id="range-training-gpus-negative"),
    pytest.param({"inference": {"gpus": 100}}, "inference.gpus", id="range-inference-gpus-100"),
    pytest.param({"inference": {"gpuMemoryUtilization": 0}}, "inference.gpuMemoryUtilization",
                 id="range-gpu-memory-utilization-0"),
    pytest.param({"inference": {"gpuMemoryUtilization": 1.5}}, "inference.gpuMemoryUtilization",
                 id="range-gpu-memory-utilization-1.5"),
    pytest.param({"inference": {"service": {"port": 0}}}, "inference.service.port", id="range-service-port-0"),
    pytest.param({"webui": {"port": 70000}}, "webui.port", id="range-webui-port-70000"),
    pytest.param({"inference": {"readinessProbe": {"timeoutSeconds": 1}}}, "inference.readinessProbe.timeoutSeconds",
                 id="range-inference-readiness-timeout-1"),
    pytest.param({"training": {"learningRate": 0}}, "training.learningRate", id="range-learning-rate-0"),
    # Unknown keys
    pytest.param({"traning": {"enabled": True}}, "traning", id="unknown-top-level-key"),
    pytest.param({"training": {"lora": {"rnak": 16}}}, "training.lora.rnak", id="unknown-training-lora-rnak"),
    pytest.param({"inference": {"foo": "bar"}}, "inference.foo", id="unknown-inference-foo"),
    # Too-long names
    pytest.param({"fullnameOverride": "a" * 41}, "fullnameOverride", id="long-fullname-override-41"),
    pytest.param({"training": {"runName": "r" * 41}}, "training.runName", id="long-run-name-41"),
    pytest.param({"namespace": {"name": "n" * 64}}, "namespace.name", id="long-namespace-name-64"),
    # DNS-1123 patterns
    pytest.param({"namespace": {"name": "LLM-Training"}}, "namespace.name", id="dns-namespace-uppercase"),
    pytest.param({"training": {"runName": "run_1"}}, "training.runName", id="dns-run-name-underscore"),
    pytest.param({"serviceAccount": {"name": "Trainer"}}, "serviceAccount.name", id="dns-service-account-uppercase"),
    pytest.param({"imagePullSecrets": ["reg_creds"]}, "imagePullSecrets[0]", id="dns-pull-secret-underscore"),
    # Wrong types
    pytest.param({"training": {"enabled": "yes"}}, "training.enabled", id="type-enabled-string"),
    pytest.param({"inference": {"replicas": "2"}}, "inference.replicas", id="type-replicas-string"),
    pytest.param({"training": {"learningRate": "1e-4"}}, "training.learningRate", id="type-learning-rate-string"),
    # Images and names that break the workloads
    pytest.param({"images": {"vllm": {"tag": "latest"}}}, "images.vllm.tag", id="image-tag-latest"),
    pytest.param({"images": {"training": {"digest": "sha256:abc123"}}}, "images.training.digest",
                 id="image-digest-malformed"),
    pytest.param({"inference": {"service": {"name": "vllm-inference"}}}, "inference.service.name",
                 id="service-name-starts-with-vllm"),
    # Absolute paths
    pytest.param({"storage": {"paths": {"baseModel": "models/base-model"}}}, "storage.paths.baseModel",
                 id="path-base-model-relative"),
    pytest.param({"storage": {"paths": {"data": "/storage/data/"}}}, "storage.paths.data",
                 id="path-data-trailing-slash"),
    pytest.param({"storage": {"mountPath": "/storage/"}}, "storage.mountPath", id="path-mount-trailing-slash"),
    # Paths that leave the shared storage through `.` or `..` segments
    pytest.param({"storage": {"paths": {"baseModel": "/storage/../etc/model"}}}, "storage.paths.baseModel",
                 id="path-base-model-dotdot"),
    pytest.param({"merge": {"adapterPath": "/storage/lora/../../x"}}, "merge.adapterPath", id="path-merge-dotdot"),
    pytest.param({"inference": {"lora": {"adapterPath": "/storage/./lora"}}}, "inference.lora.adapterPath",
                 id="path-inference-adapter-dot"),
    # commonLabels keys and values
    pytest.param({"commonLabels": {"team": "ml platform"}}, "commonLabels.team", id="label-value-space"),
    pytest.param({"commonLabels": {"owner": "me@example.com"}}, "commonLabels.owner", id="label-value-at"),
    pytest.param({"commonLabels": {"team": "x" * 64}}, "commonLabels.team", id="label-value-64"),
    pytest.param({"commonLabels": {"my team": "ml"}}, "commonLabels.my team", id="label-key-space"),
    # Image references
    pytest.param({"images": {"training": {"repository": "GHCR.io/Org/Train"}}}, "images.training.repository",
                 id="image-repository-uppercase"),
    pytest.param({"images": {"vllm": {"repository": "ghcr.io/org/vllm:0.33.0"}}}, "images.vllm.repository",
                 id="image-repository-with-tag"),
    # One argument per extraArgs entry
    pytest.param({"inference": {"extraArgs": ["--max-model-len 4096"]}}, "inference.extraArgs[0]",
                 id="extra-args-flag-and-value-in-one"),
    # Quantities given as numbers
    pytest.param({"training": {"resources": {"requests": {"cpu": -1}}}}, "training.resources.requests.cpu",
                 id="quantity-negative-cpu-number"),
    pytest.param({"storage": {"size": 0}}, "storage.size", id="quantity-zero-storage-number"),
    pytest.param({"storage": {"size": "0Gi"}}, "storage.size", id="quantity-zero-storage-string"),
    # Host names
    pytest.param({"inference": {"ingress": {"host": "a" * 64 + ".example.com"}}}, "inference.ingress.host",
                 id="host-label-64"),
    pytest.param({"inference": {"httpRoute": {"hostnames": ["LLM.example.com"]}}}, "inference.httpRoute.hostnames[0]",
                 id="httproute-hostname-uppercase"),
]

PREFLIGHT_CASES: list[Any] = [
    pytest.param({"storage": {"type": "nfs"}}, "storage.nfs.server", id="nfs-without-server-and-path"),
    pytest.param({"storage": {"type": "nfs", "nfs": {"server": "nfs.example.com"}}}, "storage.nfs.path",
                 id="nfs-without-path"),
    pytest.param({"storage": {"type": "existingClaim"}}, "storage.existingClaim", id="existing-claim-without-name"),
    pytest.param({"storage": {"paths": {"data": "/data"}}}, "storage.paths.data", id="path-not-under-mount-path"),
    pytest.param({"storage": {"paths": {"mergedModel": "/storagex/merged"}}}, "storage.paths.mergedModel",
                 id="path-shares-mount-path-prefix-only"),
    pytest.param({"merge": {"adapterPath": "/adapters/run-1"}}, "merge.adapterPath",
                 id="adapter-path-not-under-mount-path"),
    pytest.param({"training": {"enabled": True, "reportTo": "mlflow"}}, "mlflow.trackingUri",
                 id="mlflow-report-without-tracking"),
    pytest.param({"mlflow": {"trackingUri": "http://mlflow.mlflow.svc:5000", "existingSecret": "mlflow-creds"}},
                 "mlflow.existingSecret", id="mlflow-uri-and-existing-secret"),
    pytest.param({"training": {"stage": "ppo", "rewardModel": "/storage/models/reward", "reportTo": "mlflow"}},
                 "training.reportTo", id="ppo-report-to-mlflow"),
    pytest.param({"training": {"stage": "ppo", "reportTo": "none"}}, "training.rewardModel",
                 id="ppo-without-reward-model"),
    pytest.param({"training": {"stage": "grpo"}}, "training.finetuningType", id="grpo-with-lora"),
    pytest.param({"training": {"stage": "dapo", "finetuningType": "full", "nodes": 2}}, "training.nodes",
                 id="dapo-multi-node"),
    pytest.param({"training": {"stage": "grpo", "finetuningType": "full", "gpus": 0}}, "training.gpus",
                 id="grpo-without-gpu"),
    pytest.param({"training": {"nodes": 2, "gpus": 0}}, "training.gpus", id="multi-node-without-gpu"),
    pytest.param({"inference": {"enabled": True, "modelSource": "lora"}, "training": {"finetuningType": "full"}},
                 "inference.modelSource", id="lora-serving-without-adapter"),
    pytest.param({"inference": {"enabled": True, "autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}},
                 "inference.autoscaling.minReplicas", id="autoscaling-min-above-max"),
    pytest.param({"inference": {"enabled": True, "httpRoute": {"enabled": True}}}, "inference.httpRoute.parentRefs",
                 id="httproute-without-gateway"),
    pytest.param({"inference": {"enabled": True, "modelSource": "lora", "lora": {"adapterPath": "/elsewhere/a"}}},
                 "inference.lora.adapterPath", id="lora-adapter-off-storage"),
    pytest.param({"training": {"datasets": [{"name": "alpaca", "fileName": "a.json"},
                                            {"name": "alpaca", "fileName": "b.json"}]}},
                 "training.datasets[1].name", id="duplicate-dataset-names"),
    pytest.param({"merge": {"enabled": True}, "training": {"finetuningType": "full"}}, "merge.enabled",
                 id="merge-with-full-finetuning"),
    pytest.param({"merge": {"enabled": True, "exportDevice": "auto", "gpus": 0}}, "merge.gpus",
                 id="merge-auto-without-gpus"),
    pytest.param({"merge": {"enabled": True, "exportDevice": "cpu", "gpus": 1}}, "merge.gpus",
                 id="merge-cpu-with-gpus"),
    pytest.param({"inference": {"enabled": True, "gpus": 1, "tensorParallelSize": 2}}, "inference.gpus",
                 id="inference-gpus-below-tensor-parallel"),
    pytest.param({"inference": {"enabled": True, "extraArgs": ["--api-key", "sk-123"]}}, "inference.extraArgs",
                 id="inference-extra-args-api-key"),
    pytest.param({"inference": {"enabled": True, "extraArgs": ["--served-model-name=x"]}}, "inference.extraArgs",
                 id="inference-extra-args-served-model-name"),
    pytest.param({"storage": {"type": "pvc", "existingClaim": "team-models"}}, "storage.existingClaim",
                 id="existing-claim-ignored-by-pvc"),
    pytest.param({"inference": {"enabled": True, "modelSource": "lora", "lora": {"maxRank": 8}},
                  "training": {"lora": {"rank": 16}}}, "inference.lora.maxRank", id="serving-rank-below-trained"),
    pytest.param({"training": {"extraArgs": {"dataset": "local_alpaca,unregistered"}}}, "training.extraArgs.dataset",
                 id="extra-args-unregistered-dataset"),
]

ALL_CASES = SCHEMA_CASES + PREFLIGHT_CASES


def path_parts(dotted: str) -> list[str]:
    """'training.datasets[1].name' -> ['training', 'datasets', '1', 'name']."""
    return [part for part in re.split(r"\.|\[(\d+)\]", dotted) if part]


def field_forms(dotted: str) -> list[str]:
    """The ways an error may name a field: dotted path, JSON pointer, or Helm's unknown-key form."""
    parts = path_parts(dotted)
    parent = "".join(f"/{part}" for part in parts[:-1])
    return [dotted, "/" + "/".join(parts), f"at '{parent}': additional properties '{parts[-1]}'"]


def names_field(text: str, dotted: str) -> bool:
    return any(form in text for form in field_forms(dotted))


def _show(values: dict[str, Any]) -> str:
    return json.dumps(values, sort_keys=True)


def _refusal(helm: Helm, paths: ProjectPaths, values: dict[str, Any], major: int) -> str:
    """Helm's error text for values it must refuse; fails the test when it renders them."""
    try:
        rendering.render(helm, paths, values)
    except HelmError as error:
        return str(error)
    pytest.fail(f"Helm {major} rendered values it must refuse: {_show(values)}")


@pytest.mark.parametrize("major", HELM_MAJORS, ids=lambda m: f"helm{m}")
@pytest.mark.parametrize(("bad", "field"), ALL_CASES)
def test_helm_refuses_and_names_the_field(helms: dict[int, Helm], paths: ProjectPaths, major: int,
                                          bad: dict[str, Any], field: str) -> None:
    """Both Helm majors refuse every bad input, naming the offending field."""
    message = _refusal(helms[major], paths, bad, major)
    assert names_field(message, field), (
        f"Helm {major} refused {_show(bad)} but its error does not name {field!r} "
        f"(looked for any of {field_forms(field)}):\n{message}")


@pytest.mark.parametrize("major", HELM_MAJORS, ids=lambda m: f"helm{m}")
@pytest.mark.parametrize(("bad", "field"), PREFLIGHT_CASES)
def test_preflight_message_format(helms: dict[int, Helm], paths: ProjectPaths, major: int,
                                  bad: dict[str, Any], field: str) -> None:
    """Cross-field refusals come from the preflight, as one list entry that starts with the field."""
    message = _refusal(helms[major], paths, bad, major)
    assert PREFLIGHT_HEADER in message, (
        f"Helm {major} refused {_show(bad)} but not through the preflight ({PREFLIGHT_HEADER!r} missing):\n{message}")
    entries = [line.strip()[2:] for line in message.splitlines() if line.strip().startswith("- ")]
    assert any(field in entry.split(":")[0] for entry in entries), (
        f"no preflight entry for {_show(bad)} starts with {field!r}; entries: {entries}")


@pytest.mark.parametrize(("bad", "field"), SCHEMA_CASES)
def test_python_validator_refuses_and_says_what_is_allowed(paths: ProjectPaths, bad: dict[str, Any],
                                                           field: str) -> None:
    """lfk8s.values.validate reports the field and what it allows, as Helm's schema check does."""
    with pytest.raises(values_mod.InvalidValues) as caught:
        values_mod.validate(bad, paths, "bad-values")
    found = caught.value.problems
    matching = [p for p in found if p.path == field or field in p.path.split(", ")]
    assert matching, f"lfk8s refused {_show(bad)} without a problem at {field!r}; problems: {[str(p) for p in found]}"
    assert any(word in p.message for p in matching for word in ("allowed", "required")), (
        f"lfk8s's problem at {field!r} does not say what is allowed: {[str(p) for p in matching]}")
    assert field in str(caught.value), f"the InvalidValues message does not name {field!r}:\n{caught.value}"


@pytest.mark.parametrize(("bad", "field"), PREFLIGHT_CASES)
def test_preflight_cases_are_schema_valid(paths: ProjectPaths, bad: dict[str, Any], field: str) -> None:
    """Each preflight case passes the schema, so only the cross-field check can refuse it."""
    try:
        values_mod.validate(bad, paths, "preflight-case")
    except values_mod.InvalidValues as error:
        pytest.fail(f"preflight case for {field!r} is already refused by the schema, so it tests nothing "
                    f"of the preflight:\n{error}")


def test_corpus_is_large_enough() -> None:
    """The corpus keeps at least MIN_CORPUS distinct bad inputs."""
    ids = [case.id for case in ALL_CASES]
    assert len(ids) == len(set(ids)), f"duplicate case ids: {sorted({i for i in ids if ids.count(i) > 1})}"
    assert len(ALL_CASES) >= MIN_CORPUS, f"only {len(ALL_CASES)} bad-values cases, want >= {MIN_CORPUS}"


def test_field_forms() -> None:
    """The field-name helper derives Helm's JSON pointer and unknown-key forms from a dotted path."""
    assert field_forms("training.datasets[1].name") == [
        "training.datasets[1].name", "/training/datasets/1/name",
        "at '/training/datasets/1': additional properties 'name'"]
    assert field_forms("traning")[2] == "at '': additional properties 'traning'"


def test_good_input_passes_every_check(helms: dict[int, Helm], paths: ProjectPaths,
                                       all_on: dict[str, Any]) -> None:
    """Values with every component on pass lfk8s and both Helm majors, so the refusals above are real."""
    values_mod.validate(all_on, paths, "all-on")
    for major, helm in helms.items():
        try:
            rendered = rendering.render(helm, paths, all_on)
        except HelmError as error:
            pytest.fail(f"Helm {major} refused the good all-on values {_show(all_on)}:\n{error}")
        assert rendered.objects, f"Helm {major} rendered no objects for the all-on values"
