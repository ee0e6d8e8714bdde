"""How a pinned tool is installed into ~/.cache/lfk8s, keyed by version: a Go program built
from source through the Go module proxy (no prebuilt downloads reach these machines), or a
Python tool in a virtual environment of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import venv
from dataclasses import dataclass
from pathlib import Path

from lfk8s.paths import cache_dir
from lfk8s.progress import Reporter, quiet


class ToolchainError(RuntimeError):
    pass


@dataclass(frozen=True)
class GoBinary:
    """A Go program installed with `go install module/cmd@version`, version-stamped."""

    name: str
    package: str
    version: str
    ldflags: str = ""
    # Appended to the cache directory's name: a new key (other stamps) means one rebuild.
    key: str = ""

    @property
    def path(self) -> Path:
        suffix = f"-{self.key}" if self.key else ""
        return cache_dir() / f"{self.name}-{self.version}{suffix}" / self.name

    def ensure(self, report: Reporter = quiet) -> Path:
        if self.path.exists():
            return self.path
        go = shutil.which("go")
        if go is None:
            raise ToolchainError(f"building {self.name} {self.version} needs Go on PATH (https://go.dev/dl/)")
        staging = self.path.parent.with_name(self.path.parent.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        env = dict(os.environ, CGO_ENABLED="0", GOBIN=str(staging), GOFLAGS="-mod=mod")
        command = [go, "install", "-trimpath", "-ldflags", f"-s -w {self.ldflags}".strip(),
                   f"{self.package}@{self.version}"]
        report(f"building {self.name} {self.version} from source through the Go module proxy (first run only)")
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise ToolchainError(f"go install {self.package}@{self.version} failed:\n{result.stderr[-4000:]}")
        shutil.rmtree(self.path.parent, ignore_errors=True)
        staging.rename(self.path.parent)
        return self.path


@dataclass(frozen=True)
class PipTool:
    """A Python tool in a virtual environment of its own: its pinned dependencies
    (checkov's, MLflow's) would conflict with the harness's."""

    name: str
    version: str
    executable_name: str
    # Further pinned requirements installed beside it, and a key for them in the cache path.
    extra: tuple[str, ...] = ()
    extra_key: str = ""

    @property
    def env_dir(self) -> Path:
        suffix = f"-{self.extra_key}" if self.extra_key else ""
        return cache_dir() / f"{self.name}-{self.version}{suffix}"

    @property
    def executable(self) -> Path:
        return self.env_dir / "bin" / self.executable_name

    @property
    def python(self) -> Path:
        return self.env_dir / "bin" / "python"

    def ensure(self, report: Reporter = quiet) -> Path:
        marker = self.env_dir / ".installed"
        if marker.exists():
            return self.executable
        report(f"installing {self.name} {self.version} into its own virtual environment (first run only)")
        shutil.rmtree(self.env_dir, ignore_errors=True)
        venv.EnvBuilder(with_pip=True).create(self.env_dir)
        result = subprocess.run(
            [str(self.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             f"{self.name}=={self.version}", *self.extra],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            shutil.rmtree(self.env_dir, ignore_errors=True)
            raise ToolchainError(f"pip install {self.name}=={self.version} failed:\n{result.stderr[-4000:]}")
        marker.touch()
        return self.executable
