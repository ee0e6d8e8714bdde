"""LLaMA-Factory (of the training image): the YAML keys and values each `llamafactory-cli`
subcommand accepts, its subcommands, environment reads, chat templates and dataset_info.json."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from lfk8s.testing.upstream.ast_reads import (
    Field,
    Modules,
    dotted,
    enum_values,
    init_fields,
    literal_values,
    package_env_reads,
    string_constant,
    union_members,
)
from lfk8s.testing.upstream.floors import UpstreamReadError, require_floor
from lfk8s.testing.upstream.locks import TRAINING, image_python, versions
from lfk8s.testing.upstream.transformers import (
    transformers_lr_scheduler_types,
    transformers_report_to,
    transformers_wheel,
)
from lfk8s.testing.upstream.wheels import console_scripts, disk_cached, parse_member, python_members, wheel

# Which parser each subcommand runs on its YAML file (launcher.py -> train/tuner.py run_exp uses
# get_train_args; export_model and ChatModel (api, chat, webchat) use get_infer_args).
SUBCOMMAND_PARSER = {"train": "_TRAIN_ARGS", "export": "_INFER_ARGS", "api": "_INFER_ARGS",
                     "chat": "_INFER_ARGS", "webchat": "_INFER_ARGS"}


def llamafactory_wheel() -> Path:
    return wheel("llamafactory", versions().llamafactory, image_python(TRAINING))


@functools.cache
def _hparams(lf_whl: Path, tf_whl: Path) -> Modules:
    return Modules.from_wheels(
        (lf_whl, [*python_members(lf_whl, "llamafactory/hparams/"), "llamafactory/extras/constants.py"]),
        (tf_whl, ["transformers/training_args.py", "transformers/training_args_seq2seq.py"]),
    )


def _parser_classes(modules: Modules, list_name: str) -> list[str]:
    """The class names in hparams/parser.py's `_TRAIN_ARGS = [...]` (or _INFER_ARGS)."""
    for stmt in modules.top_level("llamafactory.hparams.parser"):
        if (isinstance(stmt, ast.Assign) and any(dotted(t) == list_name for t in stmt.targets)
                and isinstance(stmt.value, ast.List)):
            return [dotted(e) for e in stmt.value.elts]
    raise UpstreamReadError(f"llamafactory/hparams/parser.py has no list {list_name}")


@functools.cache
def _argument_fields(lf_whl: Path, tf_whl: Path, list_name: str) -> dict[str, Field]:
    modules = _hparams(lf_whl, tf_whl)
    fields: dict[str, Field] = {}
    for name in _parser_classes(modules, list_name):
        fields.update(init_fields(modules, "llamafactory.hparams.parser", name))
    return fields


def llamafactory_arguments(subcommand: str) -> dict[str, Field]:
    """The YAML keys `llamafactory-cli <subcommand> file.yaml` accepts, with their fields."""
    return _argument_fields(llamafactory_wheel(), transformers_wheel(), SUBCOMMAND_PARSER[subcommand])


def llamafactory_train_keys() -> frozenset[str]:
    """Keys of train.yaml: LLaMA-Factory's and transformers' Seq2SeqTrainingArguments fields."""
    return require_floor("llamafactory.train_keys", frozenset(llamafactory_arguments("train")))


def llamafactory_infer_keys() -> frozenset[str]:
    """Keys of the YAML of export/api/chat: no TrainingArguments there."""
    return require_floor("llamafactory.infer_keys", frozenset(llamafactory_arguments("export")))


@functools.cache
def _subcommands(lf_whl: Path) -> frozenset[str]:
    """`command == "train"` comparisons in launcher.py (cli.py only dispatches to it)."""
    found: set[str] = set()
    for node in ast.walk(parse_member(lf_whl, "llamafactory/launcher.py")):
        if (isinstance(node, ast.Compare) and dotted(node.left) == "command"
                and isinstance(node.ops[0], ast.Eq) and (value := string_constant(node.comparators[0]))):
            found.add(value)
    return frozenset(found)


def llamafactory_subcommands() -> frozenset[str]:
    return require_floor("llamafactory.subcommands", _subcommands(llamafactory_wheel()))


def llamafactory_console_scripts() -> frozenset[str]:
    return console_scripts(llamafactory_wheel())


@disk_cached
def _lf_env(lf_whl: Path) -> frozenset[str]:
    return package_env_reads(lf_whl, "llamafactory/", helpers=("is_env_enabled",))


def llamafactory_env() -> frozenset[str]:
    """Environment variables read anywhere in the llamafactory package."""
    return require_floor("llamafactory.env", _lf_env(llamafactory_wheel()))


