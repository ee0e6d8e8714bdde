"""What a person reads when a values file is wrong: the closest known key for a misspelling, the
chart's refusals without helm's wrapping, and warnings for YAML 1.1 readings rarely meant."""

from __future__ import annotations

import subprocess

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


# The exact words for each class of mistake (issue: every mistake refused in words a person understands).
EXACT_MESSAGES = [
    ({"storage": {"paths": {"data": "/storage/../etc"}}},
     'storage.paths.data: allowed: an absolute path with no whitespace, no trailing slash and no `.` or `..` '
     'segment, e.g. /storage/data (got "/storage/../etc")'),
    ({"commonLabels": {"team": "ml platform"}},
     'commonLabels.team: allowed: a label value: empty, or at most 63 letters, digits, `-`, `_` or `.`, starting '
     'and ending with a letter or digit (got "ml platform")'),
    ({"images": {"vllm": {"repository": "ghcr.io/org/vllm:0.33.0"}}},
     "images.vllm.repository: allowed: a lowercase image repository without tag or digest, e.g. ghcr.io/org/image "
     'or registry.local:5000/image (the tag goes in `tag`) (got "ghcr.io/org/vllm:0.33.0")'),
    ({"images": {"vllm": {"tag": "latest"}}},
     "images.vllm.tag: allowed: a fixed tag such as 0.9.5 (letters, digits, `_`, `.`, `-`; not `latest`, so a "
     'release always runs what was tested) (got "latest")'),
    ({"inference": {"extraArgs": ["--max-model-len 4096"]}},
     'inference.extraArgs[0]: allowed: one argument per entry: write "--flag", "value" as two entries, or '
     '"--flag=value" (got "--max-model-len 4096")'),
    ({"storage": {"size": 0}}, "storage.size: allowed: a Kubernetes quantity above zero, with an optional unit, "
                               "e.g. 200Gi (got 0)"),
    ({"training": {"learningRate": "0.0002"}},
     "training.learningRate: allowed: a number above 0 and at most 1, e.g. 0.0002 (helm's --set passes decimals "
     "as strings: use --set-json 'training.learningRate=0.0002' or a values file) (got \"0.0002\")"),
    ({"inference": {"ingress": {"host": "LLM.example.com"}}},
     "inference.ingress.host: allowed: a lowercase DNS name (optionally starting with `*.`) of dot-separated labels "
     "of at most 63 letters, digits or `-`, e.g. llm.example.com, or empty (got \"LLM.example.com\")"),
]


@pytest.mark.parametrize(("bad", "message"), EXACT_MESSAGES, ids=lambda v: str(v)[:40])
def test_each_class_of_mistake_reads_plainly(paths: ProjectPaths, bad: dict[str, object], message: str) -> None:
    with pytest.raises(values.InvalidValues) as refused:
        values.validate(bad, paths)
    assert [str(problem) for problem in refused.value.problems] == [message]


@pytest.mark.parametrize(("bad", "message"), [
    ({"storage": {"type": "pvc", "existingClaim": "team-models"}},
     'storage.existingClaim: "team-models" would be ignored because storage.type is "pvc"; set storage.type: '
     "existingClaim to use that claim, or remove storage.existingClaim"),
    ({"inference": {"enabled": True, "modelSource": "lora", "lora": {"maxRank": 8}},
      "training": {"lora": {"rank": 16}}},
     "inference.lora.maxRank: 8 is below training.lora.rank 16; the engine would refuse the adapter at load time; "
     "use at least 16, or 0 to pick it"),
    ({"training": {"extraArgs": {"dataset": "local_alpaca,unregistered"}}},
     'training.extraArgs.dataset: "unregistered" is not one of training.datasets (local_alpaca); add it there so it '
     "is registered in dataset_info.json"),
], ids=["existing-claim", "serving-rank", "dataset"])
def test_cross_field_mistakes_read_plainly(helm: Helm, paths: ProjectPaths, bad: dict[str, object],
                                           message: str) -> None:
    with pytest.raises(HelmError) as refused:
        render(helm, paths, bad)
    assert values.preflight_problems(str(refused.value)) == [message]


@pytest.mark.parametrize("major", [4, 3])
def test_set_passes_decimals_as_strings_and_set_json_does_not(helms: dict[int, Helm], paths: ProjectPaths,
                                                              major: int) -> None:
    """What the learningRate message tells people is what both helms do."""

    def template(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(helms[major].executable), "template", "x", str(paths.chart), *flags],
                              capture_output=True, text=True)

    refused = template("--set", "training.learningRate=0.0002")
    assert refused.returncode != 0 and "at '/training/learningRate': got string, want number" in refused.stderr
    assert template("--set-json", "training.learningRate=0.0002").returncode == 0
