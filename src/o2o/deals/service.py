"""Deals and vouchers: publish a deal, buy a voucher through the wallet, redeem it once in the shop (with an undo
window), refund it unused, expire it, and pay the merchant once its redemption is final.

How the money and the counters stay right under concurrency, on SQLite and PostgreSQL alike:

* A unit of a limited deal is taken by ``UPDATE deals SET quantity_sold = quantity_sold + 1 WHERE ... AND
  quantity_sold < quantity_total`` with its row count checked; buyers of the last units queue on that row and each
  re-checks the condition, so a deal is never oversold. A canceled payment or a refund gives the unit back, from
  the one transition that ended the voucher's hold.
* A per-person limit is a unique constraint on (deal, buyer, slot): two purchases racing for the last slot cannot
  both insert it.
* A voucher moves between statuses only by conditional UPDATEs (``WHERE status = 'issued'`` ...): of two staff
  redeeming one voucher, or a redemption racing a refund or the expiry job, exactly one moves the row and the
  other reads the new state and answers with its code (``voucher_already_redeemed``, ``voucher_refunded``).
* Settlement claims a redeemed voucher with ``WHERE settled_at IS NULL AND redeemed_at <= now - undo window``, and
  undo needs ``settled_at IS NULL AND redeemed_at > now - undo window``: whichever commits first wins, and
  ``payments.settle`` runs once per intent.
* The payment intent's outcome (wallet, alipay-sim or wechatpay-sim, now or later) reaches the voucher through the
  wallet's outcome handler, in the same transaction as the money: paid issues it, canceled or failed cancels it.

The service never commits (the request, the job or the test does); refusals raise before anything changed, or
inside a savepoint, so a caller that catches the error still sees nothing changed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from o2o.cities import service as cities
from o2o.config import Settings
from o2o.deals import errors as e
from o2o.deals import repository, rules, signing
from o2o.deals.models import Deal, Voucher
from o2o.deals.rules import DealTerms, Line, UsageRules
from o2o.deals.state import RefundReason, VoucherStatus
from o2o.errors import AppError
from o2o.kit import time as clock
from o2o.kit.ids import uuid7
from o2o.stores import service as stores
from o2o.wallet import payments
from o2o.wallet.intents import IntentStatus
from o2o.wallet.models import PaymentIntent

log = structlog.get_logger("o2o.deals.service")

DEFAULT_UNDO_MINUTES = 10
CODE_ATTEMPTS = 8
JOB_BATCH = 200
RECENT_REDEMPTIONS = dt.timedelta(hours=24)


def _now(now: dt.datetime | None) -> dt.datetime:
    return clock.now() if now is None else now


def undo_window(settings: Settings | None) -> dt.timedelta:
    """How long a redemption can be undone (``voucher_undo_minutes``, default 10) before it is settled."""
    return dt.timedelta(minutes=getattr(settings, "voucher_undo_minutes", DEFAULT_UNDO_MINUTES))


def city_timezone(session: Session, city_id: uuid.UUID) -> str:
    return cities.city_timezone(session, city_id) or "Asia/Shanghai"


# ---------------------------------------------------------------------------------------------------- views


def usage_rules(deal: Deal) -> UsageRules:
    return UsageRules(deal.usable_weekdays, deal.usable_start_minute, deal.usable_end_minute)


@dataclass(frozen=True)
class DealView:
    """A deal with what it includes and the stores it is good in."""

    deal: Deal
    lines: tuple[Line, ...]
    store_ids: list[uuid.UUID]

    @property
    def rules(self) -> UsageRules:
        return usage_rules(self.deal)

    @property
    def quantity_left(self) -> int | None:
        total = self.deal.quantity_total
        return None if total is None else max(total - self.deal.quantity_sold, 0)

    def on_sale(self, at: dt.datetime) -> bool:
        return self.deal.status == "published" and rules.on_sale(self.deal.sale_starts_at, self.deal.sale_ends_at, at)

    def buyable(self, at: dt.datetime) -> bool:
        return self.on_sale(at) and self.quantity_left != 0


def _view(session: Session, deal: Deal, store_ids: list[uuid.UUID] | None = None) -> DealView:
    if store_ids is None:
        store_ids = repository.deal_store_ids(session, deal.id)
    return DealView(deal, repository.decode_lines(deal.lines), store_ids)


@dataclass(frozen=True)
class VoucherView:
    """A voucher with its deal, and what its owner or a store's staff may see of it now."""

    voucher: Voucher
    deal: DealView
    qr_payload: str | None  # signed, for an issued voucher only
    undo_until: dt.datetime | None  # for a redemption that can still be undone

    @property
    def code_display(self) -> str:
        return rules.format_code(self.voucher.code)


