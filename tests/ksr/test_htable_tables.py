"""Operator-declared htables (``[proxy] htables``, Kamailio's modparam syntax) and the
counting rules of Kamailio 5.6's sht_inc/sht_dec, without a server."""

from __future__ import annotations

import pytest

from kamtool.config import Settings
from kamtool.errors import ConfigError
from kamtool.proxy.config import proxy_config
from kamtool.proxy.htable import default_store, parse_table_spec


def test_a_spec_in_kamailios_syntax_makes_a_table():
    t = parse_table_spec("cache=>size=8;autoexpire=60;initval=-1;updateexpire=0;dbtable=ht;")
    assert (t.name, t.slots, t.autoexpire, t.initval, t.updateexpire, t.dbtable) == (
        "cache", 256, 60, -1, 0, "ht")
    assert parse_table_spec("plain=>").initval is None
    for bad in ("noarrow", "x=>size=abc", "x=>cols='a'", "x=>autoexpire=-5", "=>size=2"):
        with pytest.raises(ValueError):
            parse_table_spec(bad)


def test_inc_and_dec_count_only_from_an_initval():
    clock = [1000.0]
    store = default_store(clock=lambda: clock[0], authfail_autoexpire=60,
                          extra=["plain=>size=4;", "cnt=>initval=10;autoexpire=5"])
    plain, cnt, authfail = store.get("plain"), store.get("cnt"), store.get("authfail")
    assert plain.add("k", 1) is None and plain.get("k") is None  # nothing created
    plain.set("s", "text")
    assert plain.add("s", 1) is None
    plain.set("n", 1)
    assert plain.add("n", -1) == 0
    assert cnt.add("k", 1) == 11 and cnt.add("k", -1) == 10
    clock[0] += 6  # expired: counts from initval again
    assert cnt.add("k", -1) == 9
    assert authfail.add("1.2.3.4", 1) == 1  # the default route's failure counter


def test_the_setting_reads_a_list_or_one_string_and_refuses_bad_specs():
    def cfg(value):
        return proxy_config(Settings(db_url="sqlite:////tmp/x.sqlite",
                                     sections={"proxy": {"htables": value}}))

    assert cfg("a=>size=2").htables == ("a=>size=2",)
    assert cfg(["a=>size=2", "b=>initval=0"]).htables == ("a=>size=2", "b=>initval=0")
    with pytest.raises(ConfigError):
        cfg(["a=>size=x"])
    with pytest.raises(ConfigError):
        cfg(["a=>size=2", "a=>size=3"])
    with pytest.raises(ConfigError):
        cfg(["ipban=>size=2"])
