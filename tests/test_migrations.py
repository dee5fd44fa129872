"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from o2o import migrate
from o2o.models import metadata


def test_database_is_at_head(db):
    assert migrate.current_revision(db.url) == migrate.head_revision()


def test_models_and_migrations_agree(db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == [], "models changed without a migration: run alembic revision --autogenerate"


def test_every_constraint_is_named():
    for table in metadata.sorted_tables:
        for constraint in table.constraints:
            assert constraint.name, f"unnamed constraint on {table.name}"
