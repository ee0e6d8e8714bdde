"""The values schema: one source, closed objects, documented, and the generated files current."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml

from lfk8s.chart import schema, values
from lfk8s.paths import ProjectPaths


@pytest.fixture(scope="module")
def json_schema(paths: ProjectPaths) -> dict[str, Any]:
    return schema.load_json_schema(paths)


def walk(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, sub in node.get("properties", {}).items():
            yield from walk(sub, f"{path}.{key}" if path else key)
        if isinstance(node.get("items"), dict):
            yield from walk(node["items"], f"{path}[]")


def test_generated_files_are_current(paths: ProjectPaths) -> None:
    stale = schema.stale_files(paths)
    assert not stale, f"run `lfk8s schema generate`; out of date: {stale}"


def test_schema_is_a_valid_draft7_schema(json_schema: dict[str, Any]) -> None:
    jsonschema.Draft7Validator.check_schema(json_schema)


def test_no_references_left(paths: ProjectPaths) -> None:
    assert "$ref" not in paths.schema_json.read_text()


def test_every_object_with_properties_is_closed(json_schema: dict[str, Any]) -> None:
    open_objects = [
        p for p, node in walk(json_schema)
        if "properties" in node and node.get("additionalProperties") is not False
    ]
    assert not open_objects


def test_every_property_has_a_description(json_schema: dict[str, Any]) -> None:
    missing = [p for p, node in walk(json_schema) if p and not p.endswith("[]") and not node.get("description")]
    assert not missing


def test_every_leaf_has_a_default(json_schema: dict[str, Any]) -> None:
    """Every leaf property has a default, its own or one of an enclosing object (where it is optional)."""

    def missing(node: dict[str, Any], path: str, covered: bool) -> list[str]:
        covered = covered or "default" in node
        if "properties" not in node:
            return [] if covered else [path]
        return [
            m for key, sub in node["properties"].items()
            for m in missing(sub, f"{path}.{key}".lstrip("."), covered)
        ]

    assert missing(json_schema, "", False) == []
    assert schema.default_values(json_schema)["inference"]["service"]["name"] == "llm-inference"


def test_values_yaml_equals_schema_defaults(paths: ProjectPaths, json_schema: dict[str, Any]) -> None:
    assert yaml.safe_load(paths.values_yaml.read_text()) == schema.default_values(json_schema)


def test_defaults_validate(paths: ProjectPaths, json_schema: dict[str, Any]) -> None:
    assert values.problems(schema.default_values(json_schema), json_schema) == []


def test_values_yaml_comments_carry_descriptions(paths: ProjectPaths) -> None:
    text = paths.values_yaml.read_text()
    assert "# -- Model name clients send in requests" in text
    assert "servedModelName: llama-factory-model" in text


def test_readme_table_lists_every_leaf(paths: ProjectPaths, json_schema: dict[str, Any]) -> None:
    readme = paths.readme.read_text()
    for leaf in schema.leaves(json_schema):
        assert f"| `{leaf.path}` |" in readme, leaf.path


def test_generator_closes_objects_and_resolves_sibling_overrides() -> None:
    source = {
        "definitions": {
            "probe": {"type": "object", "properties": {"timeoutSeconds": {"type": "integer", "minimum": 1}}}
        },
        "type": "object",
        "properties": {"p": {"$ref": "#/definitions/probe", "properties": {"timeoutSeconds": {"minimum": 5}}}},
    }
    built = schema.build_json_schema(source)
    assert built["additionalProperties"] is False
    assert built["properties"]["p"]["additionalProperties"] is False
    assert built["properties"]["p"]["properties"]["timeoutSeconds"] == {"type": "integer", "minimum": 5}


def test_readme_markers_required() -> None:
    with pytest.raises(ValueError, match="values-table"):
        schema.replace_readme_table("no markers here", "| table |")
