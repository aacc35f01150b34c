"""The pure dialplan engine: Kamailio 5.6's matching order, operators and replacement rules
(the same cases run against a real Kamailio in test_modules_kamailio.py)."""

from __future__ import annotations

import pytest

from kamtool.core.dialplan_engine import (
    Dialplan,
    DialplanError,
    Message,
    Rule,
    fnmatch_regex,
    parse_replacement,
)


def plan(*rows: tuple) -> Dialplan:
    keys = ("dpid", "pr", "match_op", "match_exp", "match_len", "subst_exp", "repl_exp", "attrs")
    return Dialplan.from_rows(
        [{"id": i, **dict(zip(keys, row, strict=True))} for i, row in enumerate(rows, 1)]
    )


def out(p: Dialplan, dpid: int, value: str):
    t = p.translate(dpid, value)
    return None if t is None else (t.output, t.attrs)


def test_lower_priority_wins_and_the_output_is_built_from_the_replacement():
    p = plan(
        (1, 20, 1, "^0", 0, "^0(.*)", "+49\\1", "national"),
        (1, 10, 1, "^00", 0, "^00(.*)$", "+\\1", "intl"),
    )
    assert out(p, 1, "0049301") == ("+49301", "intl")
    assert out(p, 1, "0301") == ("+49301", "national")
    assert out(p, 1, "301") is None
    assert out(p, 2, "0301") is None


def test_rules_for_the_input_length_come_before_the_length_0_rules():
    p = plan(
        (1, 1, 1, ".", 0, "", "any", "a"),
        (1, 9, 1, ".", 3, "", "three", "b"),
        (1, 5, 1, ".", 4, "", "four", "c"),
    )
    assert out(p, 1, "123") == ("three", "b")
    assert out(p, 1, "1234") == ("four", "c")
    assert out(p, 1, "12") == ("any", "a")
    assert [r.match_len for r in p.ordered(1)] == [3, 4, 0]


def test_equal_is_exact_and_case_sensitive_fnmatch_is_posix():
    p = plan(
        (1, 1, 0, "112", 0, "", "sos", ""),
        (1, 2, 0, "Abc", 0, "", "abc", ""),
        (1, 3, 2, "9[0-4]?*", 0, "^9(.*)", "\\1", ""),
        (1, 4, 2, "[!5]x\\*", 0, "", "star", ""),
    )
    assert out(p, 1, "112") == ("sos", "")
    assert out(p, 1, "1120") is None
    assert out(p, 1, "abc") is None
    assert out(p, 1, "9312") == ("312", "")
    assert out(p, 1, "95") is None
    assert out(p, 1, "4x*") == ("star", "")
    assert out(p, 1, "5x*") is None
    assert fnmatch_regex("a[[:digit:]]").match("a7")
    assert not fnmatch_regex("a[").match("ab")
    assert fnmatch_regex("a[").match("a[")


def test_replacement_quirks_of_kamailio():
    p = plan(
        (1, 1, 1, "^1", 0, "", "", "empty"),  # no repl_exp: empty output
        (1, 2, 1, "^2", 0, "", "lit\\0", ""),  # no subst_exp: repl copied as written
        (1, 3, 1, "^3", 0, "^3(.)(.)?", "<\\2|\\1>\\n\\\\", ""),  # unset group: empty
        (1, 4, 1, "^4", 0, "^5", "x", ""),  # subst does not match: translation fails
        (1, 5, 1, "^4", 0, "", "never", ""),  # ... and the next rule is not tried
        (1, 6, 1, "^6", 0, "^6(.*)", "\\1$rU\\u", ""),  # no message: vars stay as written
    )
    assert out(p, 1, "1") == ("", "empty")
    assert out(p, 1, "2") == ("lit\\0", "")
    assert out(p, 1, "3a") == ("<|a>\n\\", "")
    assert out(p, 1, "4") is None
    assert out(p, 1, "6x") == ("x$rU\\u", "")
    msg = Message(ruri="sip:6x@h", pv=lambda name: {"$rU": "U"}.get(name))
    assert p.translate(1, "6x", msg).output == "xUsip:6x@h"


def test_outputs_over_126_bytes_fail():
    p = plan((1, 1, 1, ".", 0, "(.*)", "\\1\\1", ""))
    assert out(p, 1, "x" * 63) == ("x" * 126, "")
    assert out(p, 1, "x" * 64) is None


