"""Fixtures: a migrated database per test (SQLite by default, PostgreSQL when IDP_TEST_DATABASE_URL
is set), the app, its test client and CLI runner, a movable clock, and member/client factories."""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from idp import create_app
from idp.clock import clock
from idp.migrate import upgrade
from idp.runtime import runtime
from tests.helpers.shared_url_builders import share_url_builders

# Every test builds an app; each would compile its routes' URL builders anew.
share_url_builders()

POSTGRES_URL = os.environ.get("IDP_TEST_DATABASE_URL", "")
# The PostgreSQL every developer machine and CI has (trust auth); used by multi-process tests.
LOCAL_POSTGRES_URL = os.environ.get("IDP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

DEMO_PASSWORD = "correct horse battery staple"


class PostgresDatabases:
    """Fresh PostgreSQL databases for tests, each a copy of one migrated template database
    (CREATE DATABASE … TEMPLATE), so a test pays for a copy, not for every migration.

    Copying and dropping a database costs about half a second on a busy CI machine (the
    server writes and syncs every file of it), more than most tests. So tests that need only a
    fresh database, not a server-wide one of their own, share one per test process
    (``emptied``): emptied after each test back to the template's state (rows deleted, sequences
    restarted; the migrations write no row but alembic_version's, which stays), and copied
    afresh if a test left more behind than rows."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.base = admin_url.rpartition("/")[0]
        self.template = f"idp_template_{uuid.uuid4().hex[:12]}"
        self._execute(f'CREATE DATABASE "{self.template}"')
        upgrade(f"{self.base}/{self.template}")
        from sqlalchemy.orm import close_all_sessions

        close_all_sessions()
        self._template_schema = self._schema_of(self.template)
        self._reused: str | None = None

    @contextmanager
    def fresh(self):
        name = self._copy_of_template()
        try:
            yield f"{self.base}/{name}"
        finally:
            self._drop(name)

    @contextmanager
    def emptied(self):
        """The process's shared test database, as fresh as a copy of the template."""
        if self._reused is None:
            self._reused = self._copy_of_template()
        url = f"{self.base}/{self._reused}"
        try:
            yield url
        finally:
            if not self._empty(url):
                self._drop(self._reused)
                self._reused = None

    def close(self) -> None:
        if self._reused is not None:
            self._drop(self._reused)
        self._execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        self.admin.dispose()

    def _copy_of_template(self) -> str:
        name = f"idp_test_{uuid.uuid4().hex[:12]}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def _drop(self, name: str) -> None:
        from sqlalchemy.orm import close_all_sessions

        close_all_sessions()
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _empty(self, url: str) -> bool:
        """Delete every row the test wrote and restart the sequences; False when that is not
        enough (the schema changed, or the database could not be emptied)."""
        from sqlalchemy.orm import close_all_sessions

        import idp.models  # noqa: F401  every table in the metadata
        from idp.db import Base

        close_all_sessions()
        name = url.rpartition("/")[2]
        engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            # What the test left connected (a thread, a server process) goes, as with DROP … FORCE.
            self._execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
            with engine.connect() as connection:
                connection.exec_driver_sql("SET lock_timeout = '5s'")
                tables = {
                    row[0]
                    for row in connection.exec_driver_sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                }
                if tables != {*Base.metadata.tables, "alembic_version"}:
                    return False
                # Children before parents: no foreign key is in the way, no trigger is switched off.
                for table in reversed(Base.metadata.sorted_tables):
                    connection.exec_driver_sql(f'DELETE FROM "{table.name}"')
                sequences = connection.exec_driver_sql(
                    "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
                ).scalars()
                for sequence in list(sequences):
                    connection.exec_driver_sql(f'ALTER SEQUENCE "{sequence}" RESTART')
                return _schema_digest(connection) == self._template_schema
        except Exception:
            return False
        finally:
            engine.dispose()

    def _schema_of(self, name: str) -> str:
        engine = create_engine(f"{self.base}/{name}", poolclass=NullPool)
        try:
            with engine.connect() as connection:
                return _schema_digest(connection)
        finally:
            engine.dispose()

    def _execute(self, statement: str) -> None:
        with self.admin.connect() as connection:
            connection.exec_driver_sql(statement)


def _schema_digest(connection) -> str:
    """A digest of every column of the public schema's tables, indexes and sequences (name,
    type, nullability, default) and of the Alembic revision."""
    return connection.exec_driver_sql(
        "SELECT md5(concat("
        "(SELECT string_agg(concat_ws(':', c.relname, c.relkind, a.attname, a.atttypid, a.attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid)), ',' ORDER BY c.relname, a.attnum) "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped), "
        "(SELECT string_agg(version_num, ',') FROM alembic_version)))"
    ).scalar_one()


