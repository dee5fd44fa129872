"""Seeding the demo city: run the generator's steps in one transaction, replace a city, seed on first start."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Self

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Table, delete, func, or_, select, update
from sqlalchemy.orm import Session

from o2o.config import Settings
from o2o.db import Database
from o2o.demo.generator import SIZES, DemoContext, NullProgress, run_steps, summary_counts
from o2o.demo.geography import CITIES, CitySpec

# The domains' demo steps register themselves with the generator when imported; the order of these imports is
# the order of their steps (menus, then shelf stock, then a month of orders, then deals and their vouchers).
from o2o.stores import demo_catalogue, demo_stock  # noqa: F401  isort: skip
from o2o.orders import demo as orders_demo  # noqa: F401  isort: skip
from o2o.deals import demo as deals_demo  # noqa: F401  isort: skip


class CityExists(Exception):
    def __init__(self, slug: str) -> None:
        super().__init__(f"A city with the slug {slug!r} exists already; pass --replace to seed it anew.")
        self.slug = slug


@dataclass
class SeedSummary:
    city: str
    city_id: uuid.UUID
    size: str
    seed: int
    counts: dict[str, int]
    seconds: float
    replaced: bool = False
    deleted: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "city": self.city,
            "city_id": str(self.city_id),
            "size": self.size,
            "seed": self.seed,
            "replaced": self.replaced,
            "counts": self.counts,
            "deleted": self.deleted,
            "seconds": round(self.seconds, 3),
        }


class RichProgress:
    """The generator's progress on a rich progress bar, one line per step."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: Any = None

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, step: str, total: int) -> None:
        self._task = self._progress.add_task(step, total=total)

    def advance(self, n: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)

    def finish(self) -> None:
        if self._task is not None:
            task = next(t for t in self._progress.tasks if t.id == self._task)
            done = task.completed or task.total  # the estimate becomes the real count
            self._progress.update(self._task, total=done, completed=done)
            self._task = None


def city_exists(session: Session, slug: str) -> uuid.UUID | None:
    from o2o.cities.models import City

    return session.scalar(select(City.id).where(City.slug == slug))


def delete_city(session: Session, city_id: uuid.UUID) -> dict[str, int]:
    """Delete a city and every row that belongs to it; returns the rows deleted per table.

    Found from the schema, so tables that later work adds are covered without changes here: every table with
    a ``city_id`` column loses that city's rows; people whose home city it is go, and so does whatever refers
    to them (rows of other cities that merely point at them get NULL where the column allows it).
    """
    from o2o.cities.models import City
    from o2o.models import metadata

    people: Table | None = metadata.tables.get("people")
    deleted: dict[str, int] = {}
    for table in reversed(metadata.sorted_tables):
        if table.name == "cities":
            continue
        conditions = []
        if "city_id" in table.c:
            conditions.append(table.c.city_id == city_id)
        if people is not None:
            leaving = select(people.c.id).where(people.c.home_city_id == city_id)
            if table is people:
                conditions.append(people.c.home_city_id == city_id)
            for fk in table.foreign_keys:
                if fk.column.table is not people or table is people:
                    continue
                if fk.parent.nullable:
                    session.execute(
                        update(table).where(fk.parent.in_(leaving)).values({fk.parent.name: None})
                    )
                else:
                    conditions.append(fk.parent.in_(leaving))
        if conditions:
            result = session.execute(delete(table).where(or_(*conditions)))
            if result.rowcount:
                deleted[table.name] = result.rowcount
    deleted["cities"] = session.execute(delete(City).where(City.id == city_id)).rowcount
    return deleted


def seed(
    session: Session,
    *,
    size: str = "small",
    seed: int = 42,
    city: str = "beijing",
    replace: bool = False,
    progress: Any = None,
) -> SeedSummary:
    """Build the demo city in this session's transaction (the caller commits). Same seed, same rows and ids."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}")
    spec: CitySpec = CITIES[city]
    started = time.perf_counter()
    deleted: dict[str, int] = {}
    existing = city_exists(session, spec.slug)
    if existing is not None:
        if not replace:
            raise CityExists(spec.slug)
        deleted = delete_city(session, existing)
    ctx = DemoContext(
        session=session, spec=spec, size=SIZES[size], seed=seed, progress=progress or NullProgress()
    )
    run_steps(ctx)
    session.flush()
    return SeedSummary(
        city=spec.slug,
        city_id=ctx.city_id,
        size=size,
        seed=seed,
        counts=summary_counts(ctx),
        seconds=time.perf_counter() - started,
        replaced=existing is not None,
        deleted=deleted,
    )


def seed_database(
    db: Database,
    *,
    size: str,
    seed_value: int,
    city: str = "beijing",
    replace: bool = False,
    console: Console | None = None,
) -> SeedSummary:
    """One transaction around ``seed``, with a progress bar on ``console`` when given."""
    started = time.perf_counter()
    with db.session() as session:
        if console is not None:
            with RichProgress(console) as bar:
                summary = seed(session, size=size, seed=seed_value, city=city, replace=replace, progress=bar)
        else:
            summary = seed(session, size=size, seed=seed_value, city=city, replace=replace)
    summary.seconds = time.perf_counter() - started  # including the commit
    return summary


def has_any_city(db: Database) -> bool:
    from o2o.cities.models import City

    with db.session() as session:
        return (session.scalar(select(func.count()).select_from(City)) or 0) > 0


def ensure_demo_city(settings: Settings, *, console: Console | None = None) -> SeedSummary | None:
    """Seed the configured demo city when the database has no city at all (first start); else do nothing."""
    db = Database(settings.database_url, pool_size=1)
    try:
        if has_any_city(db):
            return None
        if console is not None:
            console.print(
                f"No city yet: seeding the demo city ([bold]{settings.demo_size}[/bold], seed {settings.demo_seed}) ..."
            )
        summary = seed_database(db, size=settings.demo_size, seed_value=settings.demo_seed, console=console)
        if console is not None:
            console.print(
                f"Demo city [bold]{summary.city}[/bold] ready in {summary.seconds:.1f} s: "
                + ", ".join(f"{n:,} {t}" for t, n in summary.counts.items())
                + ". Sign in as the platform operator with +86 138 0000 0000."
            )
        return summary
    finally:
        db.dispose()
