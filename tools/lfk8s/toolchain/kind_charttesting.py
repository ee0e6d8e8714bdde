"""chart-testing (`ct`), built from the Go module proxy, with the linters it calls (yamllint and
yamale, from PyPI, in a virtual environment of their own) and its chart schema and lint config.

`go install ...@version` is refused for ct (the proxy does not list its versions for that path),
so it is built inside a throwaway module after `go get`; the checksum database has no entry for
it, hence GONOSUMDB for its module. `ct` runs with the venv's bin first on PATH, so its
`yamllint` and `yamale` are these pinned ones.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lfk8s.paths import cache_dir
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain import kubebuild
from lfk8s.toolchain.builders import PipTool, ToolchainError
from lfk8s.versions import CHART_TESTING_VERSION, YAMALE_VERSION, YAMLLINT_VERSION

CT_MODULE = "github.com/helm/chart-testing/v3"


@dataclass(frozen=True)
class ChartTesting:
    ct: Path
    chart_yaml_schema: Path
    linters_bin: Path

    def environment(self, *extra_paths: Path) -> dict[str, str]:
        path = os.pathsep.join([str(self.linters_bin), *(str(p) for p in extra_paths), os.environ.get("PATH", "")])
        return dict(os.environ, PATH=path)


def ct_dir() -> Path:
    return cache_dir() / f"chart-testing-{CHART_TESTING_VERSION}"


def linters() -> PipTool:
    return PipTool(name="yamllint", version=YAMLLINT_VERSION, executable_name="yamllint",
                   extra=(f"yamale=={YAMALE_VERSION}",), extra_key=f"yamale{YAMALE_VERSION}")


def _go(args: list[str], workdir: Path, what: str) -> str:
    env = dict(kubebuild.go_env(), GONOSUMDB="github.com/helm/chart-testing")
    result = subprocess.run([kubebuild.go_executable(), *args], cwd=workdir, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolchainError(f"{what} failed:\n{result.stderr[-4000:]}")
    return result.stdout


def ensure_chart_testing(report: Reporter = quiet) -> ChartTesting:
    """ct at CHART_TESTING_VERSION (built once), its etc/chart_schema.yaml, and its linters."""
    final = ct_dir()
    linters_bin = linters().ensure(report).parent
    if not (final / "ct").exists():
        staging = kubebuild.staging_dir(final)
        with tempfile.TemporaryDirectory(prefix="lfk8s-ct-") as tmp:
            workdir = Path(tmp)
            report(f"building chart-testing {CHART_TESTING_VERSION} from source (first run only)")
            _go(["mod", "init", "lfk8s.local/build/ct"], workdir, "go mod init")
            _go(["get", f"{CT_MODULE}@{CHART_TESTING_VERSION}"], workdir, f"go get {CT_MODULE}")
            ldflags = f"-s -w -X {CT_MODULE}/ct/cmd.Version={CHART_TESTING_VERSION}"
            _go(["build", "-trimpath", "-ldflags", ldflags, "-o", str(staging / "ct"), f"{CT_MODULE}/ct"], workdir,
                "go build ct")
            source = Path(json.loads(_go(["mod", "download", "-json", f"{CT_MODULE}@{CHART_TESTING_VERSION}"],
                                         workdir, "go mod download ct"))["Dir"])
            shutil.copy(source / "etc" / "chart_schema.yaml", staging / "chart_schema.yaml")
        kubebuild.check_version(staging / "ct", CHART_TESTING_VERSION.lstrip("v"), flag="version")
        kubebuild.publish(staging, final)
    return ChartTesting(final / "ct", final / "chart_schema.yaml", linters_bin)
