"""The local cluster (backend `kwok`): a real control plane with mocked GPU nodes.

etcd, kube-apiserver (default admission plugins, PodSecurity included),
kube-controller-manager and kube-scheduler run as local processes on loopback with TLS;
the kwok controller plays the nodes and pods. Nodes are ordinary Node objects with the
labels, taints and `nvidia.com/gpu` capacity of real GPU pools.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from lfk8s.cluster import kwok_stages
from lfk8s.cluster.pki import ClusterPKI
from lfk8s.cluster.processes import alive, free_port
from lfk8s.paths import cache_dir
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain import crds, kubebuild

GPU_LABEL = "nvidia.com/gpu"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
KWOK_LABEL = ("type", "kwok")
SERVICE_CIDR = "10.96.0.0/16"
# The order processes start in; they stop in reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")



class ClusterError(RuntimeError):
    pass


@dataclass(frozen=True)
class NodePool:
    """The mocked nodes: GPU nodes like a real GPU pool, plus CPU-only nodes."""

    gpu_nodes: int = 2
    gpus_per_node: int = 8
    cpu_nodes: int = 1
    cpu: str = "64"
    memory: str = "512Gi"
    pods: str = "110"

    def nodes(self, cluster: str) -> list[dict[str, Any]]:
        gpu = [self._node(f"{cluster}-gpu-{i}", gpus=self.gpus_per_node) for i in range(self.gpu_nodes)]
        cpu = [self._node(f"{cluster}-cpu-{i}", gpus=0) for i in range(self.cpu_nodes)]
        return gpu + cpu

    def _node(self, name: str, gpus: int) -> dict[str, Any]:
        labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                  KWOK_LABEL[0]: KWOK_LABEL[1]}
        capacity = {"cpu": self.cpu, "memory": self.memory, "pods": self.pods}
        taints = []
        if gpus:
            labels[GPU_LABEL] = "true"
            labels["nvidia.com/gpu.count"] = str(gpus)
            capacity[GPU_LABEL] = str(gpus)
            taints.append(dict(GPU_TAINT))
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels, "annotations": {"kwok.x-k8s.io/node": "fake"}},
            "spec": {"taints": taints} if taints else {},
            # Status is accepted on create: the capacity the scheduler sees.
            "status": {"capacity": capacity, "allocatable": dict(capacity)},
        }


@dataclass
class ClusterState:
    """What `up` chose, kept in state.json so later commands find the same cluster."""

    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ClusterState:
        return cls(**json.loads(path.read_text())) if path.exists() else cls()

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))


def _kubeconfig(name: str, server: str, pki: ClusterPKI, user: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority": str(pki.ca_cert)}}],
        "users": [{"name": user,
                   "user": {"client-certificate": str(pki.cert(user)), "client-key": str(pki.key(user))}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
    }


@dataclass
class LocalCluster:
    name: str = "lfk8s"
    pool: NodePool = field(default_factory=NodePool)
    state_root: Path = field(default_factory=lambda: cache_dir() / "clusters")

    @property
    def state_dir(self) -> Path:
        return self.state_root / self.name

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def pki(self) -> ClusterPKI:
        return ClusterPKI(self.state_dir / "pki")

    @property
    def _state_file(self) -> Path:
        return self.state_dir / "state.json"

    def state(self) -> ClusterState:
        return ClusterState.load(self._state_file)

    def log_file(self, component: str) -> Path:
        return self.state_dir / "logs" / f"{component}.log"

    # ---------- lifecycle ----------

    def up(self, report: Reporter = quiet, binaries: dict[str, Path] | None = None) -> None:
        """Start whatever is not running and create missing nodes. Safe to repeat."""
        binaries = binaries or kubebuild.ensure_cluster_binaries(report)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "logs").mkdir(exist_ok=True)
        state = self.state()
        for port_name in ("etcd-client", "etcd-peer", "apiserver", "kwok"):
            state.ports.setdefault(port_name, free_port())
        state.save(self._state_file)
        self._write_credentials(state)
        (self.state_dir / "kwok-stages.yaml").write_text(kwok_stages.stages_yaml())
        for component in COMPONENTS:
            pid = state.pids.get(component)
            if pid and alive(pid):
                continue
            report(f"starting {component}")
            state.pids[component] = self._start(component, binaries[component], state)
            state.save(self._state_file)
            if component == "etcd":
                self._wait(lambda: self._etcd_healthy(state), "etcd", component)
            if component == "kube-apiserver":
                self._wait(lambda: self._apiserver_ready(state), "the API server", component, timeout=180)
        self.ensure_nodes(report)
        # Gateway API CRDs, as most clusters have them: HTTPRoute exposure installs for real.
        crds.install(self.api_client(), crds.gateway_api_crds(report))

    def down(self, report: Reporter = quiet) -> None:
        """Stop every process and delete the cluster's state (etcd data included)."""
        state = self.state()
        for component in reversed(COMPONENTS):
            pid = state.pids.get(component)
            if pid and alive(pid):
                report(f"stopping {component}")
                self._stop(pid)
        if self.state_dir.exists():
            import shutil
            shutil.rmtree(self.state_dir)

    def running(self) -> dict[str, bool]:
        state = self.state()
        return {component: bool(state.pids.get(component)) and alive(state.pids[component]) for component in COMPONENTS}

    def healthy(self) -> bool:
        return all(self.running().values()) and self._apiserver_ready(self.state())

    def resident_memory_bytes(self) -> dict[str, int]:
        """RSS of each running component, from /proc."""
        out = {}
        for component, pid in self.state().pids.items():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        out[component] = int(line.split()[1]) * 1024
            except OSError:
                continue
        return out

    # ---------- nodes ----------

    def ensure_nodes(self, report: Reporter = quiet, timeout: float = 120) -> None:
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        api = client.CoreV1Api(self.api_client())
        existing = {node.metadata.name for node in api.list_node().items}
        wanted = self.pool.nodes(self.name)
        missing = [node for node in wanted if node["metadata"]["name"] not in existing]
        if missing:
            report(f"creating {len(missing)} mocked nodes ({self.pool.gpu_nodes} GPU x {self.pool.gpus_per_node}, "
                   f"{self.pool.cpu_nodes} CPU-only)")
        for node in missing:
            try:
                api.create_node(node)
            except ApiException as error:
                if error.status != 409:
                    raise
        names = {node["metadata"]["name"] for node in wanted}

        def all_ready() -> bool:
            ready = 0
            for node in api.list_node(label_selector=f"{KWOK_LABEL[0]}={KWOK_LABEL[1]}").items:
                conditions = {c.type: c.status for c in (node.status.conditions or [])}
                ready += node.metadata.name in names and conditions.get("Ready") == "True"
            return ready == len(names)

        self._wait(all_ready, f"{len(names)} nodes to become Ready", "kwok", timeout=timeout)

    # ---------- clients ----------

    def api_client(self) -> client.ApiClient:
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(self.kubeconfig), client_configuration=configuration)
        return client.ApiClient(configuration)

    # ---------- internals ----------

    def _server(self, state: ClusterState) -> str:
        return f"https://127.0.0.1:{state.ports['apiserver']}"

    def _write_credentials(self, state: ClusterState) -> None:
        self.pki.ensure(
            servers={"apiserver": ["127.0.0.1", "localhost", "kubernetes", "kubernetes.default",
                                   "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "10.96.0.1"],
                     "etcd": ["127.0.0.1", "localhost"]},
            clients={"admin": ("lfk8s-admin", "system:masters"),
                     "apiserver-etcd-client": ("kube-apiserver-etcd-client", None),
                     "kube-controller-manager": ("system:kube-controller-manager", None),
                     "kube-scheduler": ("system:kube-scheduler", None)},
        )
        server = self._server(state)
        for user in ("kube-controller-manager", "kube-scheduler"):
            kubeconfig = _kubeconfig(self.name, server, self.pki, user)
            (self.state_dir / f"{user}.kubeconfig").write_text(yaml.safe_dump(kubeconfig))
        self.kubeconfig.write_text(yaml.safe_dump(_kubeconfig(self.name, server, self.pki, "admin")))
        self.kubeconfig.chmod(0o600)

    def command(self, component: str, binary: Path, state: ClusterState) -> list[str]:
        pki, ports, state_dir = self.pki, state.ports, self.state_dir
        if component == "etcd":
            client_url = f"https://127.0.0.1:{ports['etcd-client']}"
            peer_url = f"http://127.0.0.1:{ports['etcd-peer']}"
            return [str(binary), "--name", "lfk8s", "--data-dir", str(state_dir / "etcd"),
                    "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
                    "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                    "--initial-cluster", f"lfk8s={peer_url}",
                    "--cert-file", str(pki.cert("etcd")), "--key-file", str(pki.key("etcd")),
                    "--trusted-ca-file", str(pki.ca_cert), "--client-cert-auth",
                    "--listen-metrics-urls", "",
                    # A throwaway test cluster: skipping fsync makes it several times faster on slow disks.
                    "--unsafe-no-fsync", "--quota-backend-bytes", str(2 * 1024**3), "--log-level", "warn"]
        if component == "kube-apiserver":
            return [str(binary), "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
                    "--secure-port", str(ports["apiserver"]),
                    "--etcd-servers", f"https://127.0.0.1:{ports['etcd-client']}",
                    "--etcd-cafile", str(pki.ca_cert), "--etcd-certfile", str(pki.cert("apiserver-etcd-client")),
                    "--etcd-keyfile", str(pki.key("apiserver-etcd-client")),
                    "--tls-cert-file", str(pki.cert("apiserver")), "--tls-private-key-file", str(pki.key("apiserver")),
                    "--client-ca-file", str(pki.ca_cert),
                    "--authorization-mode", "Node,RBAC",
                    "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
                    "--service-account-key-file", str(pki.sa_pub),
                    "--service-account-signing-key-file", str(pki.sa_key),
                    "--service-cluster-ip-range", SERVICE_CIDR,
                    "--profiling=false", "--v=1"]
        if component == "kube-controller-manager":
            return [str(binary), "--kubeconfig", str(state_dir / "kube-controller-manager.kubeconfig"),
                    "--leader-elect=false", "--secure-port=0", "--cluster-name", self.name,
                    "--service-account-private-key-file", str(pki.sa_key), "--root-ca-file", str(pki.ca_cert),
                    "--use-service-account-credentials=true", "--profiling=false", "--v=1",
                    # Bind claims within seconds (default 15 s): pods wait on their claim before scheduling.
                    "--pvclaimbinder-sync-period=2s"]
        if component == "kube-scheduler":
            return [str(binary), "--kubeconfig", str(state_dir / "kube-scheduler.kubeconfig"),
                    "--leader-elect=false", "--secure-port=0", "--profiling=false", "--v=1"]
        if component == "kwok":
            return [str(binary), "--kubeconfig", str(self.kubeconfig),
                    "--config", str(state_dir / "kwok-stages.yaml"),
                    "--manage-all-nodes=false", f"--manage-nodes-with-label-selector={KWOK_LABEL[0]}={KWOK_LABEL[1]}",
                    "--node-lease-duration-seconds=40",
                    "--server-address", f"127.0.0.1:{ports['kwok']}"]
        raise ValueError(component)

    def _start(self, component: str, binary: Path, state: ClusterState) -> int:
        # A session of its own: the cluster outlives the command that started it. The child keeps
        # its own copy of the log's descriptor.
        with open(self.log_file(component), "ab") as log:
            process = subprocess.Popen(self.command(component, binary, state), stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.state_dir)
        return process.pid

    @staticmethod
    def _stop(pid: int, grace: float = 10) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and alive(pid):
            time.sleep(0.1)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)

    def _tls_context(self, client_cert: str) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.cert(client_cert)), str(self.pki.key(client_cert)))
        return context

    def _get(self, url: str, client_cert: str) -> bool:
        try:
            with urllib.request.urlopen(url, context=self._tls_context(client_cert), timeout=3) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def _etcd_healthy(self, state: ClusterState) -> bool:
        return self._get(f"https://127.0.0.1:{state.ports['etcd-client']}/health", "apiserver-etcd-client")

    def _apiserver_ready(self, state: ClusterState) -> bool:
        return bool(state.ports) and self._get(f"{self._server(state)}/readyz", "admin")

    def _wait(self, check: Callable[[], bool], what: str, component: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            pid = self.state().pids.get(component)
            if pid and not alive(pid):
                raise ClusterError(f"{component} exited while waiting for {what}; "
                                   f"last log lines:\n{self._tail(component)}")
            time.sleep(0.25)
        raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}; "
                           f"{component} log:\n{self._tail(component)}")

    def _tail(self, component: str, lines: int = 25) -> str:
        path = self.log_file(component)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"
