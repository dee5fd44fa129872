"""Accounts use cases: codes, sign-in, sessions, profile, passwords, real-name verification, roles.

Other domains call these functions (never the tables). They take the request's session and never commit.

**Failures that must be remembered.** A wrong code must count as a try even though the request fails; a
wrong password must count towards the lock. An exception would roll that record back with everything else,
so ``verify_code``, ``sign_in_with_code`` and ``sign_in_with_password`` *return* such failures (an
``AppError`` value) after recording them, and the caller renders them as its answer; the boundary then
commits the record. Everything else raises as usual.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from o2o import i18n
from o2o.accounts import errors, favourites, identity, passwords, phones, repository, sms
from o2o.accounts.models import AuthSession, OtpCode, Person, RoleGrant
from o2o.accounts.permissions import (
    Action,
    Principal,
    Resource,
    Role,
    authorize,
    can,
    grants_of,
    scope_error,
)
from o2o.cities import service as cities
from o2o.config import Settings
from o2o.errors import AppError
from o2o.kit.ids import uuid7
from o2o.kit.time import now

log = structlog.get_logger("o2o.accounts")

DEFAULT_TIMEZONE = "Asia/Shanghai"
RATE_WINDOW = dt.timedelta(hours=1)
PASSWORD_MAX_FAILURES = 10
PASSWORD_LOCK = dt.timedelta(minutes=15)
# A session signed in with a text-message code this recently may set a new password without the old one
# (that is how a forgotten password is replaced).
FRESH_OTP_SIGN_IN = dt.timedelta(minutes=10)
TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 256
LOCALES = {"en": "en", "zh-CN": "zh-CN", "zh": "zh-CN", "ko-KR": "ko-KR", "ko": "ko-KR"}
SUPPORTED_LOCALES = ("en", "zh-CN", "ko-KR")
CHANNELS = ("api", "web")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


# --------------------------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class CodeSent:
    phone_e164: str
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SignIn:
    token: str  # give it to the client once; only its hash is stored
    session: AuthSession
    person: Person
    created: bool  # True when this sign-in created the account (sign-up)


@dataclass(frozen=True, slots=True)
class Authenticated:
    """Who is calling, and how they signed in."""

    principal: Principal
    session_id: uuid.UUID
    method: str  # otp | password
    channel: str  # api | web
    signed_in_at: dt.datetime
    expires_at: dt.datetime
    # Held so the session's identity map (weakly referencing) keeps the person for the rest of the request.
    person: Person | None = field(default=None, repr=False, compare=False)

    @property
    def person_id(self) -> uuid.UUID:
        return self.principal.person_id


# --------------------------------------------------------------------------------------------------------------
# One-time codes


def _code_hash(secret: str, code_id: uuid.UUID, code: str) -> str:
    # Keyed, and bound to the row: a million possible codes are too few for a plain hash.
    message = f"o2o/otp/v1\n{code_id.hex}\n{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _sms_text(code: str, ttl_seconds: int) -> str:
    minutes = max(1, ttl_seconds // 60)
    return i18n.gettext(
        "o2o: your sign-in code is {code}. It expires in {minutes} minutes. Never share it."
    ).format(code=code, minutes=minutes)


def request_code(session: Session, settings: Settings, phone: str) -> CodeSent:
    """Send a 6-digit sign-in code by text message (through the outbox, in this transaction).

    At most ``otp_max_per_hour`` codes per phone in any hour: the oldest of the last N codes must be more
    than an hour old. Two concurrent requests compute the same next ``seq`` and the unique (phone, seq)
    constraint lets only one insert; the other looks again (inside a savepoint) and finds the limit or the
    next number.
    """
    phone_e164 = phones.parse_phone(phone, settings.default_region)
    limit = settings.otp_max_per_hour
    for _ in range(5):
        moment = now()
        recent = repository.latest_codes(session, phone_e164, limit)
        in_window = [c for c in recent if c.created_at > moment - RATE_WINDOW]
        if limit <= 0 or len(in_window) >= limit:
            oldest = in_window[-1].created_at if in_window else moment
            raise errors.otp_rate_limited((oldest + RATE_WINDOW - moment).total_seconds())
        code = f"{secrets.randbelow(10**6):06d}"
        code_id = uuid7()
        row = OtpCode(
            id=code_id,
            phone_e164=phone_e164,
            seq=(recent[0].seq + 1) if recent else 1,
            code_hash=_code_hash(settings.secret_key, code_id, code),
            attempts=0,
            expires_at=moment + dt.timedelta(seconds=settings.otp_ttl_seconds),
            created_at=moment,
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            continue  # a concurrent request took this number: look again
        sms.enqueue_sms(session, phone_e164, _sms_text(code, settings.otp_ttl_seconds))
        log.info("otp_sent", phone=phones.mask_phone(phone_e164), seq=row.seq)
        return CodeSent(phone_e164=phone_e164, expires_at=row.expires_at)
    raise errors.otp_rate_limited(1)


def verify_code(session: Session, settings: Settings, phone_e164: str, code: str) -> AppError | None:
    """Spend one try of the phone's newest code; None when ``code`` is right (the code is then used up).

    Returns (does not raise) the failure, so that the try it spent is committed with the answer.
    """
    row = repository.latest_code(session, phone_e164)
    if row is None:
        return errors.otp_invalid()
    moment = now()
    if not repository.count_attempt(session, row.id, max_attempts=settings.otp_max_attempts, at=moment):
        session.refresh(row)
        if row.used_at is not None:
            return errors.otp_already_used()
        if row.attempts >= settings.otp_max_attempts:
            return errors.otp_attempts_exceeded()
        return errors.otp_expired()
    expected = row.code_hash
    if not hmac.compare_digest(expected, _code_hash(settings.secret_key, row.id, code)):
        session.refresh(row)
        return errors.otp_invalid(attempts_left=max(settings.otp_max_attempts - row.attempts, 0))
    if not repository.mark_code_used(session, row.id, moment):
        return errors.otp_already_used()
    return None


# --------------------------------------------------------------------------------------------------------------
# Sign-in, sessions


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(
    session: Session,
    settings: Settings,
    person_id: uuid.UUID,
    *,
    method: str,
    channel: str = "api",
    user_agent: str | None = None,
) -> tuple[str, AuthSession]:
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {CHANNELS}")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    moment = now()
    row = AuthSession(
        person_id=person_id,
        token_hash=_token_hash(token),
        method=method,
        channel=channel,
        user_agent=(user_agent or None) and user_agent[:200],
        expires_at=moment + dt.timedelta(days=settings.session_ttl_days),
        created_at=moment,
    )
    session.add(row)
    session.flush()
    return token, row


def _normalise_locale(locale: str | None) -> str:
    if not locale:
        return "en"
    tag = locale.replace("_", "-")
    return LOCALES.get(tag, LOCALES.get(tag.split("-")[0], "en"))


def get_or_create_person(
    session: Session, phone_e164: str, *, display_name: str | None = None, locale: str | None = None
) -> tuple[Person, bool]:
    """The person with this phone, created (with the customer role) if new. Safe against concurrent twins."""
    person = repository.person_by_phone(session, phone_e164)
    if person is not None:
        return person, False
    created = repository.insert_person_if_new(
        session,
        phone_e164=phone_e164,
        display_name=clean_display_name(display_name) if display_name else None,
        locale=_normalise_locale(locale),
    )
    person = repository.person_by_phone(session, phone_e164)
    assert person is not None
    if created:
        ensure_role(session, person.id, Role.CUSTOMER)
        log.info("person_created", person_id=str(person.id))
    return person, created


def sign_in_with_code(
    session: Session,
    settings: Settings,
    phone: str,
    code: str,
    *,
    channel: str = "api",
    user_agent: str | None = None,
    display_name: str | None = None,
    locale: str | None = None,
) -> SignIn | AppError:
    """Sign in (or up: an unknown phone gets an account) with the code sent by ``request_code``.

    Raises ``invalid_phone`` or ``invalid_display_name`` (before anything is written); returns the code
    failures (see the module notes) so the try is recorded.
    """
    phone_e164 = phones.parse_phone(phone, settings.default_region)
    name = clean_display_name(display_name) if display_name else None
    failure = verify_code(session, settings, phone_e164, code)
    if failure is not None:
        return failure
    person, created = get_or_create_person(session, phone_e164, display_name=name, locale=locale)
    token, row = create_session(
        session, settings, person.id, method="otp", channel=channel, user_agent=user_agent
    )
    return SignIn(token=token, session=row, person=person, created=created)


def sign_in_with_password(
    session: Session,
    settings: Settings,
    phone: str,
    password: str,
    *,
    channel: str = "api",
    user_agent: str | None = None,
) -> SignIn | AppError:
    """Sign in with phone and password. Unknown phone, no password and wrong password all answer
    ``invalid_credentials`` after the same work. Wrong passwords are counted (returned, not raised, so the
    count is committed); ``PASSWORD_MAX_FAILURES`` in a row lock password sign-in for ``PASSWORD_LOCK``."""
    phone_e164 = phones.parse_phone(phone, settings.default_region)
    person = repository.person_by_phone(session, phone_e164)
    moment = now()
    if (
        person is not None
        and person.password_locked_until is not None
        and person.password_locked_until > moment
    ):
        return errors.password_locked((person.password_locked_until - moment).total_seconds())
    ok = passwords.verify_password(password, person.password_hash if person is not None else None)
    if person is None:
        return errors.invalid_credentials()
    if not ok:
        failures = repository.count_password_failure(session, person.id)
        if failures >= PASSWORD_MAX_FAILURES:
            repository.lock_password(session, person.id, moment + PASSWORD_LOCK)
            log.warning("password_locked", person_id=str(person.id))
        return errors.invalid_credentials()
    person.failed_password_attempts = 0
    person.password_locked_until = None
    if person.password_hash and passwords.needs_rehash(person.password_hash):
        person.password_hash = passwords.hash_password(password)
    token, row = create_session(
        session, settings, person.id, method="password", channel=channel, user_agent=user_agent
    )
    return SignIn(token=token, session=row, person=person, created=False)


def authenticate(session: Session, token: str) -> Authenticated:
    """The caller behind a bearer token or session cookie; ``invalid_token`` if unknown, expired or revoked."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise errors.invalid_token()
    found = repository.session_by_token_hash(session, _token_hash(token))
    if found is None:
        raise errors.invalid_token()
    row, person = found
    if row.revoked_at is not None or row.expires_at <= now():
        raise errors.invalid_token()
    return Authenticated(
        person=person,
        principal=load_principal(session, row.person_id),
        session_id=row.id,
        method=row.method,
        channel=row.channel,
        signed_in_at=row.created_at,
        expires_at=row.expires_at,
    )


