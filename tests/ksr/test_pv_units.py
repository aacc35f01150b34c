"""KSR.pv pieces on a context made by hand: the ``[proxy] shvset`` presets of ``$shv``,
one log line per unusable name, name parsing and the transformations' corner cases."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from kamtool.config import Settings
from kamtool.errors import ConfigError
from kamtool.proxy.config import proxy_config
from kamtool.proxy.ksr import pv
from kamtool.proxy.ksr.context import MsgContext, state
from kamtool.proxy.ksr.pvspec import ALL, parse
from kamtool.proxy.ksr.pvstores import parse_shvset
from kamtool.sip.message import Request


@pytest.fixture
def ctx():
    config = SimpleNamespace(shvset="maintenance=i:1;motd=s:hello world")
    req = Request("INVITE", "sip:bob@example.com:5070;transport=tcp", [
        ("From", '"Al" <sip:al@example.org>;tag=1'), ("To", "<sip:bob@example.com>"),
        ("Call-ID", "c1"), ("CSeq", "7 INVITE"), ("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx"),
        ("P-Preferred-Identity", "<sip:pp@pref.example>"), ("Diversion", "<sip:d@div.example>"),
    ])  # fmt: skip
    c = MsgContext(SimpleNamespace(), SimpleNamespace(config=config, htables=None), req, None,
                   ("10.0.0.1", 5060))  # fmt: skip
    prev, state.ctx = state.ctx, c
    yield c
    state.ctx = prev


def test_shvset_presets_and_values_kept_by_the_engine(ctx):
    assert pv.get("$shv(maintenance)") == 1 and pv.get("$shv(motd)") == "hello world"
    assert pv.seti("$shv(maintenance)", 0) is True
    assert ctx.engine._kamtool_shv["maintenance"] == 0
    assert pv.get("$shv(other)") == 0  # Kamailio: a $shv never set reads 0


def test_shvset_syntax():
    assert parse_shvset("a=i:3;b=s:x y") == {"a": 3, "b": "x y"}
    with pytest.raises(ValueError):
        parse_shvset("a=3")
    cfg = proxy_config(Settings(), shvset="maintenance=i:0")
    assert cfg.shvset == "maintenance=i:0"
    with pytest.raises(ConfigError, match="shvset"):
        proxy_config(Settings(), shvset="maintenance")


def test_an_unknown_name_is_null_logged_once(ctx, caplog):
    caplog.set_level(logging.ERROR, logger="kamtool.route")
    for _ in range(3):
        assert pv.get("$nosuchpv_units") is None
        assert pv.sets("$nosuchpv_units", "x") is False
        assert pv.unset("$nosuchpv_units") is False
    lines = [r for r in caplog.records if "$nosuchpv_units" in r.getMessage()]
    assert len(lines) == 1


def test_names():
    assert parse("$(hdr(X)[-1]{s.len}{s.int})").index == -1
    assert parse("$(avp(a)[*])").index == ALL
    assert parse(" $ru ").pv == "ru"
    for bad in ("$ru x", "$(ru", "$(ru{s.nope})", "ru", "$"):
        with pytest.raises(ValueError):
            parse(bad)


def test_message_variables(ctx):
    assert pv.get("$rp") == "5070" and pv.get("$cs") == "7"
    assert pv.get("$(ru{uri.port})") == 5070
    assert pv.get("$pU") == "pp" and pv.get("$pd") == "pref.example"
    assert pv.get("$di") == "sip:d@div.example" and pv.get("$fn") == '"Al"'
    assert pv.get("$T_reply_code") == 0 and pv.geti("$rp") == 5070
    assert pv.sets("$ru", "not a uri") is False  # logged, the route goes on
    assert pv.sets("$fd", "new.example") is True
    assert ctx.msg.headers.get("from") == '"Al" <sip:al@new.example>;tag=1'


def test_transformation_corners(ctx):
    assert pv.get("$(ru{uri.params})") == "transport=tcp"
    pv.sets("$var(u)", "tel:+4930123;phone-context=x")
    assert pv.get("$(var(u){uri.user})") == "+4930123"
    pv.sets("$var(u)", "sip:[2001:db8::1]:5080")
    assert pv.get("$(var(u){uri.host})") == "[2001:db8::1]"
    assert pv.get("$(var(u){uri.port})") == 5080
    pv.sets("$var(t)", "a\tb")
    assert pv.get("$(var(t){s.select,1,\\t})") == "b"
    pv.seti("$var(n)", 3)
    assert pv.get("$(ru{s.substr,0,$var(n)})") == "sip"  # a parameter from a variable
    assert pv.get("$(var(n){s.len})") == 1 and pv.get("$(var(n){s.toupper})") == 3
