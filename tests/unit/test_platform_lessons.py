"""The managed fine-tuning platform's (003) production lessons, one named test each, on the
rendered manifests: names over 63 characters, a one-second readiness timeout, a missing served
model name, and SGLang's port 30000 behind the Service's stable port 8000.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from lfk8s.chart.helm import HelmError
from lfk8s.chart.values import deep_merge
from tests.conftest import RenderFn
from tests.helpers import (
    ENGINES,
    GPU_ENGINES,
    SERVICE_NAME,
    SERVICE_PORT,
    cmdline,
    env_of,
    flag,
    inference,
    inference_container,
    parse_selector,
    pod_labels,
    pod_spec,
    router_container,
    router_deploy,
    router_values,
    secret_ref,
    train_container,
    training_job,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
RELEASE_53 = "r" + "x" * 51 + "z"


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
