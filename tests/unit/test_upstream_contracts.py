"""The chart against the exact upstream versions its images install.

A chart is wrong the day it passes a config key, a flag or an environment variable that the
software in its image does not accept. lfk8s.testing.upstream reads what LLaMA-Factory (with
transformers), vLLM, SGLang, mlflow, huggingface_hub and gradio accept from their wheels; these
tests render every values/*.yaml file and a matrix of option combinations and hold each rendered
config file, command line and container environment to it.

Containers are judged by what they run: `llamafactory-cli ...` (training, merge, WebUI, engine
`llamafactory`), `vllm serve`, `python3 -m sglang.launch_server`, and `sh -c` scripts (init
containers, helm test pods), whose variables must be used by the script. EasyR1 (`verl`) and
the production-stack router (`vllm-router`) have no contract here yet.

The first run downloads the wheels (~460 MB, vLLM's is ~336 MB) into lfk8s' cache; later runs
read the cache only. `pytest -s -k counts` prints how much each contract holds.
"""

from __future__ import annotations

import ast
import copy
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lfk8s.chart import rendering
from lfk8s.chart.helm import Helm
from lfk8s.chart.rendering import Rendered, containers, pod_specs
from lfk8s.chart.values import deep_merge
from lfk8s.paths import ProjectPaths
from lfk8s.testing import upstream

Obj = dict[str, Any]

CONFIG_MOUNT = "/etc/llama-factory"
# Which llamafactory-cli subcommand parses each generated file (and so which arguments it takes).
CONFIG_FILES = {"train.yaml": "train", "merge.yaml": "export", "api.yaml": "api"}
# The subcommands the chart runs.
CHART_SUBCOMMANDS = ("train", "export", "api", "webui")
MLFLOW = {"trackingUri": "http://mlflow.mlflow.svc:5000"}
DOCUMENTS = ("README.md", "charts/llama-factory/values.schema.yaml", "charts/llama-factory/templates/NOTES.txt")

KUBELET_REF = re.compile(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
SHELL_REF = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
ARITHMETIC = re.compile(r"\$\(\((.*?)\)\)", re.S)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FLAG = re.compile(r"^--?[A-Za-z]")
# Tokens before the engine's own options: `vllm serve`, `python3 -m sglang.launch_server`.
LAUNCHER_TOKENS = {"vllm": 2, "sglang": 3}


# ---------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Case:
    id: str
    values: Obj | None = None  # merged over BASE
    values_file: Path | None = None


BASE: Obj = {"mlflow": MLFLOW}


def _training(**training: Any) -> Obj:
    return {"training": {"enabled": True, **training}}


def serving_cases() -> list[Case]:
    return [Case(f"serve-{engine}-{source}-key{'on' if key else 'off'}",
                 {"inference": {"enabled": True, "engine": engine, "modelSource": source, "apiKey": {"enabled": key}}})
            for engine in ("vllm", "sglang", "llamafactory")
            for source in ("merged", "base", "lora")
            for key in (False, True)]


def training_cases() -> list[Case]:
    cases = [Case(f"stage-{stage}", _training(stage=stage)) for stage in ("pt", "sft", "rm", "dpo", "kto")]
    cases.append(Case("stage-ppo", _training(stage="ppo", reportTo="none", rewardModel="/storage/models/reward")))
    cases += [Case(f"ppo-reward-{kind}", _training(stage="ppo", reportTo="none", rewardModel="/storage/models/reward",
                                                    rewardModelType=kind)) for kind in ("lora", "full", "api")]
    cases += [Case(f"finetuning-{kind}", _training(finetuningType=kind))
              for kind in ("lora", "qlora", "full", "freeze", "oft")]
    cases += [Case(f"deepspeed-{stage}", _training(deepspeed=stage, gpus=2)) for stage in ("z2", "z3")]
    cases.append(Case("multi-node", _training(nodes=2, gpus=2, deepspeed="z3")))
    cases += [Case(f"dpo-loss-{loss}", _training(stage="dpo", preference={"loss": loss}))
              for loss in ("sigmoid", "hinge", "ipo", "kto_pair", "orpo", "simpo")]
    cases += [Case(f"scheduler-{name}", _training(lrSchedulerType=name))
              for name in ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
                           "constant_with_warmup")]
    cases += [Case(f"report-to-{name}", _training(reportTo=name)) for name in ("mlflow", "none", "tensorboard")]
    cases.append(Case("quantization-8bit", _training(finetuningType="qlora", quantization={"bits": 8})))
    cases.append(Case("max-samples", _training(maxSamples=1000)))
    return cases


