"""The CLI is a thin layer; the commands the README and users' CI call exist."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from lfk8s.cli.main import build_parser

ROOT = Path(__file__).parents[2]


def subcommands(text: str) -> set[tuple[str, ...]]:
    """The subcommand words of every `bin/lfk8s ...` in a document (up to the first argument)."""
    found = set()
    for match in re.finditer(r"bin/lfk8s((?: [a-z][a-z-]*)+)", text):
        words = tuple(match.group(1).split())
        found.add(words[:2] if words[0] in ("cluster", "schema", "values", "bench") else words[:1])
    return found


def exits_with(words: tuple[str, ...]) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            build_parser().parse_args([*words, "--help"])
        except SystemExit as error:
            return int(error.code or 0)
    return 0


@pytest.mark.parametrize("document", ["README.md", "ci/github/workflows/chart.yaml"])
def test_documented_commands_exist(document: str) -> None:
    found = subcommands((ROOT / document).read_text())
    assert found, f"no bin/lfk8s commands in {document}"
    missing = [" ".join(words) for words in found if exits_with(words) != 0]
    assert not missing, f"{document} mentions commands the CLI lacks: {missing}"


def test_an_unknown_command_is_detected() -> None:
    assert exits_with(("no-such-command",)) == 2


def test_ci_runs_the_readme_test_command() -> None:
    assert "./bin/test" in (ROOT / ".ci" / "run").read_text()
    assert "bin/test" in (ROOT / "README.md").read_text()
