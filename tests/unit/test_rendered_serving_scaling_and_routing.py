"""How the rendered manifests scale and route inference: replicas, the PodDisruptionBudget,
the HorizontalPodAutoscaler and rolling updates; the vllm-router (pod discovery, routing logic,
the Service in front of it, its RBAC and token, the API key it shares with the engines); and
exposure through the llm-inference Service type, an Ingress or an HTTPRoute.

The engines themselves are in test_rendered_serving_engines.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from lfk8s.chart.helm import HelmError
from lfk8s.chart.rendering import pod_specs
from lfk8s.chart.values import deep_merge
from tests.conftest import RenderFn
from tests.helpers import (
    API_KEY_ENV,
    CONTAINER_PORT,
    GPU_ENGINES,
    SERVICE_NAME,
    SERVICE_PORT,
    cmdline,
    component,
    env_of,
    flag,
    has_flag,
    inference,
    inference_container,
    inference_deploy,
    parse_selector,
    pod_labels,
    router_container,
    router_deploy,
    router_values,
    secret_ref,
    selects,
)

# ---------------------------------------------------------------- replicas, PDB, HPA


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


# ---------------------------------------------------------------- router


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


# ---------------------------------------------------------------- exposure


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
