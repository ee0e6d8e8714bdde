"""Values files: load, validate against the chart's JSON schema, merge as helm merges.

Validation errors name the JSON path, the bad value and what is allowed, so a user
fixes a values file without reading the schema.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from lfk8s.chart.schema import load_json_schema
from lfk8s.paths import ProjectPaths


@dataclass(frozen=True)
class ValueProblem:
    path: str
    value: Any
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message} (got {json.dumps(self.value, default=str)})"


class InvalidValues(ValueError):
    def __init__(self, source: str, problems: list[ValueProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: invalid values:\n{lines}")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise InvalidValues(str(path), [ValueProblem("", data, "a values file is a mapping of keys to values")])
    return data


def json_path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# What each JSON-schema keyword allows, in words ({} is the keyword's value).
_ALLOWED = {
    "type": "allowed: a value of type {}",
    "minimum": "allowed: >= {}",
    "exclusiveMinimum": "allowed: > {}",
    "maximum": "allowed: <= {}",
    "pattern": "allowed: strings matching {}",
    "maxLength": "allowed: at most {} characters",
    "minLength": "allowed: at least {} character(s)",
    "minItems": "allowed: at least {} item(s)",
}


def _allowed(error: jsonschema.ValidationError) -> str:
    schema, kind = error.schema, error.validator
    # A schema's own words for what it allows (`errorMessage`) beat a regular expression.
    if isinstance(schema.get("errorMessage"), str):
        return "allowed: " + str(schema["errorMessage"])
    if kind == "anyOf":
        # Each alternative in words: its own errorMessage, "empty" for the empty string.
        words = [str(branch["errorMessage"]) if isinstance(branch.get("errorMessage"), str)
                 else "empty" if branch.get("maxLength") == 0 else json.dumps(branch) for branch in schema["anyOf"]]
        return "allowed: " + ", or ".join(words)
    if kind == "enum":
        return "allowed: " + ", ".join(json.dumps(v) for v in schema["enum"])
    if kind == "additionalProperties":
        return "allowed keys: " + ", ".join(sorted(schema.get("properties", {})))
    if kind == "not":
        return f"not allowed: {json.dumps(error.validator_value)}"
    if kind in _ALLOWED:
        return _ALLOWED[kind].format(error.validator_value)
    return f"allowed: {kind} {json.dumps(error.validator_value)}"


def _matches_pattern_key(schema: dict[str, Any], key: str) -> bool:
    return any(re.search(pattern, key) for pattern in schema.get("patternProperties", {}))


def _problem(error: jsonschema.ValidationError) -> ValueProblem:
    path = json_path(error.absolute_path)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        extra = sorted(key for key in set(error.instance) - set(known) if not _matches_pattern_key(error.schema, key))
        key_path = ", ".join(f"{path}.{key}" if path else key for key in extra)
        if isinstance(error.schema.get("errorMessage"), str):  # free-form keys (labels): say what a key may be
            return ValueProblem(key_path, extra[0] if len(extra) == 1 else extra,
                                f"not a valid key; allowed: {error.schema['errorMessage']}")
        guesses = [match for key in extra for match in difflib.get_close_matches(key, known, n=1, cutoff=0.7)]
        hint = f"did you mean {', '.join(guesses)}? " if guesses else ""
        return ValueProblem(key_path, [error.instance[k] for k in extra][0] if len(extra) == 1 else extra,
                            f"unknown key; {hint}{_allowed(error)}")
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return ValueProblem(f"{path}.{missing}" if path else missing, None, "required")
    description = error.schema.get("description", "")
    explained = isinstance(error.schema.get("errorMessage"), str)
    message = _allowed(error) + (f" ({description})" if description and error.validator == "not" and not explained
                                 else "")
    return ValueProblem(path, error.instance, message)


# The chart's preflight (_preflight.tpl) fails with this header and one "  - " line per problem;
# helm wraps it in "execution error at (<template>:<line>:<col>): " and its own advice.
_PREFLIGHT = re.compile(r"llama-factory: invalid values:\n((?:\s+- .*(?:\n|$))+)")


def preflight_problems(helm_message: str) -> list[str]:
    """The chart's own refusals, unwrapped from helm's error text (empty when there are none)."""
    match = _PREFLIGHT.search(helm_message)
    return [line.strip()[2:] for line in match.group(1).splitlines() if line.strip()] if match else []


def problems(values: dict[str, Any], schema: dict[str, Any]) -> list[ValueProblem]:
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(values), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    # One line per field and message: a value breaking two rules of one errorMessage reads once.
    unique: dict[str, ValueProblem] = {}
    for error in errors:
        problem = _problem(error)
        unique.setdefault(str(problem), problem)
    return list(unique.values())


def with_chart_defaults(values: dict[str, Any], paths: ProjectPaths) -> dict[str, Any]:
    """What helm validates: the chart's values.yaml overlaid with the user's values."""
    return deep_merge(load(paths.values_yaml), values)


def validate(values: dict[str, Any], paths: ProjectPaths, source: str = "values") -> None:
    found = problems(with_chart_defaults(values, paths), load_json_schema(paths))
    if found:
        raise InvalidValues(source, found)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A copy of base with override merged in, recursively for mappings (as helm merges values)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
