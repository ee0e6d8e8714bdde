"""The local cluster's one real node: containerd, kubelet, kube-proxy and CoreDNS on this machine.

Beside the kwok-mocked nodes, pods scheduled here really run (runc through containerd's CRI, a
bridge + host-local CNI network). The node is labelled and tainted `lfk8s.io/real-node=true`
(NoSchedule): only pods that tolerate the taint run on it. The API server binds to the bridge's
address (node_config.GATEWAY), which pods reach, and calls kubelet with a client certificate;
CoreDNS serves cluster.local on that address behind the kube-dns Service. One real node per
machine (its bridge, pod range and iptables rules are host-wide): a lock file says whose it is.

`prepare_host` runs before the API server starts, `start` once it answers, `stop` before the
control plane stops and `clean_host` after: each by the node's own pids, paths and names.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from lfk8s.cluster import node_config, node_host, node_images, node_objects, processes
from lfk8s.cluster.node_config import GATEWAY, REAL_NODE_LABEL, NodeLayout
from lfk8s.cluster.pki import ClusterPKI
from lfk8s.cluster.state import ClusterState
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain import debian, kubebuild, nodebuild

# Start order; kubelet stops first (so it restarts nothing), containerd last.
NODE_COMPONENTS = ("containerd", "kube-proxy", "coredns", "kubelet")
NODE_PORTS = ("kubelet", "kubelet-healthz", "kube-proxy-healthz", "kube-proxy-metrics", "coredns-health",
              "coredns-ready")
LOCK = Path("/run/lfk8s/real-node")


class NodeError(RuntimeError):
    pass


def _write(path: Path, text: str) -> None:
    """Writes only a change: kube-proxy exits when its configuration file is written to."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


