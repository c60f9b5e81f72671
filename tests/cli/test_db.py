"""`idp db upgrade`: makes a database from nothing, and is safe to repeat."""

from __future__ import annotations

from pathlib import Path

from idp import create_app
from idp.db import get_engine
from idp.migrate import head_revision
from tests.cli.conftest import ISSUER, SECRET_KEY, assert_succeeded


def test_upgrade_makes_a_database_from_nothing_and_then_the_app_starts(idp, tmp_path: Path):
    instance = tmp_path / "fresh" / "instance"  # does not exist yet
    env = {"IDP_DATABASE__URL": None, "IDP_SERVER__INSTANCE_PATH": str(instance)}

    first = assert_succeeded(idp("db", "upgrade", env=env))

    assert (instance / "idp.sqlite3").is_file()
    assert first.stdout == f"database upgraded from empty to revision {head_revision()} (head)\n"
    again = assert_succeeded(idp("db", "upgrade", env=env))
    assert again.stdout == f"database already at revision {head_revision()} (head)\n"
    app = create_app({"server": {"issuer": ISSUER, "secret_key": SECRET_KEY, "instance_path": str(instance)}})
    try:
        assert app.test_client().get("/health").json == {"status": "ok"}
    finally:
        get_engine(app).dispose()


def test_upgrade_accepts_an_empty_sqlite_file(idp, tmp_path: Path):
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    result = assert_succeeded(idp("db", "upgrade", env={"IDP_DATABASE__URL": f"sqlite:///{empty}"}))
    assert result.stdout.startswith("database upgraded from empty")
    assert_succeeded(idp("keys", "list", env={"IDP_DATABASE__URL": f"sqlite:///{empty}"}))


def test_upgrade_of_a_current_database_changes_nothing(idp):
    """On the test database, which is PostgreSQL when IDP_TEST_DATABASE_URL is set."""
    result = assert_succeeded(idp("db", "upgrade"))
    assert result.stdout == f"database already at revision {head_revision()} (head)\n"
