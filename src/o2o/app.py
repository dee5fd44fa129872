"""create_app(): the FastAPI application with its routers, error handlers, middleware and pages."""

from __future__ import annotations

import importlib
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles

from o2o import __version__, outbox
from o2o.config import Settings, get_settings
from o2o.db import Database
from o2o.errors import Problem, install_error_handlers
from o2o.observability import RequestLogMiddleware, configure_logging
from o2o.worker import SingleRunnerLock, Worker

log = structlog.get_logger("o2o.app")

# Each domain's router (module:attribute). Importing them also registers the domain's worker jobs.
ROUTERS = [
    "o2o.ops:router",
    "o2o.accounts.endpoints:router",
    "o2o.accounts.pages:router",
    "o2o.cities.endpoints:router",
    "o2o.wallet.endpoints:router",
    "o2o.wallet.pages:router",
    "o2o.web.pages:router",
    "o2o.wallet.channels.sim.endpoints:router",
    "o2o.stores.endpoints:router",
    "o2o.stores.endpoints:merchant_router",
    "o2o.orders.pages:router",  # before any /stores/{store_id} page: /stores/near is ours
    "o2o.stores.pages:router",
    "o2o.orders.endpoints:router",
    "o2o.deals.endpoints:router",
    "o2o.deals.endpoints:merchant_router",
    "o2o.deals.pages:router",
]
# Modules imported for their side effects only (worker jobs, outbox handlers) when they have no router.
JOB_MODULES = ["o2o.models", "o2o.jobs", "o2o.wallet.jobs", "o2o.wallet.channels.sim.jobs", "o2o.deals.jobs"]

STATIC_DIR = Path(__file__).parent / "web" / "static"

OPENAPI_TAGS = [
    {"name": "accounts", "description": "Sign-up and sign-in by phone, sessions, profile, real-name, favourites."},
    {"name": "cities", "description": "Cities and their districts."},
    {
        "name": "wallet",
        "description": "The wallet: balance, top-ups, payments (wallet, alipay-sim, wechatpay-sim), refunds, "
        "settlement, statements and reconciliation.",
    },
    {
        "name": "orders",
        "description": "Quotes and orders (delivery, takeout, click-and-collect), the shop's steps, counter sales, "
        "order events and webhooks, sales by channel.",
    },
    {
        "name": "deals",
        "description": "Group-buy deals and their vouchers: buy with the wallet, a short code and a signed QR code, "
        "redeemed once in the shop (with a short undo), refunded unused or at expiry, then paid to the merchant.",
    },
    {
        "name": "stores",
        "description": "A store, its delivery terms and its menu (categories, items, options, time windows, stock); "
        "pricing cart lines; the merchant's catalogue, sold-out switches, store settings and shelf labels.",
    },
    {"name": "operations", "description": "Health, readiness and metrics."},
]


def load_modules() -> list:
    for name in JOB_MODULES:
        importlib.import_module(name)
    routers = []
    for target in ROUTERS:
        module_name, attr = target.split(":")
        routers.append(getattr(importlib.import_module(module_name), attr))
    return routers


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    db = db or Database(settings.database_url, settings=settings)
    db.settings = settings  # the jobs of this app read its settings (tests share one Database across apps)
    routers = load_modules()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker_thread = None
        lock = SingleRunnerLock(settings.var_dir / "inprocess-worker.lock")
        if settings.inprocess_worker and lock.acquire():
            worker = Worker(db, tick=settings.worker_tick_seconds)
            outbox.on_enqueue(worker.wake)
            worker_thread = threading.Thread(target=worker.run, name="o2o-worker", daemon=True)
            worker_thread.start()
            app.state.worker = worker
        try:
            yield
        finally:
            if worker_thread is not None:
                app.state.worker.stop()
                worker_thread.join(timeout=10)
                lock.release()
            db.dispose()

    app = FastAPI(
        title="o2o",
        version=__version__,
        summary="An open-source online-to-offline city platform.",
        description=(
            "Errors are `application/problem+json` (RFC 9457) with a stable `code`. Mutating endpoints accept an "
            "`Idempotency-Key` header: a retry with the same key gets the first answer back; the same key with a "
            "different body is refused with `idempotency_key_reused`. Lists are paginated by an opaque `cursor`. "
            "Money is an integer in minor units (fen) with a currency code; times are UTC (ISO 8601)."
        ),
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    install_error_handlers(app)
    app.add_middleware(GZipMiddleware, minimum_size=2048)  # the city map page is ~180 KB of SVG
    app.add_middleware(RequestLogMiddleware)
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # Make the Problem schema part of the document even before a route references it.
    original_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = original_openapi()
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = Problem.model_json_schema()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_factory() -> FastAPI:
    """Entry point for uvicorn (``o2o.app:app_factory`` with ``factory=True``)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
