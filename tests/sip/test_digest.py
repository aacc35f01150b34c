"""Digest authentication: published vectors, Kamailio's observed behaviour, nonces, nc replay."""

from __future__ import annotations

import base64
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kamtool.sip import digest
from kamtool.sip.digest import (
    AuthStatus,
    Challenge,
    Credentials,
    DigestParseError,
    NonceCountTracker,
    NonceSigner,
    NonceState,
    answer_challenge,
    compute_response,
    ha1,
    ha1b,
    lookup_key,
    make_challenge,
    parse_challenge,
    parse_credentials,
    select_challenge,
    select_ha1,
    verify,
)

SECRET = b"0123456789abcdef-test-secret"
T0 = 1_795_693_395.0  # the expiry Kamailio's trace nonce starts with, as a plausible "now"


# ---------------------------------------------------------------- HA1 as kamctl writes it


@pytest.mark.parametrize(
    ("user", "domain", "password", "want_ha1", "want_ha1b"),
    [
        # reference README section 5: kamctl add 1001 secret1001 (SIP_DOMAIN=127.0.0.1)
        ("1001", "127.0.0.1", "secret1001", "1c13f0eb55501935b8c882b618f78401",
         "04a5b32d222c1ed7fc5a2662ac14f049"),
        # kamctl add 2002@example.com pw2002
        ("2002", "example.com", "pw2002", "efaac39f756549801536706b02f3e66a",
         "c8df7105f75323983a77881fa529a090"),
    ],
)  # fmt: skip
def test_ha1_and_ha1b_match_kamctl_rows(user, domain, password, want_ha1, want_ha1b):
    assert ha1(user, domain, password) == want_ha1
    assert ha1b(user, domain, password) == want_ha1b


def test_lookup_key_follows_use_domain_rules():
    assert lookup_key("1001", "127.0.0.1") == ("1001", "127.0.0.1")
    assert lookup_key("1001@127.0.0.1", "127.0.0.1") == ("1001", "127.0.0.1")
    assert lookup_key("1002@", "127.0.0.1") == ("1002", "127.0.0.1")  # sipsak
    assert lookup_key("1001@example.com", "127.0.0.1") == ("1001", "example.com")


def _kamailio_answer(username: str, calculate_ha1: bool) -> AuthStatus:
    """Client answers with the right password; server uses the row of subscriber 1001/1002."""
    realm = "127.0.0.1"
    signer = NonceSigner(SECRET)
    nonce = signer.issue(realm, T0, b"abcd")
    user, domain = lookup_key(username, realm)
    rows = {
        (u, realm): {"password": pw, "ha1": ha1(u, realm, pw), "ha1b": ha1b(u, realm, pw)}
        for u, pw in (("1001", "secret1001"), ("1002", "secret1002"))
    }
    row = rows.get((user, domain))
    if row is None:
        return AuthStatus.NO_HA1
    password = row["password"]
    creds = answer_challenge(
        make_challenge(realm, nonce),
        method="REGISTER",
        uri="sip:127.0.0.1",
        username=username,
        # the client hashes the username string it sends
        ha1_hex=ha1(username, realm, password),
    )
    secret = select_ha1(
        creds.username,
        realm,
        calculate_ha1=calculate_ha1,
        password=row["password"],
        stored_ha1=row["ha1"],
        stored_ha1b=row["ha1b"],
    )
    return verify(creds, "REGISTER", realm=realm, ha1_hex=secret, signer=signer, now=T0).status


@pytest.mark.parametrize(
    ("username", "calc_yes", "calc_no"),
    [
        ("1001", AuthStatus.OK, AuthStatus.OK),  # sipp: uses ha1
        ("1001@127.0.0.1", AuthStatus.OK, AuthStatus.OK),  # sipp -au: uses ha1b
        ("1002@", AuthStatus.OK, AuthStatus.BAD_RESPONSE),  # sipsak: literal "1002@" vs ha1b
        ("1001@example.com", AuthStatus.NO_HA1, AuthStatus.NO_HA1),  # no such subscriber
    ],
)
def test_reference_table_of_section_6(username, calc_yes, calc_no):
    assert _kamailio_answer(username, calculate_ha1=True) is calc_yes
    assert _kamailio_answer(username, calculate_ha1=False) is calc_no


def test_select_ha1_needs_the_right_column():
    assert select_ha1("1001", "r", calculate_ha1=True) is None
    assert select_ha1("1001", "r", calculate_ha1=False, stored_ha1b="X") is None
    assert select_ha1("1001@r", "r", calculate_ha1=False, stored_ha1b="ABC") == "abc"


