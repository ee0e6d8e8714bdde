"""`cluster up|down|status`: the local Kubernetes cluster with mocked GPU nodes, and MLflow beside it."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from lfk8s.cli.console import stderr_console, stdout_console
from lfk8s.cluster.kind import KindCluster
from lfk8s.cluster.local import ClusterError, LocalCluster, NodePool
from lfk8s.cluster.mlflow_server import MlflowServer
from lfk8s.cluster.nodes import node_summaries
from lfk8s.paths import ProjectPaths


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", default="lfk8s", help="cluster name")
    parser.add_argument("--backend", choices=["kwok", "kind"], default="kwok",
                        help="kwok: local processes with mocked nodes (no Docker needed); kind: Docker")
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
    return MlflowServer.for_cluster(LocalCluster(name=args.cluster), args.mlflow_port)


def cluster_up(args: argparse.Namespace) -> None:
    console = stderr_console()
    if args.backend == "kind":
        if args.real_node:
            raise ClusterError("--real-node is for the kwok backend (kind's nodes are all real)")
        kind = KindCluster(name=args.cluster, pool=node_pool(args))
        why = KindCluster.available()
        if why:
            kind.write_config()
            raise ClusterError(f"{why}. Config written to {kind.config_path}; run: {' '.join(kind.create_command())}")
        kind.up()
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
        KindCluster(name=args.cluster).down()
        return 0
    cluster = LocalCluster(name=args.cluster)
    local_mlflow(args).stop()
    cluster.down(stderr_console().log)
    stderr_console().print("local cluster stopped and its state removed")
    return 0


def cmd_cluster_status(args: argparse.Namespace, paths: ProjectPaths) -> int:
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
