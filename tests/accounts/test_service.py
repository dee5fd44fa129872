"""Accounts services on a real database (both backends): sessions, passwords, profile, real name, roles,
and the housekeeping job."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from o2o import worker
from o2o.accounts import jobs, service  # noqa: F401  (jobs registers the periodic purge)
from o2o.accounts.models import AuthSession, OtpCode, Person, RoleGrant
from o2o.accounts.permissions import Principal, Role
from o2o.errors import AppError
from o2o.kit.time import frozen_clock
from tests.accounts.conftest import OTHER_PHONE, PHONE, at, count, id_number

T0 = at(2026, 3, 15, 2, 0, 0)


def new_person(db, phone: str = PHONE) -> uuid.UUID:
    with db.session() as s:
        person, created = service.get_or_create_person(s, phone)
        assert created
        return person.id


def principal(db, person_id: uuid.UUID) -> Principal:
    with db.sessionmaker() as s:
        return service.load_principal(s, person_id)


def signed_in(db, settings, person_id: uuid.UUID, method: str = "otp") -> tuple[str, service.Authenticated]:
    with db.session() as s:
        token, _row = service.create_session(s, settings, person_id, method=method)
    with db.sessionmaker() as s:
        return token, service.authenticate(s, token)


def raises(code: str, status: int, fn, *args, **kwargs) -> AppError:
    with pytest.raises(AppError) as err:
        fn(*args, **kwargs)
    assert (err.value.status, err.value.code) == (status, code)
    return err.value


# --------------------------------------------------------------------------------------------------------------
# Sessions


def test_tokens_are_stored_hashed_and_authenticate(db, settings):
    person_id = new_person(db)
    with frozen_clock(T0):
        token, auth = signed_in(db, settings, person_id)
    assert auth.person_id == person_id and auth.method == "otp" and auth.channel == "api"
    assert auth.expires_at == T0 + dt.timedelta(days=30)
    assert [g.role for g in auth.principal.grants] == [Role.CUSTOMER]
    with db.sessionmaker() as s:
        row = s.scalars(select(AuthSession)).one()
        assert row.token_hash != token and len(row.token_hash) == 64 and token not in row.token_hash
    assert len(token) >= 43


def test_forged_expired_and_revoked_tokens(db, settings):
    person_id = new_person(db)
    with frozen_clock(T0) as clock:
        token, _auth = signed_in(db, settings, person_id)
        with db.sessionmaker() as s:
            for forged in ("", "x", token + "x", token[:-1], "a" * 300):
                raises("invalid_token", 401, service.authenticate, s, forged)
        clock.advance(days=30)
        with db.sessionmaker() as s:
            raises("invalid_token", 401, service.authenticate, s, token)  # expired
        clock.advance(days=-1)
        with db.session() as s:
            service.sign_out(s, service.authenticate(s, token))
        with db.sessionmaker() as s:
            raises("invalid_token", 401, service.authenticate, s, token)  # revoked


def test_devices_and_revoking_them(db, settings):
    alice, bob = new_person(db), new_person(db, OTHER_PHONE)
    _t1, a1 = signed_in(db, settings, alice)
    t2, _a2 = signed_in(db, settings, alice)
    tb, ab = signed_in(db, settings, bob)
    pa = principal(db, alice)  # (SQLite: one transaction at a time, so never inside another session)
    with db.sessionmaker() as s:
        assert [d.id for d in service.list_sessions(s, pa)] == sorted(
            [a1.session_id, _a2.session_id], reverse=True
        )
    # Someone else's session is "not found", and stays signed in.
    with db.session() as s:
        raises("session_not_found", 404, service.revoke_session, s, pa, ab.session_id)
    with db.sessionmaker() as s:
        assert service.authenticate(s, tb).person_id == bob
    with db.session() as s:
        service.revoke_session(s, pa, a1.session_id)
    with db.session() as s:
        raises("session_not_found", 404, service.revoke_session, s, pa, a1.session_id)
    with db.sessionmaker() as s:
        assert service.authenticate(s, t2).person_id == alice


# --------------------------------------------------------------------------------------------------------------
# Passwords


def set_password(db, auth, new: str, current: str | None = None) -> None:
    with db.session() as s:
        service.set_password(s, auth, new, current_password=current)


def sign_in_pw(db, settings, phone: str, password: str):
    with db.session() as s:
        return service.sign_in_with_password(s, settings, phone, password)


def test_password_sign_in(db, settings):
    person_id = new_person(db)
    _token, auth = signed_in(db, settings, person_id)
    set_password(db, auth, "correct horse battery")
    with db.sessionmaker() as s:
        stored = s.get(Person, person_id).password_hash
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    result = sign_in_pw(db, settings, "138 0013 8000", "correct horse battery")
    assert isinstance(result, service.SignIn)
    assert (result.person.id, result.created, result.session.method) == (person_id, False, "password")


def test_wrong_password_and_unknown_phone_answer_the_same(db, settings):
    person_id = new_person(db)
    _token, auth = signed_in(db, settings, person_id)
    set_password(db, auth, "correct horse battery")
    wrong = sign_in_pw(db, settings, PHONE, "incorrect horse")
    unknown = sign_in_pw(db, settings, OTHER_PHONE, "correct horse battery")
    new_person(db, "+8615000150000")  # has no password
    none_set = sign_in_pw(db, settings, "+8615000150000", "anything goes")
    assert wrong.to_problem() == unknown.to_problem() == none_set.to_problem()
    assert (wrong.status, wrong.code) == (401, "invalid_credentials")
    assert count(db, Person) == 2  # the unknown phone was not signed up
    assert count(db, AuthSession) == 1  # only the one made above


def test_too_many_wrong_passwords_lock_password_sign_in(db, settings):
    person_id = new_person(db)
    _token, auth = signed_in(db, settings, person_id)
    set_password(db, auth, "correct horse battery")
    with frozen_clock(T0) as clock:
        for n in range(1, 10):
            assert sign_in_pw(db, settings, PHONE, f"wrong {n} wrong").code == "invalid_credentials"
        with db.sessionmaker() as s:
            assert s.get(Person, person_id).failed_password_attempts == 9  # each failure was committed
        assert sign_in_pw(db, settings, PHONE, "wrong 10 wrong").code == "invalid_credentials"
        locked = sign_in_pw(db, settings, PHONE, "correct horse battery")
        assert (locked.status, locked.code, locked.headers) == (
            429,
            "password_locked",
            {"Retry-After": "900"},
        )
        clock.advance(minutes=15)
        ok = sign_in_pw(db, settings, PHONE, "correct horse battery")
        assert isinstance(ok, service.SignIn)
    with db.sessionmaker() as s:
        person = s.get(Person, person_id)
        assert (person.failed_password_attempts, person.password_locked_until) == (0, None)


def test_changing_a_password_needs_the_old_one_or_a_fresh_code_sign_in(db, settings):
    person_id = new_person(db)
    with frozen_clock(T0) as clock:
        _token, otp_auth = signed_in(db, settings, person_id, method="otp")
        set_password(db, otp_auth, "first password 1")
        set_password(db, otp_auth, "second password 2")  # within 10 minutes of the code sign-in
        clock.advance(minutes=10, seconds=1)
        with db.session() as s:
            raises("reauthentication_required", 403, service.set_password, s, otp_auth, "third password 3")
            raises(
                "invalid_current_password",
                403,
                service.set_password,
                s,
                otp_auth,
                "third password 3",
                current_password="first password 1",
            )
        set_password(db, otp_auth, "third password 3", current="second password 2")
        _token, pw_auth = signed_in(db, settings, person_id, method="password")
        with db.session() as s:  # a password sign-in is never "fresh" enough
            raises("reauthentication_required", 403, service.set_password, s, pw_auth, "fourth password 4")
    assert isinstance(sign_in_pw(db, settings, PHONE, "third password 3"), service.SignIn)


def test_weak_passwords_are_refused_and_nothing_changes(db, settings):
    person_id = new_person(db)
    _token, auth = signed_in(db, settings, person_id)
    with db.session() as s:
        err = raises("weak_password", 400, service.set_password, s, auth, "13800138000")
    assert "phone number" in err.detail
    with db.sessionmaker() as s:
        assert s.get(Person, person_id).password_hash is None


# --------------------------------------------------------------------------------------------------------------
# Profile


def test_profile_updates(db, settings, make_city):
    city = make_city()
    person_id = new_person(db)
    who = principal(db, person_id)
    with db.session() as s:
        person = service.update_profile(
            s, who, display_name="  Han   Meimei ", locale="zh-CN", home_city_id=city
        )
        assert (person.display_name, person.locale, person.home_city_id) == ("Han Meimei", "zh-CN", city)
    with db.session() as s:
        person = service.update_profile(s, who, display_name=None)  # only the name changes
        assert (person.display_name, person.locale, person.home_city_id) == (None, "zh-CN", city)
    with db.session() as s:
        raises("unknown_city", 400, service.update_profile, s, who, home_city_id=uuid.uuid4())
        raises("unsupported_locale", 400, service.update_profile, s, who, locale="fr-FR")
        raises("invalid_display_name", 400, service.update_profile, s, who, display_name="\u200b\u0007")
    with db.sessionmaker() as s:
        person = s.get(Person, person_id)
        assert (person.display_name, person.locale, person.home_city_id) == (None, "zh-CN", city)


# --------------------------------------------------------------------------------------------------------------
# Real name


def submit(db, settings, person_id, name: str, number: str) -> Person:
    who = principal(db, person_id)
    with db.session() as s:
        return service.submit_real_name(s, settings, who, name, number)


def test_real_name_verification_keeps_no_clear_number(db, settings):
    person_id = new_person(db)
    number = id_number(birth="19900307")
    with frozen_clock(T0):
        person = submit(db, settings, person_id, " 李雷 ", number.lower())
    assert (person.real_name, person.birth_date, person.verified_at) == ("李雷", dt.date(1990, 3, 7), T0)
    assert person.id_number_masked == number[:6] + "********" + number[-4:]
    with db.sessionmaker() as s:
        row = s.get(Person, person_id)
        stored = [str(getattr(row, c.key)) for c in Person.__table__.columns]
    assert not any(number in v or number.lower() in v or number[6:14] + number[14:17] in v for v in stored)
    with db.sessionmaker() as s:
        assert service.age_of(s.get(Person, person_id)) is not None


def test_one_number_one_account(db, settings):
    alice, bob = new_person(db), new_person(db, OTHER_PHONE)
    number = id_number()
    submit(db, settings, alice, "李雷", number)
    pa, pb = principal(db, alice), principal(db, bob)
    with db.session() as s:
        raises("id_number_in_use", 409, service.submit_real_name, s, settings, pb, "李雷", number)
        raises("already_verified", 409, service.submit_real_name, s, settings, pa, "李雷", number)
    with db.sessionmaker() as s:
        assert s.get(Person, bob).verified_at is None


BAD_REAL_NAMES = [
    ("李雷", id_number()[:-1] + ("0" if id_number()[-1] != "0" else "1"), "invalid_id_number"),
    ("李雷", id_number(birth="20300101"), "invalid_id_number"),
    ("李雷", "123", "invalid_id_number"),
    ("1", id_number(), "invalid_real_name"),
    ("李雷2", id_number(), "invalid_real_name"),
    ("<b>x</b>", id_number(), "invalid_real_name"),
]


def test_bad_real_name_input_changes_nothing(db, settings):
    person_id = new_person(db)
    who = principal(db, person_id)
    for name, number, code in BAD_REAL_NAMES:
        with db.session() as s:
            raises(code, 400, service.submit_real_name, s, settings, who, name, number)
    with db.sessionmaker() as s:
        row = s.get(Person, person_id)
        assert (row.verified_at, row.id_number_hash, row.real_name, row.birth_date) == (
            None,
            None,
            None,
            None,
        )


def test_names_of_all_kinds():
    for name in ("李雷", "阿依古丽·买买提", "Maria de la Cruz", "O'Brien", "김민준"):
        assert service._clean_real_name(name) == name


def test_require_verified_age(db, settings, make_city):
    person_id = new_person(db)
    with db.sessionmaker() as s:
        raises("real_name_required", 403, service.require_verified_age, s, person_id, 12)
        raises("person_not_found", 404, service.require_verified_age, s, uuid.uuid4(), 12)
    submit(db, settings, person_id, "李小雷", id_number(birth="20140302"))
    # 17:00 UTC on 1 March is already 2 March in Shanghai: the twelfth birthday has come there.
    with frozen_clock(at(2026, 3, 1, 17, 0)), db.sessionmaker() as s:
        assert service.require_verified_age(s, person_id, 12) == 12
        err = raises("too_young", 403, service.require_verified_age, s, person_id, 12, timezone="UTC")
        assert err.extra == {"min_age": 12}
        raises("too_young", 403, service.require_verified_age, s, person_id, 18)
    # The home city's time zone is the default.
    la = make_city("la", timezone="America/Los_Angeles")
    who = principal(db, person_id)
    with db.session() as s:
        service.update_profile(s, who, home_city_id=la)
    with frozen_clock(at(2026, 3, 2, 7, 0)), db.sessionmaker() as s:
        raises("too_young", 403, service.require_verified_age, s, person_id, 12)  # 23:00 on 1 March in LA
        assert service.require_verified_age(s, person_id, 12, timezone="Asia/Shanghai") == 12


# --------------------------------------------------------------------------------------------------------------
# Roles


def test_role_grants_are_unique_even_with_null_scopes(db, settings, make_city):
    person_id = new_person(db)  # has customer (no city, no store)
    city = make_city()
    with db.session() as s:
        service.ensure_role(s, person_id, Role.CUSTOMER)
        service.ensure_role(s, person_id, Role.PLATFORM_OPERATOR)
        service.ensure_role(s, person_id, Role.PLATFORM_OPERATOR)
        service.ensure_role(s, person_id, Role.PLATFORM_OPERATOR, city_id=city)
    assert count(db, RoleGrant) == 3
    # Even a bulk insert that bypasses the service cannot add a duplicate: the scope key has a default.
    with pytest.raises(IntegrityError), db.session() as s:
        s.execute(insert(RoleGrant), [{"person_id": person_id, "role": "platform_operator", "city_id": None}])
    with db.session() as s:
        s.execute(insert(RoleGrant), [{"person_id": person_id, "role": "courier", "city_id": city}])
    with db.sessionmaker() as s:
        keys = dict(
            s.execute(select(RoleGrant.role, RoleGrant.scope_key).where(RoleGrant.role == "courier")).all()
        )
    assert keys == {"courier": f"{city.hex}:*"}


def test_grant_and_revoke_through_the_service(db, settings, make_city):
    city_a, city_b = make_city("a"), make_city("b")
    operator, someone = new_person(db), new_person(db, OTHER_PHONE)
    with db.session() as s:
        service.ensure_role(s, operator, Role.PLATFORM_OPERATOR, city_id=city_a)
    op = principal(db, operator)
    with db.session() as s:
        grant, created = service.grant_role(s, op, someone, Role.COURIER, city_id=city_a)
        assert created and grant.granted_by == operator
        assert service.grant_role(s, op, someone, "courier", city_id=city_a)[1] is False
    with db.session() as s:
        raises("forbidden", 403, service.grant_role, s, op, someone, Role.COURIER, city_id=city_b)
        raises("invalid_role_scope", 400, service.grant_role, s, op, someone, Role.COURIER)
        raises("person_not_found", 404, service.grant_role, s, op, uuid.uuid4(), Role.COURIER, city_id=city_a)
        assert [g.role for g in service.visible_roles(s, op, someone)] == [
            "courier"
        ]  # not the global customer
    assert Role.COURIER in {g.role for g in principal(db, someone).grants}
    with db.session() as s:
        service.revoke_role(s, op, someone, Role.COURIER, city_id=city_a)
    with db.session() as s:
        raises("role_grant_not_found", 404, service.revoke_role, s, op, someone, Role.COURIER, city_id=city_a)
    assert Role.COURIER not in {g.role for g in principal(db, someone).grants}


# --------------------------------------------------------------------------------------------------------------
# Housekeeping


def test_purge_job_deletes_dead_codes_and_sessions_only(db, settings):
    person_id = new_person(db)
    with frozen_clock(T0) as clock:
        with db.session() as s:
            service.request_code(s, settings, PHONE)  # T0: expires T0+5m, needed for the limit until T0+1h
        live_token, _ = signed_in(db, settings, person_id)
        revoked_token, revoked = signed_in(db, settings, person_id)
        with db.session() as s:
            service.sign_out(s, revoked)
        clock.advance(minutes=30)
        assert worker.run_once(db, ["accounts.purge_expired"]) == {
            "accounts.purge_expired": 1
        }  # the revoked one
        assert count(db, OtpCode) == 1  # expired but still counted against the hourly limit
        clock.advance(minutes=36)  # T0+66m: past expiry + 1 h
        with db.session() as s:
            service.request_code(s, settings, PHONE)  # a fresh one, kept
        assert worker.run_once(db, ["accounts.purge_expired"]) == {"accounts.purge_expired": 1}
        assert count(db, OtpCode) == 1 and count(db, AuthSession) == 1
        clock.advance(days=30)
        assert worker.run_once(db, ["accounts.purge_expired"]) == {"accounts.purge_expired": 2}
        assert worker.run_once(db, ["accounts.purge_expired"]) == {"accounts.purge_expired": 0}
    assert count(db, AuthSession) == 0 and count(db, OtpCode) == 0
    del live_token, revoked_token