# ---------------------------------------------------------------- published response vectors


def test_rfc2617_example():
    creds = parse_credentials(
        'Digest username="Mufasa", realm="testrealm@host.com",'
        ' nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth,'
        ' nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1",'
        ' opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    secret = ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    got = compute_response(
        secret, method="GET", uri=creds.uri, nonce=creds.nonce, qop="auth",
        nc=creds.nc, cnonce=creds.cnonce,
    )  # fmt: skip
    assert got == creds.response == "6629fae49393a05397450978507c4ef1"
    assert creds.opaque == "5ccc069c403ebaf9f0171e9517f40e41"


@pytest.mark.parametrize(
    ("algorithm", "want"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_example(algorithm, want):
    challenge = Challenge(
        realm="http-auth@example.org",
        nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        algorithm=algorithm,
        qop=("auth", "auth-int"),
        opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
    )
    creds = answer_challenge(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle of Life",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )
    assert creds.response == want
    assert (creds.qop, creds.nc, creds.opaque) == ("auth", "00000001", challenge.opaque)


def test_kamailio_trace_register_and_invite():
    """Answers sipp sent to the reference Kamailio (sip-traces.txt sections 1 and 2)."""
    register = parse_credentials(
        'Digest username="1003",realm="127.0.0.1",uri="sip:127.0.0.1:5060",'
        'nonce="awgbU2sIGifMf23OkpnTnoUiCmnpL65K",'
        'response="7364cc0b4d8158bb1e1ea4db490f19ce",algorithm=MD5'
    )
    assert register.response == compute_response(
        ha1("1003", "127.0.0.1", "secret1003"),
        method="REGISTER",
        uri=register.uri,
        nonce=register.nonce,
        algorithm=register.algorithm,
    )
    challenge = parse_challenge(
        'Digest realm="127.0.0.1", nonce="awgbamsIGj70Bc3e70k7x4WWbe7R2QuG"'
    )
    invite = answer_challenge(
        challenge, method="INVITE", uri="sip:127.0.0.1:5060", username="1001",
        password="secret1001",
    )  # fmt: skip
    assert invite.response == "41252c72cd262bf1ce3ecf60bfe5632f"
    assert invite.qop is None and invite.nc is None and invite.cnonce is None


def test_sess_variant_and_auth_int():
    secret = ha1("u", "r", "p", "SHA-256")
    plain = compute_response(secret, method="M", uri="sip:x", nonce="n", algorithm="SHA-256")
    sess = compute_response(
        secret, method="M", uri="sip:x", nonce="n", algorithm="sha-256-sess", cnonce="c",
        qop="auth", nc="00000001",
    )  # fmt: skip
    assert len(plain) == len(sess) == 64 and plain != sess
    a = compute_response(secret, method="M", uri="u", nonce="n", qop="auth-int", nc="00000001",
                         cnonce="c", body=b"v=0")  # fmt: skip
    b = compute_response(secret, method="M", uri="u", nonce="n", qop="auth-int", nc="00000001",
                         cnonce="c", body=b"v=1")  # fmt: skip
    assert a != b
    with pytest.raises(DigestParseError):
        compute_response(secret, method="M", uri="u", nonce="n", algorithm="SHA-1")


# ---------------------------------------------------------------- header syntax


def test_challenge_format_is_kamailios():
    c = make_challenge("127.0.0.1", "awgbU2sIGifMf23OkpnTnoUiCmnpL65K")
    assert c.to_header() == 'Digest realm="127.0.0.1", nonce="awgbU2sIGifMf23OkpnTnoUiCmnpL65K"'
    assert parse_challenge(c.to_header()) == c


def test_challenge_with_everything_round_trips():
    c = make_challenge("r", "n", stale=True, qop=("auth", "auth-int"), algorithm="sha-256",
                       opaque="o")  # fmt: skip
    text = c.to_header()
    assert "stale=true" in text and "algorithm=SHA-256" in text and 'qop="auth,auth-int"' in text
    assert parse_challenge(text.encode()) == c


def test_quoted_string_escapes_and_commas():
    creds = Credentials(
        username='we"ird\\user, x', realm="r", nonce="n", uri="sip:a@b;x=1,2",
        response="00", qop="auth", nc="0000000a", cnonce="c,c",
    )  # fmt: skip
    text = creds.to_header()
    assert r'username="we\"ird\\user, x"' in text
    assert parse_credentials(text) == creds


def test_parse_is_lenient_on_whitespace_and_case():
    creds = parse_credentials(
        'digest  USERNAME = "1001" ,realm="r",nonce="n",\r\n uri="sip:r",'
        'response="AB",ALGORITHM=md5'
    )
    assert (creds.username, creds.algorithm, creds.response) == ("1001", "md5", "AB")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "Basic dXNlcjpwYXNz",
        'Digest realm="r"',  # no nonce (as a challenge) / many missing (as credentials)
        'Digest realm="r", nonce="n", realm="x"',  # duplicate
        'Digest realm="unterminated, nonce="n"',
        'Digest realm="r" nonce="n"',  # missing comma
        "Digest realm=, nonce=n",
    ],
)
def test_malformed_headers_raise_parse_error(bad):
    with pytest.raises(DigestParseError):
        parse_challenge(bad)
    with pytest.raises(DigestParseError):
        parse_credentials(bad)


def test_credentials_rules():
    base = 'Digest username="u", realm="r", nonce="n", uri="sip:r", response="x"'
    with pytest.raises(DigestParseError, match="qop requires"):
        parse_credentials(base + ", qop=auth")
    with pytest.raises(DigestParseError, match="8 hex"):
        parse_credentials(base + ', qop=auth, nc=1, cnonce="c"')
    assert parse_credentials(base + ", foo=bar").extra == {"foo": "bar"}


_text = st.text(st.characters(blacklist_characters="\r\n\0", codec="utf-8"), max_size=20)


@given(
    username=_text, realm=_text, nonce=_text, uri=_text, cnonce=_text, nc=st.integers(1, 2**32 - 1)
)
def test_credentials_round_trip_property(username, realm, nonce, uri, cnonce, nc):
    creds = Credentials(username=username, realm=realm, nonce=nonce, uri=uri, response="ab" * 16,
                        algorithm="MD5", qop="auth", nc=f"{nc:08x}", cnonce=cnonce)  # fmt: skip
    assert parse_credentials(creds.to_header()) == creds


@given(st.binary(max_size=200))
def test_garbage_only_raises_parse_error(data):
    for parse in (parse_challenge, parse_credentials):
        try:
            parse(b"Digest " + data)
        except DigestParseError:
            pass


# ---------------------------------------------------------------- nonces


def test_nonce_looks_like_kamailios_and_carries_expiry():
    signer = NonceSigner(SECRET, lifetime=30)
    nonce = signer.issue("127.0.0.1", T0, b"\x01\x02\x03\x04")
    assert len(nonce) == 32 and len(base64.b64decode(nonce)) == 24
    assert signer.expires(nonce) == int(T0 + 30)
    assert signer.check(nonce, "127.0.0.1", T0) is NonceState.VALID
    assert signer.check(nonce, "127.0.0.1", T0 + 29.9) is NonceState.VALID
    assert signer.check(nonce, "127.0.0.1", T0 + 30) is NonceState.STALE
    assert signer.check(nonce, "example.com", T0) is NonceState.INVALID  # other realm
    assert NonceSigner(b"another-secret-of-16+").check(nonce, "127.0.0.1", T0) is NonceState.INVALID


@pytest.mark.parametrize(
    "mutate", ["flip_expiry", "flip_mac", "truncate", "not_base64", "kamailio"]
)
def test_tampered_nonce_is_invalid(mutate):
    signer = NonceSigner(SECRET)
    raw = bytearray(base64.b64decode(signer.issue("r", T0, b"salt")))
    if mutate == "flip_expiry":  # trying to extend its lifetime
        raw[0] ^= 0x01
        nonce = base64.b64encode(raw).decode()
    elif mutate == "flip_mac":
        raw[-1] ^= 0x80
        nonce = base64.b64encode(raw).decode()
    elif mutate == "truncate":
        nonce = base64.b64encode(raw[:-1]).decode()
    elif mutate == "not_base64":
        nonce = "!!!!" + base64.b64encode(raw).decode()[4:]
    else:  # a real Kamailio nonce: same length, not signed with our secret
        nonce = "awgbU2sIGifMf23OkpnTnoUiCmnpL65K"
    assert signer.check(nonce, "r", T0) is NonceState.INVALID
    creds = answer_challenge(make_challenge("r", nonce), method="INVITE", uri="sip:r",
                             username="u", password="p")  # fmt: skip
    result = verify(creds, "INVITE", realm="r", ha1_hex=ha1("u", "r", "p"), signer=signer, now=T0)
    assert result.status is AuthStatus.INVALID_NONCE and not result.ok


def test_short_secret_rejected():
    with pytest.raises(ValueError):
        NonceSigner(b"short")


# ---------------------------------------------------------------- verify


def _setup(qop=(), algorithm=None, lifetime=60.0):
    signer = NonceSigner(SECRET, lifetime=lifetime)
    challenge = make_challenge("r", signer.issue("r", T0, b"salt"), qop=qop, algorithm=algorithm)
    return signer, challenge


def test_verify_ok_wrong_password_and_realm():
    signer, challenge = _setup()
    good = answer_challenge(challenge, method="INVITE", uri="sip:r", username="u", password="p")
    secret = ha1("u", "r", "p")
    assert verify(good, "INVITE", realm="r", ha1_hex=secret, signer=signer, now=T0).ok
    # the method is part of HA2
    assert (
        verify(good, "BYE", realm="r", ha1_hex=secret, signer=signer, now=T0).status
        is AuthStatus.BAD_RESPONSE
    )
    bad = answer_challenge(challenge, method="INVITE", uri="sip:r", username="u", password="x")
    assert (
        verify(bad, "INVITE", realm="r", ha1_hex=secret, signer=signer, now=T0).status
        is AuthStatus.BAD_RESPONSE
    )
    assert (
        verify(good, "INVITE", realm="other", ha1_hex=secret, signer=signer, now=T0).status
        is AuthStatus.REALM_MISMATCH
    )
    assert (
        verify(good, "INVITE", realm="r", ha1_hex=None, signer=signer, now=T0).status
        is AuthStatus.NO_HA1
    )


def test_stale_only_for_a_correct_response():
    signer, challenge = _setup(lifetime=10)
    secret = ha1("u", "r", "p")
    good = answer_challenge(challenge, method="REGISTER", uri="sip:r", username="u", password="p")
    late = verify(good, "REGISTER", realm="r", ha1_hex=secret, signer=signer, now=T0 + 11)
    assert late.status is AuthStatus.STALE_NONCE and late.stale
    assert "stale=true" in make_challenge("r", "fresh", stale=late.stale).to_header()
    bad = answer_challenge(challenge, method="REGISTER", uri="sip:r", username="u", password="q")
    late_bad = verify(bad, "REGISTER", realm="r", ha1_hex=secret, signer=signer, now=T0 + 11)
    assert late_bad.status is AuthStatus.BAD_RESPONSE and not late_bad.stale


def test_sha256_qop_auth_verifies():
    signer, challenge = _setup(qop=("auth",), algorithm="SHA-256")
    creds = answer_challenge(challenge, method="REGISTER", uri="sip:r", username="u",
                             password="p", cnonce="cn")  # fmt: skip
    assert creds.algorithm == "SHA-256" and len(creds.response) == 64
    secret = select_ha1("u", "r", calculate_ha1=True, password="p", algorithm="SHA-256")
    assert verify(creds, "REGISTER", realm="r", ha1_hex=secret, signer=signer, now=T0).ok
    with pytest.raises(ValueError, match="cnonce"):
        answer_challenge(challenge, method="REGISTER", uri="sip:r", username="u", password="p")


def test_unsupported_qop_or_algorithm():
    signer, challenge = _setup()
    creds = answer_challenge(challenge, method="M", uri="u", username="u", password="p")
    odd = Credentials(**{**_fields(creds), "algorithm": "SHA-1"})
    assert (
        verify(odd, "M", realm="r", ha1_hex="00", signer=signer, now=T0).status
        is AuthStatus.UNSUPPORTED
    )
    # a client's algorithm goes straight into select_ha1: no exception, then UNSUPPORTED
    assert select_ha1("u", "r", calculate_ha1=True, password="p", algorithm="SHA-1") is None
    assert (
        verify(odd, "M", realm="r", ha1_hex=None, signer=signer, now=T0).status
        is AuthStatus.UNSUPPORTED
    )
    odd = Credentials(**{**_fields(creds), "qop": "auth-conf", "nc": "00000001", "cnonce": "c"})
    assert (
        verify(odd, "M", realm="r", ha1_hex="00", signer=signer, now=T0).status
        is AuthStatus.UNSUPPORTED
    )


def _fields(c: Credentials) -> dict:
    return {k: getattr(c, k) for k in Credentials.__dataclass_fields__}


def test_nonce_count_replay_is_refused():
    signer, challenge = _setup(qop=("auth",))
    secret = ha1("u", "r", "p")
    tracker = NonceCountTracker()

    def attempt(nc: int) -> AuthStatus:
        creds = answer_challenge(challenge, method="INVITE", uri="sip:r", username="u",
                                 password="p", cnonce="c", nc=nc)  # fmt: skip
        return verify(creds, "INVITE", realm="r", ha1_hex=secret, signer=signer, now=T0,
                      nonce_counts=tracker).status  # fmt: skip

    assert attempt(1) is AuthStatus.OK
    assert attempt(1) is AuthStatus.REPLAY
    assert attempt(3) is AuthStatus.OK
    assert attempt(2) is AuthStatus.OK  # overtaken by nc=3, still fresh
    assert attempt(2) is AuthStatus.REPLAY
    assert attempt(3) is AuthStatus.REPLAY
    # a wrong response never consumes a count
    bad = answer_challenge(challenge, method="INVITE", uri="sip:r", username="u", password="x",
                           cnonce="c", nc=4)  # fmt: skip
    assert (
        verify(
            bad, "INVITE", realm="r", ha1_hex=secret, signer=signer, now=T0, nonce_counts=tracker
        ).status  # fmt: skip
        is AuthStatus.BAD_RESPONSE
    )
    assert attempt(4) is AuthStatus.OK


def test_no_qop_reuse_allowed_unless_single_use():
    signer, challenge = _setup()
    secret = ha1("u", "r", "p")
    creds = answer_challenge(challenge, method="INVITE", uri="sip:r", username="u", password="p")
    tracker = NonceCountTracker()
    kw = dict(realm="r", ha1_hex=secret, signer=signer, now=T0, nonce_counts=tracker)
    assert verify(creds, "INVITE", **kw).ok and verify(creds, "INVITE", **kw).ok  # Kamailio default
    assert verify(creds, "INVITE", **kw, single_use_without_qop=True).ok
    assert verify(creds, "INVITE", **kw, single_use_without_qop=True).status is AuthStatus.REPLAY


def test_tracker_window_and_bounds():
    t = NonceCountTracker(max_nonces=2)
    assert t.check("a", 1, expires=100) is NonceState.VALID
    assert t.check("a", 100, expires=100) is NonceState.VALID
    assert t.check("a", 36, expires=100) is NonceState.INVALID  # fell out of the 64-wide window
    assert t.check("a", 99, expires=100) is NonceState.VALID
    assert t.check("a", 0, expires=100) is NonceState.INVALID
    assert t.check("b", 1, expires=110) is NonceState.VALID
    assert t.check("c", 1, expires=105) is NonceState.VALID  # evicts "a" (least recently used)
    assert len(t) == 2
    # "a" was forgotten: it and anything expiring no later than it come back stale, not fresh
    assert t.check("a", 1, expires=100) is NonceState.STALE
    assert t.check("d", 1, expires=99) is NonceState.STALE
    assert t.check("e", 1, expires=101) is NonceState.VALID
    t.prune(now=106)
    assert len(t) == 0 or all(e[2] > 106 for e in t._seen.values())


@given(st.lists(st.integers(1, 200), max_size=60))
def test_tracker_never_accepts_a_count_twice(counts):
    t = NonceCountTracker()
    accepted = [nc for nc in counts if t.check("n", nc, expires=1) is NonceState.VALID]
    assert len(accepted) == len(set(accepted))


def test_responses_compared_in_constant_time(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(digest.hmac, "compare_digest", spy)
    signer, challenge = _setup()
    creds = answer_challenge(challenge, method="M", uri="u", username="u", password="p")
    assert verify(creds, "M", realm="r", ha1_hex=ha1("u", "r", "p"), signer=signer, now=T0).ok
    assert (creds.response.encode(), creds.response.encode()) in calls  # the response check
    assert len(calls) == 2  # and the nonce MAC check


def test_select_challenge_rfc8760_order():
    values = [
        'Basic realm="r"',
        'Digest realm="r", nonce="n1", algorithm=SHA-1',  # not supported: skipped
        'Digest realm="r", nonce="n2", algorithm=SHA-256, qop="auth-conf"',  # qop unsupported
        'Digest realm="r", nonce="n3", algorithm=SHA-256, qop="auth"',
        'Digest realm="r", nonce="n4"',
    ]
    assert select_challenge(values).nonce == "n3"
    assert select_challenge(values[-1:]).algorithm is None  # MD5, Kamailio style
    assert select_challenge(values[:3]) is None
