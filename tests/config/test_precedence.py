"""The whole precedence chain, instances and `kamtool config show` / `instance list`."""

from __future__ import annotations

from kamtool.config import load_settings
from tests.support.cli import invoke


def _files(tmp_path):
    rc = tmp_path / "kamctlrc"
    rc.write_text(
        "SIP_DOMAIN=rc\nDBENGINE=MYSQL\nDBHOST=rc-db\nDBRWPW=rcsecret\nWATCH_PERIOD=3\n"
        "RPCFIFOPATH=/rc/kamailio_rpc.fifo\n"
    )
    ini = tmp_path / "kamcli.ini"
    ini.write_text("[main]\ndomain=ini\n[jsonrpc]\ntransport=socket\nsrvaddr=/ini/rpc.sock\n")
    toml = tmp_path / "kamtool.toml"
    toml.write_text(
        '[sip]\ndomain = "toml"\n'
        '[instance.edge]\ndb_url = "postgres://u:edgesecret@edge/k"\ndomain = "edge"\n'
        '[instance.core]\nrpc_url = "http://10.9.9.9:5071/RPC"\n'
    )
    return rc, ini, toml


def test_each_source_overrides_the_one_before(tmp_path):
    rc, ini, toml = _files(tmp_path)
    s = load_settings(kamctlrc=rc, env={})
    assert (s.sip_domain, s.rpc_url) == ("rc", "fifo:/rc/kamailio_rpc.fifo")
    s = load_settings(kamctlrc=rc, kamcli_ini_file=ini, env={})
    assert (s.sip_domain, s.rpc_url) == ("ini", "unix:/ini/rpc.sock")
    assert s.db_url == "mysql://kamailio:rcsecret@rc-db/kamailio"  # the ini has no rwurl
    s = load_settings(kamctlrc=rc, kamcli_ini_file=ini, config_file=toml, env={})
    assert s.sip_domain == "toml" and s.origins["sip_domain"] == str(toml)
    s = load_settings(kamctlrc=rc, kamcli_ini_file=ini, config_file=toml, instance="edge", env={})
    assert (s.sip_domain, s.db_url, s.instance) == (
        "edge",
        "postgres://u:edgesecret@edge/k",
        "edge",
    )
    assert s.origins["sip_domain"] == f"instance edge ({toml})"
    assert s.rpc_url == "unix:/ini/rpc.sock"  # not set by the instance: the lower sources
    env = {"KAMTOOL_SIP_DOMAIN": "env", "KAMTOOL_INSTANCE": "edge"}
    s = load_settings(kamctlrc=rc, kamcli_ini_file=ini, config_file=toml, env=env)
    assert (s.sip_domain, s.instance) == ("env", "edge")
    s = load_settings(
        kamctlrc=rc, kamcli_ini_file=ini, config_file=toml, env=env,
        overrides={"sip_domain": "flag"},
    )  # fmt: skip
    assert s.sip_domain == "flag" and s.origins["sip_domain"] == "command line"


def test_config_show_names_the_sources_and_masks_secrets(tmp_path):
    rc, ini, toml = _files(tmp_path)
    args = ["--kamctlrc", rc, "--kamcli-ini", ini, "--config", toml]
    r = invoke(*args, "--json", "config", "show", env={"KAMTOOL_RPC_TOKEN": "tok3n"})
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    rows = {row["setting"]: row for row in doc["settings"]}
    assert rows["db_url"]["value"] == "mysql://kamailio:***@rc-db/kamailio"
    assert rows["db_url"]["source"] == f"kamctlrc: {rc}, kamctl default"  # DBNAME ...
    assert rows["rpc_url"] == {**rows["rpc_url"], "value": "unix:/ini/rpc.sock",
                               "source": f"kamcli.ini: {ini}"}  # fmt: skip
    assert rows["sip_domain"]["source"] == str(toml)
    assert rows["watch_period"] == {**rows["watch_period"], "value": 3.0,
                                    "source": f"kamctlrc: {rc}"}  # fmt: skip
    assert rows["rpc_token"]["value"] == "***"
    assert rows["rpc_token"]["source"] == "environment ($KAMTOOL_RPC_TOKEN)"
    assert rows["rpc_timeout"]["source"] == "default"
    assert doc["files"] == [str(rc), str(ini), str(toml)]
    assert "rcsecret" not in r.stdout and "tok3n" not in r.stdout
    table = invoke(*args, "config", "show")
    assert table.exit_code == 0 and "rcsecret" not in table.stdout
    assert f"kamctlrc: {rc}" in table.stdout
    # an RPC URL with Basic-auth credentials is masked as a database URL is
    basic = invoke(*args, "--rpc", "http://ops:rpcpw@10.0.0.5:5071/RPC", "--json", "config", "show")
    rows = {row["setting"]: row for row in basic.json()["settings"]}
    assert rows["rpc_url"]["value"] == "http://ops:***@10.0.0.5:5071/RPC"
    assert "rpcpw" not in basic.stdout


def test_instances_on_every_command(tmp_path):
    toml = tmp_path / "kamtool.toml"
    one, two = tmp_path / "one.sqlite", tmp_path / "two.sqlite"
    toml.write_text(
        f'[db]\nurl = "sqlite:///{one}"\n[sip]\ndomain = "one.example"\n'
        f'[instance.two]\ndb_url = "sqlite:///{two}"\ndomain = "two.example"\n'
    )
    assert invoke("--config", toml, "add", "1001", "pw").exit_code == 0
    assert invoke("--config", toml, "-i", "two", "add", "2001", "pw").exit_code == 0
    users = invoke("--config", toml, "--json", "-i", "two", "show").json()
    assert [(u["username"], u["domain"]) for u in users] == [("2001", "two.example")]
    users = invoke("--config", toml, "--json", "show").json()
    assert [(u["username"], u["domain"]) for u in users] == [("1001", "one.example")]

    listed = invoke("--config", toml, "--json", "instance", "list").json()
    assert [(i["name"], i["current"], i["domain"]) for i in listed] == [
        ("default", True, "one.example"), ("two", False, "two.example")]  # fmt: skip
    listed = invoke("--config", toml, "--json", "--instance", "two", "instance", "list").json()
    assert [(i["name"], i["current"]) for i in listed] == [("default", False), ("two", True)]
    assert listed[0]["db_url"] == f"sqlite:///{one}"

    r = invoke("--config", toml, "-i", "three", "show")
    assert r.exit_code == 8 and "no instance 'three'" in r.stderr and "two" in r.stderr
    toml.write_text('[instance.x]\ndb = "typo"\n')
    r = invoke("--config", toml, "-i", "x", "show")
    assert r.exit_code == 8 and "unknown key 'db'" in r.stderr
