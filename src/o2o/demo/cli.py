"""``o2o demo``: build the deterministic demo city."""

from __future__ import annotations

import enum
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from o2o.config import get_settings
from o2o.db import Database
from o2o.demo.generator import DEMO_ACCOUNTS, SIZES

app = typer.Typer(no_args_is_help=True)


@app.callback()
def demo() -> None:
    """The demo city: a synthetic but realistic central Beijing, the same every time for the same seed."""


class Size(enum.StrEnum):
    small = "small"
    medium = "medium"
    large = "large"


SIZE_HELP = ", ".join(f"{name}: {s.stores:,} stores and {s.people:,} people" for name, s in SIZES.items())


@app.command("seed")
def seed_command(
    size: Annotated[Size, typer.Option(help=f"How big a city. {SIZE_HELP}")] = Size.small,
    seed: Annotated[
        int, typer.Option(help="The random seed: the same seed builds the same city, ids included")
    ] = 42,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Delete the demo city's rows first (that city's only) and seed it anew"
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary (counts, seconds) on stdout")
    ] = False,
) -> None:
    """Seed the demo city into O2O_DATABASE_URL: districts, merchants, stores, people and their roles.

    Central Beijing (Asia/Shanghai, CNY, zh-CN): the six central districts as Voronoi cells of their real
    government seats inside the 5th Ring Road, stores clustered around real commercial hubs, opening hours
    that fit each trade. Demo accounts to sign in with (the code arrives in the dev SMS outbox):

    \b
    +86 138 0000 0000  platform operator
    +86 138 0000 0001  merchant owner (the first merchant)
    +86 138 0000 0002  merchant staff (the first store)
    +86 138 0000 0003  courier
    +86 138 0000 0004  fleet operator
    +86 138 0000 0005  home agent
    +86 138 0000 0006  customer

    Exit codes: 0 seeded; 2 the city exists already (use --replace) or the schema needs `o2o db upgrade`.
    """
    from o2o.cli import prepare_database
    from o2o.demo.service import CityExists, seed_database

    console = Console(stderr=True)
    settings = get_settings()
    prepare_database()  # upgrades an embedded SQLite file; asks for `o2o db upgrade` on PostgreSQL
    db = Database(settings.database_url, pool_size=1)
    try:
        summary = seed_database(
            db, size=size.value, seed_value=seed, replace=replace, console=None if as_json else console
        )
    except CityExists as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    if as_json:
        print(json.dumps(summary.as_dict(), ensure_ascii=False))
        return
    table = Table(title=f"Demo city {summary.city} ({summary.size}, seed {summary.seed})")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in summary.counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    verb = "Replaced" if summary.replaced else "Seeded"
    console.print(f"{verb} in [bold]{summary.seconds:.2f} s[/bold]. Demo accounts:")
    for phone, role, _name in DEMO_ACCOUNTS:
        console.print(f"  {phone}  {role}")
