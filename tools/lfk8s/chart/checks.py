"""Checks on rendered manifests: kubernetes-validate (strict schemas), the CRDs' own schemas,
checkov (kube-score: lfk8s.chart.kube_score); and `lint_values_file`, every check of one values file."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate

from lfk8s import versions
from lfk8s.chart import values
from lfk8s.chart.helm import Helm, HelmError
from lfk8s.chart.kube_score import KubeScoreReport, run_kube_score
from lfk8s.chart.rendering import Rendered, release_namespace, render, write_manifests
from lfk8s.paths import ProjectPaths
from lfk8s.toolchain import crds
from lfk8s.toolchain.pinned import checkov_executable


def schema_version(kube_version: str = versions.KUBERNETES_VERSION) -> str:
    """kubernetes-validate ships schemas per minor release (x.y.0)."""
    major, minor = kube_version.split(".")[:2]
    return f"{major}.{minor}.0"


# API groups defined by CRDs, which kubernetes-validate has no schema for: checked against
# the CRDs' own schemas instead.
CRD_GROUPS = ("gateway.networking.k8s.io/",)


@dataclass
class SchemaReport:
    errors: list[str] = field(default_factory=list)
    # Objects of CRD kinds, validated against the CRD's openAPIV3Schema.
    validated_by_crd: list[str] = field(default_factory=list)


def kubernetes_schema_report(rendered: Rendered, kube_version: str = versions.KUBERNETES_VERSION) -> SchemaReport:
    """Every built-in object checked against the strict OpenAPI schema of the target Kubernetes version."""
    report = SchemaReport()
    errors = report.errors
    for obj in rendered.objects:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        if str(obj.get("apiVersion", "")).startswith(CRD_GROUPS):
            schema = crds.crd_schema(crds.gateway_api_crds(), obj["apiVersion"], obj["kind"])
            if schema is None:
                errors.append(f"{name}: no CRD of the Gateway API {versions.GATEWAY_API_VERSION} defines it")
            else:
                errors += [f"{name}: {e}" for e in crds.crd_errors(obj, schema)]
                report.validated_by_crd.append(name)
            continue
        try:
            kubernetes_validate.validate(obj, schema_version(kube_version), strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{name}: {'.'.join(map(str, error.path))}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            errors.append(f"{name}: no schema for {error}")
    return report


@dataclass
class CheckovReport:
    passed: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def failures(self) -> list[str]:
        return [f"{c['check_id']} {c['check_name']}: {c['resource']}" for c in self.failed]


def run_checkov(rendered: Rendered) -> CheckovReport:
    with tempfile.TemporaryDirectory(prefix="lfk8s-checkov-") as tmp:
        write_manifests(rendered, Path(tmp) / "manifests")
        env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false", LOG_LEVEL="ERROR")
        result = subprocess.run(
            [str(checkov_executable()), "--directory", str(Path(tmp) / "manifests"), "--framework", "kubernetes",
             "--output", "json", "--skip-download", "--soft-fail"],
            capture_output=True, text=True, env=env, cwd=tmp,
        )
    if result.returncode != 0 or not result.stdout.strip():
        raise RuntimeError(f"checkov failed ({result.returncode}):\n{result.stderr[-4000:]}")
    data = json.loads(result.stdout)
    reports = data if isinstance(data, list) else [data]
    report = CheckovReport()
    for item in reports:
        results = item.get("results", {})
        report.passed += item.get("summary", {}).get("passed", 0)
        report.failed += results.get("failed_checks", [])
        report.skipped += results.get("skipped_checks", [])
    return report


@dataclass
class LintResult:
    """Every check of one values file: schema and preflight (both helms' lint), strict Kubernetes
    schemas, checkov, kube-score (CRITICAL findings), and Helm 3 and 4 rendering the same objects."""

    values_file: Path
    invalid: str = ""  # why the values were refused before anything rendered
    schema_errors: list[str] = field(default_factory=list)
    checkov: CheckovReport | None = None
    kube_score: KubeScoreReport | None = None
    same_on_every_helm: bool = True

    @property
    def problems(self) -> int:
        if self.invalid:
            return 1
        failed = len(self.checkov.failed) if self.checkov else 0
        critical = len(self.kube_score.critical) if self.kube_score else 0
        return len(self.schema_errors) + failed + critical + (not self.same_on_every_helm)


def lint_values_file(helms: list[Helm], paths: ProjectPaths, values_file: Path) -> LintResult:
    """All the checks `lfk8s lint` runs on one values file; helms[0] renders what is checked."""
    result = LintResult(values_file)
    data = values.load(values_file)
    try:
        values.validate(data, paths, str(values_file))
        for helm in helms:
            helm.lint(paths.chart, data, release_namespace(data))
        # helm lint only logs a template's `fail` (the chart's preflight checks) and passes: the
        # render is what refuses them.
        renders = [render(helm, paths, data) for helm in helms]
    except (values.InvalidValues, HelmError) as error:
        result.invalid = str(error)
        return result
    result.schema_errors = kubernetes_schema_report(renders[0]).errors
    result.checkov = run_checkov(renders[0])
    result.kube_score = run_kube_score(renders[0])
    result.same_on_every_helm = all(r.comparable() == renders[0].comparable() for r in renders[1:])
    return result
