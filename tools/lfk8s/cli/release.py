"""Commands on a release in a cluster: install, status, test, check-upgrade, train, logs, chat,
port-forward, cleanup; and `up`, the main job."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.table import Table

from lfk8s import stack
from lfk8s.chart import overlays, values, yaml_traps
from lfk8s.chart.defaults import chart_name
from lfk8s.chart.rendering import DEFAULT_NAMESPACE
from lfk8s.cli.cluster import add_cluster_options, cluster_up, cmd_cluster_status, kubeconfig_of, local_mlflow
from lfk8s.cli.console import stderr_console, stdout_console
from lfk8s.cluster.kind import KindCluster
from lfk8s.cluster.local import LocalCluster
from lfk8s.paths import ProjectPaths
from lfk8s.release import operate, status, upgrades
from lfk8s.release.install import install
from lfk8s.release.target import Target, choose_namespace, connect, ensure_namespace, mlflow_tracking_uri, mlflow_wiring
from lfk8s.toolchain.pinned import ensure_all


def target_of(args: argparse.Namespace, paths: ProjectPaths, namespace: str | None = None) -> Target:
    """The release on the cluster; without a values file to say otherwise, in --namespace or the default."""
    return connect(paths, kubeconfig_of(args), args.release or chart_name(paths),
                   namespace or args.namespace or DEFAULT_NAMESPACE, stderr_console().log)


def target_for_values(args: argparse.Namespace, paths: ProjectPaths, data: dict[str, Any], source: str) -> Target:
    """The target a values file goes to (--namespace, else its namespace.name), its namespace
    created when missing with the values' namespace.labels. A contradiction is refused first."""
    namespace = choose_namespace(data, args.namespace, source)
    target = target_of(args, paths, namespace)
    labels = values.with_chart_defaults(data, paths)["namespace"]["labels"]
    if ensure_namespace(target, labels=labels):
        shown = ", ".join(f"{key}={value}" for key, value in labels.items()) or "none"
        stderr_console().log(f"created namespace {namespace} (labels: {shown})")
    return target


def check_mlflow_wiring(args: argparse.Namespace, target: Target, data: dict[str, object]) -> None:
    """When the release's Secret points at the local MLflow, prove it answers through MLflow's client."""
    log = stderr_console().log
    wiring = mlflow_wiring(target, data)
    mlflow = local_mlflow(args)
    if not wiring.tracking_uri:
        log("no MLflow Secret in this release: nothing to check")
    elif wiring.tracking_uri.rstrip("/") != mlflow.url:
        log(f"MLflow Secret {wiring.secret} points at {wiring.tracking_uri}, not the local MLflow: not checked")
    else:
        experiment_id = mlflow.ensure_experiment(wiring.experiment, wiring.tracking_uri)
        log(f"MLflow at {wiring.tracking_uri} (from Secret {wiring.secret}) answers: "
            f"experiment {wiring.experiment!r} has id {experiment_id}")


def install_file(args: argparse.Namespace, paths: ProjectPaths, values_file: Path) -> Target:
    data = values.load(values_file)
    for trap in yaml_traps.file_traps(values_file, paths):
        stderr_console().print(f"warning {values_file}: {trap}", markup=False, highlight=False)
    values.validate(data, paths, str(values_file))
    if getattr(args, "backend", "kwok") == "kind":
        return install_values(args, paths, *on_kind_cpu_worker(args, paths, data, str(values_file)))
    return install_values(args, paths, data, str(values_file))


