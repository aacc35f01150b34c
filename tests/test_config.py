"""Settings precedence: defaults < kamctlrc < kamcli.ini < TOML < KAMTOOL_* env < flags."""

from __future__ import annotations

import pytest

from kamtool.config import kamctlrc_settings, load_settings, parse_kamctlrc, redact_url
from kamtool.errors import ConfigError

KAMCTLRC = """\
# kamctlrc as Debian ships it, with a few lines enabled
SIP_DOMAIN=kamailio.example.org
DBENGINE=MYSQL
DBHOST=db.example.org
DBPORT=3307
DBNAME="kam db"
DBRWUSER='kamailio'
DBRWPW="s3cr:t@"   # a comment
STORE_PLAINTEXT_PW=0
if [ -z "$X" ]; then FOO=1; fi
"""


def test_kamctlrc_parses_shell_assignments():
    values = parse_kamctlrc(KAMCTLRC)
    assert values["DBNAME"] == "kam db"
    assert values["DBRWPW"] == "s3cr:t@"
    assert "FOO" not in values


def test_kamctlrc_builds_a_quoted_mysql_url():
    s = kamctlrc_settings(parse_kamctlrc(KAMCTLRC))
    assert s["db_url"] == "mysql://kamailio:s3cr%3At%40@db.example.org:3307/kam db"
    assert s["sip_domain"] == "kamailio.example.org"
    assert s["store_plaintext_pw"] is False


def test_kamctlrc_sqlite_path_becomes_kamailio_four_slash_url():
    s = kamctlrc_settings({"DBENGINE": "SQLITE", "DB_PATH": "/var/lib/kamailio/kamailio.sqlite"})
    assert s["db_url"] == "sqlite:////var/lib/kamailio/kamailio.sqlite"


def test_precedence_kamctlrc_toml_env_flags(tmp_path):
    rc = tmp_path / "kamctlrc"
    rc.write_text("SIP_DOMAIN=from-rc\nDBENGINE=SQLITE\nDB_PATH=/rc.sqlite\n")
    toml = tmp_path / "kamtool.toml"
    toml.write_text('[sip]\ndomain = "from-toml"\n[proxy]\nlisten = ["udp:127.0.0.1:5070"]\n')

    s = load_settings(config_file=toml, kamctlrc=rc, env={})
    assert (s.sip_domain, s.db_url) == ("from-toml", "sqlite:////rc.sqlite")
    assert s.section("proxy")["listen"] == ["udp:127.0.0.1:5070"]

    s = load_settings(config_file=toml, kamctlrc=rc, env={"KAMTOOL_SIP_DOMAIN": "from-env"})
    assert s.sip_domain == "from-env"
    assert s.origins["sip_domain"] == "environment ($KAMTOOL_SIP_DOMAIN)"

    s = load_settings(
        config_file=toml, kamctlrc=rc, env={"KAMTOOL_SIP_DOMAIN": "from-env"},
        overrides={"sip_domain": "from-flag", "db_url": None},
    )  # fmt: skip
    assert s.sip_domain == "from-flag"
    assert s.db_url == "sqlite:////rc.sqlite"  # a None flag overrides nothing


def test_user_file_overrides_system_file(tmp_path, monkeypatch):
    system = tmp_path / "etc.toml"
    system.write_text('[sip]\ndomain = "system"\n[rpc]\ntimeout = 2\n')
    monkeypatch.setattr("kamtool.config.SYSTEM_CONFIG", system)
    user = tmp_path / "home" / ".config" / "kamtool" / "kamtool.toml"
    user.parent.mkdir(parents=True)
    user.write_text('[sip]\ndomain = "user"\n')
    s = load_settings(env={})
    assert s.sip_domain == "user"
    assert s.rpc_timeout == 2.0


def test_default_database_is_sqlite_in_the_user_data_dir(tmp_path):
    s = load_settings(env={})
    assert s.db_url == ""
    assert s.effective_db_url.startswith("sqlite:///" + str(tmp_path / "home"))


def test_broken_toml_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[db\nurl=")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(config_file=bad, env={})


def test_redact_url_hides_the_password():
    assert redact_url("mysql://kamailio:kamailiorw@h:3306/k") == "mysql://kamailio:***@h:3306/k"
    assert redact_url("sqlite:////x.db") == "sqlite:////x.db"
