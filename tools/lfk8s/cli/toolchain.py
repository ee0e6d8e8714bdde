"""`toolchain`: build or install every pinned tool, with progress, and list them."""

from __future__ import annotations

import argparse

from rich.table import Table

from lfk8s.cli.console import stderr_console
from lfk8s.paths import ProjectPaths, cache_dir
from lfk8s.toolchain.pinned import ensure_helms, ensure_other_tools


def cmd_toolchain(args: argparse.Namespace, paths: ProjectPaths) -> int:
    console = stderr_console()
    table = Table("tool", "version", "from", "path")
    for name, choice in ensure_helms(console.log).items():
        table.add_row(name, choice.version, choice.source, str(choice.path))
    for name, path in ensure_other_tools(console.log).items():
        # Each path is keyed by its version: <cache>/<tool>-<version>/...
        version = path.relative_to(cache_dir()).parts[0].split("-")[-1] if path.is_relative_to(cache_dir()) else ""
        table.add_row(name, version, "cache", str(path))
    console.print(table)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("toolchain",
                       help="build/install the pinned tools (helm 4 and 3, checkov, ...) into ~/.cache/lfk8s; "
                            "helm: $LFK8S_HELM / $LFK8S_HELM3 or helm on PATH when it fits")
    p.set_defaults(func=cmd_toolchain)
