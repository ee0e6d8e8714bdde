"""The chart's CPU-capable workloads as real pods on the local cluster's real node: values/local.yaml
unchanged except what places them there (lfk8s.chart.overlays: the node's selector and toleration,
no GPUs, a storage class the node can mount, the MLflow address pods reach, memory for real
processes). The training image built from images/training and the test-hook image are preloaded
into the node's containerd (no pulls). The training Job trains and reports to the real MLflow,
the merge Job merges, the llamafactory engine and the WebUI become ready on their own probes,
and `helm test` runs every hook's script in its container. Then upgrades: a no-op restarts
nothing, a new training run starts while inference keeps answering through its Service.

The claim is a hostPath PersistentVolume on the node (no NFS server runs here). The test-hook
image is Debian trixie's busybox-static 1.37.0 under the chart's default name for busybox 1.37.0.
This file runs before test_real_node.py, whose last test takes the session's cluster down.
"""

from __future__ import annotations

import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from lfk8s import stack
from lfk8s.chart import values
from lfk8s.chart.helm import Helm, HelmError
from lfk8s.cluster.local import LocalCluster
from lfk8s.cluster.mlflow_server import MlflowServer
from lfk8s.cluster.node_config import GATEWAY
from lfk8s.cluster.processes import free_port
from lfk8s.images import tiny_model
from lfk8s.paths import ProjectPaths
from lfk8s.release import operate
from lfk8s.release.install import install
from lfk8s.release.snapshot import settled, snapshot, wait_for
from lfk8s.release.target import Target, ensure_namespace
from lfk8s.toolchain import pinned

INSTALL_TIMEOUT = "20m"


@pytest.fixture(scope="module")
def preloaded(real_cluster: LocalCluster, paths: ProjectPaths) -> str:
    return stack.preload_images(real_cluster, paths)


