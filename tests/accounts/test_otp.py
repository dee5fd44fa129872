"""One-time codes on a real database (both backends): hashing, expiry, tries, single use, the hourly limit."""

from __future__ import annotations

import datetime as dt

import pytest
import structlog
from sqlalchemy import select

from o2o import outbox
from o2o.accounts import service, sms
from o2o.accounts.models import AuthSession, OtpCode, Person, RoleGrant
from o2o.errors import AppError
from o2o.kit.time import frozen_clock
from o2o.outbox import OutboxMessage
from tests.accounts.conftest import PHONE, at, count, latest_code, sms_messages, wrong

T0 = at(2026, 3, 15, 2, 0, 0)


def send(db, settings, phone: str = PHONE) -> str:
    with db.session() as s:
        service.request_code(s, settings, phone)
    return latest_code(db, phone)


def verify(db, settings, code: str, phone: str = PHONE) -> AppError | None:
    with db.session() as s:  # commits even when the answer is a failure: that is the point
        return service.verify_code(s, settings, phone, code)


def code_row(db, phone: str = PHONE) -> OtpCode:
    with db.sessionmaker() as s:
        return s.scalars(
            select(OtpCode).where(OtpCode.phone_e164 == phone).order_by(OtpCode.seq.desc())
        ).first()


def test_a_code_is_stored_hashed_and_texted_through_the_outbox(db, settings):
    with frozen_clock(T0), db.session() as s:
        sent = service.request_code(s, settings, "138 0013 8000")
    assert sent.phone_e164 == PHONE
    assert sent.expires_at == T0 + dt.timedelta(seconds=300)
    code = latest_code(db)
    assert len(code) == 6 and code.isdigit()
    row = code_row(db)
    assert (row.seq, row.attempts, row.used_at, row.expires_at) == (
        1,
        0,
        None,
        T0 + dt.timedelta(seconds=300),
    )
    assert len(row.code_hash) == 64 and code not in row.code_hash
    [message] = sms_messages(db)
    assert message["phone"] == PHONE
    assert code in message["text"] and "5 minutes" in message["text"]


def test_the_code_is_not_logged(db, settings):
    with structlog.testing.capture_logs() as logs:
        code = send(db, settings)
        assert outbox.deliver_due(db) == 1
    assert logs, "the sending is logged"
    assert code not in repr(logs)
    assert any(e["event"] == "sms_sent" and e["phone"] == "+86 138****8000" for e in logs)


def test_right_code_once(db, settings):
    code = send(db, settings)
    assert verify(db, settings, code) is None
    row = code_row(db)
    assert row.attempts == 1 and row.used_at is not None
    again = verify(db, settings, code)
    assert (again.status, again.code) == (409, "otp_already_used")
    assert code_row(db).attempts == 1


def test_a_wrong_try_is_counted_and_committed(db, settings):
    code = send(db, settings)
    failure = verify(db, settings, wrong(code))
    assert (failure.status, failure.code, failure.extra) == (400, "otp_invalid", {"attempts_left": 4})
    assert code_row(db).attempts == 1  # committed by the unit of work although the answer is a failure


def test_five_tries_then_the_code_is_dead(db, settings):
    code = send(db, settings)
    answers = [verify(db, settings, wrong(code)) for _ in range(5)]
    assert [a.extra["attempts_left"] for a in answers] == [4, 3, 2, 1, 0]
    dead = verify(db, settings, code)  # even the right code
    assert (dead.status, dead.code) == (429, "otp_attempts_exceeded")
    row = code_row(db)
    assert (row.attempts, row.used_at) == (5, None)


def test_expiry(db, settings):
    with frozen_clock(T0) as clock:
        code = send(db, settings)
        clock.advance(seconds=299)
        assert verify(db, settings, wrong(code)).code == "otp_invalid"
        clock.advance(seconds=1)  # exactly 300 s: no longer valid
        expired = verify(db, settings, code)
        assert (expired.status, expired.code) == (400, "otp_expired")
    assert code_row(db).attempts == 1


def test_only_the_newest_code_works(db, settings):
    first = send(db, settings)
    second = send(db, settings)
    if first == second:  # one in a million
        pytest.skip("the two random codes are equal")
    assert verify(db, settings, first).code == "otp_invalid"
    assert verify(db, settings, second) is None


def test_no_code_sent(db, settings):
    failure = verify(db, settings, "123456")
    assert (failure.status, failure.code, failure.extra) == (400, "otp_invalid", {})
    assert count(db, OtpCode) == 0


