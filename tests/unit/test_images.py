"""The container images in images/: complete locks that pip's resolver proves against PyPI, clean
Dockerfiles (hadolint, non-root final stage without build tools), and tags that match the chart.

The resolve tests ask PyPI (PEP 658 metadata only, no big downloads); a successful result is
cached under ~/.cache/lfk8s/image-resolve/, so a repeat run answers at once."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shutil
import time
from pathlib import Path
from unittest import mock

import pytest
from packaging.specifiers import SpecifierSet

from lfk8s.chart.defaults import chart_values
from lfk8s.cli.images import register
from lfk8s.images import bases, build, dockerfile, model, outdated, overrides, pins, resolver
from lfk8s.paths import ProjectPaths
from lfk8s.toolchain.builders import ToolchainError

ROOT = Path(__file__).parents[2]
PATHS = ProjectPaths(ROOT)
EXPECTED = ("easyr1", "sglang", "training", "vllm")
NAMES = [image.name for image in model.all_images(PATHS)]

# LLaMA-Factory 0.9.5's own metadata (llamafactory-0.9.5.dist-info/METADATA, Requires-Dist).
LLAMAFACTORY_RANGES = {
    "transformers": ">=4.55.0,<=5.6.0,!=4.52.0,!=4.57.0",
    "peft": ">=0.18.0,<=0.18.1",
    "trl": ">=0.18.0,<=0.24.0",
    "accelerate": ">=1.3.0,<=1.11.0",
    "datasets": ">=2.16.0,<=4.0.0",
    "torch": ">=2.4.0",
    "gradio": ">=4.38.0,<=5.50.0",
}
# What EasyR1 (verl) and flash-attn declare they require: the vendored wheels bring none of it.
EASYR1_REQUIRES = ("accelerate", "codetiming", "datasets", "liger-kernel", "mathruler", "numpy", "omegaconf",
                   "pandas", "peft", "pillow", "pyarrow", "pylatexenc", "qwen-vl-utils", "ray", "tensordict",
                   "torchdata", "transformers", "vllm", "wandb", "torch", "einops")


def image(name: str) -> model.Image:
    return model.get_image(PATHS, name)


def lock(name: str) -> dict[str, str]:
    return pins.parse_pins(image(name).requirements_lock.read_text())


def test_every_image_is_there() -> None:
    assert tuple(NAMES) == EXPECTED


# ---------- files and locks ----------

@pytest.mark.parametrize("name", NAMES)
def test_image_has_dockerfile_requirements_and_lock(name: str) -> None:
    for path in (image(name).dockerfile, image(name).requirements_in, image(name).requirements_lock):
        assert path.is_file() and path.read_text().strip(), f"{path} is missing or empty"


@pytest.mark.parametrize("name", NAMES)
def test_every_lock_line_is_an_exact_pin(name: str) -> None:
    names = []
    for line in image(name).requirements_lock.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*==[A-Za-z0-9.+!]+", line), f"not name==version: {line!r}"
        names.append(line.split("==")[0])
    assert len(names) == len(set(names)), "a package is pinned twice"
    assert len(names) > 50, "a lock of a CUDA/PyTorch image has far more packages: is it complete?"


@pytest.mark.parametrize("name", NAMES)
def test_requirements_in_pins_are_locked_at_the_same_version(name: str) -> None:
    wanted = pins.parse_pins(image(name).requirements_in.read_text())
    locked = lock(name)
    assert wanted, "requirements.in pins nothing"
    different = {n: (v, locked.get(n)) for n, v in wanted.items() if locked.get(n) != v}
    assert not different, f"requirements.in pin -> lock: {different} (run `bin/lfk8s images lock {name}`)"


@pytest.mark.parametrize("name", NAMES)
def test_lock_header_names_the_dockerfiles_python(name: str) -> None:
    header = image(name).requirements_lock.read_text().splitlines()[1]
    assert f"CPython {image(name).python} " in header
    # Debian 12's own CPython: the base image's python3.11 package is the interpreter the venv uses.
    assert image(name).python == "3.11"


@pytest.mark.parametrize("name", NAMES)
def test_every_image_builds_on_a_base_made_from_debians_packages(name: str) -> None:
    """No registry is needed to build: the one base, debian:bookworm-slim, is made from Debian's
    archive where it cannot be pulled (lfk8s.images.bases)."""
    assert image(name).base_images == ["debian:bookworm-slim"]
    assert bases.DEBIAN_BASE.match(image(name).base_images[0])


def test_vllm_lock_pins() -> None:
    assert lock("vllm")["vllm"] == "0.33.0"
    assert lock("vllm")["torch"] == "2.14.0"


def test_sglang_lock_pins() -> None:
    assert lock("sglang")["sglang"] == "0.5.23"
    assert lock("sglang")["torch"] == "2.14.1"


def test_training_lock_pins_within_llamafactorys_ranges() -> None:
    locked = lock("training")
    assert locked["llamafactory"] == "0.9.5"
    for package, allowed in LLAMAFACTORY_RANGES.items():
        assert locked[package] in SpecifierSet(allowed), f"{package}=={locked[package]} outside {allowed}"
    for package in ("deepspeed", "mlflow-skinny", "bitsandbytes"):
        assert package in locked, f"the training image lacks {package}"


def test_serving_images_carry_no_llamafactory_and_training_no_engines() -> None:
    assert "llamafactory" not in lock("vllm") and "llamafactory" not in lock("sglang")
    assert "vllm" not in lock("training") and "sglang" not in lock("training")


def test_easyr1_lock_covers_the_vendored_wheels() -> None:
    vendored = image("easyr1").vendored()
    assert set(vendored) == {"verl", "flash-attn"}
    assert vendored["verl"] == model.chart_image(PATHS, "easyr1").tag
    locked = lock("easyr1")
    assert not set(vendored) & set(locked), "vendored wheels do not come from PyPI"
    assert not [n for n in EASYR1_REQUIRES if n not in locked]
    assert locked["vllm"] == "0.11.0" and locked["torch"] == "2.8.0"
    assert (image("easyr1").directory / "README.md").is_file()


# ---------- pip's resolver against PyPI ----------

@pytest.mark.parametrize("name", NAMES)
def test_lock_resolves(name: str) -> None:
    result = resolver.resolve(image(name))
    assert result.ok, result.summary()
    assert result.packages == lock(name), "pip resolves the lock to exactly the locked set"


def test_resolve_is_cached() -> None:
    resolver.resolve(image("training"))  # cold or cached: either way the result is now cached
    start = time.perf_counter()
    result = resolver.resolve(image("training"))
    assert result.cached and result.ok
    assert time.perf_counter() - start < 1.0


def test_override_lines_parse_and_bad_ones_are_refused() -> None:
    [override] = overrides.parse_overrides(
        "# comment\nvllm==0.33.0: certifi>=2026.10.19 -> certifi==2026.10.18  # not on PyPI yet\n")
    assert str(override) == "vllm==0.33.0: certifi>=2026.10.19 -> certifi==2026.10.18"
    assert override.parent == "vllm" and override.reason == "not on PyPI yet"
    with pytest.raises(pins.ImageError, match="parent==version: requirement -> name==version"):
        overrides.parse_overrides("vllm: certifi -> certifi\n")


def test_no_image_needs_an_override() -> None:
    """Whether an override is still needed is PyPI's state, reported by `lfk8s images outdated`;
    which images carry one is the project's, and none does since PyPI caught up with vllm."""
    assert [name for name in NAMES if overrides.overrides(image(name))] == []