def load_principal(session: Session, person_id: uuid.UUID) -> Principal:
    return Principal(person_id=person_id, grants=grants_of((g.role, g.city_id, g.store_id) for g in repository.grants_for(session, person_id)))


def sign_out(session: Session, auth: Authenticated) -> None:
    """Revoke the session the caller signed in with."""
    repository.revoke_session(session, auth.session_id, auth.person_id, now())


def list_sessions(session: Session, actor: Principal) -> list[AuthSession]:
    authorize(actor, Action.SESSIONS_MANAGE, Resource(owner_id=actor.person_id))
    return list(repository.active_sessions(session, actor.person_id, now()))


def revoke_session(session: Session, actor: Principal, session_id: uuid.UUID) -> None:
    """Sign out one of one's own devices; someone else's session is ``session_not_found`` (not leaked)."""
    authorize(actor, Action.SESSIONS_MANAGE, Resource(owner_id=actor.person_id))
    if not repository.revoke_session(session, session_id, actor.person_id, now()):
        raise errors.session_not_found()


# --------------------------------------------------------------------------------------------------------------
# Profile and password


_NAME_SPACES = re.compile(r"\s+")


def clean_display_name(name: str) -> str:
    cleaned = _NAME_SPACES.sub(" ", unicodedata.normalize("NFC", name)).strip()
    if not cleaned or len(cleaned) > 50 or any(unicodedata.category(ch).startswith("C") for ch in cleaned):
        raise AppError("invalid_display_name", 400, "A display name has 1 to 50 visible characters.")
    return cleaned


