"""The wallet's crash test: the real server killed with SIGKILL in the middle of payments, then restarted.

What it does, in order:

1. Makes a city, a shop, N customers and the shop's owner directly in the database, with bearer tokens.
2. Starts ``o2o serve`` as a subprocess (its own process group) on a free loopback port, with the in-process
   worker on, a fast tick and the simulated channels' faults on (duplicated, delayed and forged callbacks).
3. Drives payments from one thread per customer over real HTTP: top-ups through a channel (create with an
   ``Idempotency-Key``, open ``next_action.url`` and press Pay at the cashier, as a browser would), payments to
   the shop from the wallet (create + confirm, each with a key) and now and then through a channel; the shop's
   owner refunds some sales meanwhile. Every request is retried with the same key on a connection error or a
   5xx until it gets an answer; some answers are asked for a second time on purpose, to see the replay.
4. Kills the whole process group with SIGKILL in the middle of that load, restarts it on the same port with
   the same settings, lets the load go on, and does it again (``kills`` times).
5. Resolves the leftovers as the product does: the payers cancel what is still awaiting payment or being paid
   (a live channel trade is closed by the worker first); then waits, bounded, for every intent to be final,
   every refund and ledger reservation to be done and every queued simulator callback to be sent.
6. Checks the database (``verify``) and returns a ``Report`` with the figures and any problem found.

Run by ``tests/wallet/test_crash.py``, or on its own against a scratch PostgreSQL database that it creates and
drops::

    .venv/bin/python -m tests.wallet.crash_harness [--customers 6] [--kills 2] [--seed 1] [--drain-leases]

About callbacks still *leased* at the end: the simulators run inside our server, so a callback the simulator
was sending at the kill stays claimed by the dead process until the simulator's claim lease (60 s,
``channel_sim.service.CLAIM_SECONDS``) runs out, and is sent again then. The pytest run does not wait that long:
it checks that every such copy was claimed before a kill and that the payment it reports is already applied on
our side (so its late delivery can change nothing), and reports them. ``--drain-leases`` waits them out.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import itertools
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from o2o import migrate
from o2o.accounts import service as accounts
from o2o.accounts.models import Person
from o2o.accounts.permissions import Role
from o2o.config import Settings
from o2o.db import Database, make_null_pool_engine
from o2o.wallet import chart, payments
from o2o.wallet import service as ledger
from o2o.wallet.channels.sim.models import SimDelivery, SimNotification, SimRefund, SimTrade
from o2o.wallet.intents import FINAL, IntentStatus
from o2o.wallet.ledger import check_invariants
from o2o.wallet.models import ChannelTrade, PaymentIntent, Refund, WalletAccount, WalletTransfer
from tests.wallet.conftest import Shop, make_shop

CHANNELS = ("alipay-sim", "wechatpay-sim")
POSTGRES_ADMIN_URL = os.environ.get("O2O_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SIM_CLAIM_SECONDS = 60  # channel_sim.service.CLAIM_SECONDS: a dead deliverer's claim on a callback lasts this long


@dataclass
class CrashConfig:
    customers: int = 6
    kills: int = 2
    seed: int | None = None  # None: a fresh one, printed in the report (O2O_CRASH_SEED sets it)
    first_kill_after: tuple[float, float] = (2.5, 4.0)  # seconds of load before the first kill (uniform)
    between_kills: tuple[float, float] = (2.5, 4.0)  # seconds of load after a restart, before the next kill
    down_for: float = 0.5  # how long the server stays dead before it is started again
    tail_load: float = 4.0  # seconds of load after the last restart
    duplicate_rate: float = 0.5
    tamper_rate: float = 0.3
    max_delay_seconds: float = 2.0
    settle_timeout: float = 30.0  # bound on "every intent final" after the payers' cancellations
    callbacks_timeout: float = 15.0  # bound on "every callback sent" after that (leases aside)
    drain_leases: bool = False  # also wait out callbacks leased by a killed deliverer (up to 60 s)
    request_deadline: float = 60.0  # a client gives up on one request after this long (a problem if it does)

    @classmethod
    def from_env(cls) -> CrashConfig:
        config = cls()
        if os.environ.get("O2O_CRASH_SEED"):
            config.seed = int(os.environ["O2O_CRASH_SEED"])
        if os.environ.get("O2O_CRASH_KILLS"):
            config.kills = int(os.environ["O2O_CRASH_KILLS"])
        if os.environ.get("O2O_CRASH_CUSTOMERS"):
            config.customers = int(os.environ["O2O_CRASH_CUSTOMERS"])
        return config


# ================================================================================================================
# The server, as a subprocess in its own process group


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``o2o serve`` in its own session (process group), so a kill takes every process it may have spawned."""

    def __init__(self, database_url: str, workdir: Path, secret: str, config: CrashConfig) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.log_path = workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("O2O_")}
        self.env.update(
            {
                "O2O_DATABASE_URL": database_url,
                "O2O_SECRET_KEY": secret,
                "O2O_VAR_DIR": str(workdir / "var"),
                "O2O_HOST": "127.0.0.1",
                "O2O_PORT": str(self.port),
                "O2O_PUBLIC_URL": self.url,
                "O2O_ENV": "test",
                "O2O_DEMO_SEED_ON_START": "false",
                "O2O_INPROCESS_WORKER": "true",
                "O2O_WORKER_TICK_SECONDS": "0.2",
                "O2O_WORKERS": "1",
                "O2O_LOG_LEVEL": "info",
                "O2O_CHANNEL_SIM_SEED": "7",
                "O2O_CHANNEL_SIM_DUPLICATE_RATE": str(config.duplicate_rate),
                "O2O_CHANNEL_SIM_TAMPER_RATE": str(config.tamper_rate),
                "O2O_CHANNEL_SIM_MAX_DELAY_SECONDS": str(config.max_delay_seconds),
                "PYTHONUNBUFFERED": "1",
            }
        )

    def start(self, timeout: float = 30.0) -> float:
        """Start it and wait for ``/readyz``; returns the seconds that took."""
        assert self.process is None or self.process.poll() is not None
        self.starts += 1
        began = time.monotonic()
        with self.log_path.open("ab") as log:
            log.write(f"\n===== crash harness: start #{self.starts} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "o2o.cli", "serve", "--no-seed-demo"],
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with httpx.Client(timeout=2.0, trust_env=False) as probe:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if probe.get(f"{self.url}/readyz").status_code == 200:
                        return time.monotonic() - began
                except httpx.TransportError:
                    pass
                if time.monotonic() - began > timeout:
                    raise RuntimeError(f"the server was not ready after {timeout} s:\n{self.log_tail()}")
                time.sleep(0.05)

    def children(self) -> int:
        """How many other processes share the server's process group (``o2o serve`` with one worker: none)."""
        assert self.process is not None
        found = 0
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != self.process.pid:
                try:
                    if os.getpgid(int(entry.name)) == self.process.pid:
                        found += 1
                except (ProcessLookupError, PermissionError):
                    continue
        return found

    def kill(self) -> None:
        """SIGKILL to the whole process group: no shutdown hook, no graceful anything."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


# ================================================================================================================
# What the clients saw


class GaveUp(Exception):
    """A request got no answer before its deadline."""


@dataclass
class IntentNote:
    """One intent as its client learned it."""

    intent_id: uuid.UUID
    payer: int  # customer index
    purpose: str  # top_up | store_payment
    amount: int
    method: str | None = None  # wallet | alipay-sim | wechatpay-sim
    confirm_status: int | None = None  # the confirm's HTTP status (store payments)
    cashier: str = ""  # pay | cancel | abandon | "" (never sent to a cashier)
    pay_303: bool = False  # the cashier's Pay answered 303 (the browser was sent back to us)
    pay_seen_paid: bool = False  # after a lost answer, the cashier page showed the trade paid
    pay_uncertain: bool = False  # a Pay whose answer was lost in a crash
    cashier_refused: str = ""  # the cashier or the hand-off refused (status and where)


@dataclass
class KeyUse:
    """Every answer one Idempotency-Key got (a retry after a lost answer, or a deliberate second ask)."""

    what: str
    ids: list[str] = field(default_factory=list)  # the intent (or refund) id in each 2xx answer
    statuses: list[int] = field(default_factory=list)
    replayed: list[bool] = field(default_factory=list)


@dataclass
class KillEvent:
    at_load_second: float
    in_flight: int  # client requests open at the moment of the kill
    processes: int  # processes in the group (the server and any children)
    down_seconds: float = 0.0  # from the kill to /readyz answering again


class Records:
    """Thread-safe tallies shared by the clients."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.connection_errors = 0
        self.connection_error_kinds: collections.Counter[str] = collections.Counter()
        self.retries = 0  # re-sends after a connection error or a 5xx
        self.server_errors: list[str] = []  # every 5xx answer (method path status body)
        self.statuses: collections.Counter[int] = collections.Counter()
        self.replays = 0  # answers with Idempotent-Replayed: true
        self.replays_after_lost_answer = 0  # ... to a retry whose first attempt lost its answer in a crash
        self.in_flight = 0
        self.intents: dict[uuid.UUID, IntentNote] = {}
        self.keys: dict[str, KeyUse] = {}
        self.refunds_asked = 0
        self.refunds_made: dict[str, tuple[uuid.UUID, int, bool]] = {}  # refund id -> (intent, amount, to_wallet)
        self.refund_answers: collections.Counter[str] = collections.Counter()
        self.problems: list[str] = []
        self.insufficient_funds = 0

    def note_intent(self, note: IntentNote) -> IntentNote:
        with self.lock:
            return self.intents.setdefault(note.intent_id, note)

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)


