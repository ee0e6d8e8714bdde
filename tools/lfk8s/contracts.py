"""What the software in the chart's images accepts, read statically from its released wheels.

A chart is wrong the day it passes a config key, a flag or an environment variable that the
software in its image does not accept. This module downloads the exact wheels the images
install (once, into the user's cache) and reads, with `ast` only (nothing here imports
torch or the packages themselves):

- LLaMA-Factory: the dataclass fields `llamafactory-cli train` parses (`_TRAIN_ARGS` of
  hparams/parser.py, transformers' Seq2SeqTrainingArguments included) and those
  `export`/`api`/`chat` parse (`_INFER_ARGS`); the `llamafactory-cli` subcommands; the
  environment variables the package reads; the values its Literal/Enum fields, its chat
  templates and transformers accept; the keys of a dataset_info.json entry.
- transformers: the environment variables its MLflow callback reads.
- vLLM: the `vllm serve` flags and the environment variables of vllm/envs.py.
- SGLang: the `python -m sglang.launch_server` flags and the environment variables it reads.
- mlflow, huggingface_hub, gradio: their environment reads when the training image's lock pins
  them, otherwise the few variables the chart uses, as a documented allowlist.

Versions come from images/<image>/requirements.lock when it pins the package, else from the
constants below. Every extractor returns a frozenset and fails loudly (ContractError) under a
sanity floor, so a broken extractor can never pass a chart by finding nothing.

    python -m lfk8s.contracts      # prints the versions and the count of every contract
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from lfk8s.paths import ProjectPaths, cache_dir

# ------------------------------------------------------------------ versions

LLAMAFACTORY_VERSION = "0.9.5"
VLLM_VERSION = "0.33.0"
SGLANG_VERSION = "0.5.23"
# Until images/training/requirements.lock pins transformers.
TRANSFORMERS_FALLBACK = "4.57.1"

# The interpreter and platforms of the images; SGLang publishes manylinux_2_34 wheels only.
PYTHON_VERSION = "3.11"
PLATFORMS = ("manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64", "any")

# The chart's images whose Python software the contracts cover (images.<name> in values.yaml).
TRAINING = "training"
IMAGES = (TRAINING, "vllm", "sglang")

# Sanity floors: an extractor that finds fewer is broken, not permissive.
FLOORS: dict[str, int] = {
    "llamafactory.train_keys": 250,
    "llamafactory.infer_keys": 100,
    "llamafactory.subcommands": 5,
    "llamafactory.env": 30,
    "llamafactory.templates": 50,
    "llamafactory.dataset_info_keys": 8,
    "llamafactory.dataset_columns": 10,
    "transformers.mlflow_env": 5,
    "transformers.report_to": 5,
    "transformers.lr_scheduler_types": 5,
    "vllm.serve_flags": 150,
    "vllm.env": 100,
    "sglang.launch_server_flags": 150,
    "sglang.env": 100,
    "mlflow.env": 20,
    "huggingface_hub.env": 10,
    "gradio.env": 10,
}


class ContractError(RuntimeError):
    """An upstream contract could not be read (download failed, layout changed, floor missed)."""


def _canonical(name: str) -> str:
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _project_root() -> Path:
    return ProjectPaths.discover(Path(__file__).parent).root


def lock_file(image: str) -> Path:
    """images/<image>/requirements.lock of the checkout."""
    return _project_root() / "images" / image / "requirements.lock"


_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;\\#]+)")


def parse_lock(text: str) -> dict[str, str]:
    """{canonical name: version} of the `name==version` pins of a pip lock file."""
    pins = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            pins[_canonical(match.group(1))] = match.group(2)
    return pins


_LOCK_PYTHON = re.compile(r"CPython (\d+\.\d+)")


def image_python(image: str) -> str:
    """The Python an image's lock was resolved for (its header names it), else PYTHON_VERSION."""
    path = lock_file(image)
    match = _LOCK_PYTHON.search(path.read_text()[:1000]) if path.is_file() else None
    return match.group(1) if match else PYTHON_VERSION


def locked(image: str, package: str) -> str | None:
    """The version images/<image>/requirements.lock pins for a package, if any."""
    path = lock_file(image)
    if not path.is_file():
        return None
    return parse_lock(path.read_text()).get(_canonical(package))


@dataclass(frozen=True)
class Versions:
    """The upstream versions the contracts are read from (None: not pinned, allowlist used)."""

    llamafactory: str
    transformers: str
    vllm: str
    sglang: str
    mlflow: str | None
    gradio: str | None
    huggingface_hub: dict[str, str | None]  # by image


def versions() -> Versions:
    return Versions(
        llamafactory=locked(TRAINING, "llamafactory") or LLAMAFACTORY_VERSION,
        transformers=locked(TRAINING, "transformers") or TRANSFORMERS_FALLBACK,
        vllm=locked("vllm", "vllm") or VLLM_VERSION,
        sglang=locked("sglang", "sglang") or SGLANG_VERSION,
        mlflow=locked(TRAINING, "mlflow-skinny") or locked(TRAINING, "mlflow"),
        gradio=locked(TRAINING, "gradio"),
        huggingface_hub={image: locked(image, "huggingface-hub") for image in IMAGES},
    )


# ------------------------------------------------------------------ wheels


def wheels_dir() -> Path:
    return cache_dir() / "wheels"


def _cached_wheel(directory: Path, package: str, version: str) -> Path | None:
    for path in sorted(directory.glob("*.whl")):
        name, _, rest = path.name.partition("-")
        if _canonical(name) == _canonical(package) and rest.split("-", 1)[0] == version:
            return path
    return None


