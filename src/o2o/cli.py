"""The ``o2o`` command: serve, worker, db, demo, bench ...

Exit codes: 0 done, 1 failed, 2 wrong usage or a precondition not met (e.g. the database needs an upgrade).
Domains add their own sub-commands (``o2o demo`` comes from ``o2o/demo/cli.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from typing import Annotated

import typer
from rich.console import Console

from o2o import migrate
from o2o.config import get_settings

console = Console(stderr=True)
app = typer.Typer(
    name="o2o",
    help="o2o: an open-source online-to-offline city platform. Run `o2o serve` to start it.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
db_app = typer.Typer(help="Database schema: upgrade it, see where it stands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
bench_app = typer.Typer(help="Benchmarks on the configured database: figures with a baseline.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


def _register_subcommands() -> None:
    from o2o.delivery.cli import app as delivery_app
    from o2o.demo.cli import app as demo_app
    from o2o.orders.bench import checkout_command
    from o2o.wallet.bench import ledger_command

    app.add_typer(demo_app, name="demo")
    app.add_typer(delivery_app, name="delivery")
    if not any(c.name == "ledger" for c in bench_app.registered_commands):
        bench_app.command("ledger")(ledger_command)
    if not any(c.name == "checkout" for c in bench_app.registered_commands):
        bench_app.command("checkout")(checkout_command)


def prepare_database(upgrade_sqlite: bool = True) -> None:
    """Bring the schema up to date where that is safe to do by ourselves (the embedded SQLite file)."""
    settings = get_settings()
    if settings.is_sqlite and upgrade_sqlite:
        migrate.upgrade(settings.database_url)
        return
    if not migrate.is_up_to_date(settings.database_url):
        console.print(
            "[red]The database schema is not at the latest revision.[/red] Run [bold]o2o db upgrade[/bold] first "
            f"(current: {migrate.current_revision(settings.database_url)}, latest: {migrate.head_revision()})."
        )
        raise typer.Exit(2)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on [default: O2O_HOST or 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: O2O_PORT or 8000]")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Server processes [default: O2O_WORKERS or 1]")] = None,
    seed_demo: Annotated[
        bool, typer.Option("--seed-demo/--no-seed-demo", help="Seed the demo city when the database has none")
    ] = True,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development)")] = False,
) -> None:
    """Start the platform: web pages, the API (docs at /docs) and the in-process background worker.

    On the embedded SQLite database it first upgrades the schema and seeds the demo city if there is none.
    On PostgreSQL run `o2o db upgrade` first.
    """
    import uvicorn

    settings = get_settings()
    prepare_database()
    if seed_demo and settings.demo_seed_on_start:
        from o2o.demo.service import ensure_demo_city

        ensure_demo_city(settings, console=console)
    workers = workers or settings.workers
    if workers > 1:
        # Every server process writes its metrics here; /metrics adds them up.
        metrics_dir = settings.var_dir.resolve() / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    host = host or settings.host
    port = port or settings.port
    # The app (in this process or in the workers) reads its settings from the environment: make it see where it
    # listens, so the callback and return addresses given to payment channels point here.
    os.environ["O2O_HOST"], os.environ["O2O_PORT"] = host, str(port)
    get_settings.cache_clear()
    console.print(f"o2o is serving at [bold]http://{host}:{port}[/bold] (API docs at /docs)")
    uvicorn.run(
        "o2o.app:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=5,
    )


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Run every job once and exit")] = False,
) -> None:
    """Run the background jobs (outbox delivery, expiries, sweeps) in this process.

    Safe to run several at once, and beside `o2o serve`: every job claims its rows before working on them.
    """
    from o2o.app import load_modules
    from o2o.db import Database
    from o2o.observability import configure_logging
    from o2o.worker import Worker, run_once

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    prepare_database(upgrade_sqlite=False)
    load_modules()
    db = Database(settings.database_url, settings=settings)
    if once:
        print(json.dumps(run_once(db)))
        return
    loop = Worker(db, tick=settings.worker_tick_seconds)
    signal.signal(signal.SIGTERM, lambda *_: loop.stop())
    try:
        loop.run()
    except KeyboardInterrupt:
        loop.stop()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Apply the schema migrations to O2O_DATABASE_URL (SQLite or PostgreSQL)."""
    settings = get_settings()
    migrate.upgrade(settings.database_url, revision)
    console.print(f"Database at revision [bold]{migrate.current_revision(settings.database_url)}[/bold].")


@db_app.command("current")
def db_current(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Show the database's schema revision and the latest one."""
    settings = get_settings()
    current, head = migrate.current_revision(settings.database_url), migrate.head_revision()
    if as_json:
        print(json.dumps({"current": current, "head": head, "up_to_date": current == head}))
    else:
        console.print(f"current: {current}\nlatest:  {head}")
    if current != head:
        raise typer.Exit(2)


def main() -> None:
    _register_subcommands()
    app()


if __name__ == "__main__":
    main()
