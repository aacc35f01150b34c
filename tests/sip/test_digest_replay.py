"""Replay protection of the sans-IO digest code: nonce counts, one-time nonces and nonces
bound to request values (Kamailio's nonce_count, one_time_nonce, auth_checks_*)."""

from __future__ import annotations

from kamtool.sip.digest import (
    AuthStatus,
    NonceCountTracker,
    NonceSigner,
    answer_challenge,
    make_challenge,
    verify,
)
from kamtool.sip.nonce import CHECK_CALLID, CHECK_SRCIP, NonceState, binding

SIGNER = NonceSigner(b"k" * 32, lifetime=300)
HA1 = "ab" * 16  # any HA1: the client below answers with the same one


def _answer(nonce: str, *, qop: bool, nc: int = 1):
    challenge = make_challenge("r", nonce, qop=("auth",) if qop else ())
    return answer_challenge(challenge, method="REGISTER", uri="sip:r", username="u",
                            ha1_hex=HA1, cnonce="c1", nc=nc)  # fmt: skip


def _verify(creds, tracker, now=1000.0, **kw):
    return verify(creds, "REGISTER", realm="r", ha1_hex=HA1, signer=SIGNER, now=now,
                  nonce_counts=tracker, **kw).status  # fmt: skip


def test_a_nonce_count_is_accepted_once():
    tracker = NonceCountTracker()
    nonce = SIGNER.issue("r", 1000.0, b"salt")
    assert _verify(_answer(nonce, qop=True), tracker) is AuthStatus.OK
    assert _verify(_answer(nonce, qop=True), tracker) is AuthStatus.REPLAY
    assert _verify(_answer(nonce, qop=True, nc=2), tracker) is AuthStatus.OK
    # count_nc=False (Kamailio's nonce_count=0): reuse is not noticed
    assert _verify(_answer(nonce, qop=True), tracker, count_nc=False) is AuthStatus.OK


def test_without_qop_a_nonce_is_single_use_only_when_asked():
    tracker = NonceCountTracker()
    nonce = SIGNER.issue("r", 1000.0, b"salt")
    creds = _answer(nonce, qop=False)
    assert creds.nc is None
    assert _verify(creds, tracker) is AuthStatus.OK
    assert _verify(creds, tracker) is AuthStatus.OK  # Kamailio's default
    other = _answer(SIGNER.issue("r", 1000.0, b"sal2"), qop=False)
    assert _verify(other, tracker, single_use_without_qop=True) is AuthStatus.OK
    assert _verify(other, tracker, single_use_without_qop=True) is AuthStatus.REPLAY


def test_a_wrong_response_does_not_burn_the_count():
    tracker = NonceCountTracker()
    nonce = SIGNER.issue("r", 1000.0, b"salt")
    bad = verify(_answer(nonce, qop=True), "REGISTER", realm="r", ha1_hex="cd" * 16,
                 signer=SIGNER, now=1000.0, nonce_counts=tracker)  # fmt: skip
    assert bad.status is AuthStatus.BAD_RESPONSE
    assert _verify(_answer(nonce, qop=True), tracker) is AuthStatus.OK


def test_bound_nonce_is_stale_for_other_values_and_valid_for_its_own():
    mine = binding(CHECK_SRCIP | CHECK_CALLID, call_id="a@x", src_ip="192.0.2.1")
    theirs = binding(CHECK_SRCIP | CHECK_CALLID, call_id="a@x", src_ip="192.0.2.9")
    assert mine != theirs and binding(0, src_ip="192.0.2.1") == b""
    nonce = SIGNER.issue("r", 1000.0, b"salt", mine)
    assert len(nonce) == 48
    assert SIGNER.check(nonce, "r", 1001.0, mine) is NonceState.VALID
    assert SIGNER.check(nonce, "r", 1001.0, theirs) is NonceState.STALE
    assert SIGNER.check(nonce, "r", 1001.0) is NonceState.STALE  # checks turned off since
    assert SIGNER.check(nonce, "other", 1001.0, mine) is NonceState.INVALID
    unbound = SIGNER.issue("r", 1000.0, b"salt")
    assert SIGNER.check(unbound, "r", 1001.0, mine) is NonceState.STALE  # checks turned on
    # a right answer from elsewhere: stale (challenged again), a wrong one: bad response
    tracker = NonceCountTracker()
    assert _verify(_answer(nonce, qop=True), tracker, bound=theirs) is AuthStatus.STALE_NONCE
    assert _verify(_answer(nonce, qop=True), tracker, bound=mine) is AuthStatus.OK


def test_forged_binding_tail_is_not_accepted():
    import base64

    mine = binding(CHECK_SRCIP, src_ip="192.0.2.1")
    raw = bytearray(base64.b64decode(SIGNER.issue("r", 1000.0, b"salt", mine)))
    raw[-1] ^= 1
    forged = base64.b64encode(bytes(raw)).decode()
    assert SIGNER.check(forged, "r", 1001.0, mine) is NonceState.STALE
