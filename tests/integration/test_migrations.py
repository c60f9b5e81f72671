"""Alembic is the only source of the schema: it builds a working database from nothing,
matches the models exactly, and the server refuses a database that is behind."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import idp.models  # noqa: F401
from idp import ConfigError, create_app
from idp.db import Base
from idp.migrate import head_revision, upgrade


def test_migrations_build_the_schema_the_models_describe(database_url):
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert differences == []
        assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(database_url):
    upgrade(database_url)
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == head_revision()
    finally:
        engine.dispose()


def test_server_refuses_an_unmigrated_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    with pytest.raises(ConfigError) as raised:
        create_app({"database": {"url": url}, "server": {"instance_path": str(tmp_path)}})
    assert "idp db upgrade" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_server_refuses_an_outdated_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0000'")
    engine.dispose()
    with pytest.raises(ConfigError) as raised:
        create_app({"database": {"url": url}, "server": {"instance_path": str(tmp_path)}})
    assert "0000" in str(raised.value) and "idp db upgrade" in str(raised.value)


def test_upgrade_from_an_empty_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    upgrade(url)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == head_revision()
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()