def _pip_download(package: str, version: str, python_version: str, destination: Path) -> None:
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--python-version", python_version, *platforms, "--disable-pip-version-check",
               "--quiet", "-d", str(destination), f"{package}=={version}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ContractError(f"pip download {package}=={version} failed:\n{result.stderr[-2000:]}")


def wheel(package: str, version: str, python_version: str = PYTHON_VERSION) -> Path:
    """The wheel of package==version, downloaded once into <cache>/wheels; later calls only
    look in the cache (no network). A release's Python sources are the same in its wheels for
    every interpreter, so a cached wheel serves any python_version."""
    directory = wheels_dir()
    found = _cached_wheel(directory, package, version) if directory.is_dir() else None
    if found:
        return found
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".download-") as tmp:
        _pip_download(package, version, python_version, Path(tmp))
        downloaded = list(Path(tmp).glob("*.whl"))
        if len(downloaded) != 1:
            raise ContractError(f"pip download {package}=={version} gave {downloaded}, not one wheel")
        target = directory / downloaded[0].name
        os.replace(downloaded[0], target)  # atomic: a concurrent reader sees all or nothing
    return target


@functools.lru_cache(maxsize=None)
def _archive(whl: Path) -> zipfile.ZipFile:
    """One open archive per wheel: reading vLLM's central directory costs more than a member."""
    return zipfile.ZipFile(whl)


def _members(whl: Path) -> tuple[str, ...]:
    return tuple(_archive(whl).namelist())


def _read(whl: Path, member: str) -> str:
    return _archive(whl).read(member).decode("utf-8")


def _python_members(whl: Path, prefix: str) -> list[str]:
    return [m for m in _members(whl) if m.startswith(prefix) and m.endswith(".py")]


@functools.lru_cache(maxsize=4096)
def _parse(whl: Path, member: str) -> ast.Module:
    try:
        return ast.parse(_read(whl, member), filename=member)
    except KeyError as err:
        raise ContractError(f"{whl.name} has no {member}: the upstream layout changed") from err


def _module_name(member: str) -> str:
    path = member[:-3] if member.endswith(".py") else member
    return path.removesuffix("/__init__").replace("/", ".")


def console_scripts(whl: Path) -> frozenset[str]:
    """Console scripts a wheel installs ([console_scripts] of entry_points.txt)."""
    entry_points = [m for m in _members(whl) if m.endswith(".dist-info/entry_points.txt")]
    scripts, section = set(), ""
    for line in (_read(whl, entry_points[0]) if entry_points else "").splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[console_scripts]" and "=" in line:
            scripts.add(line.split("=", 1)[0].strip())
    return frozenset(scripts)


def has_module(whl: Path, module: str) -> bool:
    """Whether `python -m <module>` finds the module in the wheel."""
    base = module.replace(".", "/")
    return bool({f"{base}.py", f"{base}/__main__.py"} & set(_members(whl)))


# ------------------------------------------------------------------ AST: strings and env reads


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _dotted(node: ast.AST) -> str:
    """`os.environ.get` for an Attribute chain, '' for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


_ENVIRON = {"os.environ", "environ"}
_ENV_READ_CALLS = {"os.getenv", "getenv", "os.environ.get", "environ.get", "os.environ.setdefault"}


def _env_read(node: ast.AST, helpers: frozenset[str]) -> str | None:
    """The variable name when a node reads one: os.getenv("X"), os.environ.get("X"),
    os.environ["X"], "X" in os.environ, or a package helper such as is_env_enabled("X")."""
    if isinstance(node, ast.Call) and node.args:
        name = _dotted(node.func)
        if name in _ENV_READ_CALLS or name.rsplit(".", 1)[-1] in helpers:
            return _string(node.args[0])
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _dotted(node.value) in _ENVIRON:
        return _string(node.slice)
    if (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn))
            and _dotted(node.comparators[0]) in _ENVIRON):
        return _string(node.left)
    return None


def env_reads(tree: ast.AST, helpers: Iterable[str] = ()) -> frozenset[str]:
    """Environment variables a syntax tree reads by a literal name."""
    helper_set = frozenset(helpers)
    return frozenset(name for node in ast.walk(tree) if (name := _env_read(node, helper_set)))


def _package_env_reads(whl: Path, prefix: str, helpers: Iterable[str] = ()) -> frozenset[str]:
    """Literal environment reads in every module under a prefix; only modules whose text
    mentions a read are parsed."""
    helpers = tuple(helpers)
    mentions = re.compile("|".join([r"getenv\(", r"environ\s*(\[|\.get\(|\.setdefault\()", r"in\s+(os\.)?environ\b",
                                    *(re.escape(h) + r"\(" for h in helpers)]))
    found: set[str] = set()
    for member in _python_members(whl, prefix):
        text = _read(whl, member)
        if mentions.search(text):
            found |= env_reads(ast.parse(text, filename=member), helpers)
    return frozenset(found)


_SOURCE_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def _disk_cached(function: Callable[..., frozenset[str]]) -> Callable[..., frozenset[str]]:
    """Keep a (wheel, *str) -> frozenset extractor's result in <cache>/contracts, keyed by the
    wheel, the extractor and this module's source, so a cached run parses nothing big."""

    @functools.lru_cache(maxsize=None)
    @functools.wraps(function)
    def cached(whl: Path, *args: str) -> frozenset[str]:
        key = json.dumps([whl.name, function.__name__, args, _SOURCE_HASH])
        path = cache_dir() / "contracts" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"
        if path.is_file():
            return frozenset(json.loads(path.read_text()))
        result = function(whl, *args)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(sorted(result)))
        os.replace(partial, path)
        return result

    return cached


