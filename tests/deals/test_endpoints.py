"""The deals API through HTTP: who may do what, buying and redeeming, typed errors that change nothing,
idempotent retries, and the OpenAPI document."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from fastapi.testclient import TestClient

from o2o.config import Settings
from o2o.db import Database
from o2o.deals import signing
from tests.deals.conftest import (
    DAY,
    T0,
    World,
    available,
    code_of,
    deal,
    fund,
    publish,
    snapshot,
    token_for,
    voucher,
)
from tests.wallet.conftest import assert_ledger_sound

PROBLEM = "application/problem+json"


@pytest.fixture
def people(db: Database, settings: Settings, world: World, at_t0) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    return {
        name: token_for(db, settings, person)
        for name, person in {
            "customer": world.customer_id,
            "other": world.shop.other_id,
            "owner": world.owner_id,
            "staff": world.staff_id,
            "branch_staff": world.branch_staff_id,
            "stranger_staff": world.stranger_staff_id,
        }.items()
    }


def problem(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["code"] == code and body["status"] == status and body["type"].endswith(code)
    return body


def test_the_public_key_verifies_the_vouchers_qr(client: TestClient, db: Database, settings: Settings,
                                                  world: World, people) -> None:  # type: ignore[no-untyped-def]
    key = client.get("/api/deals/voucher-key").json()
    assert key["algorithm"] == "Ed25519" and len(key["key_id"]) == 16
    deal_id = publish(db, world)
    fund(db, settings, world, 10_000)
    r = client.post(f"/api/deals/{deal_id}/purchases", json={}, headers=people["customer"])
    assert r.status_code == 201, r.text
    bought = r.json()["voucher"]
    ticket = signing.verify(signing.public_key_from_b64(key["public_key"]), bought["qr_payload"])
    assert ticket.voucher_id == uuid.UUID(bought["id"]) and ticket.code == bought["code"].replace(" ", "")
    assert sorted(ticket.store_ids) == sorted([world.store_id, world.branch_id])
    assert ticket.valid_until == T0 + 30 * DAY


def test_browse_and_buy(client: TestClient, db: Database, settings: Settings, world: World, people) -> None:  # type: ignore[no-untyped-def]
    deal_id = publish(db, world, quantity_total=2, per_person_limit=1)
    problem(client.get("/api/deals"), 400, "city_or_store_required")
    listed = client.get("/api/deals", params={"city_id": str(world.city_id)}).json()
    assert [d["id"] for d in listed["items"]] == [str(deal_id)] and listed["next_cursor"] is None
    detail = client.get(f"/api/deals/{deal_id}").json()
    assert detail["includes"] == "2 x pork dumplings, 1 x hot and sour soup"
    assert (detail["price"], detail["original_price"], detail["discount_percent"]) == (3_990, 5_600, 29)
    assert detail["quantity_left"] == 2 and detail["on_sale"] is True and detail["hours"] is None
    assert {s["name"] for s in detail["stores"]} == {"Noodle House", "Noodle House East"}
    problem(client.get(f"/api/deals/{uuid.uuid4()}"), 404, "deal_not_found")
    assert client.get("/api/deals", params={"store_id": str(world.stranger_store_id)}).json()["items"] == []

    url = f"/api/deals/{deal_id}/purchases"
    problem(client.post(url, json={}), 401, "unauthenticated")
    problem(client.post(url, json={}, headers=people["staff"]), 403, "forbidden")  # no customer role
    before = snapshot(db)
    problem(client.post(url, json={"pay_with": "wallet"}, headers=people["customer"]), 402, "insufficient_funds")
    assert snapshot(db) == before
    problem(client.post(url, json={"pay_with": "cash"}, headers=people["customer"]), 422, "invalid_request")

    fund(db, settings, world, 10_000)
    headers = {**people["customer"], "Idempotency-Key": "buy-1"}
    first = client.post(url, json={"pay_with": "wallet"}, headers=headers)
    assert first.status_code == 201, first.text
    bought = first.json()
    assert bought["payment_status"] == "succeeded" and bought["voucher"]["status"] == "issued"
    assert bought["payment_url"].endswith(f"/wallet/payments/{bought['payment_intent_id']}")
    retry = client.post(url, json={"pay_with": "wallet"}, headers=headers)
    assert retry.json() == bought and retry.headers["idempotent-replayed"] == "true"
    assert available(db, world.customer_id) == 10_000 - 3_990
    problem(client.post(url, json={}, headers=people["customer"]), 409, "purchase_limit_reached")

    later = client.post(url, json={"pay_with": "later"}, headers=people["other"])
    assert later.status_code == 201 and later.json()["voucher"]["status"] == "pending"
    assert later.json()["voucher"]["code"] is None and later.json()["voucher"]["qr_payload"] is None
    fund(db, settings, world, 10_000, person=world.shop.other_id)
    problem(client.post(url, json={}, headers=people["other"]), 409, "deal_sold_out")
    r = client.post(f"/api/wallet/payment-intents/{later.json()['payment_intent_id']}/confirm",
                    json={"method": "wallet"}, headers=people["other"])
    assert r.status_code == 200 and r.json()["status"] == "succeeded"
    mine = client.get("/api/deals/my-vouchers", headers=people["other"]).json()["items"]
    assert [(v["status"], v["code"] is not None) for v in mine] == [("issued", True)]
    assert client.get(f"/api/deals/{deal_id}").json()["on_sale"] is False  # sold out
    assert_ledger_sound(db)


def test_my_vouchers_are_mine(client: TestClient, db: Database, settings: Settings, world: World, people) -> None:  # type: ignore[no-untyped-def]
    deal_id = publish(db, world)
    fund(db, settings, world, 10_000)
    voucher_id = client.post(f"/api/deals/{deal_id}/purchases", json={}, headers=people["customer"]).json()["voucher"]["id"]
    assert client.get(f"/api/deals/my-vouchers/{voucher_id}", headers=people["customer"]).json()["status"] == "issued"
    problem(client.get(f"/api/deals/my-vouchers/{voucher_id}", headers=people["other"]), 404, "voucher_not_found")
    problem(client.post(f"/api/deals/my-vouchers/{voucher_id}/refund", headers=people["other"]), 404,
            "voucher_not_found")
    assert client.get("/api/deals/my-vouchers", headers=people["other"]).json()["items"] == []
    assert client.get("/api/deals/my-vouchers", params={"status": "refunded"},
                      headers=people["customer"]).json()["items"] == []
    problem(client.get("/api/deals/my-vouchers", params={"status": "lost"}, headers=people["customer"]), 422,
            "invalid_request")
    r = client.post(f"/api/deals/my-vouchers/{voucher_id}/refund", headers=people["customer"])
    assert r.status_code == 200 and r.json()["status"] == "refunded" and r.json()["refund_reason"] == "requested"
    assert client.post(f"/api/deals/my-vouchers/{voucher_id}/refund", headers=people["customer"]).json() == r.json()
    assert available(db, world.customer_id) == 10_000


def test_a_store_console_manages_its_deals(client: TestClient, db: Database, world: World, people) -> None:  # type: ignore[no-untyped-def]
    body = {
        "title": "Noodles for one",
        "lines": [{"name": "beef noodles", "quantity": 1}],
        "price": 1_800,
        "original_price": 2_400,
        "quantity_total": 50,
        "sale_starts_at": (T0 - DAY).isoformat(),
        "sale_ends_at": (T0 + 5 * DAY).isoformat(),
        "valid_from": (T0 - DAY).isoformat(),
        "valid_until": (T0 + 20 * DAY).isoformat(),
        "weekdays": ["mon", "tue", "wed", "thu", "fri"],
        "hours": {"start": "11:00", "end": "14:00"},
        "store_ids": [str(world.branch_id)],
    }
    url = f"/api/merchant/stores/{world.store_id}/deals"
    problem(client.post(url, json=body), 401, "unauthenticated")
    problem(client.post(url, json=body, headers=people["staff"]), 403, "forbidden")
    problem(client.post(f"/api/merchant/stores/{uuid.uuid4()}/deals", json=body, headers=people["owner"]), 400,
            "unknown_store")
    before = snapshot(db)
    bad = problem(client.post(url, json={**body, "original_price": 1_000}, headers=people["owner"]), 400,
                  "invalid_deal")
    assert bad["field"] == "original_price"
    problem(client.post(url, json={**body, "store_ids": [str(world.stranger_store_id)]}, headers=people["owner"]),
            400, "store_not_of_merchant")
    problem(client.post(url, json={**body, "price": "18.00"}, headers=people["owner"]), 422, "invalid_request")
    problem(client.post(url, json={**body, "sale_starts_at": "2026-11-24T12:00:00"}, headers=people["owner"]),
            422, "invalid_request")  # a time without its zone
    assert snapshot(db) == before

    r = client.post(url, json=body, headers=people["owner"])
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "draft" and created["on_sale"] is False
    assert created["hours"] == {"start": "11:00", "end": "14:00"} and created["weekdays"][-1] == "fri"
    deal_id = created["id"]
    assert client.get(f"/api/deals/{deal_id}").status_code == 404  # a draft is not public
    r = client.post(f"{url}/{deal_id}/publish", headers=people["owner"])
    assert r.json()["status"] == "published" and r.json()["on_sale"] is True
    problem(client.post(f"/api/merchant/stores/{world.branch_id}/deals/{deal_id}/withdraw", headers=people["owner"]),
            404, "deal_not_found")  # only the deal's own store manages it
    listed = client.get(url, headers=people["owner"]).json()["items"]
    assert [d["id"] for d in listed] == [deal_id]
    r = client.post(f"{url}/{deal_id}/withdraw", headers=people["owner"])
    assert r.json()["status"] == "withdrawn"
    problem(client.post(f"{url}/{deal_id}/publish", headers=people["owner"]), 409, "deal_not_publishable")


def test_redeem_in_the_shop(client: TestClient, db: Database, settings: Settings, world: World, people, at_t0) -> None:  # type: ignore[no-untyped-def]
    deal_id = publish(db, world)
    fund(db, settings, world, 10_000)
    bought = client.post(f"/api/deals/{deal_id}/purchases", json={}, headers=people["customer"]).json()["voucher"]
    code, qr = bought["code"], bought["qr_payload"]
    base = f"/api/merchant/stores/{world.store_id}/vouchers"

    problem(client.post(f"{base}/check", json={"scan": code}), 401, "unauthenticated")
    problem(client.post(f"{base}/check", json={"scan": code}, headers=people["branch_staff"]), 403, "forbidden")
    problem(client.post(f"{base}/redeem", json={"scan": code}, headers=people["customer"]), 403, "forbidden")
    checked = client.post(f"{base}/check", json={"scan": qr}, headers=people["staff"])
    assert checked.status_code == 200, checked.text
    assert checked.json()["includes"] == "2 x pork dumplings, 1 x hot and sour soup"
    assert checked.json()["status"] == "issued" and "owner" not in str(checked.json())

    before = snapshot(db)
    for scan, status, error in [
        (qr[:-3] + "abc", 400, "voucher_forged"),
        ("9" * 12 if code.replace(" ", "") != "9" * 12 else "1" * 12, 404, "voucher_not_found"),
    ]:
        problem(client.post(f"{base}/redeem", json={"scan": scan}, headers=people["staff"]), status, error)
    problem(client.post(f"/api/merchant/stores/{world.stranger_store_id}/vouchers/redeem", json={"scan": code},
                        headers=people["stranger_staff"]), 409, "voucher_not_for_this_store")
    problem(client.post(f"{base}/redeem", json={"scan": ""}, headers=people["staff"]), 422, "invalid_request")
    assert snapshot(db) == before

    r = client.post(f"{base}/redeem", json={"scan": code}, headers=people["staff"])
    assert r.status_code == 200, r.text
    redeemed = r.json()
    assert redeemed["status"] == "redeemed"
    assert dt.datetime.fromisoformat(redeemed["undo_until"]) == T0 + dt.timedelta(minutes=10)
    before = snapshot(db)
    problem(client.post(f"{base}/redeem", json={"scan": qr}, headers=people["staff"]), 409,
            "voucher_already_redeemed")
    problem(client.post(f"/api/merchant/stores/{world.branch_id}/vouchers/redeem", json={"scan": code},
                        headers=people["branch_staff"]), 409, "voucher_already_redeemed")
    problem(client.post(f"/api/deals/my-vouchers/{bought['id']}/refund", headers=people["customer"]), 409,
            "voucher_already_redeemed")
    problem(client.post(f"/api/merchant/stores/{world.stranger_store_id}/vouchers/{bought['id']}/undo",
                        headers=people["stranger_staff"]), 404, "voucher_not_found")
    assert snapshot(db) == before
    recent = client.get(f"{base}/redeemed", headers=people["staff"]).json()
    assert [v["id"] for v in recent] == [bought["id"]]

    at_t0.advance(minutes=5)
    undone = client.post(f"{base}/{bought['id']}/undo", headers=people["staff"])
    assert undone.status_code == 200 and undone.json()["status"] == "issued"
    problem(client.post(f"{base}/{bought['id']}/undo", headers=people["staff"]), 409, "voucher_not_redeemed")
    assert client.post(f"{base}/redeem", json={"scan": code}, headers=people["staff"]).status_code == 200
    at_t0.advance(minutes=11)
    before = snapshot(db)
    problem(client.post(f"{base}/{bought['id']}/undo", headers=people["staff"]), 409, "undo_window_passed")
    assert snapshot(db) == before
    assert voucher(db, uuid.UUID(bought["id"])).redeemed_by == world.staff_id


def test_vouchers_outside_their_rules_are_refused(client: TestClient, db: Database, settings: Settings, world: World,
                                                  people, at_t0) -> None:  # type: ignore[no-untyped-def]
    from o2o.deals.rules import WEEKEND, UsageRules

    weekend = publish(db, world, rules=UsageRules(weekdays=WEEKEND), title="Weekend brunch")
    anytime = publish(db, world, title="Any day", sale_ends_at=T0 + 2 * DAY, valid_until=T0 + 3 * DAY)
    fund(db, settings, world, 20_000)
    codes = {}
    for deal_id in (weekend, anytime):
        r = client.post(f"/api/deals/{deal_id}/purchases", json={}, headers=people["customer"])
        codes[deal_id] = r.json()["voucher"]["code"]
    base = f"/api/merchant/stores/{world.store_id}/vouchers"
    before = snapshot(db)
    problem(client.post(f"{base}/redeem", json={"scan": codes[weekend]}, headers=people["staff"]), 409,
            "voucher_not_usable_now")  # a Wednesday
    at_t0.advance(days=3)
    problem(client.post(f"{base}/check", json={"scan": codes[anytime]}, headers=people["staff"]), 409,
            "voucher_expired")
    assert snapshot(db) == before
    # The owner need not wait for the expiry job: an expired, unused voucher is refunded on request too.
    expired = next(v for v in client.get("/api/deals/my-vouchers", headers=people["customer"]).json()["items"]
                   if v["deal_id"] == str(anytime))
    r = client.post(f"/api/deals/my-vouchers/{expired['id']}/refund", headers=people["customer"])
    assert r.status_code == 200 and r.json()["status"] == "refunded"
    assert (deal(db, weekend).quantity_sold, deal(db, anytime).quantity_sold) == (1, 0)
    assert code_of(db, uuid.UUID(expired["id"])) == expired["code"].replace(" ", "")

@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the document is the same on both
def test_every_deals_operation_is_documented(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    operations = [
        (path, method, op)
        for path, item in doc["paths"].items()
        if path.startswith("/api/deals") or (path.startswith("/api/merchant/stores/") and ("/deals" in path
                                                                                             or "/vouchers" in path))
        for method, op in item.items()
    ]
    assert len(operations) == 15
    public = {"/api/deals/voucher-key"}
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        assert op.get("summary") and op["tags"] == ["deals"], where
        if path in public:
            continue
        errors = {status: r for status, r in op["responses"].items() if status.startswith("4")}
        assert errors, f"{where} documents no errors"
        for status, response in errors.items():
            if status == "422" and "application/problem+json" not in response["content"]:
                continue
            assert "`" in response["description"], where
    schemas = doc["components"]["schemas"]
    assert schemas["DealCreate"]["examples"][0]["price"] == 3_990
    assert schemas["ScanIn"]["examples"] == [{"scan": "4821 0937 5512"}]
    assert {t["name"] for t in doc["tags"]} >= {"deals"}
