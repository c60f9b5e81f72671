"""How idp uses its database connections: the SQLite settings every connection gets, and one
connection per request."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import event

from idp import create_app
from idp.db import get_engine
from idp.migrate import upgrade
from tests.conftest import DEMO_PASSWORD
from tests.helpers.live import LiveBrowser, serve_in_thread
from tests.helpers.oidc import AuthorizationRequest, Browser, code_from, exchange_code


def test_every_sqlite_connection_is_set_up_for_concurrent_use(tmp_path):
    path = tmp_path / "idp.sqlite3"
    upgrade(f"sqlite:///{path}")
    app = create_app({"database": {"url": f"sqlite:///{path}"}, "server": {"instance_path": str(tmp_path)}})
    engine = get_engine(app)
    try:
        with engine.connect() as first, engine.connect() as second:
            for connection in (first, second):
                pragma = connection.exec_driver_sql
                assert pragma("PRAGMA journal_mode").scalar() == "wal"
                assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
                assert pragma("PRAGMA busy_timeout").scalar() == 30000
                assert pragma("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
    # WAL stays with the file: another program opening it reads and writes it the same way.
    with sqlite3.connect(path) as outside:
        assert outside.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_each_request_of_a_sign_in_takes_one_connection_from_the_pool(app, client, make_member, make_client):
    """The request's database session keeps its connection across its commits, and the browser
    session is loaded and saved through it: one checkout per request (each checkout costs a
    ping and a reset), however many commits the request makes."""
    member = make_member()
    rp, secret = make_client()
    checkouts: list[str] = []
    engine = get_engine(app)

    def counted(*_args) -> None:
        checkouts.append("checkout")

    event.listen(engine.pool, "checkout", counted)
    requests_made = []

    def request_hook(response):
        requests_made.append(len(checkouts))
        checkouts.clear()
        return response

    app.after_request_funcs.setdefault(None, []).append(request_hook)
    try:
        request = AuthorizationRequest(rp.client_id)
        code = code_from(Browser(client).sign_in(request, member.email, DEMO_PASSWORD), request)
        assert exchange_code(client, code, request, secret=secret).status_code == 200
    finally:
        event.remove(engine.pool, "checkout", counted)
    # authorize, login page, login (which answers with the code), token
    assert len(requests_made) == 4, requests_made
    assert all(count <= 1 for count in requests_made), requests_made


def test_a_password_sign_in_commits_the_attempt_then_the_sign_in(app, client, make_member, make_client):
    """A member's login POST commits twice, plus the browser session's save: the reserved attempt on
    its own (that commit is what bounds password checks across processes), then the lockout's
    success, its audit record, the interaction's step and its new binding in one commit."""
    member = make_member()
    rp, _ = make_client()
    engine = get_engine(app)
    commits: list[str] = []
    per_endpoint: dict[str, int] = {}

    def counted(_connection) -> None:
        commits.append("commit")

    def request_done(_error=None) -> None:
        from flask import request

        per_endpoint[request.endpoint or ""] = len(commits)
        commits.clear()

    # The member's first attempt ever also creates its lockout counters (a commit of its own).
    Browser(app.test_client()).sign_in(AuthorizationRequest(rp.client_id), member.email, DEMO_PASSWORD)
    event.listen(engine, "commit", counted)
    app.teardown_request_funcs.setdefault(None, []).append(request_done)
    try:
        Browser(client).sign_in(AuthorizationRequest(rp.client_id), member.email, DEMO_PASSWORD)
    finally:
        event.remove(engine, "commit", counted)
    assert per_endpoint["interaction.login"] == 3, per_endpoint


def test_a_password_check_reads_the_operators_lock_with_its_reservation(app, client, make_member, make_client):
    """The UPDATE that reserves the attempt also returns whether an operator locked the
    account (RETURNING): the login POST touches the lockout counters twice, to reserve and to
    record the success, and never reads them with a statement of its own."""
    member = make_member()
    rp, _ = make_client()
    engine = get_engine(app)
    on_counters: list[str] = []

    def seen(_connection, _cursor, statement, *_args) -> None:
        if "login_throttles" in statement:
            on_counters.append(statement.split(None, 1)[0].upper())

    # The member's first attempt ever also creates the counters (an INSERT of its own).
    Browser(app.test_client()).sign_in(AuthorizationRequest(rp.client_id), member.email, DEMO_PASSWORD)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        Browser(client).sign_in(AuthorizationRequest(rp.client_id), member.email, DEMO_PASSWORD)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert on_counters == ["UPDATE", "UPDATE"]


@pytest.mark.settings(logging={"level": "WARNING"})
def test_a_held_request_is_answered_once_when_its_login_is_sent_many_times_at_once(
    app_config, make_member, make_client
):
    """The login step answers the request itself, and a step moves the interaction on only from
    the state it was loaded in (the state is the row's version): however many copies of the
    login form arrive together, each with the right password, one gets a code and the others
    are refused. Without that check a copy that loaded the login step before another answered
    it would write it back and be answered a second time."""
    member = make_member()
    registered, _ = make_client(public=True)
    live_app = create_app(app_config)
    try:
        with serve_in_thread(live_app) as base_url:
            browser = LiveBrowser(base_url)
            # No nonce: Authlib's replay check of the nonce would refuse the copies on its own.
            interaction = browser.open_login(AuthorizationRequest(registered.client_id, nonce=None).url())
            token = browser.login_form_token(interaction)

            copies = 8
            barrier = threading.Barrier(copies)
            answers: list[str] = [""] * copies

            def send(index: int) -> None:
                barrier.wait()
                answer = browser.post_login(interaction, token, member.email, DEMO_PASSWORD)
                answers[index] = f"{answer.status_code} {answer.headers.get('Location', '')}"

            threads = [threading.Thread(target=send, args=(i,)) for i in range(copies)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
    finally:
        get_engine(live_app).dispose()
    with_code = [answer for answer in answers if "code=" in answer]
    assert len(with_code) == 1, answers
    assert all(answer and "code=" not in answer for answer in answers if answer not in with_code), answers