def get_person(session: Session, person_id: uuid.UUID) -> Person:
    person = repository.get_person(session, person_id)
    if person is None:
        raise errors.person_not_found()
    return person


def person_timezone(session: Session, person: Person) -> str:
    if person.home_city_id is not None:
        return cities.city_timezone(session, person.home_city_id) or DEFAULT_TIMEZONE
    return DEFAULT_TIMEZONE


def today_in(timezone: str) -> dt.date:
    return now().astimezone(ZoneInfo(timezone)).date()


def age_of(person: Person, timezone: str = DEFAULT_TIMEZONE) -> int | None:
    """Whole years, from the verified birth date, on today's date in ``timezone``; None if unverified."""
    if person.birth_date is None or person.verified_at is None:
        return None
    return identity.age_on(person.birth_date, today_in(timezone))


def update_profile(
    session: Session,
    actor: Principal,
    *,
    display_name: str | None = UNSET,
    locale: str = UNSET,
    home_city_id: uuid.UUID | None = UNSET,
) -> Person:
    """Change what is given (``UNSET`` leaves a field alone; None clears the name or the home city)."""
    authorize(actor, Action.PROFILE_UPDATE, Resource(owner_id=actor.person_id))
    person = get_person(session, actor.person_id)
    if display_name is not UNSET:
        person.display_name = clean_display_name(display_name) if display_name else None
    if locale is not UNSET:
        if locale not in LOCALES:
            raise errors.unsupported_locale(SUPPORTED_LOCALES)
        person.locale = LOCALES[locale]
    if home_city_id is not UNSET:
        if home_city_id is not None and not cities.city_exists(session, home_city_id):
            raise errors.unknown_city()
        person.home_city_id = home_city_id
    session.flush()
    return person