def _voucher_view(session: Session, settings: Settings, voucher: Voucher, deal: DealView | None = None) -> VoucherView:
    deal = deal or _view(session, _deal_of(session, voucher))
    qr = None
    if voucher.status == VoucherStatus.ISSUED:
        qr = signing.sign(
            settings.secret_key,
            signing.Ticket(voucher.id, voucher.code, voucher.deal_id, tuple(deal.store_ids), voucher.valid_until),
        )
    undo_until = None
    if voucher.status == VoucherStatus.REDEEMED and voucher.settled_at is None and voucher.redeemed_at is not None:
        undo_until = voucher.redeemed_at + undo_window(settings)
    return VoucherView(voucher, deal, qr, undo_until)


def _deal_of(session: Session, voucher: Voucher) -> Deal:
    deal = repository.get_deal(session, voucher.deal_id)
    assert deal is not None  # a voucher's deal is never deleted without it (ON DELETE CASCADE)
    return deal


# ---------------------------------------------------------------------------------------------------- deals


def create_deal(
    session: Session,
    *,
    store_id: uuid.UUID,
    terms: DealTerms,
    other_store_ids: list[uuid.UUID] | None = None,
    created_by: uuid.UUID | None = None,
    publish: bool = False,
    now: dt.datetime | None = None,
) -> DealView:
    """A new deal of ``store_id`` (a draft, or published at once), good there and in ``other_store_ids`` (stores of
    the same merchant in the same city)."""
    now = _now(now)
    store = stores.store_for_sale(session, store_id)
    if store is None:
        raise e.unknown_store()
    try:
        terms = rules.check_terms(terms)
    except rules.InvalidTerms as bad:
        raise e.invalid_deal(bad.field, bad.message) from None
    covered = [store_id, *[s for s in dict.fromkeys(other_store_ids or []) if s != store_id]]
    if len(covered) > rules.MAX_STORES:
        raise e.invalid_deal("store_ids", f"A deal covers at most {rules.MAX_STORES} stores.")
    owners = repository.merchant_stores(session, covered)
    merchant_id, city_id = owners[store_id]
    if any(owners.get(s) != (merchant_id, city_id) for s in covered):
        raise e.store_not_of_merchant()
    deal = Deal(
        id=uuid7(),
        city_id=city_id,
        merchant_id=merchant_id,
        store_id=store_id,
        title=terms.title,
        lines=repository.encode_lines(terms.lines),
        price=terms.price,
        original_price=terms.original_price,
        currency=store.currency,
        quantity_total=terms.quantity_total,
        quantity_sold=0,
        per_person_limit=terms.per_person_limit,
        sale_starts_at=terms.sale_starts_at,
        sale_ends_at=terms.sale_ends_at,
        valid_from=terms.valid_from,
        valid_until=terms.valid_until,
        usable_weekdays=terms.rules.weekdays,
        usable_start_minute=terms.rules.start_minute,
        usable_end_minute=terms.rules.end_minute,
        status="published" if publish else "draft",
        created_by=created_by,
        published_at=now if publish else None,
        created_at=now,
        updated_at=now,
    )
    repository.add_deal(session, deal, covered)
    log.info("deal_created", deal=str(deal.id), store=str(store_id), published=publish)
    return DealView(deal, terms.lines, sorted(covered))


