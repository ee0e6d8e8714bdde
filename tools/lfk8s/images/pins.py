"""Exact pins (`name==version`) and project names: the one pin parser of the harness."""

from __future__ import annotations

import re

_NAME_RE = re.compile(r"[-_.]+")
_PIN_RE = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;]+)")


class ImageError(RuntimeError):
    pass


def canonical(name: str) -> str:
    """PEP 503 normalised project name."""
    return _NAME_RE.sub("-", name).lower()


def parse_pins(text: str) -> dict[str, str]:
    """`name[extras]==version` lines (comments, blanks and trailing comments ignored) -> {name: version}."""
    pins: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _PIN_RE.fullmatch(line)
        if not match:
            raise ImageError(f"not an exact pin (name==version): {raw!r}")
        pins[canonical(match.group(1))] = match.group(3)
    return pins
