"""Bencode round trips and the strictness an ng reply from the network needs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kamtool.sip.bencode import MAX_DEPTH, BencodeError, decode, encode

values = st.recursive(
    st.integers(-(2**63), 2**64 - 1) | st.binary(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.binary(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


def test_known_encodings():
    assert encode(42) == b"i42e"
    assert encode(-3) == b"i-3e"
    assert encode("spam") == b"4:spam"
    assert encode(["a", 1]) == b"l1:ai1ee"
    # keys come out sorted whatever order they were given in
    assert encode({"sdp": "x", "command": "offer"}) == b"d7:command5:offer3:sdp1:xe"
    assert encode({"é": "é"}) == "d2:é2:ée".encode()


@given(values)
def test_round_trip(value):
    assert decode(encode(value)) == value


def test_unsorted_keys_are_read():
    # RTPEngine writes its replies in insertion order, not sorted
    assert decode(b"d3:sdp1:x6:result2:oke") == {b"sdp": b"x", b"result": b"ok"}


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"i01e",
        b"i-0e",
        b"ie",
        b"i12",
        b"3:ab",
        b"02:ab",
        b"l",
        b"d1:a",
        b"d1:ai1e1:ai2ee",
        b"di1ei2ee",
        b"i1ei2e",
        b"x",
        b"-1:a",
        b"i1.5e",
        "i١e".encode(),
    ],
)
def test_malformed_input_is_refused(data):
    with pytest.raises(BencodeError):
        decode(data)


def test_huge_numbers_are_refused():
    with pytest.raises(BencodeError):
        decode(b"i" + b"9" * 5000 + b"e")
    with pytest.raises(BencodeError):
        decode(b"9" * 30 + b":x")
    assert decode(b"i" + b"9" * 20 + b"e") == int("9" * 20)
    with pytest.raises(BencodeError):
        encode(10**20)


def test_nesting_is_bounded():
    with pytest.raises(BencodeError, match="deep"):
        decode(b"l" * (MAX_DEPTH + 5) + b"e" * (MAX_DEPTH + 5))
    with pytest.raises(BencodeError):
        encode(True)
    with pytest.raises(BencodeError, match="duplicate"):
        encode({"a": 1, b"a": 2})
    with pytest.raises(BencodeError):
        encode(1.5)
