"""`images build|push|resolve|lint|lock|outdated`: the container images in images/."""

from __future__ import annotations

import argparse
import shlex
import sys

from rich.table import Table

from lfk8s.cli.console import stderr_console, stdout_console
from lfk8s.images import build, dockerfile, outdated, resolver, verify
from lfk8s.images.kind_node import ensure_node_image
from lfk8s.images.model import select
from lfk8s.images.pins import parse_pins
from lfk8s.paths import ProjectPaths


def _print_commands(commands: list[list[str]]) -> None:
    # Plain lines, one command each, never wrapped: they are for copying and for scripts.
    sys.stdout.write("".join(shlex.join(c) + "\n" for c in commands))


def cmd_build(args: argparse.Namespace, paths: ProjectPaths) -> int:
    commands = build.build(paths, args.names, registry=args.registry, engine=args.engine, dry_run=args.dry_run,
                           report=stderr_console().log)
    if args.dry_run:
        _print_commands(commands)
    return 0


def cmd_push(args: argparse.Namespace, paths: ProjectPaths) -> int:
    commands = build.push(paths, args.names, registry=args.registry, engine=args.engine, dry_run=args.dry_run,
                          report=stderr_console().log)
    if args.dry_run:
        _print_commands(commands)
    return 0


def cmd_resolve(args: argparse.Namespace, paths: ProjectPaths) -> int:
    out, log = stdout_console(), stderr_console().log
    failed = 0
    for image in select(paths, args.names):
        result = resolver.resolve(image, use_cache=not args.no_cache, report=log)
        out.print(result.summary(), markup=False, highlight=False, soft_wrap=True)
        failed += not result.ok
    if args.legacy_pins:
        legacy = resolver.resolve_legacy_pins(report=log)
        out.print(legacy.summary(), markup=False, highlight=False, soft_wrap=True)
        failed += legacy.ok  # the raw-manifest deployment's pins must NOT resolve
    return 1 if failed else 0


def cmd_lint(args: argparse.Namespace, paths: ProjectPaths) -> int:
    out = stdout_console()
    problems = 0
    for image in select(paths, args.names):
        errors = dockerfile.hadolint_errors(image.dockerfile, report=stderr_console().log)
        errors += dockerfile.final_stage_problems(image)
        out.print(f"{image.dockerfile.relative_to(paths.root)}: " + ("ok" if not errors else f"{len(errors)} findings"),
                  markup=False, highlight=False, soft_wrap=True)
        for error in errors:
            out.print("  " + error, markup=False, highlight=False, soft_wrap=True)
        problems += len(errors)
    return 1 if problems else 0


def cmd_lock(args: argparse.Namespace, paths: ProjectPaths) -> int:
    for image in select(paths, args.names):
        path = resolver.lock(image, report=stderr_console().log)
        count = len(parse_pins(path.read_text()))
        stdout_console().print(f"wrote {path.relative_to(paths.root)} ({count} packages)", markup=False)
    return 0


def cmd_outdated(args: argparse.Namespace, paths: ProjectPaths) -> int:
    """A report, not a check: it exits 0 whatever PyPI holds."""
    out = stdout_console()
    found = 0
    for image in select(paths, args.names):
        findings = outdated.outdated(image, report=stderr_console().log)
        found += len(findings)
        for finding in findings:
            out.print(str(finding), markup=False, highlight=False, soft_wrap=True)
    if not found:
        out.print("every override is still needed and every direct pin is the newest release")
    return 0


def cmd_verify(args: argparse.Namespace, paths: ProjectPaths) -> int:
    """Run each built image as the chart runs it; a table of checks, exit 1 when one fails."""
    table = Table("image", "check", "result", "detail", title="images run as the chart runs them")
    failed = 0
    for image in select(paths, args.names):
        for result in verify.verify(paths, image):
            failed += not result.passed
            table.add_row(image.name, result.check, "ok" if result.passed else "FAILED", result.detail)
    stdout_console().print(table)
    return 1 if failed else 0


def cmd_kind_node(args: argparse.Namespace, paths: ProjectPaths) -> int:
    """The kind node image `cluster up --backend kind` uses: built once, then taken from docker."""
    stdout_console().print(ensure_node_image(stderr_console().log), markup=False, highlight=False)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("images", help="the container images in images/: lock, resolve, lint, build, verify, push, "
                                          "outdated")
    actions = p.add_subparsers(dest="action", required=True)

    def with_names(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text)
        parser.add_argument("names", nargs="*", help="image names (directories in images/); default: all")
        return parser

    for action, func, text in (("build", cmd_build, "build the images, tagged as the chart's values.yaml names them"),
                               ("push", cmd_push, "push the images built with `images build`")):
        a = with_names(action, text)
        a.add_argument("--registry", help="replace the registry host of images.<name>.repository (e.g. a local mirror)")
        a.add_argument("--engine", choices=build.ENGINES,
                       help="default: the first of docker, podman, buildah that works")
        a.add_argument("--dry-run", action="store_true", help="print the commands; run nothing")
        a.set_defaults(func=func)

    a = with_names("resolve", "prove each requirements.lock installs (pip's resolver against PyPI)")
    a.add_argument("--no-cache", action="store_true", help="ignore cached successful results")
    a.add_argument("--legacy-pins", action="store_true",
                   help="also show that the raw-manifest deployment's training pins do not resolve")
    a.set_defaults(func=cmd_resolve)

    a = with_names("lint", "hadolint every Dockerfile (no rule ignored but by the Dockerfile's own comments) "
                           "and check each final stage (USER 10001, no build tools)")
    a.set_defaults(func=cmd_lint)

    a = with_names("lock", "regenerate requirements.lock from requirements.in")
    a.set_defaults(func=cmd_lock)

    a = with_names("verify", "run each built image as the chart runs it (uid, read-only root, no capabilities): "
                             "pip check, imports at the lock's versions, the CLI the chart calls, no build CA")
    a.set_defaults(func=cmd_verify)

    k = actions.add_parser("kind-node", help="build (once) the kind node image for the pinned Kubernetes, no registry "
                                             "needed; prints its reference")
    k.set_defaults(func=cmd_kind_node)

    a = with_names("outdated", "report overrides PyPI no longer needs and direct pins with newer releases")
    a.set_defaults(func=cmd_outdated)