def require_floor(name: str, found: frozenset[str]) -> frozenset[str]:
    """The set, or ContractError when it holds no more than FLOORS[name]."""
    if len(found) <= FLOORS[name]:
        raise ContractError(f"{name}: found {len(found)}, expected more than {FLOORS[name]}; "
                            "the extractor no longer matches the upstream source")
    return found


# ------------------------------------------------------------------ AST: dataclasses


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
    def from_wheels(cls, *sources: tuple[Path, Iterable[str]]) -> "Modules":
        members = [(whl, m) for whl, names in sources for m in names]
        return cls({_module_name(m): _parse(whl, m) for whl, m in members},
                   frozenset(_module_name(m) for _, m in members if m.endswith("/__init__.py")))

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
            raise ContractError(f"{module}: cannot resolve class {name}")
        return found[0]

    def _resolve(self, module: str, name: str, seen: frozenset[tuple[str, str]]) -> list[tuple[str, ast.ClassDef]]:
        if (module, name) in seen or module not in self.trees:
            return []
        seen = seen | {(module, name)}
        classes = self.classes(module)
        if name in classes:
            return [(module, classes[name])]
        aliases = [s.value.id for s in self.top_level(module) if isinstance(s, ast.Assign)
                   and isinstance(s.value, ast.Name) and any(_dotted(t) == name for t in s.targets)]
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
            base_name = _dotted(base).rsplit(".", 1)[-1]
            if not base_name or base_name in _NON_DATACLASS_BASES:
                continue
            resolved = self._resolve(module, base_name, frozenset())
            if not resolved:
                raise ContractError(f"{module}: base class {base_name} of {cls.name} is not in the parsed modules")
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
        if _dotted(target).rsplit(".", 1)[-1] in _DATACLASS_DECORATORS:
            return True
    return False


def _is_classvar(annotation: ast.expr) -> bool:
    target = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    return _dotted(target).rsplit(".", 1)[-1] == "ClassVar"


def _init_false(value: ast.expr | None) -> bool:
    """field(init=False): HfArgumentParser and dataclass constructors refuse such keys."""
    return (isinstance(value, ast.Call) and _dotted(value.func).rsplit(".", 1)[-1] == "field"
            and any(k.arg == "init" and isinstance(k.value, ast.Constant) and k.value.value is False
                    for k in value.keywords))


def init_fields(modules: Modules, module: str, class_name: str) -> dict[str, Field]:
    """Fields a dataclass accepts as constructor arguments (init=True)."""
    found_module, cls = modules.find(module, class_name)
    return {name: f for name, f in modules.fields(found_module, cls).items() if f.init}


def _annotation(node: ast.expr) -> ast.expr:
    """A string annotation parsed; others as they are."""
    text = _string(node)
    if not text:
        return node
    try:
        return ast.parse(text, mode="eval").body
    except SyntaxError:
        return node


def _union_members(node: ast.expr) -> list[ast.expr]:
    """Members of X | Y, Optional[X], Union[X, Y]; [node] otherwise."""
    node = _annotation(node)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return [*_union_members(node.left), *_union_members(node.right)]
    if isinstance(node, ast.Subscript) and _dotted(node.value).rsplit(".", 1)[-1] in ("Optional", "Union"):
        inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return [m for e in inner for m in _union_members(e)]
    return [node]


def _literal_values(annotation: ast.expr) -> frozenset[str] | None:
    """The string values of a Literal[...] annotation (inside Optional/| None), else None."""
    values: set[str] = set()
    for member in _union_members(annotation):
        if isinstance(member, ast.Subscript) and _dotted(member.value).rsplit(".", 1)[-1] == "Literal":
            elts = member.slice.elts if isinstance(member.slice, ast.Tuple) else [member.slice]
            values |= {s for e in elts if (s := _string(e)) is not None}
    return frozenset(values) or None


def _enum_values(cls: ast.ClassDef) -> frozenset[str]:
    return frozenset(s for stmt in cls.body if isinstance(stmt, ast.Assign) and (s := _string(stmt.value)) is not None)


# ------------------------------------------------------------------ LLaMA-Factory

# Which parser each subcommand runs on its YAML file (launcher.py -> train/tuner.py run_exp uses
# get_train_args; export_model and ChatModel (api, chat, webchat) use get_infer_args).
SUBCOMMAND_PARSER = {"train": "_TRAIN_ARGS", "export": "_INFER_ARGS", "api": "_INFER_ARGS",
                     "chat": "_INFER_ARGS", "webchat": "_INFER_ARGS"}


def llamafactory_wheel() -> Path:
    return wheel("llamafactory", versions().llamafactory, image_python(TRAINING))


def transformers_wheel() -> Path:
    return wheel("transformers", versions().transformers, image_python(TRAINING))


@functools.lru_cache(maxsize=None)
def _hparams(lf_whl: Path, tf_whl: Path) -> Modules:
    return Modules.from_wheels(
        (lf_whl, [*_python_members(lf_whl, "llamafactory/hparams/"), "llamafactory/extras/constants.py"]),
        (tf_whl, ["transformers/training_args.py", "transformers/training_args_seq2seq.py"]),
    )