def set_password(
    session: Session, auth: Authenticated, new_password: str, *, current_password: str | None = None
) -> None:
    """Set or change the password. Changing one needs the current password, unless the caller signed in
    with a text-message code in the last ``FRESH_OTP_SIGN_IN`` (the way to replace a forgotten one)."""
    authorize(auth.principal, Action.PASSWORD_SET, Resource(owner_id=auth.person_id))
    person = get_person(session, auth.person_id)
    if person.password_hash is not None:
        if current_password is not None:
            if not passwords.verify_password(current_password, person.password_hash):
                raise errors.invalid_current_password()
        elif not (auth.method == "otp" and now() - auth.signed_in_at <= FRESH_OTP_SIGN_IN):
            raise errors.reauthentication_required()
    reason = passwords.weakness(new_password, phone_e164=person.phone_e164)
    if reason is not None:
        raise errors.weak_password(reason)
    person.password_hash = passwords.hash_password(new_password)
    person.failed_password_attempts = 0
    person.password_locked_until = None
    session.flush()


# --------------------------------------------------------------------------------------------------------------
# Real-name verification


_REAL_NAME = re.compile(r"^[^\W\d_]+(?:[ ·・.\-'][^\W\d_]+)*$")


def _clean_real_name(name: str) -> str:
    cleaned = _NAME_SPACES.sub(" ", unicodedata.normalize("NFC", name or "")).strip()
    if not 2 <= len(cleaned) <= 50 or not _REAL_NAME.match(cleaned):
        raise AppError("invalid_real_name", 400, "Write the name as it is on the identity card.")
    return cleaned


def submit_real_name(
    session: Session, settings: Settings, actor: Principal, real_name: str, id_number: str
) -> Person:
    """Verify the person's real name with their resident identity number (checked, then kept only as a keyed
    hash and a masked form). One number belongs to one account."""
    authorize(actor, Action.REAL_NAME_SUBMIT, Resource(owner_id=actor.person_id))
    person = get_person(session, actor.person_id)
    if person.verified_at is not None:
        raise errors.already_verified()
    name = _clean_real_name(real_name)
    number = identity.parse_id_number(id_number, today=today_in(person_timezone(session, person)))
    id_hash = identity.hash_id_number(number.value, settings.secret_key)
    holder = repository.person_by_id_number_hash(session, id_hash)
    if holder is not None and holder.id != person.id:
        raise errors.id_number_in_use()
    try:
        with session.begin_nested():
            done = repository.mark_verified(
                session,
                person.id,
                real_name=name,
                id_number_hash=id_hash,
                id_number_masked=number.masked,
                birth_date=number.birth_date,
                at=now(),
            )
    except IntegrityError as exc:  # a concurrent verification of the same number won
        raise errors.id_number_in_use() from exc
    if not done:
        raise errors.already_verified()
    session.refresh(person)
    log.info("real_name_verified", person_id=str(person.id))
    return person


def require_verified_age(
    session: Session, person_id: uuid.UUID, min_age: int, *, timezone: str | None = None
) -> int:
    """The person's age if their real name is verified and they are at least ``min_age``.

    Raises ``real_name_required`` (403) or ``too_young`` (403). The age is counted on today's date in
    ``timezone`` (the city where the service happens), defaulting to the person's home city, then Shanghai.
    """
    person = get_person(session, person_id)
    if person.verified_at is None or person.birth_date is None:
        raise errors.real_name_required()
    age = identity.age_on(person.birth_date, today_in(timezone or person_timezone(session, person)))
    if age < min_age:
        raise errors.too_young(min_age)
    return age


# --------------------------------------------------------------------------------------------------------------
# Roles


