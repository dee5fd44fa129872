"""The deals API: customers (``/api/deals``: deals on sale, buying, my vouchers, refunds, the QR key) and a
store's console (``/api/merchant/stores/{store_id}/deals`` and ``.../vouchers``: create, publish, withdraw; check,
redeem, undo).

Thin: each route authorises, calls one service function and shapes its answer. The request boundary commits.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from o2o.accounts import errors as account_errors
from o2o.accounts.endpoints import AUTH_ERRORS, CurrentPrincipal, require
from o2o.accounts.permissions import Action, Principal, Resource
from o2o.config import Settings
from o2o.deals import errors as e
from o2o.deals import jobs, rules, service, signing  # noqa: F401  (jobs: registration)
from o2o.deals.rules import DealTerms, Line, UsageRules
from o2o.deals.schemas import (
    DealCreate,
    DealOut,
    DealPage,
    HoursOut,
    LineOut,
    PurchaseCreate,
    PurchaseOut,
    ScanIn,
    StaffVoucherOut,
    StoreRef,
    VoucherKeyOut,
    VoucherOut,
    VoucherPage,
    VoucherStatusLiteral,
)
from o2o.errors import problem_responses
from o2o.http import DbSession, api_router
from o2o.kit import time as clock
from o2o.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from o2o.stores import service as stores
from o2o.wallet import errors as wallet_errors

router = api_router(prefix="/api/deals", tags=["deals"])
merchant_router = api_router(prefix="/api/merchant/stores/{store_id}", tags=["deals"])

PAGING_ERRORS = (account_errors.INVALID_CURSOR, account_errors.INVALID_LIMIT)
SCAN_ERRORS = (
    e.VOUCHER_FORGED, e.VOUCHER_NOT_FOUND, e.VOUCHER_EXPIRED, e.VOUCHER_ALREADY_REDEEMED,
    e.VOUCHER_NOT_FOR_THIS_STORE, e.VOUCHER_NOT_USABLE_NOW, e.VOUCHER_REFUNDED,
)


def _settings(request: Request) -> Settings:
    return request.app.state.settings


# ---------------------------------------------------------------------------------------------------- shaping


def _hours(view_rules: UsageRules) -> HoursOut | None:
    if view_rules.start_minute is None or view_rules.end_minute is None:
        return None
    return HoursOut(start=rules.hhmm(view_rules.start_minute), end=rules.hhmm(view_rules.end_minute))


def _stores(names: dict[uuid.UUID, tuple[str, str]], store_ids: list[uuid.UUID]) -> list[StoreRef]:
    return [StoreRef(id=s, name=names.get(s, ("", ""))[0], address=names.get(s, ("", ""))[1]) for s in store_ids]


def _discount(price: int, original: int) -> int:
    return round(100 * (original - price) / original) if original else 0


def deal_out(
    view: service.DealView, names: dict[uuid.UUID, tuple[str, str]], now: dt.datetime | None = None
) -> DealOut:
    deal = view.deal
    return DealOut(
        id=deal.id,
        city_id=deal.city_id,
        store_id=deal.store_id,
        title=deal.title,
        lines=[LineOut(name=line.name, quantity=line.quantity) for line in view.lines],
        includes=rules.lines_text(view.lines),
        price=deal.price,
        original_price=deal.original_price,
        currency=deal.currency,
        discount_percent=_discount(deal.price, deal.original_price),
        quantity_total=deal.quantity_total,
        quantity_left=view.quantity_left,
        per_person_limit=deal.per_person_limit,
        sale_starts_at=deal.sale_starts_at,
        sale_ends_at=deal.sale_ends_at,
        valid_from=deal.valid_from,
        valid_until=deal.valid_until,
        weekdays=rules.weekday_names(deal.usable_weekdays),  # type: ignore[arg-type]
        hours=_hours(view.rules),
        status=deal.status,  # type: ignore[arg-type]
        on_sale=view.buyable(now or clock.now()),
        stores=_stores(names, view.store_ids),
        created_at=deal.created_at,
        published_at=deal.published_at,
    )


def _deals_out(session: Session, views: list[service.DealView]) -> list[DealOut]:
    names = service.store_names(session, sorted({s for v in views for s in v.store_ids}))
    now = clock.now()
    return [deal_out(v, names, now) for v in views]


def voucher_out(view: service.VoucherView, names: dict[uuid.UUID, tuple[str, str]]) -> VoucherOut:
    v = view.voucher
    paid = v.status not in ("pending", "canceled")
    return VoucherOut(
        id=v.id,
        deal_id=v.deal_id,
        deal_title=view.deal.deal.title,
        includes=rules.lines_text(view.deal.lines),
        status=v.status,  # type: ignore[arg-type]
        price=v.price,
        currency=v.currency,
        code=view.code_display if paid else None,
        qr_payload=view.qr_payload,
        stores=_stores(names, view.deal.store_ids),
        valid_from=v.valid_from,
        valid_until=v.valid_until,
        weekdays=rules.weekday_names(view.deal.deal.usable_weekdays),  # type: ignore[arg-type]
        hours=_hours(view.deal.rules),
        payment_intent_id=v.intent_id,
        issued_at=v.issued_at,
        redeemed_at=v.redeemed_at,
        redeemed_store_id=v.redeemed_store_id,
        undo_until=view.undo_until,
        settled_at=v.settled_at,
        refunded_at=v.refunded_at,
        refund_reason=v.refund_reason,  # type: ignore[arg-type]
        created_at=v.created_at,
    )


def _vouchers_out(session: Session, views: list[service.VoucherView]) -> list[VoucherOut]:
    names = service.store_names(session, sorted({s for v in views for s in v.deal.store_ids}))
    return [voucher_out(v, names) for v in views]


def staff_voucher_out(view: service.VoucherView) -> StaffVoucherOut:
    v = view.voucher
    return StaffVoucherOut(
        id=v.id,
        deal_id=v.deal_id,
        deal_title=view.deal.deal.title,
        lines=[LineOut(name=line.name, quantity=line.quantity) for line in view.deal.lines],
        includes=rules.lines_text(view.deal.lines),
        status=v.status,  # type: ignore[arg-type]
        price=v.price,
        currency=v.currency,
        code=view.code_display,
        valid_until=v.valid_until,
        redeemed_at=v.redeemed_at,
        redeemed_store_id=v.redeemed_store_id,
        undo_until=view.undo_until,
        settled_at=v.settled_at,
    )


# ---------------------------------------------------------------------------------------------------- customers


@router.get(
    "/voucher-key",
    response_model=VoucherKeyOut,
    summary="The public key that signs vouchers' QR codes",
    description=(
        "Shop scanners that work offline verify a voucher's QR payload with this Ed25519 key (and check the store "
        "and the date in it). Redemption itself is online and happens once."
    ),
)
def voucher_key(request: Request) -> VoucherKeyOut:
    secret = _settings(request).secret_key
    return VoucherKeyOut(key_id=signing.key_id(secret), public_key=signing.public_key_b64(secret))


@router.get(
    "/my-vouchers",
    response_model=VoucherPage,
    summary="My vouchers, newest first",
    description="With their short codes and signed QR payloads while they can be used.",
    responses=problem_responses(*AUTH_ERRORS, *PAGING_ERRORS),
)
def my_vouchers(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    status: Annotated[list[VoucherStatusLiteral] | None, Query(description="Only these statuses (repeat the parameter).")] = None,
    cursor: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> VoucherPage:
    views, next_cursor = service.my_vouchers(session, _settings(request), principal.person_id, cursor=cursor,
                                             limit=limit, statuses=status)
    return VoucherPage(items=_vouchers_out(session, views), next_cursor=next_cursor)


@router.get(
    "/my-vouchers/{voucher_id}",
    response_model=VoucherOut,
    summary="One of my vouchers",
    responses=problem_responses(*AUTH_ERRORS, e.VOUCHER_NOT_FOUND),
)
def my_voucher(request: Request, voucher_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> VoucherOut:
    view = service.my_voucher(session, _settings(request), voucher_id, principal.person_id)
    return _vouchers_out(session, [view])[0]


@router.post(
    "/my-vouchers/{voucher_id}/refund",
    response_model=VoucherOut,
    summary="Refund an unused voucher",
    description=(
        "Any time before it is redeemed: what was paid goes back to the wallet at once, and the unit goes back on "
        "sale. Asking again answers the same. Unused vouchers are also refunded by themselves when they expire."
    ),
    responses=problem_responses(
        *AUTH_ERRORS, e.VOUCHER_NOT_FOUND, e.VOUCHER_ALREADY_REDEEMED, e.VOUCHER_NOT_PAID, e.VOUCHER_EXPIRED,
    ),
)
def refund_my_voucher(
    request: Request, voucher_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> VoucherOut:
    view = service.refund_voucher(session, _settings(request), voucher_id, principal.person_id)
    return _vouchers_out(session, [view])[0]


@router.get(
    "",
    response_model=DealPage,
    summary="Deals on sale in a city, or good in a store",
    description="Published deals inside their sale window, newest first. Give `city_id` or `store_id`.",
    responses=problem_responses(*PAGING_ERRORS, e.CITY_OR_STORE_REQUIRED),
)
def list_deals(
    session: DbSession,
    city_id: Annotated[uuid.UUID | None, Query()] = None,
    store_id: Annotated[uuid.UUID | None, Query()] = None,
    cursor: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> DealPage:
    if city_id is None and store_id is None:
        raise e.city_or_store_required()
    views, next_cursor = service.list_deals(session, city_id=city_id, store_id=store_id, cursor=cursor, limit=limit)
    return DealPage(items=_deals_out(session, views), next_cursor=next_cursor)


@router.get(
    "/{deal_id}",
    response_model=DealOut,
    summary="A deal: what it includes, its price, its stores and rules",
    responses=problem_responses(e.DEAL_NOT_FOUND),
)
def get_deal(deal_id: uuid.UUID, session: DbSession) -> DealOut:
    return _deals_out(session, [service.get_deal(session, deal_id)])[0]


@router.post(
    "/{deal_id}/purchases",
    status_code=201,
    response_model=PurchaseOut,
    summary="Buy a voucher",
    description=(
        "Takes one unit of the deal and opens its payment. `pay_with: wallet` pays from the wallet at once and "
        "the voucher is issued (with its code and QR payload); `later` leaves it `pending` until its payment intent "
        "is paid (it is canceled, and the unit released, if that intent closes unpaid). Refusals change nothing. "
        "Send an `Idempotency-Key` so that a retry does not buy twice."
    ),
    responses=problem_responses(
        *AUTH_ERRORS, account_errors.FORBIDDEN, e.DEAL_NOT_FOUND, e.DEAL_NOT_ON_SALE, e.DEAL_SOLD_OUT,
        e.PURCHASE_LIMIT_REACHED, wallet_errors.INSUFFICIENT_FUNDS,
    ),
)
def buy(
    request: Request,
    deal_id: uuid.UUID,
    body: PurchaseCreate,
    session: DbSession,
    principal: Annotated[Principal, Depends(require(Action.PURCHASE))],
) -> PurchaseOut:
    settings = _settings(request)
    purchase = service.buy(session, deal_id, principal.person_id, settings=settings,
                           pay_with_wallet=body.pay_with == "wallet")
    view = service.my_voucher(session, settings, purchase.voucher.id, principal.person_id)
    return PurchaseOut(
        voucher=_vouchers_out(session, [view])[0],
        payment_intent_id=purchase.intent.id,
        payment_status=purchase.intent.status,
        payment_url=f"{settings.base_url}/wallet/payments/{purchase.intent.id}",
    )


# ---------------------------------------------------------------------------------------------------- a store's console


def store_resource(store_id: uuid.UUID, session: DbSession) -> Resource:
    store = stores.store_for_sale(session, store_id)
    if store is None:
        raise e.unknown_store()
    return Resource(city_id=store.city_id, store_id=store.store_id)


Manager = Annotated[Principal, Depends(require(Action.STORE_MANAGE, store_resource))]
Operator = Annotated[Principal, Depends(require(Action.STORE_OPERATE, store_resource))]


def _terms(body: DealCreate) -> DealTerms:
    try:
        hours = (rules.minute_of(body.hours.start), rules.minute_of(body.hours.end)) if body.hours else (None, None)
    except rules.InvalidTerms as bad:
        raise e.invalid_deal(bad.field, bad.message) from None
    return DealTerms(
        title=body.title,
        lines=tuple(Line(line.name, line.quantity) for line in body.lines),
        price=body.price,
        original_price=body.original_price,
        quantity_total=body.quantity_total,
        per_person_limit=body.per_person_limit,
        sale_starts_at=body.sale_starts_at,
        sale_ends_at=body.sale_ends_at,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        rules=UsageRules(rules.weekday_mask(body.weekdays), *hours),
    )


@merchant_router.get(
    "/deals",
    response_model=DealPage,
    summary="The store's deals (drafts, published, withdrawn), newest first",
    responses=problem_responses(*AUTH_ERRORS, account_errors.FORBIDDEN, e.UNKNOWN_STORE, *PAGING_ERRORS),
)
def store_deals(
    store_id: uuid.UUID,
    session: DbSession,
    principal: Manager,
    cursor: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> DealPage:
    views, next_cursor = service.store_deals(session, store_id, cursor=cursor, limit=limit)
    return DealPage(items=_deals_out(session, views), next_cursor=next_cursor)


@merchant_router.post(
    "/deals",
    status_code=201,
    response_model=DealOut,
    summary="Create a deal (a draft, or published at once)",
    description=(
        "Prices in fen; the sale and validity windows in UTC; the weekdays and hours in the city's time. The deal "
        "may cover other stores of the same merchant (`store_ids`)."
    ),
    responses=problem_responses(
        *AUTH_ERRORS, account_errors.FORBIDDEN, e.UNKNOWN_STORE, e.INVALID_DEAL, e.STORE_NOT_OF_MERCHANT,
    ),
)
def create_deal(store_id: uuid.UUID, body: DealCreate, session: DbSession, principal: Manager) -> DealOut:
    view = service.create_deal(
        session, store_id=store_id, terms=_terms(body), other_store_ids=body.store_ids,
        created_by=principal.person_id, publish=body.publish,
    )
    return _deals_out(session, [view])[0]


@merchant_router.post(
    "/deals/{deal_id}/publish",
    response_model=DealOut,
    summary="Put a draft deal on sale",
    description="It sells inside its sale window. Publishing a published deal again is harmless.",
    responses=problem_responses(
        *AUTH_ERRORS, account_errors.FORBIDDEN, e.UNKNOWN_STORE, e.DEAL_NOT_FOUND, e.DEAL_NOT_PUBLISHABLE,
    ),
)
def publish_deal(store_id: uuid.UUID, deal_id: uuid.UUID, session: DbSession, principal: Manager) -> DealOut:
    return _deals_out(session, [service.publish_deal(session, store_id, deal_id)])[0]


@merchant_router.post(
    "/deals/{deal_id}/withdraw",
    response_model=DealOut,
    summary="Stop selling a deal",
    description="Vouchers already sold stay good until they expire (then unused ones are refunded).",
    responses=problem_responses(
        *AUTH_ERRORS, account_errors.FORBIDDEN, e.UNKNOWN_STORE, e.DEAL_NOT_FOUND, e.DEAL_NOT_WITHDRAWABLE,
    ),
)
def withdraw_deal(store_id: uuid.UUID, deal_id: uuid.UUID, session: DbSession, principal: Manager) -> DealOut:
    return _deals_out(session, [service.withdraw_deal(session, store_id, deal_id)])[0]


@merchant_router.post(
    "/vouchers/check",
    response_model=StaffVoucherOut,
    summary="What a scanned voucher is for, if it can be redeemed here now",
    description=(
        "`scan` is what the scanner typed (the signed QR payload) or the 12-digit code the customer reads out. "
        "Changes nothing; a voucher that cannot be redeemed here now answers with the reason's code."
    ),
    responses=problem_responses(*AUTH_ERRORS, account_errors.FORBIDDEN, e.UNKNOWN_STORE, *SCAN_ERRORS),
)
def check_voucher(
    request: Request, store_id: uuid.UUID, body: ScanIn, session: DbSession, principal: Operator
) -> StaffVoucherOut:
    return staff_voucher_out(service.check_voucher(session, _settings(request), store_id, body.scan))


@merchant_router.post(
    "/vouchers/redeem",
    response_model=StaffVoucherOut,
    summary="Redeem a voucher in this store (once)",
    description=(
        "Exactly once: of two tills redeeming the same voucher, one succeeds and the other gets "
        "`voucher_already_redeemed`. The redemption can be undone for a few minutes (`undo_until`); after that the "
        "merchant is paid."
    ),
    responses=problem_responses(*AUTH_ERRORS, account_errors.FORBIDDEN, e.UNKNOWN_STORE, *SCAN_ERRORS),
)
def redeem_voucher(
    request: Request, store_id: uuid.UUID, body: ScanIn, session: DbSession, principal: Operator
) -> StaffVoucherOut:
    return staff_voucher_out(
        service.redeem(session, _settings(request), store_id, body.scan, principal.person_id)
    )


@merchant_router.post(
    "/vouchers/{voucher_id}/undo",
    response_model=StaffVoucherOut,
    summary="Undo a redemption made in this store, within the undo window",
    responses=problem_responses(
        *AUTH_ERRORS, account_errors.FORBIDDEN, e.UNKNOWN_STORE, e.VOUCHER_NOT_FOUND, e.VOUCHER_NOT_REDEEMED,
        e.UNDO_WINDOW_PASSED,
    ),
)
def undo_redemption(
    request: Request, store_id: uuid.UUID, voucher_id: uuid.UUID, session: DbSession, principal: Operator
) -> StaffVoucherOut:
    return staff_voucher_out(
        service.undo_redemption(session, _settings(request), store_id, voucher_id, principal.person_id)
    )


@merchant_router.get(
    "/vouchers/redeemed",
    response_model=list[StaffVoucherOut],
    summary="The store's redemptions of the last 24 hours, newest first",
    responses=problem_responses(*AUTH_ERRORS, account_errors.FORBIDDEN, e.UNKNOWN_STORE),
)
def recent_redemptions(
    request: Request, store_id: uuid.UUID, session: DbSession, principal: Operator
) -> list[StaffVoucherOut]:
    return [staff_voucher_out(v) for v in service.recent_redemptions(session, _settings(request), store_id)]
