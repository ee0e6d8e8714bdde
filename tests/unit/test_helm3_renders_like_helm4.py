"""Helm 4 and Helm 3 render a handful of representative combinations of values (serving
engines, router, API keys, autoscaling and exposure, multi-node, DeepSpeed, EasyR1, PPO) into
the same objects.
"""

from __future__ import annotations

import pytest

from lfk8s.chart import rendering
from lfk8s.chart.helm import Helm
from lfk8s.chart.values import deep_merge
from lfk8s.paths import ProjectPaths
from tests.helpers import easyr1, inference, router_values, training

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
    four = rendering.render(helm, paths, values)
    three = rendering.render(helm3, paths, values)
    assert any(o["kind"] in ("Deployment", "Job") for o in four.objects)
    assert four.comparable() == three.comparable()