TRANSIENT = (httpx.TransportError,)


def _backoff(attempt: int, rng: random.Random) -> float:
    return min(0.05 * 2**attempt, 0.6) * (0.5 + rng.random())


class Api:
    """One customer's (or the owner's) app: bearer token, keys, retries with the same key until an answer."""

    def __init__(self, base_url: str, token: str, records: Records, rng: random.Random, deadline: float) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=httpx.Timeout(20.0, connect=3.0), trust_env=False)
        self.auth = {"Authorization": f"Bearer {token}"}
        self.records = records
        self.rng = rng
        self.deadline = deadline

    def close(self) -> None:
        self.http.close()

    def send(
        self, method: str, path: str, *, key: str | None = None, json: Any = None, what: str = ""
    ) -> httpx.Response:
        headers = dict(self.auth)
        if key is not None:
            headers["Idempotency-Key"] = key
        return _with_retries(
            self.records, self.rng, self.deadline, lambda: self.http.request(method, path, json=json, headers=headers),
            f"{method} {path}", key=key, what=what,
        )


def _with_retries(
    records: Records,
    rng: random.Random,
    deadline: float,
    call: Callable[[], httpx.Response],
    label: str,
    *,
    key: str | None = None,
    what: str = "",
) -> httpx.Response:
    """Send until an answer below 500 comes back; with a key, remember every answer the key got."""
    began = time.monotonic()
    lost = False
    for attempt in itertools.count():
        with records.lock:
            records.requests += 1
            records.in_flight += 1
        try:
            response = call()
        except TRANSIENT as exc:
            with records.lock:
                records.in_flight -= 1
                records.connection_errors += 1
                records.connection_error_kinds[type(exc).__name__] += 1
            lost = True
        else:
            with records.lock:
                records.in_flight -= 1
                records.statuses[response.status_code] += 1
            if response.status_code < 500:
                response.extensions["o2o_lost"] = lost  # an earlier attempt of this request got no answer
                replayed = response.headers.get("idempotent-replayed") == "true"
                if key is not None:
                    _remember(records, key, what or label, response, replayed, lost)
                return response
            with records.lock:
                records.server_errors.append(f"{label} -> {response.status_code} {response.text[:300]}")
        if time.monotonic() - began > deadline:
            raise GaveUp(f"{label}: no answer after {deadline:.0f} s")
        with records.lock:
            records.retries += 1
        time.sleep(_backoff(attempt, rng))
    raise AssertionError("unreachable")


def _remember(records: Records, key: str, what: str, response: httpx.Response, replayed: bool, lost: bool) -> None:
    answer_id = ""
    if 200 <= response.status_code < 300:
        try:
            answer_id = str(response.json().get("id", ""))
        except ValueError:
            answer_id = ""
    with records.lock:
        use = records.keys.setdefault(key, KeyUse(what))
        use.statuses.append(response.status_code)
        use.replayed.append(replayed)
        if answer_id:
            use.ids.append(answer_id)
        if replayed:
            records.replays += 1
            if lost:
                records.replays_after_lost_answer += 1