# Tests whose outcome cannot depend on IDP_TEST_DATABASE_URL: they use no database, or always
# PostgreSQL (several processes on one server), or exercise the pages in a browser, which the
# HTTP tests already run on both backends. `make test` leaves them out of the PostgreSQL pass.
RUN_ONCE_FOLDERS = {"browser", "unit"}
RUN_ONCE_FILES = {"test_wheel_install.py", "test_config_example.py", "test_live_server.py"}


def pytest_collection_modifyitems(config, items):
    tests_root = Path(__file__).parent
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        always_postgres = bool(fixtures & {"postgres_url", "postgres_databases"}) and "database_url" not in fixtures
        folder = Path(item.path).relative_to(tests_root).parts[0]
        if folder in RUN_ONCE_FOLDERS or item.path.name in RUN_ONCE_FILES or always_postgres:
            item.add_marker(pytest.mark.backend_independent)


@pytest.fixture(scope="session")
def postgres_databases():
    databases = PostgresDatabases(POSTGRES_URL or LOCAL_POSTGRES_URL)
    yield databases
    databases.close()


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory) -> Path:
    """One SQLite file migrated by Alembic; each test gets a copy of it."""
    path = tmp_path_factory.mktemp("template") / "idp.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def database_url(tmp_path: Path, request):
    """A fresh, migrated database: a file under tmp_path, or a new PostgreSQL database when
    IDP_TEST_DATABASE_URL names a PostgreSQL server. Both are copies of a database migrated
    by Alembic from empty (tests/integration/test_migrations.py checks the migrations themselves)."""
    if not POSTGRES_URL:
        path = tmp_path / "idp.sqlite3"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    with request.getfixturevalue("postgres_databases").emptied() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_databases):
    """Always PostgreSQL, for what only a shared server database can show (several processes)."""
    with postgres_databases.fresh() as url:
        yield url


@pytest.fixture
def settings_overrides(request) -> dict:
    """Every ``settings`` marker from module to test, the closest winning key by key."""
    overrides: dict = {}
    for marker in reversed(list(request.node.iter_markers("settings"))):
        for section, values in marker.kwargs.items():
            overrides.setdefault(section, {}).update(values)
    return overrides


TEST_HASH_MEMORY_KIB = 1024


@pytest.fixture
def app_config(database_url: str, tmp_path: Path, settings_overrides: dict) -> dict:
    config = {
        "server": {
            "issuer": "http://idp.test",
            "secret_key": "test-secret-key-that-is-long-enough-0123456789",
            "instance_path": str(tmp_path / "instance"),
        },
        "database": {"url": database_url},
        # Queued work (mail, forgot-password requests) is run by the tests themselves
        # (``outbox()`` and ``drain(app)``), not by a thread: what a test reads is decided.
        "outbound": {"worker": False},
        # Argon2id at its cheapest (development mode allows it): a suite of thousands of
        # sign-ins is not about the hash's cost. Tests of the cost itself set their own.
        "passwords": {"hash_memory_kib": TEST_HASH_MEMORY_KIB, "hash_time_cost": 1},
    }
    for section, values in settings_overrides.items():
        config.setdefault(section, {}).update(values)
    return config