@functools.cache
def _templates(lf_whl: Path) -> frozenset[str]:
    found: set[str] = set()
    for node in ast.walk(parse_member(lf_whl, "llamafactory/data/template.py")):
        if isinstance(node, ast.Call) and dotted(node.func) == "register_template":
            found |= {s for k in node.keywords if k.arg == "name" and (s := string_constant(k.value))}
    return frozenset(found)


def llamafactory_templates() -> frozenset[str]:
    """Chat template names (`template:`) registered in data/template.py."""
    return require_floor("llamafactory.templates", _templates(llamafactory_wheel()))


@functools.cache
def _choices(lf_whl: Path, tf_whl: Path, list_name: str) -> dict[str, frozenset[str]]:
    modules = _hparams(lf_whl, tf_whl)
    enums = {name: enum_values(cls) for name, cls in modules.classes("llamafactory.extras.constants").items()}
    result: dict[str, frozenset[str]] = {}
    for name, f in _argument_fields(lf_whl, tf_whl, list_name).items():
        values = literal_values(f.annotation)
        members = union_members(f.annotation)
        enum_names = [dotted(m) for m in members if dotted(m) in enums]
        if values is None and enum_names:
            values = frozenset[str]().union(*(enums[e] for e in enum_names))
        if values:
            result[name] = values
    return result


def llamafactory_choices(subcommand: str) -> dict[str, frozenset[str]]:
    """Allowed values of the keys whose field is a Literal or one of LLaMA-Factory's enums,
    plus `template` (registered templates), `lr_scheduler_type` and `report_to` (transformers)."""
    choices = dict(_choices(llamafactory_wheel(), transformers_wheel(), SUBCOMMAND_PARSER[subcommand]))
    choices["template"] = llamafactory_templates()
    if SUBCOMMAND_PARSER[subcommand] == "_TRAIN_ARGS":
        choices["lr_scheduler_type"] = transformers_lr_scheduler_types()
        choices["report_to"] = transformers_report_to()
    return choices


@functools.cache
def _dataset_info(lf_whl: Path) -> tuple[frozenset[str], frozenset[str]]:
    """(keys of a dataset_info.json entry, keys of its `columns`) from data/parser.py."""
    tree = parse_member(lf_whl, "llamafactory/data/parser.py")
    keys: set[str] = set()
    columns: set[str] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and dotted(node.func) == "self.set_attr" and len(node.args) >= 2
                and dotted(node.args[1]) == "attr" and (key := string_constant(node.args[0]))):
            keys.add(key)
        if isinstance(node, ast.Subscript) and _is_entry(node.value) and (key := string_constant(node.slice)):
            keys.add(key)
        if (isinstance(node, ast.Compare) and isinstance(node.ops[0], (ast.In, ast.NotIn))
                and _is_entry(node.comparators[0]) and (key := string_constant(node.left))):
            keys.add(key)
        if isinstance(node, (ast.Assign, ast.AugAssign)) and isinstance(node.value, ast.List):
            targets: list[ast.expr] = list(node.targets) if isinstance(node, ast.Assign) else [node.target]
            if any(dotted(t) == "column_names" for t in targets):
                columns |= {s for e in node.value.elts if (s := string_constant(e))}
    return frozenset(keys), frozenset(columns)


def _is_entry(node: ast.AST) -> bool:
    """`attr` (a dataset entry) or `dataset_info[name]`."""
    return dotted(node) == "attr" or (isinstance(node, ast.Subscript) and dotted(node.value) == "dataset_info")


def llamafactory_dataset_info_keys() -> frozenset[str]:
    return require_floor("llamafactory.dataset_info_keys", _dataset_info(llamafactory_wheel())[0])


def llamafactory_dataset_columns() -> frozenset[str]:
    return require_floor("llamafactory.dataset_columns", _dataset_info(llamafactory_wheel())[1])


@functools.cache
def _formattings(lf_whl: Path) -> frozenset[str]:
    modules = Modules.from_wheels((lf_whl, ["llamafactory/data/parser.py"]))
    _, cls = modules.find("llamafactory.data.parser", "DatasetAttr")
    formatting = modules.fields("llamafactory.data.parser", cls).get("formatting")
    values = literal_values(formatting.annotation) if formatting else None
    if not values:
        raise UpstreamReadError("llamafactory/data/parser.py: DatasetAttr.formatting is no longer a Literal")
    return values


def llamafactory_dataset_formattings() -> frozenset[str]:
    """`formatting` values of a dataset_info.json entry (DatasetAttr.formatting)."""
    return _formattings(llamafactory_wheel())
