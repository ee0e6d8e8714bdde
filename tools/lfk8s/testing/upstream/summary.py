"""Every extractor by name, the version each reads, and how much each finds (`python -m
lfk8s.testing.upstream` prints them)."""

from __future__ import annotations

from collections.abc import Callable

from lfk8s.testing.upstream.llamafactory import (
    llamafactory_dataset_columns,
    llamafactory_dataset_info_keys,
    llamafactory_env,
    llamafactory_infer_keys,
    llamafactory_subcommands,
    llamafactory_templates,
    llamafactory_train_keys,
)
from lfk8s.testing.upstream.locks import versions
from lfk8s.testing.upstream.others import gradio_env, huggingface_hub_env, mlflow_env
from lfk8s.testing.upstream.sglang import sglang_env, sglang_launch_server_flags
from lfk8s.testing.upstream.transformers import (
    transformers_lr_scheduler_types,
    transformers_mlflow_env,
    transformers_report_to,
)
from lfk8s.testing.upstream.vllm import vllm_env, vllm_serve_flags


def _allowlisted(version: str | None) -> str:
    return version if version else "allowlist"


def source_versions() -> dict[str, str]:
    """The version each extractor reads ("allowlist" where no lock pins the library)."""
    v = versions()
    hub = {f"huggingface_hub ({image})": _allowlisted(version) for image, version in v.huggingface_hub.items()}
    return {"llamafactory": v.llamafactory, "transformers": v.transformers, "vllm": v.vllm, "sglang": v.sglang,
            "mlflow-skinny": _allowlisted(v.mlflow), "gradio": _allowlisted(v.gradio), **hub}


EXTRACTORS: dict[str, Callable[[], frozenset[str]]] = {
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


def extracted_counts() -> dict[str, int]:
    """How many keys, flags, names or variables each extractor finds."""
    return {name: len(extract()) for name, extract in EXTRACTORS.items()}


def main() -> None:
    for name, version in source_versions().items():
        print(f"{name:<34} {version}")
    for name, count in extracted_counts().items():
        print(f"{name:<34} {count:>5}")
