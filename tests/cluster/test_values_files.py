"""Every values file in values/ installs unchanged on the local cluster, as `bin/lfk8s install`
installs it (lfk8s.release.install: helm --wait --wait-for-jobs, watched), and its claim binds.

The cluster offers what the files' environments have: dynamic RWX storage under the classes the
files name (lfk8s.cluster.storage_objects), a GPU node for each GPU pod a file runs at once, and
what a file says already exists (an existing claim, MLflow and API-key Secrets). Each file goes to
the namespace its namespace.name states (created with Pod Security labels when missing), else a
fresh one. The one change made to a file is the harness's own: a tracking URI on this machine's
loopback is the local MLflow, so it points at this session's server (as `local_values` does).
"""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from lfk8s.chart import rendering, values
from lfk8s.chart.helm import Helm, HelmError
from lfk8s.cluster.local import LocalCluster, NodePool
from lfk8s.cluster.mlflow_server import MlflowServer
from lfk8s.cluster.storage_objects import DEFAULT_CLASS, PROVISIONER
from lfk8s.paths import ProjectPaths
from lfk8s.release.install import install
from lfk8s.release.snapshot import settled, wait_for
from lfk8s.release.target import Target, ensure_namespace

VALUES_FILES = rendering.values_files(ProjectPaths.discover(Path(__file__).parent))
GPU = "nvidia.com/gpu"
# Marks what the test makes as the environment's (Secrets), so it is removed afterwards.
ENVIRONMENT_LABEL = "lfk8s.io/test-environment=true"


def _gpus(pod_spec: dict[str, Any]) -> int:
    return sum(int(c.get("resources", {}).get("limits", {}).get(GPU, 0)) for c in rendering.containers(pod_spec))


def gpu_pods(rendered: rendering.Rendered) -> int:
    """How many pods asking for GPUs the release runs at once (Deployment replicas, Job parallelism)."""
    count = 0
    for workload, pod_spec in rendering.pod_specs(rendered):
        if _gpus(pod_spec):
            spec = workload.get("spec", {})
            count += int(spec.get("replicas", spec.get("parallelism", 1)))
    return count


def with_local_mlflow(data: dict[str, Any], mlflow: MlflowServer) -> dict[str, Any]:
    """The harness's one adjustment: MLflow on this machine's loopback is the session's server."""
    uri = data.get("mlflow", {}).get("trackingUri") or ""
    if urlparse(uri).hostname in ("127.0.0.1", "localhost"):
        return {**data, "mlflow": {**data["mlflow"], "trackingUri": mlflow.url}}
    return data


def _create(create: Any, *args: Any) -> None:
    try:
        create(*args)
    except ApiException as error:
        if error.status != 409:
            raise


def _labels() -> dict[str, str]:
    key, _, value = ENVIRONMENT_LABEL.partition("=")
    return {key: value}


