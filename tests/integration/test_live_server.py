"""The in-thread server the browser tests run idp on (`tests/helpers/live.py`) leaves no file
open when a browser drops a connection: a leaked file surfaces, at random, as an
unclosed-file warning in whichever test runs next (it failed CI once that way)."""

from __future__ import annotations

import gc
import socket
import struct
import time
import warnings

from tests.helpers.live import serve_in_thread

RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, as a browser may


def _read_then_reset(base_url: str, path: str) -> bytes:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        received = b""
        while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < 1000:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
    return received


def test_a_connection_reset_after_a_static_file_leaves_no_file_open(app):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with serve_in_thread(app) as base_url:
            for _ in range(20):
                answer = _read_then_reset(base_url, "/static/passkeys.js")
                assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
            time.sleep(0.3)  # the server's threads finish with the dropped connections
        gc.collect()
    unclosed = [str(warning.message) for warning in seen if issubclass(warning.category, ResourceWarning)]
    assert unclosed == []
