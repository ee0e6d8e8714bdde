"""Reading argparse registrations (`parser.add_argument(...)`) from syntax trees."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeGuard

from lfk8s.testing.upstream.ast_reads import dotted, string_constant


@dataclass(frozen=True)
class Argument:
    """One registered CLI argument: its option strings and, for a closed set, its choices."""

    options: frozenset[str]
    choices: frozenset[str] | None = None


def option_strings(call: ast.Call) -> list[str]:
    return [s for a in call.args if (s := string_constant(a)) and s.startswith("-")]


def is_add_argument(node: ast.AST) -> TypeGuard[ast.Call]:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument"


def explicit_boolean_optional(call: ast.Call) -> bool:
    return any(k.arg == "action" and dotted(k.value).endswith("BooleanOptionalAction") for k in call.keywords)


def negated(options: Iterable[str]) -> set[str]:
    return {"--no-" + o[2:] for o in options if o.startswith("--")}


def constant_choices(node: ast.expr | None) -> frozenset[str] | None:
    """choices=[...] written as a list or tuple of constants (str() of each), else None."""
    if isinstance(node, (ast.List, ast.Tuple)):
        constants = [e.value for e in node.elts if isinstance(e, ast.Constant)]
        if len(constants) == len(node.elts):
            return frozenset(str(c) for c in constants)
    return None


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def flag_choices(arguments: Iterable[Argument]) -> dict[str, frozenset[str]]:
    return {o: a.choices for a in arguments if a.choices for o in a.options}
