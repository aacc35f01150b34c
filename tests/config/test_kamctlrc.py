"""kamctlrc read as kamctl reads it: shell syntax, search order, environment, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from kamtool import kamctlrc as rc
from kamtool.config import load_settings
from kamtool.errors import ConfigError
from tests.support.require import unavailable

DEBIAN_KAMCTLRC = Path("/etc/kamailio/kamctlrc")  # from Debian's kamailio package


def test_shell_quoting_continuations_and_expansions():
    text = (
        "# comment\n"
        'export DBHOST="db.example.org"   # trailing comment\n'
        "DBNAME='kam db'\n"
        'DBRWPW="s3cr:t@\\"q\\""\n'
        'STANDARD_MODULES="standard acc\n'
        '                  lcr domain"\n'
        "DBPORT=${PORT:-3307}\n"
        'SIP_DOMAIN="${DBHOST}"; VERIFY_ACL=0\n'
        'if [ -z "$X" ]; then FOO=1; fi\n'
        "DB_PATH=$HOME/kam.sqlite\n"
        "RPCFIFOPATH=`echo /x`\n"
    )
    warnings: list[str] = []
    values = rc.parse(text, {"HOME": "/home/k"}, warnings=warnings, source="rc")
    assert values["DBHOST"] == "db.example.org"
    assert values["DBNAME"] == "kam db"
    assert values["DBRWPW"] == 's3cr:t@"q"'
    assert values["STANDARD_MODULES"].split() == ["standard", "acc", "lcr", "domain"]
    assert values["DBPORT"] == "3307"
    assert values["SIP_DOMAIN"] == "db.example.org"
    assert values["VERIFY_ACL"] == "0"
    assert values["DB_PATH"] == "/home/k/kam.sqlite"
    assert "FOO" not in values and "RPCFIFOPATH" not in values  # never executed
    assert any("rc:9: ignored: if" in w for w in warnings)
    assert any("RPCFIFOPATH ignored: command substitution" in w for w in warnings)


def test_an_unclosed_quote_is_a_config_error_naming_the_line(tmp_path):
    bad = tmp_path / "kamctlrc"
    bad.write_text('SIP_DOMAIN=a\nDBHOST="db\n')
    with pytest.raises(ConfigError, match=r"kamctlrc:2: a quote is never closed"):
        load_settings(kamctlrc=bad, env={})


def test_search_order_files_override_the_environment(tmp_path, monkeypatch):
    system, local = tmp_path / "etc-kamctlrc", tmp_path / "local-kamctlrc"
    monkeypatch.setattr("kamtool.config.SYSTEM_KAMCTLRC", system)
    monkeypatch.setattr("kamtool.config.LOCAL_KAMCTLRC", local)
    home = tmp_path / "home"
    system.write_text("SIP_DOMAIN=system\nWATCH_PERIOD=7\nDBHOST=${DBHOST:-keep}\n")
    local.write_text("SIP_DOMAIN=local\nACL_GROUPS='a b'\n")
    (home / ".kamctlrc").write_text("SIP_DOMAIN=home\n")
    given = tmp_path / "given"
    given.write_text("SIP_DOMAIN=given\n")
    env = {"HOME": str(home), "SIP_DOMAIN": "env", "VERIFY_USER": "0", "DBENGINE": "MYSQL",
           "DBHOST": "envhost"}  # fmt: skip

    s = load_settings(env=env)
    assert s.sip_domain == "home"
    assert s.origins["sip_domain"] == f"kamctlrc: {home / '.kamctlrc'}"
    assert s.watch_period == 7.0 and s.acl_groups == ("a", "b")
    assert (
        s.verify_user is False
        and s.origins["verify_user"] == "kamctlrc: environment ($VERIFY_USER)"
    )
    assert s.db_url == "mysql://kamailio:kamailiorw@envhost/kamailio"  # ${DBHOST:-keep}
    assert s.files == (str(system), str(local), str(home / ".kamctlrc"))

    assert load_settings(kamctlrc=given, env=env).sip_domain == "given"  # --kamctlrc: last
    with pytest.raises(ConfigError, match="cannot read kamctlrc"):
        load_settings(kamctlrc=tmp_path / "missing", env=env)


def test_kamctl_test_reads_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kamctlrc").write_text("SIP_DOMAIN=cwd\n")
    assert load_settings(env={}).sip_domain is None
    assert load_settings(env={"KAMCTL_TEST": "1"}).sip_domain == "cwd"


def test_kamctl_defaults_apply_once_a_kamctlrc_is_read(tmp_path):
    empty = tmp_path / "kamctlrc"
    empty.write_text("# nothing set\n")
    plain = load_settings(env={})
    assert (plain.verify_acl, plain.verify_user) == (False, False)  # kamtool alone
    s = load_settings(kamctlrc=empty, env={})
    assert (s.verify_acl, s.verify_user) == (True, True)
    assert s.acl_groups == ("local", "ld", "int", "voicemail", "free-pstn")
    assert s.origins["verify_acl"] == "kamctlrc: kamctl default"
    assert s.rpc_url is None  # kamctl's default FIFO is one of the usual endpoints


def test_every_variable_maps_to_its_setting(tmp_path):
    f = tmp_path / "kamctlrc"
    f.write_text(
        "DBENGINE=PGSQL\nDBHOST=pg.example\nDBPORT=5433\nDBNAME=kam\n"
        "DBRWUSER=rw\nDBRWPW='p@ss:w'\nDBROUSER=ro\nDBROPW=rop\nDBROOTUSER=admin\n"
        "DBROOTPW=rootpw\nCTLENGINE=RPCFIFO\nRPCFIFOPATH=/srv/k/kamailio_rpc.fifo\n"
        "STORE_PLAINTEXT_PW=0\nVERIFY_ACL=0\nVERIFY_USER=0\nUSERNAME_RE='[0-9]+'\n"
        "ALIASES_TYPE=db\nMD5=/usr/bin/sha256sum\nINSTALL_EXTRA_TABLES=no\n"
        "INSTALL_PRESENCE_TABLES=yes\nWATCH_PERIOD=0.5\n"
    )
    s = load_settings(kamctlrc=f, env={})
    assert s.db_url == "postgres://rw:p%40ss%3Aw@pg.example:5433/kam"
    assert s.db_ro_url == "postgres://ro:rop@pg.example:5433/kam"
    assert s.db_root_url == "postgres://admin:rootpw@pg.example:5433/"
    assert s.rpc_url == "fifo:/srv/k/kamailio_rpc.fifo"
    assert s.store_plaintext_pw is False
    assert (s.verify_acl, s.verify_user, s.username_re) == (False, False, "[0-9]+")
    assert (s.aliases_type, s.ha1_algorithm) == ("DB", "SHA-256")
    assert (s.install_extra_tables, s.install_presence_tables) == (False, True)
    assert s.watch_period == 0.5
    assert s.origins["db_url"] == f"kamctlrc: {f}"


def test_sqlite_dbpath_spellings_and_odd_values_warn(tmp_path):
    f = tmp_path / "kamctlrc"
    f.write_text("DBENGINE=SQLITE\nDBPATH=/var/lib/kamailio/k.sqlite\nCTLENGINE=FIFO\nMD5=xx\n")
    s = load_settings(kamctlrc=f, env={})
    assert s.db_url == "sqlite:////var/lib/kamailio/k.sqlite"
    assert s.rpc_url is None
    assert any("CTLENGINE=FIFO" in w for w in s.warnings)
    assert any("MD5=xx" in w for w in s.warnings)


def _uncommented(text: str) -> str:
    """Debian's kamctlrc with every '# ' line turned on (prose '##' lines stay comments)."""
    lines = []
    for line in text.splitlines():
        if line.startswith("#") and not line.startswith("##"):
            line = line[1:].removeprefix(" ")
        lines.append(line)
    return "\n".join(lines) + "\n"