def test_newer_releases_ignore_prereleases_and_older_versions() -> None:
    published = {"torch": ["2.8.0", "2.9.0rc1", "2.7.1"], "peft": ["0.18.1", "0.19.0"], "trl": ["0.24.0"]}
    newer = outdated.newer_releases({"torch": "2.8.0", "peft": "0.18.1", "trl": "0.24.0"}, published.__getitem__)
    assert newer == {"peft": ("0.18.1", "0.19.0")}


def test_outdated_reports_direct_pins_with_newer_releases(tmp_path: Path) -> None:
    directory = tmp_path / "training"
    directory.mkdir()
    (directory / "requirements.in").write_text("llamafactory==0.9.5\nmlflow==3.17.2  # the tracking client\n")
    published = {"llamafactory": ["0.9.4", "0.9.5", "0.9.6"], "mlflow": ["3.17.2"]}
    findings = outdated.outdated(model.Image("training", directory), published.__getitem__)
    assert [str(f) for f in findings] == ["training: llamafactory: pinned 0.9.5, newest 0.9.6"]


def test_legacy_deployment_pins_do_not_resolve() -> None:
    result = resolver.resolve_legacy_pins("training")
    assert not result.ok
    assert "conflict" in result.error.lower()
    assert "transformers==4.36.2" in result.error and "llamafactory 0.9.3" in result.error, result.error


