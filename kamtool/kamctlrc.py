"""kamctlrc: the shell fragment that kamctl and kamdbctl source, read as kamctl reads it.

kamctl 5.6 sources, in this order, ``/etc/kamailio/kamctlrc`` (a package install),
``/usr/local/etc/kamailio/kamctlrc`` (a source install's ``$ETCDIR``), ``~/.kamctlrc``
and, only with ``KAMCTL_TEST`` set, ``./kamctlrc``; kamtool then reads ``--kamctlrc FILE``.
Because the files are *sourced*, an environment variable of the same name is the value
a file starts from: a file that assigns the variable overrides it (``DBHOST=${DBHOST:-x}``
keeps it). Whatever stays unset takes kamctl's built-in default (:data:`VARIABLES`).

The reader understands what kamctlrc files hold: ``NAME=value`` and ``export NAME=value``
with shell quoting (values may span lines inside quotes), comments, ``$NAME``,
``${NAME}``, ``${NAME:-word}``, ``${NAME-word}`` and ``${NAME:=word}``. Other shell
(conditionals, functions, command substitution) is skipped with a warning, never run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kamtool.errors import ConfigError

SYSTEM_FILES = (Path("/etc/kamailio/kamctlrc"), Path("/usr/local/etc/kamailio/kamctlrc"))

# The variables that mean something to kamtool, with kamctl 5.6's default ("" = unset).
VARIABLES: dict[str, str] = {
    "SIP_DOMAIN": "",
    "DBENGINE": "",
    "DBHOST": "localhost",
    "DBPORT": "",
    "DBNAME": "kamailio",
    "DB_PATH": "",
    "DBRWUSER": "kamailio",
    "DBRWPW": "kamailiorw",  # kamctl prompts when unset; kamdbctl creates the user with this
    "DBROUSER": "kamailioro",
    "DBROPW": "kamailioro",
    "DBROOTUSER": "root",
    "DBROOTPW": "",
    "DBACCESSHOST": "",
    "CTLENGINE": "RPCFIFO",
    "RPCFIFOPATH": "",  # kamctl: /var/run/kamailio/... when that FIFO exists, else /run/...
    "STORE_PLAINTEXT_PW": "1",
    "VERIFY_ACL": "1",
    "ACL_GROUPS": "local ld int voicemail free-pstn",
    "VERIFY_USER": "1",
    # kamctl 5.6 assigns USERNAME_RE after sourcing the files, so it ignores a kamctlrc
    # value; kamtool honours one (an operator who writes it means it).
    "USERNAME_RE": r"[-a-zA-Z0-9&=\+\$,;\?/_\.\!~\*'\(\)]+",
    "ALIASES_TYPE": "",
    "MD5": "md5sum",  # the digest program kamctl pipes "user:realm:password" through
    "INSTALL_EXTRA_TABLES": "ask",
    "INSTALL_PRESENCE_TABLES": "ask",
    "WATCH_PERIOD": "2",
}
# kamdbctl's older spelling; DB_PATH wins when both are set
ALIASES = {"DBPATH": "DB_PATH"}
SECRETS = frozenset({"DBRWPW", "DBROPW", "DBROOTPW"})

DEFAULT_ORIGIN = "kamctl default"


def candidate_files(
    env: Mapping[str, str], extra: Path | None = None, system_files: tuple[Path, ...] = SYSTEM_FILES
) -> list[Path]:
    """The kamctlrc files kamctl would source, in order, then ``extra`` (``--kamctlrc``)."""
    files = list(system_files)
    home = env.get("HOME")
    files.append(Path(home) / ".kamctlrc" if home else Path("~/.kamctlrc").expanduser())
    if env.get("KAMCTL_TEST"):
        files.append(Path("kamctlrc"))
    if extra is not None:
        files.append(Path(extra))
    return files


@dataclass
class KamctlVars:
    """kamctlrc variables after every file and the environment, with their origins."""

    values: dict[str, str] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # the files that were read
    warnings: list[str] = field(default_factory=list)

    def get(self, name: str) -> str:
        """The value kamctl would use: the one set, else its default."""
        value = self.values.get(name, "")
        return value if value != "" else VARIABLES.get(name, "")

    def origin(self, name: str) -> str:
        return self.origins.get(name, DEFAULT_ORIGIN) if self.values.get(name) else DEFAULT_ORIGIN

    def is_set(self, name: str) -> bool:
        return self.values.get(name, "") != ""

    @property
    def in_effect(self) -> bool:
        """True when a kamctlrc was read: kamctl's defaults then apply to kamtool too."""
        return bool(self.files)