def engine_value_cases() -> list[Case]:
    """Every value the schema lets reach an engine option with a closed set of values."""
    cases = [Case(f"dtype-{engine}-{dtype}", {"inference": {"enabled": True, "engine": engine, "dtype": dtype}})
             for engine in ("vllm", "sglang") for dtype in ("auto", "bfloat16", "float16", "float32")]
    lora = {"enabled": True, "modelSource": "lora"}
    cases += [Case(f"max-lora-rank-{engine}-{rank}",
                   {"inference": {**lora, "engine": engine, "lora": {"maxRank": rank}}})
              for engine in ("vllm", "sglang") for rank in (8, 16, 32, 64, 128, 256, 320, 512)]
    cases += [Case(f"trained-rank-{rank}",
                   {"training": {"lora": {"rank": rank}}, "inference": {**lora, "engine": "vllm"}})
              for rank in (1, 24, 300, 512)]
    return cases


def component_cases() -> list[Case]:
    return [
        Case("merge", {**_training(), "merge": {"enabled": True}}),
        Case("merge-adapter-gpu",
             {"merge": {"enabled": True, "adapterPath": "/storage/a", "exportDevice": "auto", "gpus": 1}}),
        Case("webui", {"webui": {"enabled": True}}),
        Case("all-on", {**_training(nodes=2, gpus=2), "merge": {"enabled": True}, "webui": {"enabled": True},
                        "inference": {"enabled": True, "modelSource": "lora", "apiKey": {"enabled": True}}}),
    ]


def values_file_cases() -> list[Case]:
    paths = ProjectPaths.discover(Path(__file__).parent)
    return [Case(f"values-{f.stem}", values_file=f) for f in rendering.values_files(paths)]


CASES = [*values_file_cases(), *serving_cases(), *training_cases(), *engine_value_cases(), *component_cases()]
case_param = pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])


@pytest.fixture(scope="session")
def rendered(helm: Helm, paths: ProjectPaths) -> Callable[[Case], Rendered]:
    cache: dict[str, Rendered] = {}

    def _rendered(case: Case) -> Rendered:
        if case.id not in cache:
            if case.values_file is not None:
                cache[case.id] = rendering.render_file(helm, paths, case.values_file)
            else:
                cache[case.id] = rendering.render(helm, paths, deep_merge(copy.deepcopy(BASE), case.values or {}))
        return cache[case.id]

    return _rendered


# ---------------------------------------------------------------- helpers


def cmdline(container: Obj) -> list[str]:
    return [str(x) for x in [*(container.get("command") or []), *(container.get("args") or [])]]


def kind_of(container: Obj) -> str:
    """What a container runs: llamafactory, vllm, sglang, shell, or an uncovered kind."""
    argv = cmdline(container)
    if argv[:1] in (["llamafactory-cli"], ["lmf"]):
        return "llamafactory"
    if argv[:1] == ["vllm"]:
        return "vllm"
    if argv[:3] == ["python3", "-m", "sglang.launch_server"]:
        return "sglang"
    if argv[:1] in (["sh"], ["bash"]):
        return "shell"
    if argv[:3] == ["python3", "-m", "verl.trainer.main"]:
        return "easyr1"
    if argv[:1] == ["vllm-router"]:
        return "router"
    if argv[:1] == ["python3"] and argv[1:2] and re.fullmatch(rf"{CONFIG_MOUNT}/[a-z_]+\.py", argv[1]):
        return "chart-script"
    return "unknown"


def all_containers(rendered: Rendered) -> list[tuple[str, Obj, Obj]]:
    """(workload/container label, container, pod spec) of every container."""
    return [(f"{w['kind']}/{w['metadata']['name']}/{c['name']}", c, spec)
            for w, spec in pod_specs(rendered) for c in containers(spec)]


def env_names(container: Obj) -> list[str]:
    return [e["name"] for e in container.get("env") or []]


