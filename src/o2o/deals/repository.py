"""All SQL for deals and vouchers. Every state change is a conditional UPDATE; callers check what it returns."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from o2o.deals.models import Deal, DealStore, Voucher
from o2o.deals.rules import Line
from o2o.deals.state import VoucherStatus
from o2o.kit.pagination import paginate

ISSUED, REDEEMED, PENDING = VoucherStatus.ISSUED.value, VoucherStatus.REDEEMED.value, VoucherStatus.PENDING.value


def _update(session: Session, model: Any, *where: Any, **values: Any) -> int:
    result = session.execute(
        update(model).where(*where).values(**values).execution_options(synchronize_session=False)
    )
    return result.rowcount


# ---------------------------------------------------------------------------------------------------- stores
# The stores domain offers ``store_for_sale`` only; which merchant a store belongs to is read here, from its table.


def merchant_stores(session: Session, store_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID]]:
    """store id -> (merchant id, city id), for the stores that exist."""
    from o2o.stores.models import Store

    rows = session.execute(select(Store.id, Store.merchant_id, Store.city_id).where(Store.id.in_(list(store_ids))))
    return {store_id: (merchant_id, city_id) for store_id, merchant_id, city_id in rows}


def store_names(session: Session, store_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str]]:
    """store id -> (name, address)."""
    from o2o.stores.models import Store

    if not store_ids:
        return {}
    rows = session.execute(select(Store.id, Store.name, Store.address).where(Store.id.in_(list(store_ids))))
    return {store_id: (name, address) for store_id, name, address in rows}


def sibling_stores(session: Session, store_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """(id, name) of the other stores of this store's merchant in its city, by name."""
    from o2o.stores.models import Store

    mine = select(Store.merchant_id, Store.city_id).where(Store.id == store_id).subquery()
    rows = session.execute(
        select(Store.id, Store.name)
        .join(mine, and_(Store.merchant_id == mine.c.merchant_id, Store.city_id == mine.c.city_id))
        .where(Store.id != store_id)
        .order_by(Store.name, Store.id)
    )
    return [(row_id, name) for row_id, name in rows]


# ---------------------------------------------------------------------------------------------------- deals


def encode_lines(lines: Sequence[Line]) -> str:
    return json.dumps([[line.name, line.quantity] for line in lines], ensure_ascii=False, separators=(",", ":"))


def decode_lines(text: str) -> tuple[Line, ...]:
    return tuple(Line(str(name), int(quantity)) for name, quantity in json.loads(text))


def get_deal(session: Session, deal_id: uuid.UUID) -> Deal | None:
    return session.get(Deal, deal_id, populate_existing=True)


def deal_store_ids(session: Session, deal_id: uuid.UUID) -> list[uuid.UUID]:
    return list(session.scalars(select(DealStore.store_id).where(DealStore.deal_id == deal_id).order_by(DealStore.store_id)))


