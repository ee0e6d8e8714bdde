"""Small helpers the manifest tests share."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def cmdline(container: Obj) -> list[str]:
    """command + args of a container, as strings."""
    return [str(x) for x in [*(container.get("command") or []), *(container.get("args") or [])]]


def flag(argv: list[str], name: str) -> str:
    """The value of `--name VALUE` or `--name=VALUE`; fails when absent or repeated."""
    values = []
    for index, arg in enumerate(argv):
        if arg == name:
            assert index + 1 < len(argv), f"{name} has no value in {argv}"
            values.append(argv[index + 1])
        elif arg.startswith(name + "="):
            values.append(arg.split("=", 1)[1])
    assert len(values) == 1, f"expected {name} exactly once in {argv}, found {values}"
    return values[0]