@pytest.fixture
def app(app_config: dict):
    application = create_app(app_config)
    application.config["TESTING"] = True
    yield application
    stop_worker(application)
    from idp.db import get_engine

    get_engine(application).dispose()


def stop_worker(application) -> None:
    """Stop the app's outbound worker thread, if it has one, before its database goes."""
    worker = runtime(application).outbound_worker
    if worker is not None:
        worker.stop()


@pytest.fixture
def outbox(app):
    """The mail idp has written so far (development outbox backend): ``outbox()`` re-reads it."""
    from idp.services.outbound import drain
    from tests.helpers.outbox import read_outbox

    folder = Path(runtime(app).settings.server.instance_path) / "outbox"

    def read():
        drain(app)  # what was queued goes out first, as the server's worker would do
        return read_outbox(folder)

    return read


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(autouse=True)
def moving_clock():
    """The app's clock; tests call ``moving_clock.advance(seconds)``. Reset after each test."""
    clock.reset()
    yield clock
    clock.reset()


@pytest.fixture
def make_member(app):
    from idp.db import get_session
    from idp.services.members import NewMember, create_member

    counter = iter(range(1, 10_000))

    def factory(password: str | None = DEMO_PASSWORD, **fields):
        n = next(counter)
        values = {
            "membership_number": f"{12345678900 + n:011d}",
            "nik": f"{3171010101900000 + n:016d}",
            "full_name": f"Member {n}",
            "birth_date": date(1990, 1, 1),
            "email": f"member{n}@example.test",
            "email_verified": True,
        }
        values.update(fields)
        with app.app_context():
            db = get_session()
            member = create_member(db, NewMember(**values), password)
            db.commit()
            db.refresh(member)
            db.expunge(member)
            return member

    return factory


@pytest.fixture
def make_client(app):
    from idp.db import get_session
    from idp.services.clients import NewClient, create_client

    def factory(**fields):
        values = {
            "name": "Benefit Statements",
            "redirect_uris": ["https://rp.example.test/callback"],
            "scopes": ["openid", "profile", "email", "phone", "membership", "benefits:read"],
            "first_party": True,
        }
        values.update(fields)
        with app.app_context():
            db = get_session()
            registered, secret = create_client(db, NewClient(**values))
            db.commit()
            db.refresh(registered)
            db.expunge(registered)
            return registered, secret

    return factory


@pytest.fixture
def rp(make_client):
    """The relying party most tests sign in to: public (so PKCE), first-party (no consent
    page), named as a claims app would be."""
    registered, _ = make_client(public=True, name="Klaim Online")
    return registered


# --- A real SMTP server, and the app sending its mail through it --------------------------


@pytest.fixture
def smtp_server():
    """aiosmtpd listening on 127.0.0.1 (a free port): ``smtp_server.wait_for(n)``,
    ``smtp_server.received()``, ``smtp_server.to(address)``."""
    from tests.helpers.smtp import SmtpServer

    with SmtpServer() as server:
        yield server


@pytest.fixture
def smtp_app_config(app_config: dict, smtp_server) -> dict:
    """``app_config`` (with any settings marker applied) plus a [mail] section that sends
    through ``smtp_server`` (the marker takes static values; the port is only known now)."""
    config = {section: dict(values) for section, values in app_config.items()}
    config.setdefault("mail", {}).update(smtp_server.mail_settings())
    # Mail goes out as in production: the worker thread sends what is queued.
    config.setdefault("outbound", {}).update({"worker": True, "poll_seconds": 1})
    return config


@pytest.fixture
def smtp_app(smtp_app_config: dict):
    """The app with the SMTP mail backend. Mail is queued: call ``drain(smtp_app)``
    (idp.services.outbound) before reading what arrived."""
    from tests.helpers.smtp import app_sending_mail

    with app_sending_mail(smtp_app_config) as application:
        yield application


@pytest.fixture
def smtp_client(smtp_app):
    return smtp_app.test_client()
