"""Operating a release: new training runs, logs, chat, port-forwards, finished-Job cleanup.

The raw-manifest deployment's shell scripts (train.sh, ui.sh, status.sh, cleanup.sh, the curl test), done
through helm and the Kubernetes API so they work the same on any cluster.
"""

from __future__ import annotations

import base64
import datetime
import json
import select
import socket
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from kubernetes.client.rest import ApiException
from kubernetes.stream import portforward

from lfk8s.chart.values import deep_merge, with_chart_defaults
from lfk8s.release.install import install
from lfk8s.release.target import Target
from lfk8s.release.watch import wait_until

JOB_COMPONENTS = ("training", "merge")


class OperateError(RuntimeError):
    pass


def current_values(target: Target) -> dict[str, Any]:
    """The user-supplied values of the deployed revision (`helm get values`)."""
    output = target.helm.run(["get", "values", target.release, "--namespace", target.namespace, "--output", "json"])
    return cast(dict[str, Any], json.loads(output) or {})


def new_run_name(now: datetime.datetime | None = None) -> str:
    stamp = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y%m%d-%H%M%S")
    return f"run-{stamp}"


def start_training_run(target: Target, run_name: str | None = None, overrides: dict[str, Any] | None = None,
                       start_timeout: float = 300) -> str:
    """A helm upgrade of the deployed values with a new run name: a new Job, a new MLflow run,
    a new output directory; the previous run's adapter stays on the storage. Waits (up to
    `start_timeout` seconds) until the run's pods run, raising ReleaseStuck with the cause when
    they cannot start; a slow start that shows no cause (a large image pulling) just returns."""
    run = run_name or new_run_name()
    run_values = deep_merge(overrides or {}, {"training": {"enabled": True, "runName": run}})
    values = deep_merge(current_values(target), run_values)
    install(target, values, wait_for_jobs=False)
    wait_until(target, lambda: _newest_job_started(target, "training"), "training", start_timeout)
    return run


def _newest_job_started(target: Target, component: str) -> bool:
    """Whether the component's newest Job (the run just started) has a pod running or done."""
    jobs = target.batch.list_namespaced_job(
        target.namespace, label_selector=f"{target.selector},app.kubernetes.io/component={component}").items
    if not jobs:
        return False
    newest = max(jobs, key=lambda job: job.metadata.creation_timestamp)
    if newest.status.succeeded or newest.status.ready:
        return True
    pods = target.core.list_namespaced_pod(
        target.namespace, label_selector=f"batch.kubernetes.io/controller-uid={newest.metadata.uid}").items
    return any(pod.status.phase in ("Running", "Succeeded") for pod in pods)


def finished_jobs(target: Target) -> dict[str, list[str]]:
    """Completed Jobs of the release by component."""
    out: dict[str, list[str]] = {}
    for job in target.batch.list_namespaced_job(target.namespace, label_selector=target.selector).items:
        if any(c.type == "Complete" and c.status == "True" for c in job.status.conditions or []):
            component = (job.metadata.labels or {}).get("app.kubernetes.io/component", "")
            out.setdefault(component, []).append(job.metadata.name)
    return out


def cleanup_finished_jobs(target: Target) -> dict[str, list[str]]:
    """Remove finished Jobs through helm (switching their component off), never behind its
    back: a Job deleted by hand would be created, and run, again by the next upgrade."""
    finished = {c: names for c, names in finished_jobs(target).items() if c in JOB_COMPONENTS}
    if finished:
        values = deep_merge(current_values(target), {c: {"enabled": False} for c in finished})
        install(target, values, wait_for_jobs=False)
    return finished


def component_pods(target: Target, component: str) -> list[Any]:
    pods = target.core.list_namespaced_pod(
        target.namespace, label_selector=f"{target.selector},app.kubernetes.io/component={component}").items
    return sorted(pods, key=lambda p: p.metadata.creation_timestamp)


