"""The helm binary, driven through pyhelm3's command runner."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyhelm3 import Command
from pyhelm3 import errors as pyhelm3_errors

from lfk8s import versions

# pyhelm3 logs every failed command as a warning; HelmError already carries helm's message.
logging.getLogger("pyhelm3").addHandler(logging.NullHandler())


class HelmError(RuntimeError):
    """helm exited non-zero; the message is helm's own stderr."""

    def __init__(self, args: list[str], stderr: str) -> None:
        super().__init__(stderr.strip() or f"helm {' '.join(args)} failed")
        self.args_used = args
        self.stderr = stderr


@dataclass(frozen=True)
class Helm:
    executable: Path
    kube_version: str = versions.KUBERNETES_VERSION
    kubeconfig: Path | None = None
    timeout: str = "10m"
    _command: Command = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_command", Command(
            executable=str(self.executable), kubeconfig=self.kubeconfig, default_timeout=self.timeout))

    def run(self, args: list[str], stdin: bytes | None = None) -> str:
        try:
            return asyncio.run(self._command.run(args, stdin)).decode()
        except pyhelm3_errors.Error as error:
            raise HelmError(args, error.stderr.decode() if isinstance(error.stderr, bytes) else str(error.stderr)) from None

    def version(self) -> str:
        return self.run(["version", "--template", "{{ .Version }}"]).strip()

    def major(self) -> int:
        return int(self.version().lstrip("v").split(".")[0])

    def template(self, chart: Path, values: dict[str, Any], release: str, namespace: str,
                 extra: list[str] | None = None) -> str:
        """`helm template` with the values fed on stdin; returns the rendered YAML stream."""
        args = ["template", release, str(chart), "--namespace", namespace,
                "--kube-version", self.kube_version, "--values", "-", *(extra or [])]
        return self.run(args, json.dumps(values).encode())

    def lint(self, chart: Path, values: dict[str, Any], namespace: str) -> str:
        args = ["lint", str(chart), "--strict", "--namespace", namespace,
                "--kube-version", self.kube_version, "--values", "-"]
        return self.run(args, json.dumps(values).encode())

    def notes(self, chart: Path, values: dict[str, Any], release: str, namespace: str) -> str:
        """NOTES.txt as an install would print it (client-side dry run: no cluster needed)."""
        # `install` has no --kube-version: Helm 4 assumes its own client's Kubernetes version.
        args = ["install", release, str(chart), "--dry-run=client", "--namespace", namespace, "--values", "-"]
        out = self.run(args, json.dumps(values).encode())
        return out.split("\nNOTES:\n", 1)[1] if "\nNOTES:\n" in out else ""
