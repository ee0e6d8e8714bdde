"""Which helm the harness runs (the user's own when it fits, else the pinned build) and what the
pinned build carries: release stamps, so helm 3 and 4 render the chart with no --kube-version.

The selection tests put tiny `helm` scripts that print a version on PATH, in $LFK8S_HELM... and
at the pinned build's place in a scratch cache: doubles of users' binaries, enough for the rules.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from lfk8s import versions
from lfk8s.paths import ProjectPaths
from lfk8s.toolchain import helm_binary, pinned
from lfk8s.toolchain.builders import ToolchainError
from lfk8s.toolchain.helm_select import PINNED_BUILD, choose_helm, env_var, fit_problem

PINNED = versions.HELM_VERSIONS


def _bump(version: str, index: int, by: int) -> str:
    """version with part `index` (0 major, 1 minor, 2 patch) moved by `by`, lower parts zeroed."""
    parts = [int(p) for p in version.lstrip("v").split(".")]
    parts[index] += by
    parts[index + 1:] = [0] * (2 - index)
    return "v" + ".".join(str(p) for p in parts)


def _fake_helm(path: Path, version: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\n[ "$1" = version ] || exit 2\nprintf %s "{version}"\n')
    path.chmod(0o755)
    return path


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch cache holding the pinned builds (as doubles), an empty PATH dir, no $LFK8S_HELM..."""
    monkeypatch.setenv("LFK8S_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    for major, version in PINNED.items():
        monkeypatch.delenv(env_var(major), raising=False)
        _fake_helm(helm_binary.build_path(major), version)
    return tmp_path


# --- the fit rule -------------------------------------------------------------------------


@pytest.mark.parametrize("major", sorted(PINNED))
def test_same_or_newer_release_of_the_same_major_fits(major: int) -> None:
    pinned_version = PINNED[major]
    for found in (pinned_version, _bump(pinned_version, 2, 1), _bump(pinned_version, 1, 1),
                  f"{pinned_version}+unreleased"):
        assert fit_problem(found, major, pinned_version) is None, found


@pytest.mark.parametrize("major", sorted(PINNED))
def test_older_other_major_prerelease_or_unstamped_do_not_fit(major: int) -> None:
    pinned_version = PINNED[major]
    older = _bump(pinned_version, 1, -1)
    assert fit_problem(older, major, pinned_version) == f"is {older}, older than the pinned {pinned_version}"
    for other in (_bump(pinned_version, 0, 1), _bump(pinned_version, 0, -1)):
        assert fit_problem(other, major, pinned_version) == f"is {other}, not helm {major}"
    assert "older than" in (fit_problem(f"{pinned_version}-rc.1", major, pinned_version) or "")
    # An unstamped source build prints helm's bare "vX.Y"; garbage is no version at all.
    for unstamped in (pinned_version.rsplit(".", 1)[0], "", "Client: &version.Version{}"):
        assert "not a released helm" in (fit_problem(unstamped, major, pinned_version) or ""), unstamped


def test_exact_accepts_only_the_pinned_version() -> None:
    newer = _bump(PINNED[4], 1, 1)
    assert fit_problem(PINNED[4], 4, PINNED[4], exact=True) is None
    assert fit_problem(newer, 4, PINNED[4], exact=True) == f"is {newer}, not exactly the pinned {PINNED[4]}"


# --- choosing a helm ------------------------------------------------------------------------


def test_a_fitting_helm_on_path_is_used_and_named(scratch: Path) -> None:
    newer = _bump(PINNED[4], 1, 1)
    helm = _fake_helm(scratch / "bin" / "helm", newer)
    lines: list[str] = []
    choice = choose_helm(4, lines.append)
    assert (choice.path, choice.version, choice.source) == (helm, newer, "PATH")
    assert lines == [f"helm 4: using helm on PATH ({helm}, {newer})"]


def test_an_older_helm_on_path_is_refused_with_the_reason_and_the_pinned_build_used(scratch: Path) -> None:
    older = _bump(PINNED[3], 1, -10)
    helm = _fake_helm(scratch / "bin" / "helm", older)
    lines: list[str] = []
    choice = choose_helm(3, lines.append)
    assert (choice.path, choice.source) == (helm_binary.build_path(3), PINNED_BUILD)
    assert f"helm 3: helm on PATH ({helm}) is {older}, older than the pinned {PINNED[3]}" in lines
    assert lines[-1] == f"helm 3: using {PINNED_BUILD} {PINNED[3]} ({helm_binary.build_path(3)})"


def test_helm_4_on_path_does_not_stand_in_for_helm_3(scratch: Path) -> None:
    helm = _fake_helm(scratch / "bin" / "helm", PINNED[4])
    lines: list[str] = []
    assert choose_helm(3, lines.append).path == helm_binary.build_path(3)
    assert f"helm 3: helm on PATH ({helm}) is {PINNED[4]}, not helm 3" in lines
    assert choose_helm(4).path == helm


def test_a_broken_helm_on_path_is_passed_over(scratch: Path) -> None:
    helm = scratch / "bin" / "helm"
    helm.parent.mkdir()
    helm.write_text("#!/bin/sh\necho 'no such command' >&2\nexit 1\n")
    helm.chmod(0o755)
    lines: list[str] = []
    assert choose_helm(4, lines.append).source == PINNED_BUILD
    assert any("passed over" in line and "no such command" in line for line in lines)


def test_the_variable_wins_over_path(scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_helm(scratch / "bin" / "helm", PINNED[3])
    mine = _fake_helm(scratch / "mine" / "helm3", _bump(PINNED[3], 2, 1))
    monkeypatch.setenv("LFK8S_HELM3", str(mine))
    choice = choose_helm(3)
    assert (choice.path, choice.source) == (mine, "$LFK8S_HELM3")


def test_a_variable_naming_a_helm_that_does_not_fit_is_an_error(scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    older = _bump(PINNED[4], 1, -1)
    mine = _fake_helm(scratch / "mine" / "helm", older)
    monkeypatch.setenv("LFK8S_HELM", str(mine))
    with pytest.raises(ToolchainError) as error:
        choose_helm(4)
    assert str(error.value) == (f"$LFK8S_HELM ({mine}) is {older}, older than the pinned {PINNED[4]}: "
                                f"it must be helm 4 at {PINNED[4]} or newer")
    monkeypatch.setenv("LFK8S_HELM3", str(scratch / "nowhere" / "helm"))
    with pytest.raises(ToolchainError, match=r"\$LFK8S_HELM3 is '.*nowhere/helm', which is not an executable"):
        choose_helm(3)


def test_the_projects_own_builds_are_not_taken_for_the_users(scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An older build in the cache (other stamps) on PATH or in the variable is not reused."""
    old_build = _fake_helm(scratch / "cache" / f"helm-{PINNED[3]}" / "helm", PINNED[3])
    monkeypatch.setenv("PATH", str(old_build.parent))
    lines: list[str] = []
    assert choose_helm(3, lines.append).path == helm_binary.build_path(3) != old_build
    assert f"helm 3: helm on PATH ({old_build}) is this project's own build, not yours" in lines
    monkeypatch.setenv("LFK8S_HELM3", str(old_build))
    assert choose_helm(3).path == helm_binary.build_path(3)


def test_exact_callers_get_the_pinned_version(scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_helm(scratch / "bin" / "helm", _bump(PINNED[4], 1, 1))
    assert pinned.ensure_helm(4, exact=True) == helm_binary.build_path(4)
    monkeypatch.setenv("LFK8S_HELM", str(_fake_helm(scratch / "mine" / "helm", _bump(PINNED[4], 2, 1))))
    assert pinned.ensure_helm(4, exact=True) == helm_binary.build_path(4)
    assert pinned.ensure_helm(4) == scratch / "mine" / "helm"


# --- the pinned build's stamps -----------------------------------------------------------------


def test_helm_3_is_stamped_with_the_kubernetes_its_client_go_matches() -> None:
    gomod = "module helm.sh/helm/v3\n\nrequire (\n\tk8s.io/api v0.37.0\n\tk8s.io/client-go v0.37.2\n)\n"
    flags = helm_binary.helm_ldflags(3, "v3.99.0", gomod)
    for package in ("pkg/chartutil", "pkg/lint/rules"):
        assert f"-X helm.sh/helm/v3/{package}.k8sVersionMajor=1 " in flags + " "
        assert f"-X helm.sh/helm/v3/{package}.k8sVersionMinor=37 " in flags + " "
    assert "-X helm.sh/helm/v3/internal/version.version=v3.99.0" in flags
    # Helm 4 reads its client-go version from the binary's build information.
    assert "k8sVersion" not in helm_binary.helm_ldflags(4, "v4.99.0", gomod)


def test_the_cache_key_follows_the_stamps(scratch: Path) -> None:
    """Builds from before the stamps (helm-<version>/) are not reused: they are rebuilt once."""
    for major, version in PINNED.items():
        assert helm_binary.build_path(major).parent.name == f"helm-{version}-{helm_binary.stamp_key(major)}"
    assert helm_binary.stamp_key(3) != helm_binary.stamp_key(4)


@pytest.mark.parametrize("major", sorted(PINNED))
def test_every_makefile_stamp_is_set_or_known_to_be_left(major: int, tmp_path: Path) -> None:
    """helm's Makefile at the pinned tag (from the Go module cache) stamps nothing we miss."""
    module = helm_binary.helm_module(major)
    download = subprocess.run(["go", "mod", "download", "-json", f"{module}@{PINNED[major]}"],
                              cwd=tmp_path, capture_output=True, text=True, check=True)
    makefile = (Path(json.loads(download.stdout)["Dir"]) / "Makefile").read_text()
    targets = set(re.findall(rf"-X {re.escape(module)}/(\S+?)=", makefile))
    stamped = {target for target, _ in helm_binary.STAMPS[major]}
    assert targets == stamped | set(helm_binary.NOT_STAMPED)


# --- the real pinned builds --------------------------------------------------------------------


@pytest.mark.parametrize("major", sorted(PINNED))
def test_pinned_helm_names_its_version_and_renders_without_kube_version(major: int, paths: ProjectPaths) -> None:
    helm = pinned.ensure_helm(major, exact=True)
    assert helm_binary.probe_version(helm) == PINNED[major]
    result = subprocess.run([str(helm), "template", "lfk8s", str(paths.chart)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "kind: NetworkPolicy" in result.stdout
