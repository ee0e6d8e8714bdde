"""The training image, built here from images/training with a real container engine, run as the
chart runs it (lfk8s.images.verify: the chart's uid, read-only root filesystem, all capabilities
dropped, no privilege escalation, /tmp the only writable path). CUDA is absent: the software
imports at the lock's versions and its CLI answers."""

from __future__ import annotations

import subprocess

import pytest

from lfk8s.images import build, verify
from lfk8s.images.model import get_image
from lfk8s.paths import ProjectPaths


@pytest.fixture(scope="module")
def results(paths: ProjectPaths, training_image: str) -> dict[str, verify.CheckResult]:
    return {result.check: result for result in verify.verify(paths, get_image(paths, "training"))}


@pytest.mark.parametrize("check", ["uid and read-only root", "pip check", "imports", "entrypoint help",
                                   "build CA absent"])
def test_image_passes(results: dict[str, verify.CheckResult], check: str) -> None:
    assert results[check].passed, results[check].detail


def test_default_command_prints_the_locked_version(paths: ProjectPaths, training_image: str) -> None:
    result = verify.run_in_image(paths, training_image)  # the image's CMD: `llamafactory-cli version`
    assert result.returncode == 0, result.stdout + result.stderr
    assert "LLaMA Factory, version 0.9.5" in result.stdout


def test_second_build_is_all_cache(paths: ProjectPaths, training_image: str) -> None:
    def image_id() -> str:
        return subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", training_image],
                              capture_output=True, text=True, check=True).stdout.strip()

    before = image_id()
    build.build(paths, ["training"])
    assert image_id() == before
