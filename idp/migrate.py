"""Running Alembic from code: `idp db upgrade`, the tests, and the start-up schema check."""

from __future__ import annotations

from functools import cache

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from idp.settings import RESOURCE_ROOT

MIGRATIONS_DIR = RESOURCE_ROOT / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url:
        # ConfigParser interpolation: a literal % in a password must be doubled.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


@cache
def head_revision() -> str | None:
    """The newest migration shipped with the code. Read once per process: the migrations are
    the package's own files (parsing them is most of the start-up schema check)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
