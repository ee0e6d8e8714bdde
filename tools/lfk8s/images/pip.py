"""pip's resolver for the images' platform: a venv of the image's CPython with a pinned pip,
the `pip install --dry-run --report` command line, the wheelhouse of sdist-only packages and
single-wheel metadata (PEP 658: big wheels are not downloaded)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

from lfk8s.images.pins import ImageError, canonical
from lfk8s.images.platform import platforms
from lfk8s.paths import cache_dir
from lfk8s.progress import Reporter, quiet
from lfk8s.versions import RESOLVER_PIP_VERSION

# Packages PyPI publishes only as source distributions. pip refuses sdists when it resolves for
# another platform, so their pure-Python wheels are built once (from PyPI's sdist, in an isolated
# build environment, exactly as `pip install NAME` would) into a wheelhouse the resolver reads
# with --find-links. The Dockerfiles build the same wheels in their builder stage.
SDIST_ONLY = frozenset({"deepspeed", "pylatexenc"})
WHEELHOUSE = "image-wheelhouse"


# The resolver's pip runs inside a venv of the image's own CPython X.Y, because pip evaluates
# environment markers (`python_version > "3.11"`, ...) against the interpreter running it, not
# against --python-version: resolving an image's 3.11 from another CPython would silently drop
# or add marker-guarded dependencies.

def _interpreter_version(executable: Path) -> str | None:
    try:
        result = subprocess.run([str(executable), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def find_interpreter(version: str) -> Path:
    """A CPython X.Y on this machine: $LFK8S_PYTHON_X_Y, pythonX.Y on PATH, pyenv's, /usr/bin's."""
    variable = f"LFK8S_PYTHON_{version.replace('.', '_')}"
    candidates: list[Path] = []
    if os.environ.get(variable):
        candidates.append(Path(os.environ[variable]))
    if shutil.which(f"python{version}"):
        candidates.append(Path(shutil.which(f"python{version}")))  # type: ignore[arg-type]
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates += sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"), reverse=True)
    candidates += [Path(f"/usr/bin/python{version}"), Path(f"/usr/local/bin/python{version}")]
    for candidate in candidates:
        if candidate.exists() and _interpreter_version(candidate) == version:
            return candidate
    raise ImageError(f"resolving for CPython {version} needs a CPython {version} interpreter on this machine "
                     f"(pip evaluates dependency markers against the interpreter running it). Tried: "
                     f"{', '.join(map(str, candidates)) or 'none found'}. Install one (`pyenv install {version}`, "
                     f"`apt-get install python{version}-venv`) or set {variable}.")


def resolver_python(version: str, report: Reporter = quiet) -> Path:
    """A venv of CPython X.Y with the pinned pip, in the cache (created once)."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        raise ImageError(f"the locks are for linux x86_64; this machine is {sys.platform} {platform.machine()}, "
                         "so pip would evaluate platform markers for the wrong machine")
    env_dir = cache_dir() / f"pip-resolver-cp{version}-pip{RESOLVER_PIP_VERSION}"
    python = env_dir / "bin" / "python"
    if (env_dir / ".installed").exists():
        return python
    base = find_interpreter(version)
    report(f"creating the CPython {version} resolver venv (pip {RESOLVER_PIP_VERSION}) from {base} (first run only)")
    shutil.rmtree(env_dir, ignore_errors=True)
    for command in ([str(base), "-m", "venv", str(env_dir)],
                    [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                     f"pip=={RESOLVER_PIP_VERSION}"]):
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            shutil.rmtree(env_dir, ignore_errors=True)
            raise ImageError(f"`{' '.join(command)}` failed:\n{result.stderr[-3000:]}")
    (env_dir / ".installed").touch()
    return python


def resolver_command(python_exe: Path, requirements: Path, python: str, glibc: tuple[int, int], report: Path,
                     target: Path, find_links: Path | None = None, no_deps: bool = False) -> list[str]:
    command = [str(python_exe), "-m", "pip", "install", "--dry-run", "--ignore-installed",
               "--disable-pip-version-check", "--no-input", "--progress-bar", "off", "--report", str(report),
               "--only-binary=:all:"]
    for tag in platforms(glibc):
        command += ["--platform", tag]
    command += ["--python-version", python, "--implementation", "cp", "--target", str(target)]
    if find_links is not None:
        command += ["--find-links", str(find_links)]
    if no_deps:
        command.append("--no-deps")
    return command + ["-r", str(requirements)]


def wheelhouse() -> Path:
    path = cache_dir() / WHEELHOUSE
    path.mkdir(parents=True, exist_ok=True)
    return path


def ensure_sdist_wheels(pins: dict[str, str], report: Reporter = quiet) -> Path:
    """Build the wheels of the sdist-only pinned packages (once; kept in the cache) and return the wheelhouse."""
    house = wheelhouse()
    for name, version in sorted(pins.items()):
        if name not in SDIST_ONLY:
            continue
        stem = name.replace("-", "_")
        if any(house.glob(f"{stem}-{version}-*.whl")):
            continue
        report(f"building the wheel of {name}=={version} from its PyPI sdist (first run only)")
        with tempfile.TemporaryDirectory() as tmp:
            result = subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-binary", name, "--disable-pip-version-check",
                 "--quiet", "--wheel-dir", tmp, f"{name}=={version}"],
                capture_output=True, text=True, env=dict(os.environ, DS_BUILD_OPS="0"),
            )
            if result.returncode != 0:
                raise ImageError(f"building the wheel of {name}=={version} failed:\n{result.stderr[-3000:]}")
            for wheel in Path(tmp).glob("*.whl"):
                if not wheel.name.endswith("-py3-none-any.whl"):
                    raise ImageError(f"{wheel.name}: expected a pure-Python wheel from {name}'s sdist")
                shutil.move(str(wheel), house / wheel.name)
    return house


def house_files(pins: dict[str, str]) -> list[str]:
    wanted = SDIST_ONLY & set(pins)
    return sorted(p.name for p in wheelhouse().glob("*.whl") if canonical(p.name.split("-")[0]) in wanted)


def wheel_metadata(python_exe: Path, pin: str, python: str, glibc: tuple[int, int]) -> dict[str, Any]:
    """The metadata of one pinned wheel for the image's platform (PEP 658: no big download)."""
    with tempfile.TemporaryDirectory(prefix="lfk8s-meta-") as tmp:
        requirements = Path(tmp) / "r.txt"
        requirements.write_text(pin + "\n")
        report_path = Path(tmp) / "report.json"
        command = resolver_command(python_exe, requirements, python, glibc, report_path, Path(tmp) / "t", no_deps=True)
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise ImageError(f"{pin} has no wheel for CPython {python} {platforms(glibc)[0]}:\n{result.stderr[-2000:]}")
        return cast(dict[str, Any], json.loads(report_path.read_text())["install"][0]["metadata"])