def logs(target: Target, component: str, tail: int = 200) -> Iterator[tuple[str, str]]:
    """(pod, log text) for each pod of a component, newest last."""
    pods = component_pods(target, component)
    if not pods:
        raise OperateError(f"no pods of component {component!r} in release {target.release}")
    for pod in pods:
        try:
            text = target.core.read_namespaced_pod_log(pod.metadata.name, target.namespace, tail_lines=tail)
        except ApiException as error:
            text = f"(no logs: {error.reason}; on the local kwok cluster no container runs, so there are none)"
        yield pod.metadata.name, text


# ---------- reaching Services through the API server ----------

def serving_pod(target: Target, component: str) -> tuple[str, int]:
    """A Ready pod of the component and its `http` container port."""
    for pod in component_pods(target, component):
        ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
        if ready and pod.metadata.deletion_timestamp is None:
            for container in pod.spec.containers:
                for port in container.ports or []:
                    if port.name == "http":
                        return pod.metadata.name, port.container_port
    raise OperateError(f"no Ready {component} pod with an http port in release {target.release}")


def _pump(a: socket.socket, b: socket.socket) -> None:
    sockets = [a, b]
    try:
        while True:
            readable, _, _ = select.select(sockets, [], [], 60)
            if not readable:
                return
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return
                (b if source is a else a).sendall(data)
    except OSError:
        return
    finally:
        for s in sockets:
            s.close()


@dataclass
class PortForward:
    """A local TCP port forwarded to a pod's port through the API server (no kubectl)."""

    target: Target
    pod: str
    remote_port: int
    local_port: int = 0

    def __post_init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", self.local_port))
        self.local_port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            forward = portforward(self.target.core.connect_get_namespaced_pod_portforward, self.pod,
                                  self.target.namespace, ports=str(self.remote_port))
            threading.Thread(target=_pump, args=(client, forward.socket(self.remote_port)), daemon=True).start()

    def __enter__(self) -> PortForward:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"


# ---------- chat ----------

def served_model(target: Target) -> str:
    """The name requests must carry: the adapter's when a LoRA adapter is served."""
    values = release_values_with_defaults(target)
    inference = values["inference"]
    if inference["modelSource"] == "lora" and inference["engine"] != "llamafactory":
        return str(inference["lora"]["name"] or f"{inference['servedModelName']}-lora")
    return str(inference["servedModelName"])


def release_values_with_defaults(target: Target) -> dict[str, Any]:
    return with_chart_defaults(current_values(target), target.paths)


def entry_component(target: Target, component: str) -> str:
    """The component that answers for `component`: the router, when it fronts inference."""
    router_on = release_values_with_defaults(target)["inference"]["router"]["enabled"]
    return "router" if component == "inference" and router_on else component


def api_key(target: Target) -> str | None:
    inference = release_values_with_defaults(target)["inference"]
    if not inference["apiKey"]["enabled"]:
        return None
    name = inference["apiKey"]["existingSecret"] or _generated_key_secret(target)
    secret = target.core.read_namespaced_secret(name, target.namespace)
    return base64.b64decode(secret.data[inference["apiKey"]["existingSecretKey"]]).decode()


def _generated_key_secret(target: Target) -> str:
    secrets = target.core.list_namespaced_secret(
        target.namespace, label_selector=f"{target.selector},app.kubernetes.io/component=inference").items
    names = [s.metadata.name for s in secrets if s.metadata.name.endswith("-api-key")]
    if not names:
        raise OperateError("the release requires an API key but its Secret was not found")
    return str(names[0])


def chat_request(base_url: str, model: str, message: str, key: str | None, timeout: float = 120,
                 max_tokens: int | None = None) -> dict[str, Any]:
    """POST /v1/chat/completions, as the raw-manifest deployment's curl test does."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    payload: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": message}]}
    if max_tokens:
        payload["max_tokens"] = max_tokens
    body = json.dumps(payload).encode()
    request = urllib.request.Request(f"{base_url.rstrip('/')}/v1/chat/completions", data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return cast(dict[str, Any], json.loads(response.read()))
