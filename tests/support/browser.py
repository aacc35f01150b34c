"""A real browser for the edge tests: Debian's Chromium, headless, loading a page from a
loopback HTTP server that also collects what the page reports (``/result?s=...``).

The pages' SIP stacks (SIP.js and JsSIP from the npm registry) are installed by
``scripts/test`` into ``tests/edge/browser/node_modules``; SIP.js is served at ``/sipjs/``,
JsSIP's CommonJS modules at ``/node_modules/`` for the page's loader (``cjs.js``).
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.require import unavailable

PAGES = Path(__file__).resolve().parent.parent / "edge" / "browser"
SIPJS = PAGES / "node_modules" / "sip.js"
JSSIP = PAGES / "node_modules" / "jssip"  # CommonJS: pages load it with /cjs.js
CHROMIUM = ("chromium", "chromium-browser")


def chromium() -> str:
    for name in CHROMIUM:
        path = shutil.which(name)
        if path:
            return path
    unavailable("chromium is not installed (apt-get install chromium)")
    raise AssertionError("unreachable")


def need_sipjs() -> None:
    if not (SIPJS / "lib" / "index.js").is_file():
        unavailable("SIP.js is not installed: npm install --prefix tests/edge/browser")


def need_jssip() -> None:
    if not (JSSIP / "lib" / "JsSIP.js").is_file():
        unavailable("JsSIP is not installed: npm install --prefix tests/edge/browser")


class PageServer:
    """Serves :data:`PAGES` (``/sipjs/`` is SIP.js) on 127.0.0.1 and queues what pages
    report; :meth:`wait_for` reads the queue."""

    def __init__(self) -> None:
        need_sipjs()
        self.reports: queue.Queue[str] = queue.Queue()
        reports = self.reports

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(PAGES), **kw)

            def translate_path(self, path: str) -> str:
                if path.startswith("/sipjs/"):
                    rel = urllib.parse.urlsplit(path).path[len("/sipjs/") :]
                    return str(SIPJS / urllib.parse.unquote(rel))
                return super().translate_path(path)

            def do_GET(self) -> None:
                if self.path.startswith("/result?"):
                    query = urllib.parse.urlsplit(self.path).query
                    for s in urllib.parse.parse_qs(query).get("s", []):
                        reports.put(s)
                    self.send_response(204)
                    self.end_headers()
                    return
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        Handler.extensions_map = {**Handler.extensions_map, ".js": "text/javascript"}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, page: str, **params: str) -> str:
        return f"{self.origin}/{page}?{urllib.parse.urlencode(params)}"

    def wait_for(self, wanted: str, timeout: float = 30.0) -> list[str]:
        """Reports up to and including the first that starts with ``wanted``; AssertionError
        (with what came) when it does not come in time or the page reports an error."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                s = self.reports.get(timeout=left)
            except queue.Empty:
                break
            seen.append(s)
            if s.startswith(wanted):
                return seen
            if s.startswith("error:"):
                break
        raise AssertionError(f"the page did not report {wanted!r}; it reported {seen}")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Browser:
    """One headless Chromium showing ``url`` (fake camera and microphone, any TLS
    certificate accepted: the tests' own is self-signed)."""

    def __init__(self, url: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        self.log = open(Path(self.profile) / "chromium.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                chromium(),
                "--headless=new",
                "--no-sandbox",  # root in a container has no user namespace sandbox
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--ignore-certificate-errors",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",  # keeps it running with no window
                url,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def output(self) -> str:
        return (Path(self.profile) / "chromium.log").read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