def kubelet_refs(container: Obj) -> set[str]:
    """Variables the kubelet expands ($(VAR)) into the command, args or other variables."""
    texts = [*cmdline(container), *(str(e.get("value", "")) for e in container.get("env") or [])]
    return {name for text in texts for name in KUBELET_REF.findall(text)}


def shell_refs(text: str) -> set[str]:
    """Variables a shell script reads: $VAR, ${VAR...}, and bare names inside $((...))."""
    return set(SHELL_REF.findall(text)) | {n for expr in ARITHMETIC.findall(text) for n in IDENTIFIER.findall(expr)}


def config_data(rendered: Rendered) -> dict[str, str]:
    return rendered.get("ConfigMap", component="config")["data"]


def engine_flags(argv: list[str]) -> list[str]:
    """The options of a command line (values excluded; --flag=value gives --flag)."""
    return [token.split("=", 1)[0] for token in argv if FLAG.match(token)]


@pytest.fixture(scope="session")
def documents(paths: ProjectPaths) -> str:
    return "\n".join((paths.root / d).read_text() for d in DOCUMENTS if (paths.root / d).is_file())


def allowed_env(kind: str, argv: list[str]) -> frozenset[str]:
    """Variables the software of a container kind reads."""
    if kind == "llamafactory":
        allowed = (upstream.llamafactory_env() | upstream.transformers_mlflow_env() | upstream.mlflow_env()
                   | upstream.huggingface_hub_env("training") | upstream.GENERIC_OS_ENV)
        return allowed | upstream.gradio_env() if argv[1:2] == ["webui"] else allowed
    if kind == "vllm":
        return upstream.vllm_env() | upstream.huggingface_hub_env("vllm") | upstream.GENERIC_OS_ENV
    if kind == "sglang":
        return upstream.sglang_env() | upstream.huggingface_hub_env("sglang") | upstream.GENERIC_OS_ENV
    raise AssertionError(f"no environment contract for {kind}")


# ---------------------------------------------------------------- the checks (each returns its problems)

Problems = dict[str, Any]


def key_problems(rendered: Rendered) -> Problems:
    """Keys of train.yaml / merge.yaml / api.yaml the subcommand that parses the file refuses."""
    data, unknown = config_data(rendered), {}
    for file, subcommand in CONFIG_FILES.items():
        keys = set(yaml.safe_load(data[file]) or {})
        refused = keys - set(upstream.llamafactory_arguments(subcommand))
        if refused:
            unknown[f"{file} (llamafactory-cli {subcommand})"] = sorted(refused)
    return unknown


def value_problems(rendered: Rendered) -> Problems:
    """Values of Literal/Enum fields, template, lr_scheduler_type and report_to nobody accepts."""
    data, refused = config_data(rendered), {}
    for file, subcommand in CONFIG_FILES.items():
        choices = upstream.llamafactory_choices(subcommand)
        for key, value in (yaml.safe_load(data[file]) or {}).items():
            values = value if isinstance(value, list) else [value]
            if key in choices and any(isinstance(v, str) and v not in choices[key] for v in values):
                refused[f"{file}:{key}"] = value
    return refused


def dataset_info_problems(rendered: Rendered) -> Problems:
    info = yaml.safe_load(config_data(rendered)["dataset_info.json"])
    keys, columns = upstream.llamafactory_dataset_info_keys(), upstream.llamafactory_dataset_columns()
    problems = {}
    for name, entry in info.items():
        wrong = sorted(set(entry) - keys) + sorted(set(entry.get("columns", {})) - columns)
        if entry.get("formatting", "alpaca") not in upstream.llamafactory_dataset_formattings():
            wrong.append(f"formatting={entry['formatting']}")
        if wrong:
            problems[name] = wrong
    return problems


