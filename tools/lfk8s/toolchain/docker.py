"""A Docker engine for image builds: Debian's docker.io, installed by the project and started
when none answers. The daemon runs with its defaults (overlay2, cgroupfs) and logs into the
cache; `stop_started_daemon` stops only a daemon this module started (by the pid it wrote)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from lfk8s.paths import cache_dir
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain.builders import ToolchainError
from lfk8s.toolchain.debian import ensure_packages

# dockerd and its containerd and runc; debootstrap makes the Debian base images.
DOCKER_PACKAGES = ("docker.io", "debootstrap")


def _state_dir() -> Path:
    path = cache_dir() / "dockerd"
    path.mkdir(parents=True, exist_ok=True)
    return path


def docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_docker(report: Reporter = quiet, timeout: float = 60) -> None:
    """A working `docker`: the packages installed and a daemon answering (started if needed)."""
    ensure_packages(DOCKER_PACKAGES, report)
    if docker_answers():
        return
    state = _state_dir()
    report("starting dockerd (Debian's docker.io)")
    with open(state / "dockerd.log", "ab") as log:
        process = subprocess.Popen(["dockerd", "--pidfile", str(state / "dockerd.pid")], stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    (state / "started-by-lfk8s").write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if docker_answers():
            return
        if process.poll() is not None:
            break
        time.sleep(0.5)
    tail = (state / "dockerd.log").read_text(errors="replace")[-3000:]
    raise ToolchainError(f"dockerd did not answer within {timeout:.0f}s; its log ends:\n{tail}")


def stop_started_daemon(timeout: float = 30) -> bool:
    """Stop the dockerd that ensure_docker started, if any; True when one was stopped."""
    marker = _state_dir() / "started-by-lfk8s"
    if not marker.exists():
        return False
    pid = int(marker.read_text())
    marker.unlink()
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    return True
