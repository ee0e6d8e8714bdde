"""Test support for the local cluster's real node: a tiny busybox image made here (no registry)
and pods that run on the node under Pod Security `restricted`, with their failures told in full.

The image is Debian's static busybox (the busybox-static .deb, unpacked in Python) in one layer
with a page for `httpd` to serve, written as a docker-archive and imported into the node's
containerd. Pods name it with imagePullPolicy Never.

busybox's own TLS cannot talk to the API server: it sends no signature_algorithms extension, so
a TLS 1.2 server must fall back to SHA-1 signatures, which Go's TLS (1.25 and later) refuses
(alert 40, handshake_failure; busybox wget on a host only works by running the host's openssl).
A pod proves it reaches the API server over TLS instead by sending a TLS 1.2 ClientHello made
here (`tls12_client_hello`) with `nc`: the server's reply carries its certificate in the clear.
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from lfk8s.cluster import node_images
from lfk8s.cluster.node_config import REAL_NODE_LABEL, REAL_NODE_TOLERATION
from lfk8s.progress import Reporter, quiet

BUSYBOX_IMAGE = "lfk8s.local/busybox:test"


def busybox_archive(report: Reporter = quiet) -> Path:
    """The node tier's busybox image (node_images.busybox_archive) as a docker-archive."""
    return node_images.busybox_archive(BUSYBOX_IMAGE, report)

UID = 10001
# Waiting reasons after which a container never starts by itself.
_STUCK = {"ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerError",
          "CreateContainerConfigError", "CrashLoopBackOff", "RunContainerError"}


class PodFailed(AssertionError):
    pass


# ---------- TLS ----------

def _vector(data: bytes, length_bytes: int) -> bytes:
    return len(data).to_bytes(length_bytes, "big") + data


def _extension(kind: int, data: bytes) -> bytes:
    return struct.pack(">H", kind) + _vector(data, 2)


def tls12_client_hello(server_name: str) -> bytes:
    """A TLS 1.2 ClientHello record a Go server answers: ECDHE with AES-GCM, x25519 or P-256,
    SHA-256 signatures (ECDSA, RSA-PSS, RSA PKCS#1), SNI."""
    suites = [0xC02B, 0xC02F, 0xC02C, 0xC030]  # ECDHE_{ECDSA,RSA}_WITH_AES_{128,256}_GCM_SHA{256,384}
    host = server_name.encode()
    extensions = b"".join([
        _extension(0x0000, _vector(b"\x00" + _vector(host, 2), 2)),  # server_name
        _extension(0x000A, _vector(struct.pack(">HH", 0x001D, 0x0017), 2)),  # supported_groups
        _extension(0x000B, _vector(b"\x00", 1)),  # ec_point_formats: uncompressed
        _extension(0x000D, _vector(struct.pack(">HHH", 0x0403, 0x0804, 0x0401), 2)),  # signature_algorithms
        _extension(0x0017, b""),  # extended_master_secret
        _extension(0xFF01, b"\x00"),  # renegotiation_info
    ])
    body = (b"\x03\x03" + os.urandom(32) + _vector(b"", 1) + _vector(b"".join(struct.pack(">H", s) for s in suites), 2)
            + _vector(b"\x00", 1) + _vector(extensions, 2))
    handshake = b"\x01" + _vector(body, 3)
    return b"\x16\x03\x01" + _vector(handshake, 2)


def server_handshake_types(reply: bytes) -> list[int]:
    """The handshake message types in a server's first TLS records (2 ServerHello, 11 Certificate, ...)."""
    types, offset = [], 0
    while offset + 5 <= len(reply) and reply[offset] == 0x16:
        length = int.from_bytes(reply[offset + 3:offset + 5], "big")
        record, inner = reply[offset + 5:offset + 5 + length], 0
        while inner + 4 <= len(record):
            types.append(record[inner])
            inner += 4 + int.from_bytes(record[inner + 1:inner + 4], "big")
        offset += 5 + length
    return types


# ---------- pods ----------

def restricted_pod(name: str, command: list[str], labels: dict[str, str] | None = None,
                   restart: str = "Never", port: int | None = None) -> dict[str, Any]:
    """A pod for the real node that Pod Security `restricted` admits: non-root uid 10001, read-only
    root filesystem, no capabilities, RuntimeDefault seccomp, no privilege escalation."""
    container: dict[str, Any] = {
        "name": "main", "image": BUSYBOX_IMAGE, "imagePullPolicy": "Never", "command": command,
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
    }
    if port:
        container["ports"] = [{"containerPort": port, "name": "http"}]
        container["readinessProbe"] = {"tcpSocket": {"port": port}, "periodSeconds": 1}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "nodeSelector": {REAL_NODE_LABEL: "true"},
            "tolerations": [dict(REAL_NODE_TOLERATION)],
            "restartPolicy": restart,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [container],
        },
    }


def pod_log(api: client.ApiClient, namespace: str, name: str) -> str:
    """The container's log, read through the API server (which asks the node's kubelet)."""
    try:
        return str(client.CoreV1Api(api).read_namespaced_pod_log(name, namespace, container="main"))
    except ApiException as error:
        return f"(no log: {error.status} {error.reason}: {error.body})"


def _failure(pod: Any) -> str | None:
    """Why the pod will not get anywhere, or None while it still may."""
    if pod.status.phase == "Failed":
        return "the pod failed"
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting
        if waiting and waiting.reason in _STUCK:
            return f"{waiting.reason}: {waiting.message}"
        terminated = status.state.terminated
        if terminated and terminated.exit_code != 0:
            return f"exit code {terminated.exit_code} ({terminated.reason})"
    return None


def wait_for_pod(api: client.ApiClient, namespace: str, name: str, until: str = "Succeeded",
                 timeout: float = 90) -> str:
    """Waits for the pod to succeed (until="Succeeded"), run (until="Running") or be ready
    (until="Ready"); returns its log.
    A container that fails makes PodFailed, with the container's own log in the message."""
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + timeout
    pod = None
    while time.monotonic() < deadline:
        pod = core.read_namespaced_pod(name, namespace)
        reason = _failure(pod)
        if reason:
            raise PodFailed(f"pod {namespace}/{name} on {pod.spec.node_name}: {reason}\n"
                            f"--- container log ---\n{pod_log(api, namespace, name)}")
        if until == "Succeeded" and pod.status.phase == "Succeeded":
            return pod_log(api, namespace, name)
        if until == "Running" and pod.status.phase == "Running":
            return pod_log(api, namespace, name)
        ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
        if until == "Ready" and ready:
            return pod_log(api, namespace, name)
        time.sleep(0.5)
    phase = pod.status.phase if pod else "unknown"
    events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
    said = "\n".join(f"{e.reason}: {e.message}" for e in events)
    raise PodFailed(f"pod {namespace}/{name} still {phase} after {timeout:.0f}s\n--- events ---\n{said}\n"
                    f"--- container log ---\n{pod_log(api, namespace, name)}")
