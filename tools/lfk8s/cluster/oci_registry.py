"""A real OCI registry on this machine's loopback: the CNCF distribution registry with filesystem
storage, started for as long as a `with` block runs. The chart is pushed to it and installed from it."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lfk8s.cluster.processes import free_port
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain.registry import registry_executable


@dataclass
class OciRegistry:
    state_dir: Path
    port: int = field(default_factory=free_port)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def repository(self, path: str = "charts") -> str:
        return f"oci://{self.host}/{path}"

    def _config(self) -> Path:
        config = {"version": "0.1", "log": {"level": "warn"},
                  "storage": {"filesystem": {"rootdirectory": str(self.state_dir / "data")},
                              "delete": {"enabled": True}},
                  "http": {"addr": self.host}}
        path = self.state_dir / "config.yml"
        path.write_text(yaml.safe_dump(config))
        return path

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def start(self, report: Reporter = quiet, timeout: float = 30) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        binary = registry_executable(report)
        with open(self.state_dir / "registry.log", "ab") as log:  # the process keeps its own copy
            self._process = subprocess.Popen([str(binary), "serve", str(self._config())], stdout=log, stderr=log,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers():
                report(f"OCI registry (distribution) at {self.host}")
                return
            if self._process.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        tail = (self.state_dir / "registry.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the OCI registry did not answer on {self.host}; its log ends:\n{tail}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None

    def __enter__(self) -> OciRegistry:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
