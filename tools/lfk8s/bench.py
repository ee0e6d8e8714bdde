"""Benchmarks that print figures (never asserted by tests): render time per values file, and the
local cluster's start, install, upgrade, helm test, memory and node scaling."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from lfk8s.chart import values
from lfk8s.chart.helm import Helm
from lfk8s.chart.rendering import render, values_files
from lfk8s.cluster.local import LocalCluster, NodePool
from lfk8s.paths import ProjectPaths
from lfk8s.progress import Reporter
from lfk8s.release.install import install
from lfk8s.release.target import Target, ensure_namespace
from lfk8s.toolchain import kubebuild, pinned


@dataclass(frozen=True)
class Figure:
    name: str
    median_s: float | None = None
    runs: int = 0
    memory_mib: float | None = None
    note: str = ""


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_and_best(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    samples = [_timed(fn) for _ in range(runs)]
    return statistics.median(samples), min(samples)


@dataclass(frozen=True)
class RenderTiming:
    values_file: Path
    seconds: dict[str, tuple[float, float]]  # helm version -> (median, best)
    objects: int


def render_timings(helms: list[Helm], paths: ProjectPaths, runs: int) -> list[RenderTiming]:
    """`helm template` time of every values file with each helm; helms[0] counts the objects."""
    timings = []
    for path in values_files(paths):
        data = values.load(path)
        seconds = {helm.version(): median_and_best(partial(render, helm, paths, data), runs) for helm in helms}
        timings.append(RenderTiming(path, seconds, len(render(helms[0], paths, data).objects)))
    return timings


def _mib(cluster: LocalCluster) -> float:
    return sum(cluster.resident_memory_bytes().values()) / 2**20


def cold_start(runs: int, pool: NodePool, report: Reporter) -> Figure:
    binaries = kubebuild.ensure_cluster_binaries(report)
    samples, memory = [], []
    with tempfile.TemporaryDirectory(prefix="lfk8s-bench-") as tmp:
        for i in range(runs):
            cluster = LocalCluster(name=f"bench-{i}", pool=pool, state_root=Path(tmp))
            try:
                samples.append(_timed(partial(cluster.up, binaries=binaries)))
                time.sleep(2)  # let the controllers settle before reading memory
                memory.append(_mib(cluster))
            finally:
                cluster.down()
            report(f"cold start {i + 1}/{runs}: {samples[-1]:.1f}s, {memory[-1]:.0f} MiB")
    return Figure(f"cluster cold start ({pool.gpu_nodes} GPU + {pool.cpu_nodes} CPU nodes, cached binaries)",
                  statistics.median(samples), runs, statistics.median(memory), "memory: RSS of all five processes")


def release_figures(runs: int, paths: ProjectPaths, values_file: Path, report: Reporter) -> list[Figure]:
    binaries = kubebuild.ensure_cluster_binaries(report)
    install_s, noop_s, test_s = [], [], []
    with tempfile.TemporaryDirectory(prefix="lfk8s-bench-") as tmp:
        cluster = LocalCluster(name="bench-release", state_root=Path(tmp))
        try:
            cluster.up(binaries=binaries)
            helm = Helm(pinned.ensure_helm(4), kubeconfig=cluster.kubeconfig)
            data = values.load(values_file)
            for i in range(runs):
                target = Target(helm, cluster.api_client(), paths, f"bench-{i}", f"bench-{uuid.uuid4().hex[:6]}")
                ensure_namespace(target)
                install_s.append(_timed(partial(install, target, data)))
                noop_s.append(_timed(partial(install, target, data)))
                test_s.append(_timed(partial(helm.test, target.release, target.namespace)))
                report(f"release {i + 1}/{runs}: install {install_s[-1]:.1f}s, "
                       f"no-op upgrade {noop_s[-1]:.1f}s, helm test {test_s[-1]:.1f}s")
            memory = _mib(cluster)
        finally:
            cluster.down()
    name = values_file.name
    return [Figure(f"install to ready ({name}, --wait --wait-for-jobs)", statistics.median(install_s), runs),
            Figure(f"no-op upgrade ({name})", statistics.median(noop_s), runs),
            Figure("helm test (2 hooks)", statistics.median(test_s), runs),
            Figure(f"cluster memory after {runs} releases", memory_mib=memory, note="RSS of all five processes")]


def scaling(node_counts: list[int], report: Reporter) -> list[Figure]:
    binaries = kubebuild.ensure_cluster_binaries(report)
    figures = []
    with tempfile.TemporaryDirectory(prefix="lfk8s-bench-") as tmp:
        for count in node_counts:
            pool = NodePool(gpu_nodes=count, cpu_nodes=1)
            cluster = LocalCluster(name=f"scale-{count}", pool=pool, state_root=Path(tmp))
            try:
                seconds = _timed(partial(cluster.up, binaries=binaries))
                time.sleep(2)
                memory = _mib(cluster)
            finally:
                cluster.down()
            report(f"{count} GPU nodes: {seconds:.1f}s, {memory:.0f} MiB")
            figures.append(Figure(f"start with {count} mocked GPU nodes (all Ready)", seconds, 1, memory))
    return figures


def uncached_build(report: Reporter) -> Figure:
    """Every Go binary built from nothing into a throwaway cache (Go's own caches stay warm)."""

    with tempfile.TemporaryDirectory(prefix="lfk8s-build-") as tmp:
        previous = os.environ.get("LFK8S_CACHE")
        os.environ["LFK8S_CACHE"] = tmp
        try:
            seconds = _timed(lambda: (pinned.ensure_helm(4, report), pinned.ensure_helm(3, report),
                                      kubebuild.ensure_cluster_binaries(report)))
        finally:
            if previous is None:
                os.environ.pop("LFK8S_CACHE", None)
            else:
                os.environ["LFK8S_CACHE"] = previous
    return Figure("build helm 4, helm 3, control plane, etcd, kwok (empty tool cache, warm Go cache)", seconds, 1)
