"""The libraries in the images (mlflow, huggingface_hub, gradio): their environment reads when
a lock pins them, else documented allowlists; and the variables no upstream library reads
(GENERIC_OS_ENV, CHART_VARIABLES)."""

from __future__ import annotations

import ast
from pathlib import Path

from lfk8s.testing.upstream.ast_reads import dotted, package_env_reads, string_constant
from lfk8s.testing.upstream.floors import require_floor
from lfk8s.testing.upstream.locks import TRAINING, image_python, versions
from lfk8s.testing.upstream.wheels import disk_cached, parse_member, wheel

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

# Read by the chart's own scripts and by users (kubectl exec), not by the software: each must be
# referenced by a command of the pod it is set in, or documented.
CHART_VARIABLES = frozenset({
    "BASE_MODEL_PATH", "DATASET_PATH", "LORA_OUTPUT_PATH", "MERGED_MODEL_PATH",  # ConfigMap paths
    "JOB_NAME", "RENDEZVOUS",  # multi-node training: peer DNS names
    "ADAPTER",  # the merge Job's wait-for-adapter script
})


@disk_cached
def _mlflow_env(whl: Path) -> frozenset[str]:
    found = set(package_env_reads(whl, "mlflow/"))
    for node in ast.walk(parse_member(whl, "mlflow/environment_variables.py")):
        if (isinstance(node, ast.Call) and dotted(node.func).endswith("EnvironmentVariable") and node.args
                and (name := string_constant(node.args[0]))):
            found.add(name)
    return frozenset(found)


def mlflow_env() -> frozenset[str]:
    """mlflow's environment reads (mlflow-skinny of the training lock's version), or the allowlist."""
    version = versions().mlflow
    if version is None:
        return MLFLOW_ALLOWLIST
    return require_floor("mlflow.env", _mlflow_env(wheel("mlflow-skinny", version, image_python(TRAINING))))


@disk_cached
def _library_env(whl: Path, prefix: str) -> frozenset[str]:
    return package_env_reads(whl, prefix)


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
