"""`o2o demo seed` through Typer: JSON summary, exit code 2 for an existing city, --replace."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from typer.testing import CliRunner

from o2o.config import get_settings
from o2o.db import Database
from o2o.demo.cli import app
from o2o.stores.models import Store

runner = CliRunner()


def invoke(args: list[str], url: str):  # type: ignore[no-untyped-def]
    get_settings.cache_clear()
    try:
        return runner.invoke(app, args, env={"O2O_DATABASE_URL": url})
    finally:
        get_settings.cache_clear()


def test_seed_refuse_then_replace(db: Database) -> None:
    result = invoke(["seed", "--size", "small", "--seed", "3", "--json"], db.url)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["city"] == "beijing" and summary["size"] == "small" and summary["seed"] == 3
    assert summary["counts"]["stores"] == 60 and summary["counts"]["people"] == 400
    assert summary["replaced"] is False and summary["seconds"] > 0

    again = invoke(["seed", "--seed", "3"], db.url)
    assert again.exit_code == 2
    assert "exists already" in again.stderr and "--replace" in again.stderr

    replaced = invoke(["seed", "--seed", "3", "--replace", "--json"], db.url)
    assert replaced.exit_code == 0, replaced.output
    body = json.loads(replaced.stdout)
    assert (
        body["replaced"] is True and body["deleted"]["stores"] == 60 and body["city_id"] == summary["city_id"]
    )
    with db.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(Store)) == 60


def test_seed_prints_a_table_without_json(db: Database) -> None:
    result = invoke(["seed"], db.url)
    assert result.exit_code == 0, result.output
    assert "stores" in result.stderr and "+8613800000000" in result.stderr
    assert result.stdout == ""


def test_bad_size_is_a_usage_error(db: Database) -> None:
    result = invoke(["seed", "--size", "huge"], db.url)
    assert result.exit_code == 2
