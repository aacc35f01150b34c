"""The registrar's edge cases, sent alike to a real Kamailio 5.6 and to ``kamtool serve``
(reference cfg: max_expires 3600, min_expires 10, default_expires 3600, gruu off, usrloc
db_mode 2): the reply (status, the 200's Contact list with its expires) and what
``ul.lookup`` shows after. The peer is tests/interop/wire.py (its own parser). Where the
two differ on purpose the test says so next to the assertion.

Two differences hold everywhere and are checked once, by :func:`ok`: kamtool's registrar
has ``outbound_mode`` 1 by default (Kamailio's 0), so its 200s carry ``Supported:
outbound``; and Kamailio folds the bindings into one Contact header, kamtool sends one
header each (the same list, RFC 3261 7.3.1)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.interop.test_odd_requests import drain_kamailio_extra_reply
from tests.interop.wire import Msg, Peer, contacts, digest_answer

INSTANCE = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"
A, B, C = (f"sip:1001@127.0.0.1:4000{n}" for n in (1, 2, 3))


def reg(p: Peer, user: str, headers: list[str], *, call_id: str | None = None, cseq: int = 1,
        uri: str | None = None, to: str | None = None) -> Msg:  # fmt: skip
    """REGISTER ``user`` (password ``secret<user>``); a 401 is answered once with CSeq
    ``cseq + 1``. A fresh Call-ID unless ``call_id``."""
    uri = uri or f"sip:127.0.0.1:{p.server[1]}"
    call_id = call_id or f"edge-{user}-{p.port}-{time.monotonic_ns()}@127.0.0.1"
    to = to or f"<sip:{user}@127.0.0.1>"

    def send(extra: list[str], n: int) -> Msg:
        return p.ask(p.request("REGISTER", uri, from_user=user, to=to, call_id=call_id,
                               cseq=n, headers=[*headers, *extra]))  # fmt: skip

    first = send([], cseq)
    if first.status != 401:
        return first
    auth = digest_answer(first.get("www-authenticate"), "REGISTER", uri, user, f"secret{user}")
    return send([f"Authorization: {auth}"], cseq + 1)


def ok(r: Msg, target) -> dict[str, str]:
    """A 200 to a REGISTER: its bindings, URI -> the parameters after it."""
    assert (r.status, r.reason) == (200, "OK"), r.first
    assert (r.get("supported") == "outbound") == (target.name == "kamtool")
    assert len(r.all("contact")) == (len(contacts(r)) if target.name == "kamtool" else
                                     min(len(contacts(r)), 1))  # fmt: skip
    out = {}
    for c in contacts(r):
        m = re.fullmatch(r"<([^>]*)>(.*)", c)
        assert m, c
        out[m.group(1)] = m.group(2)
    return out


def expires_of(params: str) -> int:
    return int(re.search(r";expires=(\d+)", params).group(1))


def bindings(target, user: str = "1001") -> dict[str, dict]:
    """``ul.lookup`` of ``user``: Address -> the contact's fields ({} when no record)."""
    try:
        res = target.rpc("ul.lookup", "location", user)
    except RuntimeError as exc:
        assert "AOR not found" in str(exc)
        return {}
    return {c["Contact"]["Address"]: c["Contact"] for c in res["Contacts"]}


@contextmanager
def peer(target, transport: str = "udp", user: str = "1001") -> Iterator[Peer]:
    """A peer; ``user``'s bindings removed after (``Contact: *``)."""
    with Peer(transport, target.sip_port) as p:
        try:
            yield p
        finally:
            assert reg(p, user, ["Contact: *", "Expires: 0"]).status == 200


@pytest.mark.parametrize(
    "headers, expires",
    [
        ([f"Contact: <{A}>;expires=100", "Expires: 200"], 100),  # the parameter wins
        ([f"Contact: <{A}>"], 3600),  # neither: default_expires
        ([f"Contact: <{A}>;expires=5"], 10),  # below min_expires: raised (no 423)
        ([f"Contact: <{A}>", "Expires: 1"], 10),
        ([f"Contact: <{A}>;expires=99999"], 3600),  # above max_expires: capped
        ([f"Contact: <{A}>", "Expires: 99999"], 3600),
        # a malformed parameter is default_expires, not the header: RFC 3261 10.2.1.1
        # ("treated as equivalent to 3600"), Kamailio's calc_contact_expires(); kamtool
        # used the Expires header (600 here). Above 2**32-1: Kamailio takes it for
        # malformed (3600), kamtool for 2**32-1 (10.2.1.1 allows it), capped to 3600
        ([f"Contact: <{A}>;expires=abc", "Expires: 600"], 3600),
        ([f"Contact: <{A}>;expires=-5", "Expires: 600"], 3600),
        ([f"Contact: <{A}>;expires=4294967297", "Expires: 600"], 3600),
    ],
)
def test_expires_of_a_contact(target, headers, expires):
    with peer(target) as p:
        got = ok(reg(p, "1001", headers), target)
        assert list(got) == [A] and expires_of(got[A]) == expires
        assert abs(bindings(target)[A]["Expires"] - expires) <= 2