def _parser_classes(modules: Modules, list_name: str) -> list[str]:
    """The class names in hparams/parser.py's `_TRAIN_ARGS = [...]` (or _INFER_ARGS)."""
    for stmt in modules.top_level("llamafactory.hparams.parser"):
        if isinstance(stmt, ast.Assign) and any(_dotted(t) == list_name for t in stmt.targets):
            if isinstance(stmt.value, ast.List):
                return [_dotted(e) for e in stmt.value.elts]
    raise ContractError(f"llamafactory/hparams/parser.py has no list {list_name}")


@functools.lru_cache(maxsize=None)
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


@functools.lru_cache(maxsize=None)
def _subcommands(lf_whl: Path) -> frozenset[str]:
    """`command == "train"` comparisons in launcher.py (cli.py only dispatches to it)."""
    found = set()
    for node in ast.walk(_parse(lf_whl, "llamafactory/launcher.py")):
        if (isinstance(node, ast.Compare) and _dotted(node.left) == "command"
                and isinstance(node.ops[0], ast.Eq) and (value := _string(node.comparators[0]))):
            found.add(value)
    return frozenset(found)


def llamafactory_subcommands() -> frozenset[str]:
    return require_floor("llamafactory.subcommands", _subcommands(llamafactory_wheel()))


def llamafactory_console_scripts() -> frozenset[str]:
    return console_scripts(llamafactory_wheel())


@_disk_cached
def _lf_env(lf_whl: Path) -> frozenset[str]:
    return _package_env_reads(lf_whl, "llamafactory/", helpers=("is_env_enabled",))


def llamafactory_env() -> frozenset[str]:
    """Environment variables read anywhere in the llamafactory package."""
    return require_floor("llamafactory.env", _lf_env(llamafactory_wheel()))


@functools.lru_cache(maxsize=None)
def _templates(lf_whl: Path) -> frozenset[str]:
    found = set()
    for node in ast.walk(_parse(lf_whl, "llamafactory/data/template.py")):
        if isinstance(node, ast.Call) and _dotted(node.func) == "register_template":
            found |= {s for k in node.keywords if k.arg == "name" and (s := _string(k.value))}
    return frozenset(found)


def llamafactory_templates() -> frozenset[str]:
    """Chat template names (`template:`) registered in data/template.py."""
    return require_floor("llamafactory.templates", _templates(llamafactory_wheel()))


@functools.lru_cache(maxsize=None)
def _choices(lf_whl: Path, tf_whl: Path, list_name: str) -> dict[str, frozenset[str]]:
    modules = _hparams(lf_whl, tf_whl)
    enums = {name: _enum_values(cls) for name, cls in modules.classes("llamafactory.extras.constants").items()}
    result = {}
    for name, f in _argument_fields(lf_whl, tf_whl, list_name).items():
        values = _literal_values(f.annotation)
        members = _union_members(f.annotation)
        enum_names = [_dotted(m) for m in members if _dotted(m) in enums]
        if values is None and enum_names:
            values = frozenset().union(*(enums[e] for e in enum_names))
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


@functools.lru_cache(maxsize=None)
def _dataset_info(lf_whl: Path) -> tuple[frozenset[str], frozenset[str]]:
    """(keys of a dataset_info.json entry, keys of its `columns`) from data/parser.py."""
    tree = _parse(lf_whl, "llamafactory/data/parser.py")
    keys: set[str] = set()
    columns: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _dotted(node.func) == "self.set_attr" and len(node.args) >= 2:
            if _dotted(node.args[1]) == "attr" and (key := _string(node.args[0])):
                keys.add(key)
        if isinstance(node, ast.Subscript) and _is_entry(node.value) and (key := _string(node.slice)):
            keys.add(key)
        if (isinstance(node, ast.Compare) and isinstance(node.ops[0], (ast.In, ast.NotIn))
                and _is_entry(node.comparators[0]) and (key := _string(node.left))):
            keys.add(key)
        if isinstance(node, (ast.Assign, ast.AugAssign)) and isinstance(node.value, ast.List):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_dotted(t) == "column_names" for t in targets):
                columns |= {s for e in node.value.elts if (s := _string(e))}
    return frozenset(keys), frozenset(columns)


def _is_entry(node: ast.AST) -> bool:
    """`attr` (a dataset entry) or `dataset_info[name]`."""
    return _dotted(node) == "attr" or (isinstance(node, ast.Subscript) and _dotted(node.value) == "dataset_info")


def llamafactory_dataset_info_keys() -> frozenset[str]:
    return require_floor("llamafactory.dataset_info_keys", _dataset_info(llamafactory_wheel())[0])


def llamafactory_dataset_columns() -> frozenset[str]:
    return require_floor("llamafactory.dataset_columns", _dataset_info(llamafactory_wheel())[1])


@functools.lru_cache(maxsize=None)
def _formattings(lf_whl: Path) -> frozenset[str]:
    modules = Modules.from_wheels((lf_whl, ["llamafactory/data/parser.py"]))
    _, cls = modules.find("llamafactory.data.parser", "DatasetAttr")
    formatting = modules.fields("llamafactory.data.parser", cls).get("formatting")
    values = _literal_values(formatting.annotation) if formatting else None
    if not values:
        raise ContractError("llamafactory/data/parser.py: DatasetAttr.formatting is no longer a Literal")
    return values


def llamafactory_dataset_formattings() -> frozenset[str]:
    """`formatting` values of a dataset_info.json entry (DatasetAttr.formatting)."""
    return _formattings(llamafactory_wheel())


# ------------------------------------------------------------------ transformers


