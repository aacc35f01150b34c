"""The RFC 4475 section 2 notation expander behind the torture corpus."""

from __future__ import annotations

import pytest

from tests.sip.torture import RFC4475_INVALID, corpus, expand, load, rfc4475_names


def test_notation():
    text = "A <hex>00 7F</hex>B\n<allOneLine>\nx<repeat count=3>ab</repeat>\ny\n</allOneLine>\n\n"
    assert expand(text) == b"A \x00\x7fB\r\nxabababy\r\n\r\n"
    assert expand("<repeat count=2>-<hex>41</hex></repeat>\n") == b"-A-A\r\n"
    with pytest.raises(ValueError):
        expand("a <allOneLine>b</allOneLine>\n")


def test_corpus_has_all_rfc4475_and_rfc5118_messages():
    names = rfc4475_names()
    assert len(names) == 49 and set(names) >= RFC4475_INVALID
    keys = corpus()
    assert len(keys) == 61 and sum(k.startswith("invalid/") for k in keys) == 26
    assert all(data.endswith(b"\r\n") and b"<hex>" not in data for data in keys.values())
    assert load("longreq").count(b"\r\n") == 53 and len(load("longreq")) == 3515
    assert load("scalar02").count(b"Expires: 1" + b"0" * 100 + b"\r\n") == 1
