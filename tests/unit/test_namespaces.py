"""The release namespace (helm's -n) is where every namespaced object goes; namespace.name only
states the intended one, and the chart refuses a release namespace that contradicts it."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import pytest

from lfk8s.chart import profiles, rendering, values
from lfk8s.chart.helm import Helm, HelmError
from lfk8s.chart.rendering import Rendered
from lfk8s.paths import ProjectPaths
from tests.conftest import RenderFn

# Kubernetes kinds that live outside any namespace (a fact of the API, not of the chart).
CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "StorageClass",
                  "PriorityClass", "IngressClass", "GatewayClass", "CustomResourceDefinition"}
VALUES_FILES = sorted((Path(__file__).parents[2] / "values").glob("*.yaml"))


def mismatch_message(stated: str, release_namespace: str) -> str:
    return (f'namespace.name is "{stated}" but the release is being installed into namespace '
            f'"{release_namespace}": install with -n {stated}, or remove namespace.name')


def namespaced(rendered: Rendered) -> list[dict[str, Any]]:
    return [obj for obj in rendered.objects if obj["kind"] not in CLUSTER_SCOPED]


def assert_all_in(rendered: Rendered, namespace: str) -> None:
    objects = namespaced(rendered)
    assert objects
    misplaced = [(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in objects
                 if o["metadata"].get("namespace") != namespace]
    assert misplaced == [], f"not in the release namespace {namespace}"
    for volume in rendered.of_kind("PersistentVolume"):
        assert volume["spec"]["claimRef"]["namespace"] == namespace


def random_namespace() -> str:
    """A throwaway namespace name, as chart-testing gives each install."""
    return f"ct-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("major", [4, 3])
def test_a_contradicting_release_namespace_is_refused(helms: dict[int, Helm], paths: ProjectPaths,
                                                      all_on: dict[str, Any], major: int) -> None:
    """Both helms refuse it in the preflight's words."""
    data = {**all_on, "namespace": {"name": "llm-dev"}}
    with pytest.raises(HelmError) as refused:
        rendering.render(helms[major], paths, data, namespace="team-x")
    assert "llama-factory: invalid values:" in str(refused.value)
    assert mismatch_message("llm-dev", "team-x") in str(refused.value)


def test_a_matching_statement_renders_everything_there(render: RenderFn, all_on: dict[str, Any]) -> None:
    rendered = render({**all_on, "namespace": {"name": "llm-dev"}}, namespace="llm-dev")
    assert_all_in(rendered, "llm-dev")
    assert rendered.of_kind("Namespace") == [], "the chart never creates its namespace"


def test_no_statement_follows_the_release_namespace(render: RenderFn, all_on: dict[str, Any]) -> None:
    namespace = random_namespace()
    rendered = render(all_on, namespace=namespace)
    assert_all_in(rendered, namespace)
    # Addresses the chart writes into pods follow it too (the test hooks call the Service by its DNS name).
    assert f".{namespace}.svc:" in rendered.text


def test_namespace_create_is_gone(paths: ProjectPaths) -> None:
    """A values file still asking the chart to create the namespace is told the key is unknown."""
    with pytest.raises(values.InvalidValues) as refused:
        values.validate({"namespace": {"create": True}}, paths, "old.yaml")
    assert "namespace.create: unknown key; allowed keys: labels, name" in str(refused.value)


@pytest.mark.parametrize("values_file", VALUES_FILES, ids=lambda p: p.stem)
def test_every_values_file_renders_in_the_release_namespace(helm: Helm, paths: ProjectPaths,
                                                            values_file: Path) -> None:
    """Each file lands where helm is told: in the namespace it states, or, with the statement
    removed, in any namespace (chart-testing's random ones); a contradiction is refused."""
    data = values.load(values_file)
    stated = rendering.intended_namespace(data)
    assert_all_in(rendering.render_file(helm, paths, values_file), stated or rendering.DEFAULT_NAMESPACE)
    elsewhere = random_namespace()
    unstated = copy.deepcopy(data)
    unstated.setdefault("namespace", {})["name"] = ""
    rendered = rendering.render(helm, paths, unstated, namespace=elsewhere)
    assert_all_in(rendered, elsewhere)
    if stated:
        for reference in (f"namespace: {stated}\n", f".{stated}.svc", f"- {stated}\n"):
            assert reference not in rendered.text, f"{reference!r} left with the statement removed"
        with pytest.raises(HelmError) as refused:
            rendering.render(helm, paths, data, namespace=elsewhere)
        assert mismatch_message(stated, elsewhere) in str(refused.value)


def test_values_files_state_their_profiles_namespace(paths: ProjectPaths) -> None:
    """The generated files keep naming the namespace their profile gives (the harness installs there)."""
    outputs = profiles.profile_outputs(paths)
    stated = {target.stem: rendering.intended_namespace(values.load(target)) for target in outputs}
    assert stated == {target.stem: profile.namespace for target, (_, profile) in outputs.items()}
    assert any(stated.values()) and not all(stated.values())
