"""Mail over real SMTP: the SmtpMailer against an aiosmtpd server, and the lock notice as the
login page sends it, in the member's language; an unreachable server is logged, not raised."""

from __future__ import annotations

import io
import logging
import re
from datetime import timedelta
from email.utils import parseaddr, parsedate_to_datetime

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import select

from idp.clock import utcnow
from idp.db import get_session
from idp.logs import JsonFormatter
from idp.models import AuditEvent, OutboundJob
from idp.services.mailer import Email, MailNotSent, SmtpMailer
from idp.services.outbound import drain
from idp.settings import MailSettings
from tests.helpers.oidc import (
    ISSUER,
    LoginPage,
)
from tests.helpers.smtp import SmtpServer, app_sending_mail, free_port

FROM = "Member sign-in <no-reply@idp.test>"
WRONG = "not the right password"
LOCK_SUBJECT_EN = "Your account has been locked for a while"


@pytest.fixture
def app(smtp_app):
    """The app here sends through ``smtp_server``; the factories write to the same database."""
    return smtp_app


def mailer_for(port: int) -> SmtpMailer:
    config = MailSettings(
        backend="smtp",
        from_address=FROM,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_timeout_seconds=5,
    )
    return SmtpMailer(config)


def an_email(**fields) -> Email:
    values = {
        "to": "siti@example.test",
        "subject": "Atur ulang kata sandi – ñandú",
        "text": "Halo Siti,\n\nBuka tautan ini: http://idp.test/recovery/reset/abc\n",
        "html": '<p>Halo Siti,</p><p><a href="http://idp.test/recovery/reset/abc">Buka</a></p>',
        "purpose": "password_reset_link",
    }
    values.update(fields)
    return Email(**values)


def browser_at(app, address: str, language: str | None = None):
    """A browser of its own, from its own address (so per-IP rate limits stay out of the way)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    client.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (lock notice test)"
    if language:
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    return client


def lock(app, rp, member, address: str, language: str | None = None) -> list[int]:
    login = LoginPage(browser_at(app, address, language), rp.client_id)
    return [login.attempt(member.email, WRONG).status_code for _ in range(5)]


# --- the mailer itself -----------------------------------------------------------------------


def test_a_message_has_text_and_html_parts_and_the_usual_headers(smtp_server):
    mailer_for(smtp_server.port).send(an_email())

    (mail,) = smtp_server.wait_for(1)
    assert mail.to == "siti@example.test"
    assert mail.subject == "Atur ulang kata sandi – ñandú"
    assert parseaddr(mail.header("From")) == ("Member sign-in", "no-reply@idp.test")
    assert mail.envelope_from == "no-reply@idp.test"
    assert mail.envelope_to == ("siti@example.test",)

    sent_at = parsedate_to_datetime(mail.header("Date"))
    assert sent_at.tzinfo is not None
    assert abs(sent_at - utcnow()) < timedelta(minutes=1)
    assert re.fullmatch(r"<[^<>@\s]+@idp\.test>", mail.header("Message-ID")), mail.header("Message-ID")

    assert mail.message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in mail.message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert "http://idp.test/recovery/reset/abc" in mail.text
    assert "<p>" not in mail.text
    assert '<a href="http://idp.test/recovery/reset/abc">' in mail.html


def test_every_message_gets_its_own_message_id(smtp_server):
    mailer = mailer_for(smtp_server.port)
    mailer.send(an_email())
    mailer.send(an_email(to="budi@example.test"))
    first, second = smtp_server.wait_for(2)
    assert first.header("Message-ID") != second.header("Message-ID")
    assert [first.to, second.to] == ["siti@example.test", "budi@example.test"]


def test_mail_waits_in_the_queue_while_the_server_is_away_and_goes_when_it_is_back(
    app_config, make_member, rp, moving_clock
):
    member = make_member(locale="en")
    port = free_port()
    mail = {"backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none"}
    with app_sending_mail({**app_config, "outbound": {"worker": False}}, mail) as app:
        # The page answers at once; nothing listens on the port, so the notice cannot go yet.
        assert lock(app, rp, member, "203.0.113.10") == [401, 401, 401, 401, 423]
        drain(app)
        with app.app_context():
            (job,) = get_session().scalars(select(OutboundJob)).all()
            assert (job.state, job.attempts, job.last_error) == ("pending", 1, "MailNotSent")
            assert job.next_attempt_at > utcnow()
        with SmtpServer(port=port) as server:
            drain(app)  # not due yet: the retry waits its backoff
            assert server.received() == []
            moving_clock.advance(3600)
            drain(app)
            (delivered,) = server.wait_for(1)
        assert delivered.to == member.email and delivered.subject == LOCK_SUBJECT_EN
        with app.app_context():
            job = get_session().scalars(select(OutboundJob)).one()
            # Done, and what it carried (a link, an address) is not kept.
            assert (job.state, job.attempts, job.payload_encrypted) == ("done", 2, "")


def test_a_job_that_keeps_failing_is_given_up_and_audited(app_config, make_member, rp, moving_clock):
    member = make_member(locale="en")
    mail = {"backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": free_port(), "smtp_security": "none"}
    config = {**app_config, "outbound": {"worker": False, "max_attempts": 3}}
    with app_sending_mail(config, mail) as app:
        lock(app, rp, member, "203.0.113.11")
        for _ in range(4):
            drain(app)
            moving_clock.advance(3600)
        with app.app_context():
            db = get_session()
            job = db.scalars(select(OutboundJob)).one()
            assert (job.state, job.attempts, job.payload_encrypted) == ("failed", 3, "")
            (event,) = db.scalars(select(AuditEvent).where(AuditEvent.event == "outbound_failed")).all()
            assert event.outcome == "failed" and member.email not in event.detail_json


# --- the lock notice, in the member's language -------------------------------------------------


def test_the_lock_notice_arrives_in_the_members_language(app, smtp_server, make_member, rp):
    english = make_member(locale="en")
    indonesian = make_member(locale="id")

    # The browser's language does not choose the language of the member's mail.
    assert lock(app, rp, english, "203.0.113.7", language="id") == [401, 401, 401, 401, 423]
    assert lock(app, rp, indonesian, "203.0.113.8", language="en") == [401, 401, 401, 401, 423]
    drain(app)

    (to_english,) = smtp_server.to(english.email)
    (to_indonesian,) = smtp_server.to(indonesian.email)

    assert to_english.subject == LOCK_SUBJECT_EN
    assert 'lang="en"' in to_english.html
    assert "Your account was locked for a while" in to_english.text
    assert "203.0.113.7" in to_english.text  # from where
    assert f"{ISSUER}/recovery/forgot" in to_english.text and f"{ISSUER}/recovery/forgot" in to_english.html
    assert english.full_name in to_english.text

    # Rendered under the member's locale: the HTML says so, and subject and text are the
    # Indonesian catalog's.
    assert 'lang="id"' in to_indonesian.html
    with app.test_request_context(), force_locale("id"):
        expected_subject = gettext(LOCK_SUBJECT_EN)
        expected_sentence = gettext(
            "Your account was locked for a while because someone entered a wrong password too many times."
        )
    assert expected_subject != LOCK_SUBJECT_EN, "the Indonesian catalog does not translate the lock notice"
    assert to_indonesian.subject == expected_subject
    assert " ".join(expected_sentence.split()) in " ".join(to_indonesian.text.split())
    assert "Your account was locked" not in to_indonesian.text
    assert "203.0.113.8" in to_indonesian.text
    assert f"{ISSUER}/recovery/forgot" in to_indonesian.text


# --- when the mail server cannot be reached ------------------------------------------------------


class _Lines(logging.Handler):
    """The idp.mail log lines exactly as idp writes them (JSON), to look for leaks in."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.records: list[logging.LogRecord] = []
        self.stream = io.StringIO()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.stream.write(self.format(record) + "\n")


