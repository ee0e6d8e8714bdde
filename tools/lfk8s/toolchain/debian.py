"""Debian packages the real node needs, installed by the project (never by hand), idempotently.

`ensure_packages` asks dpkg what is installed and runs `apt-get update` (once per process) and
`apt-get install -y` only for what is missing. `download_deb` fetches a package's .deb without
installing it (the busybox the node's test image is made from), cached by package version.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from lfk8s.paths import cache_dir
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain.builders import ToolchainError

# What a real node runs on: runc (through a wrapper), the CNI plugins (bridge, host-local,
# loopback), iptables for kube-proxy and the node's own rules, conntrack for kube-proxy's clean-up,
# gcc and a static libc for the pause binary, python3 for the runc wrapper.
NODE_PACKAGES = ("runc", "containernetworking-plugins", "iptables", "conntrack", "gcc", "libc6-dev",
                 "python3", "iproute2", "util-linux")
# Where Debian's containernetworking-plugins puts the plugins.
CNI_BIN_DIR = Path("/usr/lib/cni")

_updated = False
DEBIAN_MIRROR = os.environ.get("LFK8S_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def _apt_env() -> dict[str, str]:
    return dict(os.environ, DEBIAN_FRONTEND="noninteractive")


def missing_packages(names: tuple[str, ...] | list[str]) -> list[str]:
    """The names dpkg does not report as installed."""
    missing = []
    for name in names:
        result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
        if result.returncode != 0 or "install ok installed" not in result.stdout:
            missing.append(name)
    return missing


def _apt(args: list[str], what: str, cwd: Path | None = None) -> None:
    if shutil.which("apt-get") is None:
        raise ToolchainError(f"{what} needs apt-get (a Debian or Ubuntu machine)")
    result = subprocess.run(["apt-get", *args], capture_output=True, text=True, env=_apt_env(), cwd=cwd)
    if result.returncode != 0:
        raise ToolchainError(f"apt-get {' '.join(args)} failed:\n{(result.stdout + result.stderr)[-3000:]}")


def _update_once(report: Reporter) -> None:
    global _updated
    if not _updated:
        report("apt-get update")
        _apt(["update", "-q"], "installing Debian packages")
        _updated = True


def ensure_packages(names: tuple[str, ...] | list[str] = NODE_PACKAGES, report: Reporter = quiet) -> list[str]:
    """Installs whichever of `names` are missing (needs root); returns what it installed."""
    missing = missing_packages(names)
    if not missing:
        return []
    if os.geteuid() != 0:
        raise ToolchainError(f"the real node needs Debian packages {', '.join(missing)}: run as root to install them")
    _update_once(report)
    report(f"apt-get install {' '.join(missing)}")
    _apt(["install", "-y", "-q", "--no-install-recommends", *missing], "installing Debian packages")
    still = missing_packages(missing)
    if still:
        raise ToolchainError(f"apt-get install left {', '.join(still)} uninstalled")
    return missing


def suite_options(suite: str) -> list[str]:
    """apt options that read another Debian suite's index (kept under the cache, updated once),
    leaving this machine's own sources and lists alone."""
    root = cache_dir() / "apt" / suite
    lists = root / "lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    sources = root / "sources.list"
    sources.write_text(f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {DEBIAN_MIRROR} {suite} main\n")
    options = [f"-oDir::Etc::SourceList={sources}", "-oDir::Etc::SourceParts=/dev/null", f"-oDir::State::Lists={lists}",
               "-oDebug::NoLocking=1", "-oAPT::Sandbox::User=root"]
    if not any(lists.glob("*Packages*")):
        _apt([*options, "update", "-q"], f"reading Debian {suite}'s package index")
    return options


def candidate_version(name: str, options: list[str] | None = None) -> str:
    """The version apt would install (empty when apt knows no such package)."""
    result = subprocess.run(["apt-cache", *(options or []), "policy", name], capture_output=True, text=True)
    for line in result.stdout.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "Candidate" and value.strip() != "(none)":
            return value.strip()
    return ""


def download_deb(name: str, report: Reporter = quiet, suite: str | None = None) -> Path:
    """The package's .deb (not installed), from the machine's apt sources or from another Debian
    suite's, cached by its version."""
    options = suite_options(suite) if suite else []
    version = candidate_version(name, options)
    if not version and not suite:
        _update_once(report)
        version = candidate_version(name)
    if not version:
        raise ToolchainError(f"apt knows no package {name}")
    # An epoch's colon is no good in a file name.
    final = cache_dir() / "debs" / f"{name}_{version.replace(':', '%3a')}.deb"
    if final.exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f"{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    report(f"apt-get download {name}={version}")
    try:
        _apt([*options, "download", "-q", f"{name}={version}"], f"downloading {name}", cwd=staging)
    except ToolchainError:
        _update_once(report)
        _apt([*options, "download", "-q", f"{name}={version}"], f"downloading {name}", cwd=staging)
    debs = list(staging.glob("*.deb"))
    if len(debs) != 1:
        raise ToolchainError(f"apt-get download {name} gave {debs}")
    debs[0].rename(final)
    shutil.rmtree(staging, ignore_errors=True)
    return final
