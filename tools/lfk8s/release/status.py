"""What a release runs, as tables: pods with their nodes and GPUs, Jobs, Services, revision."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group
from rich.table import Table

from lfk8s.chart.helm import HelmError
from lfk8s.release.install import gpu_request, unschedulable_pods
from lfk8s.release.target import Target


@dataclass(frozen=True)
class PodRow:
    name: str
    component: str
    phase: str
    ready: bool
    node: str
    node_is_gpu: bool
    gpus: int


def pod_rows(target: Target) -> list[PodRow]:
    gpu_nodes = {node.metadata.name for node in target.core.list_node(label_selector="nvidia.com/gpu=true").items}
    rows = []
    for pod in target.core.list_namespaced_pod(target.namespace, label_selector=target.selector).items:
        ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
        node = pod.spec.node_name or ""
        rows.append(PodRow(pod.metadata.name, (pod.metadata.labels or {}).get("app.kubernetes.io/component", ""),
                           pod.status.phase or "", ready, node, node in gpu_nodes, gpu_request(pod)))
    return sorted(rows, key=lambda r: (r.component, r.name))


def tables(target: Target) -> Group:
    revision = "-"
    try:
        status = target.helm.status(target.release, target.namespace)
        revision = f"{status.get('version')} ({status.get('info', {}).get('status')})"
    except HelmError:
        revision = "not installed"
    header = Table(title=f"release {target.release} in namespace {target.namespace}", show_header=False)
    header.add_row("revision", revision)

    pods = Table("pod", "component", "phase", "ready", "node", "GPUs", title="pods")
    for row in pod_rows(target):
        node = f"{row.node} (GPU node)" if row.node_is_gpu else (row.node or "-")
        pods.add_row(row.name, row.component, row.phase, "yes" if row.ready else "no", node, str(row.gpus))

    jobs = Table("job", "component", "succeeded", "failed", "complete", title="jobs")
    for job in target.batch.list_namespaced_job(target.namespace, label_selector=target.selector).items:
        complete = any(c.type == "Complete" and c.status == "True" for c in job.status.conditions or [])
        jobs.add_row(job.metadata.name, (job.metadata.labels or {}).get("app.kubernetes.io/component", ""),
                     str(job.status.succeeded or 0), str(job.status.failed or 0), "yes" if complete else "no")

    services = Table("service", "type", "ports", "reach it with", title="services")
    for svc in target.core.list_namespaced_service(target.namespace, label_selector=target.selector).items:
        ports = ", ".join(f"{p.port}/{p.protocol}" for p in svc.spec.ports or [])
        first = (svc.spec.ports or [None])[0]
        how = (f"kubectl -n {target.namespace} port-forward svc/{svc.metadata.name} {first.port}:{first.port}"
               if first else "-")
        services.add_row(svc.metadata.name, svc.spec.type, ports, how)

    parts: list[Table] = [header, pods, jobs, services]
    problems = unschedulable_pods(target)
    if problems:
        stuck = Table("why pods are Pending", title="scheduling problems")
        for problem in problems:
            stuck.add_row(str(problem))
        parts.append(stuck)
    return Group(*parts)
