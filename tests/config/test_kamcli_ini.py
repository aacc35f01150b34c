"""kamcli.ini read as kamcli reads it: its files in its order, interpolation, the mapping."""

from __future__ import annotations

import pytest

from kamtool.config import load_settings
from kamtool.errors import ConfigError
from tests.support.cli import invoke

INI = """\
[main]
domain=ini.example
[cmdaliases]
grp = group
mt = mtree
rtp = rtpengine
[db]
type=mysql
driver=pymysql
rwuser=kamailio
rwpassword=kam%%pw
host=db.example
dbname=kamailio
rwurl=%(type)s+%(driver)s://%(rwuser)s:%(rwpassword)s@%(host)s/%(dbname)s
[jsonrpc]
transport=fifo
path=/srv/kam/kamailio_rpc.fifo
rplnamebase=kamailio_rpc_reply.fifo
rpldir=/var/tmp
srvaddr=/srv/kam/kamailio_rpc.sock
"""


def test_db_url_domain_fifo_and_aliases(tmp_path):
    f = tmp_path / "kamcli.ini"
    f.write_text(INI)
    s = load_settings(kamcli_ini_file=f, env={})
    assert s.db_url == "mysql://kamailio:kam%pw@db.example/kamailio"
    assert s.sip_domain == "ini.example"
    assert s.rpc_url == "fifo:/srv/kam/kamailio_rpc.fifo?reply_dir=/var/tmp"
    assert s.origins["rpc_url"] == f"kamcli.ini: {f}"
    # kamcli's built-in aliases and the file's, where kamtool has the command
    assert s.command_aliases["grp"] == "acl" and s.command_aliases["acl"] == "acl"
    assert s.command_aliases["rpc"] == "rpc" and s.command_aliases["mt"] == "mtree"
    assert "rtp" not in s.command_aliases  # kamcli's rtpengine: no kamtool twin


@pytest.mark.parametrize(
    ("transport", "expected"),
    [
        ("transport=socket\nsrvaddr=/run/k/kamailio_rpc.sock", "unix:/run/k/kamailio_rpc.sock"),
        ("transport=socket\nsrvaddr=udp:127.0.0.1:9062", "udp:127.0.0.1:9062"),
        ("transport=fifo\npath=/run/k/f.fifo\nrpldir=/tmp", "fifo:/run/k/f.fifo"),
    ],
)
def test_jsonrpc_transports(tmp_path, transport, expected):
    f = tmp_path / "kamcli.ini"
    f.write_text(f"[jsonrpc]\n{transport}\n")
    assert load_settings(kamcli_ini_file=f, env={}).rpc_url == expected


def test_kamclis_file_order_later_files_win_key_by_key(tmp_path, monkeypatch):
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    (cwd / "kamcli").mkdir(parents=True)
    (home / ".kamcli").mkdir()
    system = tmp_path / "etc-kamcli.ini"
    monkeypatch.setattr("kamtool.config.SYSTEM_KAMCLI_INI", system)
    monkeypatch.chdir(cwd)
    (cwd / "kamcli" / "kamcli.ini").write_text("[main]\ndomain=sub\n[db]\nrwurl=sqlite:////a.db\n")
    (cwd / "kamcli.ini").write_text("[main]\ndomain=cwd\n")
    system.write_text("[main]\ndomain=system\n")
    s = load_settings(env={"HOME": str(home)})
    assert (s.sip_domain, s.db_url) == ("system", "sqlite:////a.db")  # /etc after ./ in kamcli
    (home / ".kamcli" / "kamcli.ini").write_text("[main]\ndomain=home\n")
    assert load_settings(env={"HOME": str(home)}).sip_domain == "home"
    given = tmp_path / "given.ini"
    given.write_text("[main]\ndomain=given\n")
    assert load_settings(kamcli_ini_file=given, env={"HOME": str(home)}).sip_domain == "given"


def test_bad_files_are_config_errors(tmp_path):
    f = tmp_path / "kamcli.ini"
    f.write_text("[db]\nrwurl=oracle+cx://u:p@h/db\n")
    with pytest.raises(ConfigError, match="'oracle' is not supported"):
        load_settings(kamcli_ini_file=f, env={})
    f.write_text("no section\n")
    with pytest.raises(ConfigError, match="invalid kamcli.ini"):
        load_settings(kamcli_ini_file=f, env={})
    r = invoke("--kamcli-ini", str(tmp_path / "missing.ini"), "config", "show")
    assert r.exit_code == 8 and "cannot read kamcli.ini" in r.stderr


def test_a_kamcli_alias_runs_the_kamtool_command(tmp_path):
    f = tmp_path / "kamcli.ini"
    f.write_text("[cmdaliases]\ngrp = group\n")
    db = "sqlite:///" + str(tmp_path / "k.sqlite")
    r = invoke("--kamcli-ini", str(f), "--db", db, "--json", "grp", "show")
    assert r.exit_code == 0, r.stderr
    assert r.json() == []
    r = invoke("--kamcli-ini", str(f), "--db", db, "nosuchcmd")
    assert r.exit_code == 2 and "No such command" in r.stderr
