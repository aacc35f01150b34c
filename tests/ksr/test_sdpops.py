"""``KSR.sdpops`` on a real Kamailio 5.6 (with sdpops.so) and on ``kamtool serve --route``:
the probe script's sdpops groups (tests/ksr/scripts/api_probe.py) must return what
Kamailio 5.6.3 returned (sdpops_expected.json) for an offer with audio and video, for a
text body and for none, and the edits must leave the same SDP on the wire."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.interop.wire import Peer
from tests.ksr.api_probe import api_server, probe
from tests.ksr.conftest import TARGETS

EXPECTED = json.loads((Path(__file__).with_name("sdpops_expected.json")).read_text())
OFFER = (
    "v=0\r\no=alice 2890844526 2890844527 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\na=X-session: 1\r\nm=audio 49170 RTP/AVP 0 8 18 101\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=X-nse: 1\r\na=sendrecv\r\n"
    "m=video 0 RTP/AVP 96 97\r\na=rtpmap:96 H264/90000\r\na=rtpmap:97 VP8/90000\r\n"
    "a=rtcp-fb:96 nack\r\na=inactive\r\n"
)


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"sdpops-{request.param}")
    with api_server(request.param, base) as t:
        t.out_dir = base  # type: ignore[attr-defined]
        yield t


def test_reads_answer_as_kamailio(target):
    """Media, codecs (static names, rtpmap names, unknown ones), transports, the SDP and
    one line into AVPs; 2 for codecs found in one stream and not in the other."""
    got, final, _ = probe(target, target.out_dir, "sdpread", body=OFFER,
                          content_type="application/sdp")  # fmt: skip
    assert final.status == 200
    assert got == [tuple(pair) for pair in EXPECTED["sdpread"]]


@pytest.mark.parametrize("body,content_type", [("hello", "text/plain"), ("", None)])
def test_a_text_body_or_none(target, body, content_type):
    """A body that is not SDP is an error (-1) for every function; no body at all is
    "not found" for the searches (0, -2) and an error for the edits."""
    got, _, _ = probe(target, target.out_dir, "sdpnone", body=body, content_type=content_type)
    assert got == [tuple(pair) for pair in EXPECTED[f"sdpnone:{content_type or ''}"]]


@pytest.mark.parametrize("group", ["sdpwire", "sdpkeep", "sdpkeepid", "sdpmedia"])
def test_edits_leave_kamailios_sdp_on_the_wire(target, group):
    """Codecs removed with their rtpmap/fmtp/rtcp-fb lines, kept by name and by id, lines
    removed by prefix, a stream removed: the relayed body is Kamailio's, byte for byte."""
    with Peer("udp", target.sip_port) as relay:
        got, final, relayed = probe(target, target.out_dir, group, relay=relay, body=OFFER,
                                    content_type="application/sdp")  # fmt: skip
    assert final.status == 200 and relayed is not None
    assert got == [tuple(pair) for pair in EXPECTED[group]["results"]]
    assert relayed.body.decode() == EXPECTED[group]["body"]
    assert relayed.body != OFFER.encode()
