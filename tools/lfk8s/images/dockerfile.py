"""Dockerfile checks: hadolint at every level, and what the final stage may hold (USER 10001,
no build tools, a compiler only where the image's software compiles at run time)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any, cast

from lfk8s.images.model import Image
from lfk8s.images.pins import ImageError
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain.pinned import HADOLINT


def hadolint_executable(report: Reporter = quiet) -> Path:
    return HADOLINT.ensure(report)


def hadolint_findings(dockerfile: Path, report: Reporter = quiet) -> list[dict[str, Any]]:
    """Every hadolint finding at every level (error, warning, info, style). No rule is ignored here;
    only `# hadolint ignore=...` comments in the Dockerfile itself (each with its reason) count."""
    if not dockerfile.is_file():
        raise ImageError(f"no Dockerfile at {dockerfile}")
    executable = hadolint_executable(report)
    with tempfile.TemporaryDirectory(prefix="lfk8s-hadolint-") as tmp:
        # An explicit empty config, so no ~/.config/hadolint.yaml or ./.hadolint.yaml can ignore rules.
        config = Path(tmp) / "hadolint.yaml"
        config.write_text("ignored: []\ntrustedRegistries: []\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
        env.update(HOME=tmp, XDG_CONFIG_HOME=tmp)
        result = subprocess.run([str(executable), "--config", str(config), "--no-color", "--format", "json",
                                 "--failure-threshold", "style", str(dockerfile.resolve())],
                                capture_output=True, text=True, cwd=tmp, env=env)
    try:
        findings = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        findings = None
    # Exit 1 with findings is a lint failure; anything else non-zero is hadolint failing to run.
    if findings is None or (result.returncode != 0 and not findings):
        raise ImageError(f"hadolint failed on {dockerfile} (exit {result.returncode}): "
                         f"{result.stderr or result.stdout}")
    return cast(list[dict[str, Any]], findings)


def hadolint_errors(dockerfile: Path, report: Reporter = quiet) -> list[str]:
    """hadolint's findings as `Dockerfile:LINE CODE level: message` lines; empty when it passes."""
    return [f"{dockerfile.name}:{f['line']} {f['code']} {f['level']}: {f['message']}"
            for f in hadolint_findings(dockerfile, report)]


# ---------- the final stage ----------

USER_ID = "10001"

# Images whose programs compile code when they run, so their final stage keeps a C/C++ compiler
# (gcc, g++, libc6-dev and pythonX.Y-dev for Python.h): Triton compiles its CUDA driver shim and
# kernel launchers with the host C compiler on the first kernel launch ("Failed to find C
# compiler" without one), and FlashInfer/TileLang JIT kernels through nvcc, which needs a host
# C++ compiler. The training image runs PyTorch eagerly and keeps no compiler.
RUNTIME_COMPILER = {
    "vllm": "vLLM runs torch.compile/Triton kernels and FlashInfer JIT kernels",
    "sglang": "SGLang runs Triton kernels and FlashInfer/TileLang JIT kernels",
    "easyr1": "vLLM 0.11 rollouts and Liger kernels run on Triton",
}
COMPILER_PACKAGES = frozenset({"gcc", "g++", "libc6-dev", "cpp"})
# Never in a final stage: build systems, toolchains and fetchers that only a build needs.
BUILD_ONLY_PACKAGES = ("build-essential", "make", "cmake", "ninja-build", "clang", "autoconf", "automake",
                       "libtool", "pkg-config", "git", "curl", "wget", "cuda-nvcc", "cuda-toolkit",
                       "cuda-libraries-dev", "python3-pip")


def stages(dockerfile_text: str) -> list[str]:
    """The Dockerfile's stages, each from its FROM line, with continuation lines joined."""
    joined = re.sub(r"\\\n", " ", dockerfile_text)
    parts = re.split(r"(?im)^(?=[ \t]*FROM\s)", joined)
    return [p for p in parts if re.match(r"(?i)[ \t]*FROM\s", p)]


def final_stage(dockerfile_text: str) -> str:
    return stages(dockerfile_text)[-1]


def final_user(dockerfile_text: str) -> str | None:
    """The final stage's last USER."""
    users = re.findall(r"(?im)^[ \t]*USER[ \t]+(\S+)", final_stage(dockerfile_text))
    return users[-1] if users else None


def apt_packages(stage_text: str, python: str) -> list[str]:
    """The packages a stage's `apt-get install` commands name (quotes dropped, ${PYTHON_VERSION} filled in)."""
    packages: list[str] = []
    for match in re.finditer(r"apt-get\s+install\s+([^&;|\n]*)", stage_text):
        for word in match.group(1).split():
            word = word.strip("'\"").replace("${PYTHON_VERSION}", python).replace("$PYTHON_VERSION", python)
            if word and not word.startswith("-"):
                packages.append(word.split("=")[0])
    return packages


def final_stage_problems(image: Image) -> list[str]:
    """What is wrong with the final stage: not USER 10001, build-only packages, or a compiler in an
    image that does not run one (see RUNTIME_COMPILER)."""
    text = image.dockerfile_text()
    problems = []
    user = final_user(text)
    if user not in (USER_ID, f"{USER_ID}:{USER_ID}"):
        problems.append(f"final stage runs as USER {user}, not {USER_ID}:{USER_ID}")
    packages = apt_packages(final_stage(text), image.python)
    for package in packages:
        if package in BUILD_ONLY_PACKAGES or package.startswith(("cuda-nvcc", "cuda-toolkit")):
            problems.append(f"final stage installs the build tool {package}")
        compiler = package in COMPILER_PACKAGES or re.fullmatch(r"(lib)?python3(\.\d+)?-dev", package)
        if compiler and image.name not in RUNTIME_COMPILER:
            problems.append(f"final stage installs {package}, a compiler the image does not run")
    if re.search(r"(?m)^[ \t]*HEALTHCHECK\s", final_stage(text)):
        problems.append("HEALTHCHECK in the image: the chart's Kubernetes probes check health")
    return problems


