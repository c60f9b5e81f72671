"""A relying party's back-channel logout endpoint, as a real HTTP server in the test, and an
independent check of logout tokens (the ``cryptography`` package on the raw JWS, not idp's
JOSE code nor the JOSE library idp uses)."""

from __future__ import annotations

import base64
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


@dataclass
class Delivery:
    content_type: str
    form: dict[str, list[str]]

    @property
    def logout_token(self) -> str:
        assert list(self.form) == ["logout_token"], self.form
        (token,) = self.form["logout_token"]
        return token


@dataclass
class Receiver:
    url: str
    deliveries: list[Delivery] = field(default_factory=list)
    # Set by the test to make the receiver hang (until released) before answering.
    hang: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    status: int = 200
    arrived: threading.Condition = field(default_factory=threading.Condition)
    attempts: int = 0


@contextmanager
def backchannel_receiver(path: str = "/backchannel-logout"):
    """Yields a Receiver listening on 127.0.0.1; its ``url`` is the back-channel logout URI."""
    receiver: Receiver | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("ascii")
            with receiver.arrived:
                receiver.attempts += 1
                receiver.arrived.notify_all()
            if receiver.hang.is_set():
                receiver.release.wait(30)
            if self.path != path:
                self.send_response(404)
                self.end_headers()
                return
            with receiver.arrived:
                receiver.deliveries.append(Delivery(self.headers.get("Content-Type", ""), parse_qs(body)))
                receiver.arrived.notify_all()
            self.send_response(receiver.status)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}{path}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _integer(value: str) -> int:
    return int.from_bytes(_b64decode(value), "big")


def verify_jws(token: str, jwks: dict) -> tuple[dict, dict]:
    """Check a compact JWS (RS256 or ES256) against the published keys by hand; returns
    (header, claims). Raises AssertionError or cryptography's InvalidSignature."""
    encoded_header, encoded_claims, encoded_signature = token.split(".")
    header = json.loads(_b64decode(encoded_header))
    claims = json.loads(_b64decode(encoded_claims))
    signature = _b64decode(encoded_signature)
    signed = f"{encoded_header}.{encoded_claims}".encode("ascii")
    (key,) = [key for key in jwks["keys"] if key["kid"] == header["kid"]]
    assert header["alg"] == key["alg"], (header, key)
    if header["alg"] == "RS256":
        public = rsa.RSAPublicNumbers(_integer(key["e"]), _integer(key["n"])).public_key()
        public.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    elif header["alg"] == "ES256":
        public = ec.EllipticCurvePublicNumbers(_integer(key["x"]), _integer(key["y"]), ec.SECP256R1()).public_key()
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        public.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))
    else:
        raise AssertionError(f"unexpected alg {header['alg']}")
    return header, claims