def _debian_kamctlrc() -> str:
    if not DEBIAN_KAMCTLRC.is_file():
        unavailable(f"{DEBIAN_KAMCTLRC} is missing (Debian's kamailio package; scripts/test)")
    return DEBIAN_KAMCTLRC.read_text()


def test_debian_kamctlrc_uncommented_reads_without_error(tmp_path):
    f = tmp_path / "kamctlrc"
    f.write_text(_uncommented(_debian_kamctlrc()))
    s = load_settings(kamctlrc=f, env={})
    assert s.warnings == ()
    assert s.db_url == "mysql://kamailio:kamailiorw@localhost:3306/kamailio"
    assert s.sip_domain == "kamailio.org"
    assert s.rpc_url == "fifo:/run/kamailio/kamailio_rpc.fifo"
    assert s.store_plaintext_pw is False and s.verify_acl is True
    assert s.acl_groups == ("local", "ld", "int", "voicemail", "free-pstn")
    values = rc.parse(f.read_text())
    assert "dialplan" in values["STANDARD_MODULES"].split()  # the value spanning three lines


def test_debian_kamctlrc_each_line_uncommented_alone_reads_without_error(tmp_path):
    lines = _debian_kamctlrc().splitlines()
    f = tmp_path / "kamctlrc"
    tried = 0
    for i, line in enumerate(lines):
        if not line.startswith("# ") or "=" not in line:
            continue
        end = i
        if line[2:].count('"') % 2:  # a quoted value going on over the next commented lines
            end += 1
            while '"' not in lines[end]:
                end += 1
        one = [*lines[:i], line[2:], *(x[1:] for x in lines[i + 1 : end + 1]), *lines[end + 1 :]]
        f.write_text("\n".join(one) + "\n")
        s = load_settings(kamctlrc=f, env={})
        assert s.warnings == (), (line, s.warnings)
        tried += 1
    assert tried >= 30