# ================================================================================================================
# The cashier, as a browser uses it

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_ACTION = re.compile(r'<form method="post" action="([^"]+/(pay|cancel))"')
_STATUS = re.compile(r'data-testid="cashier"[^>]*data-status="([a-z]*)"', re.S)
_REDIRECT = 'name="redirect_url" value="'


def _cashier_page(html: str) -> tuple[str, str | None, dict[str, str], str]:
    """(status, csrf token, {pay|cancel: action}, redirect_url field) of a cashier page."""
    status = _STATUS.search(html)
    token = _CSRF.search(html)
    start = html.find(_REDIRECT)
    redirect = "" if start < 0 else html[start + len(_REDIRECT) : html.find('"', start + len(_REDIRECT))]
    return (
        status.group(1) if status else "",
        token.group(1) if token else None,
        {m.group(2): m.group(1).replace("&amp;", "&") for m in _ACTION.finditer(html)},
        redirect.replace("&amp;", "&"),
    )


def use_cashier(ctx: Run, rng: random.Random, note: IntentNote, hand_off_url: str, press: str) -> None:
    """Open the hand-off link in a fresh browser (cookies, redirects), then press ``press`` at the cashier. A
    lost answer (the server died) is retried as a person would: reload the cashier and look."""
    records = ctx.records
    note.cashier = press
    with httpx.Client(timeout=httpx.Timeout(20.0, connect=3.0), follow_redirects=True, trust_env=False) as browser:
        page = _with_retries(records, rng, ctx.config.request_deadline, lambda: browser.get(hand_off_url),
                             "GET hand-off")
        if page.status_code != 200 or "/sim/" not in page.url.path:
            note.cashier_refused = f"hand-off {page.status_code} at {page.url.path}"
            return
        cashier_url = str(page.url)
        for _ in range(20):
            status, token, actions, redirect = _cashier_page(page.text)
            if status == "paid":
                note.pay_seen_paid = True
                return
            if status != "waiting" or token is None or press not in actions:
                note.cashier_refused = f"cashier shows {status or page.status_code}"
                return
            with records.lock:
                records.requests += 1
                records.in_flight += 1
            try:
                form = {"csrf_token": token, "redirect_url": redirect}
                answer = browser.post(page.url.join(actions[press]), data=form, follow_redirects=False)
            except TRANSIENT as exc:
                with records.lock:
                    records.in_flight -= 1
                    records.connection_errors += 1
                    records.connection_error_kinds[type(exc).__name__] += 1
                    records.retries += 1
                note.pay_uncertain = note.pay_uncertain or press == "pay"
                time.sleep(_backoff(2, rng))
                page = _with_retries(records, rng, ctx.config.request_deadline, lambda: browser.get(cashier_url),
                                     "GET cashier (reload)")
                continue
            with records.lock:
                records.in_flight -= 1
                records.statuses[answer.status_code] += 1
            if answer.status_code >= 500:
                with records.lock:
                    records.server_errors.append(f"POST cashier {press} -> {answer.status_code} {answer.text[:300]}")
                    records.retries += 1
                page = _with_retries(records, rng, ctx.config.request_deadline, lambda: browser.get(cashier_url),
                                     "GET cashier (reload)")
                continue
            if answer.status_code != 303:
                note.cashier_refused = f"{press} answered {answer.status_code}"
                return
            if press == "pay":
                note.pay_303 = True
            if rng.random() < 0.5:  # back to us: the return page asks the channel at once
                try:
                    with records.lock:
                        records.requests += 1
                    browser.get(answer.headers["location"], follow_redirects=False)
                except TRANSIENT:
                    pass  # the person closed the tab; the callback or the resolver will do
            return
        note.cashier_refused = "gave up reloading the cashier"


# ================================================================================================================
# The people


@dataclass
class World:
    shop: Shop
    customers: list[uuid.UUID]
    tokens: dict[uuid.UUID, str]  # person -> bearer token
    owner: uuid.UUID


def make_world(db: Database, settings: Settings, customers: int) -> World:
    shop = make_shop(db, slug=f"crashville-{uuid.uuid4().hex[:6]}")
    with db.session() as s:
        people = [Person(phone_e164=f"+86137{n:04d}{random.randrange(10_000):04d}") for n in range(customers - 1)]
        s.add_all(people)
        s.flush()
        ids = [shop.customer_id, *(p.id for p in people)]
        accounts.ensure_role(s, shop.other_id, Role.MERCHANT_OWNER, city_id=shop.city_id, store_id=shop.store_id)
        tokens = {}
        for person in [*ids, shop.other_id]:
            token, _row = accounts.create_session(s, settings, person, method="otp")
            tokens[person] = token
    return World(shop, ids, tokens, shop.other_id)


@dataclass
class Run:
    config: CrashConfig
    world: World
    server: Server
    records: Records
    seed: int
    stop: threading.Event = field(default_factory=threading.Event)
    store_payments: list[uuid.UUID] = field(default_factory=list)  # for the owner's refunds


def _key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def _ask_again(
    api: Api, rng: random.Random, first: httpx.Response, method: str, path: str, key: str, json: Any, what: str
) -> None:
    """A second ask with the same key (as a client unsure of the first answer): it must replay the first. Always
    after an answer that took a retry (the first attempt may have committed), else now and then."""
    if first.extensions.get("o2o_lost") or rng.random() < 0.15:
        api.send(method, path, key=key, json=json, what=what)


def customer_loop(ctx: Run, index: int) -> None:
    rng = random.Random(f"{ctx.seed}:customer:{index}")
    person = ctx.world.customers[index]
    api = Api(ctx.server.url, ctx.world.tokens[person], ctx.records, rng, ctx.config.request_deadline)
    try:
        while not ctx.stop.is_set():
            try:
                balance = api.send("GET", "/api/wallet").json()["available"]
                if balance < 1_000 or rng.random() < 0.4:
                    top_up(ctx, api, rng, index)
                else:
                    pay_shop(ctx, api, rng, index, balance)
            except GaveUp as exc:
                ctx.records.problem(f"customer {index}: {exc}")
            except Exception:  # a client bug or an answer it cannot read: a problem, and the load goes on
                ctx.records.problem(f"customer {index} failed: {traceback.format_exc(limit=4)}")
            time.sleep(rng.uniform(0.0, 0.08))
    finally:
        api.close()


