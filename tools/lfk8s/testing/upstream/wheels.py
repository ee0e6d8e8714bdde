"""The pinned wheels: downloaded once into the user's cache, then read member by member.

Also keeps what an extractor found in a wheel on disk (disk_cached), so a cached run parses
nothing big."""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from lfk8s.images.pins import canonical
from lfk8s.images.platform import platforms
from lfk8s.paths import cache_dir
from lfk8s.testing.upstream.floors import UpstreamReadError
from lfk8s.versions import UPSTREAM_WHEEL_PYTHON

# The platform tags pip may pick a wheel for. The wheels are read for their Python sources
# only, which are the same in every platform's wheel, so the list needs only to admit one wheel
# of each pinned release: glibc 2.34, because SGLang publishes manylinux_2_34 wheels only (and no
# older tag), while the images' Ubuntu 24.04 (glibc 2.39) runs all of them. pip picks the same
# wheel of every pinned release from this list as from the hand-written one it replaced
# (manylinux_2_34, manylinux_2_28, manylinux2014, any).
PLATFORMS = (*platforms((2, 34)), "any")


def wheels_dir() -> Path:
    return cache_dir() / "wheels"


def _cached_wheel(directory: Path, package: str, version: str) -> Path | None:
    for path in sorted(directory.glob("*.whl")):
        name, _, rest = path.name.partition("-")
        if canonical(name) == canonical(package) and rest.split("-", 1)[0] == version:
            return path
    return None


def _pip_download(package: str, version: str, python_version: str, destination: Path) -> None:
    platform_args = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--python-version", python_version, *platform_args, "--disable-pip-version-check",
               "--quiet", "-d", str(destination), f"{package}=={version}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise UpstreamReadError(f"pip download {package}=={version} failed:\n{result.stderr[-2000:]}")


def wheel(package: str, version: str, python_version: str = UPSTREAM_WHEEL_PYTHON) -> Path:
    """The wheel of package==version, downloaded once into <cache>/wheels; later calls only
    look in the cache (no network). A release's Python sources are the same in its wheels for
    every interpreter, so a cached wheel serves any python_version."""
    directory = wheels_dir()
    found = _cached_wheel(directory, package, version) if directory.is_dir() else None
    if found:
        return found
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".download-") as tmp:
        _pip_download(package, version, python_version, Path(tmp))
        downloaded = list(Path(tmp).glob("*.whl"))
        if len(downloaded) != 1:
            raise UpstreamReadError(f"pip download {package}=={version} gave {downloaded}, not one wheel")
        target = directory / downloaded[0].name
        os.replace(downloaded[0], target)  # atomic: a concurrent reader sees all or nothing
    return target


@functools.cache
def _archive(whl: Path) -> zipfile.ZipFile:
    """One open archive per wheel: reading vLLM's central directory costs more than a member."""
    return zipfile.ZipFile(whl)


def members(whl: Path) -> tuple[str, ...]:
    return tuple(_archive(whl).namelist())


def read_member(whl: Path, member: str) -> str:
    return _archive(whl).read(member).decode("utf-8")


def python_members(whl: Path, prefix: str) -> list[str]:
    return [m for m in members(whl) if m.startswith(prefix) and m.endswith(".py")]


@functools.lru_cache(maxsize=4096)
def parse_member(whl: Path, member: str) -> ast.Module:
    try:
        return ast.parse(read_member(whl, member), filename=member)
    except KeyError as err:
        raise UpstreamReadError(f"{whl.name} has no {member}: the upstream layout changed") from err


def module_name(member: str) -> str:
    path = member[:-3] if member.endswith(".py") else member
    return path.removesuffix("/__init__").replace("/", ".")


def console_scripts(whl: Path) -> frozenset[str]:
    """Console scripts a wheel installs ([console_scripts] of entry_points.txt)."""
    entry_points = [m for m in members(whl) if m.endswith(".dist-info/entry_points.txt")]
    scripts: set[str] = set()
    section = ""
    for line in (read_member(whl, entry_points[0]) if entry_points else "").splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[console_scripts]" and "=" in line:
            scripts.add(line.split("=", 1)[0].strip())
    return frozenset(scripts)


def has_module(whl: Path, module: str) -> bool:
    """Whether `python -m <module>` finds the module in the wheel."""
    base = module.replace(".", "/")
    return bool({f"{base}.py", f"{base}/__main__.py"} & set(members(whl)))


def _package_source_hash() -> str:
    """Of every module of this package: an extractor's result depends on the helpers it calls."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


_SOURCE_HASH = _package_source_hash()


def disk_cached(function: Callable[..., frozenset[str]]) -> Callable[..., frozenset[str]]:
    """Keep a (wheel, *str) -> frozenset extractor's result in <cache>/upstream-reads, keyed by
    the wheel, the extractor and this package's source, so a cached run parses nothing big."""

    @functools.cache
    @functools.wraps(function)
    def cached(whl: Path, *args: str) -> frozenset[str]:
        key = json.dumps([whl.name, f"{function.__module__}.{function.__name__}", args, _SOURCE_HASH])
        path = cache_dir() / "upstream-reads" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"
        if path.is_file():
            return frozenset(json.loads(path.read_text()))
        result = function(whl, *args)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(sorted(result)))
        os.replace(partial, path)
        return result

    return cached
