"""Confirmation prompts that never block a script."""

from __future__ import annotations

import sys

import typer

from kamtool.errors import Aborted


def confirm(question: str, *, yes: bool) -> None:
    """Return when the user agreed (or passed ``--yes``); raise :class:`Aborted` otherwise.

    Without a terminal on stdin there is nobody to ask, so ``--yes`` is required.
    """
    if yes:
        return
    if not sys.stdin.isatty():
        raise Aborted(f"{question} needs confirmation", hint="run it again with --yes")
    if not typer.confirm(question, default=False):
        raise Aborted("cancelled")
