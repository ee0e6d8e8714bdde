"""transformers (of the training image): its MLflow callback's environment reads, the
`report_to` integrations, the `lr_scheduler_type` values it accepts and how its checkpoints are
named."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from lfk8s.testing.upstream.ast_reads import Modules, dotted, enum_values, env_reads, string_constant
from lfk8s.testing.upstream.floors import UpstreamReadError, require_floor
from lfk8s.testing.upstream.locks import TRAINING, image_python, versions
from lfk8s.testing.upstream.wheels import parse_member, wheel


def transformers_wheel() -> Path:
    return wheel("transformers", versions().transformers, image_python(TRAINING))


@functools.cache
def _mlflow_callback_env(tf_whl: Path) -> frozenset[str]:
    tree = parse_member(tf_whl, "transformers/integrations/integration_utils.py")
    found: set[str] = set()
    for node in tree.body:
        if (isinstance(node, ast.ClassDef) and node.name == "MLflowCallback") or (
                isinstance(node, ast.FunctionDef) and "mlflow" in node.name):
            found |= env_reads(node)
    return frozenset(found)


def transformers_mlflow_env() -> frozenset[str]:
    """Variables transformers' MLflowCallback (and is_mlflow_available) read."""
    return require_floor("transformers.mlflow_env", _mlflow_callback_env(transformers_wheel()))


@functools.cache
def _report_to(tf_whl: Path) -> frozenset[str]:
    tree = parse_member(tf_whl, "transformers/integrations/integration_utils.py")
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(dotted(t) == "INTEGRATION_TO_CALLBACK" for t in node.targets)
                and isinstance(node.value, ast.Dict)):
            # "none" and "all" are handled by TrainingArguments.__post_init__.
            return frozenset({s for k in node.value.keys if (s := string_constant(k))} | {"none", "all"})
    raise UpstreamReadError("transformers integration_utils.py has no INTEGRATION_TO_CALLBACK")


def transformers_report_to() -> frozenset[str]:
    return require_floor("transformers.report_to", _report_to(transformers_wheel()))


@functools.cache
def _schedulers(tf_whl: Path) -> frozenset[str]:
    modules = Modules.from_wheels((tf_whl, ["transformers/trainer_utils.py"]))
    return enum_values(modules.find("transformers.trainer_utils", "SchedulerType")[1])


def transformers_lr_scheduler_types() -> frozenset[str]:
    return require_floor("transformers.lr_scheduler_types", _schedulers(transformers_wheel()))


def _module_string(tf_whl: Path, member: str, name: str) -> str:
    for node in parse_member(tf_whl, member).body:
        if (isinstance(node, ast.Assign) and any(dotted(t) == name for t in node.targets)
                and (value := string_constant(node.value))):
            return value
    raise UpstreamReadError(f"transformers {member} has no string constant {name}")


@functools.cache
def _checkpoint_names(tf_whl: Path) -> tuple[str, str]:
    return (_module_string(tf_whl, "transformers/trainer_utils.py", "PREFIX_CHECKPOINT_DIR"),
            _module_string(tf_whl, "transformers/trainer.py", "TRAINER_STATE_NAME"))


def transformers_checkpoint_names() -> tuple[str, str]:
    """(checkpoint directory prefix, trainer state file): a checkpoint is `<prefix>-<step>/`, and
    its state file is written last."""
    return _checkpoint_names(transformers_wheel())
