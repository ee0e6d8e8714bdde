"""Which namespace the CLI sends a values file to: --namespace, else the file's namespace.name,
else the harness's default; a --namespace the file contradicts is refused before any cluster call."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lfk8s.chart import rendering
from lfk8s.cli.main import build_parser, main
from lfk8s.paths import ProjectPaths
from lfk8s.release.target import NamespaceMismatch, choose_namespace


def flat(text: str) -> str:
    """The console wraps long lines: compare words, not line breaks."""
    return " ".join(text.split())


@pytest.mark.parametrize(("stated", "requested", "chosen"), [
    ("llm-dev", None, "llm-dev"),
    ("llm-dev", "llm-dev", "llm-dev"),
    ("", "team-x", "team-x"),
    ("", None, rendering.DEFAULT_NAMESPACE),
])
def test_the_namespace_choice(stated: str, requested: str | None, chosen: str) -> None:
    assert choose_namespace({"namespace": {"name": stated}}, requested, "f.yaml") == chosen


def test_a_values_file_without_a_namespace_section_takes_the_request() -> None:
    assert choose_namespace({}, "team-x", "f.yaml") == "team-x"


def test_a_contradicting_request_is_refused_naming_both() -> None:
    with pytest.raises(NamespaceMismatch) as refused:
        choose_namespace({"namespace": {"name": "llm-dev"}}, "team-x", "values/dev.yaml")
    message = str(refused.value)
    assert "values/dev.yaml is meant for namespace llm-dev (namespace.name) but --namespace is team-x" in message


def test_install_has_no_namespace_of_its_own() -> None:
    """Without --namespace the parser leaves the choice to the values file."""
    args = build_parser().parse_args(["install", "values/dev.yaml"])
    assert args.namespace is None


def dev_namespace(paths: ProjectPaths) -> str:
    stated = rendering.intended_namespace(yaml.safe_load((paths.values_dir / "dev.yaml").read_text()))
    assert stated, "values/dev.yaml states its namespace"
    return stated


def install_exit(paths: ProjectPaths, tmp_path: Path, namespace: str, capsys: pytest.CaptureFixture[str]) -> str:
    """`lfk8s install values/dev.yaml --namespace ...` against a kubeconfig that leads nowhere."""
    code = main(["install", str(paths.values_dir / "dev.yaml"), "--namespace", namespace,
                 "--kubeconfig", str(tmp_path / "no-such-kubeconfig")])
    assert code == 2
    return flat(capsys.readouterr().err)


def test_install_refuses_a_contradicting_namespace_before_the_cluster(
        paths: ProjectPaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = install_exit(paths, tmp_path, "team-x", capsys)
    assert f"is meant for namespace {dev_namespace(paths)} (namespace.name) but --namespace is team-x" in err
    assert "no cluster" not in err


def test_install_with_the_stated_namespace_goes_on_to_the_cluster(
        paths: ProjectPaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same command with the file's own namespace gets past the check (and stops at the cluster)."""
    err = install_exit(paths, tmp_path, dev_namespace(paths), capsys)
    assert "no cluster" in err and "is meant for namespace" not in err


def rendered_namespaces(text: str) -> set[str]:
    return {doc["metadata"]["namespace"] for doc in yaml.safe_load_all(text)
            if doc and "namespace" in doc["metadata"]}


@pytest.mark.parametrize("name", ["dev.yaml", "local.yaml"])
def test_render_defaults_to_the_files_namespace(paths: ProjectPaths, capsys: pytest.CaptureFixture[str],
                                                name: str) -> None:
    values_file = paths.values_dir / name
    stated = rendering.intended_namespace(yaml.safe_load(values_file.read_text()))
    assert main(["render", str(values_file)]) == 0
    assert rendered_namespaces(capsys.readouterr().out) == {stated or rendering.DEFAULT_NAMESPACE}


def test_render_into_another_namespace_gets_the_charts_refusal(
        paths: ProjectPaths, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(paths.values_dir / "dev.yaml"), "--namespace", "team-x"]) == 2
    err = flat(capsys.readouterr().err)
    stated = dev_namespace(paths)
    assert f'namespace.name is "{stated}" but the release is being installed into namespace "team-x"' in err
