"""All of the accounts domain's SQL. Writes that race use what works on both databases: conditional UPDATEs
with a row-count check, and INSERT ... ON CONFLICT DO NOTHING against the unique constraints."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from o2o.accounts.models import AuthSession, Favourite, OtpCode, Person, RoleGrant, scope_key
from o2o.db import transaction_memo


def _insert_ignore(session: Session, model: Any, values: dict[str, Any], conflict: list[str]) -> bool:
    """INSERT ... ON CONFLICT (conflict) DO NOTHING; True when the row was inserted.

    On PostgreSQL a concurrent insert of the same key makes this wait for the other transaction, then do
    nothing if it committed; on SQLite writers are serialised (BEGIN IMMEDIATE), so it finds the row.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict).returning(model.id)
    # RETURNING rather than rowcount: drivers report -1 for an INSERT whose key the dialect fetched itself.
    return session.execute(stmt).first() is not None


def _no_sync(stmt: Any) -> Any:
    return stmt.execution_options(synchronize_session=False)


# --------------------------------------------------------------------------------------------------------------
# Cities (read only: whether one exists, its time zone). The cities domain owns the table.


def count_people(session: Session, home_city_id: uuid.UUID) -> int:
    return session.scalar(select(func.count()).select_from(Person).where(Person.home_city_id == home_city_id)) or 0


# --------------------------------------------------------------------------------------------------------------
# People


def get_person(session: Session, person_id: uuid.UUID) -> Person | None:
    return session.get(Person, person_id)


def person_by_phone(session: Session, phone_e164: str) -> Person | None:
    return session.scalar(select(Person).where(Person.phone_e164 == phone_e164))


def person_by_id_number_hash(session: Session, id_hash: str) -> Person | None:
    return session.scalar(select(Person).where(Person.id_number_hash == id_hash))


def insert_person_if_new(session: Session, *, phone_e164: str, display_name: str | None, locale: str) -> bool:
    return _insert_ignore(
        session,
        Person,
        {"phone_e164": phone_e164, "display_name": display_name, "locale": locale},
        ["phone_e164"],
    )


def count_password_failure(session: Session, person_id: uuid.UUID) -> int:
    """Add one wrong password to the person's count, atomically; returns the new count."""
    session.execute(
        _no_sync(
            update(Person)
            .where(Person.id == person_id)
            .values(failed_password_attempts=Person.failed_password_attempts + 1)
        )
    )
    return session.scalar(select(Person.failed_password_attempts).where(Person.id == person_id)) or 0


def lock_password(session: Session, person_id: uuid.UUID, until: dt.datetime) -> None:
    session.execute(
        _no_sync(
            update(Person)
            .where(Person.id == person_id)
            .values(password_locked_until=until, failed_password_attempts=0)
        )
    )


def mark_verified(
    session: Session,
    person_id: uuid.UUID,
    *,
    real_name: str,
    id_number_hash: str,
    id_number_masked: str,
    birth_date: dt.date,
    at: dt.datetime,
) -> bool:
    """Record the real name unless the person is already verified; True when this call did it."""
    result = session.execute(
        _no_sync(
            update(Person)
            .where(Person.id == person_id, Person.verified_at.is_(None))
            .values(
                real_name=real_name,
                id_number_hash=id_number_hash,
                id_number_masked=id_number_masked,
                birth_date=birth_date,
                verified_at=at,
            )
        )
    )
    return result.rowcount == 1


# --------------------------------------------------------------------------------------------------------------
# Role grants


def grants_for(session: Session, person_id: uuid.UUID) -> Sequence[RoleGrant]:
    """A person's grants, read once per unit of work: authentication and the profile both need them, and every
    change to grants goes through this module, which forgets the memo."""
    memo = transaction_memo(session, "accounts.grants")
    if person_id not in memo:
        memo[person_id] = session.scalars(
            select(RoleGrant).where(RoleGrant.person_id == person_id).order_by(RoleGrant.id)
        ).all()
    return memo[person_id]


def _forget_grants(session: Session, person_id: uuid.UUID) -> None:
    transaction_memo(session, "accounts.grants").pop(person_id, None)


def _grant_where(
    person_id: uuid.UUID, role: str, city_id: uuid.UUID | None, store_id: uuid.UUID | None
) -> Any:
    return (
        RoleGrant.person_id == person_id,
        RoleGrant.role == role,
        RoleGrant.scope_key == scope_key(city_id, store_id),
    )


def insert_grant_if_new(
    session: Session,
    *,
    person_id: uuid.UUID,
    role: str,
    city_id: uuid.UUID | None,
    store_id: uuid.UUID | None,
    granted_by: uuid.UUID | None,
) -> bool:
    _forget_grants(session, person_id)
    return _insert_ignore(
        session,
        RoleGrant,
        {
            "person_id": person_id,
            "role": role,
            "city_id": city_id,
            "store_id": store_id,
            "scope_key": scope_key(city_id, store_id),
            "granted_by": granted_by,
        },
        ["person_id", "role", "scope_key"],
    )


def find_grant(
    session: Session, person_id: uuid.UUID, role: str, city_id: uuid.UUID | None, store_id: uuid.UUID | None
) -> RoleGrant | None:
    return session.scalar(select(RoleGrant).where(*_grant_where(person_id, role, city_id, store_id)))


