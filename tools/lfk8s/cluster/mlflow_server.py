"""A real MLflow tracking server standing in for the users' existing one (sqlite, loopback)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from lfk8s.cluster.local import LocalCluster
from lfk8s.cluster.node_config import GATEWAY
from lfk8s.cluster.processes import alive
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain.builders import ToolchainError
from lfk8s.toolchain.pinned import MLFLOW

DEFAULT_PORT = 5000
# Names pods would use for a shared MLflow; MLflow >= 3.5 answers 403 to any other Host header.
ALLOWED_HOSTS = "localhost:*,127.0.0.1:*,mlflow:*,mlflow.*"

_CLIENT_CHECK = """
import sys
from mlflow import MlflowClient
client = MlflowClient(tracking_uri=sys.argv[1])
experiment = client.get_experiment_by_name(sys.argv[2])
print(experiment.experiment_id if experiment else client.create_experiment(sys.argv[2]))
"""



@dataclass(frozen=True)
class MlflowServer:
    state_dir: Path
    port: int = DEFAULT_PORT
    # Loopback by default; the real node's bridge address when pods must reach it.
    host: str = "127.0.0.1"

    @classmethod
    def for_cluster(cls, cluster: LocalCluster, port: int = DEFAULT_PORT) -> MlflowServer:
        """The cluster's MLflow: on loopback, or on the real node's bridge address, where pods reach it."""
        host = GATEWAY if cluster.state().real_node else "127.0.0.1"
        return cls(cluster.state_dir / "mlflow", port, host)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def _pid_file(self) -> Path:
        return self.state_dir / "pid"

    def pid(self) -> int | None:
        return int(self._pid_file.read_text()) if self._pid_file.exists() else None

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def start(self, report: Reporter = quiet, timeout: float = 120) -> None:
        pid = self.pid()
        if pid and alive(pid) and self.healthy():
            return
        executable = MLFLOW.ensure(report)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        report(f"starting MLflow {MLFLOW.version} on {self.url}")
        with open(self.state_dir / "server.log", "ab") as log:
            process = subprocess.Popen(
                [str(executable), "server", "--host", self.host, "--port", str(self.port), "--workers", "1",
                 "--backend-store-uri", f"sqlite:///{self.state_dir / 'mlflow.db'}",
                 "--artifacts-destination", str(self.state_dir / "artifacts"),
                 "--allowed-hosts", f"{ALLOWED_HOSTS},{self.host}:*"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                cwd=self.state_dir)
        self._pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return
            if process.poll() is not None:
                break
            time.sleep(0.5)
        tail = (self.state_dir / "server.log").read_text(errors="replace").splitlines()[-20:]
        raise ToolchainError(f"MLflow did not answer on {self.url}/health:\n" + "\n".join(tail))

    def __enter__(self) -> MlflowServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        pid = self.pid()
        if pid and alive(pid):
            LocalCluster._stop(pid)
        self._pid_file.unlink(missing_ok=True)

    def ensure_experiment(self, name: str, tracking_uri: str | None = None) -> str:
        """Create (or find) an experiment through MLflow's own client: proof the server answers."""
        result = subprocess.run([str(MLFLOW.python), "-c", _CLIENT_CHECK, tracking_uri or self.url, name],
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise ToolchainError(f"MLflow client could not reach {tracking_uri or self.url}:\n{result.stderr[-2000:]}")
        return result.stdout.strip().splitlines()[-1]

    def runs(self, experiment: str) -> list[dict[str, Any]]:
        """The experiment's runs as MLflow's REST API gives them (info, data.metrics, data.params)."""
        with urllib.request.urlopen(f"{self.url}/api/2.0/mlflow/experiments/get-by-name?experiment_name={experiment}",
                                    timeout=10) as response:
            experiment_id = json.loads(response.read())["experiment"]["experiment_id"]
        request = urllib.request.Request(f"{self.url}/api/2.0/mlflow/runs/search",
                                         data=json.dumps({"experiment_ids": [experiment_id]}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return cast(list[dict[str, Any]], json.loads(response.read()).get("runs", []))

    def experiments(self) -> list[str]:
        request = urllib.request.Request(f"{self.url}/api/2.0/mlflow/experiments/search",
                                         data=json.dumps({"max_results": 1000}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return [e["name"] for e in json.loads(response.read()).get("experiments", [])]