def test_expires_zero_for_an_unknown_contact_is_200_without_bindings(target):
    with peer(target) as p:
        assert ok(reg(p, "1001", [f"Contact: <{A}>;expires=0"]), target) == {}
        assert bindings(target) == {}


@pytest.mark.parametrize("value", ["abc", "-5", "4294967297"])
def test_bad_expires_header(target, value):
    """Both refuse a non-numeric or negative Expires with 400 before the challenge
    (Kamailio's sanity_check, "Expires value is illegal"; kamtool's parser names the
    header; RFC 3261 20.19 would rather have it taken as 3600). One above 2**32-1:
    Kamailio refuses it too; kamtool's parser reads it as 2**32-1 (as RFC 3261 10.2.1.1
    allows for the parameter), which max_expires caps: kept."""
    with peer(target) as p:
        r = reg(p, "1001", [f"Contact: <{A}>", f"Expires: {value}"])
        if value.isdigit() and target.name == "kamtool":
            assert expires_of(ok(r, target)[A]) == 3600
            return
        assert r.status == 400
        assert r.reason == ("Expires value is illegal" if target.name == "kamailio" else
                            "Bad Expires header")  # fmt: skip
        assert bindings(target) == {}


def test_star_removes_every_binding_and_is_200_without_any(target):
    with peer(target) as p:
        ok(reg(p, "1001", [f"Contact: <{A}>, <{B}>", "Expires: 600"]), target)
        assert ok(reg(p, "1001", ["Contact: *", "Expires: 0"]), target) == {}
        assert bindings(target) == {}
        assert ok(reg(p, "1001", ["Contact: *", "Expires: 0"]), target) == {}


@pytest.mark.parametrize(
    "headers",
    [
        ["Contact: *", "Expires: 60"],
        ["Contact: *"],  # no Expires: not zero
        ["Contact: *;expires=0"],  # only the Expires header counts for *
        [f"Contact: <{A}>", "Contact: *", "Expires: 0"],
        [f"Contact: *, <{A}>", "Expires: 0"],
    ],
)
def test_star_misused_is_400(target, headers):
    """RFC 3261 10.3 step 6: ``*`` with an expiry other than zero, or with other contacts,
    is 400. Kamailio 5.6.3 takes ``Contact: *, <uri>`` in ONE header for a plain ``*``
    (its check_contacts() looks at the first body's star flag only) and removes every
    binding with 200: kamtool keeps the RFC's 400. Kamailio refuses after the challenge
    (then adds the cfg's 500), kamtool before it (nothing to authenticate)."""
    kam = target.name == "kamailio"
    with peer(target) as p:
        ok(reg(p, "1001", [f"Contact: <{B}>", "Expires: 600"]), target)
        r = reg(p, "1001", headers)
        if kam and headers[0].startswith("Contact: *, "):
            assert ok(r, target) == {} and bindings(target) == {}
            return
        assert r.status == 400
        assert r.reason == ("Bad Request" if kam else "Invalid use of Contact *")
        if kam:
            assert r.get("p-registrar-error").startswith("* used in contact")
        drain_kamailio_extra_reply(target, p)
        assert list(bindings(target)) == [B]


