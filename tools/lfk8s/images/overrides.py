"""Overrides: a requirement a locked package publishes that PyPI cannot satisfy, replaced for the
lock only (images/<name>/overrides.txt). Whether one is still needed is a report
(`lfk8s images outdated`), not a test: PyPI's state changes without the project changing."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement

from lfk8s.images.model import Image
from lfk8s.images.pins import ImageError, canonical
from lfk8s.images.pip import resolver_command, resolver_python, wheel_metadata
from lfk8s.images.platform import target_environment
from lfk8s.progress import Reporter, quiet


@dataclass(frozen=True)
class Override:
    """`parent==version: requirement -> replacement  # why` in images/<name>/overrides.txt.

    The parent's own requirement is replaced by the replacement pin; everything else the parent
    requires is resolved by pip as published. Kept under test: an override whose requirement the
    parent no longer publishes, or that pip no longer needs, fails the tests."""

    parent: str
    version: str
    requirement: str
    replacement: str
    reason: str

    def __str__(self) -> str:
        return f"{self.parent}=={self.version}: {self.requirement} -> {self.replacement}"


def parse_overrides(text: str) -> list[Override]:
    overrides = []
    for raw in text.splitlines():
        line, _, reason = raw.partition("#")
        if not line.strip():
            continue
        match = re.fullmatch(r"\s*([A-Za-z0-9._-]+)==(\S+)\s*:\s*(.+?)\s*->\s*(\S+==\S+)\s*", line)
        if not match:
            raise ImageError(f"overrides.txt: expected `parent==version: requirement -> name==version  # why`: {raw!r}")
        overrides.append(Override(canonical(match.group(1)), match.group(2), match.group(3).strip(),
                                  match.group(4), reason.strip()))
    return overrides


def _same_requirement(a: str, b: str) -> bool:
    ra, rb = Requirement(a), Requirement(b)
    return (canonical(ra.name), ra.specifier, ra.extras, str(ra.marker or "")) == \
        (canonical(rb.name), rb.specifier, rb.extras, str(rb.marker or ""))


def flatten(text: str, overrides: list[Override], python_exe: Path, python: str,
            glibc: tuple[int, int]) -> tuple[str, dict[str, str]]:
    """The requirements with each overridden parent replaced by what it requires (the override applied).
    Returns the new text and the parents held out of pip's resolution ({name: version})."""
    if not overrides:
        return text, {}

    lines: list[str] = []
    requested: dict[str, tuple[str, set[str]]] = {}
    parents = {o.parent for o in overrides}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        if canonical(req.name) in parents:
            requested[canonical(req.name)] = (str(req.specifier).lstrip("="), set(req.extras))
            continue
        lines.append(line)
    held: dict[str, str] = {}
    environment = target_environment(python)
    for parent in sorted(parents):
        group = [o for o in overrides if o.parent == parent]
        if parent not in requested or requested[parent][0] != group[0].version:
            raise ImageError(f"overrides.txt names {parent}=={group[0].version}, which the requirements do not pin")
        version, extras = requested[parent]
        requires = wheel_metadata(python_exe, f"{parent}=={version}", python, glibc).get("requires_dist", [])
        for override in group:
            if not any(_same_requirement(r, override.requirement) for r in requires):
                raise ImageError(f"stale override: {parent} {version} no longer requires {override.requirement}")
        for spec in requires:
            req = Requirement(spec)
            if req.marker is not None and not any(
                    Marker(str(req.marker)).evaluate({**environment, "extra": extra}) for extra in (extras or {""})):
                continue
            replaced = next((o for o in group if _same_requirement(spec, o.requirement)), None)
            if replaced is not None:
                lines.append(replaced.replacement)
                continue
            req.marker = None
            lines.append(str(req))
        held[parent] = version
    return "\n".join(lines) + "\n", held



def override_needed(override: Override, python: str, glibc: tuple[int, int], report: Reporter = quiet) -> bool:
    """True while PyPI still has no wheel satisfying the overridden requirement for this platform."""
    python_exe = resolver_python(python, report)
    with tempfile.TemporaryDirectory(prefix="lfk8s-override-") as tmp:
        requirements = Path(tmp) / "r.txt"
        requirements.write_text(override.requirement + "\n")
        command = resolver_command(python_exe, requirements, python, glibc, Path(tmp) / "report.json",
                                   Path(tmp) / "t", no_deps=True)
        return bool(subprocess.run(command, capture_output=True, text=True).returncode != 0)


def overrides(image: Image) -> list[Override]:
    path = image.directory / "overrides.txt"
    return parse_overrides(path.read_text()) if path.exists() else []

