"""Run the kamtool command line in-process and capture what it prints."""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import Any
from unittest import mock


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def invoke(*args: str, env: dict[str, str] | None = None, stdin: str = "") -> Result:
    """Call ``kamtool ARGS`` through ``kamtool.cli.main.main`` (no subprocess).

    ``env`` entries are added to the environment for the call; stdin is not a terminal,
    so commands that would prompt must fail with a clear message instead.
    """
    from kamtool.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, env or {}),
        mock.patch("sys.stdin", io.StringIO(stdin)),
        redirect_stdout(out),
        redirect_stderr(err),
    ):
        code = main([str(a) for a in args])
    return Result(code, out.getvalue(), err.getvalue())
