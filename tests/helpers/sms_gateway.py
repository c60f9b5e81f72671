"""A real HTTP server standing in for an SMS gateway, started by the test: it records every
request it receives (path, headers, JSON body) and answers as told: accept (200), fail (an
HTTP error status) or hang (answer only after ``hang_seconds``, longer than idp waits)."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WEBOTP_CODE = re.compile(r"#(\d{6})$")


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: dict

    def text_in(self, field: str = "text") -> str:
        value = self.body
        for part in field.split("."):
            value = value[int(part)] if isinstance(value, list) else value[part]
        return value


class SmsGateway:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status = 200
        self.hang_seconds = 0.0
        self._lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with gateway._lock:
                    gateway.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw))
                    )
                    status, hang = gateway.status, gateway.hang_seconds
                if hang:
                    time.sleep(hang)
                body = b'{"ok": true}' if status < 300 else b'{"error": "unavailable", "echo": "secret text"}'
                try:
                    self.send_response(status)
                    if 300 <= status < 400:
                        self.send_header("Location", f"http://127.0.0.1:{gateway.port}/elsewhere")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # idp gave up waiting

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1/messages"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> SmsGateway:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def sent_to(self, number: str, field: str = "to") -> list[Received]:
        with self._lock:
            return [request for request in self.received if request.text_in(field) == number]

    def last_code(self, number: str, to_field: str = "to", text_field: str = "text") -> str:
        requests = self.sent_to(number, to_field)
        assert requests, f"the gateway received nothing for {number}"
        match = WEBOTP_CODE.search(requests[-1].text_in(text_field))
        assert match, requests[-1].body
        return match.group(1)

    def settings(self, **overrides) -> dict:
        """The [sms] settings that send to this gateway (bearer token unless overridden)."""
        return {"backend": "http", "http_url": self.url, "http_auth": "bearer", "http_token": "gw-token-1", **overrides}