def _store_deal(session: Session, store_id: uuid.UUID, deal_id: uuid.UUID) -> Deal:
    """A deal of this store (its own store), or ``deal_not_found``."""
    deal = repository.get_deal(session, deal_id)
    if deal is None or deal.store_id != store_id:
        raise e.deal_not_found()
    return deal


def publish_deal(session: Session, store_id: uuid.UUID, deal_id: uuid.UUID, now: dt.datetime | None = None) -> DealView:
    now = _now(now)
    deal = _store_deal(session, store_id, deal_id)
    if deal.status == "published":
        return _view(session, deal)  # a retry
    if not repository.set_deal_status(session, deal_id, ["draft"], "published", now, published_at=now):
        raise e.deal_not_publishable(_store_deal(session, store_id, deal_id).status)
    return _view(session, _store_deal(session, store_id, deal_id))


def withdraw_deal(session: Session, store_id: uuid.UUID, deal_id: uuid.UUID, now: dt.datetime | None = None) -> DealView:
    """Stop selling the deal (a draft is dropped the same way). Vouchers sold stay good until they expire."""
    now = _now(now)
    deal = _store_deal(session, store_id, deal_id)
    if deal.status == "withdrawn":
        return _view(session, deal)
    if not repository.set_deal_status(session, deal_id, ["draft", "published"], "withdrawn", now, withdrawn_at=now):
        raise e.deal_not_withdrawable(_store_deal(session, store_id, deal_id).status)
    return _view(session, _store_deal(session, store_id, deal_id))


def get_deal(session: Session, deal_id: uuid.UUID, *, include_drafts: bool = False) -> DealView:
    """A deal as customers see it (published or withdrawn); drafts only for its store's console."""
    deal = repository.get_deal(session, deal_id)
    if deal is None or (deal.status == "draft" and not include_drafts):
        raise e.deal_not_found()
    return _view(session, deal)


def list_deals(
    session: Session,
    *,
    city_id: uuid.UUID | None = None,
    store_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: int = 20,
    now: dt.datetime | None = None,
) -> tuple[list[DealView], str | None]:
    """Deals on sale now in a city or good in a store, newest first."""
    rows, next_cursor = repository.page_of_deals(
        session, city_id=city_id, store_id=store_id, on_sale_at=_now(now), statuses=["published"], cursor=cursor,
        limit=limit,
    )
    store_ids = repository.deals_store_ids(session, [d.id for d in rows])
    return [_view(session, d, store_ids[d.id]) for d in rows], next_cursor


def store_deals(
    session: Session, store_id: uuid.UUID, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[DealView], str | None]:
    """Every deal of a store's console (drafts, published, withdrawn), newest first."""
    rows, next_cursor = repository.page_of_deals(
        session, home_store_id=store_id, on_sale_at=None, statuses=["draft", "published", "withdrawn"],
        cursor=cursor, limit=limit,
    )
    deals = list(rows)
    store_ids = repository.deals_store_ids(session, [d.id for d in deals])
    return [_view(session, d, store_ids[d.id]) for d in deals], next_cursor


def store_names(session: Session, store_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str]]:
    """store id -> (name, address)."""
    return repository.store_names(session, store_ids)


