"""SQLAlchemy 2.0 base, an engine and session factory per app, and session teardown.

Alembic migrations are the only source of the schema: nothing here creates tables.

Prebuilt statements: the lookups a sign-in or a token request runs every time (a client by
its id, an interaction by its uid, a code, a browser session) are module-level statements
with ``bindparam`` placeholders, executed with their values. SQLAlchemy caches the compiled
SQL either way, but a statement built per call still costs its construction and its cache
key on every execution (about 40 µs a lookup, ``bench/lookups.py``); a prebuilt one costs
neither. ``insert_unless_present`` is the one insert-if-missing, prebuilt per backend.

A prebuilt UPDATE or INSERT is the table's (Core) statement, run with
``run_table_statement``: SQLAlchemy makes an ORM-enabled one (``update(Model)``) anew at
every execution, cache key included, so prebuilding it would save only its construction.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import (
    Connection,
    CursorResult,
    DateTime,
    Engine,
    Executable,
    MetaData,
    Row,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from idp.clock import as_utc

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use idp.clock for times")
        return value

    def process_result_value(self, value: datetime | None, dialect):
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime}


# Set on every SQLite connection:
# - foreign_keys: SQLite does not enforce them unless asked, per connection;
# - journal_mode=WAL: readers never wait for the writer and a commit appends to the log
#   instead of rewriting pages (kept in the file once set);
# - synchronous=NORMAL: with WAL, a commit no longer waits for fsync; the database stays
#   consistent through any crash, and only a power or OS failure can lose the last commits
#   (an application crash loses nothing). FULL would fsync at every commit;
# - busy_timeout: a writer waits up to 30 s for another process's write instead of failing.
SQLITE_PRAGMAS = ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000")


def make_engine(url: str, echo: bool = False, connect_timeout_seconds: int = 5) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - driver hook
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        return engine
    # pool_pre_ping: a connection the database dropped (a restart, a failover) is replaced
    # before use, so service resumes by itself when the database is back.
    connect_args = {"connect_timeout": connect_timeout_seconds} if url.startswith("postgresql") else {}
    return create_engine(url, echo=echo, pool_pre_ping=True, connect_args=connect_args)


def init_app(app: Flask, url: str, echo: bool = False, connect_timeout_seconds: int = 5) -> None:
    engine = make_engine(url, echo, connect_timeout_seconds)
    app.extensions["idp.engine"] = engine
    app.extensions["idp.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.extensions["idp.standing_reads"] = StandingReads(engine)
    app.teardown_appcontext(_close_session)


# (backend, model, conflict columns) -> its INSERT ... ON CONFLICT DO NOTHING, built at first use.
_INSERTS_UNLESS_PRESENT: dict[tuple[str, type, tuple[str, ...]], Executable] = {}


def insert_unless_present(
    db: Session, model: type, values: dict[str, Any], conflict_columns: tuple[str, ...] = ()
) -> None:
    """Insert the row unless one with the same unique key exists (``INSERT ... ON CONFLICT DO
    NOTHING``, which SQLite and PostgreSQL both spell so, each from its own dialect): any
    number of concurrent inserts of one row all succeed and one writes it. ``conflict_columns``:
    the unique key meant (none: any). The caller commits.

    The statement is the table's (Core), not the mapped class's, because an ORM-enabled
    insert goes through the ORM's bulk-insert machinery. On SQLite an audit record's insert
    takes 74 µs that way against 29 µs as the table's (``bench/lookups.py``), and the lockout
    counter's first row 144 against 50 µs. Only the ORM's statements flush the session's pending objects
    first, so this one flushes them itself: a row it refers to may still be pending."""
    backend = db.get_bind().dialect.name
    key = (backend, model, conflict_columns)
    statement = _INSERTS_UNLESS_PRESENT.get(key)
    if statement is None:
        insert = postgresql_insert if backend == "postgresql" else sqlite_insert
        statement = insert(inspect(model).local_table).on_conflict_do_nothing(
            index_elements=list(conflict_columns) or None
        )
        _INSERTS_UNLESS_PRESENT[key] = statement
    run_table_statement(db, statement, values)


def run_table_statement(
    db: Session, statement: Executable, values: dict[str, Any] | list[dict[str, Any]]
) -> CursorResult:
    """Run a prebuilt statement on a table (``update(Model.__table__)``, not the mapped
    class) in the session's transaction. An ORM-enabled statement goes through the ORM's
    bulk machinery, which copies the statement at every execution and computes its cache key
    again (40-60 µs for the lockout's reservation on SQLite); the table's does neither. Only
    the ORM's statements flush the session's pending changes first (autoflush), so this
    flushes them itself: the statement may depend on them, or a pending change to the same
    row would be written after it and undo it. It does not update the objects in the
    session (``synchronize_session=False``). ``values``: one row's, or a list of rows' for
    one execution of an INSERT with each (executemany)."""
    db.flush()
    return db.execute(statement, values)


def get_engine(app: Flask | None = None) -> Engine:
    return (app or current_app).extensions["idp.engine"]


def standing_reads(app: Flask) -> StandingReads:
    """The app's standing reads (see ``StandingReads``)."""
    return app.extensions["idp.standing_reads"]


def new_session(app: Flask | None = None) -> Session:
    """A database session of its own (not the request's), for work that must commit apart
    from the request's transaction (queuing a job) or runs outside a request."""
    return (app or current_app).extensions["idp.sessionmaker"]()


def get_session() -> Session:
    """The request's database session, opened on first use and closed at teardown.

    It is bound to one connection, checked out of the pool once per request (and app
    context) and kept across the request's commits: a session bound to the engine would
    give its connection back at every commit and check one out again, with a ping
    (``pool_pre_ping``) and a reset each time. The server-side browser session is loaded
    and saved through this session too (``web.server_session``)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["idp.sessionmaker"](bind=_request_connection())
    return g.db_session


def _request_connection() -> Connection:
    connection = g.get("db_connection")
    if connection is None or connection.closed or connection.invalidated:
        # None yet, or the one there was broke (web.unavailable dropped its session).
        if connection is not None:
            connection.close()
        connection = get_engine().connect()
        g.db_connection = connection
    return connection


def _close_session(exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        if exc is not None:
            session.rollback()
        session.close()
    connection = g.pop("db_connection", None)
    if connection is not None:
        connection.close()  # back to the pool (its reset rolls back whatever was left open)


class StandingReads:
    """One-statement reads for the fast paths in front of Flask (UserInfo and introspection,
    ``web/protocol/in_front.py``), on a connection each thread keeps, in autocommit: a read
    costs one round trip, where a pool checkout adds a ping (``pool_pre_ping``), a BEGIN and a
    reset. One per app (``standing_reads``), so a process holds one connection more per thread
    that served such a read. A read that fails drops its connection (the next read opens
    another) and raises; every connection is closed when the engine is disposed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        self._open: set[Connection] = set()
        self._lock = threading.Lock()
        event.listen(engine, "engine_disposed", self._close_all)

    def first(self, statement: Executable, parameters: dict[str, Any]) -> Row | None:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            with self._lock:
                self._open.add(connection)
            self._local.connection = connection
        try:
            return connection.execute(statement, parameters).first()
        except SQLAlchemyError:
            self._local.connection = None
            self._close(connection)
            raise

    def _close(self, connection: Connection) -> None:
        with self._lock:
            self._open.discard(connection)
        with contextlib.suppress(SQLAlchemyError):  # already broken: nothing left to give back
            # Closed outright, not given back: the pool may be the one dispose() let go of.
            connection.invalidate()
            connection.close()

    def _close_all(self, _engine: Engine) -> None:
        with self._lock:
            connections = list(self._open)
        for connection in connections:
            self._close(connection)


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None when it was never migrated."""
    if not inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as connection:
        row = connection.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    return row[0] if row else None
