"""lfk8s: the command line. A thin layer: every command calls functions the tests call too."""

from __future__ import annotations

import argparse
import sys

from rich.markup import escape

from lfk8s.chart.helm import HelmError
from lfk8s.chart.values import InvalidValues, preflight_problems
from lfk8s.cli import bench, chart, cluster, images, release, toolchain
from lfk8s.cli.chart import plain_helm_error
from lfk8s.cli.console import stderr_console
from lfk8s.cluster.local import ClusterError
from lfk8s.paths import ProjectPaths
from lfk8s.release.target import NoCluster
from lfk8s.release.watch import ReleaseStuck
from lfk8s.toolchain.builders import ToolchainError

# Each command group registers its own subcommands next to their handlers.
COMMAND_GROUPS = (toolchain, chart, cluster, release, images, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lfk8s", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths = ProjectPaths.discover()
    try:
        code: int = args.func(args, paths)
        return code
    except ReleaseStuck as stuck:
        # Plain text: the container log lines it quotes may hold brackets rich would read as markup.
        stderr_console().print("error: " + str(stuck), markup=False, highlight=False)
        if getattr(args, "verbose", False) and stuck.helm_error:
            stderr_console().print("helm: " + stuck.helm_error, markup=False, highlight=False)
        return 2
    except HelmError as error:
        if preflight_problems(str(error)):
            source = str(getattr(args, "values_file", None) or "values")
            stderr_console().print("error: " + plain_helm_error(source, error, getattr(args, "verbose", False)),
                                   markup=False, highlight=False)
        else:
            stderr_console().print(f"[red]error:[/] {escape(str(error))}")
        return 2
    except (InvalidValues, ToolchainError, ClusterError, NoCluster, RuntimeError) as error:
        stderr_console().print(f"[red]error:[/] {escape(str(error))}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