def command_problems(rendered: Rendered) -> list[str]:
    """Console scripts, subcommands and modules that do not exist; generated files read by a
    subcommand other than the one they were checked for."""
    problems = []
    for label, container, _ in all_containers(rendered):
        argv, kind = cmdline(container), kind_of(container)
        if kind == "unknown":
            problems.append(f"{label}: no contract knows {argv[:3]}")
        elif kind == "llamafactory":
            if (argv[0] not in upstream.llamafactory_console_scripts()
                    or argv[1] not in upstream.llamafactory_subcommands()):
                problems.append(f"{label}: {argv[:2]}")
            file = argv[2].removeprefix(CONFIG_MOUNT + "/") if len(argv) > 2 else ""
            if (file in CONFIG_FILES
                    and upstream.SUBCOMMAND_PARSER.get(argv[1]) != upstream.SUBCOMMAND_PARSER[CONFIG_FILES[file]]):
                problems.append(f"{label}: {file} is read by `{argv[1]}`, checked as `{CONFIG_FILES[file]}`")
        elif kind == "vllm" and (argv[0] not in upstream.vllm_console_scripts()
                                 or argv[1] not in upstream.vllm_subcommands()):
            problems.append(f"{label}: {argv[:2]}")
        elif kind == "sglang" and not upstream.sglang_has_module(argv[2]):
            problems.append(f"{label}: no module {argv[2]}")
        elif kind == "chart-script" and argv[1].removeprefix(CONFIG_MOUNT + "/") not in config_data(rendered):
            problems.append(f"{label}: {argv[1]} is not in the ConfigMap")
    return problems


def flag_problems(rendered: Rendered) -> Problems:
    """Options of vllm serve / sglang.launch_server command lines the version does not define."""
    known = {"vllm": upstream.vllm_serve_flags, "sglang": upstream.sglang_launch_server_flags}
    unknown: Problems = {}
    for label, container, _ in all_containers(rendered):
        kind = kind_of(container)
        if kind in known:
            flags = engine_flags(cmdline(container)[LAUNCHER_TOKENS[kind]:])
            if not flags:
                unknown[label] = "no flags found: the command line changed shape"
            elif set(flags) - known[kind]():
                unknown[label] = sorted(set(flags) - known[kind]())
    return unknown


def flag_value_problems(rendered: Rendered) -> Problems:
    """Values of engine options with a closed set (Literal fields, choices=) outside it."""
    choices = {"vllm": upstream.vllm_flag_choices, "sglang": upstream.sglang_flag_choices}
    refused: Problems = {}
    for label, container, _ in all_containers(rendered):
        kind = kind_of(container)
        if kind not in choices:
            continue
        argv = cmdline(container)[LAUNCHER_TOKENS[kind]:]
        for index, token in enumerate(argv):
            flag, equals, value = token.partition("=")
            if not FLAG.match(token) or flag not in choices[kind]():
                continue
            if not equals:
                value = argv[index + 1] if index + 1 < len(argv) and not FLAG.match(argv[index + 1]) else ""
            if value not in choices[kind]()[flag]:
                refused.setdefault(label, {})[flag] = value
    return refused


def env_problems(rendered: Rendered) -> Problems:
    """Variables set on LLaMA-Factory, vLLM or SGLang containers that nothing there reads."""
    unread = {}
    for label, container, _ in all_containers(rendered):
        kind = kind_of(container)
        if kind in ("llamafactory", "vllm", "sglang"):
            allowed = allowed_env(kind, cmdline(container)) | kubelet_refs(container) | upstream.CHART_VARIABLES
            if set(env_names(container)) - allowed:
                unread[label] = sorted(set(env_names(container)) - allowed)
    return unread


def chart_variable_problems(rendered: Rendered, documents: str) -> Problems:
    """The chart's own variables neither used by a command of their pod nor documented."""
    unused: Problems = {}
    for label, container, spec in all_containers(rendered):
        pod_text = "\n".join(t for c in containers(spec)
                             for t in [*cmdline(c), *(str(e.get("value", "")) for e in c.get("env") or [])])
        referenced = shell_refs(pod_text) | set(KUBELET_REF.findall(pod_text))
        for name in sorted(set(env_names(container)) & upstream.CHART_VARIABLES):
            if name not in referenced and not re.search(rf"\b{name}\b", documents):
                unused.setdefault(label, []).append(name)
    return unused


