"""Accounts tables: people, one-time codes, sessions (tokens), role grants, favourites.

Secrets are never stored in clear: codes and tokens as hashes (an HMAC for the 6-digit codes, whose space is
small enough to search), passwords as scrypt hashes, identity numbers as a keyed hash plus a masked form.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from o2o.db import Base, CreatedAtMixin, IdMixin


class Person(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "people"

    phone_e164: Mapped[str] = mapped_column(String(16), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(50))
    locale: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    home_city_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("cities.id", ondelete="SET NULL"), index=True
    )
    # Password sign-in is optional (scrypt, see passwords.py). Wrong passwords are counted; too many in a row
    # lock password sign-in for a while (a text-message code still works).
    password_hash: Mapped[str | None] = mapped_column(String(200))
    failed_password_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    password_locked_until: Mapped[dt.datetime | None] = mapped_column()
    # Real-name verification (resident identity number): the number itself is never stored.
    real_name: Mapped[str | None] = mapped_column(String(50))
    id_number_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # HMAC-SHA256, hex
    id_number_masked: Mapped[str | None] = mapped_column(String(18))  # 110105********1234
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    verified_at: Mapped[dt.datetime | None] = mapped_column()

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


class OtpCode(IdMixin, CreatedAtMixin, Base):
    """A one-time sign-in code sent by text message.

    ``seq`` numbers the codes of one phone (1, 2, 3 ...); the unique (phone, seq) pair makes two concurrent
    requests for a code conflict, which is how the hourly limit holds without locks on both databases.
    Only the newest code of a phone is accepted.
    """

    __tablename__ = "otp_codes"
    __table_args__ = (UniqueConstraint("phone_e164", "seq"),)

    phone_e164: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column(Integer)
    code_hash: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256(secret, id + code), hex
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column()


class AuthSession(IdMixin, CreatedAtMixin, Base):
    """A signed-in session: an opaque bearer token (API) or the ``o2o_session`` cookie (pages)."""

    __tablename__ = "auth_sessions"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the token, hex
    method: Mapped[str] = mapped_column(String(16))  # how the person proved who they are: otp | password
    channel: Mapped[str] = mapped_column(String(8))  # api (bearer token) | web (cookie)
    user_agent: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column()


def scope_key(city_id: Any, store_id: Any) -> str:
    """A non-null key for a grant's scope: unique constraints treat NULLs as distinct, so (person, role,
    NULL, NULL) could otherwise be inserted twice."""

    def part(value: Any) -> str:
        return "*" if value is None else uuid.UUID(str(value)).hex

    return f"{part(city_id)}:{part(store_id)}"


def _scope_key_default(context: Any) -> str:
    params = context.get_current_parameters()
    return scope_key(params.get("city_id"), params.get("store_id"))


class RoleGrant(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("person_id", "role", "scope_key"),)

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    city_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    store_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    scope_key: Mapped[str] = mapped_column(String(80), default=_scope_key_default)
    # Indexed: deleting people (a demo city's 100,000) otherwise scans role_grants once per person.
    granted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)


class Favourite(IdMixin, CreatedAtMixin, Base):
    """A store, deal or home a person saved. ``city_id`` is the target's city."""

    __tablename__ = "favourites"
    __table_args__ = (
        UniqueConstraint("person_id", "kind", "target_id"),
        Index("ix_favourites_person_id_id", "person_id", "id"),
    )

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[uuid.UUID] = mapped_column()
    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
