"""The chart's own facts, read from the chart (Chart.yaml and values.yaml), so that a default
changed in the chart reaches the harness with no second copy to update."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from lfk8s.paths import ProjectPaths


@functools.lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


def _read(path: Path) -> dict[str, Any]:
    # Keyed by modification time, so `schema generate` rewriting values.yaml is seen at once.
    return _load(path, path.stat().st_mtime_ns)


def chart_values(paths: ProjectPaths) -> dict[str, Any]:
    """values.yaml: every default of the chart."""
    return _read(paths.values_yaml)


def chart_metadata(paths: ProjectPaths) -> dict[str, Any]:
    """Chart.yaml."""
    return _read(paths.chart / "Chart.yaml")


def chart_name(paths: ProjectPaths) -> str:
    """The chart's name, which is also the release name the harness uses unless told otherwise."""
    return str(chart_metadata(paths)["name"])


def default(paths: ProjectPaths, dotted: str) -> Any:
    """One default of values.yaml by its dotted path, e.g. `inference.servedModelName`."""
    node: Any = chart_values(paths)
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"charts/llama-factory/values.yaml has no {dotted}")
        node = node[part]
    return node
