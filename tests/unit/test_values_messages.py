"""What a person reads when a values file is wrong: the closest known key for a misspelling, the
chart's refusals without helm's wrapping, and warnings for YAML 1.1 readings rarely meant."""

from __future__ import annotations

import pytest

from lfk8s.chart import values, yaml_traps
from lfk8s.chart.defaults import chart_values
from lfk8s.chart.helm import Helm, HelmError
from lfk8s.chart.rendering import render
from lfk8s.cli.chart import plain_helm_error
from lfk8s.paths import ProjectPaths


@pytest.mark.parametrize(("typo", "meant"), [("trainning", "training"), ("inferense", "inference"),
                                             ("storrage", "storage")])
def test_a_misspelled_key_gets_the_closest_known_key(paths: ProjectPaths, typo: str, meant: str) -> None:
    with pytest.raises(values.InvalidValues) as refused:
        values.validate({typo: {"enabled": True}}, paths)
    assert f"{typo}: unknown key; did you mean {meant}? allowed keys:" in str(refused.value)


def test_a_key_like_no_other_gets_no_guess(paths: ProjectPaths) -> None:
    with pytest.raises(values.InvalidValues) as refused:
        values.validate({"zzzz": 1}, paths)
    assert "did you mean" not in str(refused.value) and "zzzz: unknown key; allowed keys:" in str(refused.value)


def test_a_schema_error_message_replaces_the_generic_words() -> None:
    schema = {"type": "object", "properties": {"size": {"type": "string", "pattern": "^[0-9]+Gi$",
                                                        "errorMessage": "a size such as 10Gi"}}}
    [problem] = values.problems({"size": "ten"}, schema)
    assert str(problem) == 'size: allowed: a size such as 10Gi (got "ten")'


def test_the_charts_refusals_come_without_helms_wrapping(helm: Helm, paths: ProjectPaths) -> None:
    data = values.load(paths.values_dir / "local.yaml")
    data["storage"]["paths"]["baseModel"] = "/elsewhere/model"
    with pytest.raises(HelmError) as refused:
        render(helm, paths, data)
    text = plain_helm_error("local.yaml", refused.value, verbose=False)
    assert text.splitlines() == [
        "local.yaml: invalid values:",
        '  - storage.paths.baseModel: "/elsewhere/model" is not under storage.mountPath "/storage"; '
        "every path must lie on the shared storage"]
    assert "execution error" in plain_helm_error("local.yaml", refused.value, verbose=True)


@pytest.mark.parametrize(("line", "path", "reading"), [
    ("training:\n  saveSteps: 0500\n", "training.saveSteps", "octal number 320; write 500"),
    ("inference:\n  servedModelName: no\n", "inference.servedModelName", "boolean False"),
    ("inference:\n  servedModelName: ~\n", "inference.servedModelName", "no value (null)"),
    ("inference:\n  extraArgs: [--x, off]\n", "inference.extraArgs[1]", "boolean False"),
])
def test_yaml_1_1_traps_are_named(paths: ProjectPaths, line: str, path: str, reading: str) -> None:
    [trap] = yaml_traps.find_traps(line, chart_values(paths))
    assert trap.path == path and reading in trap.reading


@pytest.mark.parametrize("text", ['training:\n  saveSteps: "0500"\n', "training:\n  saveSteps: 500\n",
                                  "inference:\n  enabled: on\n", "inference:\n  servedModelName: 'no'\n",
                                  "training:\n  learningRate: 0.0002\n"])
def test_what_is_meant_draws_no_warning(paths: ProjectPaths, text: str) -> None:
    assert yaml_traps.find_traps(text, chart_values(paths)) == []


def test_every_shipped_values_file_is_free_of_traps(paths: ProjectPaths) -> None:
    for path in sorted(paths.values_dir.glob("*.yaml")):
        assert yaml_traps.file_traps(path, paths) == [], path
