"""A small demo city seeded once per module (and backend), with an HTTP client: read-only tests share it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from o2o.config import Settings
from o2o.db import Database
from o2o.demo import service as demo
from tests.conftest import _wipe


@pytest.fixture(scope="module")
def seeded(_database: Database) -> Iterator[demo.SeedSummary]:
    _wipe(_database)
    with _database.session() as s:
        summary = demo.seed(s, size="small", seed=42)
    yield summary
    _wipe(_database)


@pytest.fixture(scope="module")
def api(
    seeded: demo.SeedSummary, _database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    from o2o.app import create_app

    settings = Settings(
        env="test",
        database_url=_database.url,
        var_dir=tmp_path_factory.mktemp("var"),
        inprocess_worker=False,
        demo_seed_on_start=False,
    )
    with TestClient(create_app(settings, _database), base_url="http://testserver") as client:
        yield client
