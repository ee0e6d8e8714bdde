"""SGLang: the `python -m sglang.launch_server` options (with their closed sets of values), its
modules, and the environment variables its runtime reads."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from lfk8s.testing.upstream.ast_reads import Modules, dotted, literal_values_any, package_env_reads, string_constant
from lfk8s.testing.upstream.cli_reads import (
    Argument,
    constant_choices,
    explicit_boolean_optional,
    flag_choices,
    is_add_argument,
    keyword,
    negated,
    option_strings,
)
from lfk8s.testing.upstream.floors import UpstreamReadError, require_floor
from lfk8s.testing.upstream.locks import image_python, versions
from lfk8s.testing.upstream.wheels import disk_cached, has_module, parse_member, python_members, wheel


def sglang_wheel() -> Path:
    return wheel("sglang", versions().sglang, image_python("sglang"))


def _annotated_metadata(annotation: ast.expr) -> list[ast.expr] | None:
    """The metadata of A[T, ...] / Annotated[T, ...]; None when not annotated."""
    if isinstance(annotation, ast.Subscript) and dotted(annotation.value).rsplit(".", 1)[-1] in ("A", "Annotated"):
        elts = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
        return list(elts[1:])
    return None


def _field_argument(name: str, annotation: ast.expr) -> Argument | None:
    """What add_cli_args_from_dataclass registers for one field: nothing without Arg/help
    metadata or with no_cli=True; cli_name (or --field-name) plus aliases otherwise, with
    Arg(choices=[...]) or the field's Literal values as choices."""
    metadata = _annotated_metadata(annotation)
    literal = None
    if metadata is not None and isinstance(annotation, ast.Subscript) and isinstance(annotation.slice, ast.Tuple):
        literal = literal_values_any(annotation.slice.elts[0], {})
    default = "--" + name.replace("_", "-")
    for item in metadata or []:
        if isinstance(item, ast.Call) and dotted(item.func).rsplit(".", 1)[-1] == "Arg":
            keywords = {k.arg: k.value for k in item.keywords}
            no_cli = keywords.get("no_cli")
            if isinstance(no_cli, ast.Constant) and no_cli.value is True:
                return None
            options = {string_constant(keywords.get("cli_name")) or default}
            aliases = keywords.get("aliases")
            if isinstance(aliases, (ast.List, ast.Tuple)):
                options |= {s for e in aliases.elts if (s := string_constant(e))}
            if "action" in keywords and dotted(keywords["action"]).endswith("BooleanOptionalAction"):
                options |= negated(options)
            return Argument(frozenset(options), constant_choices(keywords.get("choices")) or literal)
        if not isinstance(item, ast.Call):  # a bare help string; NS(...) and other markers are skipped
            return Argument(frozenset({default}), literal)
    return None


def _input_namespaces(whl: Path) -> list[str]:
    """Class names in server_args.py's `_INPUT_NAMESPACES = [...]`."""
    for node in parse_member(whl, "sglang/srt/server_args.py").body:
        if isinstance(node, ast.Assign) and any(dotted(t) == "_INPUT_NAMESPACES" for t in node.targets):
            return [dotted(e) for e in node.value.elts] if isinstance(node.value, ast.List) else []
    raise UpstreamReadError("sglang/srt/server_args.py has no _INPUT_NAMESPACES")


def _class_arguments(cls: ast.ClassDef) -> list[Argument]:
    return [a for stmt in cls.body if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
            and (a := _field_argument(stmt.target.id, stmt.annotation)) is not None]


@functools.cache
def _sglang_arguments(whl: Path) -> tuple[Argument, ...]:
    modules = Modules.from_wheels((whl, [*python_members(whl, "sglang/srt/arg_groups/fields/"),
                                         "sglang/srt/server_args.py"]))
    arguments: list[Argument] = []
    for name in [*_input_namespaces(whl), "ServerArgs"]:
        arguments += _class_arguments(modules.find("sglang.srt.server_args", name)[1])
    for call in (n for n in ast.walk(modules.trees["sglang.srt.server_args"]) if is_add_argument(n)):
        options = set(option_strings(call))
        if explicit_boolean_optional(call):
            options |= negated(options)
        arguments.append(Argument(frozenset(options), constant_choices(keyword(call, "choices"))))
    return tuple(arguments)


@disk_cached
def _sglang_flags(whl: Path) -> frozenset[str]:
    return frozenset(o for argument in _sglang_arguments(whl) for o in argument.options)


def sglang_flag_choices() -> dict[str, frozenset[str]]:
    """The values of sglang.launch_server options that take a closed set."""
    return flag_choices(_sglang_arguments(sglang_wheel()))


def sglang_launch_server_flags() -> frozenset[str]:
    """Options of `python -m sglang.launch_server` (ServerArgs.add_cli_args: the annotated
    fields of every input namespace, plus its explicit add_argument calls)."""
    return require_floor("sglang.launch_server_flags", _sglang_flags(sglang_wheel()))


def sglang_has_module(module: str) -> bool:
    return has_module(sglang_wheel(), module)


@disk_cached
def _sglang_env(whl: Path) -> frozenset[str]:
    found = set(package_env_reads(whl, "sglang/srt/", helpers=("get_bool_env_var", "get_int_env_var")))
    for node in parse_member(whl, "sglang/srt/environ.py").body:
        if isinstance(node, ast.ClassDef) and node.name == "Envs":
            # SGLANG_X = EnvBool(...): the attribute name is the variable name.
            found |= {t.id for s in node.body if isinstance(s, ast.Assign) and isinstance(s.value, ast.Call)
                      for t in s.targets if isinstance(t, ast.Name)}
    return frozenset(found)


def sglang_env() -> frozenset[str]:
    """Variables SGLang's runtime reads (srt/environ.py's Envs and literal reads in sglang/srt)."""
    return require_floor("sglang.env", _sglang_env(sglang_wheel()))
