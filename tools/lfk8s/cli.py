"""lfk8s: the command line. A thin layer: every command calls functions the tests call too."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

from rich.console import Console as RichConsole
from rich.table import Table

from lfk8s import chart, checks, images, release, schema, toolchain, upgrades, values, versions
from lfk8s import status as status_mod
from lfk8s.cluster import ClusterError, LocalCluster, NodePool
from lfk8s.helm import Helm, HelmError
from lfk8s.kind import KindCluster
from lfk8s.mlflow_server import MlflowServer
from lfk8s.paths import ProjectPaths

console = RichConsole(stderr=True, width=None if sys.stderr.isatty() else 150)


def stdout() -> RichConsole:
    """Tables stay readable in CI logs, where rich would otherwise assume 80 columns."""
    return RichConsole(width=None if sys.stdout.isatty() else 150)


def _helm(major: int) -> Helm:
    return Helm(toolchain.ensure_helm(major, console.log))


def cmd_toolchain(args: argparse.Namespace, paths: ProjectPaths) -> int:
    table = Table("tool", "version", "path")
    for name, path in toolchain.ensure_all(console.log).items():
        # Each path is keyed by its version: <cache>/<tool>-<version>/...
        table.add_row(name, path.relative_to(toolchain.cache_dir()).parts[0].split("-")[-1], str(path))
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
            schema_errors = checks.kubernetes_schema_errors(renders[0]).errors
            row.append("ok" if not schema_errors else "\n".join(schema_errors))
            report = checks.run_checkov(renders[0])
            row.append(f"{report.passed} passed, {len(report.failed)} failed, {len(report.skipped)} skipped"
                       + ("".join("\n" + f for f in report.failures())))
            same = all(r.comparable() == renders[0].comparable() for r in renders[1:])
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
    stdout().print(table)
    return 0


# ---------- the local cluster and releases in it ----------

def _pool(args: argparse.Namespace) -> NodePool:
    return NodePool(gpu_nodes=args.gpu_nodes, gpus_per_node=args.gpus_per_node, cpu_nodes=args.cpu_nodes)


def _local(args: argparse.Namespace) -> LocalCluster:
    return LocalCluster(name=args.cluster, pool=_pool(args))


def _kubeconfig(args: argparse.Namespace) -> Path:
    if getattr(args, "kubeconfig", None):
        return args.kubeconfig
    if getattr(args, "backend", "kwok") == "kind":
        return KindCluster(name=args.cluster).kubeconfig
    return LocalCluster(name=args.cluster).kubeconfig


def _target(args: argparse.Namespace, paths: ProjectPaths) -> release.Target:
    from kubernetes import config as kube_config

    kubeconfig = _kubeconfig(args)
    if not kubeconfig.exists():
        raise ClusterError(f"no cluster: {kubeconfig} does not exist (run `lfk8s cluster up`)")
    helm = Helm(toolchain.ensure_helm(versions.HELM_DEFAULT_MAJOR, console.log), kubeconfig=kubeconfig)
    api = kube_config.new_client_from_config(config_file=str(kubeconfig))
    return release.Target(helm=helm, api=api, paths=paths, release=args.release, namespace=args.namespace)


def cluster_up(args: argparse.Namespace) -> None:
    if args.backend == "kind":
        kind = KindCluster(name=args.cluster, pool=_pool(args))
        why = KindCluster.available()
        if why:
            kind.write_config()
            raise ClusterError(f"{why}. Config written to {kind.config_path}; run: {' '.join(kind.create_command())}")
        kind.up()
        return
    with console.status("bringing the local cluster up") as spinner:
        cluster = _local(args)
        cluster.up(report=lambda m: (spinner.update(m), console.log(m)))
        MlflowServer.for_cluster(cluster, args.mlflow_port).start(console.log)


def cmd_cluster_up(args: argparse.Namespace, paths: ProjectPaths) -> int:
    cluster_up(args)
    return cmd_cluster_status(args, paths)


def cmd_cluster_down(args: argparse.Namespace, paths: ProjectPaths) -> int:
    if args.backend == "kind":
        KindCluster(name=args.cluster).down()
        return 0
    cluster = LocalCluster(name=args.cluster)
    MlflowServer.for_cluster(cluster, args.mlflow_port).stop()
    cluster.down(console.log)
    console.print("local cluster stopped and its state removed")
    return 0


def cmd_cluster_status(args: argparse.Namespace, paths: ProjectPaths) -> int:
    cluster = LocalCluster(name=args.cluster)
    table = Table("component", "running", title=f"local cluster {cluster.name} ({cluster.kubeconfig})")
    running = cluster.running()
    for component, alive in running.items():
        table.add_row(component, "yes" if alive else "no")
    mlflow = MlflowServer.for_cluster(cluster, args.mlflow_port)
    table.add_row(f"mlflow ({mlflow.url})", "yes" if mlflow.healthy() else "no")
    stdout().print(table)
    if not all(running.values()):
        return 1
    from kubernetes import client
    nodes = Table("node", "GPUs", "taints", "ready", title="nodes")
    for node in client.CoreV1Api(cluster.api_client()).list_node().items:
        ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
        taints = ", ".join(f"{t.key}={t.value or ''}:{t.effect}" for t in node.spec.taints or []) or "-"
        nodes.add_row(node.metadata.name, (node.status.allocatable or {}).get("nvidia.com/gpu", "0"), taints, "yes" if ready else "no")
    stdout().print(nodes)
    return 0


def _check_mlflow_wiring(target: release.Target, mlflow: MlflowServer, data: dict) -> None:
    """When the release's Secret points at the local MLflow, prove it answers through MLflow's client."""
    uri, secret_name = release.mlflow_tracking_uri(target, data.get("mlflow", {}).get("existingSecret", ""))
    if not uri:
        console.log("no MLflow Secret in this release: nothing to check")
    elif uri.rstrip("/") != mlflow.url:
        console.log(f"MLflow Secret {secret_name} points at {uri}, not the local MLflow: not checked")
    else:
        experiment = data.get("mlflow", {}).get("experimentName", "llama-factory")
        experiment_id = mlflow.ensure_experiment(experiment, uri)
        console.log(f"MLflow at {uri} (from Secret {secret_name}) answers: experiment {experiment!r} has id {experiment_id}")


def install_file(args: argparse.Namespace, paths: ProjectPaths, values_file: Path) -> release.Target:
    target = _target(args, paths)
    data = values.load(values_file)
    values.validate(data, paths, str(values_file))
    release.ensure_namespace(target)
    with console.status(f"helm upgrade --install {target.release} -f {values_file} --wait --wait-for-jobs"):
        release.install(target, data, timeout=args.timeout)
    _check_mlflow_wiring(target, MlflowServer.for_cluster(LocalCluster(name=args.cluster), args.mlflow_port), data)
    return target


def cmd_install(args: argparse.Namespace, paths: ProjectPaths) -> int:
    target = install_file(args, paths, args.values_file)
    stdout().print(status_mod.tables(target))
    return 0


def cmd_status(args: argparse.Namespace, paths: ProjectPaths) -> int:
    stdout().print(status_mod.tables(_target(args, paths)))
    return 0


def cmd_test(args: argparse.Namespace, paths: ProjectPaths) -> int:
    target = _target(args, paths)
    stdout().print(target.helm.test(target.release, target.namespace))
    return 0


def cmd_check_upgrade(args: argparse.Namespace, paths: ProjectPaths) -> int:
    target = _target(args, paths)
    data = values.load(args.values_file)
    release.ensure_namespace(target)
    steps = upgrades.check_upgrade(target, data, timeout=args.timeout, report=console.log)
    table = Table("check", "result", "detail", title=f"upgrade checks for {args.values_file}")
    for step in steps:
        table.add_row(step.name, "[green]pass[/]" if step.ok else "[red]FAIL[/]", step.detail)
    stdout().print(table)
    return 0 if steps and all(step.ok for step in steps) else 1


def cmd_train(args: argparse.Namespace, paths: ProjectPaths) -> int:
    from lfk8s import operate

    target = _target(args, paths)
    run = operate.start_training_run(target, args.run_name)
    console.print(f"training run {run!r} started: MLflow run {run!r}, output {run} under storage.paths.loraOutput")
    console.print(f"follow it: bin/lfk8s logs training --release {target.release} --namespace {target.namespace}")
    return 0


def cmd_logs(args: argparse.Namespace, paths: ProjectPaths) -> int:
    from lfk8s import operate

    for pod, text in operate.logs(_target(args, paths), args.component, tail=args.tail):
        stdout().rule(pod)
        stdout().print(text, markup=False, highlight=False)
    return 0


def cmd_chat(args: argparse.Namespace, paths: ProjectPaths) -> int:
    from lfk8s import operate

    target = _target(args, paths)
    model = args.model or operate.served_model(target)
    key = operate.api_key(target)
    if args.url:
        answer = operate.chat_request(args.url, model, args.message, key)
    else:
        pod, port = operate.serving_pod(target, "router" if _router_on(target) else "inference")
        with operate.PortForward(target, pod, port) as forward:
            answer = operate.chat_request(forward.url, model, args.message, key)
    stdout().print(answer["choices"][0]["message"]["content"], markup=False)
    return 0


def _router_on(target: release.Target) -> bool:
    from lfk8s import operate
    return bool(operate.release_values_with_defaults(target)["inference"]["router"]["enabled"])


def cmd_port_forward(args: argparse.Namespace, paths: ProjectPaths) -> int:
    from lfk8s import operate
    import time as time_mod

    target = _target(args, paths)
    if args.what == "mlflow":
        uri, secret = release.mlflow_tracking_uri(target, operate.release_values_with_defaults(target)["mlflow"]["existingSecret"])
        console.print(f"MLflow (from Secret {secret}): {uri or 'not configured'}")
        return 0 if uri else 1
    component = "router" if args.what == "inference" and _router_on(target) else args.what
    pod, port = operate.serving_pod(target, component)
    with operate.PortForward(target, pod, port, args.local_port or port) as forward:
        console.print(f"{args.what}: {forward.url} -> pod {pod}:{port} (Ctrl-C to stop)")
        try:
            while True:
                time_mod.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


def cmd_cleanup(args: argparse.Namespace, paths: ProjectPaths) -> int:
    from lfk8s import operate

    removed = operate.cleanup_finished_jobs(_target(args, paths))
    if not removed:
        console.print("no finished Jobs")
    for component, jobs in removed.items():
        console.print(f"{component}: removed {', '.join(jobs)} (outputs stay on the storage; {component}.enabled is now false)")
    return 0


def cmd_up(args: argparse.Namespace, paths: ProjectPaths) -> int:
    """The main job: tools, the local cluster with mocked GPU nodes, MLflow, values/local.yaml installed, status."""
    toolchain.ensure_all(console.log)
    cluster_up(args)
    cmd_cluster_status(args, paths)
    target = install_file(args, paths, args.values_file)
    console.log(target.helm.test(target.release, target.namespace).strip())
    stdout().print(status_mod.tables(target))
    console.print(f"kubeconfig: export KUBECONFIG={_kubeconfig(args)}    tear down: bin/lfk8s cluster down")
    return 0


def cmd_bench_cluster(args: argparse.Namespace, paths: ProjectPaths) -> int:
    from lfk8s import bench

    figures = [bench.cold_start(args.runs, NodePool(), console.log)]
    figures += bench.release_figures(args.runs, paths, args.values_file, console.log)
    figures += bench.scaling(args.nodes, console.log)
    if args.uncached_build:
        figures.append(bench.uncached_build(console.log))
    table = Table("measurement", "median s", "runs", "memory MiB", "note", title="local cluster benchmark")
    for f in figures:
        table.add_row(f.name, "-" if f.median_s is None else f"{f.median_s:.2f}", str(f.runs or "-"),
                      "-" if f.memory_mib is None else f"{f.memory_mib:.0f}", f.note)
    stdout().print(table)
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

    def cluster_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--cluster", default="lfk8s", help="cluster name")
        p.add_argument("--backend", choices=["kwok", "kind"], default="kwok",
                       help="kwok: local processes with mocked nodes (no Docker needed); kind: Docker")
        p.add_argument("--gpu-nodes", type=int, default=2)
        p.add_argument("--gpus-per-node", type=int, default=8)
        p.add_argument("--cpu-nodes", type=int, default=1)
        p.add_argument("--mlflow-port", type=int, default=5000)

    def release_options(p: argparse.ArgumentParser) -> None:
        cluster_options(p)
        p.add_argument("--kubeconfig", type=Path, help="default: the local cluster's")
        p.add_argument("--release", default=chart.DEFAULT_RELEASE)
        p.add_argument("--namespace", default=chart.DEFAULT_NAMESPACE)
        p.add_argument("--timeout", default="5m")

    def release_command(name: str, help_text: str, func: Callable[..., int]) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text)
        release_options(command)
        command.set_defaults(func=func)
        return command

    p = sub.add_parser("up", help="the main job: tools, local cluster, MLflow, install values/local.yaml, status")
    release_options(p)
    p.add_argument("values_file", type=Path, nargs="?", default=Path("values/local.yaml"))
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("cluster", help="the local Kubernetes cluster with mocked GPU nodes")
    cs = p.add_subparsers(dest="action", required=True)
    for action, func, text in (("up", cmd_cluster_up, "start it (idempotent) with MLflow beside it"),
                               ("down", cmd_cluster_down, "stop everything and remove its state"),
                               ("status", cmd_cluster_status, "what runs, and the nodes")):
        c = cs.add_parser(action, help=text)
        cluster_options(c)
        c.set_defaults(func=func)

    p = release_command("install", "helm upgrade --install --wait --wait-for-jobs a values file, then status", cmd_install)
    p.add_argument("values_file", type=Path)

    p = release_command("status", "pods (nodes, GPUs), Jobs, Services and revision of a release", cmd_status)

    p = release_command("test", "helm test the release", cmd_test)

    p = release_command("check-upgrade", "prove idempotent upgrades and targeted rollouts", cmd_check_upgrade)
    p.add_argument("values_file", type=Path)

    p = release_command("train", "start a new training run (a helm upgrade with a new run name)", cmd_train)
    p.add_argument("--run-name", help="default: run-<UTC time>")

    p = release_command("logs", "a component's logs", cmd_logs)
    p.add_argument("component", choices=["training", "merge", "webui", "inference", "router"])
    p.add_argument("--tail", type=int, default=200)

    p = release_command("chat", "send a chat message to the endpoint with the right model name and key", cmd_chat)
    p.add_argument("message")
    p.add_argument("--url", help="the endpoint's base URL; default: forward to a serving pod through the API server")
    p.add_argument("--model", help="default: the served model (the adapter's name when a LoRA adapter is served)")

    p = release_command("port-forward", "reach the WebUI or the inference endpoint from this machine", cmd_port_forward)
    p.add_argument("what", choices=["webui", "inference", "mlflow"])
    p.add_argument("--local-port", type=int, default=0)

    p = release_command("cleanup", "remove finished training/merge Jobs through helm (no re-run on the next upgrade)", cmd_cleanup)

    images.register(sub)

    p = sub.add_parser("bench", help="benchmarks that print figures")
    bs = p.add_subparsers(dest="action", required=True)
    b = bs.add_parser("render", help="render time per values file, helm 4 and helm 3")
    b.add_argument("--runs", type=int, default=5)
    b.set_defaults(func=cmd_bench_render)
    b = bs.add_parser("cluster", help="cold start, install, no-op upgrade, helm test, memory, node scaling")
    b.add_argument("--runs", type=int, default=3)
    b.add_argument("--nodes", type=int, nargs="*", default=[10, 100, 1000], help="GPU node counts to scale to")
    b.add_argument("--uncached-build", action="store_true", help="also time building every Go tool into an empty cache")
    b.add_argument("values_file", type=Path, nargs="?", default=Path("values/local.yaml"))
    b.set_defaults(func=cmd_bench_cluster)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths = ProjectPaths.discover()
    try:
        return args.func(args, paths)
    except (values.InvalidValues, HelmError, toolchain.ToolchainError, ClusterError, release.Unschedulable,
            RuntimeError) as error:
        console.print(f"[red]error:[/] {error}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