def test_cseq_of_the_same_call_id(target):
    """RFC 3261 10.3 step 7: the same Call-ID with a CSeq not above the stored one
    fails the request and changes nothing, also an unregistration (kamtool answered 200
    and removed the binding). Kamailio's usrloc takes the same CSeq within 20 s of the
    last change for a retransmission: 200, binding unchanged; so does kamtool. Another
    Call-ID replaces the binding whatever its CSeq."""
    with peer(target) as p:
        ok(reg(p, "1001", [f"Contact: <{A}>", "Expires: 600"], call_id="cid-1", cseq=10), target)
        assert bindings(target)[A]["CSeq"] == 11
        for expires in ("300", "0"):
            r = reg(p, "1001", [f"Contact: <{A}>", f"Expires: {expires}"], call_id="cid-1",
                    cseq=5)  # fmt: skip
            assert r.status == 400
            if target.name == "kamailio":
                assert r.get("p-registrar-error") == "Invalid CSeq number"
            else:
                assert r.reason == "Invalid CSeq number"
            drain_kamailio_extra_reply(target, p)
            assert bindings(target)[A]["CSeq"] == 11
            assert bindings(target)[A]["Expires"] > 590
        again = reg(p, "1001", [f"Contact: <{A}>", "Expires: 200"], call_id="cid-1", cseq=10)
        assert expires_of(ok(again, target)[A]) > 590  # a retransmission: no change
        other = reg(p, "1001", [f"Contact: <{A}>", "Expires: 100"], call_id="cid-2", cseq=1)
        assert expires_of(ok(other, target)[A]) == 100
        assert bindings(target)[A]["CSeq"] == 2 and bindings(target)[A]["Call-ID"] == "cid-2"


def test_several_contacts_with_q_values(target):
    """Both keep each q as given (q=1.0 echoed as q=1, none without q; ul.lookup's -1).
    The order differs: Kamailio ranks a contact without q last (its q -1), kamtool as
    q 1.0 (the RFC 3261 default for forking); the 200's order carries no meaning."""
    with peer(target) as p:
        r = reg(p, "1001", [f"Contact: <{A}>;q=0, <{B}>;q=1.0", f"Contact: <{C}>;q=0.5",
                            "Contact: sip:1001@127.0.0.1:40004", "Expires: 600"])  # fmt: skip
        got = ok(r, target)
        d = "sip:1001@127.0.0.1:40004"
        assert got == {A: ";q=0;expires=600", B: ";q=1;expires=600",
                       C: ";q=0.5;expires=600", d: ";expires=600"}  # fmt: skip
        assert list(got) == ([B, C, A, d] if target.name == "kamailio" else [B, d, C, A])
        assert {k: v["Q"] for k, v in bindings(target).items()} == {A: 0, B: 1, C: 0.5, d: -1}
        bad = reg(p, "1001", [f"Contact: <{A}>;q=2", "Expires: 600"])
        assert bad.status == 400  # a q above 1: Kamailio after the challenge, kamtool before
        drain_kamailio_extra_reply(target, p)


@pytest.mark.parametrize("second", ["200", "0"])
def test_a_contact_twice_in_one_request_counts_once(target, second):
    """The first occurrence counts, as Kamailio's usrloc (the second has the same Call-ID
    and CSeq: a retransmission of it). kamtool stored two bindings of the same URI."""
    with peer(target) as p:
        got = ok(reg(p, "1001", [f"Contact: <{A}>;expires=100, <{A}>;expires={second}"]), target)
        assert list(got) == [A] and expires_of(got[A]) == 100
        assert list(bindings(target)) == [A]


def test_contact_parameters(target):
    """URI parameters stay in the binding; of the header parameters the 200 gives back
    expires, +sip.instance and reg-id (the unknown ones are not echoed). ``methods``
    (RFC 3840) is the binding's method set, as Kamailio (INVITE 1 | MESSAGE 256); kamtool
    ignored it (all methods)."""
    uri = f"{A};transport=udp;foo=bar;ob"
    with peer(target) as p:
        params = f';methods="INVITE,MESSAGE";unknown=1;+sip.instance="{INSTANCE}";reg-id=1;flag'
        r = reg(p, "1001", [f'Contact: "Alice" <{uri}>{params}', "Expires: 600"])
        assert ok(r, target) == {uri: f';expires=600;+sip.instance="{INSTANCE}";reg-id=1'}
        got = bindings(target)[uri]
        assert (got["Methods"], got["Instance"], got["Reg-Id"]) == (257, INSTANCE, 1)


def test_allow_header_sets_the_methods_without_a_methods_parameter(target):
    with peer(target) as p:
        ok(reg(p, "1001", [f"Contact: <{A}>", "Allow: INVITE, BYE", "Expires: 600"]), target)
        assert bindings(target)[A]["Methods"] == 1 | 8