@pytest.mark.parametrize(
    "row, words",
    [
        ((1, 1, 3, "x", 0, "", "", ""), "match_op 3"),
        ((1, 1, 1, "(", 0, "", "", ""), "not a valid regular expression"),
        ((1, 1, 0, "x", 0, "(a", "", ""), "not a valid regular expression"),
        ((1, 1, 0, "x", 0, "(a)", "\\2", ""), "refers to group 2"),
        ((1, 1, 0, "x", 0, "", "\\1", ""), "refers to group 1"),
        ((1, 1, 0, "x", 0, "(.)", "\\1" * 10, ""), "too many escapes"),
        ((1, 1, 0, "x", 0, "(((((((((((a)))))))))))", "", ""), "11 groups"),
        ((1, 1, 0, "x", 0, "", "$(bad", ""), "pseudo-variable"),
        ((1, 1, 1, "\\Kx", 0, "", "", ""), "PCRE-only"),
        ((1, 1, 1, "x", 0, "", "y" * 127, ""), "longer than 126 bytes"),
    ],
)
def test_rules_kamailio_refuses_to_load(row, words):
    keys = ("dpid", "pr", "match_op", "match_exp", "match_len", "subst_exp", "repl_exp", "attrs")
    with pytest.raises(DialplanError, match=words):
        Rule(**dict(zip(keys, row, strict=True)))


def test_replacement_tokens():
    tokens, highest = parse_replacement("a\\1$avp(x)[0]\\u\\q\\")
    assert [t.kind for t in tokens] == ["text", "group", "pv", "uri", "char", "text"]
    assert tokens[2].raw == "$avp(x)[0]"
    assert tokens[4].value == "q"
    assert highest == 1


def test_pcre_spellings_python_reads_differently():
    from kamtool.core.pcre import PcreError, compile_pcre, to_python

    assert to_python("^[[:digit:]x]+$") == "^[0-9x]+$"
    assert compile_pcre("(?<cc>[[:digit:]]{2})(?'rest'.*)").match("4930").group("rest") == "30"
    assert compile_pcre("a\\z").search("a\n") is None
    assert compile_pcre("a\\Z").search("a\n") is not None
    assert compile_pcre("[]a]").match("]")
    assert compile_pcre("(?<=x)y").search("xy")  # a lookbehind stays one
    # \Q...\E quotes literally (Python's re has no such syntax), also in a class
    assert compile_pcre("^\\Q+49\\E(.*)$").match("+4930").group(1) == "30"
    assert compile_pcre("^\\Q+49(.*)$").fullmatch("+49(.*)$")  # to the end: all literal
    assert not compile_pcre("^\\Q+4").match("4")
    assert compile_pcre("[\\Q]-\\E]+").fullmatch("]-]") and compile_pcre("\\Qa\\K").match("a\\K")
    for bad in ("[[:nope:]]", "a\\Kb", "(*SKIP)", "\\Qa\\E\\K"):
        with pytest.raises(PcreError):
            compile_pcre(bad)


def test_match_dynamic_fills_variables_into_regexp_match_exp():
    """dialplan's match_dynamic: a regexp match_exp's variables take the message's values
    (a "[" after "$var(x)" is the regex's); without it, or without a message (RPC), the
    text is the regex as written; "$" at the end stays an anchor."""
    d = Dialplan([Rule(7, 1, 1, "^$var(pre)[0-9]", repl_exp="dyn", id=1),
                  Rule(7, 2, 1, "^$rU$", repl_exp="self", id=2)])  # fmt: skip
    values = {"$var(pre)": "55", "$rU": "x1"}
    msg = Message(pv=values.get)
    assert d.translate(7, "551", msg, dynamic=True).output == "dyn"
    assert d.translate(7, "x1", msg, dynamic=True).output == "self"
    assert d.translate(7, "661", msg, dynamic=True) is None
    assert d.translate(7, "551", msg) is None  # match_dynamic off: "$v..." never matches
    assert d.translate(7, "551", None, dynamic=True) is None
    values["$var(pre)"] = "("  # no regex once filled in: the rule does not match
    assert d.translate(7, "551", msg, dynamic=True) is None
