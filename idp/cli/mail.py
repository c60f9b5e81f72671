"""`idp mail`: checking the mail set-up."""

from __future__ import annotations

import click

from idp.cli.base import EXIT_BAD_INPUT, EXIT_CONFIG, OneLineFailure, checked_settings
from idp.cli.main_group import main
from idp.errors import ValidationFailed
from idp.services.mailer import Email, MailNotSent, build_mailer
from idp.settings import Settings

TEST_MESSAGE = (
    "This message was sent by `idp mail test` to check the mail settings of idp. "
    "If you can read it, members receive their mail the same way."
)


@main.group("mail")
def mail() -> None:
    """Mail to members."""


@mail.command("test")
@click.argument("address")
def mail_test(address: str) -> None:
    """Send a test message to ADDRESS through the configured backend, now (not through the
    queue), and say in one line whether it went, or the error class if it did not."""
    address = address.strip()
    if address.count("@") != 1 or any(character.isspace() for character in address):
        raise ValidationFailed("address", f"{address!r} is not an email address")
    settings = checked_settings()
    mailer = build_mailer(settings.mail, settings.server.instance_path)
    email = Email(
        to=address,
        subject="idp mail test",
        text=TEST_MESSAGE + "\n",
        html=f"<p>{TEST_MESSAGE}</p>",
        purpose="mail_test",
    )
    try:
        mailer.send(email)
    except MailNotSent as error:
        # A recipient the server refuses is this command's input; anything else is the set-up.
        status = EXIT_BAD_INPUT if str(error) == "SMTPRecipientsRefused" else EXIT_CONFIG
        raise OneLineFailure(f"mail not sent to {address} through {_route(settings)}: {error}", status) from None
    except OSError as error:  # the outbox folder cannot be written
        raise OneLineFailure(
            f"mail not written to {_route(settings)}: {error.strerror or error}", EXIT_CONFIG
        ) from None
    click.echo(f"mail sent to {address} through {_route(settings)}")


def _route(settings: Settings) -> str:
    config = settings.mail
    if config.backend == "smtp":
        return f"smtp {config.smtp_host}:{config.smtp_port} ({config.smtp_security})"
    return "the outbox folder (mail.backend = outbox)"
