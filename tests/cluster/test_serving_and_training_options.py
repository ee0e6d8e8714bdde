"""The serving and training options on the real API server: replicas behind the router, a
generated API key that survives upgrades, an existing API-key Secret, the autoscaler and
exposure objects, LLaMA-Factory's engine without GPUs, multi-node ranks (and a run too big for
the pool), new runs and cleanup through the harness."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from kubernetes import client

from lfk8s.chart.values import deep_merge
from lfk8s.cluster.kwok_stages import COMPLETE_DELAY_ANNOTATION
from lfk8s.release import operate, status
from lfk8s.release.install import install
from lfk8s.release.snapshot import settled, wait_for
from lfk8s.release.target import Target
from lfk8s.release.watch import ReleaseStuck


def installed(target: Target, values: dict[str, Any]) -> list[status.PodRow]:
    install(target, values, timeout="2m")
    assert wait_for(lambda: settled(target), timeout=60)
    return status.pod_rows(target)


def serving_only(local_values: dict[str, Any], **inference: Any) -> dict[str, Any]:
    values = copy.deepcopy(local_values)
    for component in ("training", "merge", "webui"):
        values[component]["enabled"] = False
    values["inference"].update(inference)
    return values


def api_key_value(target: Target) -> str:
    (secret,) = [s for s in target.core.list_namespaced_secret(target.namespace, label_selector=target.selector).items
                 if s.metadata.name.endswith("-api-key")]
    return base64.b64decode(secret.data["api-key"]).decode()


def test_replicas_behind_the_router(target: Target, local_values: dict[str, Any]) -> None:
    values = serving_only(local_values, replicas=3, apiKey={"enabled": True},
                          router={"enabled": True, "routingLogic": "prefixaware"})
    rows = installed(target, values)
    engines = [r for r in rows if r.component == "inference"]
    routers = [r for r in rows if r.component == "router"]
    assert len(engines) == 3 and all(r.node_is_gpu and r.ready for r in engines)
    assert len(routers) == 1 and routers[0].ready and not routers[0].node_is_gpu
    # Clients' address, llm-inference, now leads to the router's pod only.
    slices = client.DiscoveryV1Api(target.api).list_namespaced_endpoint_slice(
        target.namespace, label_selector="kubernetes.io/service-name=llm-inference").items
    addresses = {a for s in slices for e in s.endpoints or [] for a in e.addresses}
    router_ips = {p.status.pod_ip for p in operate.component_pods(target, "router")}
    assert addresses == router_ips
    pdb = client.PolicyV1Api(target.api).list_namespaced_pod_disruption_budget(target.namespace).items
    assert [p.spec.max_unavailable for p in pdb] == [1]
    # The router may read and label pods, and nothing else.
    (role,) = client.RbacAuthorizationV1Api(target.api).list_namespaced_role(target.namespace).items
    assert [(r.resources, sorted(r.verbs)) for r in role.rules] == [(["pods"], ["get", "list", "patch", "watch"])]


def test_generated_api_key_is_stable_across_upgrades(target: Target, local_values: dict[str, Any]) -> None:
    values = serving_only(local_values, apiKey={"enabled": True})
    installed(target, values)
    first = api_key_value(target)
    assert len(first) == 48 and first.isalnum()
    installed(target, deep_merge(values, {"inference": {"servedModelName": "renamed-model"}}))
    installed(target, deep_merge(values, {"inference": {"replicas": 2}}))
    assert api_key_value(target) == first
    assert operate.api_key(target) == first


def test_existing_api_key_secret_is_used(target: Target, local_values: dict[str, Any]) -> None:
    target.core.create_namespaced_secret(
        target.namespace, {"metadata": {"name": "team-key"}, "stringData": {"token": "s3cret-value"}}
    )
    values = serving_only(
        local_values, apiKey={"enabled": True, "existingSecret": "team-key", "existingSecretKey": "token"}
    )
    installed(target, values)
    assert operate.api_key(target) == "s3cret-value"
    (deployment,) = target.apps.list_namespaced_deployment(target.namespace, label_selector=target.selector).items
    text = str(client.ApiClient().sanitize_for_serialization(deployment))
    assert "s3cret-value" not in text and "team-key" in text


def test_autoscaler_and_exposure_install(target: Target, local_values: dict[str, Any]) -> None:
    values = serving_only(local_values,
                          autoscaling={"enabled": True, "minReplicas": 2, "maxReplicas": 4},
                          ingress={"enabled": True, "host": "llm.local.test"},
                          httpRoute={"enabled": True,
                                     "parentRefs": [{"name": "shared-gateway"}],
                                     "hostnames": ["llm.local.test"]})
    installed(target, values)
    hpa = client.AutoscalingV2Api(target.api).list_namespaced_horizontal_pod_autoscaler(target.namespace).items
    assert [(h.spec.min_replicas, h.spec.max_replicas) for h in hpa] == [(2, 4)]
    (ingress,) = client.NetworkingV1Api(target.api).list_namespaced_ingress(target.namespace).items
    assert ingress.spec.rules[0].host == "llm.local.test"
    routes = client.CustomObjectsApi(target.api).list_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", target.namespace, "httproutes")["items"]
    assert [r["spec"]["rules"][0]["backendRefs"][0]["name"] for r in routes] == ["llm-inference"]


def test_llamafactory_engine_runs_without_gpus(target: Target, local_values: dict[str, Any]) -> None:
    rows = installed(target, serving_only(local_values, engine="llamafactory", gpus=0))
    (engine,) = [r for r in rows if r.component == "inference"]
    assert engine.ready and engine.gpus == 0 and not engine.node_is_gpu


def test_multi_node_training_ranks(target: Target, local_values: dict[str, Any]) -> None:
    values = copy.deepcopy(local_values)
    values.update({c: {**values[c], "enabled": False} for c in ("merge", "webui", "inference")})
    values["training"].update({"nodes": 2, "gpus": 8, "podAnnotations": {COMPLETE_DELAY_ANNOTATION: "30s"}})
    install(target, values, timeout="2m", wait_for_jobs=False)
    assert wait_for(lambda: sum(p.status.phase == "Running" for p in operate.component_pods(target, "training")) == 2)
    pods = operate.component_pods(target, "training")
    assert len(pods) == 2
    ranks = sorted(p.metadata.annotations["batch.kubernetes.io/job-completion-index"] for p in pods)
    assert ranks == ["0", "1"]
    gpu_nodes = {n.metadata.name for n in target.core.list_node(label_selector="nvidia.com/gpu=true").items}
    assert all(p.spec.node_name in gpu_nodes for p in pods)
    # Running together with 8 GPUs each, the two ranks cannot share one 8-GPU node.
    assert len({p.spec.node_name for p in pods}) == 2
    assert all(int(p.spec.containers[0].resources.limits["nvidia.com/gpu"]) == 8 for p in pods)
    assert all(p.spec.subdomain.endswith("-train-rdzv") for p in pods)
    (service,) = [
        s for s in target.core.list_namespaced_service(target.namespace).items
        if s.metadata.name.endswith("-train-rdzv")
    ]
    assert service.spec.cluster_ip == "None"


def test_multi_node_run_too_big_for_the_pool_is_reported(target: Target, local_values: dict[str, Any]) -> None:
    values = copy.deepcopy(local_values)
    values.update({c: {**values[c], "enabled": False} for c in ("merge", "webui", "inference")})
    # Ranks hold their GPUs for a minute, as a real run would, instead of kwok's one second.
    values["training"].update({"nodes": 3, "gpus": 8, "podAnnotations": {COMPLETE_DELAY_ANNOTATION: "60s"}})
    with pytest.raises(ReleaseStuck) as stuck:
        install(target, values, timeout="2m", patience=5)
    assert "Insufficient nvidia.com/gpu" in str(stuck.value)
    phases = sorted(p.status.phase for p in operate.component_pods(target, "training"))
    assert phases.count("Pending") == 1


def test_train_starts_a_new_run_and_cleanup_removes_finished_jobs(target: Target, local_values: dict[str, Any]) -> None:
    installed(target, local_values)
    first_jobs = operate.finished_jobs(target)
    assert set(first_jobs) == {"training", "merge"}
    run = operate.start_training_run(target, "run-second")
    assert run == "run-second"
    assert wait_for(lambda: "training" in operate.finished_jobs(target)
                            and operate.finished_jobs(target)["training"] != first_jobs["training"], timeout=60)
    (job,) = target.batch.list_namespaced_job(
        target.namespace, label_selector=f"{target.selector},app.kubernetes.io/component=training"
    ).items
    assert job.metadata.labels["llama-factory.io/run-name"] == "run-second"
    assert operate.current_values(target)["training"]["runName"] == "run-second"

    wait_for(lambda: set(operate.finished_jobs(target)) == {"training", "merge"}, timeout=60)
    removed = operate.cleanup_finished_jobs(target)
    assert set(removed) == {"training", "merge"}
    assert wait_for(
        lambda: not target.batch.list_namespaced_job(target.namespace, label_selector=target.selector).items
    )
    # The next upgrade with the deployed values does not bring the runs back.
    install(target, operate.current_values(target), timeout="2m")
    assert not target.batch.list_namespaced_job(target.namespace, label_selector=target.selector).items