@pytest.fixture
def mail_log():
    handler = _Lines()
    logger = logging.getLogger("idp.mail")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_an_unreachable_server_is_logged_without_content_and_the_page_still_answers(
    app_config, make_member, rp, mail_log
):
    member = make_member(locale="en", full_name="Siti Rahmawati")
    nothing_listens = free_port()
    mail = {"backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": nothing_listens, "smtp_security": "none"}
    with app_sending_mail(app_config, mail) as dead_mail_app:
        assert lock(dead_mail_app, rp, member, "203.0.113.9") == [401, 401, 401, 401, 423]
        drain(dead_mail_app)
        # The login page keeps answering as before.
        again = LoginPage(browser_at(dead_mail_app, "203.0.113.9"), rp.client_id).attempt(member.email, WRONG)
        assert again.status_code == 423
        assert 'data-testid="account_locked"' in again.text

    errors = [record for record in mail_log.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1, [record.getMessage() for record in mail_log.records]
    (error,) = errors
    assert error.getMessage() == "mail not sent"
    assert error.purpose == "lock_notice"
    assert error.error == "ConnectionRefusedError"
    assert error.exc_info is None  # no traceback (which could carry the message)

    logged = mail_log.stream.getvalue()
    for secret in (member.email, member.full_name, "/recovery/forgot", "203.0.113.9", LOCK_SUBJECT_EN):
        assert secret not in logged, secret


def test_an_unreachable_server_is_reported_without_content(mail_log):
    mailer = mailer_for(free_port())
    with pytest.raises(MailNotSent):  # the queue tries again later
        mailer.send(an_email())
    assert [(record.getMessage(), record.purpose) for record in mail_log.records] == [
        ("mail not sent", "password_reset_link")
    ]
    logged = mail_log.stream.getvalue()
    assert "recovery/reset" not in logged and "siti@" not in logged and "Halo" not in logged
