"""The run's own database: a fresh SQLite file or a fresh PostgreSQL database, dropped after."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class BenchDatabase:
    kind: str
    url: str

    def create(self) -> None: ...

    def drop(self) -> None: ...

    def table_sizes(self) -> dict[str, dict[str, int]]:
        """Rows and bytes (table with its indexes) of every table."""
        engine = create_engine(self.url)
        try:
            with engine.connect() as connection:
                tables = inspect(connection).get_table_names()
                return {
                    name: {"rows": self._rows(connection, name), "bytes": self._bytes(connection, name)}
                    for name in tables
                    if name != "alembic_version"
                }
        finally:
            engine.dispose()

    @staticmethod
    def _rows(connection, table: str) -> int:
        return connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()

    def _bytes(self, connection, table: str) -> int:
        raise NotImplementedError


class SqliteDatabase(BenchDatabase):
    kind = "sqlite"

    def __init__(self, workdir: Path) -> None:
        self.path = workdir / "idp-bench.sqlite3"
        self.url = f"sqlite:///{self.path}"

    def create(self) -> None:
        # `idp db upgrade` creates the file.
        pass

    def drop(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def _bytes(self, connection, table: str) -> int:
        # dbstat: the pages each b-tree (the table and each of its indexes) occupies.
        names = [table] + [
            row[0]
            for row in connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"), {"t": table}
            )
        ]
        total = 0
        for name in names:
            total += connection.execute(
                text("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = :n"), {"n": name}
            ).scalar_one()
        return int(total)


class PostgresDatabase(BenchDatabase):
    kind = "postgresql"

    def __init__(self, admin_url: str = DEFAULT_POSTGRES_URL) -> None:
        self.admin_url = make_url(admin_url)
        self.name = f"idp_bench_{secrets.token_hex(4)}"
        self.url = self.admin_url.set(database=self.name).render_as_string(hide_password=False)
        self._created = False

    def _admin(self):
        return create_engine(self.admin_url, isolation_level="AUTOCOMMIT")

    def create(self) -> None:
        engine = self._admin()
        try:
            with engine.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{self.name}"'))
            self._created = True
        finally:
            engine.dispose()

    def drop(self) -> None:
        if not self._created:
            return
        engine = self._admin()
        try:
            with engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self._created = False
        finally:
            engine.dispose()

    def _bytes(self, connection, table: str) -> int:
        return int(connection.execute(text("SELECT pg_total_relation_size(:t)"), {"t": table}).scalar_one())


def open_database(kind: str, workdir: Path, postgres_url: str) -> BenchDatabase:
    if kind == "sqlite":
        return SqliteDatabase(workdir)
    if kind == "postgresql":
        return PostgresDatabase(postgres_url)
    raise ValueError(f"unknown database {kind!r}")
