"""`schema`, `values`, `render`, `lint`, `golden`: the chart and its values files, no cluster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from rich.markup import escape
from rich.table import Table

from lfk8s import versions
from lfk8s.chart import profiles, rendering, schema, values, yaml_traps
from lfk8s.chart.checks import lint_values_file
from lfk8s.chart.helm import Helm, HelmError
from lfk8s.cli.console import stderr_console, stdout_console
from lfk8s.paths import ProjectPaths
from lfk8s.release import publish
from lfk8s.toolchain.pinned import ensure_helm


def helm_client(major: int) -> Helm:
    return Helm(ensure_helm(major, stderr_console().log))


def every_helm() -> list[Helm]:
    """Helm 4 first (it renders what is checked), then Helm 3."""
    return [helm_client(major) for major in sorted(versions.HELM_VERSIONS, reverse=True)]


def cmd_schema(args: argparse.Namespace, paths: ProjectPaths) -> int:
    console = stderr_console()
    if args.check:
        stale = schema.stale_files(paths)
        for path in stale:
            console.print(f"[red]out of date:[/] {path.relative_to(paths.root)} (run `lfk8s schema generate`)")
        return 1 if stale else 0
    for path in schema.write_generated(paths):
        console.print(f"wrote {path.relative_to(paths.root)}")
    return 0


def cmd_values_generate(args: argparse.Namespace, paths: ProjectPaths) -> int:
    console = stderr_console()
    if args.profile:
        profile = profiles.Profile.load(args.profile)
        content = profiles.render_file(profile, args.profile, paths)
        values.validate(yaml.safe_load(content), paths, str(args.profile))
        if args.output:
            args.output.write_text(content)
            console.print(f"wrote {args.output}")
        else:
            sys.stdout.write(content)
        return 0
    changed = profiles.generate_all(paths, check_only=args.check)
    for path in changed:
        verb = "out of date:" if args.check else "wrote"
        console.print(f"{verb} {path.relative_to(paths.root)}")
    return 1 if (args.check and changed) else 0


def plain_helm_error(source: str, error: HelmError, verbose: bool) -> str:
    """The chart's refusals one per line, without helm's wrapping; helm's text with --verbose."""
    refusals = values.preflight_problems(str(error))
    if not refusals:
        return str(error)
    text = f"{source}: invalid values:\n" + "\n".join(f"  - {line}" for line in refusals)
    return text + (f"\nhelm: {error}" if verbose else "")


def cmd_values_validate(args: argparse.Namespace, paths: ProjectPaths) -> int:
    console = stderr_console()
    helm = helm_client(versions.HELM_DEFAULT_MAJOR)
    failed = 0
    for path in args.files or rendering.values_files(paths):
        for trap in yaml_traps.file_traps(path, paths):
            console.print(f"[yellow]warning[/] {escape(str(path))}: {escape(str(trap))}", highlight=False)
        try:
            # The schema first (names every bad field), then the chart's own cross-field checks.
            rendering.render_file(helm, paths, path)
            console.print(f"[green]valid[/] {path}")
        except values.InvalidValues as error:
            failed += 1
            # escape: values and patterns hold brackets rich would take for markup.
            console.print(f"[red]invalid[/] {escape(str(error))}", highlight=False)
        except HelmError as error:
            failed += 1
            text = plain_helm_error(str(path), error, args.verbose)
            console.print(f"[red]invalid[/] {escape(text)}", highlight=False)
    return 1 if failed else 0


def cmd_chart_package(args: argparse.Namespace, paths: ProjectPaths) -> int:
    key = publish.SigningKey(args.key, args.keyring) if args.key else None
    archive = publish.package(helm_client(versions.HELM_DEFAULT_MAJOR), paths, args.destination, key)
    stdout_console().print(str(archive) + (" (signed: .prov beside it)" if key else ""), markup=False)
    return 0


def cmd_chart_push(args: argparse.Namespace, paths: ProjectPaths) -> int:
    output = publish.push(helm_client(versions.HELM_DEFAULT_MAJOR), args.package, args.repository, args.plain_http)
    stdout_console().print(output.strip() or f"pushed {args.package.name} to {args.repository}", markup=False)
    return 0


def cmd_chart_verify(args: argparse.Namespace, paths: ProjectPaths) -> int:
    output = publish.verify(helm_client(versions.HELM_DEFAULT_MAJOR), args.package, args.keyring)
    stdout_console().print(output.strip(), markup=False)
    return 0


