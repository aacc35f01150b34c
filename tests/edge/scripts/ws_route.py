"""A route script for the KSR.websocket test: an OPTIONS over a WebSocket is answered
with whether handle_handshake() saw one; a MESSAGE closes the connection (1001)."""
import KSR


def ksr_request_route():
    method = KSR.pv.get("$rm")
    if method == "OPTIONS":
        ws = KSR.websocket.handle_handshake() > 0
        KSR.sl.sl_send_reply(200, "websocket" if ws else "not websocket")
    elif method == "MESSAGE":
        KSR.websocket.close_reason(1001, "closed by the route")
    return 1