def prepare_environment(target: Target, effective: dict[str, Any], mlflow: MlflowServer) -> None:
    """What the environment already has when a values file refers to it by name."""
    core, namespace = target.core, target.namespace
    storage = effective["storage"]
    if storage["type"] == "existingClaim":
        # The platform's shared claim, from the cluster's default storage class.
        _create(core.create_namespaced_persistent_volume_claim, namespace, {
            "metadata": {"name": storage["existingClaim"]},
            "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "10Gi"}}}})
    if effective["mlflow"]["existingSecret"]:
        _create(core.create_namespaced_secret, namespace, {
            "metadata": {"name": effective["mlflow"]["existingSecret"], "labels": _labels()},
            "stringData": {"MLFLOW_TRACKING_URI": mlflow.url}})
    api_key = effective["inference"]["apiKey"]
    if effective["inference"]["enabled"] and api_key["enabled"] and api_key["existingSecret"]:
        _create(core.create_namespaced_secret, namespace, {
            "metadata": {"name": api_key["existingSecret"], "labels": _labels()},
            "data": {api_key["existingSecretKey"]: base64.b64encode(uuid.uuid4().hex.encode()).decode()}})


def claim_name(target: Target, effective: dict[str, Any]) -> str:
    if effective["storage"]["type"] == "existingClaim":
        return str(effective["storage"]["existingClaim"])
    (claim,) = target.core.list_namespaced_persistent_volume_claim(
        target.namespace, label_selector=target.selector).items
    return str(claim.metadata.name)


@pytest.fixture
def gpu_pool(local_cluster: LocalCluster, api: client.ApiClient) -> Iterator[Callable[[int], None]]:
    """Adds mocked GPU nodes (as the cluster's own) until there is one per GPU pod asked for, so no
    placement of the pods can strand one; removes them afterwards."""
    core = client.CoreV1Api(api)
    added: list[str] = []

    def ensure(pods: int) -> None:
        gpu_nodes = [n for n in core.list_node().items if int((n.status.allocatable or {}).get(GPU, 0))]
        if pods <= len(gpu_nodes):
            return
        per_node = max(int(n.status.allocatable[GPU]) for n in gpu_nodes)
        pool = NodePool(gpu_nodes=pods - len(gpu_nodes), gpus_per_node=per_node, cpu_nodes=0)
        for node in pool.nodes(f"{local_cluster.name}-x{uuid.uuid4().hex[:4]}"):
            core.create_node(node)
            added.append(node["metadata"]["name"])
        assert wait_for(lambda: all(_ready(core.read_node(name)) for name in added), timeout=60)

    yield ensure
    for name in added:
        with contextlib.suppress(ApiException):
            core.delete_node(name)


def _ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


@pytest.fixture(scope="module")
def namespaces(api: client.ApiClient) -> Iterator[set[str]]:
    """The namespaces this module's releases used; deleted at its end (not waited for)."""
    used: set[str] = set()
    yield used
    for namespace in used:
        with contextlib.suppress(ApiException):
            client.CoreV1Api(api).delete_namespace(namespace)


@pytest.fixture
def release_in_namespace(cluster_helm: Helm, api: client.ApiClient, paths: ProjectPaths,
                         namespaces: set[str]) -> Iterator[Callable[[dict[str, Any]], Target]]:
    """A Target in the namespace the values state (else a fresh one). Afterwards the release is
    uninstalled and the claims and Secrets left in the namespace (a kept claim, the environment's)
    are gone, so another file can use the namespace next; deleting a namespace takes 10 s or more."""
    made: list[Target] = []

    def make(data: dict[str, Any]) -> Target:
        suffix = uuid.uuid4().hex[:6]
        namespace = rendering.intended_namespace(data) or f"t-{suffix}"
        target = Target(helm=cluster_helm, api=api, paths=paths, release=f"lf-{suffix}", namespace=namespace)
        ensure_namespace(target)
        namespaces.add(namespace)
        made.append(target)
        return target

    yield make
    for target in made:
        with contextlib.suppress(HelmError):  # nothing was installed
            target.helm.uninstall(target.release, target.namespace)
        core = target.core
        core.delete_collection_namespaced_secret(target.namespace, label_selector=ENVIRONMENT_LABEL)
        core.delete_collection_namespaced_persistent_volume_claim(target.namespace)
        assert wait_for(lambda t=target: not t.core.list_namespaced_persistent_volume_claim(t.namespace).items,
                        timeout=60), f"claims left in {target.namespace}"


@pytest.mark.parametrize("values_file", VALUES_FILES, ids=[f.name for f in VALUES_FILES])
def test_values_file_installs_and_its_claim_binds(
    values_file: Path, paths: ProjectPaths, cluster_helm: Helm, local_cluster: LocalCluster, mlflow: MlflowServer,
    gpu_pool: Callable[[int], None], release_in_namespace: Callable[[dict[str, Any]], Target],
) -> None:
    # gpu_pool before release_in_namespace: its nodes go after the release (pods left on a deleted
    # node wait some 40 s for the pod garbage collector)
    original = values.load(values_file)
    values.validate(original, paths, values_file.name)
    data = with_local_mlflow(original, mlflow)
    effective = values.with_chart_defaults(data, paths)
    target = release_in_namespace(data)
    gpu_pool(gpu_pods(rendering.render(cluster_helm, paths, data, target.release, target.namespace)))
    prepare_environment(target, effective, mlflow)

    install(target, data, timeout="3m")
    assert wait_for(lambda: settled(target), timeout=60)

    claim = target.core.read_namespaced_persistent_volume_claim(claim_name(target, effective), target.namespace)
    assert claim.status.phase == "Bound" and "ReadWriteMany" in claim.status.access_modes
    volume = target.core.read_persistent_volume(claim.spec.volume_name)
    storage = effective["storage"]
    if storage["type"] == "nfs":
        # The chart's static NFS volume, bound without a provisioner.
        assert volume.spec.nfs.server == storage["nfs"]["server"] and volume.spec.nfs.path == storage["nfs"]["path"]
    else:
        # A class the file names, or the cluster's default: provisioned on the shared directory.
        assert claim.spec.storage_class_name == (storage["storageClassName"] or DEFAULT_CLASS)
        assert volume.metadata.annotations["pv.kubernetes.io/provisioned-by"] == PROVISIONER
        assert Path(volume.spec.host_path.path).parent == local_cluster.storage().shared_path


def test_cluster_offers_every_class_the_values_files_name(local_cluster: LocalCluster, api: client.ApiClient) -> None:
    assert local_cluster.running()["local-path-provisioner"]
    classes = {c.metadata.name: c for c in client.StorageV1Api(api).list_storage_class().items}
    named = {values.load(f).get("storage", {}).get("storageClassName") for f in VALUES_FILES} - {None, ""}
    assert named, "no values file names a storage class: this test would check nothing"
    for name in named | {DEFAULT_CLASS}:
        assert classes[name].provisioner == PROVISIONER and classes[name].volume_binding_mode == "Immediate"
    defaults = [name for name, c in classes.items()
                if (c.metadata.annotations or {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
    assert defaults == [DEFAULT_CLASS]
