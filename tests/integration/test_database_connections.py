"""How idp uses its database connections: the SQLite settings every connection gets."""

from __future__ import annotations

import sqlite3

from idp import create_app
from idp.db import get_engine
from idp.migrate import upgrade


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
