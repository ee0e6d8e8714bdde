"""Shared fixtures: the project's paths and the real helm binaries (Helm 4 and Helm 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from lfk8s import chart, toolchain, versions
from lfk8s.chart import Rendered
from lfk8s.helm import Helm
from lfk8s.paths import ProjectPaths


@pytest.fixture(scope="session")
def paths() -> ProjectPaths:
    return ProjectPaths.discover(Path(__file__).parent)


@pytest.fixture(scope="session")
def helm() -> Helm:
    """Helm 4, the current major version."""
    return Helm(toolchain.ensure_helm(4))


@pytest.fixture(scope="session")
def helm3() -> Helm:
    return Helm(toolchain.ensure_helm(3))


@pytest.fixture(scope="session")
def helms(helm: Helm, helm3: Helm) -> dict[int, Helm]:
    return {4: helm, 3: helm3}


RenderFn = Callable[..., Rendered]


@pytest.fixture(scope="session")
def render(helm: Helm, paths: ProjectPaths) -> RenderFn:
    """render(values, release=..., namespace=...) with Helm 4."""

    def _render(values: dict[str, Any] | None = None, release: str = chart.DEFAULT_RELEASE,
                namespace: str = chart.DEFAULT_NAMESPACE) -> Rendered:
        return chart.render(helm, paths, values or {}, release, namespace)

    return _render


# Values that switch every component on, with what each needs to pass the chart's checks.
ALL_ON: dict[str, Any] = {
    "mlflow": {"trackingUri": "http://mlflow.mlflow.svc:5000"},
    "training": {"enabled": True},
    "merge": {"enabled": True},
    "webui": {"enabled": True},
    "inference": {"enabled": True},
}


@pytest.fixture(scope="session")
def all_on() -> dict[str, Any]:
    import copy
    return copy.deepcopy(ALL_ON)


def pytest_report_header() -> list[str]:
    return [f"helm versions: {versions.HELM_VERSIONS}, kubernetes: {versions.KUBERNETES_VERSION}"]
