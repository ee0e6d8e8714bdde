"""Privileged containers for kind on machines whose capability bounding set lacks CAP_SYS_RESOURCE.

kind runs its nodes with `docker run --privileged`, which asks for every capability; where the
bounding set lacks one, runc fails with "unable to apply caps: operation not permitted". The
fix is the real node's runc wrapper (node_config.runc_wrapper) registered with dockerd as an
extra runtime (added to /etc/docker/daemon.json and loaded with SIGHUP, which dockerd reloads
without restarting, so running containers and builds are untouched; the default runtime stays
runc), and a `docker` shim first on kind's PATH that adds `--runtime` to kind's `docker run`.
Where privileged containers work as they are, nothing is changed and no shim is used.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from lfk8s.cluster.local import ClusterError
from lfk8s.cluster.node_config import runc_wrapper
from lfk8s.paths import cache_dir
from lfk8s.progress import Reporter, quiet

RUNTIME = "lfk8s-runc"
DAEMON_JSON = Path("/etc/docker/daemon.json")


def runtime_dir() -> Path:
    return cache_dir() / "kind-runtime"


def privileged_works(image: str, runtime: str | None = None) -> bool:
    command = ["docker", "run", "--rm", "--privileged", "--entrypoint", "true"]
    command += [f"--runtime={runtime}"] if runtime else []
    result = subprocess.run([*command, image], capture_output=True, text=True, timeout=120)
    return result.returncode == 0


def docker_runtimes() -> set[str]:
    result = subprocess.run(["docker", "info", "--format", "{{json .Runtimes}}"], capture_output=True, text=True)
    return set(json.loads(result.stdout or "{}")) if result.returncode == 0 else set()


def merged_daemon_config(current: str, wrapper: Path) -> str:
    """daemon.json with the runtime added and everything else kept."""
    data = json.loads(current) if current.strip() else {}
    data.setdefault("runtimes", {})[RUNTIME] = {"path": str(wrapper)}
    return json.dumps(data, indent=2) + "\n"


def _dockerd_pid() -> int:
    # The project's dockerd (toolchain.docker) writes its pidfile into the cache; a system one, here.
    pidfiles = (cache_dir() / "dockerd" / "dockerd.pid", Path("/var/run/docker.pid"))
    for pidfile in pidfiles:
        if pidfile.exists():
            return int(pidfile.read_text().strip())
    raise ClusterError(f"cannot find dockerd's pid to reload its config (looked in {[str(p) for p in pidfiles]})")


def ensure_runtime(report: Reporter = quiet) -> Path:
    """The CAP_SYS_RESOURCE-dropping runtime registered with dockerd; returns the wrapper."""
    wrapper = runtime_dir() / "runc"
    runc = shutil.which("runc") or "/usr/sbin/runc"
    text = runc_wrapper(Path(runc))
    if not wrapper.exists() or wrapper.read_text() != text:
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        wrapper.write_text(text)
        wrapper.chmod(0o755)
    if RUNTIME in docker_runtimes():
        return wrapper
    report(f"registering runtime {RUNTIME} with dockerd ({DAEMON_JSON}, reloaded with SIGHUP)")
    current = DAEMON_JSON.read_text() if DAEMON_JSON.exists() else ""
    DAEMON_JSON.parent.mkdir(parents=True, exist_ok=True)
    DAEMON_JSON.write_text(merged_daemon_config(current, wrapper))
    os.kill(_dockerd_pid(), signal.SIGHUP)
    deadline = time.monotonic() + 30
    while RUNTIME not in docker_runtimes():
        if time.monotonic() > deadline:
            raise ClusterError(f"dockerd did not load runtime {RUNTIME} from {DAEMON_JSON}")
        time.sleep(0.5)
    return wrapper


def docker_shim(real_docker: str) -> str:
    return (f"#!/bin/sh\n# kind's docker: its node containers run under {RUNTIME} (by lfk8s.cluster.kind_runtime)\n"
            f'if [ "$1" = run ]; then shift; exec {real_docker} run --runtime={RUNTIME} "$@"; fi\n'
            f'exec {real_docker} "$@"\n')


def kind_environment(image: str, report: Reporter = quiet) -> dict[str, str]:
    """The environment to run kind in: as it is where privileged containers work, else with the shim."""
    if privileged_works(image):
        return dict(os.environ)
    ensure_runtime(report)
    if not privileged_works(image, RUNTIME):
        raise ClusterError(f"privileged containers fail even with runtime {RUNTIME}; kind cannot run here")
    real = shutil.which("docker")
    if real is None:
        raise ClusterError("kind needs docker on PATH")
    shim = runtime_dir() / "shim" / "docker"
    shim.parent.mkdir(parents=True, exist_ok=True)
    shim.write_text(docker_shim(real))
    shim.chmod(0o755)
    return dict(os.environ, PATH=f"{shim.parent}{os.pathsep}{os.environ.get('PATH', '')}")
