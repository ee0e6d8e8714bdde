"""The training Job in the rendered manifests: every LLaMA-Factory stage (train.yaml, dataset
columns, preference and reward-model keys), EasyR1's GRPO and DAPO runs, multi-GPU and DeepSpeed,
and multi-node training (Indexed Job, rendezvous Service, rank variables, waiting for peers,
failure policy, the peer NetworkPolicy). Every $(VAR) in an env value or argument must name a
variable defined before it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from lfk8s.chart.helm import HelmError
from lfk8s.chart.rendering import Rendered, containers, pod_specs
from lfk8s.chart.values import deep_merge
from tests.conftest import RenderFn
from tests.helpers import (
    CONFIG_MOUNT,
    Obj,
    cmdline,
    component,
    config_data,
    config_file,
    easyr1,
    env_names,
    env_of,
    image_ref,
    key_values,
    pod_labels,
    pod_spec,
    router_values,
    selects,
    train_container,
    training,
    training_job,
)

LF_STAGES = ("pt", "sft", "rm", "ppo", "dpo", "kto")
EASYR1_STAGES = ("grpo", "dapo")
ALPACA_PAIR_COLUMNS = {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"}
JOB_INDEX_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
JOB_NAME_FIELD = "metadata.labels['batch.kubernetes.io/job-name']"
ENV_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


# ---------------------------------------------------------------- helpers


def dataset_info(rendered: Rendered) -> dict[str, Any]:
    return json.loads(config_data(rendered)["dataset_info.json"])


# ---------------------------------------------------------------- training stages


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


# ---------------------------------------------------------------- EasyR1


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


# ---------------------------------------------------------------- multi-GPU


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


# ---------------------------------------------------------------- multi-node


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
    """An init container wait-for-peers runs last before training, with the rank variables it needs."""
    spec = pod_spec(training_job(multinode))
    assert [c["name"] for c in spec.get("initContainers") or []][-1] == "wait-for-peers"
    env = env_of(spec["initContainers"][-1])
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
    assert "wait-for-peers" not in [c["name"] for c in pod_spec(job).get("initContainers") or []]
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