@dataclass(frozen=True)
class RealNode:
    cluster: str
    state_dir: Path
    pki: ClusterPKI

    @property
    def name(self) -> str:
        return f"{self.cluster}-real"

    @property
    def layout(self) -> NodeLayout:
        return NodeLayout(self.state_dir / "node")

    def log_file(self, component: str) -> Path:
        return self.state_dir / "logs" / f"{component}.log"

    # ---------- what the control plane needs to know ----------

    def credentials(self) -> tuple[dict[str, list[str]], dict[str, tuple[str, str | None]]]:
        """(server certificates, client certificates) for ClusterPKI.ensure."""
        servers = {"kubelet": [self.name, GATEWAY]}
        clients: dict[str, tuple[str, str | None]] = {
            "kubelet-client": (f"system:node:{self.name}", "system:nodes"),
            "kube-proxy": ("system:kube-proxy", None),
            "coredns": (node_objects.COREDNS_USER, None),
            "apiserver-kubelet-client": (node_objects.APISERVER_KUBELET_USER, None),
        }
        return servers, clients

    def apiserver_args(self) -> list[str]:
        """The API server calls kubelet (logs, exec) with its own certificate and checks kubelet's."""
        return ["--kubelet-client-certificate", str(self.pki.cert("apiserver-kubelet-client")),
                "--kubelet-client-key", str(self.pki.key("apiserver-kubelet-client")),
                "--kubelet-certificate-authority", str(self.pki.ca_cert),
                "--kubelet-preferred-address-types", "InternalIP"]

    # ---------- the host ----------

    def check_host(self) -> None:
        """Fails early (before any build) when this machine cannot run the node for this cluster."""
        if os.geteuid() != 0:
            raise NodeError("the real node needs root (kubelet, containerd, iptables, mounts)")
        if LOCK.exists():
            owner = Path(LOCK.read_text().strip())
            if owner != self.state_dir and owner.exists():
                raise NodeError(f"this machine's real node belongs to the cluster in {owner}: "
                                f"`bin/lfk8s cluster down --cluster {owner.name}` first")

    def prepare_host(self, host: dict[str, Any], report: Reporter = quiet) -> None:
        """The lock, what the host looked like (once), the bridge, the forwarding rules, rshared /."""
        self.check_host()
        LOCK.parent.mkdir(parents=True, exist_ok=True)
        LOCK.write_text(str(self.state_dir))
        if "sysctls" not in host:
            host["sysctls"] = node_host.read_sysctls()
            host["propagation"] = node_host.mount_propagation()
            host["created_dirs"] = node_host.missing_host_dirs()
        report(f"real node: bridge {node_config.BRIDGE} {GATEWAY}, forwarding rules")
        node_host.ensure_bridge()
        node_host.add_rules()
        node_host.write_sysctls({"net.ipv4.ip_forward": "1"})
        node_host.make_root_rshared()

    def clean_host(self, host: dict[str, Any], report: Reporter = quiet) -> None:
        """Undoes prepare_host and whatever kubelet and kube-proxy left in iptables."""
        report("real node: removing its bridge, iptables rules and host settings")
        node_host.remove_rules()
        node_host.remove_kube_chains()
        node_host.delete_bridge()
        sysctls = dict(host.get("sysctls", {}))
        if node_host.chain_exists("filter", "DOCKER-USER"):
            # A docker daemon forwards for its containers too (it may have started after the node).
            sysctls.pop("net.ipv4.ip_forward", None)
        node_host.write_sysctls(sysctls)
        if host.get("propagation"):
            node_host.restore_propagation(host["propagation"])
        node_host.remove_host_files(host.get("created_dirs", []), node_config.CNI_NETWORK, self.layout.pod_logs)
        if LOCK.exists() and LOCK.read_text().strip() == str(self.state_dir):
            LOCK.unlink()
        with contextlib.suppress(OSError):
            LOCK.parent.rmdir()

    # ---------- processes ----------

    def write_config(self, state: ClusterState, server: str) -> None:
        """Every configuration file of the node, under its directory (rewritten on each `up`)."""
        layout, pki, ports = self.layout, self.pki, state.ports
        for directory in (layout.root / "bin", layout.cni_conf_dir, layout.cni_ipam_dir, layout.kubelet_root,
                          layout.pod_logs, layout.containerd_root, layout.containerd_state):
            directory.mkdir(parents=True, exist_ok=True)
        runc = shutil.which("runc")
        if runc is None:
            raise NodeError("runc is not installed (Debian package runc)")
        _write(layout.runc_wrapper, node_config.runc_wrapper(Path(runc)))
        layout.runc_wrapper.chmod(0o755)
        _write(layout.containerd_config, node_config.containerd_config(layout, debian.CNI_BIN_DIR))
        _write(layout.cni_conf_dir / "10-lfk8s.conflist", json.dumps(node_config.cni_conflist(layout), indent=2))
        for user in ("kubelet-client", "kube-proxy", "coredns"):
            _write(layout.file(f"{user}.kubeconfig"), yaml.safe_dump(pki.kubeconfig(self.cluster, server, user)))
        _write(layout.file("kubelet.yaml"), yaml.safe_dump(node_config.kubelet_config(
            layout, pki.ca_cert, pki.cert("kubelet"), pki.key("kubelet"), ports["kubelet"], ports["kubelet-healthz"])))
        _write(layout.file("kube-proxy.yaml"), yaml.safe_dump(node_config.kube_proxy_config(
            layout.file("kube-proxy.kubeconfig"), self.name, ports["kube-proxy-healthz"], ports["kube-proxy-metrics"])))
        _write(layout.file("Corefile"), node_config.corefile(
            layout.file("coredns.kubeconfig"), ports["coredns-health"], ports["coredns-ready"]))

    def command(self, component: str, tools: dict[str, Path]) -> list[str]:
        layout = self.layout
        if component == "containerd":
            return [str(tools["containerd"]), "--config", str(layout.containerd_config), "--log-level", "info"]
        if component == "kubelet":
            return [str(tools["kubelet"]), "--config", str(layout.file("kubelet.yaml")),
                    "--kubeconfig", str(layout.file("kubelet-client.kubeconfig")),
                    "--root-dir", str(layout.kubelet_root), "--cert-dir", str(layout.kubelet_root / "pki"),
                    "--hostname-override", self.name, "--node-ip", GATEWAY,
                    "--node-labels", f"{REAL_NODE_LABEL}=true", "--v=1"]
        if component == "kube-proxy":
            return [str(tools["kube-proxy"]), "--config", str(layout.file("kube-proxy.yaml")), "--v=1"]
        if component == "coredns":
            return [str(tools["coredns"]), "-conf", str(layout.file("Corefile"))]
        raise ValueError(component)

    def _env(self, tools: dict[str, Path]) -> dict[str, str]:
        # containerd finds its shim on PATH; the rest use the system's iptables, mount, ip.
        path = f"{tools['containerd'].parent}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        return dict(os.environ, PATH=path)

    def start(self, api: client.ApiClient, state: ClusterState, save: Callable[[], None], server: str,
              tools: dict[str, Path], report: Reporter = quiet, timeout: float = 120) -> None:
        """Starts whatever of the node is not running and waits until it is Ready and serves DNS."""
        node_objects.ensure(api, self.name)
        self.write_config(state, server)
        for component in NODE_COMPONENTS:
            pid = state.pids.get(component)
            if pid and processes.alive(pid):
                continue
            report(f"starting {component} (real node {self.name})")
            state.pids[component] = processes.start(self.command(component, tools), self.log_file(component),
                                                    self.state_dir, self._env(tools))
            save()
            if component == "containerd":
                self._wait(self._containerd_up, "containerd's socket", "containerd", state, timeout)
                archive = node_images.write_archive(node_images.pause_image(tools["pause"]),
                                                    self.layout.root / "images" / "pause.tar")
                node_images.import_archive(tools["ctr"], self.layout.containerd_socket, archive)
        self._wait(lambda: self._get(state.ports["kube-proxy-healthz"], "/healthz"), "kube-proxy's first sync",
                   "kube-proxy", state, timeout)
        self._wait(lambda: self._get(state.ports["coredns-ready"], "/ready"), "CoreDNS to be ready", "coredns",
                   state, timeout)
        self._wait(lambda: self.ready(api), f"node {self.name} to become Ready", "kubelet", state, timeout)

    def stop(self, state: ClusterState, report: Reporter = quiet) -> None:
        """kubelet, every pod of the node, kube-proxy (and its rules), CoreDNS, containerd and its
        shims, then the pods' cgroups and every mount under the node's directory."""
        self._stop(state, "kubelet", report)
        crictl = nodebuild.crictl_dir() / "crictl"
        containerd = state.pids.get("containerd")
        if crictl.exists() and containerd and processes.alive(containerd):
            report("removing the real node's pods")
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run([str(crictl), "--runtime-endpoint", f"unix://{self.layout.containerd_socket}",
                                "--timeout", "60s", "rmp", "--all", "--force"], capture_output=True, timeout=120)
        self._stop(state, "kube-proxy", report)
        proxy = kubebuild.kubernetes_node_dir() / "kube-proxy"
        if proxy.exists():
            subprocess.run([str(proxy), "--cleanup", "--v=0"], capture_output=True, timeout=120)
        self._stop(state, "coredns", report)
        self._stop(state, "containerd", report)
        for pid in node_host.pids_with_argument(str(self.layout.containerd_socket)):
            processes.stop(pid, grace=2)
        node_host.remove_kubepods_cgroups()
        if self.layout.root.exists():
            node_host.unmount_under(self.layout.root)

    def _stop(self, state: ClusterState, component: str, report: Reporter) -> None:
        pid = state.pids.get(component)
        if pid and processes.alive(pid):
            report(f"stopping {component}")
            processes.stop(pid, grace=15)

    def import_image(self, archive: Path) -> None:
        """A docker-archive into the node's containerd, for pods with imagePullPolicy Never."""
        node_images.import_archive(nodebuild.containerd_dir() / "ctr", self.layout.containerd_socket, archive)

    # ---------- checks ----------

    def running(self, state: ClusterState) -> dict[str, bool]:
        return {c: bool(state.pids.get(c)) and processes.alive(state.pids[c]) for c in NODE_COMPONENTS}

    def ready(self, api: client.ApiClient) -> bool:
        """Ready, and the node controller has lifted its node.kubernetes.io/not-ready taint (which
        lags the condition by a moment): pods can be scheduled onto it."""
        try:
            node = client.CoreV1Api(api).read_node(self.name)
        except client.ApiException:
            return False
        lagging = [t for t in node.spec.taints or [] if t.key.startswith("node.kubernetes.io/")]
        return not lagging and any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])

    def _containerd_up(self) -> bool:
        ctr = nodebuild.containerd_dir() / "ctr"
        if not self.layout.containerd_socket.exists():
            return False
        result = subprocess.run([str(ctr), "--address", str(self.layout.containerd_socket), "version"],
                                capture_output=True, timeout=10)
        return result.returncode == 0

    @staticmethod
    def _get(port: int, path: str) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def _wait(self, check: Callable[[], bool], what: str, component: str, state: ClusterState,
              timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            pid = state.pids.get(component)
            if pid and not processes.alive(pid):
                raise NodeError(f"{component} exited while waiting for {what}; last log lines:\n"
                                f"{processes.tail(self.log_file(component))}")
            time.sleep(0.25)
        raise NodeError(f"timed out after {timeout:.0f}s waiting for {what}; {component} log:\n"
                        f"{processes.tail(self.log_file(component))}")
