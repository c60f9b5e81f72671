"""Sending text messages: the one place that knows how, like ``mailer`` for mail. Development
and tests write to a local outbox; production posts JSON to an HTTP gateway. Called by the
outbound queue's worker (``idp.services.text_messages.deliver``), never on a page's request
path: a failure raises SmsNotSent, and the queue tries again later with backoff.

No log line, exception text or audit record carries a message's text (it holds a code) or
the gateway's credentials: the purpose, the HTTP status and the error class are enough.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idp import metrics
from idp.clock import utcnow
from idp.security.tokens import random_token
from idp.settings import SmsSettings, sms_backend

log = logging.getLogger("idp.sms")


@dataclass(frozen=True)
class TextMessage:
    to: str  # E.164
    text: str
    # What kind of message this is (sms_code, phone_verification, sms_test): logged instead
    # of the text.
    purpose: str


class SmsNotSent(Exception):
    """The gateway could not be reached, did not answer in time or refused the message (the
    queue retries). The text is the error class or the HTTP status, never the message."""


def build_sms_gateway(
    sms: SmsSettings, instance_path: str, development: bool
) -> OutboxSmsGateway | HttpSmsGateway | None:
    """The gateway ``sms.backend`` names; None when SMS is off."""
    backend = sms_backend(sms, development)
    if backend == "http":
        return HttpSmsGateway(sms)
    if backend == "outbox":
        outbox = Path(sms.outbox_dir) if sms.outbox_dir else Path(instance_path) / "sms-outbox"
        return OutboxSmsGateway(outbox, sms.sender)
    return None


class OutboxSmsGateway:
    """Development and tests: each message becomes a .json file in the outbox folder. The log
    line names the file, never the text."""

    def __init__(self, outbox: Path, sender: str = "") -> None:
        self.outbox = outbox
        self.sender = sender

    def describe(self) -> str:
        return f"the outbox folder {self.outbox} (sms.backend = outbox)"

    def send(self, message: TextMessage) -> None:
        self.outbox.mkdir(parents=True, exist_ok=True)
        path = self.outbox / f"{utcnow().strftime('%Y%m%dT%H%M%S%f')}-{random_token(6)}.json"
        record = {"to": message.to, "from": self.sender, "text": message.text, "purpose": message.purpose}
        path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        log.info("sms written to outbox", extra={"purpose": message.purpose, "file": str(path)})


class HttpSmsGateway:
    """Production: one JSON POST per message to ``sms.http_url``, with a bearer token or basic
    authentication. The body is ``sms.http_body_template`` with {to}, {text} and {sender}
    replaced inside its string values (after parsing, so a value cannot change its shape).
    Any 2xx answer counts as accepted; anything else, a timeout or a network error raises
    SmsNotSent."""

    def __init__(self, config: SmsSettings) -> None:
        self.config = config
        self._template = json.loads(config.http_body_template)

    def describe(self) -> str:
        return f"the HTTP gateway {self.config.http_url}"

    def body(self, message: TextMessage) -> bytes:
        values = {"{to}": message.to, "{text}": message.text, "{sender}": self.config.sender}
        return json.dumps(_fill(self._template, values), ensure_ascii=False).encode("utf-8")

    def send(self, message: TextMessage) -> None:
        config = self.config
        headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
        if config.http_auth == "bearer":
            headers["Authorization"] = f"Bearer {config.http_token}"
        elif config.http_auth == "basic":
            pair = f"{config.http_username}:{config.http_password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        request = urllib.request.Request(config.http_url, data=self.body(message), headers=headers, method="POST")
        try:
            with _OPENER.open(request, timeout=config.http_timeout_seconds) as answer:
                status = answer.status
        except urllib.error.HTTPError as error:
            # The gateway's answer body may echo the message: it is not read.
            error.close()
            self._not_sent(message, f"HTTP {error.code}")
        except TimeoutError:
            self._not_sent(message, "Timeout")
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            self._not_sent(message, "Timeout" if isinstance(reason, TimeoutError) else type(reason).__name__)
        if not 200 <= status < 300:
            self._not_sent(message, f"HTTP {status}")
        log.info("sms sent", extra={"purpose": message.purpose, "status": status})

    def _not_sent(self, message: TextMessage, error: str):
        log.error("sms not sent", extra={"purpose": message.purpose, "error": error})
        metrics.dependency_error("sms")
        raise SmsNotSent(error) from None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A gateway's redirect is an error, never followed: following it would repeat the
    credentials and the code to wherever it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)

_PLACEHOLDER = re.compile(r"\{(?:to|text|sender)\}")


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        # One pass: a replaced value is never searched for placeholders again.
        return _PLACEHOLDER.sub(lambda found: values[found.group(0)], value)
    if isinstance(value, dict):
        return {key: _fill(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    return value