def ensure_role(
    session: Session,
    person_id: uuid.UUID,
    role: Role | str,
    *,
    city_id: uuid.UUID | None = None,
    store_id: uuid.UUID | None = None,
    granted_by: uuid.UUID | None = None,
) -> RoleGrant:
    """Give a role without asking anyone (trusted callers: sign-up, the demo seeder, the stores domain when
    a merchant opens a store). Idempotent."""
    role = Role(role)
    reason = scope_error(role, city_id, store_id)
    if reason is not None:
        raise errors.invalid_role_scope(reason)
    repository.insert_grant_if_new(
        session,
        person_id=person_id,
        role=role.value,
        city_id=city_id,
        store_id=store_id,
        granted_by=granted_by,
    )
    grant = repository.find_grant(session, person_id, role.value, city_id, store_id)
    assert grant is not None
    return grant


def _check_role_target(
    session: Session, person_id: uuid.UUID, city_id: uuid.UUID | None, store_id: uuid.UUID | None
) -> None:
    if repository.get_person(session, person_id) is None:
        raise errors.person_not_found()
    if city_id is not None and not cities.city_exists(session, city_id):
        raise errors.unknown_city()
    if (
        store_id is not None
        and favourites.is_available("store")
        and favourites.resolve_city(session, "store", store_id) != city_id
    ):
        raise errors.unknown_store()


def grant_role(
    session: Session,
    actor: Principal,
    person_id: uuid.UUID,
    role: Role | str,
    *,
    city_id: uuid.UUID | None = None,
    store_id: uuid.UUID | None = None,
) -> tuple[RoleGrant, bool]:
    """Grant a role, if ``actor`` may (see permissions.py). Idempotent: returns the grant and whether it is new."""
    role = Role(role)
    reason = scope_error(role, city_id, store_id)
    if reason is not None:
        raise errors.invalid_role_scope(reason)
    authorize(
        actor, Action.ROLE_GRANT, Resource(owner_id=person_id, city_id=city_id, store_id=store_id, role=role)
    )
    _check_role_target(session, person_id, city_id, store_id)
    created = repository.insert_grant_if_new(
        session,
        person_id=person_id,
        role=role.value,
        city_id=city_id,
        store_id=store_id,
        granted_by=actor.person_id,
    )
    grant = repository.find_grant(session, person_id, role.value, city_id, store_id)
    assert grant is not None
    if created:
        log.info("role_granted", person_id=str(person_id), role=role.value, by=str(actor.person_id))
    return grant, created


def revoke_role(
    session: Session,
    actor: Principal,
    person_id: uuid.UUID,
    role: Role | str,
    *,
    city_id: uuid.UUID | None = None,
    store_id: uuid.UUID | None = None,
) -> None:
    role = Role(role)
    authorize(
        actor, Action.ROLE_REVOKE, Resource(owner_id=person_id, city_id=city_id, store_id=store_id, role=role)
    )
    if not repository.delete_grant(session, person_id, role.value, city_id, store_id):
        raise errors.role_grant_not_found()
    log.info("role_revoked", person_id=str(person_id), role=role.value, by=str(actor.person_id))


def visible_roles(session: Session, actor: Principal, person_id: uuid.UUID) -> list[RoleGrant]:
    """The grants of ``person_id`` that ``actor`` may see: all of their own; an operator's city's."""
    authorize(actor, Action.ROLES_LIST, Resource(owner_id=person_id))
    if repository.get_person(session, person_id) is None:
        raise errors.person_not_found()
    return [
        g
        for g in repository.grants_for(session, person_id)
        if can(actor, Action.ROLE_VIEW, Resource(owner_id=person_id, city_id=g.city_id, store_id=g.store_id))
    ]


def find_person_by_phone(session: Session, settings: Settings, actor: Principal, phone: str) -> Person:
    """For operators granting roles: the person with this phone (``person_not_found`` otherwise)."""
    authorize(actor, Action.PEOPLE_LOOKUP)
    person = repository.person_by_phone(session, phones.parse_phone(phone, settings.default_region))
    if person is None:
        raise errors.person_not_found()
    return person


# --------------------------------------------------------------------------------------------------------------
# Housekeeping


def purge_expired(session: Session) -> tuple[int, int]:
    """Delete codes that have expired and left the rate-limit window, and dead sessions. Idempotent."""
    moment = now()
    codes = repository.purge_codes(session, moment - RATE_WINDOW)
    sessions = repository.purge_sessions(session, moment)
    return codes, sessions


def count_people(session: Session, home_city_id: uuid.UUID) -> int:
    """How many people call this city home."""
    return repository.count_people(session, home_city_id)
