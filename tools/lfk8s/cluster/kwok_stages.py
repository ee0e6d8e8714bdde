"""Lifecycle stages the kwok controller plays for the local cluster's mocked nodes and pods.

kwok >= 0.8 has no built-in stages. Nothing runs in these pods: they become Running and
Ready; Job pods (training, merge) and helm test pods exit 0 a second later; deleted pods
disappear. Node capacity and allocatable (GPUs included) stay as the Node was created.
"""

from __future__ import annotations

from typing import Any

import yaml

_NODE_CONDITIONS = """\
{{ $now := Now }}
conditions:
{{ range NodeConditions }}
- lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $now | Quote }}
  message: {{ .message | Quote }}
  reason: {{ .reason | Quote }}
  status: {{ .status | Quote }}
  type: {{ .type | Quote }}
{{ end }}
"""

_NODE_INITIALIZE = _NODE_CONDITIONS + """\
addresses:
- address: {{ NodeIP | Quote }}
  type: InternalIP
- address: {{ NodeName | Quote }}
  type: Hostname
allocatable:
{{ YAML .status.allocatable 1 }}
capacity:
{{ YAML .status.capacity 1 }}
nodeInfo:
  architecture: amd64
  operatingSystem: linux
  kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
  containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
  kernelVersion: {{ printf "kwok-%s" Version | Quote }}
  kubeProxyVersion: {{ printf "kwok-%s" Version | Quote }}
  osImage: kwok
  machineID: ""
  bootID: ""
  systemUUID: ""
phase: Running
"""

_POD_READY = """\
{{ $now := Now }}
conditions:
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Ready}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: ContainersReady}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: PodScheduled}
initContainerStatuses:
{{ range .spec.initContainers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  restartCount: 0
  state:
    terminated: {exitCode: 0, reason: Completed, startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }}}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  started: true
  restartCount: 0
  state:
    running: {startedAt: {{ $now | Quote }}}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
phase: Running
startTime: {{ $now | Quote }}
"""

_POD_SUCCEEDED = """\
{{ $now := Now }}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  started: false
  restartCount: 0
  state:
    terminated: {exitCode: 0, reason: Completed, startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }}}
{{ end }}
conditions:
- {lastTransitionTime: {{ $now | Quote }}, status: "False", type: Ready, reason: PodCompleted}
- {lastTransitionTime: {{ $now | Quote }}, status: "False", type: ContainersReady, reason: PodCompleted}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: PodScheduled}
phase: Succeeded
"""

_READY_IS_TRUE = {"key": '.status.conditions.[] | select( .type == "Ready" ) | .status', "operator": "In",
                  "values": ["True"]}
_NOT_DELETED = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}
_RUNNING = {"key": ".status.phase", "operator": "In", "values": ["Running"]}


# kwok's own convention: a pod annotated with this duration ("60s") runs that long before it
# completes, e.g. to keep a multi-node run's ranks holding their GPUs together.
COMPLETE_DELAY_ANNOTATION = "pod-complete.stage.kwok.x-k8s.io/delay"


def _stage(name: str, kind: str, selector: dict[str, Any], next_: dict[str, Any], delay_ms: int | None = None,
           jitter_ms: int | None = None, delay_annotation: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"resourceRef": {"apiGroup": "v1", "kind": kind}, "selector": selector, "next": next_}
    if delay_ms is not None:
        spec["delay"] = {"durationMilliseconds": delay_ms}
        if jitter_ms is not None:
            spec["delay"]["jitterDurationMilliseconds"] = jitter_ms
        if delay_annotation:
            spec["delay"]["durationFrom"] = {"expressionFrom": f'.metadata.annotations["{delay_annotation}"]'}
    return {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage", "metadata": {"name": name}, "spec": spec}


def stages(job_seconds: float = 1.0) -> list[dict[str, Any]]:
    completion_ms = int(job_seconds * 1000)
    return [
        _stage("node-initialize", "Node",
               {"matchExpressions": [{**_READY_IS_TRUE, "operator": "NotIn"}]},
               {"statusTemplate": _NODE_INITIALIZE}),
        # Liveness comes from the node Lease (kwok --node-lease-duration-seconds); the
        # conditions are refreshed every ten minutes or so, as a kubelet does.
        _stage("node-heartbeat-with-lease", "Node",
               {"matchExpressions": [_RUNNING, _READY_IS_TRUE]},
               {"statusTemplate": _NODE_CONDITIONS}, delay_ms=600_000, jitter_ms=610_000),
        _stage("pod-ready", "Pod",
               {"matchExpressions": [_NOT_DELETED, {"key": ".status.podIP", "operator": "DoesNotExist"}]},
               {"statusTemplate": _POD_READY}),
        _stage("pod-complete-job", "Pod",
               {"matchExpressions": [_NOT_DELETED, _RUNNING,
                                     {"key": ".metadata.ownerReferences.[].kind", "operator": "In",
                                      "values": ["Job"]}]},
               {"statusTemplate": _POD_SUCCEEDED}, delay_ms=completion_ms, delay_annotation=COMPLETE_DELAY_ANNOTATION),
        _stage("pod-complete-helm-test", "Pod",
               {"matchAnnotations": {"helm.sh/hook": "test"}, "matchExpressions": [_NOT_DELETED, _RUNNING]},
               {"statusTemplate": _POD_SUCCEEDED}, delay_ms=completion_ms),
        _stage("pod-delete", "Pod",
               {"matchExpressions": [{"key": ".metadata.deletionTimestamp", "operator": "Exists"}]},
               {"finalizers": {"empty": True}, "delete": True}),
    ]


def stages_yaml(job_seconds: float = 1.0) -> str:
    return yaml.safe_dump_all(stages(job_seconds), sort_keys=False, width=1000)
