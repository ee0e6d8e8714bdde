"""Which helm the harness runs: the user's own when it fits, else the pinned source build.

A helm fits when `helm version` names the asked-for major version at or above the pinned
release. Candidates, in order: $LFK8S_HELM (the default major; $LFK8S_HELM<N> for the others,
e.g. $LFK8S_HELM3), then `helm` on PATH. A variable naming a helm that does not fit is an
error, since it was asked for by name; a PATH helm that does not fit is passed over with the
reason. The project's own builds under the cache are never taken for the user's helm: an older
build there (other stamps) would otherwise keep being used instead of the current one.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from lfk8s import versions
from lfk8s.paths import cache_dir
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain import helm_binary
from lfk8s.toolchain.builders import ToolchainError

# What helm's release builds print: vMAJOR.MINOR.PATCH, maybe -prerelease and +metadata. An
# unstamped source build prints the bare "vX.Y" from helm's source and does not match.
_SEMVER = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")

PINNED_BUILD = "the pinned build"


@dataclass(frozen=True)
class HelmChoice:
    """The helm to run, its version and where it came from ($LFK8S_HELM, PATH, the pinned build)."""

    path: Path
    version: str
    source: str


def env_var(major: int) -> str:
    return "LFK8S_HELM" if major == versions.HELM_DEFAULT_MAJOR else f"LFK8S_HELM{major}"


def fit_problem(found: str, major: int, pinned: str, exact: bool = False) -> str | None:
    """Why a helm that says it is `found` cannot stand in for the pinned helm `major`, or None."""
    match = _SEMVER.match(found)
    if match is None:
        return f"says its version is {found!r}, not a released helm's vX.Y.Z"
    if int(match.group(1)) != major:
        return f"is {found}, not helm {major}"
    # Build metadata (+...) does not order versions (semver); PEP 440 orders the rest as semver does.
    release = found.split("+", 1)[0]
    if exact and release != pinned:
        return f"is {found}, not exactly the pinned {pinned}"
    try:
        older = Version(release) < Version(pinned)
    except InvalidVersion:
        return f"is {found}, a pre-release whose tag cannot be ordered against {pinned}"
    return f"is {found}, older than the pinned {pinned}" if older else None


def _is_project_build(path: Path) -> bool:
    return path.resolve().is_relative_to(cache_dir().resolve())


def _pinned(major: int, report: Reporter) -> HelmChoice:
    path = helm_binary.ensure_built(major, report)
    version = versions.HELM_VERSIONS[major]
    report(f"helm {major}: using {PINNED_BUILD} {version} ({path})")
    return HelmChoice(path, version, PINNED_BUILD)


def _from_env(major: int, value: str, exact: bool, report: Reporter) -> HelmChoice | None:
    """The helm $LFK8S_HELM... names; None when it is the project's own or (exact) not the pinned version."""
    variable, pinned = env_var(major), versions.HELM_VERSIONS[major]
    found_path = shutil.which(value)
    if found_path is None:
        raise ToolchainError(f"${variable} is {value!r}, which is not an executable file")
    path = Path(found_path)
    if _is_project_build(path):
        report(f"helm {major}: ${variable} ({path}) is this project's own build, not yours")
        return None
    version = helm_binary.probe_version(path)
    problem = fit_problem(version, major, pinned)
    if problem is not None:
        raise ToolchainError(f"${variable} ({path}) {problem}: it must be helm {major} at {pinned} or newer")
    if exact and (problem := fit_problem(version, major, pinned, exact=True)) is not None:
        report(f"helm {major}: ${variable} ({path}) {problem}, which this caller needs")
        return None
    report(f"helm {major}: using ${variable} ({path}, {version})")
    return HelmChoice(path, version, f"${variable}")


def _from_path(major: int, exact: bool, report: Reporter) -> HelmChoice | None:
    """`helm` on PATH when it fits; None (with the reason reported) when it does not."""
    found_path = shutil.which("helm")
    if found_path is None:
        return None
    path = Path(found_path)
    if _is_project_build(path):
        report(f"helm {major}: helm on PATH ({path}) is this project's own build, not yours")
        return None
    try:
        version = helm_binary.probe_version(path)
    except ToolchainError as error:
        report(f"helm {major}: helm on PATH ({path}) passed over: {error}")
        return None
    problem = fit_problem(version, major, versions.HELM_VERSIONS[major], exact)
    if problem is not None:
        report(f"helm {major}: helm on PATH ({path}) {problem}")
        return None
    report(f"helm {major}: using helm on PATH ({path}, {version})")
    return HelmChoice(path, version, "PATH")


def choose_helm(major: int, report: Reporter = quiet, exact: bool = False) -> HelmChoice:
    """The user's helm `major` when one fits, else the pinned build (built on first use).

    exact=True accepts only the pinned version itself, for callers whose results depend on it.
    """
    if major not in versions.HELM_VERSIONS:
        raise ToolchainError(f"no helm {major} is pinned (pinned: {sorted(versions.HELM_VERSIONS)})")
    value = os.environ.get(env_var(major), "")
    choice = _from_env(major, value, exact, report) if value else _from_path(major, exact, report)
    return choice or _pinned(major, report)
