"""Rendering the chart: manifests from a values file, folders of them, golden copies."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from lfk8s.chart import values as values_mod
from lfk8s.chart.defaults import chart_name
from lfk8s.chart.helm import Helm
from lfk8s.paths import ProjectPaths

# The namespace the harness installs into and renders for when neither the command line nor the
# values file's namespace.name names one: a choice of the harness (the chart puts every object in
# the release namespace). The default release name is the chart's name (chart.defaults.chart_name).
DEFAULT_NAMESPACE = "llm-training"


def intended_namespace(values: dict[str, Any]) -> str:
    """The namespace a values file states (namespace.name), or "" when it states none."""
    section = values.get("namespace")
    return str(section.get("name") or "") if isinstance(section, dict) else ""


def release_namespace(values: dict[str, Any], requested: str | None = None) -> str:
    """Where a release of these values goes: `requested` (a --namespace), else the values' own
    namespace.name, else DEFAULT_NAMESPACE. A request the values contradict is not refused here:
    the chart's preflight refuses it in its own words, and callers that can refuse earlier do."""
    return requested or intended_namespace(values) or DEFAULT_NAMESPACE


def component_of(obj: dict[str, Any]) -> str | None:
    """The object's app.kubernetes.io/component label."""
    labels: dict[str, str] = obj["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/component")


@dataclass(frozen=True)
class Rendered:
    """The YAML stream `helm template` printed, and its objects."""

    text: str

    @cached_property
    def objects(self) -> list[dict[str, Any]]:
        return [doc for doc in yaml.safe_load_all(self.text) if doc]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def get(self, kind: str, name: str | None = None, component: str | None = None) -> dict[str, Any]:
        matches = [obj for obj in self.of_kind(kind)
                   if (name is None or obj["metadata"]["name"] == name)
                   and (component is None or component_of(obj) == component)]
        if len(matches) != 1:
            raise LookupError(f"expected one {kind} (name={name}, component={component}), found {len(matches)}")
        return matches[0]

    def names(self) -> list[str]:
        return [obj["metadata"]["name"] for obj in self.objects]

    def comparable(self) -> list[dict[str, Any]]:
        """The objects with values generated at render time masked (a new API key each
        offline render, since `lookup` finds no live Secret there)."""
        out = []
        for obj in self.objects:
            if obj["kind"] == "Secret" and obj["metadata"]["name"].endswith("-api-key") and "data" in obj:
                obj = {**obj, "data": dict.fromkeys(obj["data"], "<generated>")}
            out.append(obj)
        return out


def pod_specs(rendered: Rendered) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, pod spec) for every object that runs pods."""
    for obj in rendered.objects:
        kind = obj["kind"]
        if kind in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            yield obj, obj["spec"]["template"]["spec"]
        elif kind == "Pod":
            yield obj, obj["spec"]


def containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def render(helm: Helm, paths: ProjectPaths, values: dict[str, Any], release: str | None = None,
           namespace: str | None = None) -> Rendered:
    """`helm template`; namespace None: the one the values state (release_namespace)."""
    return Rendered(helm.template(paths.chart, values, release or chart_name(paths),
                                  release_namespace(values, namespace)))


def render_file(helm: Helm, paths: ProjectPaths, values_file: Path, release: str | None = None,
                namespace: str | None = None) -> Rendered:
    values = values_mod.load(values_file)
    values_mod.validate(values, paths, str(values_file))
    return render(helm, paths, values, release, namespace)


def write_manifests(rendered: Rendered, out_dir: Path) -> list[Path]:
    """One file per object, named <index>-<kind>-<name>.yaml, into a fresh folder."""
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    written = []
    for index, obj in enumerate(rendered.objects):
        path = out_dir / f"{index:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(obj, sort_keys=False, width=1000))
        written.append(path)
    return written


def values_files(paths: ProjectPaths) -> list[Path]:
    return sorted(paths.values_dir.glob("*.yaml"))


def golden_path(paths: ProjectPaths, values_file: Path) -> Path:
    return paths.golden_dir / values_file.name


def drifted_goldens(helm: Helm, paths: ProjectPaths, update: bool = False) -> list[Path]:
    """Golden renders that differ from what the chart renders now (rewritten when update)."""
    drifted = []
    expected = {golden_path(paths, f): render_file(helm, paths, f).text for f in values_files(paths)}
    for stale in set(paths.golden_dir.glob("*.yaml")) - set(expected):
        drifted.append(stale)
        if update:
            stale.unlink()
    for path, text in expected.items():
        if not path.exists() or path.read_text() != text:
            drifted.append(path)
            if update:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    return sorted(drifted)