@functools.lru_cache(maxsize=None)
def _mlflow_callback_env(tf_whl: Path) -> frozenset[str]:
    tree = _parse(tf_whl, "transformers/integrations/integration_utils.py")
    found: set[str] = set()
    for node in tree.body:
        if (isinstance(node, ast.ClassDef) and node.name == "MLflowCallback") or (
                isinstance(node, ast.FunctionDef) and "mlflow" in node.name):
            found |= env_reads(node)
    return frozenset(found)


def transformers_mlflow_env() -> frozenset[str]:
    """Variables transformers' MLflowCallback (and is_mlflow_available) read."""
    return require_floor("transformers.mlflow_env", _mlflow_callback_env(transformers_wheel()))


@functools.lru_cache(maxsize=None)
def _report_to(tf_whl: Path) -> frozenset[str]:
    tree = _parse(tf_whl, "transformers/integrations/integration_utils.py")
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(_dotted(t) == "INTEGRATION_TO_CALLBACK" for t in node.targets):
            if isinstance(node.value, ast.Dict):
                # "none" and "all" are handled by TrainingArguments.__post_init__.
                return frozenset({s for k in node.value.keys if (s := _string(k))} | {"none", "all"})
    raise ContractError("transformers integration_utils.py has no INTEGRATION_TO_CALLBACK")


def transformers_report_to() -> frozenset[str]:
    return require_floor("transformers.report_to", _report_to(transformers_wheel()))


@functools.lru_cache(maxsize=None)
def _schedulers(tf_whl: Path) -> frozenset[str]:
    modules = Modules.from_wheels((tf_whl, ["transformers/trainer_utils.py"]))
    return _enum_values(modules.find("transformers.trainer_utils", "SchedulerType")[1])


def transformers_lr_scheduler_types() -> frozenset[str]:
    return require_floor("transformers.lr_scheduler_types", _schedulers(transformers_wheel()))


# ------------------------------------------------------------------ vLLM


def vllm_wheel() -> Path:
    return wheel("vllm", versions().vllm, image_python("vllm"))


def _make_arg_parser_module(whl: Path) -> str:
    """The module defining make_arg_parser (vllm/entrypoints/common/cli_args.py in 0.33;
    vllm/entrypoints/openai/cli_args.py before)."""
    for member in _python_members(whl, "vllm/entrypoints/"):
        if member.endswith("cli_args.py") and "def make_arg_parser(" in _read(whl, member):
            return member
    raise ContractError(f"{whl.name}: no make_arg_parser under vllm/entrypoints")


def _option_strings(call: ast.Call) -> list[str]:
    return [s for a in call.args if (s := _string(a)) and s.startswith("-")]


def _is_add_argument(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument"


def _boolean_optional(annotation: ast.expr) -> bool:
    """vLLM's get_kwargs gives a field BooleanOptionalAction (--x and --no-x) when bool is among
    its type hints, except for `bool | str | None` (an optional-valued flag)."""
    members = _union_members(annotation)
    names = {"None" if isinstance(m, ast.Constant) and m.value is None else _dotted(m) for m in members}
    return "bool" in names and names != {"bool", "str", "None"}


def _kwargs_sources(function: ast.AST) -> dict[str, str]:
    """{variable: config class} of `x_kwargs = get_kwargs(Config)` assignments in a function."""
    sources = {}
    for node in ast.walk(function):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and _dotted(node.value.func) == "get_kwargs" and node.value.args):
            for target in node.targets:
                sources[_dotted(target)] = _dotted(node.value.args[0])
    return sources


def _splatted_field(call: ast.Call) -> tuple[str, str] | None:
    """(kwargs variable, field) of `**x_kwargs["field"]` in an add_argument call, also inside
    `**{**x_kwargs["field"], "default": None}`."""
    splats = [k.value for k in call.keywords if k.arg is None]
    for value in splats:
        if isinstance(value, ast.Dict):
            splats += [v for k, v in zip(value.keys, value.values) if k is None]
        elif isinstance(value, ast.Subscript) and (field_name := _string(value.slice)):
            return _dotted(value.value), field_name
    return None


def _explicit_boolean_optional(call: ast.Call) -> bool:
    return any(k.arg == "action" and _dotted(k.value).endswith("BooleanOptionalAction") for k in call.keywords)


def _negated(options: Iterable[str]) -> set[str]:
    return {"--no-" + o[2:] for o in options if o.startswith("--")}


@functools.lru_cache(maxsize=None)
def _vllm_config_modules(whl: Path) -> Modules:
    return Modules.from_wheels((whl, [*_python_members(whl, "vllm/config/"), "vllm/engine/arg_utils.py"]))


def _config_field(modules: Modules, class_name: str, field_name: str) -> Field | None:
    for module, classes in ((m, modules.classes(m)) for m in modules.trees):
        if class_name in classes:
            return modules.fields(module, classes[class_name]).get(field_name)
    return None


@dataclass(frozen=True)
class Argument:
    """One registered CLI argument: its option strings and, for a closed set, its choices."""

    options: frozenset[str]
    choices: frozenset[str] | None = None


def _constant_choices(node: ast.expr | None) -> frozenset[str] | None:
    """choices=[...] written as a list or tuple of constants (str() of each), else None."""
    if isinstance(node, (ast.List, ast.Tuple)) and all(isinstance(e, ast.Constant) for e in node.elts):
        return frozenset(str(e.value) for e in node.elts)  # type: ignore[attr-defined]
    return None


