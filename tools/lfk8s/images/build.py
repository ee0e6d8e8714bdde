"""Building and pushing the images with the first container engine that works, tagged as the
chart's values.yaml names them, so the chart's defaults and the built images cannot drift apart."""

from __future__ import annotations

import shutil
import subprocess

from lfk8s.images.model import Image, chart_image, select
from lfk8s.images.pins import ImageError
from lfk8s.paths import ProjectPaths
from lfk8s.progress import Reporter, quiet

ENGINES = ("docker", "podman", "buildah")


def engine_problem(engine: str) -> str | None:
    """None when the engine exists and works, else why not."""
    executable = shutil.which(engine)
    if executable is None:
        return "not on PATH"
    try:
        result = subprocess.run([executable, "info"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return f"`{engine} info` timed out"
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        return f"`{engine} info` exited {result.returncode}" + (f": {detail[-1]}" if detail else "")
    return None


def pick_engine(preferred: str | None = None) -> str:
    """The first of docker, podman, buildah (or just `preferred`) that exists and works."""
    tried = []
    for engine in ([preferred] if preferred else ENGINES):
        problem = engine_problem(engine)
        if problem is None:
            return engine
        tried.append(f"{engine}: {problem}")
    raise ImageError("no working container engine (tried " + "; ".join(tried)
                     + "). Use --dry-run to print the commands, or run them where an engine works.")


def build_command(engine: str, paths: ProjectPaths, image: Image, registry: str | None = None) -> list[str]:
    reference = chart_image(paths, image.name).reference(registry)
    verb = ["bud"] if engine == "buildah" else ["build"]
    return [engine, *verb, "--platform", "linux/amd64", "-f", str(image.dockerfile.relative_to(paths.root)),
            "-t", reference, str(image.directory.relative_to(paths.root))]


def push_command(engine: str, paths: ProjectPaths, image: Image, registry: str | None = None) -> list[str]:
    return [engine, "push", chart_image(paths, image.name).reference(registry)]


def _execute(commands: list[list[str]], paths: ProjectPaths, report: Reporter) -> None:
    for command in commands:
        report("$ " + " ".join(command))
        result = subprocess.run(command, cwd=paths.root)
        if result.returncode != 0:
            raise ImageError(f"`{' '.join(command)}` exited {result.returncode}")


def _engine_for(engine: str | None, dry_run: bool) -> str:
    if not dry_run:
        return pick_engine(engine)
    # A dry run prints the commands of the engine that would run them, or docker's when none works.
    return engine or next((e for e in ENGINES if engine_problem(e) is None), ENGINES[0])


def missing_vendored(image: Image) -> list[str]:
    """vendor.txt pins whose wheel is not in images/<name>/vendor/."""
    vendor = image.directory / "vendor"
    return [f"{name}=={version}" for name, version in image.vendored().items()
            if not list(vendor.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
            and not list(vendor.glob(f"{name.replace('-', '_')}-{version}+*.whl"))]


def build(paths: ProjectPaths, names: list[str] | None = None, *, registry: str | None = None,
          engine: str | None = None, dry_run: bool = False, report: Reporter = quiet) -> list[list[str]]:
    """Build the images (default: all), tagged `<repository>:<tag>` as the chart's values.yaml names
    them, with the first engine that works (docker, podman, buildah); return the command lines.
    dry_run runs nothing and needs no engine."""
    selected = select(paths, names)
    chosen = _engine_for(engine, dry_run)
    commands = [build_command(chosen, paths, image, registry) for image in selected]
    if not dry_run:
        for image in selected:
            if missing := missing_vendored(image):
                raise ImageError(f"{image.name}: images/{image.name}/vendor/ lacks the wheels of {', '.join(missing)} "
                                 f"(images/{image.name}/README.md says how to get them)")
        _execute(commands, paths, report)
    return commands


def push(paths: ProjectPaths, names: list[str] | None = None, *, registry: str | None = None,
         engine: str | None = None, dry_run: bool = False, report: Reporter = quiet) -> list[list[str]]:
    """Push what build() tagged; return the command lines."""
    selected = select(paths, names)
    chosen = _engine_for(engine, dry_run)
    commands = [push_command(chosen, paths, image, registry) for image in selected]
    if not dry_run:
        _execute(commands, paths, report)
    return commands


