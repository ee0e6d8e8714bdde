"""What has become unnecessary or old in the images' pins: overrides PyPI no longer needs, and
direct pins with newer releases. A report the harness prints (`lfk8s images outdated`), never a
test: its answer changes when PyPI publishes something, not when the project changes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from lfk8s.images.model import Image
from lfk8s.images.overrides import override_needed, overrides
from lfk8s.images.pins import ImageError, parse_pins
from lfk8s.images.pip import resolver_python
from lfk8s.images.platform import platforms
from lfk8s.progress import Reporter, quiet

# The versions of one project PyPI offers for an image's Python and platform.
VersionLister = Callable[[str], list[str]]


@dataclass(frozen=True)
class Finding:
    image: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.image}: {self.subject}: {self.detail}"


def newer_releases(pins: dict[str, str], available: VersionLister) -> dict[str, tuple[str, str]]:
    """{name: (pinned, newest)} for each pin with a newer final release; pre-releases are ignored."""
    newer: dict[str, tuple[str, str]] = {}
    for name, pinned in sorted(pins.items()):
        releases = []
        for text in available(name):
            try:
                version = Version(text)
            except InvalidVersion:
                continue
            if not version.is_prerelease and not version.is_devrelease:
                releases.append(version)
        if releases and max(releases) > Version(pinned):
            newer[name] = (pinned, str(max(releases)))
    return newer


def pypi_versions(image: Image, report: Reporter = quiet) -> VersionLister:
    """The versions `pip index versions` lists for the image's CPython and manylinux tags."""
    python_exe = resolver_python(image.python, report)
    tags = [arg for tag in platforms(image.glibc) for arg in ("--platform", tag)]

    def available(name: str) -> list[str]:
        command = [str(python_exe), "-m", "pip", "index", "versions", name, "--disable-pip-version-check",
                   "--only-binary=:all:", "--python-version", image.python, "--implementation", "cp", *tags]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise ImageError(f"`pip index versions {name}` failed: {result.stderr.strip()[-500:]}")
        for line in result.stdout.splitlines():
            if line.startswith("Available versions:"):
                return [v.strip() for v in line.split(":", 1)[1].split(",") if v.strip()]
        return []

    return available


def outdated(image: Image, available: VersionLister | None = None, report: Reporter = quiet) -> list[Finding]:
    """Overrides no longer needed and direct pins (requirements.in) with newer releases."""
    findings = []
    for override in overrides(image):
        if not override_needed(override, image.python, image.glibc, report):
            findings.append(Finding(image.name, f"override {override}",
                                    f"no longer needed: PyPI now satisfies {override.requirement}; remove it from "
                                    f"images/{image.name}/overrides.txt and run `bin/lfk8s images lock {image.name}`"))
    lister = available or pypi_versions(image, report)
    for name, (pinned, newest) in newer_releases(parse_pins(image.requirements_in.read_text()), lister).items():
        findings.append(Finding(image.name, name, f"pinned {pinned}, newest {newest}"))
    return findings
