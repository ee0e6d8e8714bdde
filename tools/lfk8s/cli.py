"""lfk8s: the command line. A thin layer: every command calls functions the tests call too."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.table import Table

from lfk8s import chart, checks, schema, toolchain, values, versions
from lfk8s.helm import Helm, HelmError
from lfk8s.paths import ProjectPaths

console = Console(stderr=True)


def _helm(major: int) -> Helm:
    return Helm(toolchain.ensure_helm(major, console.log))


def cmd_toolchain(args: argparse.Namespace, paths: ProjectPaths) -> int:
    table = Table("tool", "version", "path")
    for name, path in toolchain.ensure_all(console.log).items():
        version = Helm(path).version() if name.startswith("helm") else versions.CHECKOV_VERSION
        table.add_row(name, version, str(path))
    console.print(table)
    return 0


def cmd_schema(args: argparse.Namespace, paths: ProjectPaths) -> int:
    if args.check:
        stale = schema.stale_files(paths)
        for path in stale:
            console.print(f"[red]out of date:[/] {path.relative_to(paths.root)} (run `lfk8s schema generate`)")
        return 1 if stale else 0
    for path in schema.write_generated(paths):
        console.print(f"wrote {path.relative_to(paths.root)}")
    return 0


def cmd_values_generate(args: argparse.Namespace, paths: ProjectPaths) -> int:
    if args.profile:
        profile = values.Profile.load(args.profile)
        content = values.render_file(profile, args.profile)
        values.validate(values.yaml.safe_load(content), paths, str(args.profile))
        if args.output:
            args.output.write_text(content)
            console.print(f"wrote {args.output}")
        else:
            sys.stdout.write(content)
        return 0
    changed = values.generate_all(paths, check_only=args.check)
    for path in changed:
        verb = "out of date:" if args.check else "wrote"
        console.print(f"{verb} {path.relative_to(paths.root)}")
    return 1 if (args.check and changed) else 0


def cmd_values_validate(args: argparse.Namespace, paths: ProjectPaths) -> int:
    files = args.files or chart.values_files(paths)
    helm = _helm(versions.HELM_DEFAULT_MAJOR)
    failed = 0
    for path in files:
        try:
            # The schema first (names every bad field), then the chart's own cross-field checks.
            chart.render_file(helm, paths, path)
            console.print(f"[green]valid[/] {path}")
        except (values.InvalidValues, HelmError) as error:
            failed += 1
            console.print(f"[red]invalid[/] {error}")
    return 1 if failed else 0


def cmd_render(args: argparse.Namespace, paths: ProjectPaths) -> int:
    rendered = chart.render_file(_helm(args.helm), paths, args.values_file, args.release, args.namespace)
    if args.output:
        written = chart.write_manifests(rendered, args.output)
        console.print(f"wrote {len(written)} manifests to {args.output}")
    else:
        sys.stdout.write(rendered.text)
    return 0


def cmd_lint(args: argparse.Namespace, paths: ProjectPaths) -> int:
    files = args.files or chart.values_files(paths)
    helms = [_helm(major) for major in sorted(versions.HELM_VERSIONS, reverse=True)]
    table = Table("values file", "helm lint", "kubernetes-validate", "checkov", "helm 3 = helm 4")
    problems = 0
    for path in files:
        data = values.load(path)
        row = [str(path.relative_to(paths.root) if path.is_relative_to(paths.root) else path)]
        try:
            values.validate(data, paths, str(path))
            for helm in helms:
                helm.lint(paths.chart, data, chart.DEFAULT_NAMESPACE)
            row.append("ok")
            renders = [chart.render(helm, paths, data) for helm in helms]
            schema_errors = checks.kubernetes_schema_errors(renders[0])
            row.append("ok" if not schema_errors else "\n".join(schema_errors))
            report = checks.run_checkov(renders[0])
            row.append(f"{report.passed} passed, {len(report.failed)} failed, {len(report.skipped)} skipped"
                       + ("".join("\n" + f for f in report.failures())))
            same = all(r.objects == renders[0].objects for r in renders[1:])
            row.append("yes" if same else "NO")
            problems += bool(schema_errors) + len(report.failed) + (not same)
        except (values.InvalidValues, HelmError) as error:
            row += [str(error), "-", "-", "-"]
            problems += 1
        table.add_row(*row)
    console.print(table)
    return 1 if problems else 0


def cmd_golden(args: argparse.Namespace, paths: ProjectPaths) -> int:
    drifted = chart.drifted_goldens(_helm(versions.HELM_DEFAULT_MAJOR), paths, update=args.update)
    for path in drifted:
        console.print(f"{'updated' if args.update else 'drifted'}: {path.relative_to(paths.root)}")
    if not drifted:
        console.print("golden renders are current")
    return 1 if (drifted and not args.update) else 0


def _time(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples)


def cmd_bench_render(args: argparse.Namespace, paths: ProjectPaths) -> int:
    helms = {major: _helm(major) for major in sorted(versions.HELM_VERSIONS, reverse=True)}
    table = Table("values file", *(f"helm {h.version()} median (min) ms" for h in helms.values()), "objects")
    for path in chart.values_files(paths):
        data = values.load(path)
        cells = []
        for helm in helms.values():
            median, best = _time(lambda: chart.render(helm, paths, data), args.runs)
            cells.append(f"{median * 1000:.0f} ({best * 1000:.0f})")
        objects = len(chart.render(helms[versions.HELM_DEFAULT_MAJOR], paths, data).objects)
        table.add_row(path.name, *cells, str(objects))
    Console().print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lfk8s", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("toolchain", help="build/install the pinned tools (helm 4 and 3, checkov) into ~/.cache/lfk8s")
    p.set_defaults(func=cmd_toolchain)

    p = sub.add_parser("schema", help="the values schema and what is generated from it")
    ps = p.add_subparsers(dest="action", required=True)
    g = ps.add_parser("generate", help="write values.schema.json, values.yaml and the README values table")
    g.add_argument("--check", action="store_true", help="only report files that are out of date")
    g.set_defaults(func=cmd_schema)

    p = sub.add_parser("values", help="generate and validate values files")
    vs = p.add_subparsers(dest="action", required=True)
    g = vs.add_parser("generate", help="values/<env>.yaml from values/profiles/<env>.yaml (all, or one --profile)")
    g.add_argument("--profile", type=Path, help="one profile file")
    g.add_argument("-o", "--output", type=Path, help="where to write the values of --profile (default stdout)")
    g.add_argument("--check", action="store_true", help="only report values files that are out of date")
    g.set_defaults(func=cmd_values_generate)
    v = vs.add_parser("validate", help="validate values files (default: every values/*.yaml)")
    v.add_argument("files", nargs="*", type=Path)
    v.set_defaults(func=cmd_values_validate)

    p = sub.add_parser("render", help="helm template a values file, to stdout or a folder of manifests")
    p.add_argument("values_file", type=Path)
    p.add_argument("-o", "--output", type=Path, help="folder for one manifest per object")
    p.add_argument("--helm", type=int, choices=sorted(versions.HELM_VERSIONS), default=versions.HELM_DEFAULT_MAJOR)
    p.add_argument("--release", default=chart.DEFAULT_RELEASE)
    p.add_argument("--namespace", default=chart.DEFAULT_NAMESPACE)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("lint", help="helm lint (3 and 4), kubernetes-validate strict and checkov on values files")
    p.add_argument("files", nargs="*", type=Path)
    p.set_defaults(func=cmd_lint)

    p = sub.add_parser("golden", help="compare (or --update) the golden renders in tests/golden/")
    p.add_argument("--update", action="store_true")
    p.set_defaults(func=cmd_golden)

    p = sub.add_parser("bench", help="benchmarks that print figures")
    bs = p.add_subparsers(dest="action", required=True)
    b = bs.add_parser("render", help="render time per values file, helm 4 and helm 3")
    b.add_argument("--runs", type=int, default=5)
    b.set_defaults(func=cmd_bench_render)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths = ProjectPaths.discover()
    try:
        return args.func(args, paths)
    except (values.InvalidValues, HelmError, toolchain.ToolchainError) as error:
        console.print(f"[red]error:[/] {error}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
