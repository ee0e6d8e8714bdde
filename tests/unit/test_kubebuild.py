"""The control-plane build recipes: wrapper go.mod files, version stamps, cache keys. Builds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from lfk8s.toolchain import kubebuild
from lfk8s.versions import KUBERNETES_VERSION

# Trimmed from k8s.io/kubernetes v1.35.4's go.mod; sample-controller is only replaced,
# never required, as upstream.
KUBERNETES_GOMOD = """\
// This is a generated file. Do not edit directly.
module k8s.io/kubernetes

go 1.25.0

godebug default=go1.25

require (
\tgithub.com/spf13/cobra v1.10.0
\tk8s.io/api v0.0.0
\tk8s.io/apimachinery v0.0.0
\tk8s.io/client-go v0.0.0
\tk8s.io/component-base v0.0.0
\tk8s.io/klog/v2 v2.130.1
\tk8s.io/kube-openapi v0.0.0-20250910181357-589584f1c912
\tk8s.io/utils v0.0.0-20251002143259-bc988d571ff4
)

require k8s.io/kube-scheduler v0.0.0 // indirect

require (
\tgo.etcd.io/etcd/server/v3 v3.6.5 // indirect
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/apimachinery => ./staging/src/k8s.io/apimachinery
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tk8s.io/component-base => ./staging/src/k8s.io/component-base
\tk8s.io/kube-scheduler => ./staging/src/k8s.io/kube-scheduler
\tk8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
)
"""

STAGED = [
    "k8s.io/api",
    "k8s.io/apimachinery",
    "k8s.io/client-go",
    "k8s.io/component-base",
    "k8s.io/kube-scheduler",
    "k8s.io/sample-controller",
]

ETCD_GOMOD = """\
module go.etcd.io/etcd/server/v3

go 1.26.0

toolchain go1.26.10

require (
\tgo.etcd.io/bbolt v1.4.3
\tgo.etcd.io/etcd/api/v3 v3.6.16
\tgo.etcd.io/etcd/client/pkg/v3 v3.6.16
\tgo.etcd.io/etcd/pkg/v3 v3.6.16
)

replace (
\tgo.etcd.io/etcd/api/v3 => ../api
\tgo.etcd.io/etcd/client/pkg/v3 => ../client/pkg
\tgo.etcd.io/etcd/pkg/v3 => ../pkg
)

replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY
"""


def test_parse_gomod_reads_blocks_single_lines_and_comments() -> None:
    requires, replaces = kubebuild.parse_gomod(KUBERNETES_GOMOD)
    assert requires["k8s.io/kube-scheduler"] == "v0.0.0"
    assert requires["go.etcd.io/etcd/server/v3"] == "v3.6.5"
    assert replaces["k8s.io/sample-controller"] == "./staging/src/k8s.io/sample-controller"


def test_staging_modules_are_the_v000_requires_and_staging_replaces() -> None:
    assert kubebuild.kubernetes_staging_modules(KUBERNETES_GOMOD) == STAGED


def test_kubernetes_wrapper_replaces_every_staging_module() -> None:
    gomod = kubebuild.kubernetes_wrapper_gomod(KUBERNETES_GOMOD, "1.35.4")
    replaces = kubebuild.parse_gomod(gomod)[1]
    assert replaces == {module: f"{module} v0.35.4" for module in STAGED}
    assert kubebuild.parse_gomod(gomod)[0] == {"k8s.io/kubernetes": "v1.35.4"}


def test_kubernetes_wrapper_keeps_go_and_godebug_lines() -> None:
    gomod = kubebuild.kubernetes_wrapper_gomod(KUBERNETES_GOMOD, "v1.35.4")
    assert "\ngo 1.25.0\n" in gomod
    assert "\ngodebug default=go1.25\n" in gomod
    assert gomod.startswith("//") and "\nmodule lfk8s.local/build/kubernetes\n" in gomod


def test_wrapper_for_the_pinned_version_uses_its_staging_version() -> None:
    gomod = kubebuild.kubernetes_wrapper_gomod(KUBERNETES_GOMOD, KUBERNETES_VERSION)
    staged = kubebuild.staging_version(KUBERNETES_VERSION)
    assert staged == "v0." + KUBERNETES_VERSION.split(".", 1)[1]
    assert f"k8s.io/api => k8s.io/api {staged}" in gomod


@pytest.mark.parametrize(("kubernetes", "staging"), [("1.35.4", "v0.35.4"), ("v1.36.0", "v0.36.0")])
def test_staging_version(kubernetes: str, staging: str) -> None:
    assert kubebuild.staging_version(kubernetes) == staging


def test_etcd_wrapper_pins_server_and_siblings_only() -> None:
    assert kubebuild.etcd_sibling_modules(ETCD_GOMOD) == [
        "go.etcd.io/etcd/api/v3",
        "go.etcd.io/etcd/client/pkg/v3",
        "go.etcd.io/etcd/pkg/v3",
    ]
    requires, replaces = kubebuild.parse_gomod(kubebuild.etcd_wrapper_gomod(ETCD_GOMOD, "v3.6.16"))
    assert requires == {
        "go.etcd.io/etcd/server/v3": "v3.6.16",
        "go.etcd.io/etcd/api/v3": "v3.6.16",
        "go.etcd.io/etcd/client/pkg/v3": "v3.6.16",
        "go.etcd.io/etcd/pkg/v3": "v3.6.16",
    }
    assert replaces == {}


def test_kubernetes_ldflags_stamp_both_version_packages() -> None:
    flags = kubebuild.kubernetes_ldflags("1.35.4", "2026-04-15T18:01:22Z").split()
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        for stamp in (
            "gitVersion=v1.35.4",
            "gitMajor=1",
            "gitMinor=35",
            "gitCommit=",
            "gitTreeState=clean",
            "buildDate=2026-04-15T18:01:22Z",
        ):
            assert f"{package}.{stamp}" in flags
    # Every stamp is preceded by its own -X, as the linker wants.
    assert flags.count("-X") == 12
    assert "-s" in flags and "-w" in flags


def test_kubernetes_ldflags_take_a_known_commit() -> None:
    flags = kubebuild.kubernetes_ldflags("v1.35.4", "2026-04-15T18:01:22Z", git_commit="abc123")
    assert "k8s.io/component-base/version.gitCommit=abc123" in flags.split()


def test_etcd_and_kwok_ldflags() -> None:
    assert "go.etcd.io/etcd/api/v3/version.GitSHA=" in kubebuild.etcd_ldflags().split()
    flags = kubebuild.kwok_ldflags("v0.8.0").split()
    assert "sigs.k8s.io/kwok/pkg/consts.Version=v0.8.0" in flags
    assert "sigs.k8s.io/kwok/pkg/consts.PreRelease=GA" in flags


def test_cache_paths_are_keyed_by_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LFK8S_CACHE", str(tmp_path))
    assert kubebuild.kubernetes_dir() == tmp_path / f"kubernetes-v{KUBERNETES_VERSION}"
    assert kubebuild.etcd_dir() == tmp_path / f"etcd-{kubebuild.ETCD_VERSION}"
    assert kubebuild.kwok_dir() == tmp_path / f"kwok-{kubebuild.KWOK_VERSION}"
    assert kubebuild.ETCD_VERSION.startswith("v3.6.")


def test_cached_binaries_are_returned_without_building(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LFK8S_CACHE", str(tmp_path))
    # No Go at all: a cache hit must not even look for it.
    monkeypatch.setenv("PATH", "")
    expected = {name: kubebuild.kubernetes_dir() / name for name in kubebuild.KUBERNETES_COMMANDS}
    expected["etcd"] = kubebuild.etcd_dir() / "etcd"
    expected["kwok"] = kubebuild.kwok_dir() / "kwok"
    for path in expected.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    messages: list[str] = []
    assert kubebuild.ensure_cluster_binaries(messages.append) == expected
    assert messages == []


def test_a_partial_build_is_not_a_cache_hit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LFK8S_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", "")
    partial = tmp_path / f"etcd-{kubebuild.ETCD_VERSION}.partial"
    partial.mkdir()
    (partial / "etcd").write_text("")
    with pytest.raises(kubebuild.ToolchainError, match="needs Go on PATH"):
        kubebuild.etcd_binary()
    assert not kubebuild.etcd_dir().exists()
