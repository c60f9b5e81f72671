"""/healthz, /readyz (and the older /health), and the Prometheus metrics at /metrics: what they
count, and who may read them."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from idp.db import get_session
from idp.services import audit
from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import AuthorizationRequest, Browser, LoginPage, code_from, exchange_code

TOKEN = "metrics-bearer-token-that-is-long-enough-0123456789"


def samples(client, **headers) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.status_code
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


# --- health --------------------------------------------------------------------------------------


def test_healthz_says_alive_and_nothing_else(client):
    response = client.get("/healthz")
    assert (response.status_code, response.json) == (200, {"status": "ok"})
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_checks_the_database_and_its_schema(app, client):
    response = client.get("/readyz")
    assert (response.status_code, response.json) == (200, {"status": "ok", "checks": {"database": "ok"}})
    assert client.get("/health").json == {"status": "ok"}  # the older name, its answer as before

    with app.app_context():
        db = get_session()
        db.execute(text("UPDATE alembic_version SET version_num = '0005'"))
        db.commit()
    behind = client.get("/readyz")
    assert (behind.status_code, behind.json) == (503, {"status": "unavailable", "checks": {"database": "outdated"}})
    assert int(behind.headers["Retry-After"]) > 0
    assert client.get("/health").status_code == 503
    assert client.get("/healthz").status_code == 200  # alive all the same


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/health"])
def test_health_leaks_no_version_or_host(client, path):
    response = client.get(path)
    body = response.get_data(as_text=True)
    for leak in ("idp.test", "127.0.0.1", "sqlite", "0006", "0.1.0", "Werkzeug", "Python"):
        assert leak not in body, leak
    assert "Server" not in response.headers


# --- metrics: what they count --------------------------------------------------------------------


def test_sign_ins_locks_and_rate_limits_are_counted_by_outcome(app, client, rp, make_member):
    member = make_member()
    before = samples(client)
    login = LoginPage(client, rp.client_id)
    statuses = [login.attempt(member.email, "not the password").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 423]
    assert login.attempt(member.email, DEMO_PASSWORD).status_code == 423  # not even checked
    after = samples(client)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("idp_audit_events_total", event="sign_in", outcome="failure") == 5
    assert grew("idp_audit_events_total", event="lock_started", outcome="locked") == 1
    assert grew("idp_audit_events_total", event="sign_in", outcome="locked") == 1
    assert grew("idp_audit_events_total", event="sign_in", outcome="success") == 0
    assert grew("idp_http_request_duration_seconds_count", endpoint="interaction.login", method="POST") == 6
    assert grew("idp_http_requests_total", endpoint="interaction.login", status="401") == 4


@pytest.mark.settings(ratelimit={"login_per_ip": "2 per minute"})
def test_rate_limit_hits_are_counted(app, client, rp):
    before = samples(client)
    login = LoginPage(client, rp.client_id)
    assert [login.attempt(f"nobody{n}@example.test", "x").status_code for n in range(3)] == [401, 401, 429]
    after = samples(client)
    grew = value(after, "idp_audit_events_total", event="rate_limit", outcome="blocked") - value(
        before, "idp_audit_events_total", event="rate_limit", outcome="blocked"
    )
    assert grew == 1


def test_a_successful_sign_in_and_the_tokens_it_gives_are_counted(app, client, rp, make_member):
    member = make_member()
    before = samples(client)
    request = AuthorizationRequest(rp.client_id)
    location = Browser(client).sign_in(request, member.email, DEMO_PASSWORD)
    assert exchange_code(client, code_from(location, request), request).status_code == 200
    refused = exchange_code(client, code_from(location, request), request)  # the code again
    assert refused.status_code == 400
    after = samples(client)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("idp_audit_events_total", event="sign_in", outcome="success") == 1
    assert grew("idp_tokens_issued_total", grant_type="authorization_code") == 1
    assert grew("idp_http_requests_total", endpoint="oidc.token", status="400") == 1


def test_an_audit_event_is_counted_when_committed_not_when_rolled_back(app, client):
    before = value(samples(client), "idp_audit_events_total", event="metrics_probe", outcome="success")
    with app.app_context():
        db = get_session()
        audit.record(db, "metrics_probe", "success")
        db.rollback()
        assert value(samples(client), "idp_audit_events_total", event="metrics_probe", outcome="success") == before
        audit.record(db, "metrics_probe", "success")
        audit.record(db, "metrics_probe", "success")
        db.commit()
    assert value(samples(client), "idp_audit_events_total", event="metrics_probe", outcome="success") == before + 2


def test_mail_queued_waiting_and_sent_is_counted(app, client, rp, make_member, outbox):
    from idp.services.outbound import drain

    member = make_member(locale="en")
    before = samples(client)
    login = LoginPage(client, rp.client_id)
    for _ in range(5):
        login.attempt(member.email, "not the password")  # the lock notice is queued
    waiting = samples(client)
    assert value(waiting, "idp_outbound_jobs_waiting", kind="mail") == 1
    drain(app)
    after = samples(client)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("idp_outbound_jobs_total", kind="mail", outcome="queued") == 1
    assert grew("idp_outbound_jobs_total", kind="mail", outcome="done") == 1
    assert value(after, "idp_outbound_jobs_waiting", kind="mail") == 0
    assert len(outbox()) == 1


def test_labels_name_no_member_or_address(app, client, rp, make_member):
    member = make_member()
    LoginPage(client, rp.client_id).attempt(member.email, "not the password")
    body = client.get("/metrics").get_data(as_text=True)
    for leak in (member.email, member.membership_number, "127.0.0.1", "/interaction/"):
        assert leak not in body, leak


# --- metrics: who may read them ------------------------------------------------------------------


@pytest.mark.settings(metrics={"bearer_token": TOKEN})
def test_a_bearer_token_guards_the_metrics(client):
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
    ):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "idp_" not in refused.get_data(as_text=True)
    allowed = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == 200 and "idp_audit_events_total" in allowed.get_data(as_text=True)
    assert allowed.headers["Content-Type"].startswith("text/plain")


@pytest.mark.settings(metrics={"enabled": False})
def test_metrics_can_be_turned_off(client):
    assert client.get("/metrics").status_code == 404


def test_a_short_bearer_token_is_refused_at_start():
    from idp import ConfigError
    from idp.settings import load_settings

    with pytest.raises(ConfigError, match=r"metrics\.bearer_token"):
        load_settings({"metrics": {"bearer_token": "short"}}, environ={})
