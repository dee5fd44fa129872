"""The `o2o` command: help that explains, exit codes that mean something."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from o2o import cli
from o2o.config import get_settings

runner = CliRunner()


@pytest.fixture
def o2o_app(monkeypatch):
    cli._register_subcommands()
    yield cli.app


def invoke(app, args, env=None):
    get_settings.cache_clear()
    try:
        return runner.invoke(app, args, env=env)
    finally:
        get_settings.cache_clear()


def test_help_lists_every_command(o2o_app):
    result = invoke(o2o_app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "worker", "db", "demo", "bench", "delivery"):
        assert command in result.output
    serve_help = invoke(o2o_app, ["serve", "--help"]).output
    for option in ("--workers", "--host", "--port"):
        assert option in serve_help


def test_db_current_on_empty_database_exits_2(o2o_app, tmp_path):
    env = {"O2O_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    result = invoke(o2o_app, ["db", "current", "--json"], env=env)
    assert result.exit_code == 2
    status = json.loads(result.output)
    assert status["current"] is None and status["up_to_date"] is False and status["head"]


def test_db_upgrade_then_current(o2o_app, tmp_path):
    env = {"O2O_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    assert invoke(o2o_app, ["db", "upgrade"], env=env).exit_code == 0
    result = invoke(o2o_app, ["db", "current", "--json"], env=env)
    assert result.exit_code == 0
    assert json.loads(result.output)["up_to_date"] is True


def test_serve_refuses_unmigrated_postgres(o2o_app, database_url, monkeypatch):
    if not database_url.startswith("postgresql"):
        pytest.skip("the SQLite path migrates by itself")
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from o2o.db import make_null_pool_engine
    from tests.conftest import POSTGRES_ADMIN_URL

    url = make_url(database_url).set(database="o2o_never_migrated_db").render_as_string(hide_password=False)
    admin = make_null_pool_engine(POSTGRES_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "o2o_never_migrated_db"'))
        conn.execute(text('CREATE DATABASE "o2o_never_migrated_db"'))
    try:
        result = invoke(o2o_app, ["serve", "--no-seed-demo"], env={"O2O_DATABASE_URL": url})
        assert result.exit_code == 2
        assert "o2o db upgrade" in result.output
    finally:
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "o2o_never_migrated_db" WITH (FORCE)'))
        admin.dispose()
