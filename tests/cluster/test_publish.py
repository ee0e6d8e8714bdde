"""The chart shipped as charts are shipped, for real: packaged and signed (a throwaway OpenPGP key),
verified, pushed to a real OCI registry (CNCF distribution on loopback), read back with `helm show`,
pulled with `--verify`, and installed from the registry into the local cluster."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lfk8s.chart.defaults import chart_metadata, chart_name
from lfk8s.chart.helm import Helm, HelmError
from lfk8s.cluster.oci_registry import OciRegistry
from lfk8s.paths import ProjectPaths
from lfk8s.release import publish
from lfk8s.release.target import Target
from lfk8s.testing.signing import make_test_key


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OciRegistry]:
    with OciRegistry(tmp_path_factory.mktemp("oci-registry")) as running:
        yield running


@pytest.fixture(scope="module")
def signed(helm: Helm, paths: ProjectPaths, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the signed package, the public keyring that verifies it)."""
    work = tmp_path_factory.mktemp("publish")
    key, public = make_test_key(work / "key")
    return publish.package(helm, paths, work / "dist", key), public


@pytest.fixture(scope="module")
def pushed(helm: Helm, registry: OciRegistry, signed: tuple[Path, Path]) -> str:
    publish.push(helm, signed[0], registry.repository(), plain_http=True)
    return registry.repository()


def test_the_package_verifies_and_a_changed_one_does_not(helm: Helm, signed: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    archive, public = signed
    assert archive.with_suffix(".tgz.prov").exists() or Path(str(archive) + ".prov").exists()
    assert "Signed by: lfk8s chart tests" in publish.verify(helm, archive, public)
    tampered = tmp_path / archive.name
    tampered.write_bytes(archive.read_bytes() + b"\0")
    Path(str(tampered) + ".prov").write_bytes(Path(str(archive) + ".prov").read_bytes())
    with pytest.raises(HelmError, match="sha256 sum does not match"):
        publish.verify(helm, tampered, public)


def test_helm_show_reads_the_chart_from_the_registry(helm: Helm, paths: ProjectPaths, pushed: str) -> None:
    reference, version = f"{pushed}/{chart_name(paths)}", chart_metadata(paths)["version"]
    readme = publish.show(helm, reference, "readme", version, plain_http=True)
    assert readme.strip() == (paths.chart / "README.md").read_text().strip()
    assert yaml.safe_load(publish.show(helm, reference, "values", version, plain_http=True)) == \
        yaml.safe_load((paths.chart / "values.yaml").read_text())
    shown = yaml.safe_load(publish.show(helm, reference, "chart", version, plain_http=True))
    assert shown["version"] == version and "artifacthub.io/images" in shown["annotations"]


def test_pull_verifies_the_provenance(helm: Helm, paths: ProjectPaths, pushed: str, signed: tuple[Path, Path],
                                      tmp_path: Path) -> None:
    version = chart_metadata(paths)["version"]
    pulled = publish.pull_verified(helm, f"{pushed}/{chart_name(paths)}", version, tmp_path, signed[1],
                                   plain_http=True)
    assert pulled.read_bytes() == signed[0].read_bytes()


def test_install_from_the_registry(target: Target, paths: ProjectPaths, pushed: str,
                                   local_values: dict[str, Any]) -> None:
    version = chart_metadata(paths)["version"]
    target.helm.run(["upgrade", "--install", target.release, f"{pushed}/{chart_name(paths)}", "--version", version,
                     "--plain-http", "--namespace", target.namespace, "--wait", "--wait-for-jobs", "--timeout", "3m",
                     "--values", "-"], json.dumps(local_values).encode())
    [revision] = target.helm.history(target.release, target.namespace)
    assert revision["status"] == "deployed" and revision["chart"] == f"{chart_name(paths)}-{version}"