# ---------- hadolint ----------

@pytest.mark.parametrize("name", NAMES)
def test_hadolint_passes(name: str) -> None:
    assert dockerfile.hadolint_errors(image(name).dockerfile) == []


def test_hadolint_fails_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu:latest\nRUN apt-get update && apt-get install -y curl\nRUN pip install requests\n")
    codes = {line.split()[1] for line in dockerfile.hadolint_errors(bad)}
    assert {"DL3007", "DL3008", "DL3013", "DL3042"} <= codes


@pytest.mark.parametrize("name", NAMES)
def test_only_commented_rules_are_ignored(name: str) -> None:
    lines = image(name).dockerfile_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore" in line:
            assert re.fullmatch(r"# hadolint ignore=DL3008", line.strip()), line
            assert lines[number - 1].startswith("#"), "each ignore comes after the comment that says why"


# ---------- the final stage ----------

@pytest.mark.parametrize("name", NAMES)
def test_final_stage_is_non_root_without_build_tools(name: str) -> None:
    text = image(name).dockerfile_text()
    assert len(dockerfile.stages(text)) >= 2, "a builder stage and a final stage"
    assert dockerfile.final_user(text) == "10001:10001"
    assert dockerfile.final_stage_problems(image(name)) == []
    packages = dockerfile.apt_packages(dockerfile.final_stage(text), image(name).python)
    assert "build-essential" not in packages and "make" not in packages
    assert "COPY --from=builder /opt/venv /opt/venv" in dockerfile.final_stage(text)
    assert "HEALTHCHECK" not in text


def test_training_final_stage_has_no_compiler() -> None:
    packages = dockerfile.apt_packages(dockerfile.final_stage(image("training").dockerfile_text()), "3.11")
    assert not [p for p in packages if p in ("gcc", "g++", "clang", "libc6-dev") or p.endswith("-dev")]


def test_final_stage_check_can_fail(tmp_path: Path) -> None:
    directory = tmp_path / "training"
    directory.mkdir()
    (directory / "Dockerfile").write_text(
        "ARG PYTHON_VERSION=3.11\nFROM debian:bookworm-slim AS builder\n"
        "FROM debian:bookworm-slim\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends \\\n      build-essential gcc \\\n"
        " && rm -rf /var/lib/apt/lists/*\nUSER root\n")
    problems = dockerfile.final_stage_problems(model.Image("training", directory))
    assert any("USER root" in p for p in problems)
    assert any("build-essential" in p for p in problems)
    assert any("gcc" in p for p in problems)


@pytest.mark.parametrize("name", NAMES)
def test_runtime_writable_paths(name: str) -> None:
    final = dockerfile.final_stage(image(name).dockerfile_text())
    assert "HOME=/tmp" in final and "HF_HOME=/tmp/hf" in final
    if name == "training":
        assert re.search(r"(?m)^WORKDIR /workspace$", final) and "chown 10001:10001 /workspace" in final


# ---------- tags: the chart's values.yaml ----------

def chart_images() -> dict[str, dict[str, str]]:
    images: dict[str, dict[str, str]] = chart_values(PATHS)["images"]
    return images


