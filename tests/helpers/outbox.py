"""Reading the development outbox: the mail idp wrote, as a member's mailbox would show it."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReceivedMail:
    to: str
    subject: str
    text: str
    html: str


def parse_message(raw: bytes) -> ReceivedMail:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return ReceivedMail(
        to=str(message["To"]),
        subject=str(message["Subject"]),
        text=text.get_content() if text else "",
        html=html.get_content() if html else "",
    )


def read_outbox(folder: Path) -> list[ReceivedMail]:
    if not folder.exists():
        return []
    return [parse_message(path.read_bytes()) for path in sorted(folder.glob("*.eml"))]