@pytest.fixture(scope="module")
def mlflow(real_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """The real MLflow on the bridge address, where pods reach it."""
    with MlflowServer(tmp_path_factory.mktemp("mlflow"), free_port(), host=GATEWAY) as server:
        yield server


@pytest.fixture(scope="module")
def target(real_cluster: LocalCluster, paths: ProjectPaths) -> Iterator[Target]:
    api = real_cluster.api_client()
    helm = Helm(pinned.ensure_helm(4, exact=True), kubeconfig=real_cluster.kubeconfig, timeout=INSTALL_TIMEOUT)
    suffix = uuid.uuid4().hex[:6]
    target = Target(helm=helm, api=api, paths=paths, release=f"lf-{suffix}", namespace=f"real-{suffix}")
    ensure_namespace(target)
    yield target
    client.CoreV1Api(api).delete_namespace(target.namespace)


@pytest.fixture(scope="module")
def storage(target: Target, preloaded: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A hostPath volume on the real node holding the base model and the dataset."""
    path = tmp_path_factory.mktemp("real-node-storage")
    tiny_model.prepare_storage(preloaded, path, stack.pod_user(target.paths))
    name = f"{target.namespace}-storage"
    stack.ensure_storage_volume(target.api, name, path)
    yield path
    client.CoreV1Api(target.api).delete_persistent_volume(name)


@pytest.fixture(scope="module")
def placed(paths: ProjectPaths, mlflow: MlflowServer) -> dict[str, Any]:
    return stack.on_real_node(values.load(paths.values_dir / "local.yaml"), paths, mlflow.url)


@pytest.fixture(scope="module")
def installed(target: Target, placed: dict[str, Any], storage: Path) -> Target:
    install(target, placed, timeout=INSTALL_TIMEOUT)
    return target


def pods(target: Target, component: str | None = None) -> list[Any]:
    selector = target.selector + (f",app.kubernetes.io/component={component}" if component else "")
    return list(target.core.list_namespaced_pod(target.namespace, label_selector=selector).items)


def test_every_workload_ran_on_the_real_node(installed: Target, real_cluster: LocalCluster) -> None:
    placed_pods = pods(installed)
    assert {p.metadata.labels["app.kubernetes.io/component"] for p in placed_pods} >= {
        "training", "merge", "webui", "inference"}
    for pod in placed_pods:
        assert pod.spec.node_name == real_cluster.node.name, pod.metadata.name
    for job in installed.batch.list_namespaced_job(installed.namespace, label_selector=installed.selector).items:
        assert job.status.succeeded == 1, job.metadata.name
    for deployment in installed.apps.list_namespaced_deployment(installed.namespace,
                                                                label_selector=installed.selector).items:
        assert deployment.status.ready_replicas == deployment.spec.replicas, deployment.metadata.name


def test_training_reported_to_mlflow(installed: Target, mlflow: MlflowServer) -> None:
    (run,) = [r for r in mlflow.runs("llama-factory") if r["info"]["run_name"] == "run-1"]
    metrics = {m["key"]: m["value"] for m in run["data"].get("metrics", [])}
    assert metrics["train_loss"] > 0
    params = {p["key"]: p["value"] for p in run["data"].get("params", [])}
    assert params.get("learning_rate") in ("0.0001", "1e-04")


def test_adapter_and_merged_model_are_on_the_storage(installed: Target, storage: Path) -> None:
    assert (storage / "output" / "lora-adapter" / "run-1" / "adapter_model.safetensors").stat().st_size > 0
    merged = storage / "models" / "merged-model"
    assert (merged / "config.json").exists() and list(merged.glob("*.safetensors"))


def test_helm_test_runs_every_hook_for_real(installed: Target, real_cluster: LocalCluster) -> None:
    output = installed.helm.run(["test", installed.release, "--namespace", installed.namespace, "--logs",
                                 "--timeout", "5m"])
    hooks = pods(installed, "test")
    assert len(hooks) == 3, [p.metadata.name for p in hooks]
    for pod in hooks:
        assert pod.spec.node_name == real_cluster.node.name and pod.status.phase == "Succeeded", pod.metadata.name
    # The hooks' own output: /v1/models from the engine, a chat completion through the Service.
    assert '"id":"llama-factory-model"' in output.replace(" ", "")
    assert '"choices"' in output


def service_url(target: Target) -> str:
    service = target.core.read_namespaced_service("llm-inference", target.namespace)
    return f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}"


def test_chat_completion_through_the_service(installed: Target) -> None:
    answer = operate.chat_request(service_url(installed), "llama-factory-model", "What colour is the sky?", None,
                                  max_tokens=8)
    assert answer["choices"][0]["message"]["role"] == "assistant"


def restarts_and_uids(target: Target) -> dict[str, tuple[str, int]]:
    return {p.metadata.name: (p.metadata.uid, sum(s.restart_count for s in p.status.container_statuses or []))
            for p in pods(target) if p.metadata.labels["app.kubernetes.io/component"] != "test"}


def test_noop_upgrade_restarts_nothing(installed: Target, placed: dict[str, Any]) -> None:
    before, objects = restarts_and_uids(installed), snapshot(installed)
    install(installed, placed, timeout=INSTALL_TIMEOUT)
    assert wait_for(lambda: settled(installed), timeout=120)
    assert restarts_and_uids(installed) == before
    assert {key: state.uid for key, state in snapshot(installed).items()} == \
        {key: state.uid for key, state in objects.items()}


def test_new_training_run_while_inference_keeps_serving(installed: Target, placed: dict[str, Any],
                                                        storage: Path) -> None:
    inference_pods = {p.metadata.uid for p in pods(installed, "inference")}
    url, answers, failures = service_url(installed), [], []
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            try:
                with urllib.request.urlopen(f"{url}/v1/models", timeout=10) as response:
                    answers.append(response.status)
            except OSError as error:
                failures.append(str(error))
            time.sleep(0.5)

    asking = threading.Thread(target=keep_asking)
    asking.start()
    try:
        install(installed, values.deep_merge(placed, {"training": {"runName": "run-2"}}), timeout=INSTALL_TIMEOUT)
    finally:
        stop.set()
        asking.join()
    assert (storage / "output" / "lora-adapter" / "run-2" / "adapter_model.safetensors").exists()
    assert (storage / "output" / "lora-adapter" / "run-1" / "adapter_model.safetensors").exists()
    assert {p.metadata.uid for p in pods(installed, "inference")} == inference_pods
    assert answers and not failures, failures[:5]


def test_helm_test_says_when_the_served_model_is_not_the_one_clients_use(installed: Target) -> None:
    """An inference Deployment edited by hand to serve another name: the hook fails and says why."""
    deployment = installed.apps.list_namespaced_deployment(
        installed.namespace, label_selector=f"{installed.selector},app.kubernetes.io/component=inference").items[0]
    container = deployment.spec.template.spec.containers[0]
    env = [{"name": e.name, "value": "somebody-else"} if e.name == "API_MODEL_NAME" else
           installed.api.sanitize_for_serialization(e) for e in container.env]
    installed.apps.patch_namespaced_deployment(deployment.metadata.name, installed.namespace, {
        "spec": {"template": {"spec": {"containers": [{"name": container.name, "env": env}]}}}})
    assert wait_for(lambda: settled(installed) and all(
        any(e.value == "somebody-else" for e in p.spec.containers[0].env or [])
        for p in pods(installed, "inference")), timeout=300)
    with pytest.raises(HelmError):
        installed.helm.test(installed.release, installed.namespace)
    (hook,) = [p for p in pods(installed, "test") if p.metadata.name.endswith("test-inference")]
    log = installed.core.read_namespaced_pod_log(hook.metadata.name, installed.namespace)
    assert "does not serve the model llama-factory-model" in log, log
