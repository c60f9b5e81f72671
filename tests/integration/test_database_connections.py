"""How idp uses its database connections: the SQLite settings every connection gets, and one
connection per request."""

from __future__ import annotations

import sqlite3

from sqlalchemy import event

from idp import create_app
from idp.db import get_engine
from idp.migrate import upgrade
from tests.conftest import DEMO_PASSWORD
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
    # authorize, login page, login, interaction, resume, token (and any consent step)
    assert len(requests_made) >= 6
    assert all(count <= 1 for count in requests_made), requests_made