def top_up(ctx: Run, api: Api, rng: random.Random, index: int) -> None:
    channel = rng.choice(CHANNELS)
    body = {"city_id": str(ctx.world.shop.city_id), "amount": rng.randrange(1_000, 8_001), "channel": channel}
    key = _key("top-up")
    r = api.send("POST", "/api/wallet/top-ups", key=key, json=body, what="create a top-up")
    if r.status_code != 201:
        ctx.records.problem(f"customer {index}: top-up answered {r.status_code} {r.text[:200]}")
        return
    answer = r.json()
    note = ctx.records.note_intent(
        IntentNote(uuid.UUID(answer["id"]), index, "top_up", body["amount"], method=channel)
    )
    _ask_again(api, rng, r, "POST", "/api/wallet/top-ups", key, body, "create a top-up")
    go = rng.random()
    if go < 0.82:
        use_cashier(ctx, rng, note, answer["next_action"]["url"], "pay")
    elif go < 0.9:
        use_cashier(ctx, rng, note, answer["next_action"]["url"], "cancel")
    else:
        note.cashier = "abandon"


def pay_shop(ctx: Run, api: Api, rng: random.Random, index: int, balance: int) -> None:
    body = {"store_id": str(ctx.world.shop.store_id), "amount": rng.randrange(100, min(balance, 4_000) + 1),
            "note": f"table {rng.randrange(1, 30)}"}
    key = _key("pay")
    r = api.send("POST", "/api/wallet/payment-intents", key=key, json=body, what="create a shop payment")
    if r.status_code != 201:
        ctx.records.problem(f"customer {index}: payment intent answered {r.status_code} {r.text[:200]}")
        return
    intent_id = uuid.UUID(r.json()["id"])
    note = ctx.records.note_intent(IntentNote(intent_id, index, "store_payment", body["amount"]))
    _ask_again(api, rng, r, "POST", "/api/wallet/payment-intents", key, body, "create a shop payment")
    with ctx.records.lock:
        ctx.store_payments.append(intent_id)
    method = rng.choice(CHANNELS) if rng.random() < 0.2 else "wallet"
    note.method = method
    path = f"/api/wallet/payment-intents/{intent_id}/confirm"
    key = _key("confirm")
    r = api.send("POST", path, key=key, json={"method": method}, what="confirm")
    note.confirm_status = r.status_code
    if r.status_code == 402:  # not expected (only this client spends this wallet); a person would give up
        with ctx.records.lock:
            ctx.records.insufficient_funds += 1
        api.send("POST", f"/api/wallet/payment-intents/{intent_id}/cancel", key=_key("cancel"), what="cancel")
        return
    if r.status_code != 200:
        ctx.records.problem(f"customer {index}: confirm {method} answered {r.status_code} {r.text[:200]}")
        return
    _ask_again(api, rng, r, "POST", path, key, {"method": method}, "confirm")
    if method != "wallet":
        if rng.random() < 0.85:
            use_cashier(ctx, rng, note, r.json()["next_action"]["url"], "pay")
        else:
            note.cashier = "abandon"


