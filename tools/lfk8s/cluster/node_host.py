"""What the real node changes on the host, and how each change is found and undone.

The bridge, the node's own iptables rules (each tagged with a comment), the KUBE-* chains that
kubelet and kube-proxy write, the sysctls kubelet and the bridge change, mount propagation of /,
mounts under the node's directory, the kubepods cgroups, and stray containerd shims. Everything
is looked up by the node's own names (bridge, comment, directory, socket), never by a broad match.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from lfk8s.cluster.node_config import BRIDGE, GATEWAY, POD_CIDR

RULE_COMMENT = "lfk8s-real-node"
# What kubelet (kernel.*, vm.*) and the CNI bridge (ip_forward) set on the host.
SYSCTLS = ("net.ipv4.ip_forward", "kernel.panic", "kernel.panic_on_oops", "vm.overcommit_memory",
           "vm.panic_on_oom", "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes",
           "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")
CGROUP_ROOT = Path("/sys/fs/cgroup")
# Host directories kubelet and CNI write to whatever they are told: kubelet's device-plugin socket
# (a constant in kubelet), CNI's result cache (libcni's default), kubelet's links to container logs.
HOST_DIRS = (Path("/var/lib/kubelet"), Path("/var/lib/cni"), Path("/var/log/containers"))
KUBEPODS = "kubepods"


class HostError(RuntimeError):
    pass


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(command), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise HostError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


# ---------- the bridge ----------

def bridge_exists() -> bool:
    return Path(f"/sys/class/net/{BRIDGE}").exists()


def ensure_bridge() -> None:
    """The pods' bridge with the node's address, up before the API server binds to it."""
    if not bridge_exists():
        run("ip", "link", "add", BRIDGE, "type", "bridge")
    prefix = POD_CIDR.split("/")[1]
    if f"inet {GATEWAY}/" not in run("ip", "-4", "addr", "show", "dev", BRIDGE).stdout:
        run("ip", "addr", "add", f"{GATEWAY}/{prefix}", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")


def delete_bridge() -> None:
    if bridge_exists():
        run("ip", "link", "delete", BRIDGE)


# ---------- iptables ----------

def chain_exists(table: str, chain: str) -> bool:
    return run("iptables", "-t", table, "-S", chain, check=False).returncode == 0


def node_rules() -> list[tuple[str, str, list[str]]]:
    """(table, chain, rule) for each rule the node adds: forwarding for its bridge (docker's FORWARD
    policy is DROP; DOCKER-USER when docker made it) and masquerade for pods leaving the machine."""
    comment = ["-m", "comment", "--comment", RULE_COMMENT]
    rules = []
    for chain in ("FORWARD", "DOCKER-USER"):
        if chain == "FORWARD" or chain_exists("filter", chain):
            rules.append(("filter", chain, ["-i", BRIDGE, *comment, "-j", "ACCEPT"]))
            rules.append(("filter", chain, ["-o", BRIDGE, *comment, "-j", "ACCEPT"]))
    rules.append(("nat", "POSTROUTING", ["-s", POD_CIDR, "!", "-o", BRIDGE, *comment, "-j", "MASQUERADE"]))
    return rules


def add_rules() -> None:
    for table, chain, rule in node_rules():
        if run("iptables", "-t", table, "-C", chain, *rule, check=False).returncode != 0:
            run("iptables", "-t", table, "-I", chain, "1", *rule)


def _rules(binary: str, table: str) -> list[str]:
    result = run(binary, "-t", table, "-S", check=False)
    return result.stdout.splitlines() if result.returncode == 0 else []


def remove_rules() -> None:
    """Every rule tagged with the node's comment, in any chain of any table."""
    for table in ("filter", "nat", "mangle"):
        for line in _rules("iptables", table):
            if line.startswith("-A ") and RULE_COMMENT in line:
                run("iptables", "-t", table, *_delete_args(line), check=False)


def _delete_args(rule_line: str) -> list[str]:
    # `-S` prints `-A CHAIN args`; the same words after -D delete it. Quoted comments stay one word.
    words = re.findall(r'"[^"]*"|\S+', rule_line)
    return ["-D", *[w.strip('"') for w in words[1:]]]


def remove_kube_chains() -> None:
    """The KUBE-* chains kubelet (canaries, firewall) and kube-proxy leave, in IPv4 and IPv6:
    first the jumps into them from other chains, then the chains."""
    for binary in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            lines = _rules(binary, table)
            for line in lines:
                if line.startswith("-A ") and not line.split()[1].startswith("KUBE-") and re.search(r"-j KUBE-", line):
                    run(binary, "-t", table, *_delete_args(line), check=False)
            chains = [line.split()[1] for line in lines if line.startswith("-N KUBE-")]
            for chain in chains:
                run(binary, "-t", table, "-F", chain, check=False)
            for chain in chains:
                run(binary, "-t", table, "-X", chain, check=False)