def load(
    env: Mapping[str, str], extra: Path | None = None, system_files: tuple[Path, ...] = SYSTEM_FILES
) -> KamctlVars:
    """Read the environment and every kamctlrc file as kamctl does (see the module doc)."""
    out = KamctlVars()
    for name in (*VARIABLES, *ALIASES):
        if env.get(name):
            out.values[name] = env[name]
            out.origins[name] = f"environment (${name})"
    for path in candidate_files(env, extra, system_files):
        if path != extra and not path.is_file():
            continue
        try:
            text = path.read_text(errors="replace")
        except OSError as exc:
            raise ConfigError(f"cannot read kamctlrc {path}: {exc.strerror}") from exc
        scope = {**env, **out.values}
        assigned = parse(text, scope, warnings=out.warnings, source=str(path))
        for name, value in assigned.items():
            out.values[name] = value
            out.origins[name] = str(path.absolute())
        out.files.append(str(path.absolute()))
    for old, new in ALIASES.items():
        if out.values.get(old) and not out.values.get(new):
            out.values[new], out.origins[new] = out.values[old], out.origins[old]
    return out


# --------------------------------------------------------------------------- shell

_NAME = re.compile(r"(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=")
_WORD_END = " \t\n;&|<>()"


class _Unsupported(Exception):
    """Shell kamtool does not evaluate (command substitution ...)."""


def parse(
    text: str,
    env: Mapping[str, str] | None = None,
    *,
    warnings: list[str] | None = None,
    source: str = "kamctlrc",
) -> dict[str, str]:
    """The variables a kamctlrc assigns, in order (later assignments win).

    ``env`` supplies ``$NAME`` expansions not assigned in the text. A quote that is
    never closed is a :class:`~kamtool.errors.ConfigError`; shell that kamtool does not
    evaluate is skipped and, when ``warnings`` is given, reported there.
    """
    scope = dict(env or {})
    out: dict[str, str] = {}
    pos, n = 0, len(text)
    while pos < n:
        ch = text[pos]
        if ch in " \t\n;":
            pos += 1
            continue
        if ch == "#":
            pos = _eol(text, pos)
            continue
        m = _NAME.match(text, pos)
        if not m:  # a command, conditional, function ...: not ours to run
            end = _eol(text, pos)
            if warnings is not None:
                line = text.count("\n", 0, pos) + 1
                warnings.append(f"{source}:{line}: ignored: {text[pos:end].strip()[:60]}")
            pos = end
            continue
        name = m.group(1)
        try:
            value, pos = _word(text, m.end(), scope, source)
        except _Unsupported as exc:
            if warnings is not None:
                line = text.count("\n", 0, m.start()) + 1
                warnings.append(f"{source}:{line}: {name} ignored: {exc}")
            pos = _eol(text, m.end())
            continue
        out[name] = scope[name] = value
    return out


