"""What an image is: images/<name>/ with a Dockerfile, requirements.in (the direct pins) and
requirements.lock (every package it installs), tagged as the chart's values.yaml names it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lfk8s.chart.defaults import chart_values
from lfk8s.images.pins import ImageError, parse_pins
from lfk8s.images.platform import GLIBC
from lfk8s.paths import ProjectPaths


@dataclass(frozen=True)
class Image:
    name: str
    directory: Path

    @property
    def dockerfile(self) -> Path:
        return self.directory / "Dockerfile"

    @property
    def requirements_in(self) -> Path:
        return self.directory / "requirements.in"

    @property
    def requirements_lock(self) -> Path:
        return self.directory / "requirements.lock"

    def dockerfile_text(self) -> str:
        return self.dockerfile.read_text()

    @property
    def base_image(self) -> str:
        """The first FROM's image (the builder and final stages share it)."""
        for line in self.dockerfile_text().splitlines():
            match = re.match(r"\s*FROM\s+(?:--platform=\S+\s+)?(\S+)", line, re.IGNORECASE)
            if match:
                return match.group(1)
        raise ImageError(f"{self.dockerfile}: no FROM")

    @property
    def base_images(self) -> list[str]:
        """Every FROM's image that is not an earlier stage of the same Dockerfile."""
        bases: list[str] = []
        stages: set[str] = set()
        for match in re.finditer(r"(?im)^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?",
                                 self.dockerfile_text()):
            if match.group(1) not in stages and match.group(1) not in bases:
                bases.append(match.group(1))
            if match.group(2):
                stages.add(match.group(2))
        return bases

    @property
    def python(self) -> str:
        """`ARG PYTHON_VERSION=X.Y` in the Dockerfile: the Python the venv and the lock are for."""
        match = re.search(r"^\s*ARG\s+PYTHON_VERSION=(\d+\.\d+)\s*$", self.dockerfile_text(), re.MULTILINE)
        if not match:
            raise ImageError(f"{self.dockerfile}: no `ARG PYTHON_VERSION=X.Y`")
        return match.group(1)

    @property
    def glibc(self) -> tuple[int, int]:
        for distro, version in GLIBC.items():
            if self.base_image.endswith(distro) or f"-{distro}" in self.base_image:
                return version
        raise ImageError(f"{self.dockerfile}: unknown glibc for base image {self.base_image} (add it to images.GLIBC)")

    def vendored(self) -> dict[str, str]:
        """Wheels the builder must put in images/<name>/vendor/ (images/<name>/vendor.txt, name==version)."""
        path = self.directory / "vendor.txt"
        return parse_pins(path.read_text()) if path.exists() else {}


def images_dir(paths: ProjectPaths) -> Path:
    return paths.root / "images"


def all_images(paths: ProjectPaths) -> list[Image]:
    return [Image(d.name, d) for d in sorted(images_dir(paths).iterdir()) if (d / "Dockerfile").exists()]


def get_image(paths: ProjectPaths, name: str) -> Image:
    image = Image(name, images_dir(paths) / name)
    if not image.dockerfile.exists():
        known = ", ".join(i.name for i in all_images(paths))
        raise ImageError(f"no image {name!r} (images/{name}/Dockerfile); known: {known}")
    return image


def select(paths: ProjectPaths, names: list[str] | None) -> list[Image]:
    return [get_image(paths, n) for n in names] if names else all_images(paths)


@dataclass(frozen=True)
class ChartImage:
    repository: str
    tag: str

    def reference(self, registry: str | None = None) -> str:
        repository = self.repository
        if registry:
            first, _, rest = repository.partition("/")
            # A first path part with a dot or colon (or localhost) is a registry host: replace it.
            path = rest if rest and ("." in first or ":" in first or first == "localhost") else repository
            repository = f"{registry.rstrip('/')}/{path}"
        return f"{repository}:{self.tag}"


def chart_image(paths: ProjectPaths, name: str) -> ChartImage:
    """images.<name>.repository and .tag in the chart's values.yaml."""
    entry = (chart_values(paths).get("images") or {}).get(name)
    if not entry or not entry.get("repository") or not entry.get("tag"):
        raise ImageError(f"charts/llama-factory/values.yaml has no images.{name}.repository/tag")
    return ChartImage(str(entry["repository"]), str(entry["tag"]))

