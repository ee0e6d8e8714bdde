"""Where things are in the project checkout and in the user's cache."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _find_root(start: Path) -> Path:
    for candidate in (start, *start.parents):
        if (candidate / "charts" / "llama-factory" / "Chart.yaml").exists():
            return candidate
    raise FileNotFoundError(f"no project checkout (charts/llama-factory/Chart.yaml) above {start}")


@dataclass(frozen=True)
class ProjectPaths:
    root: Path

    @classmethod
    def discover(cls, start: Path | None = None) -> ProjectPaths:
        env = os.environ.get("LFK8S_ROOT")
        return cls(Path(env) if env else _find_root((start or Path.cwd()).resolve()))

    @property
    def chart(self) -> Path:
        return self.root / "charts" / "llama-factory"

    @property
    def schema_source(self) -> Path:
        return self.chart / "values.schema.yaml"

    @property
    def schema_json(self) -> Path:
        return self.chart / "values.schema.json"

    @property
    def values_yaml(self) -> Path:
        return self.chart / "values.yaml"

    @property
    def readme(self) -> Path:
        return self.root / "README.md"

    @property
    def values_dir(self) -> Path:
        return self.root / "values"

    @property
    def golden_dir(self) -> Path:
        return self.root / "tests" / "golden"

    @property
    def profiles_dir(self) -> Path:
        return self.values_dir / "profiles"


def cache_dir() -> Path:
    """Built tools live here, keyed by version, so a second run builds nothing."""
    xdg_cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    base = os.environ.get("LFK8S_CACHE") or os.path.join(xdg_cache, "lfk8s")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path
