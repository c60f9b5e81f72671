"""`idp sms`: checking the SMS set-up."""

from __future__ import annotations

import click

from idp.cli.base import EXIT_CONFIG, OneLineFailure, checked_settings
from idp.cli.main_group import main
from idp.errors import ValidationFailed
from idp.services.identifiers import normalize_phone
from idp.services.sms import SmsNotSent, TextMessage, build_sms_gateway
from idp.services.text_messages import sms_test_text


@main.group("sms")
def sms() -> None:
    """Text messages to members (SMS sign-in codes)."""


@sms.command("test")
@click.argument("number")
def sms_test(number: str) -> None:
    """Send a test text (no code) to NUMBER through the configured gateway, now (not through
    the queue), and say in one line whether it went, or why not (the HTTP status or the
    error class: never the text)."""
    try:
        e164 = normalize_phone(number)
    except ValueError:
        raise ValidationFailed("number", f"{number!r} is not a phone number like +6281234567890") from None
    settings = checked_settings()
    gateway = build_sms_gateway(settings.sms, settings.server.instance_path, settings.server.development)
    if gateway is None:
        raise OneLineFailure("sms is off (sms.backend = none): nothing to test", EXIT_CONFIG)
    message = TextMessage(to=e164, text=sms_test_text(settings.ui.brand_name), purpose="sms_test")
    try:
        gateway.send(message)
    except SmsNotSent as error:
        raise OneLineFailure(f"sms not sent to {e164} through {gateway.describe()}: {error}", EXIT_CONFIG) from None
    except OSError as error:  # the outbox folder cannot be written
        raise OneLineFailure(
            f"sms not written to {gateway.describe()}: {error.strerror or error}", EXIT_CONFIG
        ) from None
    click.echo(f"sms sent to {e164} through {gateway.describe()}")
