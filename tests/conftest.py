"""Shared fixtures: the project's paths, the real helm binaries (Helm 4 and Helm 3) and the
images built from images/ with a real container engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lfk8s import versions
from lfk8s.chart import rendering
from lfk8s.chart.helm import Helm
from lfk8s.chart.rendering import Rendered
from lfk8s.images import build
from lfk8s.images.model import chart_image
from lfk8s.paths import ProjectPaths
from lfk8s.toolchain import pinned


@pytest.fixture(scope="session")
def paths() -> ProjectPaths:
    return ProjectPaths.discover(Path(__file__).parent)


@pytest.fixture(scope="session")
def helm() -> Helm:
    """Helm 4, the current major version."""
    return Helm(pinned.ensure_helm(4, exact=True))


@pytest.fixture(scope="session")
def helm3() -> Helm:
    return Helm(pinned.ensure_helm(3, exact=True))


@pytest.fixture(scope="session")
def helms(helm: Helm, helm3: Helm) -> dict[int, Helm]:
    return {4: helm, 3: helm3}


RenderFn = Callable[..., Rendered]


@pytest.fixture(scope="session")
def render(helm: Helm, paths: ProjectPaths) -> RenderFn:
    """render(values, release=..., namespace=...) with Helm 4."""

    # release=None renders under the chart's name (chart.defaults.chart_name).
    def _render(values: dict[str, Any] | None = None, release: str | None = None,
                namespace: str = rendering.DEFAULT_NAMESPACE) -> Rendered:
        return rendering.render(helm, paths, values or {}, release, namespace)

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


@pytest.fixture(scope="session")
def training_image(paths: ProjectPaths) -> str:
    """images/training built here (docker started and base images made from Debian's packages
    when needed; a rebuild with nothing changed is all cache), tagged as values.yaml names it."""
    build.build(paths, ["training"])
    return chart_image(paths, "training").reference()


def pytest_report_header() -> list[str]:
    return [f"helm versions: {versions.HELM_VERSIONS}, kubernetes: {versions.KUBERNETES_VERSION}"]