def script_problems(rendered: Rendered) -> Problems:
    """Variables of the chart's Python scripts' containers the script never names."""
    unused = {}
    for label, container, _ in all_containers(rendered):
        if kind_of(container) == "chart-script":
            script = config_data(rendered)[cmdline(container)[1].removeprefix(CONFIG_MOUNT + "/")]
            used = {name for name in env_names(container) if f'"{name}"' in script or f"'{name}'" in script}
            if set(env_names(container)) - used - kubelet_refs(container):
                unused[label] = sorted(set(env_names(container)) - used - kubelet_refs(container))
    return unused


def shell_problems(rendered: Rendered) -> Problems:
    """Variables of `sh -c` containers their script never reads."""
    unused = {}
    for label, container, _ in all_containers(rendered):
        if kind_of(container) == "shell":
            used = shell_refs("\n".join(cmdline(container))) | kubelet_refs(container)
            if set(env_names(container)) - used:
                unused[label] = sorted(set(env_names(container)) - used)
    return unused


def checked(rendered: Rendered) -> dict[str, set[str]]:
    """What the checks look at in one render, for the counts."""
    data = config_data(rendered)
    items: dict[str, set[str]] = {"config keys": set(), "engine flags": set(), "container env": set()}
    for file in CONFIG_FILES:
        items["config keys"] |= {f"{file}:{k}" for k in yaml.safe_load(data[file]) or {}}
    for _label, container, _ in all_containers(rendered):
        kind = kind_of(container)
        if kind in LAUNCHER_TOKENS:
            items["engine flags"] |= {f"{kind}:{f}" for f in engine_flags(cmdline(container)[LAUNCHER_TOKENS[kind]:])}
        items["container env"] |= {f"{kind}:{n}" for n in env_names(container)}
    return items


# ---------------------------------------------------------------- the contracts


def test_contract_counts_are_above_the_floors(rendered: Callable[[Case], Rendered]) -> None:
    """Prints what every contract holds and what the matrix checks against it (run with -s);
    each extractor raises UpstreamReadError under its floor, and those never allowlisted are
    checked here again."""
    counts = upstream.extracted_counts()
    print()
    for name, version in upstream.source_versions().items():
        print(f"{name:<34} {version}")
    for name, count in counts.items():
        print(f"{name:<34} {count:>5}")
    seen: dict[str, set[str]] = {}
    for case in CASES:
        for what, items in checked(rendered(case)).items():
            seen.setdefault(what, set()).update(items)
    print(f"checked across {len(CASES)} renders: " + ", ".join(f"{len(v)} distinct {k}" for k, v in seen.items()))
    never_allowlisted = ("llamafactory.", "transformers.", "vllm.", "sglang.")
    assert {n: c for n, c in counts.items() if n.startswith(never_allowlisted) and c <= upstream.FLOORS[n]} == {}
    assert all(counts.values()) and all(seen.values())


def test_a_cached_wheel_is_not_downloaded_again(monkeypatch: pytest.MonkeyPatch) -> None:
    first = upstream.llamafactory_wheel()

    def no_network(*args: Any, **_: Any) -> None:
        raise AssertionError(f"a cached wheel touched the network: {args}")

    monkeypatch.setattr(subprocess, "run", no_network)
    assert upstream.wheel("llamafactory", upstream.versions().llamafactory) == first
    assert upstream.wheel("vllm", upstream.versions().vllm).name.startswith("vllm-")


def test_an_extractor_under_its_floor_fails_loudly() -> None:
    with pytest.raises(upstream.UpstreamReadError, match="expected more than"):
        upstream.require_floor("vllm.serve_flags", frozenset({"--port"}))


def test_lock_pins_are_read() -> None:
    """Every image's lock parses with the harness's one pin parser, by canonical name."""
    pins = {image: upstream.lock_pins(image) for image in upstream.IMAGES}
    assert all(pins.values())
    assert upstream.locked("training", "Transformers") == pins["training"]["transformers"]
    assert upstream.locked("vllm", "huggingface_hub") == pins["vllm"]["huggingface-hub"]


def test_image_tags_are_the_versions_the_contracts_read(paths: ProjectPaths) -> None:
    images = yaml.safe_load(paths.values_yaml.read_text())["images"]
    v = upstream.versions()
    assert {name: images[name]["tag"] for name in ("training", "vllm", "sglang")} == {
        "training": v.llamafactory, "vllm": v.vllm, "sglang": v.sglang}


