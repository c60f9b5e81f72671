"""Sending mail: the one place that knows how. Development writes to a local outbox; production
speaks SMTP. Called by the outbound queue's worker (idp.services.outbound), never on a page's
request path: a failure raises MailNotSent, and the queue tries again later."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from idp import metrics
from idp.clock import utcnow
from idp.security.tokens import random_token
from idp.settings import MailSettings

log = logging.getLogger("idp.mail")


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str
    # What kind of message this is (lock_notice, email_code, ...): logged instead of content.
    purpose: str


def build_message(email: Email, from_address: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=from_address.rsplit("@", 1)[-1].strip("> ") or "idp")
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


def build_mailer(mail: MailSettings, instance_path: str) -> OutboxMailer | SmtpMailer:
    """The mailer ``mail.backend`` names."""
    if mail.backend == "smtp":
        return SmtpMailer(mail)
    outbox = Path(mail.outbox_dir) if mail.outbox_dir else Path(instance_path) / "outbox"
    return OutboxMailer(outbox, mail.from_address)


class OutboxMailer:
    """Development: each message becomes an .eml file in the outbox folder. The log line names
    the file, never the content (which may hold a code or a link)."""

    def __init__(self, outbox: Path, from_address: str) -> None:
        self.outbox = outbox
        self.from_address = from_address

    def send(self, email: Email) -> None:
        self.outbox.mkdir(parents=True, exist_ok=True)
        name = f"{utcnow().strftime('%Y%m%dT%H%M%S%f')}-{random_token(6)}.eml"
        path = self.outbox / name
        path.write_bytes(bytes(build_message(email, self.from_address)))
        log.info("mail written to outbox", extra={"purpose": email.purpose, "file": str(path)})


class MailNotSent(Exception):
    """The mail server could not be reached or refused the message (the queue retries)."""


class SmtpMailer:
    """Production: SMTP with STARTTLS or implicit TLS."""

    def __init__(self, config: MailSettings) -> None:
        self.config = config
        self.from_address = config.from_address

    def send(self, email: Email) -> None:
        message = build_message(email, self.from_address)
        config = self.config
        try:
            if config.smtp_security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    config.smtp_host,
                    config.smtp_port,
                    timeout=config.smtp_timeout_seconds,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.smtp_timeout_seconds)
            with smtp:
                if config.smtp_security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if config.smtp_username:
                    smtp.login(config.smtp_username, config.smtp_password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            # Never the message or credentials; the purpose and the error class are enough.
            log.error("mail not sent", extra={"purpose": email.purpose, "error": type(error).__name__})
            metrics.dependency_error("mail")
            raise MailNotSent(type(error).__name__) from None
        log.info("mail sent", extra={"purpose": email.purpose})
