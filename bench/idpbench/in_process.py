"""idp in this process, on a fresh database, for the in-process measurements
(``bench/queries.py``, ``bench/lookups.py``): no HTTP server, no load generator."""

from __future__ import annotations

import tempfile
from pathlib import Path


def in_process_app(name: str, database_url: str | None, **settings):
    """A migrated database (a fresh SQLite file unless ``database_url``, which must be empty)
    and an app on it; ``settings``: sections added to or replacing the defaults here."""
    from idp import create_app
    from idp.migrate import upgrade

    workdir = Path(tempfile.mkdtemp(prefix=f"idp-{name}-"))
    url = database_url or f"sqlite:///{workdir / f'{name}.sqlite3'}"
    upgrade(url)
    return create_app(
        {
            "server": {"issuer": "http://localhost", "instance_path": str(workdir)},
            "database": {"url": url},
            "logging": {"level": "WARNING"},
            # Queued work runs in a thread that polls the database; its statements are not a
            # request's.
            "outbound": {"worker": False},
            **settings,
        }
    )
