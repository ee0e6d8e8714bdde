"""The local cluster (backend `kwok`): a real control plane with mocked GPU nodes.

etcd, kube-apiserver (default admission plugins, PodSecurity included),
kube-controller-manager and kube-scheduler run as local processes on loopback with TLS;
the kwok controller plays the nodes and pods. Nodes are ordinary Node objects with the
labels, taints and `nvidia.com/gpu` capacity of real GPU pools. With `real_node=True` one
real, tainted CPU node joins them (lfk8s.cluster.real_node) and the API server listens on
that node's bridge address instead of loopback, so pods reach it. Storage is dynamic, as on a
real cluster: a default storage class and the classes the values files name, all served by
rancher's local-path-provisioner (lfk8s.cluster.storage_objects).
"""

from __future__ import annotations

import shutil
import ssl
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from lfk8s.cluster import node_images, processes, storage_provisioner
from lfk8s.cluster.node_config import GATEWAY
from lfk8s.cluster.pki import ClusterPKI
from lfk8s.cluster.processes import alive, free_port
from lfk8s.cluster.real_node import NODE_COMPONENTS, NODE_PORTS, RealNode
from lfk8s.cluster.state import ClusterState
from lfk8s.cluster.storage_objects import COMPONENT as STORAGE_COMPONENT
from lfk8s.cluster.storage_objects import HELPER_IMAGE, LocalPathStorage, kwok_stages_yaml
from lfk8s.cluster.storage_objects import USER as STORAGE_USER
from lfk8s.paths import cache_dir
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain import crds, kubebuild, nodebuild, storagebuild

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
    # Real kubelets report their disk as ephemeral-storage; the chart's pods request some.
    ephemeral_storage: str = "1Ti"
    pods: str = "110"

    def nodes(self, cluster: str) -> list[dict[str, Any]]:
        gpu = [self._node(f"{cluster}-gpu-{i}", gpus=self.gpus_per_node) for i in range(self.gpu_nodes)]
        cpu = [self._node(f"{cluster}-cpu-{i}", gpus=0) for i in range(self.cpu_nodes)]
        return gpu + cpu

    def _node(self, name: str, gpus: int) -> dict[str, Any]:
        labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                  KWOK_LABEL[0]: KWOK_LABEL[1]}
        capacity = {"cpu": self.cpu, "memory": self.memory, "ephemeral-storage": self.ephemeral_storage,
                    "pods": self.pods}
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
class LocalCluster:
    name: str = "lfk8s"
    pool: NodePool = field(default_factory=NodePool)
    state_root: Path = field(default_factory=lambda: cache_dir() / "clusters")
    # Start a real node too (needs root). A cluster that already runs keeps what it has.
    real_node: bool = False
    # Storage classes mapped to the provisioner besides the default; None: those the checkout's
    # values files and profiles name.
    storage_classes: tuple[str, ...] | None = None

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
    def node(self) -> RealNode:
        return RealNode(self.name, self.state_dir, self.pki)

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
        if not any(alive(pid) for pid in state.pids.values()):
            state.real_node = self.real_node
        elif self.real_node and not state.real_node:
            raise ClusterError(f"cluster {self.name} runs without a real node: `bin/lfk8s cluster down` first")
        if state.real_node:
            self.node.check_host()
        node_tools = nodebuild.ensure_node_tools(report) if state.real_node else {}
        for port_name in ("etcd-client", "etcd-peer", "apiserver", "kwok", *(NODE_PORTS if state.real_node else ())):
            state.ports.setdefault(port_name, free_port())
        state.save(self._state_file)
        if state.real_node:
            # Before the API server: it binds to the node's bridge address.
            self.node.prepare_host(state.host, report)
            state.save(self._state_file)
        self._write_credentials(state)
        self._write_kwok_stages(state)
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
        if state.real_node:
            self.node.start(self.api_client(), state, lambda: state.save(self._state_file), self._server(state),
                            node_tools, report)
        self._ensure_storage(state, report)

    def down(self, report: Reporter = quiet, keep_logs: Path | None = None) -> None:
        """Stop every process and delete the cluster's state (etcd data included); the processes'
        logs are copied to `keep_logs` first when given."""
        state = self.state()
        has_node = state.real_node or bool(state.host)
        if has_node:
            self.node.stop(state, report)
        for component in (STORAGE_COMPONENT, *reversed(COMPONENTS)):
            pid = state.pids.get(component)
            if pid and alive(pid):
                report(f"stopping {component}")
                self._stop(pid)
        if has_node:
            self.node.clean_host(state.host, report)
        if self.state_dir.exists():
            if keep_logs and (self.state_dir / "logs").exists():
                shutil.copytree(self.state_dir / "logs", keep_logs, dirs_exist_ok=True)
            shutil.rmtree(self.state_dir)

    def running(self) -> dict[str, bool]:
        state = self.state()
        components = COMPONENTS + (STORAGE_COMPONENT,) + (NODE_COMPONENTS if state.real_node else ())
        return {component: bool(state.pids.get(component)) and alive(state.pids[component]) for component in components}

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

    # ---------- storage ----------

    def storage(self, state: ClusterState | None = None) -> LocalPathStorage:
        return storage_provisioner.for_cluster(self.state_dir, (state or self.state()).real_node,
                                               self.storage_classes)

    def _ensure_storage(self, state: ClusterState, report: Reporter) -> None:
        """The storage classes and their provisioner (built on first use), started unless it runs."""
        storage = self.storage(state)
        storage_provisioner.apply(self.api_client(), storage)
        if state.real_node:
            # No registry: the helper pods' image is imported into the node (again: a no-op).
            self.node.import_image(node_images.busybox_archive(HELPER_IMAGE, report))
        pid = state.pids.get(STORAGE_COMPONENT)
        if not (pid and alive(pid)):
            report(f"starting {STORAGE_COMPONENT}")
            binary = storagebuild.ensure_provisioner(report)
            state.pids[STORAGE_COMPONENT] = storage_provisioner.start(storage, binary, self.log_file(STORAGE_COMPONENT))
            state.save(self._state_file)
        report(storage_provisioner.describe(storage))

    def _write_kwok_stages(self, state: ClusterState) -> None:
        """kwok reads its stages only at start: a running kwok given other stages (a cluster
        started before the storage helper's stage existed) is stopped, and `up` starts it again."""
        stages_file, stages = self.state_dir / "kwok-stages.yaml", kwok_stages_yaml()
        kwok = state.pids.get("kwok")
        if kwok and alive(kwok) and stages_file.exists() and stages_file.read_text() != stages:
            self._stop(kwok)
        stages_file.write_text(stages)

    # ---------- clients ----------

    def api_client(self) -> client.ApiClient:
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(self.kubeconfig), client_configuration=configuration)
        return client.ApiClient(configuration)

    # ---------- internals ----------

    @staticmethod
    def _api_host(state: ClusterState) -> str:
        return GATEWAY if state.real_node else "127.0.0.1"

    def _server(self, state: ClusterState) -> str:
        return f"https://{self._api_host(state)}:{state.ports['apiserver']}"

    def _write_credentials(self, state: ClusterState) -> None:
        node_servers, node_clients = self.node.credentials() if state.real_node else ({}, {})
        self.pki.ensure(
            # The real node's bridge address is always named, so the certificate never depends on the node.
            servers={"apiserver": ["127.0.0.1", "localhost", GATEWAY, "kubernetes", "kubernetes.default",
                                   "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "10.96.0.1"],
                     "etcd": ["127.0.0.1", "localhost"], **node_servers},
            clients={"admin": ("lfk8s-admin", "system:masters"),
                     "apiserver-etcd-client": ("kube-apiserver-etcd-client", None),
                     "kube-controller-manager": ("system:kube-controller-manager", None),
                     "kube-scheduler": ("system:kube-scheduler", None),
                     STORAGE_COMPONENT: (STORAGE_USER, None), **node_clients},
        )
        server = self._server(state)
        for user in ("kube-controller-manager", "kube-scheduler", STORAGE_COMPONENT):
            kubeconfig = self.pki.kubeconfig(self.name, server, user)
            (self.state_dir / f"{user}.kubeconfig").write_text(yaml.safe_dump(kubeconfig))
        self.kubeconfig.write_text(yaml.safe_dump(self.pki.kubeconfig(self.name, server, "admin")))
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
            host = self._api_host(state)
            node_args = self.node.apiserver_args() if state.real_node else []
            return [str(binary), "--bind-address", host, "--advertise-address", host, *node_args,
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
        return processes.start(self.command(component, binary, state), self.log_file(component), self.state_dir)

    @staticmethod
    def _stop(pid: int, grace: float = 10) -> None:
        processes.stop(pid, grace)

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
        return processes.tail(self.log_file(component), lines)
