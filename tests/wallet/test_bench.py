"""``o2o bench ledger``: a tiny run on each backend prints the figures, leaves no account, transfer or table
behind, and leaves the rest of the ledger exactly as it was (and sound)."""

from __future__ import annotations

import json

from sqlalchemy import inspect, select
from typer.testing import CliRunner

from o2o import cli
from o2o.config import get_settings
from o2o.db import Database
from o2o.kit.ids import uuid7
from o2o.wallet import bench, service
from o2o.wallet.ledger import AccountKind, CreateTransferResult, OwnerKind, Transfer, check_invariants, new_account
from o2o.wallet.models import WalletAccount

KEYS = {"database", "transfers_per_s_single", "transfers_per_s_batched", "raw_inserts_per_s"}


def _ledger(db: Database) -> tuple:
    with db.session() as session:
        accounts = service.all_accounts(session)
        transfers, status = service.journal(session)
    return accounts, dict(transfers), dict(status)


def test_bench_ledger_prints_figures_and_leaves_the_ledger_as_it_was(db: Database, database_url: str) -> None:
    # Someone's money already in the ledger: the bench must neither read nor change it.
    bank = new_account(uuid7(), AccountKind.CHANNEL_CLEARING, OwnerKind.PLATFORM, "CNY")
    wallet = new_account(uuid7(), AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, "CNY", uuid7())
    with db.session() as session:
        service.create_accounts(session, [bank, wallet])
        assert service.create_transfers(session, [Transfer(uuid7(), bank.id, wallet.id, 500, "CNY", 1)]) == [
            CreateTransferResult.OK
        ]
    before = _ledger(db)
    tables = set(inspect(db.engine).get_table_names())

    cli._register_subcommands()
    get_settings.cache_clear()
    # Batches of 150 take the ledger-wide lock on PostgreSQL (repository.BIG_BATCH_LOCKS); single ones lock ids.
    args = ["bench", "ledger", "--json", "--seconds", "0.2", "--clients", "3", "--batch-size", "150"]
    args += ["--wallets", "30", "--merchants", "2"]
    try:
        result = CliRunner().invoke(cli.app, args, env={"O2O_DATABASE_URL": database_url})
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output

    figures = json.loads(result.stdout)
    assert figures.keys() >= KEYS
    assert figures["database"] == ("postgresql" if database_url.startswith("postgresql") else "sqlite")
    for key in KEYS - {"database"}:
        assert isinstance(figures[key], float) and figures[key] > 0, key
    assert figures["single"]["transfers"] > 0 and figures["batched"]["transfers"] % 150 == 0
    assert figures["invariants_ok"] is True

    assert _ledger(db) == before  # nothing of ours changed, nothing of the bench's left
    with db.session() as session:
        assert session.scalars(select(WalletAccount.id).where(WalletAccount.owner_id == bench.BENCH_OWNER)).all() == []
    assert set(inspect(db.engine).get_table_names()) == tables  # the scratch table is gone
    accounts, transfers, status = before
    assert check_invariants(accounts, transfers, status) == []


def test_cleanup_removes_what_an_interrupted_run_left(db: Database) -> None:
    accounts = bench._setup(db, wallets=5, merchants=1)
    with db.session() as session:
        assert len(service.lookup_accounts(session, accounts.all)) == 7
    assert bench.check_bench_invariants(db) == []
    assert bench.cleanup(db) == 7
    with db.session() as session:
        assert service.lookup_accounts(session, accounts.all) == []
        assert service.journal(session)[0] == {}
    assert bench.cleanup(db) == 0
