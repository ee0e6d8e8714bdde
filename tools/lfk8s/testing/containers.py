"""Running a rendered pod's container in its image with docker, as the kubelet would start it:
the image, command, args and environment the chart rendered (ConfigMap and Secret references
resolved from the rendered objects, `$(VAR)` expanded), the pod's security context (user and
group, fsGroup, read-only root filesystem, all capabilities dropped, no privilege escalation,
docker's default seccomp profile) and only the pod's volumes: the claim as a folder of this
machine, each ConfigMap volume as a read-only folder of its files, each emptyDir as a tmpfs.
The container shares this machine's network (the local MLflow answers on loopback)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from lfk8s.chart.rendering import Rendered, component_of, pod_specs

_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def config_data(rendered: Rendered, name: str) -> dict[str, str]:
    return cast(dict[str, str], rendered.get("ConfigMap", name=name)["data"])


def secret_data(rendered: Rendered, name: str) -> dict[str, str]:
    secret = rendered.get("Secret", name=name)
    data = dict(secret.get("stringData", {}))
    data.update({k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()})
    return data


def expand(text: str, env: dict[str, str]) -> str:
    """`$(VAR)` replaced by the value of an earlier variable, as the kubelet does."""
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def container_env(rendered: Rendered, container: dict[str, Any]) -> dict[str, str]:
    """The container's environment with every ConfigMap and Secret reference resolved; fieldRefs
    (known only to the kubelet) are left out."""
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            value = item["value"]
        else:
            source = item["valueFrom"]
            if "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                value = config_data(rendered, ref["name"])[ref["key"]]
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                data = secret_data(rendered, ref["name"])
                if ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    raise KeyError(f"{container['name']}: Secret {ref['name']} lacks {ref['key']}")
                value = data[ref["key"]]
            else:
                continue
        env[item["name"]] = expand(value, env)
    return env


def workload(rendered: Rendered, component: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(workload, pod spec) of the component's one Deployment or Job."""
    found = [(w, s) for w, s in pod_specs(rendered) if component_of(w) == component and w["kind"] != "Pod"]
    if len(found) != 1:
        raise LookupError(f"expected one {component} workload, found {len(found)}")
    return found[0]


@dataclass
class ContainerRun:
    """One container of a rendered pod, as a `docker run`."""

    name: str
    image: str
    command: list[str]
    env: dict[str, str]
    user: str
    groups: list[str] = field(default_factory=list)
    read_only: bool = False
    drop_all_capabilities: bool = False
    no_new_privileges: bool = False
    binds: list[tuple[Path, str, bool]] = field(default_factory=list)  # (host folder, path, read-only)
    tmpfs: list[str] = field(default_factory=list)
    workdir: str | None = None

    def docker_args(self, container_name: str) -> list[str]:
        args = ["docker", "run", "--name", container_name, "--network", "host", "--user", self.user]
        args += [arg for group in self.groups for arg in ("--group-add", group)]
        args += ["--read-only"] if self.read_only else []
        args += ["--cap-drop", "ALL"] if self.drop_all_capabilities else []
        args += ["--security-opt", "no-new-privileges"] if self.no_new_privileges else []
        for host, path, read_only in self.binds:
            args += ["--mount", f"type=bind,source={host},target={path}" + (",readonly" if read_only else "")]
        for path in self.tmpfs:
            args += ["--tmpfs", f"{path}:rw,nosuid,nodev,exec,mode=1777"]
        args += [arg for name, value in sorted(self.env.items()) for arg in ("--env", f"{name}={value}")]
        args += ["--workdir", self.workdir] if self.workdir else []
        # The pod's command replaces the image's entrypoint, as in Kubernetes.
        if self.command:
            args += ["--entrypoint", self.command[0], self.image, *self.command[1:]]
        else:
            args.append(self.image)
        return args

    def run(self, container_name: str, log: Path, timeout: float) -> subprocess.CompletedProcess[str]:
        with open(log, "w") as out:
            try:
                return subprocess.run(["timeout", str(int(timeout)), *self.docker_args(container_name)],
                                      stdout=out, stderr=subprocess.STDOUT, text=True)
            finally:
                remove(container_name)

    def start(self, container_name: str) -> None:
        args = self.docker_args(container_name)
        result = subprocess.run([args[0], args[1], "--detach", *args[2:]], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"docker run {container_name} failed: {result.stderr.strip()}")


def remove(container_name: str) -> None:
    subprocess.run(["docker", "rm", "--force", container_name], capture_output=True)


def logs(container_name: str) -> str:
    result = subprocess.run(["docker", "logs", container_name], capture_output=True, text=True)
    return result.stdout + result.stderr


def running(container_name: str) -> bool:
    result = subprocess.run(["docker", "inspect", "--format", "{{.State.Running}}", container_name],
                            capture_output=True, text=True)
    return result.stdout.strip() == "true"


def container_run(rendered: Rendered, component: str, root: Path, container: str | None = None) -> ContainerRun:
    """The component's main container (or the named one) with its volumes under `root`: the
    claim is `root/storage` (shared by every component, as the PVC is), each ConfigMap volume a
    folder of its rendered files."""
    _, spec = workload(rendered, component)
    main = next(c for c in spec["containers"] + spec.get("initContainers", []) if container in (None, c["name"]))
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    pod_security = spec.get("securityContext", {})
    security = {**pod_security, **main.get("securityContext", {})}
    run = ContainerRun(
        name=main["name"], image=main["image"],
        command=[*main.get("command", []), *main.get("args", [])],
        env=container_env(rendered, main),
        user=f"{security.get('runAsUser', 0)}:{security.get('runAsGroup', 0)}",
        groups=[str(pod_security["fsGroup"])] if "fsGroup" in pod_security else [],
        read_only=bool(security.get("readOnlyRootFilesystem")),
        drop_all_capabilities="ALL" in security.get("capabilities", {}).get("drop", []),
        no_new_privileges=security.get("allowPrivilegeEscalation") is False,
        workdir=main.get("workingDir"),
    )
    run.command = [expand(arg, run.env) for arg in run.command]
    for mount in main.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            run.tmpfs.append(mount["mountPath"])
            continue
        if "configMap" in volume:
            host = root / "configmaps" / mount["name"]
            shutil.rmtree(host, ignore_errors=True)
            host.mkdir(parents=True)
            for key, value in config_data(rendered, volume["configMap"]["name"]).items():
                (host / key).write_text(value)
        elif "persistentVolumeClaim" in volume:
            host = root / "storage" / mount.get("subPath", "")
            host.mkdir(parents=True, exist_ok=True)
        else:
            raise ValueError(f"{component}: volume {mount['name']} is neither a claim, a ConfigMap nor an emptyDir")
        run.binds.append((host, mount["mountPath"], bool(mount.get("readOnly"))))
    return run
