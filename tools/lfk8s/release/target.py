"""Where a release goes: the cluster (an API client and helm bound to its kubeconfig), the
release name and its namespace; and the namespace and Secret reads every release step shares."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.rest import ApiException

from lfk8s import versions
from lfk8s.chart.helm import Helm
from lfk8s.chart.values import with_chart_defaults
from lfk8s.paths import ProjectPaths
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain.pinned import ensure_helm

RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted"}


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


def ensure_namespace(target: Target, namespace: str | None = None, labels: dict[str, str] | None = None) -> None:
    """The namespace with Pod Security `restricted` enforced, as a platform team would make it."""
    name = namespace or target.namespace
    body = {"metadata": {"name": name, "labels": {**RESTRICTED, **(labels or {})}}}
    try:
        target.core.create_namespace(body)
    except ApiException as error:
        if error.status != 409:
            raise
        target.core.patch_namespace(name, body)


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

