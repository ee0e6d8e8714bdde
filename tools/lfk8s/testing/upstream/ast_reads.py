"""Reading syntax trees: string constants, environment reads, dataclass fields across modules
(Modules), and the values Literal/Enum annotations allow."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lfk8s.testing.upstream.floors import UpstreamReadError
from lfk8s.testing.upstream.wheels import module_name, parse_member, python_members, read_member

# ------------------------------------------------------------------ strings and env reads


def string_constant(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def dotted(node: ast.AST) -> str:
    """`os.environ.get` for an Attribute chain, '' for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


_ENVIRON = {"os.environ", "environ"}
_ENV_READ_CALLS = {"os.getenv", "getenv", "os.environ.get", "environ.get", "os.environ.setdefault"}


def _env_read(node: ast.AST, helpers: frozenset[str]) -> str | None:
    """The variable name when a node reads one: os.getenv("X"), os.environ.get("X"),
    os.environ["X"], "X" in os.environ, or a package helper such as is_env_enabled("X")."""
    if isinstance(node, ast.Call) and node.args:
        name = dotted(node.func)
        if name in _ENV_READ_CALLS or name.rsplit(".", 1)[-1] in helpers:
            return string_constant(node.args[0])
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and dotted(node.value) in _ENVIRON:
        return string_constant(node.slice)
    if (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn))
            and dotted(node.comparators[0]) in _ENVIRON):
        return string_constant(node.left)
    return None


def env_reads(tree: ast.AST, helpers: Iterable[str] = ()) -> frozenset[str]:
    """Environment variables a syntax tree reads by a literal name."""
    helper_set = frozenset(helpers)
    return frozenset(name for node in ast.walk(tree) if (name := _env_read(node, helper_set)))


def package_env_reads(whl: Path, prefix: str, helpers: Iterable[str] = ()) -> frozenset[str]:
    """Literal environment reads in every module under a prefix; only modules whose text
    mentions a read are parsed."""
    helper_names = tuple(helpers)
    mentions = re.compile("|".join([r"getenv\(", r"environ\s*(\[|\.get\(|\.setdefault\()", r"in\s+(os\.)?environ\b",
                                    *(re.escape(h) + r"\(" for h in helper_names)]))
    found: set[str] = set()
    for member in python_members(whl, prefix):
        text = read_member(whl, member)
        if mentions.search(text):
            found |= env_reads(ast.parse(text, filename=member), helper_names)
    return frozenset(found)


# ------------------------------------------------------------------ dataclasses


@dataclass(frozen=True)
class Field:
    name: str
    init: bool
    annotation: ast.expr
    module: str


class Modules:
    """Parsed modules by dotted name, with base-class resolution across them."""

    def __init__(self, trees: dict[str, ast.Module], packages: frozenset[str] = frozenset()) -> None:
        self.trees = trees
        self.packages = packages  # modules read from an __init__.py

    @classmethod
    def from_wheels(cls, *sources: tuple[Path, Iterable[str]]) -> Modules:
        wheel_members = [(whl, m) for whl, names in sources for m in names]
        return cls({module_name(m): parse_member(whl, m) for whl, m in wheel_members},
                   frozenset(module_name(m) for _, m in wheel_members if m.endswith("/__init__.py")))

    def top_level(self, module: str) -> Iterator[ast.stmt]:
        """Top-level statements, including those under top-level if/else and try."""
        pending = list(self.trees[module].body)
        while pending:
            stmt = pending.pop(0)
            yield stmt
            if isinstance(stmt, ast.If):
                pending[:0] = [*stmt.body, *stmt.orelse]
            elif isinstance(stmt, ast.Try):
                pending[:0] = [*stmt.body, *[s for h in stmt.handlers for s in h.body], *stmt.orelse]

    def classes(self, module: str) -> dict[str, ast.ClassDef]:
        return {s.name: s for s in self.top_level(module) if isinstance(s, ast.ClassDef)}

    def find(self, module: str, name: str) -> tuple[str, ast.ClassDef]:
        """The class a name means in a module: defined there, aliased (X = Y), or imported."""
        found = self._resolve(module, name, frozenset())
        if not found:
            raise UpstreamReadError(f"{module}: cannot resolve class {name}")
        return found[0]

    def _resolve(self, module: str, name: str, seen: frozenset[tuple[str, str]]) -> list[tuple[str, ast.ClassDef]]:
        if (module, name) in seen or module not in self.trees:
            return []
        seen = seen | {(module, name)}
        classes = self.classes(module)
        if name in classes:
            return [(module, classes[name])]
        aliases = [s.value.id for s in self.top_level(module) if isinstance(s, ast.Assign)
                   and isinstance(s.value, ast.Name) and any(dotted(t) == name for t in s.targets)]
        if aliases:
            return [hit for alias in aliases for hit in self._resolve(module, alias, seen)]
        for stmt in self.top_level(module):
            if isinstance(stmt, ast.ImportFrom):
                for alias in stmt.names:
                    if (alias.asname or alias.name) == name:
                        return self._imported(module, stmt, alias.name, seen)
        return []

    def _imported(self, module: str, stmt: ast.ImportFrom, name: str,
                  seen: frozenset[tuple[str, str]]) -> list[tuple[str, ast.ClassDef]]:
        source = stmt.module or ""
        if stmt.level:
            parts = module.split(".")
            package = parts[: len(parts) - stmt.level + (1 if module in self.packages else 0)]
            source = ".".join([*package, *([source] if source else [])])
        if source in self.trees:
            return self._resolve(source, name, seen)
        # A package re-export (`from transformers import X`): the one loaded module defining X.
        return [(m, c[name]) for m in self.trees if (c := self.classes(m)) and name in c][:1]

    def fields(self, module: str, cls: ast.ClassDef) -> dict[str, Field]:
        """Dataclass fields of a class, its dataclass bases' first (later definitions win)."""
        result: dict[str, Field] = {}
        for base in reversed(cls.bases):
            base_name = dotted(base).rsplit(".", 1)[-1]
            if not base_name or base_name in _NON_DATACLASS_BASES:
                continue
            resolved = self._resolve(module, base_name, frozenset())
            if not resolved:
                raise UpstreamReadError(f"{module}: base class {base_name} of {cls.name} is not in the parsed modules")
            for base_module, base_cls in resolved:
                result.update(self.fields(base_module, base_cls))
        if _is_dataclass(cls):
            for stmt in cls.body:
                if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                        and not _is_classvar(stmt.annotation)):
                    result[stmt.target.id] = Field(stmt.target.id, not _init_false(stmt.value), stmt.annotation, module)
        return result