def deals_store_ids(session: Session, deal_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    out: dict[uuid.UUID, list[uuid.UUID]] = {deal_id: [] for deal_id in deal_ids}
    if not deal_ids:
        return out
    rows = session.execute(
        select(DealStore.deal_id, DealStore.store_id)
        .where(DealStore.deal_id.in_(list(deal_ids)))
        .order_by(DealStore.deal_id, DealStore.store_id)
    )
    for deal_id, store_id in rows:
        out[deal_id].append(store_id)
    return out


def deals_by_id(session: Session, deal_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Deal]:
    if not deal_ids:
        return {}
    return {d.id: d for d in session.scalars(select(Deal).where(Deal.id.in_(list(set(deal_ids)))))}


def add_deal(session: Session, deal: Deal, store_ids: Sequence[uuid.UUID]) -> None:
    session.add(deal)
    session.flush()
    session.add_all([DealStore(deal_id=deal.id, store_id=s, city_id=deal.city_id) for s in store_ids])
    session.flush()


def page_of_deals(
    session: Session,
    *,
    city_id: uuid.UUID | None = None,
    store_id: uuid.UUID | None = None,
    home_store_id: uuid.UUID | None = None,
    on_sale_at: dt.datetime | None,
    statuses: Sequence[str],
    cursor: str | None,
    limit: int,
    newest_first: bool = True,
) -> tuple[Sequence[Deal], str | None]:
    stmt = select(Deal).where(Deal.status.in_(list(statuses)))
    if city_id is not None:
        stmt = stmt.where(Deal.city_id == city_id)
    if store_id is not None:
        stmt = stmt.where(Deal.id.in_(select(DealStore.deal_id).where(DealStore.store_id == store_id)))
    if home_store_id is not None:
        stmt = stmt.where(Deal.store_id == home_store_id)
    if on_sale_at is not None:
        stmt = stmt.where(Deal.sale_starts_at <= on_sale_at, Deal.sale_ends_at > on_sale_at)
    rows, next_cursor = paginate(session, stmt, Deal.id, cursor=cursor, limit=limit, newest_first=newest_first)
    return list(rows), next_cursor


def set_deal_status(
    session: Session, deal_id: uuid.UUID, expected: Sequence[str], new: str, now: dt.datetime, **values: Any
) -> bool:
    return _update(session, Deal, Deal.id == deal_id, Deal.status.in_(list(expected)), status=new, updated_at=now,
                   **values) == 1


def take_unit(session: Session, deal_id: uuid.UUID, now: dt.datetime) -> bool:
    """One unit of a published deal on sale now, if any is left (never more than ``quantity_total``)."""
    return _update(
        session,
        Deal,
        Deal.id == deal_id,
        Deal.status == "published",
        Deal.sale_starts_at <= now,
        Deal.sale_ends_at > now,
        or_(Deal.quantity_total.is_(None), Deal.quantity_sold < Deal.quantity_total),
        quantity_sold=Deal.quantity_sold + 1,
    ) == 1


def release_unit(session: Session, deal_id: uuid.UUID) -> None:
    """Give a unit back. Called only by the one transition that took the voucher out of holding it."""
    _update(session, Deal, Deal.id == deal_id, Deal.quantity_sold > 0, quantity_sold=Deal.quantity_sold - 1)


# ---------------------------------------------------------------------------------------------------- vouchers


def get_voucher(session: Session, voucher_id: uuid.UUID) -> Voucher | None:
    return session.get(Voucher, voucher_id, populate_existing=True)


def voucher_by_code(session: Session, code: str) -> Voucher | None:
    return session.scalar(select(Voucher).where(Voucher.code == code).execution_options(populate_existing=True))


def voucher_by_intent(session: Session, intent_id: uuid.UUID) -> Voucher | None:
    return session.scalar(
        select(Voucher).where(Voucher.intent_id == intent_id).execution_options(populate_existing=True)
    )


def code_taken(session: Session, code: str) -> bool:
    return session.scalar(select(Voucher.id).where(Voucher.code == code)) is not None


def used_slots(session: Session, deal_id: uuid.UUID, owner_id: uuid.UUID) -> set[int]:
    return set(
        session.scalars(
            select(Voucher.limit_slot).where(
                Voucher.deal_id == deal_id, Voucher.owner_person_id == owner_id, Voucher.limit_slot.is_not(None)
            )
        )
    )


def page_of_vouchers(
    session: Session, owner_id: uuid.UUID, *, cursor: str | None, limit: int, statuses: Sequence[str] | None = None
) -> tuple[Sequence[Voucher], str | None]:
    stmt = select(Voucher).where(Voucher.owner_person_id == owner_id)
    if statuses:
        stmt = stmt.where(Voucher.status.in_(list(statuses)))
    rows, next_cursor = paginate(session, stmt, Voucher.id, cursor=cursor, limit=limit, newest_first=True)
    return list(rows), next_cursor


def recent_redemptions(session: Session, store_id: uuid.UUID, since: dt.datetime, limit: int) -> list[Voucher]:
    return list(
        session.scalars(
            select(Voucher)
            .where(Voucher.redeemed_store_id == store_id, Voucher.status == REDEEMED, Voucher.redeemed_at >= since)
            .order_by(Voucher.redeemed_at.desc())
            .limit(limit)
        )
    )


def transition(
    session: Session, voucher_id: uuid.UUID, expected: str, new: str, now: dt.datetime, *where: Any, **values: Any
) -> bool:
    """Move the voucher ``expected`` -> ``new`` if it is still ``expected`` (and ``where`` holds)."""
    return _update(
        session,
        Voucher,
        Voucher.id == voucher_id,
        Voucher.status == expected,
        *where,
        status=new,
        version=Voucher.version + 1,
        updated_at=now,
        **values,
    ) == 1


def issue_for_intent(session: Session, intent_id: uuid.UUID, now: dt.datetime) -> bool:
    return _update(
        session, Voucher, Voucher.intent_id == intent_id, Voucher.status == PENDING,
        status=ISSUED, issued_at=now, version=Voucher.version + 1, updated_at=now,
    ) == 1


def cancel_for_intent(session: Session, intent_id: uuid.UUID, now: dt.datetime) -> bool:
    return _update(
        session, Voucher, Voucher.intent_id == intent_id, Voucher.status == PENDING,
        status=VoucherStatus.CANCELED.value, canceled_at=now, limit_slot=None, version=Voucher.version + 1,
        updated_at=now,
    ) == 1


def mark_settled(session: Session, voucher_id: uuid.UUID, cutoff: dt.datetime, now: dt.datetime) -> bool:
    """Claim a redeemed voucher for settlement: once, and only if its undo window had passed by ``cutoff``."""
    return _update(
        session, Voucher, Voucher.id == voucher_id, Voucher.status == REDEEMED, Voucher.settled_at.is_(None),
        Voucher.redeemed_at <= cutoff, settled_at=now, version=Voucher.version + 1, updated_at=now,
    ) == 1


def due_for_expiry(session: Session, now: dt.datetime, limit: int) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(Voucher.id)
            .where(Voucher.status == ISSUED, Voucher.valid_until <= now, Voucher.intent_id.is_not(None))
            .order_by(Voucher.valid_until)
            .limit(limit)
        )
    )


def due_for_settlement(session: Session, cutoff: dt.datetime, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    rows = session.execute(
        select(Voucher.id, Voucher.intent_id)
        .where(
            Voucher.status == REDEEMED,
            Voucher.settled_at.is_(None),
            Voucher.redeemed_at <= cutoff,
            Voucher.intent_id.is_not(None),
        )
        .order_by(Voucher.redeemed_at)
        .limit(limit)
    ).all()
    return [(voucher_id, intent_id) for voucher_id, intent_id in rows]


# ---------------------------------------------------------------------------------------------------- figures


def sales_in(session: Session, store_id: uuid.UUID, start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    row = session.execute(
        select(func.count(), func.coalesce(func.sum(Voucher.price), 0)).where(
            Voucher.store_id == store_id, Voucher.issued_at >= start, Voucher.issued_at < end
        )
    ).one()
    return int(row[0]), int(row[1])


def redemptions_in(session: Session, store_id: uuid.UUID, start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    row = session.execute(
        select(func.count(), func.coalesce(func.sum(Voucher.price), 0)).where(
            and_(
                Voucher.redeemed_store_id == store_id,
                Voucher.status == REDEEMED,
                Voucher.redeemed_at >= start,
                Voucher.redeemed_at < end,
            )
        )
    ).one()
    return int(row[0]), int(row[1])
