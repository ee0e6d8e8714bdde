"""Builds the local control plane's binaries from source through the Go module proxy.

kube-apiserver, kube-controller-manager and kube-scheduler (and, for the real node, kubelet
and kube-proxy) come from k8s.io/kubernetes,
etcd from go.etcd.io/etcd/server/v3 and the kwok controller from sigs.k8s.io/kwok. No
prebuilt downloads reach these machines, so everything is compiled once, version-stamped,
checked with `--version`, and cached under cache_dir() keyed by version: a second run
builds nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from lfk8s.paths import cache_dir
from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain.builders import GoBinary, ToolchainError
from lfk8s.versions import ETCD_VERSION, KUBERNETES_VERSION, KWOK_VERSION

KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
# The real node's agents: built the same way, cached apart so the control plane's cache stays as it is.
KUBERNETES_NODE_COMMANDS = ("kubelet", "kube-proxy")

# What the release build (hack/lib/golang.sh) passes for non-debug binaries; grpcnotrace
# drops x/net/trace so the linker can eliminate more dead code.
KUBERNETES_BUILD_TAGS = "selinux,notest,grpcnotrace"

# Packages whose version variables the release build stamps (hack/lib/version.sh); without
# the stamps `--version` and /version report v0.0.0-master.
KUBERNETES_VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")

ETCD_VERSION_PACKAGE = "go.etcd.io/etcd/api/v3/version"
KWOK_CONSTS_PACKAGE = "sigs.k8s.io/kwok/pkg/consts"

# First-build costs measured on 2 cores with empty Go module and build caches (module
# downloads included; the whole set took 6.3 minutes). Later builds of another version
# reuse the build cache for unchanged dependencies.
_ESTIMATES = {
    "kube-apiserver": "about 4 minutes",
    "kube-controller-manager": "about a minute",
    "kube-scheduler": "seconds once the other two are built",
    "kubelet": "about 2.5 minutes, less once the control plane is built",
    "kube-proxy": "seconds once kubelet is built",
    "etcd": "under a minute",
    "kwok": "1 to 2 minutes",
}



# --- go.mod handling (pure, tested) -----------------------------------------------------

_BLOCK_START = re.compile(r"^(require|replace)\s*\($")
_SINGLE = re.compile(r"^(require|replace)\s+(.+)$")


def parse_gomod(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """The require (module -> version) and replace (module -> target) entries of a go.mod."""
    requires: dict[str, str] = {}
    replaces: dict[str, str] = {}
    block: str | None = None
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if block is not None:
            if line == ")":
                block = None
                continue
            entry = line
            kind = block
        elif match := _BLOCK_START.match(line):
            block = match.group(1)
            continue
        elif match := _SINGLE.match(line):
            kind, entry = match.group(1), match.group(2)
        else:
            continue
        if kind == "require":
            module, version = entry.split()[:2]
            requires[module] = version
        else:
            left, _, right = entry.partition("=>")
            # A replace's left side may name a version; the wrapper replaces every version.
            replaces[left.split()[0]] = right.strip()
    return requires, replaces


def gomod_directives(text: str) -> list[str]:
    """The go and godebug lines of a go.mod, which the wrapper must keep.

    The main module's go line sets the GODEBUG defaults, and godebug lines only count in the
    main module, so a wrapper that dropped them would build a binary that behaves differently.
    """
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if re.match(r"^go\s+\d", line) or re.match(r"^godebug\s", line):
            lines.append(line)
    return lines


def staging_version(kubernetes_version: str) -> str:
    """k8s.io/kubernetes v1.X.Y publishes its staging modules (k8s.io/api, ...) as v0.X.Y."""
    major, minor, patch = kubernetes_version.lstrip("v").split(".")
    return f"v0.{minor}.{patch}"


def kubernetes_staging_modules(upstream_gomod: str) -> list[str]:
    """The k8s.io/* modules k8s.io/kubernetes takes from its own staging/ tree.

    They are required as v0.0.0 and replaced by ./staging paths; a module's replace
    directives are ignored when it is a dependency, so the wrapper must repeat them.
    """
    requires, replaces = parse_gomod(upstream_gomod)
    staged = {m for m, v in requires.items() if m.startswith("k8s.io/") and v == "v0.0.0"}
    staged |= {m for m, target in replaces.items() if target.startswith("./staging/")}
    return sorted(staged)


def kubernetes_wrapper_gomod(upstream_gomod: str, kubernetes_version: str) -> str:
    """A go.mod that can build k8s.io/kubernetes commands through the module proxy."""
    version = "v" + kubernetes_version.lstrip("v")
    published = staging_version(version)
    lines = ["// Generated by lfk8s.kubebuild; builds k8s.io/kubernetes commands.",
             "module lfk8s.local/build/kubernetes", ""]
    lines += gomod_directives(upstream_gomod)
    lines += ["", f"require k8s.io/kubernetes {version}", "", "replace ("]
    lines += [f"\t{module} => {module} {published}" for module in kubernetes_staging_modules(upstream_gomod)]
    lines += [")", ""]
    return "\n".join(lines)


def etcd_sibling_modules(upstream_gomod: str) -> list[str]:
    """The etcd modules go.etcd.io/etcd/server/v3 takes from sibling directories (../api, ...)."""
    requires, replaces = parse_gomod(upstream_gomod)
    return sorted(m for m, target in replaces.items() if m in requires and target.startswith("../"))


def etcd_wrapper_gomod(upstream_gomod: str, etcd_version: str) -> str:
    """A go.mod that builds etcd: `go install ...@version` refuses modules with replace lines."""
    modules = ["go.etcd.io/etcd/server/v3", *etcd_sibling_modules(upstream_gomod)]
    lines = ["// Generated by lfk8s.kubebuild; builds etcd.", "module lfk8s.local/build/etcd", ""]
    lines += gomod_directives(upstream_gomod)
    # Pin the siblings too, so nothing else in the graph can pull them to another version.
    lines += ["", "require ("]
    lines += [f"\t{module} {etcd_version}" for module in modules]
    lines += [")", ""]
    return "\n".join(lines)


def kubernetes_ldflags(kubernetes_version: str, build_date: str, git_commit: str = "") -> str:
    """Linker flags stamping the version the way hack/lib/version.sh does.

    The module proxy carries no commit hash, so git_commit is empty unless a caller knows it
    (empty beats the unexpanded "$Format:%H$" placeholder the source holds).
    """
    version = "v" + kubernetes_version.lstrip("v")
    major, minor, _ = version[1:].split(".")
    values = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitCommit": git_commit,
        "gitTreeState": "clean",
        "buildDate": build_date,
    }
    stamps = [f"-X {package}.{key}={value}" for package in KUBERNETES_VERSION_PACKAGES for key, value in values.items()]
    return " ".join(["-s", "-w", *stamps])


def etcd_ldflags(git_sha: str = "") -> str:
    """etcd's Version is a source constant; only GitSHA is stamped (unknown through the proxy)."""
    return f"-s -w -X {ETCD_VERSION_PACKAGE}.GitSHA={git_sha}"


def kwok_ldflags(kwok_version: str) -> str:
    """The stamps kwok's hack/releases.sh sets, so `kwok --version` names the release."""
    return f"-X {KWOK_CONSTS_PACKAGE}.Version={kwok_version} -X {KWOK_CONSTS_PACKAGE}.PreRelease=GA"


# --- cache layout ------------------------------------------------------------------------


def kubernetes_dir() -> Path:
    return cache_dir() / f"kubernetes-v{KUBERNETES_VERSION.lstrip('v')}"


def kubernetes_node_dir() -> Path:
    return cache_dir() / f"kubernetes-node-v{KUBERNETES_VERSION.lstrip('v')}"


def etcd_dir() -> Path:
    return cache_dir() / f"etcd-{ETCD_VERSION}"


def kwok_dir() -> Path:
    return cache_dir() / f"kwok-{KWOK_VERSION}"


# --- building ----------------------------------------------------------------------------


def go_executable() -> str:
    go = shutil.which("go")
    if go is None:
        raise ToolchainError("building the cluster binaries needs Go on PATH (https://go.dev/dl/)")
    return go


def go_env() -> dict[str, str]:
    # GOFLAGS=-mod=mod lets the generated wrapper's go.sum fill itself in; GOWORK=off keeps
    # a go.work further up from changing the build. GOCACHE stays the default so a rebuild
    # (another version, or after the cache dir is wiped) recompiles only what changed.
    return dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod", GOWORK="off")


def run_go(args: list[str], cwd: Path, what: str) -> str:
    result = subprocess.run([go_executable(), *args], cwd=cwd, env=go_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolchainError(f"{what} failed:\n{result.stderr[-4000:]}")
    return result.stdout


def download_module(module: str, version: str, workdir: Path) -> tuple[str, str]:
    """The module's go.mod text and its release time, from the module proxy."""
    what = f"go mod download {module}@{version}"
    output = run_go(["mod", "download", "-json", f"{module}@{version}"], workdir, what)
    info = json.loads(output)
    release = json.loads(Path(info["Info"]).read_text())
    return Path(info["GoMod"]).read_text(), release["Time"]


def check_version(binary: Path, expected: str, flag: str = "--version") -> str:
    """Runs `binary --version` and insists it names the version we meant to build."""
    result = subprocess.run([str(binary), flag], capture_output=True, text=True, timeout=60)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or expected not in output:
        raise ToolchainError(f"{binary.name} --version printed {output!r}, expected {expected!r}")
    return output


def staging_dir(final: Path) -> Path:
    # Build into NAME.partial and rename at the end, so an interrupted build never leaves
    # a directory that looks like a complete cache entry.
    staging = final.with_name(final.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def publish(staging: Path, final: Path) -> None:
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)


def build_main(workdir: Path, package: str, output: Path, ldflags: str, tags: str = "") -> None:
    args = ["build", "-trimpath", "-ldflags", ldflags, "-o", str(output)]
    if tags:
        args += ["-tags", tags]
    run_go([*args, package], workdir, f"go build {package}")


def kubernetes_binaries(report: Reporter = quiet) -> dict[str, Path]:
    """kube-apiserver, kube-controller-manager and kube-scheduler at KUBERNETES_VERSION."""
    return _kubernetes_commands(kubernetes_dir(), KUBERNETES_COMMANDS, report)


def kubernetes_node_binaries(report: Reporter = quiet) -> dict[str, Path]:
    """kubelet and kube-proxy at KUBERNETES_VERSION, for the local cluster's real node."""
    return _kubernetes_commands(kubernetes_node_dir(), KUBERNETES_NODE_COMMANDS, report)


def _kubernetes_commands(final: Path, commands: tuple[str, ...], report: Reporter) -> dict[str, Path]:
    """k8s.io/kubernetes/cmd/<name> for each name, built into `final` unless all are there."""
    binaries = {name: final / name for name in commands}
    if all(path.exists() for path in binaries.values()):
        return binaries
    version = "v" + KUBERNETES_VERSION.lstrip("v")
    go_executable()  # fail before touching the cache
    staging = staging_dir(final)
    with tempfile.TemporaryDirectory(prefix="lfk8s-kubernetes-") as tmp:
        workdir = Path(tmp)
        report(f"fetching k8s.io/kubernetes {version} through the Go module proxy")
        upstream, released = download_module("k8s.io/kubernetes", version, workdir)
        (workdir / "go.mod").write_text(kubernetes_wrapper_gomod(upstream, version))
        # The release time, not now: the same inputs then give the same binary.
        ldflags = kubernetes_ldflags(version, released)
        # One binary per `go build`: each link takes about 2 GiB, and the shared build
        # cache makes the second and third cheap anyway.
        for name in commands:
            report(f"building {name} {version} from source (first run only, {_ESTIMATES[name]} on 2 cores)")
            build_main(workdir, f"k8s.io/kubernetes/cmd/{name}", staging / name, ldflags, KUBERNETES_BUILD_TAGS)
            check_version(staging / name, f"Kubernetes {version}")
    publish(staging, final)
    return binaries


def etcd_binary(report: Reporter = quiet) -> Path:
    """etcd at ETCD_VERSION."""
    final = etcd_dir()
    binary = final / "etcd"
    if binary.exists():
        return binary
    go_executable()  # fail before touching the cache
    staging = staging_dir(final)
    with tempfile.TemporaryDirectory(prefix="lfk8s-etcd-") as tmp:
        workdir = Path(tmp)
        report(f"building etcd {ETCD_VERSION} from source (first run only, {_ESTIMATES['etcd']} on 2 cores)")
        upstream, _ = download_module("go.etcd.io/etcd/server/v3", ETCD_VERSION, workdir)
        (workdir / "go.mod").write_text(etcd_wrapper_gomod(upstream, ETCD_VERSION))
        build_main(workdir, "go.etcd.io/etcd/server/v3", staging / "etcd", etcd_ldflags())
        check_version(staging / "etcd", f"etcd Version: {ETCD_VERSION.lstrip('v')}")
    publish(staging, final)
    return binary


def kwok_binary(report: Reporter = quiet) -> Path:
    """The kwok controller at KWOK_VERSION (its module has no replace lines: plain go install)."""
    tool = GoBinary(name="kwok", package="sigs.k8s.io/kwok/cmd/kwok", version=KWOK_VERSION,
                    ldflags=kwok_ldflags(KWOK_VERSION))
    if tool.path.exists():
        return tool.path
    report(f"kwok {KWOK_VERSION}: first build takes {_ESTIMATES['kwok']} on 2 cores")
    path = tool.ensure(report)
    try:
        check_version(path, KWOK_VERSION)
    except ToolchainError:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise
    return path


def ensure_cluster_binaries(report: Reporter = quiet) -> dict[str, Path]:
    """All five control-plane binaries, building whichever are not cached yet."""
    started = time.monotonic()
    binaries = dict(kubernetes_binaries(report))
    binaries["etcd"] = etcd_binary(report)
    binaries["kwok"] = kwok_binary(report)
    elapsed = time.monotonic() - started
    if elapsed > 5:
        report(f"cluster binaries ready in {elapsed / 60:.1f} minutes under {cache_dir()}")
    return binaries