def test_outbound_registration(target):
    """+sip.instance with reg-id and ``Supported: outbound``: both store the instance and
    reg-id; kamtool (outbound_mode 1 by default, Kamailio's 0) answers ``Require:
    outbound`` as RFC 5626 6 asks of a registrar that supports it."""
    contact = f'<{A};ob>;+sip.instance="{INSTANCE}";reg-id=1'
    with peer(target) as p:
        r = reg(p, "1001", [f"Contact: {contact}", "Supported: outbound, path", "Expires: 600"])
        assert ok(r, target) == {f"{A};ob": f';expires=600;+sip.instance="{INSTANCE}";reg-id=1'}
        assert r.get("require") == ("outbound" if target.name == "kamtool" else "")
        assert bindings(target)[f"{A};ob"]["Reg-Id"] == 1


@pytest.mark.parametrize("supported", [True, False])
def test_path(target, supported):
    """RFC 3327. Kamailio's cfg leaves registrar use_path at 0: Path is ignored (not
    stored, not echoed) whether or not the UA supports it. kamtool has use_path on by
    default (a registrar behind an edge proxy works without a setting) with path_mode 2:
    Path stored and echoed, and 420 with ``Unsupported: path`` when the UA does not say
    it supports Path (RFC 3327 5.3)."""
    edge = "<sip:edge.example.com;lr>"
    extra = ["Supported: path"] if supported else []
    with peer(target) as p:
        r = reg(p, "1001", [f"Contact: <{A}>", f"Path: {edge}", *extra, "Expires: 600"])
        if target.name == "kamailio":
            ok(r, target)
            assert not r.get("path") and bindings(target)[A]["Path"] == "[not set]"
        elif supported:
            ok(r, target)
            assert r.get("path") == edge and bindings(target)[A]["Path"] == edge
        else:
            assert (r.status, r.get("unsupported")) == (420, "path")
            assert bindings(target) == {}


def test_gruu_is_not_offered(target):
    """gruu_enabled 0: no pub-gruu/temp-gruu in the 200 (kamtool has no GRUU)."""
    with peer(target) as p:
        r = reg(p, "1001", [f'Contact: <{A}>;+sip.instance="{INSTANCE}"', "Supported: gruu",
                            "Expires: 600"])  # fmt: skip
        assert ok(r, target) == {A: f';expires=600;+sip.instance="{INSTANCE}"'}
        assert "gruu" not in r.get("require")


def test_register_without_contact_fetches_the_bindings(target):
    with peer(target) as p:
        assert ok(reg(p, "1001", []), target) == {}
        ok(reg(p, "1001", [f"Contact: <{A}>;q=0.7", "Expires: 600"]), target)
        got = ok(reg(p, "1001", []), target)
        assert list(got) == [A] and got[A].startswith(";q=0.7;expires=")
        assert bindings(target)[A]["CSeq"] == 2  # the fetch changed nothing


@pytest.mark.parametrize(
    "uri, to",
    [
        (None, '"Bob Smith" <sip:1001@127.0.0.1>;foo=bar'),  # a display name, To params
        ("sip:1001@127.0.0.1:{port}", None),  # a user part in the R-URI
        ("sip:example.com", None),  # an R-URI of another domain: the To is the AoR
    ],
)
def test_the_aor_is_the_to_user(target, uri, to):
    with peer(target) as p:
        uri = uri and uri.format(port=target.sip_port)
        ok(reg(p, "1001", [f"Contact: <{A}>", "Expires: 600"], uri=uri, to=to), target)
        assert list(bindings(target)) == [A]


def test_unregister_one_of_several(target):
    with peer(target) as p:
        ok(reg(p, "1001", [f"Contact: <{A}>, <{B}>", "Expires: 600"]), target)
        assert list(ok(reg(p, "1001", [f"Contact: <{A}>;expires=0"]), target)) == [B]
        assert list(bindings(target)) == [B]


def test_tcp_binding_outlives_its_connection(target):
    """Without tcp_persistent_flag neither server drops a binding when the connection it
    came over closes (usrloc keeps it until it expires)."""
    with Peer("tcp", target.sip_port) as p:
        ok(reg(p, "1001", [f"Contact: {p.contact('1001')}", "Expires: 600"]), target)
        mine = p.contact("1001")[1:-1]
    time.sleep(1.0)
    assert list(bindings(target)) == [mine]
    with peer(target):
        pass
