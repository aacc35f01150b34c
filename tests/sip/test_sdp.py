"""kamtool.sip.sdp: SDP sessions and streams with their offsets, as Kamailio's parser reads
them (what KSR.sdpops edits), for plain and multipart bodies and the bodies it refuses."""

from __future__ import annotations

import pytest

from kamtool.sip.sdp import SdpError, delete_spans, sessions

OFFER = (
    "v=0\r\no=- 1 7 IN IP6 2001:db8::1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 4000 RTP/SAVP 0 96\r\nc=IN IP6 2001:db8::1\r\na=rtpmap:96 opus/48000/2\r\n"
    "a=recvonly\r\nm=image 0 udptl t38\r\nc=IN IP4 192.0.2.1\r\n"
)


def test_streams_fields_and_spans():
    (ses,) = sessions("application/sdp", OFFER)
    assert (ses.sess_version, ses.family) == ("7", 0)  # no session c=: no family
    audio, image = ses.streams
    assert (audio.media, audio.port, audio.transport, audio.payloads) == (
        "audio", "4000", "RTP/SAVP", ["0", "96"])  # fmt: skip
    assert audio.rtpmap == {"96": "opus"} and audio.sendrecv == "recvonly"
    assert OFFER[audio.start : audio.end].startswith("m=audio") and audio.end == image.start
    assert image.end == len(OFFER) and image.payloads == ["t38"]
    assert OFFER[audio.payloads_at :].startswith("0 96\r\n")


def test_multipart_parts_of_type_sdp_only():
    body = (
        "--xyz\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        f"--xyz\r\nContent-Type: application/sdp\r\n\r\n{OFFER}\r\n--xyz--\r\n"
    )
    (ses,) = sessions('multipart/mixed;boundary="xyz"', body)
    assert body[ses.start : ses.end] == OFFER
    assert [s.media for s in ses.streams] == ["audio", "image"]


@pytest.mark.parametrize(
    "ctype,body",
    [
        ("text/plain", "v=0\r\n"),  # not SDP
        (None, OFFER),  # a body without Content-Type (Kamailio: an error)
        ("application/sdp", "v=0\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\n"),  # no o=
        ("application/sdp", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 0\r\n"),  # no c=
        ("application/sdp", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\nm=audio 1\r\n"),
        ("multipart/mixed", OFFER),  # no boundary
    ],
)
def test_bodies_kamailio_refuses(ctype, body):
    with pytest.raises(SdpError):
        sessions(ctype, body)


def test_no_body_is_no_session_and_spans_delete_once():
    assert sessions(None, "") == []
    assert delete_spans("abcdef", [(4, 5), (1, 3), (2, 3)]) == "adf"