def cmd_render(args: argparse.Namespace, paths: ProjectPaths) -> int:
    rendered = rendering.render_file(helm_client(args.helm), paths, args.values_file, args.release, args.namespace)
    if args.output:
        written = rendering.write_manifests(rendered, args.output)
        stderr_console().print(f"wrote {len(written)} manifests to {args.output}")
    else:
        sys.stdout.write(rendered.text)
    return 0


def cmd_lint(args: argparse.Namespace, paths: ProjectPaths) -> int:
    helms = every_helm()
    table = Table("values file", "helm lint", "kubernetes-validate", "checkov", "kube-score", "helm 3 = helm 4")
    problems = 0
    for path in args.files or rendering.values_files(paths):
        result = lint_values_file(helms, paths, path)
        name = str(path.relative_to(paths.root) if path.is_relative_to(paths.root) else path)
        if result.invalid:
            table.add_row(name, escape(result.invalid), "-", "-", "-", "-")
        else:
            checkov, score = result.checkov, result.kube_score
            assert checkov is not None and score is not None
            table.add_row(name, "ok", "\n".join(result.schema_errors) or "ok",
                          f"{checkov.passed} passed, {len(checkov.failed)} failed, {len(checkov.skipped)} skipped"
                          + "".join("\n" + f for f in checkov.failures()),
                          f"{len(score.critical)} critical, {len(score.warnings)} warnings, {score.skipped} skipped"
                          + "".join("\n" + escape(f) for f in score.critical),
                          "yes" if result.same_on_every_helm else "NO")
        problems += result.problems
    stderr_console().print(table)
    return 1 if problems else 0


def cmd_golden(args: argparse.Namespace, paths: ProjectPaths) -> int:
    console = stderr_console()
    drifted = rendering.drifted_goldens(helm_client(versions.HELM_DEFAULT_MAJOR), paths, update=args.update)
    for path in drifted:
        console.print(f"{'updated' if args.update else 'drifted'}: {path.relative_to(paths.root)}")
    if not drifted:
        console.print("golden renders are current")
    return 1 if (drifted and not args.update) else 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
    v.add_argument("--verbose", action="store_true", help="also print helm's own error for the chart's refusals")
    v.set_defaults(func=cmd_values_validate)

    p = sub.add_parser("chart", help="ship the chart: package (signed), push to an OCI registry, verify")
    cs = p.add_subparsers(dest="action", required=True)
    c = cs.add_parser("package", help="helm package, signed with --key/--keyring into a provenance file")
    c.add_argument("-d", "--destination", type=Path, default=Path("dist"))
    c.add_argument("--key", help="name of the OpenPGP signing key (its user id)")
    c.add_argument("--keyring", type=Path, default=Path.home() / ".gnupg" / "secring.gpg",
                   help="binary secret keyring with the key (gpg --export-secret-keys > secring.gpg)")
    c.set_defaults(func=cmd_chart_package)
    c = cs.add_parser("push", help="helm push a package to an OCI repository (oci://host/path)")
    c.add_argument("package", type=Path)
    c.add_argument("repository")
    c.add_argument("--plain-http", action="store_true", help="a registry without TLS (a local one)")
    c.set_defaults(func=cmd_chart_push)
    c = cs.add_parser("verify", help="helm verify a package against a public keyring")
    c.add_argument("package", type=Path)
    c.add_argument("--keyring", type=Path, required=True, help="binary public keyring (gpg --export > pubring.gpg)")
    c.set_defaults(func=cmd_chart_verify)

    p = sub.add_parser("render", help="helm template a values file, to stdout or a folder of manifests")
    p.add_argument("values_file", type=Path)
    p.add_argument("-o", "--output", type=Path, help="folder for one manifest per object")
    p.add_argument("--helm", type=int, choices=sorted(versions.HELM_VERSIONS), default=versions.HELM_DEFAULT_MAJOR)
    p.add_argument("--release", help="default: the chart's name")
    p.add_argument("--namespace", help="default: the file's namespace.name, else " + rendering.DEFAULT_NAMESPACE)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("lint", help="helm lint (3, 4), kubernetes-validate, checkov, kube-score on values files")
    p.add_argument("files", nargs="*", type=Path)
    p.set_defaults(func=cmd_lint)

    p = sub.add_parser("golden", help="compare (or --update) the golden renders in tests/golden/")
    p.add_argument("--update", action="store_true")
    p.set_defaults(func=cmd_golden)