def delete_grant(
    session: Session, person_id: uuid.UUID, role: str, city_id: uuid.UUID | None, store_id: uuid.UUID | None
) -> bool:
    result = session.execute(
        _no_sync(delete(RoleGrant).where(*_grant_where(person_id, role, city_id, store_id)))
    )
    _forget_grants(session, person_id)
    return result.rowcount == 1


# --------------------------------------------------------------------------------------------------------------
# One-time codes


def latest_codes(session: Session, phone_e164: str, limit: int) -> Sequence[OtpCode]:
    stmt = select(OtpCode).where(OtpCode.phone_e164 == phone_e164).order_by(OtpCode.seq.desc()).limit(limit)
    return session.scalars(stmt).all()


def latest_code(session: Session, phone_e164: str) -> OtpCode | None:
    codes = latest_codes(session, phone_e164, 1)
    return codes[0] if codes else None


def count_attempt(session: Session, code_id: uuid.UUID, *, max_attempts: int, at: dt.datetime) -> bool:
    """Spend one try of a live code. False when the code is used, expired or out of tries.

    The condition is re-checked against the newest committed row by each UPDATE (PostgreSQL re-evaluates
    the WHERE after waiting for a concurrent writer's row lock), so concurrent tries never exceed the limit.
    """
    result = session.execute(
        _no_sync(
            update(OtpCode)
            .where(
                OtpCode.id == code_id,
                OtpCode.used_at.is_(None),
                OtpCode.expires_at > at,
                OtpCode.attempts < max_attempts,
            )
            .values(attempts=OtpCode.attempts + 1)
        )
    )
    return result.rowcount == 1


def mark_code_used(session: Session, code_id: uuid.UUID, at: dt.datetime) -> bool:
    result = session.execute(
        _no_sync(update(OtpCode).where(OtpCode.id == code_id, OtpCode.used_at.is_(None)).values(used_at=at))
    )
    return result.rowcount == 1


def purge_codes(session: Session, expired_before: dt.datetime) -> int:
    result = session.execute(_no_sync(delete(OtpCode).where(OtpCode.expires_at < expired_before)))
    return result.rowcount or 0


# --------------------------------------------------------------------------------------------------------------
# Sessions


def session_by_token_hash(session: Session, token_hash: str) -> tuple[AuthSession, Person] | None:
    """The session row and its person in one query: nearly every authenticated request reads the person next."""
    row = session.execute(
        select(AuthSession, Person)
        .join(Person, Person.id == AuthSession.person_id)
        .where(AuthSession.token_hash == token_hash)
    ).first()
    return None if row is None else (row[0], row[1])


def active_sessions(session: Session, person_id: uuid.UUID, at: dt.datetime) -> Sequence[AuthSession]:
    stmt = (
        select(AuthSession)
        .where(
            AuthSession.person_id == person_id, AuthSession.revoked_at.is_(None), AuthSession.expires_at > at
        )
        .order_by(AuthSession.id.desc())
    )
    return session.scalars(stmt).all()


def revoke_session(session: Session, session_id: uuid.UUID, person_id: uuid.UUID, at: dt.datetime) -> bool:
    """Revoke one of the person's live sessions; False when there is none with this id (or not theirs)."""
    result = session.execute(
        _no_sync(
            update(AuthSession)
            .where(
                AuthSession.id == session_id,
                AuthSession.person_id == person_id,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > at,
            )
            .values(revoked_at=at)
        )
    )
    return result.rowcount == 1


def purge_sessions(session: Session, at: dt.datetime) -> int:
    stmt = delete(AuthSession).where(or_(AuthSession.expires_at <= at, AuthSession.revoked_at.is_not(None)))
    return session.execute(_no_sync(stmt)).rowcount or 0


# --------------------------------------------------------------------------------------------------------------
# Favourites


def insert_favourite_if_new(
    session: Session, *, person_id: uuid.UUID, kind: str, target_id: uuid.UUID, city_id: uuid.UUID
) -> bool:
    return _insert_ignore(
        session,
        Favourite,
        {"person_id": person_id, "kind": kind, "target_id": target_id, "city_id": city_id},
        ["person_id", "kind", "target_id"],
    )


def find_favourite(
    session: Session, person_id: uuid.UUID, kind: str, target_id: uuid.UUID
) -> Favourite | None:
    return session.scalar(
        select(Favourite).where(
            Favourite.person_id == person_id, Favourite.kind == kind, Favourite.target_id == target_id
        )
    )


def delete_favourite(session: Session, person_id: uuid.UUID, kind: str, target_id: uuid.UUID) -> bool:
    stmt = delete(Favourite).where(
        Favourite.person_id == person_id, Favourite.kind == kind, Favourite.target_id == target_id
    )
    return session.execute(_no_sync(stmt)).rowcount == 1


def favourites_query(person_id: uuid.UUID, kind: str | None) -> Select[Any]:
    stmt = select(Favourite).where(Favourite.person_id == person_id)
    if kind is not None:
        stmt = stmt.where(Favourite.kind == kind)
    return stmt


def favourited_targets(
    session: Session, person_id: uuid.UUID, kind: str, target_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    ids = list(target_ids)
    if not ids:
        return set()
    stmt = select(Favourite.target_id).where(
        Favourite.person_id == person_id, Favourite.kind == kind, Favourite.target_id.in_(ids)
    )
    return set(session.scalars(stmt))
