"""Failing loudly: the error of every reader and the sanity floor of every extracted set."""

from __future__ import annotations


class UpstreamReadError(RuntimeError):
    """What upstream accepts could not be read (download failed, layout changed, floor missed)."""


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


def require_floor(name: str, found: frozenset[str]) -> frozenset[str]:
    """The set, or UpstreamReadError when it holds no more than FLOORS[name]."""
    if len(found) <= FLOORS[name]:
        raise UpstreamReadError(f"{name}: found {len(found)}, expected more than {FLOORS[name]}; "
                                "the extractor no longer matches the upstream source")
    return found