def _eol(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end + 1


def _word(text: str, pos: int, scope: Mapping[str, str], source: str) -> tuple[str, int]:
    """One shell word starting at ``pos``: its value and where it ends."""
    parts: list[str] = []
    n = len(text)
    while pos < n and text[pos] not in _WORD_END:
        ch = text[pos]
        if ch == "'":
            end = text.find("'", pos + 1)
            if end < 0:
                raise _unterminated(text, pos, source)
            parts.append(text[pos + 1 : end])
            pos = end + 1
        elif ch == '"':
            pos += 1
            while True:
                if pos >= n:
                    raise _unterminated(text, pos - 1, source)
                ch = text[pos]
                if ch == '"':
                    pos += 1
                    break
                if ch == "\\" and pos + 1 < n and text[pos + 1] in '"\\$`\n':
                    if text[pos + 1] != "\n":  # backslash-newline: a continuation
                        parts.append(text[pos + 1])
                    pos += 2
                elif ch == "$":
                    value, pos = _expand(text, pos, scope, source)
                    parts.append(value)
                elif ch == "`":
                    raise _Unsupported("command substitution")
                else:
                    parts.append(ch)
                    pos += 1
        elif ch == "\\":
            if pos + 1 < n and text[pos + 1] != "\n":
                parts.append(text[pos + 1])
            pos += 2
        elif ch == "$":
            value, pos = _expand(text, pos, scope, source)
            parts.append(value)
        elif ch == "`":
            raise _Unsupported("command substitution")
        else:
            parts.append(ch)
            pos += 1
    return "".join(parts), pos


_SIMPLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_BRACED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-=])([^}]*))?\}")


def _expand(text: str, pos: int, scope: Mapping[str, str], source: str) -> tuple[str, int]:
    m = _BRACED.match(text, pos)
    if m:
        name, op, word = m.group(1), m.group(2), m.group(3)
        value = scope.get(name)
        if op is not None:
            empty = value is None or (op.startswith(":") and value == "")
            if empty:
                value, _ = _word(word, 0, scope, source) if word else ("", 0)
                if op.endswith("=") and isinstance(scope, dict):
                    scope[name] = value
        return value or "", m.end()
    m = _SIMPLE.match(text, pos)
    if m:
        return scope.get(m.group(1), ""), m.end()
    if text.startswith("$(", pos):
        raise _Unsupported("command substitution")
    return "$", pos + 1  # a lone dollar is itself


def _unterminated(text: str, pos: int, source: str) -> ConfigError:
    line = text.count("\n", 0, pos) + 1
    return ConfigError(f"{source}:{line}: a quote is never closed")


def default_fifo() -> str:
    """kamctl's RPCFIFOPATH when none is set."""
    legacy = "/var/run/kamailio/kamailio_rpc.fifo"
    try:
        import stat

        if stat.S_ISFIFO(os.stat(legacy).st_mode):
            return legacy
    except OSError:
        pass
    return "/run/kamailio/kamailio_rpc.fifo"


# --------------------------------------------------------------------------- settings

_HASH_PROGRAMS = {"md5sum": "MD5", "md5": "MD5", "sha256sum": "SHA-256", "sha256": "SHA-256"}


def _yes_no(value: str) -> bool | None:
    low = value.strip().lower()
    return True if low in ("yes", "y", "1") else False if low in ("no", "n", "0") else None


