"""SIP messages with SDP bodies for the RTPEngine tests."""

from __future__ import annotations

from kamtool.sip import parse_message

SDP = (
    "v=0\r\no=alice 2890844526 2890844526 IN IP4 10.1.2.3\r\ns=-\r\nc=IN IP4 10.1.2.3\r\n"
    "t=0 0\r\nm=audio {port} RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
)


def invite(call_id: str, port: int = 49170, sdp: bool = True):
    body = SDP.format(port=port) if sdp else ""
    text = (
        "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bK-inv1\r\n"
        "From: <sip:alice@127.0.0.1>;tag=alicetag\r\nTo: <sip:bob@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
        "Contact: <sip:alice@10.1.2.3>\r\n"
        + ("Content-Type: application/sdp\r\n" if sdp else "")
        + f"Content-Length: {len(body)}\r\n\r\n{body}"
    )
    return parse_message(text.encode())


def reply(
    call_id: str, status: int = 200, port: int = 50000, method: str = "INVITE", sdp: bool = True
):
    body = SDP.replace("alice", "bob").replace("10.1.2.3", "10.9.8.7").format(port=port)
    body = body if sdp else ""
    text = (
        f"SIP/2.0 {status} Whatever\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bK-inv1\r\n"
        "From: <sip:alice@127.0.0.1>;tag=alicetag\r\nTo: <sip:bob@127.0.0.1>;tag=bobtag\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 {method}\r\n"
        + ("Content-Type: application/sdp\r\n" if sdp else "")
        + f"Content-Length: {len(body)}\r\n\r\n{body}"
    )
    return parse_message(text.encode())


def request(method: str, call_id: str):
    text = (
        f"{method} sip:bob@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bK-other\r\n"
        "From: <sip:alice@127.0.0.1>;tag=alicetag\r\nTo: <sip:bob@127.0.0.1>;tag=bobtag\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 2 {method}\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    return parse_message(text.encode())


# what a browser offers: DTLS-SRTP over ICE, RTCP multiplexed
WEBRTC_SDP = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0\r\na=msid-semantic: WMS\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=candidate:1 1 udp 2122260223 10.1.2.3 56143 typ host generation 0\r\n"
    "a=ice-ufrag:Fj4k\r\na=ice-pwd:0ZfEJ7vOyPR9aDqtPxzKzD3G\r\na=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 "
    + ":".join(f"{i * 7 % 256:02X}" for i in range(32))
    + "\r\na=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"
)


def with_body(msg, body: str):
    """``msg`` carrying ``body`` as its SDP."""
    msg.body = body.encode()
    msg.headers.set("Content-Type", "application/sdp")
    return msg
