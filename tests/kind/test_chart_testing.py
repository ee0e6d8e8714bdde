"""chart-testing, as the CI workflow runs it: `ct lint` and `ct install --config ci/ct.yaml` (which
installs charts/llama-factory/ci/*-values.yaml, runs `helm test` and uninstalls) on the kind cluster."""

from __future__ import annotations

import subprocess

from lfk8s.cluster.kind import KindCluster
from lfk8s.paths import ProjectPaths
from lfk8s.toolchain import kindbuild, pinned
from lfk8s.toolchain.kind_charttesting import ensure_chart_testing


def test_ct_lint_passes(paths: ProjectPaths) -> None:
    ct = ensure_chart_testing()
    helm = pinned.ensure_helm(4, exact=True)
    result = subprocess.run([str(ct.ct), "lint", "--config", "ci/ct.yaml", "--all", "--chart-yaml-schema",
                             str(ct.chart_yaml_schema)], cwd=paths.root, capture_output=True, text=True,
                            env=ct.environment(helm.parent), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "All charts linted successfully" in result.stdout


def test_ct_install_passes_on_the_kind_cluster(kind_cluster: KindCluster, paths: ProjectPaths) -> None:
    ct = ensure_chart_testing()
    helm = pinned.ensure_helm(4, exact=True)
    kubectl = kindbuild.kubeadm_binaries()["kubectl"]
    env = dict(ct.environment(helm.parent, kubectl.parent), KUBECONFIG=str(kind_cluster.kubeconfig))
    result = subprocess.run([str(ct.ct), "install", "--config", "ci/ct.yaml", "--all"], cwd=paths.root,
                            capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    assert "All charts installed successfully" in result.stdout
    # helm test ran the hooks on a real node (the mlflow hook's own words).
    assert "only the Secret was checked" in result.stdout