def _literal_aliases(modules: Modules) -> dict[str, ast.expr]:
    """Module-level `Name = Literal[...]` type aliases (vLLM's ModelDType, MaxLoRARanks...)."""
    aliases = {}
    for module in modules.trees:
        for stmt in modules.top_level(module):
            if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                    and isinstance(stmt.value, (ast.Subscript, ast.BinOp))):
                if _literal_values_any(stmt.value, {}) is not None:
                    aliases[stmt.targets[0].id] = stmt.value
    return aliases


def _literal_values_any(annotation: ast.expr, aliases: dict[str, ast.expr], depth: int = 0) -> frozenset[str] | None:
    """str() of every constant of the Literal members of an annotation, through aliases; None
    when a member is plain `str` (vLLM then shows the values as a metavar, not choices)."""
    values: set[str] = set()
    members = _union_members(annotation)
    if any(_dotted(m) == "str" for m in members):
        return None
    for member in members:
        if isinstance(member, ast.Name) and member.id in aliases and depth < 5:
            values |= _literal_values_any(aliases[member.id], aliases, depth + 1) or set()
        elif isinstance(member, ast.Subscript) and _dotted(member.value).rsplit(".", 1)[-1] == "Literal":
            elts = member.slice.elts if isinstance(member.slice, ast.Tuple) else [member.slice]
            values |= {str(e.value) for e in elts if isinstance(e, ast.Constant)}
    return frozenset(values) or None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _module_arguments(whl: Path, member: str, config: Modules, aliases: dict[str, ast.expr]) -> list[Argument]:
    """Every add_argument call of a module, with the --no- twins BooleanOptionalAction adds
    (explicit, or from a bool config field) and the choices of Literal fields or choices=[...]."""
    arguments = []
    functions = [n for n in ast.walk(_parse(whl, member)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for function in functions:
        sources = _kwargs_sources(function)
        for call in (n for n in ast.walk(function) if _is_add_argument(n)):
            options = set(_option_strings(call))
            splatted = _splatted_field(call)
            field = None
            if splatted and splatted[0] in sources:
                field = _config_field(config, sources[splatted[0]], splatted[1])
            if _explicit_boolean_optional(call) or (field is not None and _boolean_optional(field.annotation)):
                options |= _negated(options)
            choices = _constant_choices(_keyword(call, "choices"))
            if choices is None and field is not None and not _boolean_optional(field.annotation):
                choices = _literal_values_any(field.annotation, aliases)
            arguments.append(Argument(frozenset(options), choices))
    return arguments


def _frontend_arguments(whl: Path, member: str, aliases: dict[str, ast.expr]) -> list[Argument]:
    """FrontendArgs.add_cli_args registers every field of FrontendArgs (BaseFrontendArgs
    included) as --field-name, through get_kwargs."""
    modules = Modules.from_wheels((whl, [member]))
    arguments = []
    for name, f in init_fields(modules, _module_name(member), "FrontendArgs").items():
        option = "--" + name.replace("_", "-")
        if _boolean_optional(f.annotation):
            arguments.append(Argument(frozenset({option, *_negated([option])})))
        else:
            arguments.append(Argument(frozenset({option}), _literal_values_any(f.annotation, aliases)))
    return arguments


@functools.lru_cache(maxsize=None)
def _vllm_arguments(whl: Path) -> tuple[Argument, ...]:
    config = _vllm_config_modules(whl)
    aliases = _literal_aliases(config)
    cli_args = _make_arg_parser_module(whl)
    return (*_module_arguments(whl, cli_args, config, aliases),
            *_module_arguments(whl, "vllm/engine/arg_utils.py", config, aliases),
            *_frontend_arguments(whl, cli_args, aliases))


@_disk_cached
def _vllm_flags(whl: Path) -> frozenset[str]:
    return frozenset(o for argument in _vllm_arguments(whl) for o in argument.options)


def _flag_choices(arguments: Iterable[Argument]) -> dict[str, frozenset[str]]:
    return {o: a.choices for a in arguments if a.choices for o in a.options}


def vllm_flag_choices() -> dict[str, frozenset[str]]:
    """The values of `vllm serve` options that take a closed set (Literal fields, choices=)."""
    return _flag_choices(_vllm_arguments(vllm_wheel()))


def vllm_serve_flags() -> frozenset[str]:
    """Options of `vllm serve` (make_arg_parser: its own, FrontendArgs' and EngineArgs')."""
    return require_floor("vllm.serve_flags", _vllm_flags(vllm_wheel()))


@functools.lru_cache(maxsize=None)
def _vllm_subcommands(whl: Path) -> frozenset[str]:
    found = set()
    for member in _python_members(whl, "vllm/entrypoints/cli/"):
        for cls in (n for n in ast.walk(_parse(whl, member)) if isinstance(n, ast.ClassDef)):
            for stmt in cls.body:
                if isinstance(stmt, ast.Assign) and any(_dotted(t) == "name" for t in stmt.targets):
                    if value := _string(stmt.value):
                        found.add(value)
    return frozenset(found)


def vllm_subcommands() -> frozenset[str]:
    """`name = "serve"` of the CLISubcommand classes under vllm/entrypoints/cli."""
    return _vllm_subcommands(vllm_wheel())


def vllm_console_scripts() -> frozenset[str]:
    return console_scripts(vllm_wheel())


@_disk_cached
def _vllm_env(whl: Path) -> frozenset[str]:
    tree = _parse(whl, "vllm/envs.py")
    found = set(env_reads(tree))
    for node in tree.body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets if isinstance(node, ast.Assign) else []
        if any(_dotted(t) == "environment_variables" for t in targets) and isinstance(node.value, ast.Dict):
            found |= {s for k in node.value.keys if (s := _string(k))}
    return frozenset(found)


def vllm_env() -> frozenset[str]:
    """Keys of vllm/envs.py's environment_variables and the other variables envs.py reads."""
    return require_floor("vllm.env", _vllm_env(vllm_wheel()))


# ------------------------------------------------------------------ SGLang


def sglang_wheel() -> Path:
    return wheel("sglang", versions().sglang, image_python("sglang"))


def _annotated_metadata(annotation: ast.expr) -> list[ast.expr] | None:
    """The metadata of A[T, ...] / Annotated[T, ...]; None when not annotated."""
    if isinstance(annotation, ast.Subscript) and _dotted(annotation.value).rsplit(".", 1)[-1] in ("A", "Annotated"):
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
        literal = _literal_values_any(annotation.slice.elts[0], {})
    default = "--" + name.replace("_", "-")
    for item in metadata or []:
        if isinstance(item, ast.Call) and _dotted(item.func).rsplit(".", 1)[-1] == "Arg":
            keywords = {k.arg: k.value for k in item.keywords}
            if isinstance(keywords.get("no_cli"), ast.Constant) and keywords["no_cli"].value is True:
                return None
            options = {_string(keywords.get("cli_name")) or default}
            aliases = keywords.get("aliases")
            if isinstance(aliases, (ast.List, ast.Tuple)):
                options |= {s for e in aliases.elts if (s := _string(e))}
            if "action" in keywords and _dotted(keywords["action"]).endswith("BooleanOptionalAction"):
                options |= _negated(options)
            return Argument(frozenset(options), _constant_choices(keywords.get("choices")) or literal)
        if not isinstance(item, ast.Call):  # a bare help string; NS(...) and other markers are skipped
            return Argument(frozenset({default}), literal)
    return None


def _input_namespaces(whl: Path) -> list[str]:
    """Class names in server_args.py's `_INPUT_NAMESPACES = [...]`."""
    for node in _parse(whl, "sglang/srt/server_args.py").body:
        if isinstance(node, ast.Assign) and any(_dotted(t) == "_INPUT_NAMESPACES" for t in node.targets):
            return [_dotted(e) for e in node.value.elts] if isinstance(node.value, ast.List) else []
    raise ContractError("sglang/srt/server_args.py has no _INPUT_NAMESPACES")


def _class_arguments(cls: ast.ClassDef) -> list[Argument]:
    return [a for stmt in cls.body if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
            and (a := _field_argument(stmt.target.id, stmt.annotation)) is not None]


@functools.lru_cache(maxsize=None)
def _sglang_arguments(whl: Path) -> tuple[Argument, ...]:
    modules = Modules.from_wheels((whl, [*_python_members(whl, "sglang/srt/arg_groups/fields/"),
                                         "sglang/srt/server_args.py"]))
    arguments: list[Argument] = []
    for name in [*_input_namespaces(whl), "ServerArgs"]:
        arguments += _class_arguments(modules.find("sglang.srt.server_args", name)[1])
    for call in (n for n in ast.walk(modules.trees["sglang.srt.server_args"]) if _is_add_argument(n)):
        options = set(_option_strings(call))
        if _explicit_boolean_optional(call):
            options |= _negated(options)
        arguments.append(Argument(frozenset(options), _constant_choices(_keyword(call, "choices"))))
    return tuple(arguments)


@_disk_cached
def _sglang_flags(whl: Path) -> frozenset[str]:
    return frozenset(o for argument in _sglang_arguments(whl) for o in argument.options)


def sglang_flag_choices() -> dict[str, frozenset[str]]:
    """The values of sglang.launch_server options that take a closed set."""
    return _flag_choices(_sglang_arguments(sglang_wheel()))


def sglang_launch_server_flags() -> frozenset[str]:
    """Options of `python -m sglang.launch_server` (ServerArgs.add_cli_args: the annotated
    fields of every input namespace, plus its explicit add_argument calls)."""
    return require_floor("sglang.launch_server_flags", _sglang_flags(sglang_wheel()))


def sglang_has_module(module: str) -> bool:
    return has_module(sglang_wheel(), module)


@_disk_cached
def _sglang_env(whl: Path) -> frozenset[str]:
    found = set(_package_env_reads(whl, "sglang/srt/", helpers=("get_bool_env_var", "get_int_env_var")))
    for node in _parse(whl, "sglang/srt/environ.py").body:
        if isinstance(node, ast.ClassDef) and node.name == "Envs":
            # SGLANG_X = EnvBool(...): the attribute name is the variable name.
            found |= {t.id for s in node.body if isinstance(s, ast.Assign) and isinstance(s.value, ast.Call)
                      for t in s.targets if isinstance(t, ast.Name)}
    return frozenset(found)


def sglang_env() -> frozenset[str]:
    """Variables SGLang's runtime reads (srt/environ.py's Envs and literal reads in sglang/srt)."""
    return require_floor("sglang.env", _sglang_env(sglang_wheel()))


# ------------------------------------------------------------------ libraries in the images

# Read by Python's os.path.expanduser and nearly every library (cache and config paths).
GENERIC_OS_ENV = frozenset({"HOME"})

# Allowlists used while the training image's lock does not pin the library; each names only
# variables the chart sets, with where upstream reads them.
MLFLOW_ALLOWLIST = frozenset({
    # mlflow/environment_variables.py: _EnvironmentVariable("MLFLOW_TRACKING_URI" | "..._USERNAME"
    # | "..._PASSWORD" | "..._TOKEN"); read by mlflow.tracking's credentials provider.
    "MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
})
HUGGINGFACE_HUB_ALLOWLIST = frozenset({
    # huggingface_hub/constants.py: HF_HOME = os.getenv("HF_HOME", ...);
    # HF_HUB_OFFLINE = _is_true(os.environ.get("HF_HUB_OFFLINE") ...).
    "HF_HOME", "HF_HUB_OFFLINE",
})
GRADIO_ALLOWLIST = frozenset({
    # gradio/blocks.py launch(): server_name/server_port default to os.getenv("GRADIO_SERVER_NAME")
    # / os.getenv("GRADIO_SERVER_PORT"); gradio/utils.py reads GRADIO_ANALYTICS_ENABLED.
    "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "GRADIO_ANALYTICS_ENABLED",
})


@_disk_cached
def _mlflow_env(whl: Path) -> frozenset[str]:
    found = set(_package_env_reads(whl, "mlflow/"))
    for node in ast.walk(_parse(whl, "mlflow/environment_variables.py")):
        if isinstance(node, ast.Call) and _dotted(node.func).endswith("EnvironmentVariable") and node.args:
            if name := _string(node.args[0]):
                found.add(name)
    return frozenset(found)


def mlflow_env() -> frozenset[str]:
    """mlflow's environment reads (mlflow-skinny of the training lock's version), or the allowlist."""
    version = versions().mlflow
    if version is None:
        return MLFLOW_ALLOWLIST
    return require_floor("mlflow.env", _mlflow_env(wheel("mlflow-skinny", version, image_python(TRAINING))))


@_disk_cached
def _library_env(whl: Path, prefix: str) -> frozenset[str]:
    return _package_env_reads(whl, prefix)


def huggingface_hub_env(image: str = TRAINING) -> frozenset[str]:
    """huggingface_hub's environment reads in an image (its lock's version), or the allowlist."""
    version = versions().huggingface_hub.get(image)
    if version is None:
        return HUGGINGFACE_HUB_ALLOWLIST
    whl = wheel("huggingface-hub", version, image_python(image))
    return require_floor("huggingface_hub.env", _library_env(whl, "huggingface_hub/"))


def gradio_env() -> frozenset[str]:
    """gradio's environment reads (the training lock's version), or the allowlist."""
    version = versions().gradio
    if version is None:
        return GRADIO_ALLOWLIST
    return require_floor("gradio.env", _library_env(wheel("gradio", version, image_python(TRAINING)), "gradio/"))


# ------------------------------------------------------------------ the chart's own variables

# Read by the chart's own scripts and by users (kubectl exec), not by the software: each must be
# referenced by a command of the pod it is set in, or documented.
CHART_VARIABLES = frozenset({
    "BASE_MODEL_PATH", "DATASET_PATH", "LORA_OUTPUT_PATH", "MERGED_MODEL_PATH",  # ConfigMap paths
    "JOB_NAME", "RENDEZVOUS",  # multi-node training: peer DNS names
    "ADAPTER",  # the merge Job's wait-for-adapter script
})


# ------------------------------------------------------------------ summary


def _allowlisted(version: str | None) -> str:
    return version if version else "allowlist"


def contract_versions() -> dict[str, str]:
    """The version each contract is read from ("allowlist" where no lock pins the library)."""
    v = versions()
    hub = {f"huggingface_hub ({image})": _allowlisted(version) for image, version in v.huggingface_hub.items()}
    return {"llamafactory": v.llamafactory, "transformers": v.transformers, "vllm": v.vllm, "sglang": v.sglang,
            "mlflow-skinny": _allowlisted(v.mlflow), "gradio": _allowlisted(v.gradio), **hub}


CONTRACTS: dict[str, Callable[[], frozenset[str]]] = {
    "llamafactory.train_keys": llamafactory_train_keys,
    "llamafactory.infer_keys": llamafactory_infer_keys,
    "llamafactory.subcommands": llamafactory_subcommands,
    "llamafactory.env": llamafactory_env,
    "llamafactory.templates": llamafactory_templates,
    "llamafactory.dataset_info_keys": llamafactory_dataset_info_keys,
    "llamafactory.dataset_columns": llamafactory_dataset_columns,
    "transformers.mlflow_env": transformers_mlflow_env,
    "transformers.report_to": transformers_report_to,
    "transformers.lr_scheduler_types": transformers_lr_scheduler_types,
    "vllm.serve_flags": vllm_serve_flags,
    "vllm.env": vllm_env,
    "sglang.launch_server_flags": sglang_launch_server_flags,
    "sglang.env": sglang_env,
    "mlflow.env": mlflow_env,
    "huggingface_hub.env (training)": huggingface_hub_env,
    "huggingface_hub.env (vllm)": lambda: huggingface_hub_env("vllm"),
    "huggingface_hub.env (sglang)": lambda: huggingface_hub_env("sglang"),
    "gradio.env": gradio_env,
}


def contract_counts() -> dict[str, int]:
    """How many keys, flags, names or variables each contract holds."""
    return {name: len(extract()) for name, extract in CONTRACTS.items()}


def main() -> None:
    for name, version in contract_versions().items():
        print(f"{name:<34} {version}")
    for name, count in contract_counts().items():
        print(f"{name:<34} {count:>5}")


if __name__ == "__main__":
    main()
