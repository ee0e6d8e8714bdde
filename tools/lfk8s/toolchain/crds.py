"""CustomResourceDefinitions the chart can target: the Gateway API's standard channel,
fetched as the sigs.k8s.io/gateway-api Go module (its YAML ships inside the module)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, cast

import jsonschema
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from lfk8s.progress import Reporter, quiet
from lfk8s.toolchain.builders import ToolchainError
from lfk8s.versions import GATEWAY_API_VERSION

GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api"


def _module_dir(module: str, version: str, report: Reporter) -> Path:
    go = shutil.which("go")
    if go is None:
        raise ToolchainError(f"fetching {module} needs Go on PATH")
    report(f"fetching {module}@{version} through the Go module proxy")
    result = subprocess.run([go, "mod", "download", "-json", f"{module}@{version}"], capture_output=True, text=True,
                            env=dict(os.environ, GOFLAGS="-mod=mod"), cwd="/")
    if result.returncode != 0:
        raise ToolchainError(f"go mod download {module}@{version} failed:\n"
                             f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return Path(json.loads(result.stdout)["Dir"])


@functools.lru_cache(maxsize=4)
def gateway_api_crds(report: Reporter = quiet, version: str = GATEWAY_API_VERSION) -> list[dict[str, Any]]:
    directory = _module_dir(GATEWAY_API_MODULE, version, report) / "config" / "crd" / "standard"
    crds = []
    for path in sorted(directory.glob("*.yaml")):
        crds += [doc for doc in yaml.safe_load_all(path.read_text())
                 if doc and doc.get("kind") == "CustomResourceDefinition"]
    if not crds:
        raise ToolchainError(f"no CRDs in {directory}")
    return crds


def crd_schema(crds: list[dict[str, Any]], api_version: str, kind: str) -> dict[str, Any] | None:
    """The openAPIV3Schema a CRD declares for apiVersion/kind, if any."""
    group, _, version = api_version.rpartition("/")
    for crd in crds:
        spec = crd["spec"]
        if spec["group"] == group and spec["names"]["kind"] == kind:
            for served in spec["versions"]:
                if served["name"] == version:
                    return cast(dict[str, Any], served["schema"]["openAPIV3Schema"])
    return None


def crd_errors(obj: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Structural errors of a custom resource against its CRD schema (what the API server checks first)."""
    validator = jsonschema.Draft7Validator(_without_k8s_extensions(schema))
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(obj)]


def _without_k8s_extensions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_k8s_extensions(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if isinstance(node, list):
        return [_without_k8s_extensions(v) for v in node]
    return node


def install(api_client: Any, crds: list[dict[str, Any]], timeout: float = 60) -> None:
    """Create (or keep) the CRDs and wait until the API server serves them."""

    extensions = client.ApiextensionsV1Api(api_client)
    for crd in crds:
        try:
            extensions.create_custom_resource_definition(crd)
        except ApiException as error:
            if error.status != 409:
                raise
    deadline = time.monotonic() + timeout
    names = {crd["metadata"]["name"] for crd in crds}
    while time.monotonic() < deadline:
        established = {c.metadata.name for c in extensions.list_custom_resource_definition().items
                       if any(cond.type == "Established" and cond.status == "True"
                              for cond in c.status.conditions or [])}
        if names <= established:
            return
        time.sleep(0.5)
    raise ToolchainError(f"CRDs not established within {timeout:.0f}s: {sorted(names - established)}")
