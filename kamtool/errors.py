"""The one error type of kamtool and the exit statuses it maps to.

Core code raises a :class:`KamtoolError` subclass; only ``kamtool.cli.main`` turns
it into a message and an exit status. Nothing below the CLI calls ``sys.exit``.
Messages must never contain secrets (passwords, tokens, HA1 values).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitStatus(IntEnum):
    """Exit statuses of the ``kamtool`` command. Documented in the README."""

    OK = 0
    ERROR = 1  # an unexpected failure
    USAGE = 2  # bad arguments or bad input (also what the option parser uses)
    NOT_FOUND = 3  # the thing named does not exist
    EXISTS = 4  # the thing to create exists already
    DB_UNAVAILABLE = 5  # cannot connect to / use the database
    RPC_UNAVAILABLE = 6  # no JSON-RPC endpoint answered
    RPC_ERROR = 7  # the endpoint answered with a JSON-RPC error
    CONFIG = 8  # a configuration file is unreadable or invalid
    SCHEMA = 9  # the database schema is missing or has the wrong version
    DRIFT = 9  # kamtool drift: file, database and server differ (an alias of SCHEMA)
    TIMEOUT = 10  # an operation did not finish in time
    UNREACHABLE = 11  # a SIP peer refused or broke the connection (kamtool ping)
    INTERRUPTED = 130  # Ctrl-C


class KamtoolError(Exception):
    """Base of every error kamtool reports to the user.

    ``code`` is a stable snake_case identifier for scripts (``--json`` output),
    ``hint`` an optional next step for a person.
    """

    exit_status: ExitStatus = ExitStatus.ERROR
    code: str = "error"

    def __init__(self, message: str, *, hint: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``--json``."""
        out: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "exit_status": int(self.exit_status),
        }
        if self.hint:
            out["hint"] = self.hint
        if self.details:
            out["details"] = self.details
        return out


class BadInput(KamtoolError):
    """An argument or input value is not acceptable (bad IP, port, URI ...)."""

    exit_status = ExitStatus.USAGE
    code = "bad_input"


class NotFound(KamtoolError):
    exit_status = ExitStatus.NOT_FOUND
    code = "not_found"


class AlreadyExists(KamtoolError):
    exit_status = ExitStatus.EXISTS
    code = "already_exists"


class DatabaseUnavailable(KamtoolError):
    exit_status = ExitStatus.DB_UNAVAILABLE
    code = "db_unavailable"


class SchemaError(KamtoolError):
    exit_status = ExitStatus.SCHEMA
    code = "schema_mismatch"


class RpcUnavailable(KamtoolError):
    exit_status = ExitStatus.RPC_UNAVAILABLE
    code = "rpc_unavailable"


class RpcError(KamtoolError):
    """The endpoint answered with a JSON-RPC error (Kamailio's code and message)."""

    exit_status = ExitStatus.RPC_ERROR
    code = "rpc_error"

    def __init__(self, rpc_code: int, message: str, *, hint: str | None = None, **details: Any):
        super().__init__(message, hint=hint, rpc_code=rpc_code, **details)
        self.rpc_code = rpc_code


class ConfigError(KamtoolError):
    exit_status = ExitStatus.CONFIG
    code = "config_error"


class OperationTimeout(KamtoolError):
    exit_status = ExitStatus.TIMEOUT
    code = "timeout"


class Unreachable(KamtoolError):
    """A SIP peer cannot be reached: refused (ICMP or TCP RST), unresolvable, or it broke
    the connection."""

    exit_status = ExitStatus.UNREACHABLE
    code = "unreachable"


class ReloadFailed(KamtoolError):
    """A database edit was made but the running server did not reload the table, so it
    goes on using the old rows. The exit status is that of the cause (7 for an error
    answer, 10 for a timeout)."""

    code = "reload_failed"

    def __init__(self, message: str, cause: KamtoolError, **details: Any) -> None:
        super().__init__(message, hint=cause.hint, **details)
        self.exit_status = cause.exit_status


class Aborted(KamtoolError):
    """The user declined a confirmation, or a prompt was needed without a terminal."""

    exit_status = ExitStatus.USAGE
    code = "aborted"


def bind_hint(exc: OSError, option: str) -> str:
    """The next step after ``exc`` from binding a listening socket named by ``option``."""
    import errno

    while exc.errno is None and isinstance(exc.__cause__, OSError):
        exc = exc.__cause__  # uvloop wraps the socket's error in one without errno
    if exc.errno == errno.EADDRINUSE:
        return f"is another server using it? choose another with {option}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"this host has no such address (see 'ip addr'); choose another with {option}"
    if exc.errno == errno.EACCES:
        return "ports below 1024 need root or CAP_NET_BIND_SERVICE"
    return f"choose another address with {option}"
