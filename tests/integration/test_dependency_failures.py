"""When a dependency fails, and when it comes back: the database (PostgreSQL behind a TCP proxy
the test cuts and restores), Redis (a redis-server of the test's own, stopped and started) and
SMTP (a port nothing listens on, then an SMTP server on it). The same app serves throughout:
nothing is restarted."""

from __future__ import annotations

import io
import json
import logging
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from idp import create_app
from idp.db import get_engine, get_session
from idp.logs import JsonFormatter
from idp.models import AuditEvent, OutboundJob
from idp.services import notifications
from idp.services.mailer import Email
from idp.services.outbound import drain
from tests.conftest import DEMO_PASSWORD, stop_worker
from tests.helpers.oidc import AuthorizationRequest, Browser, LoginPage, code_from, csrf_token, exchange_code, path_of
from tests.helpers.redis_server import RedisServer
from tests.helpers.smtp import SmtpServer, free_port
from tests.helpers.tcp_proxy import TcpProxy

WRONG = "not the right password"


class LogLines(logging.Handler):
    """idp's log lines as it writes them (JSON), for a test to read."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.stream = io.StringIO()

    def emit(self, record: logging.LogRecord) -> None:
        self.stream.write(self.format(record) + "\n")

    def entries(self) -> list[dict]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def messages(self) -> list[str]:
        return [entry["message"] for entry in self.entries()]


@pytest.fixture
def log_lines():
    handler = LogLines()
    logger = logging.getLogger("idp")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def metric(client, name: str, **labels) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True)):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


@contextmanager
def app_with(config: dict):
    application = create_app(config)
    application.config["TESTING"] = True
    try:
        yield application
    finally:
        stop_worker(application)
        get_engine(application).dispose()


def browser(app, address: str, language: str = "en"):
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=address, HTTP_ACCEPT_LANGUAGE=language)
    return client


# --- the database --------------------------------------------------------------------------------


@pytest.fixture
def database_proxy(postgres_url):
    parts = urlsplit(postgres_url)
    proxy = TcpProxy((parts.hostname, parts.port or 5432))
    try:
        yield proxy, parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}").geturl()
    finally:
        proxy.close()


@pytest.fixture
def proxied(app_config, database_proxy):
    """The app on PostgreSQL through the proxy; yields (app, proxy)."""
    proxy, url = database_proxy
    with app_with({**app_config, "database": {"url": url}}) as application:
        yield application, proxy


@pytest.fixture
def member_and_rp(proxied):
    from datetime import date

    from idp.services.clients import NewClient, create_client
    from idp.services.members import NewMember, create_member

    app, _ = proxied
    with app.app_context():
        db = get_session()
        member = create_member(
            db,
            NewMember(
                "32345678901",
                "3171010101900001",
                "Siti Rahmawati",
                date(1990, 1, 1),
                email="siti@example.test",
                email_verified=True,
                locale="en",
            ),
            DEMO_PASSWORD,
        )
        client, _ = create_client(
            db,
            NewClient(
                name="Klaim",
                redirect_uris=["https://rp.example.test/callback"],
                scopes=["openid", "profile", "email"],
                first_party=True,
                public=True,
            ),
        )
        db.commit()
        return member.email, client.client_id


def count_rows(app, model, *where) -> int:
    with app.app_context():
        db = get_session()
        found = db.scalar(select(func.count()).select_from(model).where(*where))
        db.rollback()
        return found


def test_database_outage_pages_protocol_readiness_and_recovery_without_restart(proxied, member_and_rp, log_lines):
    app, proxy = proxied
    email, client_id = member_and_rp
    member_browser = browser(app, "203.0.113.20")
    started = member_browser.get(AuthorizationRequest(client_id).url())
    interaction = path_of(started.headers["Location"])
    assert member_browser.get(interaction).status_code == 200
    api = app.test_client()
    errors_before = metric(api, "idp_dependency_errors_total", dependency="database")

    proxy.cut()

    # A page (the browser has a session cookie: the session cannot even be loaded).
    page = member_browser.get(interaction)
    assert page.status_code == 503 and int(page.headers["Retry-After"]) > 0
    assert 'data-testid="unavailable"' in page.text and "Temporarily unavailable" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    indonesian = member_browser.get(interaction, headers={"Accept-Language": "id"})
    assert indonesian.status_code == 503 and "Untuk sementara tidak tersedia" in indonesian.text
    # A fresh authorization request: the client cannot be checked, so no redirect anywhere.
    authorize = browser(app, "203.0.113.22").get(AuthorizationRequest(client_id).url(), headers={"Accept": "text/html"})
    assert authorize.status_code == 503 and "Location" not in authorize.headers
    # The protocol endpoints: JSON.
    for response in (
        api.post("/token", data={"grant_type": "authorization_code", "code": "x", "client_id": client_id}),
        api.get("/jwks"),
    ):
        assert response.status_code == 503
        assert response.json["error"] == "temporarily_unavailable"
        assert int(response.headers["Retry-After"]) > 0 and response.headers["Cache-Control"] == "no-store"
    # The load balancer's view.
    ready = api.get("/readyz")
    assert (ready.status_code, ready.json["checks"]) == (503, {"database": "unreachable"})
    assert api.get("/healthz").status_code == 200
    assert metric(api, "idp_dependency_errors_total", dependency="database") >= errors_before + 5
    warnings = [entry for entry in log_lines.entries() if entry["message"] == "database unavailable"]
    assert warnings and all(entry["level"] == "WARNING" and entry["request_id"] for entry in warnings)
    assert all("exception" not in entry for entry in warnings)  # the error class, no traceback

    proxy.restore()

    # The same process, the same browser: the page, then a whole sign-in and its tokens.
    assert api.get("/readyz").status_code == 200
    request = AuthorizationRequest(client_id)
    location = Browser(member_browser).sign_in(request, email, DEMO_PASSWORD)
    assert exchange_code(member_browser, code_from(location, request), request).status_code == 200


@pytest.mark.settings(keys={"cache_seconds": 60})  # a loaded machine must not outlast the key cache
def test_userinfo_in_front_of_flask_gives_way_to_the_view_while_the_database_is_away(proxied, member_and_rp):
    """UserInfo's fast path keeps a connection of its own (idp.db.StandingReads): when the
    database goes, the view answers (503, JSON); when it is back, the fast path reconnects."""
    from flask import request as flask_request

    app, proxy = proxied
    email, client_id = member_and_rp
    reached_flask: list[str] = []
    app.before_request(lambda: reached_flask.append(flask_request.path))
    member_browser = browser(app, "203.0.113.30")
    authorization = AuthorizationRequest(client_id)
    location = Browser(member_browser).sign_in(authorization, email, DEMO_PASSWORD)
    tokens = exchange_code(member_browser, code_from(location, authorization), authorization)
    bearer = {"Authorization": f"Bearer {tokens.json['access_token']}"}
    api = app.test_client()
    assert api.get("/jwks").status_code == 200  # the key snapshot is loaded
    assert api.get("/userinfo", headers=bearer).status_code == 200
    reached_flask.clear()
    assert api.get("/userinfo", headers=bearer).status_code == 200
    assert reached_flask == []

    proxy.cut()
    away = api.get("/userinfo", headers=bearer)
    assert away.status_code == 503 and away.json["error"] == "temporarily_unavailable"
    assert reached_flask == ["/userinfo"]

    proxy.restore()
    assert api.get("/userinfo", headers=bearer).status_code == 200
    reached_flask.clear()
    back = api.get("/userinfo", headers=bearer)
    assert back.status_code == 200 and back.json["email"] == email
    assert reached_flask == []


def test_a_request_cut_off_halfway_leaves_nothing_half_written(proxied, member_and_rp, monkeypatch):
    from idp.models import BrowserSession, LoginThrottle
    from idp.services import authn

    app, proxy = proxied
    email, client_id = member_and_rp
    member_browser = browser(app, "203.0.113.30")
    started = member_browser.get(AuthorizationRequest(client_id).url())
    interaction = path_of(started.headers["Location"])
    page = member_browser.get(interaction)
    sessions_before = count_rows(app, BrowserSession)
    real_check = authn.verify_password

    def database_goes_during_the_check(password, password_hash):
        proxy.cut()  # after the attempt was counted, before its outcome is written
        return real_check(password, password_hash)

    monkeypatch.setattr(authn, "verify_password", database_goes_during_the_check)
    cut_off = member_browser.post(
        f"{interaction}/login",
        data={"csrf_token": csrf_token(page.text), "identifier": email, "password": DEMO_PASSWORD},
    )
    monkeypatch.setattr(authn, "verify_password", real_check)
    assert cut_off.status_code == 503 and 'data-testid="unavailable"' in cut_off.text
    assert "Set-Cookie" not in cut_off.headers  # the browser keeps the session it had

    proxy.restore()

    # No sign-in was recorded, no session started; the attempt itself counts toward the
    # lockout (it was reserved before the check, so cutting connections cannot buy guesses).
    assert count_rows(app, AuditEvent, AuditEvent.event == "sign_in") == 0
    assert count_rows(app, BrowserSession) == sessions_before
    with app.app_context():
        (failures,) = get_session().execute(select(LoginThrottle.failures)).one()
    assert failures == 1
    # The same interaction goes on where it was.
    again = member_browser.get(interaction)
    assert again.status_code == 200
    signed_in = member_browser.post(
        f"{interaction}/login",
        data={"csrf_token": csrf_token(again.text), "identifier": email, "password": DEMO_PASSWORD},
    )
    assert signed_in.status_code == 303
    assert count_rows(app, AuditEvent, AuditEvent.event == "sign_in", AuditEvent.outcome == "success") == 1


def test_the_outbound_worker_waits_out_a_database_outage(app_config, database_proxy, log_lines, tmp_path):
    proxy, url = database_proxy
    config = {**app_config, "database": {"url": url}, "outbound": {"worker": True, "poll_seconds": 1}}
    with app_with(config) as app:
        proxy.cut()
        deadline = time.monotonic() + 15
        while log_lines.messages().count("database unavailable: queued work waits") == 0:
            assert time.monotonic() < deadline, log_lines.messages()
            time.sleep(0.1)
        time.sleep(2.5)  # more rounds fail: still one warning for the outage
        assert log_lines.messages().count("database unavailable: queued work waits") == 1
        assert metric(app.test_client(), "idp_dependency_errors_total", dependency="database") >= 2

        proxy.restore()
        with app.test_request_context():
            notifications.send(Email("siti@example.test", "Subject", "text", "<p>html</p>", "probe"))
        outbox = tmp_path / "instance" / "outbox"
        while not list(outbox.glob("*.eml")):  # sent by the worker thread, not by this test
            assert time.monotonic() < deadline + 15, log_lines.messages()
            time.sleep(0.1)
        # Said once the round that sent the mail has ended, a moment after the file appears.
        while "database available again: queued work resumes" not in log_lines.messages():
            assert time.monotonic() < deadline + 20, log_lines.messages()
            time.sleep(0.1)
        assert log_lines.messages().count("database available again: queued work resumes") == 1


# --- Redis ------------------------------------------------------------------------------------------


@pytest.fixture
def own_redis(tmp_path):
    with RedisServer(tmp_path) as server:
        yield server


def redis_app_config(app_config, server, **ratelimit):
    return {
        **app_config,
        "ratelimit": {"storage_uri": server.url, "login_per_ip": "3 per minute", **ratelimit},
    }


def test_redis_away_denies_the_credential_endpoints_by_default_and_nothing_else(
    app_config, own_redis, rp, make_member, log_lines
):
    member = make_member()
    with app_with(redis_app_config(app_config, own_redis)) as app:
        login = LoginPage(browser(app, "203.0.113.40"), rp.client_id)
        assert login.attempt(member.email, WRONG).status_code == 401
        api = app.test_client()
        before = metric(api, "idp_dependency_errors_total", dependency="ratelimit_storage")

        own_redis.stop()

        refused = login.attempt(member.email, WRONG)
        assert refused.status_code == 503 and 'data-testid="unavailable"' in refused.text
        assert int(refused.headers["Retry-After"]) > 0
        token = api.post("/token", data={"grant_type": "authorization_code", "code": "x", "client_id": rp.client_id})
        assert (token.status_code, token.json["error"]) == (503, "temporarily_unavailable")
        # Three: the login page itself (an anonymous page, served uncounted: its limit bounds
        # work, not guessing), the refused password post and the refused token request.
        assert metric(api, "idp_dependency_errors_total", dependency="ratelimit_storage") == before + 3
        assert "ratelimit_storage unavailable" in log_lines.messages()
        assert "rate-limit storage unreachable: request not counted" in log_lines.messages()
        ready = api.get("/readyz")
        assert (ready.status_code, ready.json["checks"]) == (
            503,
            {"database": "ok", "ratelimit_storage": "unreachable"},
        )
        # Nothing else needs Redis: pages, discovery, keys, and mail (its budget lets it go).
        assert browser(app, "203.0.113.41").get("/recovery/forgot").status_code == 200
        assert api.get("/.well-known/openid-configuration").status_code == 200
        assert api.get("/jwks").status_code == 200
        with app.test_request_context():
            assert notifications.send_within_budget(
                Email(member.email, "Subject", "text", "<p>html</p>", "probe"), notifications.member_budget(member.id)
            )
        assert "rate-limit storage unreachable: mail budget not counted, mail sent" in log_lines.messages()
        assert count_rows(app, OutboundJob) == 1

        own_redis.start()  # the same port

        assert login.attempt(member.email, WRONG).status_code == 401
        assert api.get("/readyz").status_code == 200
        assert redis.Redis.from_url(own_redis.url).keys("*"), "not counted in Redis again"


def test_redis_away_with_allow_serves_counting_in_memory_and_recovers(
    app_config, own_redis, rp, make_member, log_lines
):
    member = make_member()
    with app_with(redis_app_config(app_config, own_redis, on_storage_error="allow")) as app:
        api = app.test_client()
        before = metric(api, "idp_dependency_errors_total", dependency="ratelimit_storage")
        own_redis.stop()

        login = LoginPage(browser(app, "203.0.113.50"), rp.client_id)
        # Served, and still limited: three a minute, counted in this process meanwhile.
        assert [login.attempt(member.email, WRONG).status_code for _ in range(4)] == [401, 401, 401, 429]
        assert metric(api, "idp_dependency_errors_total", dependency="ratelimit_storage") >= before + 3
        warnings = [m for m in log_lines.messages() if m.startswith("rate-limit storage unreachable: counting")]
        assert len(warnings) == 1

        own_redis.start()
        other = LoginPage(browser(app, "203.0.113.51"), rp.client_id)
        deadline = time.monotonic() + 20
        # Flask-Limiter looks at the storage again after a growing pause (1, 2, 4 s ...).
        for attempt in range(100):
            if redis.Redis.from_url(own_redis.url).keys("*"):
                break
            assert time.monotonic() < deadline, "never counted in Redis again"
            assert other.attempt(f"nobody{attempt}@example.test", WRONG).status_code in (401, 429)
            time.sleep(0.5)
        assert "rate-limit storage reachable again" in log_lines.messages()


# --- SMTP ---------------------------------------------------------------------------------------------


def test_smtp_away_the_request_is_answered_each_failure_is_logged_audited_counted_and_the_mail_goes_later(
    app_config, make_member, moving_clock, log_lines
):
    member = make_member(locale="en")
    port = free_port()
    mail = {"backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none"}
    with app_with({**app_config, "mail": mail}) as app:
        api = app.test_client()
        failed_before = metric(api, "idp_outbound_jobs_total", kind="mail", outcome="retry")
        member_browser = browser(app, "203.0.113.60")
        form = member_browser.get("/recovery/forgot")
        answered = member_browser.post(
            "/recovery/forgot", data={"csrf_token": csrf_token(form.text), "identifier": member.email}
        )
        assert answered.status_code == 200  # at once, whatever the mail server does
        for _ in range(2):  # two tries while nothing listens
            drain(app)
            moving_clock.advance(3600)
        with app.app_context():
            db = get_session()
            attempts = db.scalars(select(AuditEvent).where(AuditEvent.event == "outbound_attempt_failed")).all()
            assert [(event.outcome, json.loads(event.detail_json)["error"]) for event in attempts] == [
                ("retry", "MailNotSent")
            ] * 2
            assert member.email not in "".join(event.detail_json for event in attempts)
        assert metric(api, "idp_outbound_jobs_total", kind="mail", outcome="retry") == failed_before + 2
        assert metric(api, "idp_dependency_errors_total", dependency="mail") >= 2
        assert metric(api, "idp_outbound_jobs_waiting", kind="mail") == 1
        retries = [entry for entry in log_lines.entries() if entry["message"] == "outbound job will be retried"]
        assert len(retries) == 2 and all(entry["job_id"] and entry["job_kind"] == "mail" for entry in retries)
        not_sent = [entry for entry in log_lines.entries() if entry["message"] == "mail not sent"]
        assert {entry["job_id"] for entry in not_sent} == {entry["job_id"] for entry in retries}

        with SmtpServer(port=port) as server:
            drain(app)
            (delivered,) = server.wait_for(1)
        assert delivered.to == member.email and "/recovery/reset/" in delivered.text
        assert metric(api, "idp_outbound_jobs_waiting", kind="mail") == 0
        with app.app_context():
            assert get_session().scalar(select(OutboundJob.state)) == "done"
