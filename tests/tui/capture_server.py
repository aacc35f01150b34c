"""A JSON-RPC server over HTTP on loopback that answers from the Kamailio captures."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kamtool.errors import RpcError
from kamtool.tui.capture import CaptureClient
from tests.tui.fake import CAPTURES


class _Handler(BaseHTTPRequestHandler):
    client: CaptureClient

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            result = self.client.call(request["method"], *request.get("params", []))
            status, body = 200, {"jsonrpc": "2.0", "result": result, "id": request.get("id")}
        except RpcError as exc:  # like Kamailio: the error code is the HTTP status
            error = {"code": exc.rpc_code, "message": exc.message}
            status, body = exc.rpc_code, {"jsonrpc": "2.0", "error": error, "id": request.get("id")}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def capture_server(port: int) -> Iterator[CaptureClient]:
    """Serve ``http://127.0.0.1:<port>/RPC`` until the block ends; yields the answering client."""
    client = CaptureClient(CAPTURES)
    handler = type("Handler", (_Handler,), {"client": client})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield client
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