def leftover_rules() -> list[str]:
    """Rules and chains of the node still in iptables (empty after a clean `down`)."""
    found = []
    for binary in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            for line in _rules(binary, table):
                if RULE_COMMENT in line or "KUBE-" in line or BRIDGE in line or POD_CIDR in line:
                    found.append(f"{binary} -t {table} {line}")
    return found


# ---------- sysctls and mount propagation ----------

def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls() -> dict[str, str]:
    return {name: _sysctl_path(name).read_text().strip() for name in SYSCTLS if _sysctl_path(name).exists()}


def write_sysctls(values: dict[str, str]) -> None:
    for name, value in values.items():
        path = _sysctl_path(name)
        if path.exists() and path.read_text().strip() != value:
            path.write_text(value)


def mount_propagation() -> dict[str, str]:
    """Each mount point's propagation (shared, private, ...), as findmnt tells it."""
    result = run("findmnt", "-rn", "-o", "TARGET,PROPAGATION")
    found = {}
    for line in result.stdout.splitlines():
        target, _, propagation = line.rpartition(" ")
        found[_unescape(target)] = propagation
    return found


def make_root_rshared() -> None:
    """kubelet needs / shared for mount propagation into pods (mountPropagation: Bidirectional)."""
    run("mount", "--make-rshared", "/")


def restore_propagation(saved: dict[str, str]) -> None:
    """Mounts that were private before the node and are shared now become private again."""
    for target, propagation in mount_propagation().items():
        if saved.get(target, "").startswith("private") and propagation.startswith("shared"):
            run("mount", "--make-private", target, check=False)


# ---------- host directories ----------

def missing_host_dirs() -> list[str]:
    return [str(path) for path in HOST_DIRS if not path.exists()]


def remove_host_files(created: list[str], network: str, logs: Path) -> None:
    """Directories of HOST_DIRS the node created go entirely; in those that were there before, only
    the node's own files: kubelet's device-plugin socket, CNI results of its network (and the
    loopback results of the same containers), links into its pod-log directory."""
    for directory in created:
        shutil.rmtree(directory, ignore_errors=True)
    socket_file = Path("/var/lib/kubelet/device-plugins/kubelet.sock")
    if socket_file.is_socket():
        socket_file.unlink()
    results = Path("/var/lib/cni/results")
    if results.is_dir():
        ours = [f.name[len(network) + 1:].rsplit("-", 1)[0] for f in results.glob(f"{network}-*")]
        for container in ours:
            for name in (f"{network}-{container}-eth0", f"cni-loopback-{container}-lo"):
                (results / name).unlink(missing_ok=True)
    links = Path("/var/log/containers")
    if links.is_dir():
        for link in links.iterdir():
            if link.is_symlink() and os.readlink(link).startswith(str(logs)):
                link.unlink()


def leftover_host_files(created: list[str], network: str, logs: Path) -> list[str]:
    found = [directory for directory in created if Path(directory).exists()]
    found += [str(p) for p in Path("/var/lib/cni/results").glob(f"{network}-*")]
    links = Path("/var/log/containers")
    if links.is_dir():
        found += [str(p) for p in links.iterdir() if p.is_symlink() and os.readlink(p).startswith(str(logs))]
    return found


# ---------- mounts, cgroups and processes ----------

def _unescape(path: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below `directory`, deepest first."""
    prefix = str(directory.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = _unescape(line.split()[4])
        if target == prefix or target.startswith(prefix + "/"):
            found.append(target)
    return sorted(set(found), key=lambda t: t.count("/"), reverse=True)


def unmount_under(directory: Path) -> None:
    for _ in range(3):
        targets = mounts_under(directory)
        if not targets:
            return
        for target in targets:
            if run("umount", target, check=False).returncode != 0:
                run("umount", "-l", target, check=False)
    if mounts_under(directory):
        raise HostError(f"still mounted under {directory}: {mounts_under(directory)}")


def kubepods_cgroups() -> list[Path]:
    """The kubepods cgroup of each hierarchy kubelet created one in."""
    return [path for path in sorted(CGROUP_ROOT.glob(f"*/{KUBEPODS}")) if path.is_dir()]


def remove_kubepods_cgroups(grace: float = 5) -> None:
    """Kills what is left in the node's pod cgroups (only pod processes live there) and removes them."""
    for cgroup in kubepods_cgroups():
        for procs in cgroup.rglob("cgroup.procs"):
            for pid in procs.read_text().split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + grace
    for cgroup in kubepods_cgroups():
        directories = sorted((p for p in cgroup.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        for directory in [*directories, cgroup]:
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)


def pids_with_argument(argument: str) -> list[int]:
    """Processes with `argument` as one of their command-line words (a shim naming our socket)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argument.encode() in words:
            found.append(int(entry.name))
    return found