# Bases that never add dataclass fields.
_NON_DATACLASS_BASES = {"object", "Enum", "StrEnum", "IntEnum", "str", "int", "ExplicitEnum", "Generic", "ABC",
                        "TrainerCallback", "Struct"}
_DATACLASS_DECORATORS = {"dataclass", "config"}  # vLLM's @config makes a pydantic dataclass


def _is_dataclass(cls: ast.ClassDef) -> bool:
    for decorator in cls.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if dotted(target).rsplit(".", 1)[-1] in _DATACLASS_DECORATORS:
            return True
    return False


def _is_classvar(annotation: ast.expr) -> bool:
    target = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    return dotted(target).rsplit(".", 1)[-1] == "ClassVar"


def _init_false(value: ast.expr | None) -> bool:
    """field(init=False): HfArgumentParser and dataclass constructors refuse such keys."""
    return (isinstance(value, ast.Call) and dotted(value.func).rsplit(".", 1)[-1] == "field"
            and any(k.arg == "init" and isinstance(k.value, ast.Constant) and k.value.value is False
                    for k in value.keywords))


def init_fields(modules: Modules, module: str, class_name: str) -> dict[str, Field]:
    """Fields a dataclass accepts as constructor arguments (init=True)."""
    found_module, cls = modules.find(module, class_name)
    return {name: f for name, f in modules.fields(found_module, cls).items() if f.init}


# ------------------------------------------------------------------ annotations and enums


def _annotation(node: ast.expr) -> ast.expr:
    """A string annotation parsed; others as they are."""
    text = string_constant(node)
    if not text:
        return node
    try:
        return ast.parse(text, mode="eval").body
    except SyntaxError:
        return node


def union_members(node: ast.expr) -> list[ast.expr]:
    """Members of X | Y, Optional[X], Union[X, Y]; [node] otherwise."""
    node = _annotation(node)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return [*union_members(node.left), *union_members(node.right)]
    if isinstance(node, ast.Subscript) and dotted(node.value).rsplit(".", 1)[-1] in ("Optional", "Union"):
        inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return [m for e in inner for m in union_members(e)]
    return [node]


def literal_values(annotation: ast.expr) -> frozenset[str] | None:
    """The string values of a Literal[...] annotation (inside Optional/| None), else None."""
    values: set[str] = set()
    for member in union_members(annotation):
        if isinstance(member, ast.Subscript) and dotted(member.value).rsplit(".", 1)[-1] == "Literal":
            elts = member.slice.elts if isinstance(member.slice, ast.Tuple) else [member.slice]
            values |= {s for e in elts if (s := string_constant(e)) is not None}
    return frozenset(values) or None


def literal_values_any(annotation: ast.expr, aliases: dict[str, ast.expr], depth: int = 0) -> frozenset[str] | None:
    """str() of every constant of the Literal members of an annotation, through aliases; None
    when a member is plain `str` (vLLM then shows the values as a metavar, not choices)."""
    values: set[str] = set()
    members = union_members(annotation)
    if any(dotted(m) == "str" for m in members):
        return None
    for member in members:
        if isinstance(member, ast.Name) and member.id in aliases and depth < 5:
            values |= literal_values_any(aliases[member.id], aliases, depth + 1) or set()
        elif isinstance(member, ast.Subscript) and dotted(member.value).rsplit(".", 1)[-1] == "Literal":
            elts = member.slice.elts if isinstance(member.slice, ast.Tuple) else [member.slice]
            values |= {str(e.value) for e in elts if isinstance(e, ast.Constant)}
    return frozenset(values) or None


def enum_values(cls: ast.ClassDef) -> frozenset[str]:
    return frozenset(s for stmt in cls.body
                     if isinstance(stmt, ast.Assign) and (s := string_constant(stmt.value)) is not None)