@pytest.mark.parametrize("name", NAMES)
def test_build_dry_run_tags_what_the_chart_runs(name: str) -> None:
    entry = chart_images()[name]
    [command] = build.build(PATHS, [name], dry_run=True, engine="docker")
    assert command[command.index("-t") + 1] == f"{entry['repository']}:{entry['tag']}"
    assert command[-1] == f"images/{name}" and command[command.index("-f") + 1] == f"images/{name}/Dockerfile"
    [push] = build.push(PATHS, [name], dry_run=True, engine="podman")
    assert push == ["podman", "push", f"{entry['repository']}:{entry['tag']}"]


@pytest.mark.parametrize("name", NAMES)
def test_labels_match_the_chart(name: str) -> None:
    entry = chart_images()[name]
    final = dockerfile.final_stage(image(name).dockerfile_text())
    labels = dict(re.findall(r'(org\.opencontainers\.image\.[a-z]+)="([^"]*)"', final))
    assert labels["org.opencontainers.image.version"] == str(entry["tag"])
    assert labels["org.opencontainers.image.title"] == entry["repository"].rsplit("/", 1)[-1]
    assert labels["org.opencontainers.image.source"].startswith("https://github.com/")
    assert labels["org.opencontainers.image.licenses"]


def test_registry_override_replaces_only_the_host() -> None:
    chart = model.ChartImage("ghcr.io/llama-factory-k8s/vllm-openai", "0.33.0")
    assert chart.reference() == "ghcr.io/llama-factory-k8s/vllm-openai:0.33.0"
    assert chart.reference("localhost:5000") == "localhost:5000/llama-factory-k8s/vllm-openai:0.33.0"
    assert model.ChartImage("team/app", "1").reference("registry.example") == "registry.example/team/app:1"


def cli(*argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="lfk8s")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = args.func(args, PATHS)
    return code, out.getvalue()


def test_cli_build_dry_run_prints_every_images_command() -> None:
    code, out = cli("images", "build", "--dry-run", "--engine", "docker")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == len(NAMES)
    for name, line in zip(NAMES, lines, strict=True):
        entry = chart_images()[name]
        assert f" -t {entry['repository']}:{entry['tag']} " in line


@pytest.mark.parametrize("action", ["build", "push", "resolve", "lint", "lock", "outdated"])
def test_register_adds_the_images_group(action: str) -> None:
    parser = argparse.ArgumentParser(prog="lfk8s")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["images", action, "training"])
    assert callable(args.func) and args.names == ["training"]


def test_no_working_engine_says_what_was_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(build, "ensure_docker", mock.Mock(side_effect=ToolchainError("apt-get: no such host")))
    with pytest.raises(pins.ImageError) as error:
        build.build(PATHS, ["training"])
    assert all(engine in str(error.value) for engine in ("docker", "podman", "buildah"))
    assert "--dry-run" in str(error.value)
    assert "docker.io failed too: apt-get: no such host" in str(error.value)


def test_without_a_working_engine_root_gets_debians_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    started = mock.Mock()
    monkeypatch.setattr(build, "engine_problem", lambda e: "not on PATH")
    monkeypatch.setattr(build, "ensure_docker", started)
    monkeypatch.setattr(build.os, "geteuid", lambda: 0)
    assert build.engine_for(None, dry_run=False) == "docker"
    started.assert_called_once()
    monkeypatch.setattr(build.os, "geteuid", lambda: 1000)
    with pytest.raises(pins.ImageError, match="no working container engine"):
        build.engine_for(None, dry_run=False)


def test_first_working_engine_is_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "engine_problem", lambda e: None if e == "podman" else "`docker info` exited 1")
    assert build.pick_engine() == "podman"
    [command] = build.build(PATHS, ["sglang"], dry_run=True)
    assert command[:2] == ["podman", "build"]


def test_building_easyr1_needs_its_vendored_wheels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "engine_problem", lambda e: None)
    monkeypatch.setattr(build, "missing_vendored", lambda i: ["verl==0.3.2"] if i.name == "easyr1" else [])
    with pytest.raises(pins.ImageError, match="vendor/ lacks the wheels of verl==0.3.2"):
        build.build(PATHS, ["easyr1"])
