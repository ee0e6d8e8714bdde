"""How long-running steps report progress: a callable taking one line of text."""

from __future__ import annotations

from collections.abc import Callable

Reporter = Callable[[str], None]


def quiet(_: str) -> None:
    """The reporter that says nothing."""