def on_kind_cpu_worker(args: argparse.Namespace, paths: ProjectPaths, data: dict[str, Any],
                       source: str) -> tuple[dict[str, Any], str]:
    """--backend kind: a values file whose workloads all run on CPUs, placed on kind's CPU worker to
    run for real (training image imported there, tiny model on the storage, MLflow on kind's
    gateway); one with GPU-only engines unchanged: scheduled on the GPU workers, not run (mocked GPUs)."""
    log = stderr_console().log
    kind = KindCluster(name=args.cluster)
    mlflow = kind.mlflow(args.mlflow_port)
    namespace = choose_namespace(data, args.namespace, source)
    if needs_gpus := overlays.gpu_only_components(data, paths):
        log(f"{source}: {', '.join(needs_gpus)} need GPUs; installed unchanged: their pods are scheduled on the "
            "mocked GPU workers, not run")
        return data, source
    mlflow.start(log)
    return stack.values_on_kind(kind, paths, data, namespace, mlflow.url, log), f"{source} placed on kind's CPU worker"


def install_values(args: argparse.Namespace, paths: ProjectPaths, data: dict[str, Any], source: str) -> Target:
    target = target_for_values(args, paths, data, source)
    with stderr_console().status(f"helm upgrade --install {target.release} -n {target.namespace} -f {source} "
                                 "--wait --wait-for-jobs"):
        install(target, data, timeout=args.timeout)
    check_mlflow_wiring(args, target, data)
    return target


def cmd_install(args: argparse.Namespace, paths: ProjectPaths) -> int:
    target = install_file(args, paths, args.values_file)
    stdout_console().print(status.tables(target))
    return 0


def cmd_status(args: argparse.Namespace, paths: ProjectPaths) -> int:
    stdout_console().print(status.tables(target_of(args, paths)))
    return 0


def cmd_test(args: argparse.Namespace, paths: ProjectPaths) -> int:
    target = target_of(args, paths)
    stdout_console().print(target.helm.test(target.release, target.namespace))
    return 0


def cmd_check_upgrade(args: argparse.Namespace, paths: ProjectPaths) -> int:
    data = values.load(args.values_file)
    target = target_for_values(args, paths, data, str(args.values_file))
    steps = upgrades.check_upgrade(target, data, timeout=args.timeout, report=stderr_console().log)
    table = Table("check", "result", "detail", title=f"upgrade checks for {args.values_file}")
    for step in steps:
        table.add_row(step.name, "[green]pass[/]" if step.ok else "[red]FAIL[/]", step.detail)
    stdout_console().print(table)
    return 0 if steps and all(step.ok for step in steps) else 1


def cmd_train(args: argparse.Namespace, paths: ProjectPaths) -> int:
    target = target_of(args, paths)
    run = operate.start_training_run(target, args.run_name)
    console = stderr_console()
    console.print(f"training run {run!r} started: MLflow run {run!r}, output {run} under storage.paths.loraOutput")
    console.print(f"follow it: bin/lfk8s logs training --release {target.release} --namespace {target.namespace}")
    return 0


def cmd_logs(args: argparse.Namespace, paths: ProjectPaths) -> int:
    out = stdout_console()
    for pod, text in operate.logs(target_of(args, paths), args.component, tail=args.tail):
        out.rule(pod)
        out.print(text, markup=False, highlight=False)
    return 0


def cmd_chat(args: argparse.Namespace, paths: ProjectPaths) -> int:
    target = target_of(args, paths)
    model = args.model or operate.served_model(target)
    key = operate.api_key(target)
    if args.url:
        answer = operate.chat_request(args.url, model, args.message, key)
    else:
        pod, port = operate.serving_pod(target, operate.entry_component(target, "inference"))
        with operate.PortForward(target, pod, port) as forward:
            answer = operate.chat_request(forward.url, model, args.message, key)
    stdout_console().print(answer["choices"][0]["message"]["content"], markup=False)
    return 0


