"""Which upstream versions are read: the images' requirements.lock pins, else lfk8s.versions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lfk8s.images.pins import canonical, parse_pins
from lfk8s.paths import ProjectPaths
from lfk8s.versions import (
    LLAMAFACTORY_VERSION,
    SGLANG_VERSION,
    TRANSFORMERS_FALLBACK,
    UPSTREAM_WHEEL_PYTHON,
    VLLM_VERSION,
)

# The chart's images whose Python software is read here (images.<name> in values.yaml).
TRAINING = "training"
IMAGES = (TRAINING, "vllm", "sglang")


def _project_root() -> Path:
    return ProjectPaths.discover(Path(__file__).parent).root


def lock_file(image: str) -> Path:
    """images/<image>/requirements.lock of the checkout."""
    return _project_root() / "images" / image / "requirements.lock"


def lock_pins(image: str) -> dict[str, str]:
    """{canonical name: version} of images/<image>/requirements.lock ({} without one), read by
    the harness's one pin parser (ImageError on a line that is not an exact pin)."""
    path = lock_file(image)
    return parse_pins(path.read_text()) if path.is_file() else {}


_LOCK_PYTHON = re.compile(r"CPython (\d+\.\d+)")


def image_python(image: str) -> str:
    """The Python an image's lock was resolved for (its header names it), else UPSTREAM_WHEEL_PYTHON."""
    path = lock_file(image)
    match = _LOCK_PYTHON.search(path.read_text()[:1000]) if path.is_file() else None
    return match.group(1) if match else UPSTREAM_WHEEL_PYTHON


def locked(image: str, package: str) -> str | None:
    """The version images/<image>/requirements.lock pins for a package, if any."""
    return lock_pins(image).get(canonical(package))


@dataclass(frozen=True)
class Versions:
    """The upstream versions everything here is read from (None: not pinned, allowlist used)."""

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
