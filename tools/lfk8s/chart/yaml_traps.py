"""YAML 1.1 readings a person rarely means, found in a values file's text: helm (and PyYAML)
read `0500` as the octal 320, `yes`/`no`/`on`/`off` as booleans, and `~`/`null` as no value.
These are warnings, not refusals: the value may be meant; quoting it says so."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lfk8s.chart.defaults import chart_values
from lfk8s.paths import ProjectPaths

_OCTAL = re.compile(r"^[-+]?0[0-7_]+$")
_BOOLEAN_WORDS = {"yes", "no", "on", "off", "y", "n"}
_NULL_WORDS = {"~", "null"}


@dataclass(frozen=True)
class YamlTrap:
    path: str
    line: int
    text: str
    reading: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.path}: {self.text} {self.reading}"


def _walk(node: yaml.Node, path: str, defaults: Any) -> list[YamlTrap]:
    if isinstance(node, yaml.MappingNode):
        found: list[YamlTrap] = []
        for key, value in node.value:
            name = str(key.value)
            child = defaults.get(name) if isinstance(defaults, dict) else None
            found += _walk(value, f"{path}.{name}" if path else name, child)
        return found
    if isinstance(node, yaml.SequenceNode):
        return [trap for index, item in enumerate(node.value) for trap in _walk(item, f"{path}[{index}]", None)]
    if not isinstance(node, yaml.ScalarNode) or node.style:  # quoted or block scalars are strings, as meant
        return []
    text, line = str(node.value), node.start_mark.line + 1
    if _OCTAL.match(text) and text.strip("+-0_"):
        value = int(text.replace("_", ""), 8)
        return [YamlTrap(path, line, text, f"is read as the octal number {value}; write {int(text)} or quote it")]
    # A boolean where the chart's default is one is what was meant.
    if text.lower() in _BOOLEAN_WORDS and not isinstance(defaults, bool):
        return [YamlTrap(path, line, text, f"is read as the boolean {text.lower() in {'yes', 'on', 'y'}}; "
                                          f"quote it (\"{text}\") if a string is meant")]
    if text.lower() in _NULL_WORDS and isinstance(defaults, str) and defaults:
        return [YamlTrap(path, line, text, f"is read as no value (null), so the chart's default {defaults!r} "
                                          "is dropped; quote it if the word is meant, or remove the key")]
    return []


def find_traps(text: str, chart_defaults: dict[str, Any]) -> list[YamlTrap]:
    """Every plain scalar of the document whose YAML 1.1 reading is likely not what was meant."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    return _walk(root, "", chart_defaults) if root is not None else []


def file_traps(path: Path, paths: ProjectPaths) -> list[YamlTrap]:
    """find_traps on a values file, against the chart's values.yaml defaults."""
    return find_traps(path.read_text(), chart_values(paths))
