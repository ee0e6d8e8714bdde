"""What the software in the chart's images accepts, read statically from its released wheels.

A chart is wrong the day it passes a config key, a flag or an environment variable that the
software in its image does not accept. This package downloads the exact wheels the images
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
constants of lfk8s.versions. Every extractor returns a frozenset and fails loudly
(UpstreamReadError) under a sanity floor, so a broken extractor can never pass a chart by
finding nothing.

Modules, each importing only those above it in this list: floors (the error and the floors),
locks (which versions), wheels (download, cache and read wheels), ast_reads (strings, env
reads, dataclass fields, annotations), cli_reads (argparse registrations), then one module per
project: transformers, llamafactory, vllm, sglang, others (mlflow, huggingface_hub, gradio), and
summary (every extractor by name).

    python -m lfk8s.testing.upstream      # prints the versions and the count of every extracted set
"""

from __future__ import annotations

from lfk8s.testing.upstream.floors import FLOORS, UpstreamReadError, require_floor
from lfk8s.testing.upstream.llamafactory import (
    SUBCOMMAND_PARSER,
    llamafactory_arguments,
    llamafactory_choices,
    llamafactory_console_scripts,
    llamafactory_dataset_columns,
    llamafactory_dataset_formattings,
    llamafactory_dataset_info_keys,
    llamafactory_env,
    llamafactory_infer_keys,
    llamafactory_subcommands,
    llamafactory_templates,
    llamafactory_train_keys,
    llamafactory_wheel,
)
from lfk8s.testing.upstream.locks import (
    IMAGES,
    TRAINING,
    Versions,
    image_python,
    lock_file,
    lock_pins,
    locked,
    versions,
)
from lfk8s.testing.upstream.others import (
    CHART_VARIABLES,
    GENERIC_OS_ENV,
    GRADIO_ALLOWLIST,
    HUGGINGFACE_HUB_ALLOWLIST,
    MLFLOW_ALLOWLIST,
    gradio_env,
    huggingface_hub_env,
    mlflow_env,
)
from lfk8s.testing.upstream.sglang import (
    sglang_env,
    sglang_flag_choices,
    sglang_has_module,
    sglang_launch_server_flags,
    sglang_wheel,
)
from lfk8s.testing.upstream.summary import EXTRACTORS, extracted_counts, main, source_versions
from lfk8s.testing.upstream.transformers import (
    transformers_checkpoint_names,
    transformers_lr_scheduler_types,
    transformers_mlflow_env,
    transformers_report_to,
    transformers_wheel,
)
from lfk8s.testing.upstream.vllm import (
    vllm_console_scripts,
    vllm_env,
    vllm_flag_choices,
    vllm_serve_flags,
    vllm_subcommands,
    vllm_wheel,
)
from lfk8s.testing.upstream.wheels import PLATFORMS, console_scripts, has_module, wheel, wheels_dir

__all__ = [
    "CHART_VARIABLES", "EXTRACTORS", "FLOORS", "GENERIC_OS_ENV", "GRADIO_ALLOWLIST", "HUGGINGFACE_HUB_ALLOWLIST",
    "IMAGES", "MLFLOW_ALLOWLIST", "PLATFORMS", "SUBCOMMAND_PARSER", "TRAINING", "UpstreamReadError", "Versions",
    "console_scripts", "extracted_counts", "gradio_env", "has_module", "huggingface_hub_env", "image_python",
    "llamafactory_arguments", "llamafactory_choices", "llamafactory_console_scripts", "llamafactory_dataset_columns",
    "llamafactory_dataset_formattings", "llamafactory_dataset_info_keys", "llamafactory_env",
    "llamafactory_infer_keys", "llamafactory_subcommands", "llamafactory_templates", "llamafactory_train_keys",
    "llamafactory_wheel", "lock_file", "lock_pins", "locked", "main", "mlflow_env", "require_floor",
    "sglang_env", "sglang_flag_choices", "sglang_has_module", "sglang_launch_server_flags", "sglang_wheel",
    "source_versions", "transformers_checkpoint_names",
    "transformers_lr_scheduler_types", "transformers_mlflow_env", "transformers_report_to",
    "transformers_wheel", "versions", "vllm_console_scripts", "vllm_env", "vllm_flag_choices", "vllm_serve_flags",
    "vllm_subcommands", "vllm_wheel", "wheel", "wheels_dir",
]
