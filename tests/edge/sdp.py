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
        "Via: SIP/2.0/UDP 10.1.2.3:5060;branch=z9hG4bK-inv1\r\n"
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
        "Via: SIP/2.0/UDP 10.1.2.3:5060;branch=z9hG4bK-inv1\r\n"
        "From: <sip:alice@127.0.0.1>;tag=alicetag\r\nTo: <sip:bob@127.0.0.1>;tag=bobtag\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 {method}\r\n"
        + ("Content-Type: application/sdp\r\n" if sdp else "")
        + f"Content-Length: {len(body)}\r\n\r\n{body}"
    )
    return parse_message(text.encode())


def request(method: str, call_id: str):
    text = (
        f"{method} sip:bob@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.1.2.3:5060;branch=z9hG4bK-other\r\n"
        "From: <sip:alice@127.0.0.1>;tag=alicetag\r\nTo: <sip:bob@127.0.0.1>;tag=bobtag\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 2 {method}\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    return parse_message(text.encode())