def cmd_port_forward(args: argparse.Namespace, paths: ProjectPaths) -> int:
    target = target_of(args, paths)
    console = stderr_console()
    if args.what == "mlflow":
        secret_name = operate.release_values_with_defaults(target)["mlflow"]["existingSecret"]
        uri, secret = mlflow_tracking_uri(target, secret_name)
        console.print(f"MLflow (from Secret {secret}): {uri or 'not configured'}")
        return 0 if uri else 1
    pod, port = operate.serving_pod(target, operate.entry_component(target, args.what))
    with operate.PortForward(target, pod, port, args.local_port or port) as forward:
        console.print(f"{args.what}: {forward.url} -> pod {pod}:{port} (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


def cmd_cleanup(args: argparse.Namespace, paths: ProjectPaths) -> int:
    console = stderr_console()
    removed = operate.cleanup_finished_jobs(target_of(args, paths))
    if not removed:
        console.print("no finished Jobs")
    for component, jobs in removed.items():
        console.print(f"{component}: removed {', '.join(jobs)} "
                      f"(outputs stay on the storage; {component}.enabled is now false)")
    return 0


def cmd_up(args: argparse.Namespace, paths: ProjectPaths) -> int:
    """The main job: tools, the local cluster with mocked GPU nodes, MLflow, values/local.yaml installed, status."""
    console = stderr_console()
    # A --namespace the values file contradicts is refused before anything starts.
    choose_namespace(values.load(args.values_file), args.namespace, str(args.values_file))
    ensure_all(console.log)
    cluster_up(args)
    cmd_cluster_status(args, paths)
    if args.real_node:
        placed = stack.values_file_on_real_node(LocalCluster(name=args.cluster), paths, args.values_file,
                                                local_mlflow(args).url, stderr_console().log)
        target = install_values(args, paths, placed, f"{args.values_file} placed on the real node")
    else:
        target = install_file(args, paths, args.values_file)
    console.log(target.helm.test(target.release, target.namespace).strip())
    stdout_console().print(status.tables(target))
    console.print(f"kubeconfig: export KUBECONFIG={kubeconfig_of(args)}    tear down: bin/lfk8s cluster down")
    return 0


def add_release_options(parser: argparse.ArgumentParser) -> None:
    add_cluster_options(parser)
    parser.add_argument("--kubeconfig", type=Path, help="default: the local cluster's")
    parser.add_argument("--release", help="default: the chart's name")
    parser.add_argument("--namespace", help="default: the values file's namespace.name, else " + DEFAULT_NAMESPACE)
    parser.add_argument("--timeout", default="5m")
    parser.add_argument("--verbose", action="store_true", help="also print helm's own error when a release is stuck")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    def command(name: str, help_text: str, func: Callable[[argparse.Namespace, ProjectPaths], int]) \
            -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
        add_release_options(parser)
        parser.set_defaults(func=func)
        return parser

    p = command("up", "the main job: tools, local cluster, MLflow, install values/local.yaml, status", cmd_up)
    p.add_argument("values_file", type=Path, nargs="?", default=Path("values/local.yaml"))

    p = command("install", "helm upgrade --install --wait --wait-for-jobs a values file, then status", cmd_install)
    p.add_argument("values_file", type=Path)

    command("status", "pods (nodes, GPUs), Jobs, Services and revision of a release", cmd_status)
    command("test", "helm test the release", cmd_test)

    p = command("check-upgrade", "prove idempotent upgrades and targeted rollouts", cmd_check_upgrade)
    p.add_argument("values_file", type=Path)

    p = command("train", "start a new training run (a helm upgrade with a new run name)", cmd_train)
    p.add_argument("--run-name", help="default: run-<UTC time>")

    p = command("logs", "a component's logs", cmd_logs)
    p.add_argument("component", choices=["training", "merge", "webui", "inference", "router"])
    p.add_argument("--tail", type=int, default=200)

    p = command("chat", "send a chat message to the endpoint with the right model name and key", cmd_chat)
    p.add_argument("message")
    p.add_argument("--url", help="the endpoint's base URL; default: forward to a serving pod through the API server")
    p.add_argument("--model", help="default: the served model (the adapter's name when a LoRA adapter is served)")

    p = command("port-forward", "reach the WebUI or the inference endpoint from this machine", cmd_port_forward)
    p.add_argument("what", choices=["webui", "inference", "mlflow"])
    p.add_argument("--local-port", type=int, default=0)

    command("cleanup", "remove finished training/merge Jobs through helm (no re-run on the next upgrade)", cmd_cleanup)
