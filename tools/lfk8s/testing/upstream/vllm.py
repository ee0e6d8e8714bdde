"""vLLM: the `vllm serve` options (with their closed sets of values), its subcommands and console
scripts, and the environment variables of vllm/envs.py."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from lfk8s.testing.upstream.ast_reads import (
    Field,
    Modules,
    dotted,
    env_reads,
    init_fields,
    literal_values_any,
    string_constant,
    union_members,
)
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
from lfk8s.testing.upstream.wheels import (
    console_scripts,
    disk_cached,
    module_name,
    parse_member,
    python_members,
    read_member,
    wheel,
)


def vllm_wheel() -> Path:
    return wheel("vllm", versions().vllm, image_python("vllm"))


def _make_arg_parser_module(whl: Path) -> str:
    """The module defining make_arg_parser (vllm/entrypoints/common/cli_args.py in 0.33;
    vllm/entrypoints/openai/cli_args.py before)."""
    for member in python_members(whl, "vllm/entrypoints/"):
        if member.endswith("cli_args.py") and "def make_arg_parser(" in read_member(whl, member):
            return member
    raise UpstreamReadError(f"{whl.name}: no make_arg_parser under vllm/entrypoints")


def _boolean_optional(annotation: ast.expr) -> bool:
    """vLLM's get_kwargs gives a field BooleanOptionalAction (--x and --no-x) when bool is among
    its type hints, except for `bool | str | None` (an optional-valued flag)."""
    members = union_members(annotation)
    names = {"None" if isinstance(m, ast.Constant) and m.value is None else dotted(m) for m in members}
    return "bool" in names and names != {"bool", "str", "None"}


def _kwargs_sources(function: ast.AST) -> dict[str, str]:
    """{variable: config class} of `x_kwargs = get_kwargs(Config)` assignments in a function."""
    sources: dict[str, str] = {}
    for node in ast.walk(function):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and dotted(node.value.func) == "get_kwargs" and node.value.args):
            for target in node.targets:
                sources[dotted(target)] = dotted(node.value.args[0])
    return sources


def _splatted_field(call: ast.Call) -> tuple[str, str] | None:
    """(kwargs variable, field) of `**x_kwargs["field"]` in an add_argument call, also inside
    `**{**x_kwargs["field"], "default": None}`."""
    splats = [k.value for k in call.keywords if k.arg is None]
    for value in splats:
        if isinstance(value, ast.Dict):
            splats += [v for k, v in zip(value.keys, value.values, strict=True) if k is None]
        elif isinstance(value, ast.Subscript) and (field_name := string_constant(value.slice)):
            return dotted(value.value), field_name
    return None


@functools.cache
def _vllm_config_modules(whl: Path) -> Modules:
    return Modules.from_wheels((whl, [*python_members(whl, "vllm/config/"), "vllm/engine/arg_utils.py"]))


def _config_field(modules: Modules, class_name: str, field_name: str) -> Field | None:
    for module, classes in ((m, modules.classes(m)) for m in modules.trees):
        if class_name in classes:
            return modules.fields(module, classes[class_name]).get(field_name)
    return None


def _literal_aliases(modules: Modules) -> dict[str, ast.expr]:
    """Module-level `Name = Literal[...]` type aliases (vLLM's ModelDType, MaxLoRARanks...)."""
    aliases: dict[str, ast.expr] = {}
    for module in modules.trees:
        for stmt in modules.top_level(module):
            if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                    and isinstance(stmt.value, (ast.Subscript, ast.BinOp))
                    and literal_values_any(stmt.value, {}) is not None):
                aliases[stmt.targets[0].id] = stmt.value
    return aliases


