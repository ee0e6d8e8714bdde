"""Where a release goes: the cluster (an API client and helm bound to its kubeconfig), the
release name and its namespace (chosen from --namespace and the values' namespace.name, created
when missing); and the Secret reads every release step shares."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.rest import ApiException

from lfk8s import versions
from lfk8s.chart.defaults import default
from lfk8s.chart.helm import Helm
from lfk8s.chart.rendering import intended_namespace, release_namespace
from lfk8s.chart.values import with_chart_defaults
from lfk8s.paths import ProjectPaths
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain.pinned import ensure_helm


@dataclass(frozen=True)
class Target:
    """Where a release goes: the cluster (an API client and helm bound to its kubeconfig)."""

    helm: Helm
    api: client.ApiClient
    paths: ProjectPaths
    release: str
    namespace: str

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api)

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/instance={self.release}"


class NamespaceMismatch(RuntimeError):
    """A --namespace that contradicts the namespace the values file states."""


def choose_namespace(values: dict[str, Any], requested: str | None, source: str) -> str:
    """The namespace a release of `values` goes to: --namespace, else the values' namespace.name,
    else the harness's default. Refused when both are given and differ, before any cluster call
    (the chart would refuse it too, but only once helm has the release)."""
    stated = intended_namespace(values)
    if requested and stated and requested != stated:
        raise NamespaceMismatch(
            f"{source} is meant for namespace {stated} (namespace.name) but --namespace is {requested}: "
            f"leave out --namespace, pass --namespace {stated}, or remove namespace.name from {source}")
    return release_namespace(values, requested)


def ensure_namespace(target: Target, namespace: str | None = None, labels: dict[str, str] | None = None) -> bool:
    """Create the namespace when it does not exist, as `helm --create-namespace` does, with `labels`
    (default: the chart's namespace.labels, Pod Security `restricted`). An existing namespace is left
    as it is: its labels are its owners'. True when it was created."""
    name = namespace or target.namespace
    try:
        target.core.read_namespace(name)
        return False
    except ApiException as error:
        if error.status == 403:
            return False  # no right to read namespaces: helm says so if it is missing
        if error.status != 404:
            raise
    chosen = default(target.paths, "namespace.labels") if labels is None else labels
    try:
        target.core.create_namespace({"metadata": {"name": name, "labels": dict(chosen)}})
    except ApiException as error:
        if error.status != 409:  # created meanwhile by someone else
            raise
        return False
    return True


def mlflow_tracking_uri(target: Target, existing_secret: str = "") -> tuple[str, str]:
    """(MLFLOW_TRACKING_URI, Secret name) the release's pods receive; ("", "") without one."""
    if existing_secret:
        secrets = [target.core.read_namespaced_secret(existing_secret, target.namespace)]
    else:
        secrets = target.core.list_namespaced_secret(
            target.namespace, label_selector=f"{target.selector},app.kubernetes.io/component=mlflow").items
    for secret in secrets:
        encoded = (secret.data or {}).get("MLFLOW_TRACKING_URI")
        if encoded:
            return base64.b64decode(encoded).decode(), secret.metadata.name
    return "", ""


class NoCluster(RuntimeError):
    """The kubeconfig that should lead to a cluster does not exist."""


def connect(paths: ProjectPaths, kubeconfig: Path, release: str, namespace: str, report: Reporter = quiet) -> Target:
    """A Target on the cluster of `kubeconfig`, with the default helm bound to it."""
    if not kubeconfig.exists():
        raise NoCluster(f"no cluster: {kubeconfig} does not exist (run `lfk8s cluster up`)")
    helm = Helm(ensure_helm(versions.HELM_DEFAULT_MAJOR, report), kubeconfig=kubeconfig)
    api = kube_config.new_client_from_config(config_file=str(kubeconfig))
    return Target(helm=helm, api=api, paths=paths, release=release, namespace=namespace)


@dataclass(frozen=True)
class MlflowWiring:
    """Where the release's pods send MLflow data, from its Secret, and the experiment they use."""

    tracking_uri: str
    secret: str
    experiment: str


def mlflow_wiring(target: Target, values: dict[str, Any]) -> MlflowWiring:
    """The release's MLflow Secret and experiment, with the chart's defaults for what the values omit."""
    mlflow = with_chart_defaults(values, target.paths)["mlflow"]
    uri, secret = mlflow_tracking_uri(target, mlflow["existingSecret"])
    return MlflowWiring(uri, secret, mlflow["experimentName"])