def test_llamafactory_has_the_subcommands_the_chart_uses() -> None:
    assert set(CHART_SUBCOMMANDS) <= upstream.llamafactory_subcommands()
    assert "llamafactory-cli" in upstream.llamafactory_console_scripts()


def test_llamafactory_reads_the_variables_the_chart_sets_for_it() -> None:
    assert {"API_HOST", "API_PORT", "API_KEY", "API_MODEL_NAME"} <= upstream.llamafactory_env()
    assert ({"FORCE_TORCHRUN", "NNODES", "NODE_RANK", "NPROC_PER_NODE", "MASTER_ADDR", "MASTER_PORT"}
            <= upstream.llamafactory_env())
    assert {"MLFLOW_EXPERIMENT_NAME", "MLFLOW_TRACKING_URI"} <= upstream.transformers_mlflow_env()


def test_infer_subcommands_take_no_training_arguments() -> None:
    assert {"output_dir", "learning_rate", "deepspeed"} <= upstream.llamafactory_train_keys()
    assert not {"output_dir", "learning_rate", "deepspeed"} & upstream.llamafactory_infer_keys()
    # init=False fields are refused by HfArgumentParser.
    assert not {"compute_dtype", "device_map", "_n_gpu"} & upstream.llamafactory_train_keys()


# Canaries: each check must find a planted mistake, or a passing matrix proves nothing.


def test_canary_unknown_config_key_is_found(render: Callable[..., Rendered]) -> None:
    rendered = render(deep_merge(copy.deepcopy(BASE),
                                 _training(extraArgs={"lora_rnak": 8, "template": "no_such_template"})))
    assert key_problems(rendered) == {"train.yaml (llamafactory-cli train)": ["lora_rnak"]}
    assert value_problems(rendered) == {"train.yaml:template": "no_such_template"}


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_canary_unknown_flag_is_found(render: Callable[..., Rendered], engine: str) -> None:
    rendered = render(deep_merge(copy.deepcopy(BASE), {"inference": {
        "enabled": True, "engine": engine, "extraArgs": ["--max-num-seqz=4", "--enable-lora"]}}))
    assert list(flag_problems(rendered).values()) == [["--max-num-seqz"]]


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_canary_refused_flag_value_is_found(render: Callable[..., Rendered], engine: str) -> None:
    rendered = render(deep_merge(copy.deepcopy(BASE),
                                 {"inference": {"enabled": True, "engine": engine, "extraArgs": ["--dtype=fp64"]}}))
    assert list(flag_value_problems(rendered).values()) == [{"--dtype": "fp64"}]


def test_canary_unread_env_is_found(render: Callable[..., Rendered]) -> None:
    rendered = render(deep_merge(copy.deepcopy(BASE), {"inference": {"enabled": True, "engine": "vllm"}}))
    container = next(c for _, c, _ in all_containers(rendered) if kind_of(c) == "vllm")
    container["env"] += [{"name": "VLLM_APIKEY", "value": "x"}, {"name": "SGLANG_API_KEY", "value": "x"}]
    assert list(env_problems(rendered).values()) == [["SGLANG_API_KEY", "VLLM_APIKEY"]]


@case_param
def test_config_keys_are_arguments_of_the_subcommand_that_parses_them(
    rendered: Callable[[Case], Rendered], case: Case
) -> None:
    v, problems = upstream.versions(), key_problems(rendered(case))
    assert problems == {}, f"keys LLaMA-Factory {v.llamafactory} / transformers {v.transformers} refuse: {problems}"


@case_param
def test_config_values_are_accepted(rendered: Callable[[Case], Rendered], case: Case) -> None:
    problems = value_problems(rendered(case))
    assert problems == {}, f"values upstream refuses: {problems}"


@case_param
def test_dataset_info_is_llamafactory_format(rendered: Callable[[Case], Rendered], case: Case) -> None:
    problems = dataset_info_problems(rendered(case))
    assert problems == {}, f"dataset_info.json keys LLaMA-Factory ignores: {problems}"


@case_param
def test_commands_run_what_the_images_install(rendered: Callable[[Case], Rendered], case: Case) -> None:
    problems = command_problems(rendered(case))
    assert problems == [], f"commands the images cannot run: {problems}"