def test_hourly_limit(db, settings):
    with frozen_clock(T0) as clock:
        for _ in range(5):
            send(db, settings)
            clock.advance(minutes=10)
        # 40 minutes after the first code: the sixth waits until the first is an hour old.
        with pytest.raises(AppError) as err, db.session() as s:
            service.request_code(s, settings, PHONE)
        assert (err.value.status, err.value.code) == (429, "otp_rate_limited")
        assert err.value.headers == {"Retry-After": "600"}
        assert err.value.extra == {"retry_after": 600}
        assert count(db, OtpCode) == 5 and len(sms_messages(db)) == 5
        clock.advance(minutes=10, seconds=1)
        send(db, settings)  # the first code left the window
        assert count(db, OtpCode) == 6
        assert code_row(db).seq == 6


def test_the_limit_is_per_phone(db, settings):
    with frozen_clock(T0):
        for _ in range(5):
            send(db, settings)
        send(db, settings, "+8613900139000")
    assert count(db, OtpCode) == 6


def test_bad_phone_sends_nothing(db, settings):
    for phone in ("010 6552 9988", "12345", ""):
        with pytest.raises(AppError) as err, db.session() as s:
            service.request_code(s, settings, phone)
        assert err.value.code == "invalid_phone"
    assert count(db, OtpCode) == 0 and count(db, OutboxMessage) == 0


def test_first_verification_creates_the_person_with_the_customer_role(db, settings):
    code = send(db, settings)
    with db.session() as s:
        result = service.sign_in_with_code(s, settings, "138 0013 8000", code, display_name=" Li  Lei ")
        assert isinstance(result, service.SignIn)
        assert result.created is True
        person_id = result.person.id
    with db.sessionmaker() as s:
        person = s.get(Person, person_id)
        assert (person.phone_e164, person.display_name, person.locale) == (PHONE, "Li Lei", "en")
        assert [g.role for g in s.scalars(select(RoleGrant).where(RoleGrant.person_id == person_id))] == [
            "customer"
        ]
    code = send(db, settings)
    with db.session() as s:
        again = service.sign_in_with_code(s, settings, PHONE, code)
        assert (again.created, again.person.id) == (False, person_id)
    assert count(db, Person) == 1 and count(db, AuthSession) == 2


def test_a_bad_display_name_is_refused_before_the_code_is_spent(db, settings):
    code = send(db, settings)
    with pytest.raises(AppError) as err, db.session() as s:
        service.sign_in_with_code(s, settings, PHONE, code, display_name="\u0007\u200b")
    assert (err.value.status, err.value.code) == (400, "invalid_display_name")
    assert code_row(db).attempts == 0 and count(db, Person) == 0
    assert verify(db, settings, code) is None  # the code still works


def test_a_failed_sign_in_creates_nothing(db, settings):
    code = send(db, settings)
    with db.session() as s:
        result = service.sign_in_with_code(s, settings, PHONE, wrong(code))
    assert isinstance(result, AppError) and result.code == "otp_invalid"
    assert count(db, Person) == 0 and count(db, AuthSession) == 0 and count(db, RoleGrant) == 0
    assert code_row(db).attempts == 1


def test_the_sms_sender_is_called_by_the_outbox(db, settings):
    sent: list[tuple[str, str]] = []

    class Recorder:
        def send(self, phone_e164: str, text: str) -> None:
            sent.append((phone_e164, text))

    previous = sms.set_sms_sender(Recorder())
    try:
        code = send(db, settings)
        assert outbox.deliver_due(db) == 1
    finally:
        sms.set_sms_sender(previous)
    assert len(sent) == 1 and sent[0][0] == PHONE and code in sent[0][1]
    with db.sessionmaker() as s:
        message = s.scalars(select(OutboxMessage)).one()
        assert message.status == "sent"
        assert code in message.payload  # out of production the dev outbox shows it


def test_a_failing_gateway_is_retried(db, settings):
    class Down:
        def send(self, phone_e164: str, text: str) -> None:
            raise ConnectionError("gateway down")

    previous = sms.set_sms_sender(Down())
    try:
        send(db, settings)
        assert outbox.deliver_due(db) == 0
    finally:
        sms.set_sms_sender(previous)
    with db.sessionmaker() as s:
        message = s.scalars(select(OutboxMessage)).one()
        assert (message.status, message.attempts, message.last_error) == (
            "pending",
            1,
            "ConnectionError: gateway down",
        )


def test_in_production_the_code_is_redacted_once_delivered(db, settings, monkeypatch):
    monkeypatch.setattr(sms, "_redact_after_delivery", lambda: True)
    code = send(db, settings)
    assert outbox.deliver_due(db) == 1
    with db.sessionmaker() as s:
        message = s.scalars(select(OutboxMessage)).one()
    assert code not in message.payload
    assert "######" in message.data["text"] and message.data["phone"] == PHONE
