"""Building and pushing the images with the first container engine that works, tagged as the
chart's values.yaml names them, so the chart's defaults and the built images cannot drift apart."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from lfk8s.images.bases import ensure_base
from lfk8s.images.model import Image, chart_image, select
from lfk8s.images.pins import ImageError
from lfk8s.paths import ProjectPaths
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain.builders import ToolchainError
from lfk8s.toolchain.docker import ensure_docker

# The build argument a Dockerfile declares to take a TLS-intercepting proxy's CA bundle in its
# builder stage; the harness passes it by name, so its value is read from the environment and
# never appears on a command line.
CA_BUNDLE_ARG = "BUILD_CA_BUNDLE"
# Certificates a machine's administrators added to its trust store (Debian/Ubuntu, then RHEL).
LOCAL_CA_DIRS = (Path("/usr/local/share/ca-certificates"), Path("/etc/pki/ca-trust/source/anchors"))

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


def local_ca_bundle() -> str:
    """The CAs to trust behind a TLS-intercepting proxy: $LFK8S_BUILD_CA_BUNDLE (a PEM file), else
    the certificates added to this machine's trust store; empty when there are none."""
    explicit = os.environ.get("LFK8S_BUILD_CA_BUNDLE")
    if explicit:
        return Path(explicit).read_text()
    files = sorted(p for d in LOCAL_CA_DIRS if d.is_dir() for p in d.rglob("*") if p.suffix in (".crt", ".pem"))
    return "".join(p.read_text().strip() + "\n" for p in files)


def takes_ca_bundle(image: Image) -> bool:
    return f"ARG {CA_BUNDLE_ARG}" in image.dockerfile_text()


def build_command(engine: str, paths: ProjectPaths, image: Image, registry: str | None = None) -> list[str]:
    reference = chart_image(paths, image.name).reference(registry)
    verb = ["bud"] if engine == "buildah" else ["build"]
    ca = ["--build-arg", CA_BUNDLE_ARG] if takes_ca_bundle(image) else []
    return [engine, *verb, "--platform", "linux/amd64", *ca, "-f", str(image.dockerfile.relative_to(paths.root)),
            "-t", reference, str(image.directory.relative_to(paths.root))]


def push_command(engine: str, paths: ProjectPaths, image: Image, registry: str | None = None) -> list[str]:
    return [engine, "push", chart_image(paths, image.name).reference(registry)]


def _execute(commands: list[list[str]], paths: ProjectPaths, report: Reporter) -> None:
    env = dict(os.environ, **{CA_BUNDLE_ARG: local_ca_bundle()})
    for command in commands:
        report("$ " + " ".join(command))
        result = subprocess.run(command, cwd=paths.root, env=env)
        if result.returncode != 0:
            raise ImageError(f"`{' '.join(command)}` exited {result.returncode}")


def engine_for(engine: str | None, dry_run: bool, report: Reporter = quiet) -> str:
    """The engine that runs the commands. When none works and this machine can have one (root),
    Debian's docker.io is installed and started."""
    if not dry_run:
        try:
            return pick_engine(engine)
        except ImageError as none_works:
            if engine not in (None, "docker") or os.geteuid() != 0:
                raise
            try:
                ensure_docker(report)
            except ToolchainError as error:
                raise ImageError(f"{none_works}; installing and starting Debian's docker.io failed too: {error}") \
                    from None
            return "docker"
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
    chosen = engine_for(engine, dry_run, report)
    commands = [build_command(chosen, paths, image, registry) for image in selected]
    if not dry_run:
        for image in selected:
            if missing := missing_vendored(image):
                raise ImageError(f"{image.name}: images/{image.name}/vendor/ lacks the wheels of {', '.join(missing)} "
                                 f"(images/{image.name}/README.md says how to get them)")
        if chosen == "docker":
            for base in sorted({base for image in selected for base in image.base_images}):
                ensure_base(base, report)
        _execute(commands, paths, report)
    return commands


def push(paths: ProjectPaths, names: list[str] | None = None, *, registry: str | None = None,
         engine: str | None = None, dry_run: bool = False, report: Reporter = quiet) -> list[list[str]]:
    """Push what build() tagged; return the command lines."""
    selected = select(paths, names)
    chosen = engine_for(engine, dry_run, report)
    commands = [push_command(chosen, paths, image, registry) for image in selected]
    if not dry_run:
        _execute(commands, paths, report)
    return commands


