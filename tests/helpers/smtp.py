"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, keeping every message it receives.

The app under test speaks SMTP to it exactly as it would to a production relay (backend
"smtp", security "none"), so a test sees what a member's mailbox would: the parsed message
with its headers, its plain-text part and its HTML part.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from idp.services.outbound import drain


@dataclass(frozen=True)
class SmtpMail:
    to: str
    subject: str
    text: str
    html: str
    message: EmailMessage = field(repr=False)  # every header, for tests that look further
    envelope_from: str = ""
    envelope_to: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        value = self.message[name]
        return None if value is None else str(value)


def parse_smtp_message(raw: bytes, envelope_from: str = "", envelope_to: tuple[str, ...] = ()) -> SmtpMail:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return SmtpMail(
        to=str(message["To"]),
        subject=str(message["Subject"]),
        text=text.get_content() if text else "",
        html=html.get_content() if html else "",
        message=message,
        envelope_from=envelope_from,
        envelope_to=envelope_to,
    )


def free_port() -> int:
    """A port nothing listens on right now (aiosmtpd's Controller cannot bind port 0: it
    checks it is up by connecting to the port it was given)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _CollectingHandler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp, session, envelope):
        # A slow server: accept the connection and the message, then take our time to answer.
        deadline = time.monotonic() + self.server.delay_seconds
        while time.monotonic() < deadline and not self.server.released.is_set():
            await asyncio.sleep(0.02)
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):  # pragma: no cover - aiosmtpd gives bytes with decode_data=False
            raw = raw.encode("utf-8")
        mail = parse_smtp_message(raw, envelope.mail_from or "", tuple(envelope.rcpt_tos))
        with self.server.lock:
            self.server.messages.append(mail)
        return "250 Message accepted for delivery"


class SmtpServer:
    """``with SmtpServer() as server:`` a listening SMTP server; ``server.port``,
    ``server.messages`` (what arrived so far) and ``server.wait_for(n)``.

    ``delay_seconds`` makes it a slow server: it accepts the connection and the message
    but answers the DATA command only after that long (or when ``release()`` is called).
    """

    host = "127.0.0.1"

    def __init__(self, delay_seconds: float = 0.0, port: int | None = None) -> None:
        self.delay_seconds = delay_seconds
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.messages: list[SmtpMail] = []
        self.port = port or free_port()
        # server_hostname: no reverse DNS lookup of our own name on every connection.
        self._controller = Controller(
            _CollectingHandler(self), hostname=self.host, port=self.port, server_hostname="smtp.test"
        )

    def mail_settings(self) -> dict:
        """The [mail] section that makes idp send through this server."""
        return {"backend": "smtp", "smtp_host": self.host, "smtp_port": self.port, "smtp_security": "none"}

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self.release()
        self._controller.stop()

    def release(self) -> None:
        """Let a slow server answer every pending message now."""
        self.released.set()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def received(self) -> list[SmtpMail]:
        with self.lock:
            return list(self.messages)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[SmtpMail]:
        """At least ``count`` messages, waiting up to ``timeout`` seconds for them to arrive."""
        deadline = time.monotonic() + timeout
        while True:
            received = self.received()
            if len(received) >= count or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        assert len(received) >= count, f"expected {count} mail(s), got {len(received)}: {received!r}"
        return received

    def to(self, address: str) -> list[SmtpMail]:
        return [mail for mail in self.received() if mail.to == address]


@contextmanager
def app_sending_mail(app_config: Mapping, mail: Mapping | None = None) -> Iterator:
    """An app built from ``app_config`` (its [mail] section updated with ``mail``), for tests
    that need a mail server of their own (a slow one, or none at all). Queued mail is waited
    for before the app goes, so no delivery outlives the test."""
    from idp import create_app
    from idp.db import get_engine
    from tests.conftest import stop_worker

    config = {section: dict(values) for section, values in app_config.items()}
    if mail is not None:
        config.setdefault("mail", {}).update(mail)
    application = create_app(config)
    application.config["TESTING"] = True
    try:
        yield application
    finally:
        stop_worker(application)
        drain(application)
        get_engine(application).dispose()
