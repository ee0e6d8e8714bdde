"""`bench render|cluster`: benchmarks that print figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from lfk8s import bench
from lfk8s.cli.chart import every_helm
from lfk8s.cli.console import stderr_console, stdout_console
from lfk8s.cluster.local import NodePool
from lfk8s.paths import ProjectPaths


def cmd_bench_render(args: argparse.Namespace, paths: ProjectPaths) -> int:
    helms = every_helm()
    timings = bench.render_timings(helms, paths, args.runs)
    table = Table("values file", *(f"helm {h.version()} median (min) ms" for h in helms), "objects")
    for timing in timings:
        cells = [f"{median * 1000:.0f} ({best * 1000:.0f})" for median, best in timing.seconds.values()]
        table.add_row(timing.values_file.name, *cells, str(timing.objects))
    stdout_console().print(table)
    return 0


def cmd_bench_cluster(args: argparse.Namespace, paths: ProjectPaths) -> int:
    log = stderr_console().log
    figures = [bench.cold_start(args.runs, NodePool(), log)]
    figures += bench.release_figures(args.runs, paths, args.values_file, log)
    figures += bench.scaling(args.nodes, log)
    if args.uncached_build:
        figures.append(bench.uncached_build(log))
    table = Table("measurement", "median s", "runs", "memory MiB", "note", title="local cluster benchmark")
    for f in figures:
        table.add_row(f.name, "-" if f.median_s is None else f"{f.median_s:.2f}", str(f.runs or "-"),
                      "-" if f.memory_mib is None else f"{f.memory_mib:.0f}", f.note)
    stdout_console().print(table)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench", help="benchmarks that print figures")
    actions = p.add_subparsers(dest="action", required=True)
    b = actions.add_parser("render", help="render time per values file, helm 4 and helm 3")
    b.add_argument("--runs", type=int, default=5)
    b.set_defaults(func=cmd_bench_render)
    b = actions.add_parser("cluster", help="cold start, install, no-op upgrade, helm test, memory, node scaling")
    b.add_argument("--runs", type=int, default=3)
    b.add_argument("--nodes", type=int, nargs="*", default=[10, 100, 1000], help="GPU node counts to scale to")
    b.add_argument("--uncached-build", action="store_true", help="also time building every Go tool into an empty cache")
    b.add_argument("values_file", type=Path, nargs="?", default=Path("values/local.yaml"))
    b.set_defaults(func=cmd_bench_cluster)