@case_param
def test_engine_flags_exist(rendered: Callable[[Case], Rendered], case: Case) -> None:
    v, problems = upstream.versions(), flag_problems(rendered(case))
    assert problems == {}, f"flags vLLM {v.vllm} / SGLang {v.sglang} do not define: {problems}"


@case_param
def test_engine_flag_values_are_accepted(rendered: Callable[[Case], Rendered], case: Case) -> None:
    problems = flag_value_problems(rendered(case))
    assert problems == {}, f"option values the engine refuses: {problems}"


@case_param
def test_sglang_api_key_reaches_the_flag(rendered: Callable[[Case], Rendered], case: Case) -> None:
    """SGLang does not read SGLANG_API_KEY: the kubelet expands it into --api-key."""
    for label, container, _ in all_containers(rendered(case)):
        if kind_of(container) == "sglang" and "SGLANG_API_KEY" in env_names(container):
            argv = cmdline(container)
            assert "SGLANG_API_KEY" not in upstream.sglang_env()
            assert argv[argv.index("--api-key") + 1] == "$(SGLANG_API_KEY)", label
            env = {e["name"]: e for e in container["env"]}
            assert "secretKeyRef" in env["SGLANG_API_KEY"]["valueFrom"], label


@case_param
def test_env_is_read_by_the_software(rendered: Callable[[Case], Rendered], case: Case) -> None:
    """Every variable set on a LLaMA-Factory, vLLM or SGLang container is read by that software
    (or its libraries), expanded by the kubelet into its command, or one of the chart's own
    variables (checked below)."""
    problems = env_problems(rendered(case))
    assert problems == {}, f"variables nothing in the container reads: {problems}"


def _across_the_matrix(
    rendered: Callable[[Case], Rendered], problems_of: Callable[[Rendered], Problems]
) -> dict[str, list[str]]:
    """{problem: ids of the cases showing it}, Job hashes masked so one problem reads once."""
    found: dict[str, list[str]] = {}
    for case in CASES:
        for label, names in problems_of(rendered(case)).items():
            found.setdefault(f"{re.sub(r'-[0-9a-f]{8}/', '-<hash>/', label)}: {names}", []).append(case.id)
    return {problem: ids if len(ids) < len(CASES) else ["every case"] for problem, ids in found.items()}


def test_chart_variables_are_used_or_documented(rendered: Callable[[Case], Rendered], documents: str) -> None:
    """The chart's own variables (paths, rendezvous names) are read by no upstream software:
    each must be used by a command of its pod or documented for users. Checked over the whole
    matrix at once: one problem shows up in many combinations."""
    problems = _across_the_matrix(rendered, lambda r: chart_variable_problems(r, documents))
    assert problems == {}, (
        "chart variables neither used by a command of their pod nor documented:\n" + _listing(problems)
    )


def test_shell_containers_use_their_env(rendered: Callable[[Case], Rendered]) -> None:
    """A `sh -c` script is the only reader of its container's variables (whole matrix at once)."""
    problems = _across_the_matrix(rendered, shell_problems)
    assert problems == {}, "variables the script never reads:\n" + _listing(problems)


def test_script_containers_use_their_env(rendered: Callable[[Case], Rendered]) -> None:
    """The chart's Python scripts (init containers) read every variable their container gets."""
    problems = _across_the_matrix(rendered, script_problems)
    assert problems == {}, "variables the script never reads:\n" + _listing(problems)


def test_checkpoint_names_are_the_trainers(paths: ProjectPaths) -> None:
    """resume_checkpoints.py knows a checkpoint by transformers' own directory prefix and state
    file (the pinned wheel), and save_total_limit is an optional int train.yaml may set."""
    script = (paths.chart / "files" / "resume_checkpoints.py").read_text()
    prefix, state = upstream.transformers_checkpoint_names()
    assert f'r"^{prefix}-(\\d+)$"' in script and f'STATE = "{state}"' in script
    field = upstream.llamafactory_arguments("train")["save_total_limit"]
    assert ast.unparse(field.annotation) == "Optional[int]"


def _listing(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"  {problem}  <- {', '.join(ids[:6])}{' ...' if len(ids) > 6 else ''}"
                     for problem, ids in problems.items())