def settings_layer(v: KamctlVars) -> tuple[dict[str, Any], dict[str, str]]:
    """Settings fields from kamctlrc variables, and where each came from.

    Without any kamctlrc file only the variables set in the environment count; with
    one, kamctl's defaults apply to the rest (its ACL and user checks are on).
    """
    out: dict[str, Any] = {}
    origins: dict[str, str] = {}

    def origin(*names: str) -> str:
        seen = dict.fromkeys(v.origin(n) for n in names if v.is_set(n) or v.in_effect)
        return "kamctlrc: " + ", ".join(seen or [DEFAULT_ORIGIN])

    def put(name: str, value: Any, *variables: str) -> None:
        out[name] = value
        origins[name] = origin(*variables)

    def wanted(*names: str) -> bool:
        return v.in_effect or any(v.is_set(n) for n in names)

    engine = v.get("DBENGINE").strip().upper()
    db_vars = ("DBENGINE", "DBHOST", "DBPORT", "DBNAME")
    if engine in ("MYSQL", "PGSQL", "POSTGRES", "POSTGRESQL"):
        scheme = "mysql" if engine == "MYSQL" else "postgres"
        host = v.get("DBHOST") or "localhost"
        port = v.get("DBPORT")
        name = v.get("DBNAME") or "kamailio"

        def url(user: str, pw: str, path: str = "/" + name) -> str:
            auth = quote(user, safe="") + (":" + quote(pw, safe="") if pw else "")
            return f"{scheme}://{auth}@{host}" + (f":{port}" if port else "") + path

        put("db_url", url(v.get("DBRWUSER"), v.get("DBRWPW")), *db_vars, "DBRWUSER", "DBRWPW")
        put("db_ro_url", url(v.get("DBROUSER"), v.get("DBROPW")), *db_vars, "DBROUSER", "DBROPW")
        root = url(v.get("DBROOTUSER"), v.get("DBROOTPW"), "/")
        put("db_root_url", root, *db_vars, "DBROOTUSER", "DBROOTPW")
        users = {"rw": (v.get("DBRWUSER"), v.get("DBRWPW")),
                 "ro": (v.get("DBROUSER"), v.get("DBROPW"))}  # fmt: skip
        put("kamctl_db_users", users, "DBRWUSER", "DBRWPW", "DBROUSER", "DBROPW")
    elif engine == "SQLITE":
        path = v.get("DB_PATH")
        if path:
            put("db_url", "sqlite:///" + path if path.startswith("/") else path, "DB_PATH")
    elif engine:
        # DBTEXT, DB_BERKELEY, ORACLE: kamctl knows them, kamtool's database layer does not
        out["_warn_engine"] = engine
        put("unsupported_db_engine", engine, "DBENGINE")
    if v.is_set("SIP_DOMAIN"):
        put("sip_domain", v.get("SIP_DOMAIN"), "SIP_DOMAIN")
    if wanted("STORE_PLAINTEXT_PW"):
        put("store_plaintext_pw", v.get("STORE_PLAINTEXT_PW").strip() != "0", "STORE_PLAINTEXT_PW")
    ctl = v.get("CTLENGINE").strip().upper()
    if ctl != "RPCFIFO":
        out["_warn_ctl"] = ctl
    elif v.is_set("RPCFIFOPATH"):
        put("rpc_url", "fifo:" + v.get("RPCFIFOPATH"), "CTLENGINE", "RPCFIFOPATH")
    if wanted("VERIFY_ACL"):
        put("verify_acl", v.get("VERIFY_ACL").strip() == "1", "VERIFY_ACL")
    if wanted("ACL_GROUPS"):
        put("acl_groups", tuple(v.get("ACL_GROUPS").split()), "ACL_GROUPS")
    if wanted("VERIFY_USER"):
        put("verify_user", v.get("VERIFY_USER").strip() == "1", "VERIFY_USER")
    if v.is_set("USERNAME_RE"):
        put("username_re", v.get("USERNAME_RE"), "USERNAME_RE")
    if v.is_set("ALIASES_TYPE"):
        put("aliases_type", v.get("ALIASES_TYPE").strip().upper(), "ALIASES_TYPE")
    if v.is_set("MD5"):
        program = v.get("MD5").split()[0].rsplit("/", 1)[-1]
        if program in _HASH_PROGRAMS:
            put("ha1_algorithm", _HASH_PROGRAMS[program], "MD5")
        else:
            out["_warn_md5"] = program
    for var, name in (("INSTALL_EXTRA_TABLES", "install_extra_tables"),
                      ("INSTALL_PRESENCE_TABLES", "install_presence_tables")):  # fmt: skip
        if v.is_set(var) and _yes_no(v.get(var)) is not None:
            put(name, _yes_no(v.get(var)), var)
    if wanted("WATCH_PERIOD"):
        try:
            put("watch_period", float(v.get("WATCH_PERIOD")), "WATCH_PERIOD")
        except ValueError:
            out["_warn_watch"] = v.get("WATCH_PERIOD")
    return out, origins


def pop_warnings(layer: dict[str, Any]) -> list[str]:
    """Pop the ``_warn_*`` notes of :func:`settings_layer` as messages."""
    texts = {
        "_warn_engine": "DBENGINE={} is not an engine kamtool uses (MYSQL, PGSQL, SQLITE)",
        "_warn_ctl": "CTLENGINE={} is not RPCFIFO, the only engine of kamctl 5.6: ignored",
        "_warn_md5": "MD5={}: not a digest program kamtool knows (md5sum, sha256sum ...)",
        "_warn_watch": "WATCH_PERIOD={} is not a number",
    }
    return [texts[k].format(layer.pop(k)) for k in list(layer) if k in texts]