def owner_loop(ctx: Run) -> None:
    """The shop's owner refunds part of some sales: to the wallet, or back through the channel."""
    rng = random.Random(f"{ctx.seed}:owner")
    api = Api(ctx.server.url, ctx.world.tokens[ctx.world.owner], ctx.records, rng, ctx.config.request_deadline)
    numbers = itertools.count(1)
    try:
        while not ctx.stop.wait(rng.uniform(0.3, 0.7)):
            with ctx.records.lock:
                candidates = list(ctx.store_payments)
                by_channel = [i for i in candidates if ctx.records.intents[i].method in CHANNELS]
            if not candidates:
                continue
            intent_id = rng.choice(by_channel if by_channel and rng.random() < 0.5 else candidates)
            note = ctx.records.intents[intent_id]
            body = {"refund_no": f"r{next(numbers)}", "amount": rng.randrange(1, max(2, note.amount // 3)),
                    "reason": "crash test", "to_wallet": rng.random() < 0.3}
            try:
                r = api.send("POST", f"/api/wallet/payment-intents/{intent_id}/refunds", key=_key("refund"),
                             json=body, what="refund")
            except GaveUp as exc:
                ctx.records.problem(f"owner: {exc}")
                continue
            except Exception:
                ctx.records.problem(f"owner failed: {traceback.format_exc(limit=4)}")
                continue
            with ctx.records.lock:
                ctx.records.refunds_asked += 1
                code = r.json().get("code", "") if r.status_code >= 400 else "created"
                ctx.records.refund_answers[f"{r.status_code} {code}"] += 1
                if r.status_code == 201:
                    ctx.records.refunds_made[r.json()["id"]] = (intent_id, body["amount"], body["to_wallet"])
    finally:
        api.close()


# ================================================================================================================
# The run


@dataclass
class Report:
    seed: int
    config: CrashConfig
    kills: list[KillEvent]
    records: Records
    figures: dict[str, Any]
    problems: list[str]
    notes: list[str]
    log_path: Path
    timings: dict[str, float]

    def server_log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def render(self) -> str:
        r, f, t = self.records, self.figures, self.timings
        lines = [
            "",
            "wallet crash test " + ("PASSED" if not self.problems else f"FOUND {len(self.problems)} PROBLEM(S)"),
            f"  seed {self.seed}; {self.config.customers} customers + the shop's owner; faults: duplicate "
            f"{self.config.duplicate_rate}, forged {self.config.tamper_rate}, "
            f"delay <= {self.config.max_delay_seconds} s",
            f"  kills: {len(self.kills)} x SIGKILL to the process group ("
            + "; ".join(f"at {k.at_load_second:.1f} s of load, {k.in_flight} requests in flight, {k.processes} "
                        f"process(es), back after {k.down_seconds:.1f} s" for k in self.kills) + ")",
            f"  requests: {r.requests} sent; {r.connection_errors} connection errors "
            f"({', '.join(f'{k} {v}' for k, v in r.connection_error_kinds.most_common()) or 'none'}); "
            f"{r.retries} retries; {len(r.server_errors)} 5xx answers",
            f"  idempotency: {f['keys']} keys, {f['keys_asked_twice']} answered more than once, all with one intent "
            f"id each; {r.replays} replayed answers, {r.replays_after_lost_answer} of them to a retry whose first "
            "answer died with the server",
            "  intents: " + ", ".join(f"{k} {v}" for k, v in sorted(f["intents"].items())),
            f"  cashier: {f['pays_303']} Pay -> 303, all succeeded; {f['pays_uncertain']} Pay answers lost in a crash "
            f"({f['pays_uncertain_succeeded']} of them paid); {f['cashier_cancels']} canceled at the cashier; "
            f"{f['abandoned']} abandoned; refused: "
            + (", ".join(f"{k} x{v}" for k, v in f["cashier_refused"].items()) or "none"),
            f"  money (fen): topped up {f['topped_up']}, paid to the shop {f['paid_from_wallet']} from wallets + "
            f"{f['paid_by_channel']} by channel, refunded {f['refunded_to_wallet']} to wallets + "
            f"{f['refunded_by_channel']} by channel, returned unaccepted {f['returned']}",
            f"  balances (fen): wallets {f['wallets']}, escrow {f['escrow']} (= unsettled sales), at the channels "
            f"{f['at_channels']} (= our clearing accounts {f['clearing']})",
            f"  wallet payments refused for insufficient funds (then canceled): {r.insufficient_funds}",
            f"  refunds: {r.refunds_asked} asked: "
            + ", ".join(f"{k} {v}" for k, v in sorted(r.refund_answers.items())),
            f"  callbacks: {f['copies']} copies queued for {f['events']} payments ({f['genuine']} genuine, "
            f"{f['duplicates']} duplicates, {f['forged']} forged); {f['delivered']} delivered and acknowledged, "
            f"{f['forged_refused']} forged refused, {f['leased']} leased by a killed deliverer; "
            f"{f['attempts']} attempts ({f['attempt_errors']} failed to connect)",
            f"  payments applied by: callback {f['applied_by_callback']}, return page {f['applied_by_return']}, "
            f"resolver {f['applied_by_resolver']}",
            f"  leftovers: {f['canceled_at_end']} canceled by their payers after the load "
            f"({f['leftover_processing']} had a live channel trade); every intent final after "
            f"{t.get('resolve', float('nan')):.1f} s, every callback sent after "
            f"{t.get('callbacks', float('nan')):.1f} s",
            f"  took {t.get('total', 0):.1f} s (load {t.get('load', 0):.1f} s); server log: {self.log_path}",
        ]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  PROBLEM: {p}" for p in self.problems]
        return "\n".join(lines)


def run_crash_test(db: Database, workdir: Path, config: CrashConfig | None = None) -> Report:
    config = config or CrashConfig.from_env()
    seed = config.seed if config.seed is not None else random.randrange(1_000_000)
    rng = random.Random(f"{seed}:controller")
    began = time.monotonic()
    secret = f"crash-test-{uuid.uuid4().hex}"
    settings = Settings(env="test", database_url=db.url, secret_key=secret, var_dir=workdir / "var",
                        inprocess_worker=False, demo_seed_on_start=False)
    world = make_world(db, settings, config.customers)
    server = Server(db.url, workdir, secret, config)
    records = Records()
    ctx = Run(config, world, server, records, seed)
    kills: list[KillEvent] = []
    last_kill = dt.datetime.now(dt.UTC)
    timings: dict[str, float] = {}
    notes: list[str] = []
    try:
        server.start()
        threads = [threading.Thread(target=customer_loop, args=(ctx, i), name=f"customer-{i}")
                   for i in range(config.customers)]
        threads.append(threading.Thread(target=owner_loop, args=(ctx,), name="owner"))
        load_began = time.monotonic()
        for thread in threads:
            thread.start()
        for n in range(config.kills):
            time.sleep(rng.uniform(*(config.first_kill_after if n == 0 else config.between_kills)))
            with records.lock:
                event = KillEvent(time.monotonic() - load_began, records.in_flight, 1 + server.children())
            killed_at = time.monotonic()
            last_kill = dt.datetime.now(dt.UTC)
            server.kill()
            time.sleep(config.down_for)
            server.start()
            event.down_seconds = time.monotonic() - killed_at
            kills.append(event)
        time.sleep(config.tail_load)
        ctx.stop.set()
        for thread in threads:
            thread.join(timeout=config.request_deadline + 30)
            if thread.is_alive():
                records.problem(f"{thread.name} did not finish")
        timings["load"] = time.monotonic() - load_began
        canceled, processing = cancel_leftovers(ctx, db, rng)
        timings["resolve"], refund_leases = wait_until_settled(db, config.settle_timeout, records, last_kill)
        if refund_leases:
            notes.append(f"{refund_leases} channel refund(s) were being paid out when the server was killed; they "
                         f"went on when the worker's claim ({payments.CLAIM.total_seconds():.0f} s) ran out")
        timings["callbacks"], leased, leased_seen = wait_for_callbacks(db, config, records, last_kill)
        if leased:
            notes.append(f"{len(leased)} callback copies were being sent when the server was killed; the simulator "
                         f"sends them again when its {SIM_CLAIM_SECONDS} s claim runs out (their payments are applied)")
        elif leased_seen:
            notes.append(f"{leased_seen} callback copies were being sent when the server was killed; all were sent "
                         f"again when the simulator's {SIM_CLAIM_SECONDS} s claim ran out")
        figures, problems = verify(db, ctx, leased)
        figures.update(canceled_at_end=canceled, leftover_processing=processing, leased=len(leased))
        figures.update(parse_log(server.log_path))
        figures["applied_by_resolver"] = max(  # best effort: a log line can precede a commit the kill undid
            0, figures["channel_succeeded"] - figures["applied_by_callback"] - figures["applied_by_return"]
        )
    finally:
        ctx.stop.set()
        server.stop()
    timings["total"] = time.monotonic() - began
    problems = records.problems + problems
    if records.server_errors:
        problems += [f"5xx answer: {e}" for e in records.server_errors]
    return Report(seed, config, kills, records, figures, problems, notes, server.log_path, timings)


def _clients(ctx: Run, rng: random.Random) -> Iterator[tuple[uuid.UUID, Api]]:
    for person, token in ctx.world.tokens.items():
        yield person, Api(ctx.server.url, token, ctx.records, rng, ctx.config.request_deadline)


def cancel_leftovers(ctx: Run, db: Database, rng: random.Random) -> tuple[int, int]:
    """The payers cancel every intent still awaiting payment or being paid, through the API."""
    with db.sessionmaker() as s:
        leftovers = s.execute(
            select(PaymentIntent.id, PaymentIntent.payer_person_id, PaymentIntent.status).where(
                PaymentIntent.status.in_((IntentStatus.REQUIRES_PAYMENT.value, IntentStatus.PROCESSING.value))
            )
        ).all()
    apis = dict(_clients(ctx, rng))
    processing = 0
    try:
        for intent_id, payer, status in leftovers:
            processing += status == IntentStatus.PROCESSING.value
            r = apis[payer].send("POST", f"/api/wallet/payment-intents/{intent_id}/cancel", key=_key("cancel"),
                                 what="cancel")
            if r.status_code not in (200, 409):  # 409: it got paid meanwhile, which is fine
                ctx.records.problem(f"cancel of {intent_id} answered {r.status_code} {r.text[:200]}")
    finally:
        for api in apis.values():
            api.close()
    return len(leftovers), processing


def _limbo(db: Database) -> list[str]:
    """What is not finished yet: intents not final, refunds pending, reservations open, trades waiting."""
    with db.sessionmaker() as s:
        intents = s.execute(
            select(PaymentIntent.id, PaymentIntent.purpose, PaymentIntent.status, PaymentIntent.method,
                   PaymentIntent.close_requested, PaymentIntent.trade_no, PaymentIntent.next_check_at,
                   PaymentIntent.checks)
            .where(PaymentIntent.status.not_in([s.value for s in FINAL]))
        ).all()
        refunds = s.execute(select(Refund.id, Refund.intent_id, Refund.reason, Refund.next_check_at, Refund.checks)
                            .where(Refund.status == "pending")).all()
        reservations = s.scalars(select(WalletTransfer.id).where(WalletTransfer.pending_status == "pending")).all()
        trades = s.execute(select(ChannelTrade.out_trade_no, ChannelTrade.intent_id)
                           .where(ChannelTrade.status == "waiting")).all()
    out = [f"intent {i.id} ({i.purpose}) {i.status} method={i.method} close_requested={i.close_requested} "
           f"trade={i.trade_no} next_check_at={i.next_check_at} checks={i.checks}" for i in intents]
    out += [f"refund {r.id} of {r.intent_id} ({r.reason}) pending, next check {r.next_check_at}, checks {r.checks}"
            for r in refunds]
    out += [f"ledger reservation {t} still pending" for t in reservations]
    out += [f"channel trade {t.out_trade_no} of {t.intent_id} still waiting" for t in trades]
    return out


def _refund_leases(db: Database, last_kill: dt.datetime) -> list[dt.datetime]:
    """When the pending refunds claimed by a worker that was then killed come back (the claim's end)."""
    with db.sessionmaker() as s:
        due = s.scalars(select(Refund.next_check_at).where(Refund.status == "pending")).all()
    moment = dt.datetime.now(dt.UTC)
    return [d for d in due if d is not None and d > moment and d - payments.CLAIM <= last_kill]


def wait_until_settled(db: Database, timeout: float, records: Records, last_kill: dt.datetime) -> tuple[float, int]:
    """Wait until nothing is in limbo (``_limbo``). A refund that the killed worker had claimed waits for its
    claim (``payments.CLAIM``) to run out: the bound is stretched to that, and the number is returned."""
    began = time.monotonic()
    leases: set[dt.datetime] = set()
    while True:
        left = _limbo(db)
        if not left:
            return time.monotonic() - began, len(leases)
        leases.update(_refund_leases(db, last_kill))
        bound = timeout
        if leases:
            bound = max(bound, (max(leases) - dt.datetime.now(dt.UTC)).total_seconds() + time.monotonic() - began + 5)
        if time.monotonic() - began > bound:
            records.problems.extend(f"in limbo after {bound:.0f} s: {line}" for line in left)
            return time.monotonic() - began, len(leases)
        time.sleep(0.25)


def _uuid7_time(value: uuid.UUID) -> dt.datetime:
    return dt.datetime.fromtimestamp((value.int >> 80) / 1000, dt.UTC)


def wait_for_callbacks(
    db: Database, config: CrashConfig, records: Records, last_kill: dt.datetime
) -> tuple[float, list[SimNotification], int]:
    """Wait until every queued callback copy was delivered or given up (a forged copy is sent once). Copies
    leased by a deliverer that was killed are waited out only with ``drain_leases``. Returns the time taken,
    the copies still leased and how many were seen leased."""
    began = time.monotonic()
    seen: set[uuid.UUID] = set()
    while True:
        with db.sessionmaker() as s:
            pending = list(s.scalars(select(SimNotification).where(SimNotification.status == "pending")))
        leased = [n for n in pending if n.claimed_by is not None and _uuid7_time(n.claimed_by) <= last_kill
                  and n.deliver_at > dt.datetime.now(dt.UTC)]
        seen.update(n.id for n in leased)
        waiting = [n for n in pending if n not in leased]
        if not pending or (not waiting and not config.drain_leases):
            break
        bound = config.callbacks_timeout + (SIM_CLAIM_SECONDS + 5 if config.drain_leases else 0)
        if time.monotonic() - began > bound:
            records.problems.extend(
                f"callback copy {n.id} ({n.channel} {n.event} {n.variant}) still pending after {bound:.0f} s: "
                f"attempts {n.attempts}, due {n.deliver_at}, last error {n.last_error}"
                for n in waiting
            )
            break
        time.sleep(0.25)
    return time.monotonic() - began, leased, len(seen)


# ================================================================================================================
# The checks


def verify(
    db: Database, ctx: Run, leased: list[SimNotification] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Everything the issue asks, from the database. Returns the figures and the problems found."""
    problems: list[str] = []
    records, world = ctx.records, ctx.world
    city = world.shop.city_id
    with db.sessionmaker() as s:
        intents = {i.id: i for i in s.scalars(select(PaymentIntent))}
        trades = list(s.scalars(select(ChannelTrade)))
        refunds = list(s.scalars(select(Refund)))
        transfers = {t.id: t for t in s.scalars(select(WalletTransfer))}
        sim_trades = list(s.scalars(select(SimTrade)))
        sim_refunds = list(s.scalars(select(SimRefund)))
        notifications = list(s.scalars(select(SimNotification)))
        deliveries = list(s.scalars(select(SimDelivery)))
        wallets = {p: payments.wallet_balance(s, p, "CNY") for p in world.customers}
        escrow_spec = chart.sales_escrow(city, "CNY")
        escrow = ledger.balances(s, [escrow_spec.id]).get(escrow_spec.id)
        clearing_rows = {c: s.get(WalletAccount, chart.channel_clearing(c, city, "CNY").id) for c in CHANNELS}
        all_accounts = ledger.all_accounts(s)
        journal, statuses = ledger.journal(s)

    # The ledger's own invariants: conservation, floors, at-most-once, the journal adds up.
    problems += [f"ledger invariant: {v}" for v in check_invariants(all_accounts, journal, statuses)]

    # Every intent final, and exactly the intents the clients learned about (no retry made a second one).
    problems += [f"intent {i.id} ended {i.status}" for i in intents.values() if IntentStatus(i.status) not in FINAL]
    learned = set(records.intents)
    problems += [f"intent {i} exists but no client ever got its id (a retry made a second one?)"
                 for i in set(intents) - learned]
    problems += [f"a client got intent id {i} but it is not in the database" for i in learned - set(intents)]

    # Idempotency: every answer one key got names the same intent (or refund).
    for key, use in records.keys.items():
        if len(set(use.ids)) > 1:
            problems.append(f"Idempotency-Key {key} ({use.what}) got different ids: {use.ids}")
        if len(set(use.statuses)) > 1:
            problems.append(f"Idempotency-Key {key} ({use.what}) got different answers: {use.statuses}")

    # Trades: ours against the channels'.
    by_intent: dict[uuid.UUID, list[ChannelTrade]] = collections.defaultdict(list)
    for t in trades:
        by_intent[t.intent_id].append(t)
    ours = {(t.channel, t.out_trade_no): t for t in trades}
    theirs = {(t.channel, t.out_trade_no): t for t in sim_trades if t.amount_fen > 0}  # tombstones aside
    sim_refunds_by_no = collections.defaultdict(list)
    for r in sim_refunds:
        sim_refunds_by_no[r.out_refund_no].append(r)
    returned = 0
    for key, sim in theirs.items():
        trade = ours.get(key)
        if trade is None:
            problems.append(f"channel trade {key} exists at the channel but not on our side")
            continue
        if sim.status == "paid":
            if trade.status != "paid" or trade.paid_amount != sim.amount_fen:
                problems.append(f"trade {key} paid {sim.amount_fen} at the channel, ours is {trade.status} "
                                f"with {trade.paid_amount}: money lost")
                continue
            moved = transfers.get(chart.transfer_id("channel-payment", trade.id))
            if moved is None or moved.amount != sim.amount_fen:
                problems.append(f"trade {key}: its money is not in our ledger (transfer {moved})")
            intent = intents[trade.intent_id]
            if trade.accepted:
                if intent.status != "succeeded" or intent.method != trade.channel:
                    problems.append(f"trade {key} accepted but its intent is {intent.status} by {intent.method}")
            else:
                back = [r for r in refunds if r.trade_id == trade.id and r.reason == "unaccepted_payment"]
                if len(back) != 1 or back[0].status != "succeeded" or back[0].amount != sim.amount_fen:
                    problems.append(f"trade {key} paid but not accepted, and not returned exactly once: {back}")
                else:
                    returned += sim.amount_fen
        elif trade.status == "paid":
            problems.append(f"trade {key} is paid on our side but {sim.status} at the channel: money made up")
        elif sim.status == "waiting":
            problems.append(f"trade {key} can still be paid at the channel; ours is {trade.status}, its intent "
                            f"{intents[trade.intent_id].status}")
    problems += [f"trade {k} paid on our side but unknown to the channel" for k, t in ours.items()
                 if t.status == "paid" and k not in theirs]
    for intent_id, its in by_intent.items():
        accepted = [t for t in its if t.accepted]
        if len(accepted) > 1:
            problems.append(f"intent {intent_id} has {len(accepted)} accepted trades")
        intent = intents[intent_id]
        if intent.status == "succeeded" and intent.method in CHANNELS and len(accepted) != 1:
            problems.append(f"intent {intent_id} succeeded by {intent.method} with {len(accepted)} accepted trades")

    # Refunds: ours against the channels' (one each way), and none left failed with money stuck.
    for r in refunds:
        if r.destination == "channel":
            found = sim_refunds_by_no.get(r.out_refund_no, [])
            if r.status == "succeeded" and (len(found) != 1 or found[0].refund_fen != r.amount):
                problems.append(f"refund {r.id} succeeded but the channel has {[(f.refund_fen) for f in found]}")
            if r.status != "succeeded":
                problems.append(f"channel refund {r.id} ({r.reason}) ended {r.status} ({r.failure_code})")
    our_refund_nos = {r.out_refund_no for r in refunds if r.destination == "channel"}
    problems += [f"the channel refunded {r.out_refund_no} that we never asked for" for r in sim_refunds
                 if r.out_refund_no not in our_refund_nos]
    for rid, (intent_id, amount, _to_wallet) in records.refunds_made.items():
        match = [r for r in refunds if str(r.id) == rid]
        if len(match) != 1 or match[0].intent_id != intent_id or match[0].amount != amount:
            problems.append(f"refund {rid} answered 201 but the database has {match}")

    # Every intent's money moved exactly as its final state says.
    for intent in intents.values():
        paid_by_wallet = transfers.get(chart.transfer_id("wallet-payment", intent.id))
        if intent.status == "succeeded" and intent.method == "wallet":
            if paid_by_wallet is None or paid_by_wallet.amount != intent.amount:
                problems.append(f"intent {intent.id} succeeded from the wallet without its transfer")
        elif paid_by_wallet is not None:
            problems.append(f"intent {intent.id} is {intent.status} by {intent.method} yet its wallet paid it")
        if intent.status != "succeeded" and any(t.accepted for t in by_intent.get(intent.id, [])):
            problems.append(f"intent {intent.id} is {intent.status} but a trade's money was accepted into it")

    # Each customer's wallet: succeeded top-ups - succeeded wallet payments + refunds to the wallet.
    refunds_to_wallet: collections.Counter[uuid.UUID] = collections.Counter()
    for r in refunds:
        if r.destination == "wallet" and r.status == "succeeded":
            refunds_to_wallet[intents[r.intent_id].payer_person_id] += r.amount
    for person, balance in wallets.items():
        mine = [i for i in intents.values() if i.payer_person_id == person and i.status == "succeeded"]
        expected = (sum(i.amount for i in mine if i.purpose == "top_up")
                    - sum(i.amount for i in mine if i.purpose != "top_up" and i.method == "wallet")
                    + refunds_to_wallet[person])
        if (balance.posted, balance.available, balance.pending) != (expected, expected, 0):
            problems.append(f"wallet of {person}: posted {balance.posted}, available {balance.available}, "
                            f"pending {balance.pending}; expected {expected}")

    # The escrow holds exactly the succeeded, unsettled shop payments (less their refunds).
    sales = [i for i in intents.values() if i.purpose == "store_payment" and i.status == "succeeded"]
    unsettled = sum(i.amount - i.refunded_amount for i in sales if i.settled_at is None)
    escrow_posted = escrow.posted if escrow is not None else 0
    if escrow_posted != unsettled or (escrow is not None and (escrow.pending_in, escrow.pending_out) != (0, 0)):
        problems.append(f"escrow posted {escrow_posted} ({escrow}), unsettled sales {unsettled}")

    # What the channels hold for us equals what our clearing accounts say they owe.
    at_channels = (sum(t.amount_fen for t in theirs.values() if t.status == "paid")
                   - sum(r.refund_fen for r in sim_refunds))
    clearing = sum((a.debits_posted - a.credits_posted) for a in clearing_rows.values() if a is not None)
    if at_channels != clearing:
        problems.append(f"the channels hold {at_channels} for us, our clearing accounts say {clearing}")

    # Every Pay that answered 303 (or that the cashier showed paid after a lost answer) ended succeeded.
    notes = list(records.intents.values())
    for note in notes:
        if (note.pay_303 or note.pay_seen_paid) and intents.get(note.intent_id) is not None:
            status = intents[note.intent_id].status
            if status != "succeeded":
                problems.append(f"intent {note.intent_id}: Pay went through at the cashier but it ended {status}")

    # A callback still leased by a killed deliverer reports a payment we already applied: it can change nothing.
    sim_by_id = {t.id: t for t in sim_trades}
    for n in leased or []:
        sim = sim_by_id[n.trade_id]
        trade = ours.get((sim.channel, sim.out_trade_no))
        if trade is None or trade.status != "paid":
            problems.append(f"callback {n.id} for {sim.out_trade_no} is leased by a dead deliverer and our trade "
                            f"is {trade.status if trade else 'missing'}")

    # Figures.
    final = collections.Counter(f"{i.purpose} {i.status}" for i in intents.values())
    succeeded = [i for i in intents.values() if i.status == "succeeded"]
    variants = collections.Counter(n.variant for n in notifications)
    forged_ids = {n.id for n in notifications if n.variant == "tampered"}
    figures: dict[str, Any] = {
        "keys": len(records.keys),
        "keys_asked_twice": sum(1 for u in records.keys.values() if len(u.statuses) > 1),
        "intents": dict(final),
        "pays_303": sum(n.pay_303 for n in notes),
        "pays_uncertain": sum(n.pay_uncertain for n in notes),
        "pays_uncertain_succeeded": sum(
            1 for n in notes if n.pay_uncertain and getattr(intents.get(n.intent_id), "status", "") == "succeeded"
        ),
        "cashier_refused": collections.Counter(n.cashier_refused for n in notes if n.cashier_refused),
        "cashier_cancels": sum(n.cashier == "cancel" for n in notes),
        "abandoned": sum(n.cashier == "abandon" for n in notes),
        "topped_up": sum(i.amount for i in succeeded if i.purpose == "top_up"),
        "paid_from_wallet": sum(i.amount for i in succeeded if i.purpose != "top_up" and i.method == "wallet"),
        "channel_succeeded": sum(1 for i in succeeded if i.method in CHANNELS),
        "paid_by_channel": sum(i.amount for i in succeeded if i.purpose != "top_up" and i.method in CHANNELS),
        "refunded_to_wallet": sum(r.amount for r in refunds if r.destination == "wallet" and r.status == "succeeded"),
        "refunded_by_channel": sum(r.amount for r in refunds if r.destination == "channel" and r.status == "succeeded"
                                   and r.reason != "unaccepted_payment"),
        "returned": returned,
        "wallets": sum(b.posted for b in wallets.values()),
        "escrow": escrow_posted,
        "at_channels": at_channels,
        "clearing": clearing,
        "events": len({n.notify_id for n in notifications}),
        "copies": len(notifications),
        "genuine": variants["genuine"],
        "duplicates": variants["duplicate"],
        "forged": variants["tampered"],
        "delivered": sum(n.status == "delivered" for n in notifications),
        "forged_refused": sum(1 for d in deliveries if d.notification_id in forged_ids and not d.accepted),
        "forged_accepted": sum(1 for d in deliveries if d.notification_id in forged_ids and d.accepted),
        "attempts": len(deliveries),
        "attempt_errors": sum(d.error is not None for d in deliveries),
    }
    if figures["forged_accepted"]:
        problems.append(f"{figures['forged_accepted']} forged callbacks were acknowledged")
    return figures, problems


_APPLIED = re.compile(r"callback_applied\b.*?\boutcome=(\w+)")
_RETURNED = re.compile(r"payment_return_resolved\b.*?\boutcome=(\w+)")
_RESOLVER = re.compile(r"job_done\b.*?\bjob=wallet\.resolve_payments")


def parse_log(path: Path) -> dict[str, Any]:
    """Best effort, from the server's log: who applied each payment first (the others found it done)."""
    by_callback = by_return = 0
    tracebacks = 0
    try:
        text_ = path.read_text(errors="replace")
    except FileNotFoundError:
        text_ = ""
    for line in text_.splitlines():
        if (m := _APPLIED.search(line)) and m.group(1) == "paid":
            by_callback += 1
        elif (m := _RETURNED.search(line)) and m.group(1) == "paid":
            by_return += 1
        elif line.startswith("Traceback"):
            tracebacks += 1
    return {"applied_by_callback": by_callback, "applied_by_return": by_return, "tracebacks": tracebacks}


# ================================================================================================================
# As a script: a scratch PostgreSQL database, created and dropped


def _scratch_database() -> str:
    name = f"o2o_crash_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = make_null_pool_engine(POSTGRES_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _drop_database(url: str) -> None:
    admin = make_null_pool_engine(POSTGRES_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=6)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--drain-leases", action="store_true",
                        help="also wait out callbacks leased by a killed deliverer (up to 60 s more)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (server log) afterwards")
    args = parser.parse_args(argv)
    config = CrashConfig(customers=args.customers, kills=args.kills, seed=args.seed, drain_leases=args.drain_leases)
    url = _scratch_database()
    workdir = Path(tempfile.mkdtemp(prefix="o2o-crash-"))
    db = None
    try:
        migrate.upgrade(url)
        db = Database(url)
        report = run_crash_test(db, workdir, config)
        print(report.render())
        return 0 if not report.problems else 1
    finally:
        if db is not None:
            db.dispose()
        _drop_database(url)
        if not args.keep and not os.environ.get("O2O_CRASH_KEEP"):
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
