"""The pure parts: deal terms, usage rules, short codes, the voucher's state machine and the signed QR payload."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from o2o.deals import errors as e
from o2o.deals import rules, signing
from o2o.deals.rules import InvalidTerms, UsageRules
from o2o.deals.state import IllegalTransition, VoucherEvent, VoucherStatus, can, next_status
from tests.deals.conftest import DAY, T0, terms

BEIJING = "Asia/Shanghai"


def test_check_terms_cleans_names() -> None:
    checked = rules.check_terms(terms(title=" Two  bowls ", lines=(rules.Line("  beef   noodles ", 2),)))
    assert checked.title == "Two bowls" and checked.lines == (rules.Line("beef noodles", 2),)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": "x" * 81}, "title"),
        ({"lines": tuple(rules.Line("a", 1) for _ in range(13))}, "lines"),
        ({"lines": (rules.Line("soup", 0),)}, "lines"),
        ({"lines": (rules.Line("", 1),)}, "lines"),
        ({"price": 0}, "price"),
        ({"price": 6_000_000, "original_price": 6_000_000}, "price"),
        ({"quantity_total": 0}, "quantity_total"),
        ({"per_person_limit": 21}, "per_person_limit"),
        ({"sale_starts_at": T0.replace(tzinfo=None)}, "sale_starts_at"),
        ({"sale_ends_at": T0 + 400 * DAY, "valid_until": T0 + 400 * DAY}, "sale_ends_at"),
        ({"valid_from": T0 + 40 * DAY}, "valid_until"),
        ({"valid_from": T0 - 100 * DAY, "valid_until": T0 + 330 * DAY}, "valid_until"),
        ({"rules": UsageRules(start_minute=600)}, "hours"),
        ({"rules": UsageRules(start_minute=600, end_minute=1441)}, "hours"),
    ],
)
def test_check_terms_names_what_to_fix(changes: dict, field: str) -> None:
    with pytest.raises(InvalidTerms) as caught:
        rules.check_terms(terms(**changes))
    assert caught.value.field == field


def test_weekdays_and_hours() -> None:
    assert rules.weekday_mask(["mon", "Friday"]) == 0b0010001
    assert rules.weekday_names(rules.WORKDAYS) == ["mon", "tue", "wed", "thu", "fri"]
    with pytest.raises(InvalidTerms):
        rules.weekday_mask(["someday"])
    assert rules.minute_of("17:30") == 1050 and rules.minute_of("24:00") == 1440 and rules.hhmm(1050) == "17:30"
    for bad in ("24:30", "7:00", "12:60"):
        with pytest.raises(InvalidTerms):
            rules.minute_of(bad)


def test_usable_refusal_in_the_city_time() -> None:
    lunch = UsageRules(weekdays=rules.WORKDAYS, start_minute=11 * 60, end_minute=14 * 60)
    start, end = T0 - DAY, T0 + DAY

    def at(hours: float) -> str | None:
        return rules.usable_refusal(lunch, start, end, T0 + dt.timedelta(hours=hours), BEIJING)

    assert at(0) is None  # Wednesday 12:00
    assert at(-1) is None  # 11:00 is in
    assert at(2) == rules.Refusal.NOT_USABLE_NOW  # 14:00 is out
    assert rules.usable_refusal(lunch, start, end, T0, "UTC") == rules.Refusal.NOT_USABLE_NOW  # 04:00 in London
    assert rules.usable_refusal(UsageRules(), start, end, end, BEIJING) == rules.Refusal.EXPIRED
    assert rules.usable_refusal(UsageRules(), start, end, start - DAY, BEIJING) == rules.Refusal.NOT_USABLE_NOW
    weekend = UsageRules(weekdays=rules.WEEKEND)
    assert rules.usable_refusal(weekend, start, T0 + 5 * DAY, T0 + 3 * DAY, BEIJING) is None  # Saturday


def test_codes() -> None:
    assert rules.new_code(lambda n: 42) == "000000000042"
    assert rules.format_code("123456789012") == "1234 5678 9012"
    assert rules.parse_code(" 1234-5678 9012 ") == "123456789012"
    assert rules.parse_code("１２３４５６７８９０１２") == "123456789012"  # typed with a Chinese input method
    assert rules.parse_code("12345678901") is None and rules.parse_code("1234567890ab") is None
    assert rules.parse_code("١٢٣٤٥٦٧٨٩٠١٢") is None  # other scripts' digits are not ours
    codes = {rules.new_code() for _ in range(200)}
    assert len(codes) == 200 and all(len(c) == 12 and c.isdigit() for c in codes)


@given(st.integers(0, 10**12 - 1))
def test_a_code_survives_formatting(n: int) -> None:
    code = rules.new_code(lambda _bound: n)
    assert rules.parse_code(rules.format_code(code)) == code


def test_the_voucher_state_machine() -> None:
    assert next_status(VoucherStatus.PENDING, VoucherEvent.PAID) == VoucherStatus.ISSUED
    assert next_status(VoucherStatus.REDEEMED, VoucherEvent.UNDO) == VoucherStatus.ISSUED
    assert next_status(VoucherStatus.ISSUED, VoucherEvent.EXPIRE) == VoucherStatus.REFUNDED
    assert not can(VoucherStatus.REDEEMED, VoucherEvent.REFUND)  # a used voucher is not refunded
    assert not can(VoucherStatus.REFUNDED, VoucherEvent.REDEEM)
    with pytest.raises(IllegalTransition):
        next_status(VoucherStatus.CANCELED, VoucherEvent.PAID)


def test_errors_carry_their_status() -> None:
    assert e.voucher_already_redeemed().status == 409 and e.voucher_forged().status == 400
    assert e.voucher_not_found().status == 404 and e.undo_window_passed().code == "undo_window_passed"
    assert e.invalid_deal("price", "too high").to_problem()["field"] == "price"


# ---------------------------------------------------------------------------------------------------- the QR payload

TICKET = signing.Ticket(
    voucher_id=uuid.UUID("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
    code="482109375512",
    deal_id=uuid.UUID("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"),
    store_ids=(uuid.UUID("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d"), uuid.UUID("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5e")),
    valid_until=dt.datetime(2027, 3, 1, 16, 0, tzinfo=dt.UTC),
)


def test_a_signed_payload_verifies_with_the_published_key_only() -> None:
    payload = signing.sign("s3cret", TICKET)
    assert payload.startswith("O2OV1.") and len(payload) < 300 and signing.looks_signed(payload)
    assert signing.sign("s3cret", TICKET) == payload  # Ed25519 is deterministic: the same QR every time
    key = signing.public_key_from_b64(signing.public_key_b64("s3cret"))
    assert signing.verify(key, f"  {payload}\n") == TICKET
    with pytest.raises(signing.Forged):
        signing.verify(signing.public_key("other"), payload)
    assert signing.key_id("s3cret") != signing.key_id("other") and len(signing.key_id("s3cret")) == 16


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p.replace("O2OV1.", "O2OV2."),
        lambda p: p[:-1] + ("A" if p[-1] != "A" else "B"),  # the signature's last character
        lambda p: p.split(".")[0] + "." + p.split(".")[1][:-1] + "." + p.split(".")[2],  # the payload shortened
        lambda p: p.rsplit(".", 1)[0],  # no signature
        lambda p: "",
        lambda p: p + ".extra",
    ],
)
def test_a_tampered_payload_is_forged(mangle) -> None:  # type: ignore[no-untyped-def]
    payload = signing.sign("s3cret", TICKET)
    with pytest.raises(signing.Forged):
        signing.verify(signing.public_key("s3cret"), mangle(payload))


def test_a_correctly_signed_payload_with_unreadable_content_is_forged() -> None:
    import base64

    head = "O2OV1." + base64.urlsafe_b64encode(b'{"v": 1}').rstrip(b"=").decode()
    signature = signing.private_key("s3cret").sign(head.encode())
    text = head + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    with pytest.raises(signing.Forged):
        signing.verify(signing.public_key("s3cret"), text)

