"""Favourites: the stores, deals and homes a person saved.

The accounts domain does not know those tables. Each domain registers a resolver for its kind at import time:

    from o2o.accounts.favourites import register_favourite_target

    register_favourite_target("store", lambda session, store_id: session.scalar(
        select(Store.city_id).where(Store.id == store_id)))

A resolver returns the target's city id, or None when there is no such target. A kind nobody registered yet
(deals and homes, until those domains land) is refused with ``favourite_kind_unavailable``. The store
resolver also lets role grants check that a store exists in the city a store role names.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from o2o.accounts import errors, repository
from o2o.accounts.models import Favourite
from o2o.kit.pagination import DEFAULT_LIMIT, paginate

KINDS = ("store", "deal", "home")


@dataclass(frozen=True, slots=True)
class Target:
    """How a saved target is shown in the person's list of favourites."""

    title: str
    url: str | None = None


Resolver = Callable[[Session, uuid.UUID], uuid.UUID | None]
Describer = Callable[[Session, list[uuid.UUID]], dict[uuid.UUID, Target]]
_resolvers: dict[str, Resolver] = {}
_describers: dict[str, Describer] = {}


def register_favourite_target(kind: str, resolve: Resolver, *, describe: Describer | None = None) -> None:
    """Let people save targets of ``kind``. ``describe`` (optional) gives titles and links for many ids at once,
    for the profile page; without it the page shows the kind and a short id."""
    if kind not in KINDS:
        raise ValueError(f"unknown favourite kind {kind!r}; the kinds are {', '.join(KINDS)}")
    _resolvers[kind] = resolve
    if describe is not None:
        _describers[kind] = describe
    else:
        _describers.pop(kind, None)


def unregister_favourite_target(kind: str) -> None:
    _resolvers.pop(kind, None)
    _describers.pop(kind, None)


def describe(session: Session, kind: str, target_ids: list[uuid.UUID]) -> dict[uuid.UUID, Target]:
    describer = _describers.get(kind)
    found = describer(session, target_ids) if describer is not None and target_ids else {}
    return {t: found.get(t) or Target(title=f"{kind} {t.hex[-8:]}") for t in target_ids}


def is_available(kind: str) -> bool:
    return kind in _resolvers


def resolve_city(session: Session, kind: str, target_id: uuid.UUID) -> uuid.UUID | None:
    """The target's city, or None if it does not exist; ``favourite_kind_unavailable`` for unknown kinds."""
    resolver = _resolvers.get(kind)
    if resolver is None:
        raise errors.favourite_kind_unavailable(kind)
    return resolver(session, target_id)


@dataclass(frozen=True, slots=True)
class Saved:
    favourite: Favourite
    created: bool


def add_favourite(session: Session, person_id: uuid.UUID, kind: str, target_id: uuid.UUID) -> Saved:
    """Save a target (idempotent: saving it again changes nothing and says ``created=False``)."""
    city_id = resolve_city(session, kind, target_id)
    if city_id is None:
        raise errors.favourite_target_not_found(kind)
    created = repository.insert_favourite_if_new(
        session, person_id=person_id, kind=kind, target_id=target_id, city_id=city_id
    )
    favourite = repository.find_favourite(session, person_id, kind, target_id)
    assert favourite is not None  # inserted now, or by an earlier (committed) request
    return Saved(favourite, created)


def remove_favourite(session: Session, person_id: uuid.UUID, kind: str, target_id: uuid.UUID) -> bool:
    """Forget a saved target; True when it was saved (removing twice is not an error)."""
    return repository.delete_favourite(session, person_id, kind, target_id)


def list_favourites(
    session: Session,
    person_id: uuid.UUID,
    *,
    kind: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> tuple[list[Favourite], str | None]:
    """The person's favourites, most recently saved first, one page at a time."""
    rows, next_cursor = paginate(
        session, repository.favourites_query(person_id, kind), Favourite.id, cursor=cursor, limit=limit
    )
    return list(rows), next_cursor


def saved_targets(
    session: Session, person_id: uuid.UUID | None, kind: str, target_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these targets the person saved (for pages drawing filled or empty favourite buttons)."""
    if person_id is None:
        return set()
    return repository.favourited_targets(session, person_id, kind, target_ids)
