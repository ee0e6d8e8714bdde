"""`cluster up|down|status`: the local Kubernetes cluster with mocked GPU nodes, and MLflow beside it."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from lfk8s.cli.console import stderr_console, stdout_console
from lfk8s.cluster.kind import KindCluster
from lfk8s.cluster.local import ClusterError, LocalCluster, NodePool
from lfk8s.cluster.mlflow_server import MlflowServer
from lfk8s.cluster.node_images import busybox_archive
from lfk8s.cluster.nodes import node_summaries
from lfk8s.images.kind_node import ensure_node_image
from lfk8s.paths import ProjectPaths
from lfk8s.stack import test_hook_image
from lfk8s.toolchain.docker import docker_answers, ensure_docker


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", default="lfk8s", help="cluster name")
    parser.add_argument("--backend", choices=["kwok", "kind"], default="kwok",
                        help="kwok: local processes with mocked nodes (no Docker needed); "
                             "kind: kind nodes in Docker, from a node image built here")
    parser.add_argument("--gpu-nodes", type=int, default=2)
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--cpu-nodes", type=int, default=1)
    parser.add_argument("--mlflow-port", type=int, default=5000)
    parser.add_argument("--real-node", action="store_true",
                        help="kwok backend: also run one real, tainted CPU node here (containerd, kubelet; needs root)")


def node_pool(args: argparse.Namespace) -> NodePool:
    return NodePool(gpu_nodes=args.gpu_nodes, gpus_per_node=args.gpus_per_node, cpu_nodes=args.cpu_nodes)


def kubeconfig_of(args: argparse.Namespace) -> Path:
    """--kubeconfig, else the kubeconfig of the named local cluster of the chosen backend."""
    if getattr(args, "kubeconfig", None):
        return Path(args.kubeconfig)
    if getattr(args, "backend", "kwok") == "kind":
        return KindCluster(name=args.cluster).kubeconfig
    return LocalCluster(name=args.cluster).kubeconfig


def local_mlflow(args: argparse.Namespace) -> MlflowServer:
    """The local MLflow; with --backend kind, the one on kind's network gateway (the pods reach it)."""
    if getattr(args, "backend", "kwok") == "kind":
        return KindCluster(name=args.cluster).mlflow(args.mlflow_port)
    return MlflowServer.for_cluster(LocalCluster(name=args.cluster), args.mlflow_port)


def cluster_up(args: argparse.Namespace) -> None:
    console = stderr_console()
    if args.backend == "kind":
        if args.real_node:
            raise ClusterError("--real-node is for the kwok backend (kind's nodes are all real)")
        with console.status("bringing the kind cluster up") as spinner:
            def report_kind(message: str) -> None:
                spinner.update(message)
                console.log(message)

            if not docker_answers():
                ensure_docker(report_kind)
            image = ensure_node_image(report_kind)
            kind = KindCluster(name=args.cluster, pool=node_pool(args))
            kind.up(image, report_kind)
            # The chart's helm test hooks run this image; nothing can pull it here.
            kind.load_archive(busybox_archive(test_hook_image(ProjectPaths.discover()), report_kind), report_kind)
            kind.mlflow(args.mlflow_port).start(console.log)
        return
    with console.status("bringing the local cluster up") as spinner:
        cluster = LocalCluster(name=args.cluster, pool=node_pool(args), real_node=args.real_node)

        def report(message: str) -> None:
            spinner.update(message)
            console.log(message)

        cluster.up(report=report)
        MlflowServer.for_cluster(cluster, args.mlflow_port).start(console.log)


def cmd_cluster_up(args: argparse.Namespace, paths: ProjectPaths) -> int:
    cluster_up(args)
    return cmd_cluster_status(args, paths)


def cmd_cluster_down(args: argparse.Namespace, paths: ProjectPaths) -> int:
    if args.backend == "kind":
        KindCluster(name=args.cluster).down(stderr_console().log)
        stderr_console().print("kind cluster deleted and its state removed")
        return 0
    cluster = LocalCluster(name=args.cluster)
    local_mlflow(args).stop()
    cluster.down(stderr_console().log)
    stderr_console().print("local cluster stopped and its state removed")
    return 0


def kind_status(args: argparse.Namespace) -> int:
    kind = KindCluster(name=args.cluster)
    if not kind.kubeconfig.exists():
        stderr_console().print(f"kind cluster {kind.name} is not up (no {kind.kubeconfig})")
        return 1
    nodes = Table("node", "GPUs", "taints", "ready", title=f"kind cluster {kind.name} ({kind.kubeconfig})")
    summaries = node_summaries(kind.api_client())
    for node in summaries:
        nodes.add_row(node.name, node.gpus, node.taints, "yes" if node.ready else "no")
    stdout_console().print(nodes)
    return 0 if summaries and all(node.ready for node in summaries) else 1


def cmd_cluster_status(args: argparse.Namespace, paths: ProjectPaths) -> int:
    if args.backend == "kind":
        return kind_status(args)
    cluster = LocalCluster(name=args.cluster)
    table = Table("component", "running", title=f"local cluster {cluster.name} ({cluster.kubeconfig})")
    running = cluster.running()
    for component, alive in running.items():
        table.add_row(component, "yes" if alive else "no")
    mlflow = local_mlflow(args)
    table.add_row(f"mlflow ({mlflow.url})", "yes" if mlflow.healthy() else "no")
    stdout_console().print(table)
    if not all(running.values()):
        return 1
    nodes = Table("node", "kind", "GPUs", "taints", "ready", title="nodes")
    for node in node_summaries(cluster.api_client()):
        kind = "real" if node.real else "mocked"
        nodes.add_row(node.name, kind, node.gpus, node.taints, "yes" if node.ready else "no")
    stdout_console().print(nodes)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("cluster", help="the local Kubernetes cluster with mocked GPU nodes")
    actions = p.add_subparsers(dest="action", required=True)
    for action, func, text in (("up", cmd_cluster_up, "start it (idempotent) with MLflow beside it"),
                               ("down", cmd_cluster_down, "stop everything and remove its state"),
                               ("status", cmd_cluster_status, "what runs, and the nodes")):
        command = actions.add_parser(action, help=text)
        add_cluster_options(command)
        command.set_defaults(func=func)
