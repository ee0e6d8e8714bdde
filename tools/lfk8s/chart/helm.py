"""The helm binary, driven through pyhelm3's command runner."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pyhelm3 import Command
from pyhelm3 import errors as pyhelm3_errors

from lfk8s import versions

# pyhelm3 logs every failed command as a warning; HelmError already carries helm's message.
logging.getLogger("pyhelm3").addHandler(logging.NullHandler())


def _stderr(error: pyhelm3_errors.Error) -> str:
    return error.stderr.decode() if isinstance(error.stderr, bytes) else str(error.stderr)


class HelmError(RuntimeError):
    """helm exited non-zero; the message is helm's own stderr."""

    def __init__(self, args: list[str], stderr: str) -> None:
        super().__init__(stderr.strip() or f"helm {' '.join(args)} failed")
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
            output: bytes = asyncio.run(self._command.run(args, stdin))
            return output.decode()
        except pyhelm3_errors.Error as error:
            raise HelmError(args, _stderr(error)) from None

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

    def upgrade_install(self, chart: Path, values: dict[str, Any], release: str, namespace: str,
                        wait: bool = True, timeout: str | None = None) -> dict[str, Any]:
        """`helm upgrade --install [--wait --wait-for-jobs]` through pyhelm3; returns helm's JSON."""
        return asyncio.run(self.upgrade_install_async(chart, values, release, namespace, wait, timeout))

    async def upgrade_install_async(self, chart: Path, values: dict[str, Any], release: str, namespace: str,
                                    wait: bool = True, timeout: str | None = None) -> dict[str, Any]:
        try:
            result = await self._command.install_or_upgrade(
                release, chart, values, namespace=namespace, wait=wait, timeout=timeout or self.timeout,
                create_namespace=False)
        except pyhelm3_errors.Error as error:
            raise HelmError(["upgrade", "--install", release], _stderr(error)) from None
        return result if isinstance(result, dict) else {}

    def history(self, release: str, namespace: str) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]],
                    json.loads(self.run(["history", release, "--namespace", namespace, "--output", "json"])))

    def rollback(self, release: str, namespace: str, revision: int, wait: bool = True) -> None:
        args = ["rollback", release, str(revision), "--namespace", namespace, "--timeout", self.timeout]
        self.run(args + (["--wait", "--wait-for-jobs"] if wait else []))

    def uninstall(self, release: str, namespace: str, wait: bool = True) -> str:
        return self.run(["uninstall", release, "--namespace", namespace, "--timeout", self.timeout]
                        + (["--wait"] if wait else []))

    def test(self, release: str, namespace: str) -> str:
        return self.run(["test", release, "--namespace", namespace, "--timeout", self.timeout])

    def status(self, release: str, namespace: str) -> dict[str, Any]:
        return cast(dict[str, Any],
                    json.loads(self.run(["status", release, "--namespace", namespace, "--output", "json"])))

    def terminate_own_runs(self) -> int:
        """SIGTERM the helm processes this process started (helm then cancels cleanly).

        pyhelm3 runs helm under `sh -c`; cancelling its task signals the shell, not helm,
        which then waits out its --timeout. Returns how many were signalled."""
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        descendants: set[int] = set()
        frontier = {os.getpid()}
        while frontier:
            frontier = {pid for pid, parent in parents.items() if parent in frontier} - descendants
            descendants |= frontier
        signalled = 0
        for pid in descendants:
            try:
                argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
                if argv0 == str(self.executable):
                    os.kill(pid, signal.SIGTERM)
                    signalled += 1
            except (OSError, UnicodeDecodeError):
                continue
        return signalled