def _module_arguments(whl: Path, member: str, config: Modules, aliases: dict[str, ast.expr]) -> list[Argument]:
    """Every add_argument call of a module, with the --no- twins BooleanOptionalAction adds
    (explicit, or from a bool config field) and the choices of Literal fields or choices=[...]."""
    arguments: list[Argument] = []
    functions = [n for n in ast.walk(parse_member(whl, member))
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for function in functions:
        sources = _kwargs_sources(function)
        for call in (n for n in ast.walk(function) if is_add_argument(n)):
            options = set(option_strings(call))
            splatted = _splatted_field(call)
            field: Field | None = None
            if splatted and splatted[0] in sources:
                field = _config_field(config, sources[splatted[0]], splatted[1])
            if explicit_boolean_optional(call) or (field is not None and _boolean_optional(field.annotation)):
                options |= negated(options)
            choices = constant_choices(keyword(call, "choices"))
            if choices is None and field is not None and not _boolean_optional(field.annotation):
                choices = literal_values_any(field.annotation, aliases)
            arguments.append(Argument(frozenset(options), choices))
    return arguments


def _frontend_arguments(whl: Path, member: str, aliases: dict[str, ast.expr]) -> list[Argument]:
    """FrontendArgs.add_cli_args registers every field of FrontendArgs (BaseFrontendArgs
    included) as --field-name, through get_kwargs."""
    modules = Modules.from_wheels((whl, [member]))
    arguments: list[Argument] = []
    for name, f in init_fields(modules, module_name(member), "FrontendArgs").items():
        option = "--" + name.replace("_", "-")
        if _boolean_optional(f.annotation):
            arguments.append(Argument(frozenset({option, *negated([option])})))
        else:
            arguments.append(Argument(frozenset({option}), literal_values_any(f.annotation, aliases)))
    return arguments


@functools.cache
def _vllm_arguments(whl: Path) -> tuple[Argument, ...]:
    config = _vllm_config_modules(whl)
    aliases = _literal_aliases(config)
    cli_args = _make_arg_parser_module(whl)
    return (*_module_arguments(whl, cli_args, config, aliases),
            *_module_arguments(whl, "vllm/engine/arg_utils.py", config, aliases),
            *_frontend_arguments(whl, cli_args, aliases))


@disk_cached
def _vllm_flags(whl: Path) -> frozenset[str]:
    return frozenset(o for argument in _vllm_arguments(whl) for o in argument.options)


def vllm_flag_choices() -> dict[str, frozenset[str]]:
    """The values of `vllm serve` options that take a closed set (Literal fields, choices=)."""
    return flag_choices(_vllm_arguments(vllm_wheel()))


def vllm_serve_flags() -> frozenset[str]:
    """Options of `vllm serve` (make_arg_parser: its own, FrontendArgs' and EngineArgs')."""
    return require_floor("vllm.serve_flags", _vllm_flags(vllm_wheel()))


@functools.cache
def _vllm_subcommands(whl: Path) -> frozenset[str]:
    found: set[str] = set()
    for member in python_members(whl, "vllm/entrypoints/cli/"):
        for cls in (n for n in ast.walk(parse_member(whl, member)) if isinstance(n, ast.ClassDef)):
            for stmt in cls.body:
                if (isinstance(stmt, ast.Assign) and any(dotted(t) == "name" for t in stmt.targets)
                        and (value := string_constant(stmt.value))):
                    found.add(value)
    return frozenset(found)


def vllm_subcommands() -> frozenset[str]:
    """`name = "serve"` of the CLISubcommand classes under vllm/entrypoints/cli."""
    return _vllm_subcommands(vllm_wheel())


def vllm_console_scripts() -> frozenset[str]:
    return console_scripts(vllm_wheel())


@disk_cached
def _vllm_env(whl: Path) -> frozenset[str]:
    tree = parse_member(whl, "vllm/envs.py")
    found = set(env_reads(tree))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign):
            targets: list[ast.expr] = [node.target]
        elif isinstance(node, ast.Assign):
            targets = node.targets
        else:
            continue
        if any(dotted(t) == "environment_variables" for t in targets) and isinstance(node.value, ast.Dict):
            found |= {s for k in node.value.keys if (s := string_constant(k))}
    return frozenset(found)


def vllm_env() -> frozenset[str]:
    """Keys of vllm/envs.py's environment_variables and the other variables envs.py reads."""
    return require_floor("vllm.env", _vllm_env(vllm_wheel()))
