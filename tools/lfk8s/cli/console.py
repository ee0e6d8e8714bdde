"""Where the command line writes: progress and messages to stderr, tables and answers to stdout."""

from __future__ import annotations

import sys

from rich.console import Console

# Wide enough that tables stay readable in CI logs, where rich would otherwise assume 80 columns.
_PIPE_WIDTH = 150


def stderr_console() -> Console:
    return Console(stderr=True, width=None if sys.stderr.isatty() else _PIPE_WIDTH)


def stdout_console() -> Console:
    return Console(width=None if sys.stdout.isatty() else _PIPE_WIDTH)
