"""Every values/ file: generated from its profile, valid, renders, passes the linters, matches its golden."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from lfk8s.chart import checks, profiles, rendering, values
from lfk8s.chart.helm import Helm
from lfk8s.paths import ProjectPaths

VALUES_FILES = sorted((Path(__file__).parents[2] / "values").glob("*.yaml"))
REQUIRED_ENVIRONMENTS = {"local", "dev", "staging", "prod", "base-only", "inference-only", "webui-only"}


def test_required_environments_exist() -> None:
    assert {p.stem for p in VALUES_FILES} >= REQUIRED_ENVIRONMENTS


def test_values_files_match_their_profiles(paths: ProjectPaths) -> None:
    assert profiles.generate_all(paths, check_only=True) == [], "run `lfk8s values generate`"


def test_every_values_file_has_a_profile(paths: ProjectPaths) -> None:
    assert {p.name for p in VALUES_FILES} == {p.name for p in paths.profiles_dir.glob("*.yaml")}


@pytest.fixture(scope="module", params=VALUES_FILES, ids=lambda p: p.stem)
def values_file(request: pytest.FixtureRequest) -> Path:
    return request.param


@pytest.fixture(scope="module")
def rendered(helm: Helm, paths: ProjectPaths, values_file: Path) -> rendering.Rendered:
    return rendering.render_file(helm, paths, values_file)


def test_helm_lint_strict(helms: dict[int, Helm], paths: ProjectPaths, values_file: Path) -> None:
    for helm in helms.values():
        data = values.load(values_file)
        helm.lint(paths.chart, data, rendering.release_namespace(data))


def test_kubernetes_validate_strict(rendered: rendering.Rendered) -> None:
    assert rendered.objects
    assert checks.kubernetes_schema_report(rendered).errors == []


@pytest.fixture(scope="module")
def checkov_report(rendered: rendering.Rendered) -> checks.CheckovReport:
    return checks.run_checkov(rendered)


def test_checkov_has_no_failed_checks(checkov_report: checks.CheckovReport) -> None:
    assert checkov_report.passed > 0
    assert checkov_report.failures() == []


def test_checkov_skips_are_justified(checkov_report: checks.CheckovReport) -> None:
    """Every skip carries a reason, from an annotation the chart writes next to the resource."""
    for skip in checkov_report.skipped:
        assert skip["check_result"].get("suppress_comment", "").strip(), skip["check_id"]


def test_helm3_and_helm4_render_identically(helms: dict[int, Helm], paths: ProjectPaths, values_file: Path) -> None:
    four, three = (rendering.render_file(helms[m], paths, values_file) for m in (4, 3))
    assert three.comparable() == four.comparable()


def test_matches_golden(paths: ProjectPaths, rendered: rendering.Rendered, values_file: Path) -> None:
    golden = rendering.golden_path(paths, values_file)
    assert golden.exists(), "run `lfk8s golden --update`"
    assert rendered.text == golden.read_text(), (
        f"{values_file.name} drifted from {golden}; review and run `lfk8s golden --update`"
    )


def test_golden_drift_is_detected(helm: Helm, paths: ProjectPaths, tmp_path: Path) -> None:
    """The drift check itself fails when a golden differs."""
    copy = ProjectPaths(tmp_path)
    for sub in ("charts", "values"):
        import shutil
        shutil.copytree(paths.root / sub, tmp_path / sub)
    rendering.drifted_goldens(helm, copy, update=True)
    local = rendering.golden_path(copy, copy.values_dir / "local.yaml")
    local.write_text(local.read_text().replace("llm-inference", "llm-other"))
    assert rendering.drifted_goldens(helm, copy) == [local]


def test_profile_defaults_come_from_the_chart(paths: ProjectPaths, tmp_path: Path) -> None:
    """A profile key left out takes the chart's values.yaml default: change the chart, and the
    generated values follow with no second copy in the harness to update."""
    shutil.copytree(paths.chart.parent, tmp_path / "charts")
    values_yaml = tmp_path / "charts" / "llama-factory" / "values.yaml"
    chart = yaml.safe_load(values_yaml.read_text())
    chart["inference"]["servedModelName"] = "renamed-in-the-chart"
    values_yaml.write_text(yaml.safe_dump(chart))
    profile = profiles.Profile.from_mapping({"environment": "x", "image-registry": "mirror.local/llm"}, "test")
    generated = profiles.from_profile(profile, ProjectPaths(tmp_path))
    assert generated["inference"]["servedModelName"] == "renamed-in-the-chart"
    assert generated["global"] == {"imageRegistry": "mirror.local/llm"}
    explicit = profiles.Profile.from_mapping({"environment": "x", "served-model-name": "mine"}, "test")
    assert profiles.from_profile(explicit, ProjectPaths(tmp_path))["inference"]["servedModelName"] == "mine"


def test_lint_reports_a_preflight_refusal_as_invalid(helms: dict[int, Helm], paths: ProjectPaths,
                                                     tmp_path: Path) -> None:
    """helm lint passes a template's `fail`; `lfk8s lint` still reports the chart's refusal, in its words."""
    data = values.load(paths.values_dir / "local.yaml")
    data["storage"]["paths"]["baseModel"] = "/elsewhere/model"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    result = checks.lint_values_file([helms[4], helms[3]], paths, bad)
    assert result.invalid
    assert 'storage.paths.baseModel: "/elsewhere/model" is not under storage.mountPath' in result.invalid