def sibling_stores(session: Session, store_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """The other stores of this store's merchant in its city, which one of its deals may cover."""
    return repository.sibling_stores(session, store_id)


# ---------------------------------------------------------------------------------------------------- buying


@dataclass(frozen=True)
class Purchase:
    voucher: Voucher
    intent: PaymentIntent


def buy(
    session: Session,
    deal_id: uuid.UUID,
    buyer_id: uuid.UUID,
    *,
    settings: Settings,
    pay_with_wallet: bool = False,
    now: dt.datetime | None = None,
) -> Purchase:
    """Take a unit of the deal and open a payment intent for one voucher (``pending`` until paid). With
    ``pay_with_wallet`` it is paid from the buyer's wallet at once and the voucher is issued; a refusal (not on
    sale, sold out, the per-person limit, insufficient funds) changes nothing."""
    now = _now(now)
    with session.begin_nested():
        deal = repository.get_deal(session, deal_id)
        if deal is None or deal.status == "draft":
            raise e.deal_not_found()
        if deal.status != "published" or not rules.on_sale(deal.sale_starts_at, deal.sale_ends_at, now):
            raise e.deal_not_on_sale()
        if not repository.take_unit(session, deal.id, now):
            deal = repository.get_deal(session, deal_id)
            assert deal is not None
            if deal.quantity_total is not None and deal.quantity_sold >= deal.quantity_total:
                raise e.deal_sold_out()
            raise e.deal_not_on_sale()
        voucher_id = uuid7()
        intent = payments.create_intent(
            session,
            city_id=deal.city_id,
            payer_id=buyer_id,
            amount=deal.price,
            currency=deal.currency,
            purpose=payments.Purpose.VOUCHER,
            description=deal.title,
            store_id=deal.store_id,
            reference=str(voucher_id),
            settings=settings,
            now=now,
        )
        voucher = _insert_voucher(session, deal, voucher_id, buyer_id, intent.id, now)
        if pay_with_wallet:
            payments.pay_from_wallet(session, intent.id, buyer_id, now=now)
    log.info("voucher_bought", voucher=str(voucher.id), deal=str(deal_id), wallet=pay_with_wallet)
    fresh = repository.get_voucher(session, voucher.id)
    assert fresh is not None
    return Purchase(fresh, payments.get_intent(session, intent.id))


def _insert_voucher(
    session: Session, deal: Deal, voucher_id: uuid.UUID, buyer_id: uuid.UUID, intent_id: uuid.UUID, now: dt.datetime
) -> Voucher:
    """The voucher row, with a fresh random code and, under a per-person limit, a free slot. A collision (a code
    drawn twice, a slot taken by a concurrent purchase of the same buyer) rolls back a savepoint and tries again."""
    for _attempt in range(CODE_ATTEMPTS):
        slot = None
        if deal.per_person_limit is not None:
            used = repository.used_slots(session, deal.id, buyer_id)
            free = [n for n in range(deal.per_person_limit) if n not in used]
            if not free:
                raise e.purchase_limit_reached(deal.per_person_limit)
            slot = free[0]
        voucher = Voucher(
            id=voucher_id,
            city_id=deal.city_id,
            deal_id=deal.id,
            store_id=deal.store_id,
            owner_person_id=buyer_id,
            intent_id=intent_id,
            code=rules.new_code(),
            price=deal.price,
            currency=deal.currency,
            status=VoucherStatus.PENDING.value,
            limit_slot=slot,
            valid_from=deal.valid_from,
            valid_until=deal.valid_until,
            version=0,
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(voucher)
                session.flush()
            return voucher
        except IntegrityError:
            continue  # the savepoint's rollback took the row (and the object) back
    raise RuntimeError("could not give a voucher a unique code and slot")  # pragma: no cover


@payments.on_outcome(payments.Purpose.VOUCHER)
def _voucher_payment_outcome(session: Session, intent: PaymentIntent, now: dt.datetime) -> None:
    """The wallet moved a voucher's intent to a final state (in the same transaction). Idempotent: only a pending
    voucher moves, once."""
    if intent.status == IntentStatus.SUCCEEDED:
        if repository.issue_for_intent(session, intent.id, now):
            log.info("voucher_issued", intent=str(intent.id))
        return
    if intent.status in (IntentStatus.CANCELED, IntentStatus.FAILED) and repository.cancel_for_intent(
        session, intent.id, now
    ):
        voucher = repository.voucher_by_intent(session, intent.id)
        if voucher is not None:
            repository.release_unit(session, voucher.deal_id)
            log.info("voucher_canceled", voucher=str(voucher.id), intent_status=intent.status)


# ---------------------------------------------------------------------------------------------------- my vouchers


def my_vouchers(
    session: Session,
    settings: Settings,
    owner_id: uuid.UUID,
    *,
    cursor: str | None = None,
    limit: int = 20,
    statuses: list[str] | None = None,
) -> tuple[list[VoucherView], str | None]:
    rows, next_cursor = repository.page_of_vouchers(session, owner_id, cursor=cursor, limit=limit, statuses=statuses)
    deals = repository.deals_by_id(session, [v.deal_id for v in rows])
    store_ids = repository.deals_store_ids(session, list(deals))
    views = {deal_id: _view(session, deal, store_ids[deal_id]) for deal_id, deal in deals.items()}
    return [_voucher_view(session, settings, v, views[v.deal_id]) for v in rows], next_cursor


def my_voucher(session: Session, settings: Settings, voucher_id: uuid.UUID, owner_id: uuid.UUID) -> VoucherView:
    voucher = repository.get_voucher(session, voucher_id)
    if voucher is None or voucher.owner_person_id != owner_id:
        raise e.voucher_not_found()
    return _voucher_view(session, settings, voucher)


def refund_voucher(
    session: Session, settings: Settings, voucher_id: uuid.UUID, owner_id: uuid.UUID, now: dt.datetime | None = None
) -> VoucherView:
    """The owner gives an unused voucher back: what was paid returns to their wallet at once. A retry answers the
    same; a redeemed voucher cannot be refunded."""
    now = _now(now)
    voucher = repository.get_voucher(session, voucher_id)
    if voucher is None or voucher.owner_person_id != owner_id:
        raise e.voucher_not_found()
    with session.begin_nested():
        _refund(session, voucher, RefundReason.REQUESTED, owner_id, now)
    return my_voucher(session, settings, voucher_id, owner_id)


def _refund(
    session: Session, voucher: Voucher, reason: RefundReason, requested_by: uuid.UUID | None, now: dt.datetime
) -> bool:
    """issued -> refunded, the unit back to the deal, and the money back to the wallet. False if it was refunded
    already; the voucher's state refuses anything else."""
    extra: list[Any] = []
    if reason == RefundReason.EXPIRED:
        extra.append(Voucher.valid_until <= now)
    moved = repository.transition(
        session, voucher.id, VoucherStatus.ISSUED.value, VoucherStatus.REFUNDED.value, now, *extra,
        refunded_at=now, refund_reason=reason.value, limit_slot=None,
    )
    if not moved:
        current = repository.get_voucher(session, voucher.id)
        assert current is not None
        if current.status == VoucherStatus.REFUNDED:
            return False
        raise _refusal_for(current)
    repository.release_unit(session, voucher.deal_id)
    if voucher.intent_id is not None:
        intent = payments.get_intent(session, voucher.intent_id)
        left = intent.amount - intent.refunded_amount
        if left > 0:
            payments.refund(
                session, intent.id, refund_no=f"voucher-{voucher.id}", amount=left,
                reason="voucher expired unused" if reason == RefundReason.EXPIRED else "voucher refunded by its owner",
                to_wallet=True, requested_by=requested_by, now=now,
            )
    log.info("voucher_refunded", voucher=str(voucher.id), reason=reason.value)
    return True


def _refusal_for(voucher: Voucher) -> AppError:
    """Why a voucher in this state cannot be used, refunded or redeemed (for a caller that expected ``issued``)."""
    match voucher.status:
        case VoucherStatus.REDEEMED:
            return e.voucher_already_redeemed()
        case VoucherStatus.REFUNDED:
            return e.voucher_expired() if voucher.refund_reason == RefundReason.EXPIRED else e.voucher_refunded()
        case VoucherStatus.PENDING | VoucherStatus.CANCELED:
            return e.voucher_not_paid()
    return e.voucher_expired()  # issued, yet the conditional update refused: its validity ended meanwhile


# ---------------------------------------------------------------------------------------------------- in the shop


def _scanned(session: Session, settings: Settings, text: str) -> Voucher:
    """The voucher a scan (a signed QR payload typed by a scanner) or a typed short code names."""
    text = text.strip()
    if signing.looks_signed(text):
        try:
            ticket = signing.verify(signing.public_key(settings.secret_key), text)
        except signing.Forged:
            raise e.voucher_forged() from None
        voucher = repository.get_voucher(session, ticket.voucher_id)
        if voucher is None:
            raise e.voucher_not_found()
        if voucher.code != ticket.code or voucher.deal_id != ticket.deal_id:
            raise e.voucher_forged()
    else:
        code = rules.parse_code(text)
        voucher = repository.voucher_by_code(session, code) if code is not None else None
        if voucher is None:
            raise e.voucher_not_found()
    if voucher.status in (VoucherStatus.PENDING, VoucherStatus.CANCELED):
        raise e.voucher_not_found()  # never shown to anyone: as good as unknown
    return voucher


def _check_usable_here(
    session: Session, voucher: Voucher, deal: DealView, store_id: uuid.UUID, now: dt.datetime
) -> None:
    if store_id not in deal.store_ids:
        raise e.voucher_not_for_this_store()
    if voucher.status != VoucherStatus.ISSUED:
        raise _refusal_for(voucher)
    if voucher.intent_id is not None:
        intent = payments.get_intent(session, voucher.intent_id)
        if intent.refunded_amount >= intent.amount:  # given back through the wallet's own refund door
            raise e.voucher_refunded()
    refusal = rules.usable_refusal(deal.rules, voucher.valid_from, voucher.valid_until, now,
                                   city_timezone(session, voucher.city_id))
    if refusal == rules.Refusal.EXPIRED:
        raise e.voucher_expired()
    if refusal == rules.Refusal.NOT_USABLE_NOW:
        raise e.voucher_not_usable_now()


def check_voucher(
    session: Session, settings: Settings, store_id: uuid.UUID, scanned: str, now: dt.datetime | None = None
) -> VoucherView:
    """What a scanned voucher is for, if it can be redeemed in this store now; else the reason (its code)."""
    now = _now(now)
    voucher = _scanned(session, settings, scanned)
    deal = _view(session, _deal_of(session, voucher))
    _check_usable_here(session, voucher, deal, store_id, now)
    return _voucher_view(session, settings, voucher, deal)


def redeem(
    session: Session,
    settings: Settings,
    store_id: uuid.UUID,
    scanned: str,
    staff_id: uuid.UUID,
    now: dt.datetime | None = None,
) -> VoucherView:
    """Redeem the voucher in this store, once. A second redemption (a twin scan, another till) gets
    ``voucher_already_redeemed``; a redemption racing a refund or the expiry gets what the winner left."""
    now = _now(now)
    voucher = _scanned(session, settings, scanned)
    deal = _view(session, _deal_of(session, voucher))
    _check_usable_here(session, voucher, deal, store_id, now)
    moved = repository.transition(
        session, voucher.id, VoucherStatus.ISSUED.value, VoucherStatus.REDEEMED.value, now,
        Voucher.valid_from <= now, Voucher.valid_until > now,
        redeemed_at=now, redeemed_store_id=store_id, redeemed_by=staff_id,
    )
    current = repository.get_voucher(session, voucher.id)
    assert current is not None
    if not moved:
        raise _refusal_for(current)
    log.info("voucher_redeemed", voucher=str(voucher.id), store=str(store_id))
    return _voucher_view(session, settings, current, deal)


def undo_redemption(
    session: Session,
    settings: Settings,
    store_id: uuid.UUID,
    voucher_id: uuid.UUID,
    staff_id: uuid.UUID,
    now: dt.datetime | None = None,
) -> VoucherView:
    """Take back a redemption made in this store, within the undo window and before settlement: the voucher is
    issued again, as if never scanned."""
    now = _now(now)
    voucher = repository.get_voucher(session, voucher_id)
    if voucher is None or voucher.status in (VoucherStatus.PENDING, VoucherStatus.CANCELED):
        raise e.voucher_not_found()
    deal = _view(session, _deal_of(session, voucher))
    if store_id not in deal.store_ids:
        raise e.voucher_not_found()  # another store's voucher: nothing to tell
    if voucher.status != VoucherStatus.REDEEMED or voucher.redeemed_store_id != store_id:
        raise e.voucher_not_redeemed()
    cutoff = now - undo_window(settings)
    moved = repository.transition(
        session, voucher.id, VoucherStatus.REDEEMED.value, VoucherStatus.ISSUED.value, now,
        Voucher.redeemed_store_id == store_id, Voucher.settled_at.is_(None), Voucher.redeemed_at > cutoff,
        redeemed_at=None, redeemed_store_id=None, redeemed_by=None,
    )
    current = repository.get_voucher(session, voucher.id)
    assert current is not None
    if not moved:
        if current.status != VoucherStatus.REDEEMED:
            raise e.voucher_not_redeemed()
        raise e.undo_window_passed()
    log.info("voucher_redemption_undone", voucher=str(voucher.id), store=str(store_id), by=str(staff_id))
    return _voucher_view(session, settings, current, deal)


def recent_redemptions(
    session: Session, settings: Settings, store_id: uuid.UUID, now: dt.datetime | None = None, limit: int = 20
) -> list[VoucherView]:
    """The store's redemptions of the last day, newest first (the console's list, with undo where still allowed)."""
    rows = repository.recent_redemptions(session, store_id, _now(now) - RECENT_REDEMPTIONS, limit)
    deals = repository.deals_by_id(session, [v.deal_id for v in rows])
    store_ids = repository.deals_store_ids(session, list(deals))
    views = {deal_id: _view(session, deal, store_ids[deal_id]) for deal_id, deal in deals.items()}
    return [_voucher_view(session, settings, v, views[v.deal_id]) for v in rows]


# ---------------------------------------------------------------------------------------------------- jobs


def expire_vouchers(session: Session, now: dt.datetime | None = None, limit: int = JOB_BATCH) -> int:
    """Refund, to their owners' wallets, the issued vouchers whose validity has ended. Each in a savepoint: one that
    cannot be refunded now (logged) does not hold up the others. Safe with several workers: the conditional
    ``issued -> refunded`` lets one of them do each."""
    now = _now(now)
    done = 0
    for voucher_id in repository.due_for_expiry(session, now, limit):
        voucher = repository.get_voucher(session, voucher_id)
        if voucher is None:
            continue
        try:
            with session.begin_nested():
                done += _refund(session, voucher, RefundReason.EXPIRED, None, now)
        except AppError as refused:
            log.warning("voucher_expiry_refund_refused", voucher=str(voucher_id), code=refused.code)
    return done


def settle_redeemed(
    session: Session, settings: Settings | None, now: dt.datetime | None = None, limit: int = JOB_BATCH
) -> int:
    """Pay the merchant for redemptions whose undo window has passed: ``payments.settle`` (the merchant's share and
    the platform's commission at the merchant's rate), once per voucher."""
    now = _now(now)
    cutoff = now - undo_window(settings)
    done = 0
    for voucher_id, intent_id in repository.due_for_settlement(session, cutoff, limit):
        try:
            with session.begin_nested():
                if repository.mark_settled(session, voucher_id, cutoff, now):
                    payments.settle(session, intent_id, now=now)
                    done += 1
        except AppError as refused:
            log.warning("voucher_settlement_refused", voucher=str(voucher_id), code=refused.code)
    return done


# ---------------------------------------------------------------------------------------------------- figures


def voucher_sales(
    session: Session, store_id: uuid.UUID, start_utc: dt.datetime, end_utc: dt.datetime
) -> tuple[int, int]:
    """Vouchers of the store's deals paid for in ``[start_utc, end_utc)`` and their amount in fen (gross: a voucher
    refunded later still counts as sold when it was)."""
    return repository.sales_in(session, store_id, start_utc, end_utc)


def voucher_redemptions(
    session: Session, store_id: uuid.UUID, start_utc: dt.datetime, end_utc: dt.datetime
) -> tuple[int, int]:
    """Vouchers redeemed in the store in ``[start_utc, end_utc)`` (undone ones not counted) and their amount."""
    return repository.redemptions_in(session, store_id, start_utc, end_utc)
