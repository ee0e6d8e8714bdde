"""What `up` chose for a local cluster, kept in its state.json so later commands find the same cluster."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ClusterState:
    """Ports and pids of every process; whether the cluster has a real node, and what that node
    changed on the host (sysctls, mount propagation) so `down` can put it back."""

    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    real_node: bool = False
    host: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ClusterState:
        return cls(**json.loads(path.read_text())) if path.exists() else cls()

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))
