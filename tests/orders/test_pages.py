"""The order pages through HTTP (SQLite and PostgreSQL): stores near me, the cart, the checkout, my orders, and the
merchant's console (incoming orders, the counter, stock, sales); plus the pure helpers behind them and the demo
city's order history.

Refused forms are drawn again with a message and change nothing (no order, no stock hold, no payment, the cart as it
was); anonymous visitors are sent to sign in; the wrong person gets 403 (a store they do not work in) or 404
(someone else's order).
"""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from o2o import i18n
from o2o.accounts import service as accounts
from o2o.config import Settings
from o2o.db import Database
from o2o.orders import carts, service
from o2o.orders.models import Cart, Order, OrderEventRecord, OrderLine
from o2o.orders.pages import add_to_ticket, channel_bars, parse_ticket, ticket_text
from o2o.orders.state import OrderEvent, OrderKind
from o2o.stores import stock
from o2o.stores.menu import LineRequest
from o2o.stores.models import MenuItem, StockHold
from o2o.wallet import payments
from o2o.wallet.models import PaymentIntent
from tests.orders.conftest import Kitchen, available, fund, make_kitchen, on_hand, wallet_available

BASE = "http://testserver"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HOME = (39.9045, 116.4)  # ~500 m north of the kitchen: inside its 3 km delivery radius, base fee only


def sign_in(client: TestClient, db: Database, person_id: uuid.UUID) -> TestClient:
    with db.session() as s:
        token, _row = accounts.create_session(s, client.app.state.settings, person_id, method="otp")
    client.cookies.set("o2o_session", token)
    return client


@pytest.fixture
def kitchen(db: Database) -> Kitchen:
    return make_kitchen(db)


@pytest.fixture
def customer(client: TestClient, db: Database, kitchen: Kitchen) -> TestClient:
    return sign_in(client, db, kitchen.customer_id)


def person_client(app, db: Database, person_id: uuid.UUID) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url=BASE, follow_redirects=False) as c:
        yield sign_in(c, db, person_id)


@pytest.fixture
def staff(app, db: Database, kitchen: Kitchen) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    yield from person_client(app, db, kitchen.staff_id)


@pytest.fixture
def owner(app, db: Database, kitchen: Kitchen) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    yield from person_client(app, db, kitchen.owner_id)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def error_code(html: str) -> str | None:
    found = re.search(r'data-testid="form-error" data-code="([^"]+)"', html)
    return found.group(1) if found else None


def location(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 303, (response.status_code, response.text[:800])
    return response.headers["location"]


def yuan(fen: int) -> str:
    return i18n.format_money(fen, "CNY", "en")


def counts(db: Database) -> dict[str, int]:
    """What a refused checkout must leave as it was."""
    with db.sessionmaker() as s:
        return {
            model.__tablename__: s.scalar(select(func.count()).select_from(model)) or 0
            for model in (Order, OrderLine, OrderEventRecord, StockHold, PaymentIntent)
        }


def cart_lines(db: Database, person_id: uuid.UUID, store_id: uuid.UUID) -> list[carts.CartLine]:
    with db.sessionmaker() as s:
        cart = carts.cart_of(s, person_id, store_id)
        return [] if cart is None else carts.lines_of(cart)


def add(client: TestClient, kitchen: Kitchen, item: uuid.UUID, quantity: int = 1, options=(), token: str | None = None,
        **extra: str):  # type: ignore[no-untyped-def]
    token = token or csrf_of(client.get("/cart").text)
    data = {"store_id": str(kitchen.store_id), "item_id": str(item), "quantity": str(quantity),
            "option_id": [str(o) for o in options], "csrf_token": token, **extra}
    return client.post("/cart/add", data=data, follow_redirects=False)


def fill_cart(client: TestClient, kitchen: Kitchen) -> None:
    """Large beef noodles (1800 + 300) and two colas (2 × 500): 3100 fen of items."""
    assert location(add(client, kitchen, kitchen.noodles, 1, [kitchen.size_large])) == f"/cart?added={kitchen.store_id}"
    assert location(add(client, kitchen, kitchen.cola, 2)).startswith("/cart")


def checkout(client: TestClient, kitchen: Kitchen, pay: str, **fields: str):  # type: ignore[no-untyped-def]
    page = client.get(f"/checkout/{kitchen.store_id}", params={k: v for k, v in fields.items() if k != "expected_total"})
    assert page.status_code == 200, page.text[:800]
    total = re.search(r'data-testid="quote-total" data-amount="(\d+)"', page.text)
    data = {"csrf_token": csrf_of(page.text), "pay": pay, **fields}
    if total and "expected_total" not in fields:
        data["expected_total"] = total.group(1)
    return client.post(f"/checkout/{kitchen.store_id}", data=data, follow_redirects=False)


def delivery(**more: str) -> dict[str, str]:
    return {"kind": "delivery", "lat": str(HOME[0]), "lng": str(HOME[1]), "address": "3 Dongcheng Rd, flat 501", **more}


# ---------------------------------------------------------------------------------------------------- pure helpers


def test_a_ticket_survives_its_address() -> None:
    item, a, b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    lines = [carts.CartLine(item, 2, (a, b)), carts.CartLine(uuid.uuid4(), 1, ())]
    assert parse_ticket(ticket_text(lines)) == lines
    assert parse_ticket("garbage;;" + ticket_text(lines[:1]) + ";x:1:;" + f"{item}:0:;{item}:100:") == lines[:1]
    assert parse_ticket(None) == [] and parse_ticket("") == []


def test_adding_to_a_ticket_merges_the_same_choice() -> None:
    item, a, b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ticket = add_to_ticket([], carts.CartLine(item, 2, (a, b)))
    ticket = add_to_ticket(ticket, carts.CartLine(item, 3, (b, a)))  # the same options in another order
    ticket = add_to_ticket(ticket, carts.CartLine(item, 1, (a,)))
    assert [(line.quantity, set(line.option_ids)) for line in ticket] == [(5, {a, b}), (1, {a})]
    assert add_to_ticket([carts.CartLine(item, 98, ())], carts.CartLine(item, 5, ()))[0].quantity == 99


@given(st.lists(st.uuids(), max_size=6))
def test_a_line_key_ignores_the_order_of_options(options: list[uuid.UUID]) -> None:
    item = uuid.UUID(int=1)
    assert carts.line_key(item, options) == carts.line_key(item, list(reversed(options)))
    assert carts.line_key(item, options) != carts.line_key(uuid.UUID(int=2), options)


@given(st.lists(st.tuples(st.uuids(), st.integers(1, 99), st.lists(st.uuids(), max_size=3)), max_size=5))
def test_cart_lines_round_trip_through_their_json(rows: list[tuple[uuid.UUID, int, list[uuid.UUID]]]) -> None:
    lines = [carts.CartLine(item, quantity, tuple(options)) for item, quantity, options in rows]
    assert carts.parse_lines(carts.dump_lines(lines)) == lines


def test_a_damaged_cart_row_keeps_its_good_lines() -> None:
    good = carts.CartLine(uuid.uuid4(), 2, ())
    damaged = f'{{"item_id":"nope","quantity":1}},{{"item_id":"{good.item_id}","quantity":0}},{{"quantity":true}}]'
    text = carts.dump_lines([good])[:-1] + "," + damaged
    assert carts.parse_lines(text) == [good]
    assert carts.parse_lines("not json") == [] and carts.parse_lines('{"a": 1}') == []


def test_channel_bars_scale_to_the_best_channel() -> None:
    rows = [service.ChannelSales("delivery", 4, 8000), service.ChannelSales("counter", 1, 10),
            service.ChannelSales("vouchers", 0, 0)]
    bars = channel_bars(rows)
    assert [b.channel for b in bars] == ["delivery", "counter", "vouchers"]
    assert bars[0].height == 144.0 and bars[0].y == 16.0  # the full height
    assert bars[1].height == 2.0  # a small amount still shows
    assert bars[2].height == 0.0
    assert bars[0].x < bars[1].x < bars[2].x


# ---------------------------------------------------------------------------------------------------- sign-in


def test_the_pages_ask_to_sign_in_first(client: TestClient, kitchen: Kitchen) -> None:
    s = kitchen.store_id
    for path, back in [
        ("/cart", "/cart"),
        ("/orders", "/orders"),
        (f"/orders/{uuid.uuid4()}", None),
        (f"/checkout/{s}", f"/checkout/{s}"),
        ("/merchant", "/merchant"),
        (f"/merchant/stores/{s}/orders", f"/merchant/stores/{s}/orders"),
        (f"/merchant/stores/{s}/counter", f"/merchant/stores/{s}/counter"),
        (f"/merchant/stores/{s}/stock", f"/merchant/stores/{s}/stock"),
        (f"/merchant/stores/{s}/sales", f"/merchant/stores/{s}/sales"),
    ]:
        target = location(client.get(path, follow_redirects=False))
        assert target.startswith("/signin?next="), path
        if back is not None:
            assert target == "/signin?next=" + back, path
    # A form sent while signed out goes to sign in and then back to the store page; nothing is kept.
    r = client.post("/cart/add", data={"store_id": str(s), "item_id": str(kitchen.cola), "quantity": "1"},
                    follow_redirects=False)
    assert location(r) == f"/signin?next=/stores/{s}"
    assert cart_lines(client.app.state.db, kitchen.customer_id, s) == []


# ---------------------------------------------------------------------------------------------------- stores near me


def test_stores_near_me_sorted_by_distance_with_fee_and_time(client: TestClient, db: Database, kitchen: Kitchen) -> None:
    r = client.get("/stores/near", params={"lat": HOME[0], "lng": HOME[1]})
    assert r.status_code == 200, r.text[:800]
    assert 'data-source="location"' in r.text
    ids = re.findall(r'data-testid="near-store" data-store-id="([^"]+)"', r.text)
    assert set(ids) == {str(kitchen.store_id), str(kitchen.other_store_id)}
    first = r.text.split('data-testid="near-store"')[1]
    assert 'href="/stores/' in first and "Open now" in first
    assert 'data-fee="300"' in first  # ~500 m: the base fee
    # prep 12 + pickup 5 + travel ceil(500 m × 1.3 / 250 m/min) = 3 minutes
    assert "Delivery in about 20 minutes" in first
    assert f"Minimum order {yuan(1000)}" in first
    # The place is remembered for the checkout's address.
    assert r.cookies.get("o2o_where") == f"{HOME[0]:.6f}_{HOME[1]:.6f}"


def test_stores_near_me_filters_and_falls_back(client: TestClient, db: Database, kitchen: Kitchen) -> None:
    r = client.get("/stores/near")
    assert r.status_code == 200 and 'data-source="centre"' in r.text  # no location: the city centre
    r = client.get("/stores/near", params={"category": "pharmacy"})
    assert r.status_code == 200 and 'data-testid="near-none"' in r.text
    r = client.get("/stores/near", params={"category": "food", "lat": "39.95", "lng": "116.4", "radius": "1000"})
    assert 'data-testid="near-none"' in r.text  # 5.5 km away: none within 1 km
    r = client.get("/stores/near", params={"lat": "91", "lng": "116.4"})
    assert r.status_code == 422 and error_code(r.text) == "invalid_location"
    assert "o2o_where" not in r.cookies
    r = client.get("/stores/near", params={"category": "spaceships"})
    assert r.status_code == 422 and error_code(r.text) == "unknown_category"
    assert client.get("/stores/near", params={"city": "atlantis"}).status_code == 404


# ---------------------------------------------------------------------------------------------------- the cart


def test_the_cart_keeps_its_lines(customer: TestClient, db: Database, kitchen: Kitchen) -> None:
    token = csrf_of(customer.get("/cart").text)
    assert location(add(customer, kitchen, kitchen.noodles, 1, [kitchen.size_large, kitchen.spice_hot], token))
    # The same noodles with the options in another order are the same line; small ones are another line.
    add(customer, kitchen, kitchen.noodles, 2, [kitchen.spice_hot, kitchen.size_large], token)
    add(customer, kitchen, kitchen.noodles, 1, [kitchen.size_small], token)
    add(customer, kitchen, kitchen.cola, 3, token=token)
    lines = cart_lines(db, kitchen.customer_id, kitchen.store_id)
    assert [(line.item_id, line.quantity) for line in lines] == [
        (kitchen.noodles, 3), (kitchen.noodles, 1), (kitchen.cola, 3)
    ]
    page = customer.get("/cart", params={"added": str(kitchen.store_id)}).text
    assert "Added to your cart." in page
    assert page.count('data-testid="cart-line"') == 3
    # 3 × 2100 + 1 × 1800 + 3 × 500
    assert 'data-testid="cart-subtotal" data-amount="9600"' in page
    assert "Size: Large, Spice: Hot" in page

    # Change a quantity, remove a line: by the line's key, whatever else changed meanwhile.
    key = lines[2].key
    r = customer.post("/cart/update", data={"store_id": str(kitchen.store_id), "key": key, "quantity": "1",
                                            "csrf_token": token}, follow_redirects=False)
    assert location(r) == "/cart"
    r = customer.post("/cart/update", data={"store_id": str(kitchen.store_id), "key": key, "quantity": "5",
                                            "csrf_token": "forged"})
    assert (r.status_code, error_code(r.text)) == (403, "csrf_failed")
    r = customer.post("/cart/update", data={"store_id": str(kitchen.store_id), "key": key, "quantity": "lots",
                                            "csrf_token": token})
    assert (r.status_code, error_code(r.text)) == (422, "invalid_quantity")
    r = customer.post("/cart/remove", data={"store_id": str(kitchen.store_id), "key": lines[1].key, "csrf_token": token},
                      follow_redirects=False)
    assert location(r) == "/cart"
    assert [(line.item_id, line.quantity) for line in cart_lines(db, kitchen.customer_id, kitchen.store_id)] == [
        (kitchen.noodles, 3), (kitchen.cola, 1)
    ]
    r = customer.post("/cart/remove", data={"store_id": str(kitchen.store_id), "key": lines[1].key,
                                            "csrf_token": token})
    assert r.status_code == 404 and error_code(r.text) == "cart_line_not_found"
    # Another person's cart is theirs alone.
    assert cart_lines(db, kitchen.other_customer_id, kitchen.store_id) == []


def test_refused_additions_change_nothing(customer: TestClient, db: Database, kitchen: Kitchen) -> None:
    token = csrf_of(customer.get("/cart").text)
    add(customer, kitchen, kitchen.cola, 2, token=token)
    before = cart_lines(db, kitchen.customer_id, kitchen.store_id)
    cases = [
        (add(customer, kitchen, kitchen.noodles, 1, token=token), 422, "option_picks"),  # the size is required
        (add(customer, kitchen, kitchen.dumplings, 6, token=token), 409, "out_of_stock"),  # 5 left
        (add(customer, kitchen, kitchen.cola, 0, token=token), 422, "invalid_quantity"),
        (add(customer, kitchen, kitchen.cola, 98, token=token), 422, "invalid_quantity"),  # 2 + 98 > 99 on a line
        (add(customer, kitchen, uuid.uuid4(), 1, token=token), 422, "unknown_item"),
        (add(customer, kitchen, kitchen.cola, 1, token="forged"), 403, "csrf_failed"),
    ]
    for r, status, code in cases:
        assert (r.status_code, error_code(r.text)) == (status, code), r.text[:600]
    r = cases[0][0]
    assert "Choose exactly 1 for “Size” of Beef noodles." in r.text
    assert "Dumplings (5 left)" in cases[1][0].text
    r = customer.post("/cart/add", data={"store_id": str(kitchen.other_store_id), "item_id": str(kitchen.cola),
                                         "quantity": "1", "csrf_token": token})
    assert (r.status_code, error_code(r.text)) == (422, "unknown_item")  # not that store's item
    assert cart_lines(db, kitchen.customer_id, kitchen.store_id) == before
    assert cart_lines(db, kitchen.customer_id, kitchen.other_store_id) == []


def test_a_sold_out_item_stays_in_the_cart_with_its_problem(customer: TestClient, db: Database, kitchen: Kitchen) -> None:
    fill_cart(customer, kitchen)
    with db.session() as s:
        s.get(MenuItem, kitchen.cola).sold_out = True
    page = customer.get("/cart").text
    assert 'data-problem="item_sold_out"' in page and "Cola is sold out." in page
    assert 'data-testid="cart-checkout"' not in page  # fix the cart first
    assert "1 line cannot be ordered now" in page
    assert len(cart_lines(db, kitchen.customer_id, kitchen.store_id)) == 2  # nothing was lost
    # The checkout says so too, and places nothing.
    before = counts(db)
    r = checkout(customer, kitchen, "wallet", **delivery())
    assert (r.status_code, error_code(r.text)) == (409, "item_sold_out")
    assert counts(db) == before
    # Back in stock: the same cart can be bought.
    with db.session() as s:
        s.get(MenuItem, kitchen.cola).sold_out = False
    assert 'data-testid="cart-checkout"' in customer.get("/cart").text


def test_fewer_units_left_than_the_cart_holds(customer: TestClient, db: Database, kitchen: Kitchen) -> None:
    token = csrf_of(customer.get("/cart").text)
    add(customer, kitchen, kitchen.dumplings, 3, token=token)
    with db.session() as s:
        stock.set_on_hand(s, city_id=kitchen.city_id, store_id=kitchen.store_id, item_id=kitchen.dumplings, on_hand=2)
    page = customer.get("/cart").text
    assert 'data-problem="out_of_stock"' in page and "Dumplings (2 left)" in page
    key = cart_lines(db, kitchen.customer_id, kitchen.store_id)[0].key
    # Raising it is refused; lowering it to what is left fixes the line.
    r = customer.post("/cart/update", data={"store_id": str(kitchen.store_id), "key": key, "quantity": "4",
                                            "csrf_token": token})
    assert (r.status_code, error_code(r.text)) == (409, "out_of_stock")
    assert cart_lines(db, kitchen.customer_id, kitchen.store_id)[0].quantity == 3
    customer.post("/cart/update", data={"store_id": str(kitchen.store_id), "key": key, "quantity": "2",
                                        "csrf_token": token})
    page = customer.get("/cart").text
    assert 'data-problem=' not in page and 'data-testid="cart-checkout"' in page


def test_carts_service_merges_concurrent_writes(session, db: Database, kitchen: Kitchen) -> None:  # type: ignore[no-untyped-def]
    """Two requests that read the cart before either wrote: the second's compare-and-set misses and retries."""
    carts.add(session, person_id=kitchen.customer_id, store_id=kitchen.store_id, item_id=kitchen.cola, quantity=1)
    session.commit()
    seen = carts.cart_of(session, kitchen.customer_id, kitchen.store_id)
    stale_lines = seen.lines
    carts.add(session, person_id=kitchen.customer_id, store_id=kitchen.store_id, item_id=kitchen.cola, quantity=2)
    # A write with the stale text matches nothing...
    from sqlalchemy import update

    missed = session.execute(update(Cart).where(Cart.id == seen.id, Cart.lines == stale_lines).values(lines="[]"))
    assert missed.rowcount == 0
    session.commit()
    assert [line.quantity for line in cart_lines(db, kitchen.customer_id, kitchen.store_id)] == [3]
    # ... and the last line removed takes the cart away.
    key = carts.line_key(kitchen.cola, [])
    assert carts.remove(session, person_id=kitchen.customer_id, store_id=kitchen.store_id, key=key) is None
    session.commit()
    assert session.scalar(select(func.count()).select_from(Cart)) == 0


@pytest.mark.postgres_only
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite serialises writers: no race there
def test_concurrent_additions_to_one_cart_all_land(db: Database, kitchen: Kitchen) -> None:
    """Real concurrent connections: six requests put an item in a cart that does not exist yet. One creates it
    (the others meet the unique constraint and retry as updates), every compare-and-set that lost retries: all six
    units are in the one cart."""
    import threading

    threads_n = 6
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def one(item: uuid.UUID) -> None:
        try:
            barrier.wait(timeout=10)
            with db.session() as s:
                carts.add(s, person_id=kitchen.customer_id, store_id=kitchen.store_id, item_id=item, quantity=1)
        except BaseException as exc:
            errors.append(exc)

    items = [kitchen.cola] * 4 + [kitchen.dumplings] * 2
    threads = [threading.Thread(target=one, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    lines = {line.item_id: line.quantity for line in cart_lines(db, kitchen.customer_id, kitchen.store_id)}
    assert lines == {kitchen.cola: 4, kitchen.dumplings: 2}
    with db.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(Cart)) == 1


# ---------------------------------------------------------------------------------------------------- checkout


def test_checkout_for_delivery_paid_with_the_wallet(
    customer: TestClient, db: Database, settings: Settings, kitchen: Kitchen
) -> None:
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 10_000)
    fill_cart(customer, kitchen)
    page = customer.get(f"/checkout/{kitchen.store_id}", params=delivery())
    assert page.status_code == 200
    # 3100 items + 100 packaging + 300 delivery (~500 m)
    assert 'data-testid="quote-total" data-amount="3500"' in page.text
    assert 'data-testid="wallet-balance" data-amount="10000"' in page.text
    assert "Delivered by about" in page.text
    r = checkout(customer, kitchen, "wallet", **delivery())
    order_id = uuid.UUID(location(r).removeprefix("/orders/"))
    with db.sessionmaker() as s:
        order = service.get_order(s, order_id)
        assert (order.state, order.kind, order.total, order.address) == ("paid", "delivery", 3500, "3 Dongcheng Rd, flat 501")
        assert (order.dest_lat, order.dest_lng) == HOME
    assert wallet_available(db, kitchen.customer_id) == 6_500
    assert cart_lines(db, kitchen.customer_id, kitchen.store_id) == []  # that store's cart is emptied
    assert available(db, kitchen.cola) == 18
    page = customer.get(f"/orders/{order_id}").text
    assert 'data-state="paid"' in page and "Waiting for the shop" in page
    assert 'data-poll-order' in page and f'data-poll-url="/api/orders/{order_id}"' in page
    assert [e for e in re.findall(r'data-event="([a-z_]+)"', page)] == ["place", "pay"]
    assert 'data-testid="order-cancel"' in page and 'data-testid="pickup-code"' not in page
    listing = customer.get("/orders").text
    assert f'data-order-id="{order_id}"' in listing and "Lanzhou Noodles" in listing


def test_checkout_with_too_little_in_the_wallet_places_nothing(
    customer: TestClient, db: Database, settings: Settings, kitchen: Kitchen
) -> None:
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 1_000)
    fill_cart(customer, kitchen)
    before = counts(db)
    r = checkout(customer, kitchen, "wallet", **delivery())
    assert (r.status_code, error_code(r.text)) == (402, "insufficient_funds")
    assert f"Your wallet holds {yuan(1_000)}; this order needs {yuan(3_500)}." in r.text
    assert 'href="/wallet?amount=25.00#top-up" data-testid="top-up-link"' in r.text
    assert counts(db) == before  # no order, no line, no event, no hold, no payment
    assert wallet_available(db, kitchen.customer_id) == 1_000
    assert available(db, kitchen.cola) == 20
    assert len(cart_lines(db, kitchen.customer_id, kitchen.store_id)) == 2  # the cart is kept


def test_checkout_refusals_change_nothing(customer: TestClient, db: Database, settings: Settings, kitchen: Kitchen) -> None:
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 10_000)
    fill_cart(customer, kitchen)
    before = counts(db)
    page = customer.get(f"/checkout/{kitchen.store_id}", params={"kind": "delivery", "lat": "", "lng": ""}).text
    assert 'data-code="address_required"' in page and 'data-testid="pay-wallet"' not in page
    far = html.unescape(customer.get(f"/checkout/{kitchen.store_id}", params=delivery(lat="39.99")).text)
    assert 'data-code="outside_delivery_area"' in far and "outside the store's delivery area (10 km away)" in far
    token = csrf_of(page)
    cases = [
        ({"kind": "delivery", "pay": "wallet"}, 422, "address_required"),
        ({**delivery(lat="39.99"), "pay": "wallet"}, 409, "outside_delivery_area"),
        ({**delivery(), "pay": "wallet", "expected_total": "3400"}, 409, "price_changed"),
        ({**delivery(), "pay": "paypal"}, 422, "unknown_channel"),
        ({**delivery(), "pay": "wallet", "csrf_token": "forged"}, 403, "csrf_failed"),
    ]
    for data, status, code in cases:
        r = customer.post(f"/checkout/{kitchen.store_id}", data={"csrf_token": token, **data})
        assert (r.status_code, error_code(r.text)) == (status, code), (data, r.text[:500])
    assert counts(db) == before and wallet_available(db, kitchen.customer_id) == 10_000
    assert len(cart_lines(db, kitchen.customer_id, kitchen.store_id)) == 2
    # "Update the price" only shows the new quote.
    r = customer.post(f"/checkout/{kitchen.store_id}", data={"kind": "takeout", "pay": "quote"})
    assert r.status_code == 200 and 'data-testid="quote-total" data-amount="3200"' in r.text
    assert counts(db) == before


def test_below_the_minimum_order(customer: TestClient, db: Database, kitchen: Kitchen) -> None:
    add(customer, kitchen, kitchen.cola, 1)
    page = customer.get("/cart").text
    assert 'data-testid="cart-below-minimum"' in page and yuan(500) in page
    r = customer.get(f"/checkout/{kitchen.store_id}", params={"kind": "takeout"})
    assert 'data-code="below_minimum_order"' in r.text
    assert f"The store's minimum order is {yuan(1000)}; your items come to {yuan(500)}." in html.unescape(r.text)
    assert 'data-testid="pay-wallet"' not in r.text


def test_checkout_through_a_channel_hands_over_to_the_wallet(
    customer: TestClient, db: Database, kitchen: Kitchen
) -> None:
    fill_cart(customer, kitchen)
    r = checkout(customer, kitchen, "alipay-sim", kind="takeout")
    target = location(r)
    intent_id = uuid.UUID(target.removeprefix("/wallet/payments/").removesuffix("/checkout"))
    assert target == f"/wallet/payments/{intent_id}/checkout"
    with db.sessionmaker() as s:
        intent = payments.get_intent(s, intent_id)
        order = s.scalar(select(Order).where(Order.intent_id == intent_id))
        assert (intent.status, intent.method, intent.amount) == ("processing", "alipay-sim", 3200)
        assert (order.state, order.kind, order.customer_person_id) == ("placed", "takeout", kitchen.customer_id)
    assert cart_lines(db, kitchen.customer_id, kitchen.store_id) == []
    page = customer.get(f"/orders/{order.id}").text
    assert "Waiting for payment" in page and f'href="/wallet/payments/{intent_id}" data-testid="order-pay"' in page
    assert re.search(r'data-testid="pickup-code">\d{4}<', page)


def test_click_and_collect_paid_at_the_counter(customer: TestClient, db: Database, kitchen: Kitchen) -> None:
    token = csrf_of(customer.get("/cart").text)
    # The store page's "Reserve to collect" puts the item in the cart and goes on to the checkout.
    r = add(customer, kitchen, kitchen.dumplings, 1, token=token, kind="click_collect")
    assert location(r) == f"/checkout/{kitchen.store_id}?kind=click_collect"
    page = customer.get(location(r)).text
    assert 'value="click_collect" checked' in page
    r = checkout(customer, kitchen, "counter", kind="click_collect", payment_mode="at_counter")
    order_id = uuid.UUID(location(r).removeprefix("/orders/"))
    with db.sessionmaker() as s:
        order = service.get_order(s, order_id)
        assert (order.state, order.payment_mode, order.intent_id, order.total) == ("placed", "at_counter", None, 2400)
    page = customer.get(f"/orders/{order_id}").text
    assert "You pay" in page and yuan(2400) in page and 'data-testid="order-pay"' not in page
    assert "Reserved: waiting for the shop" in page and "Waiting for payment" not in page


# ---------------------------------------------------------------------------------------------------- my orders


def place(db: Database, settings: Settings, kitchen: Kitchen, *, customer: uuid.UUID | None = None,
          kind: OrderKind = OrderKind.DELIVERY, wallet: bool = True) -> uuid.UUID:
    customer = customer or kitchen.customer_id
    fund(db, settings, kitchen.city_id, customer, 10_000)
    with db.session() as s:
        order = service.place(
            s, settings, customer_id=customer, store_id=kitchen.store_id, kind=kind,
            lines=[LineRequest(kitchen.noodles, 1, (kitchen.size_large,)), LineRequest(kitchen.cola, 1)],
            destination=service.Destination(HOME[0], HOME[1], "Flat 501") if kind == OrderKind.DELIVERY else None,
            pay_with_wallet=wallet,
        )
        return order.id


def test_cancel_my_order_and_see_the_refund(customer: TestClient, db: Database, settings: Settings, kitchen: Kitchen) -> None:
    order_id = place(db, settings, kitchen)
    assert wallet_available(db, kitchen.customer_id) == 10_000 - 3_000
    page = customer.get(f"/orders/{order_id}").text
    r = customer.post(f"/orders/{order_id}/cancel", data={"csrf_token": "forged"})
    assert (r.status_code, error_code(r.text)) == (403, "csrf_failed")
    assert wallet_available(db, kitchen.customer_id) == 7_000
    r = customer.post(f"/orders/{order_id}/cancel", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert location(r) == f"/orders/{order_id}"
    page = customer.get(f"/orders/{order_id}").text
    assert 'data-state="canceled"' in page and "Canceled by the customer" in page
    assert 'data-testid="order-refund" data-amount="3000"' in page
    assert "data-poll-order" not in page and 'data-testid="order-cancel"' not in page
    assert wallet_available(db, kitchen.customer_id) == 10_000


def test_cancel_refused_once_the_shop_accepted(customer: TestClient, db: Database, settings: Settings,
                                               kitchen: Kitchen) -> None:
    order_id = place(db, settings, kitchen)
    token = csrf_of(customer.get(f"/orders/{order_id}").text)
    with db.session() as s:
        service.merchant_step(s, order_id, OrderEvent.ACCEPT, store_id=kitchen.store_id, person_id=kitchen.staff_id)
    r = customer.post(f"/orders/{order_id}/cancel", data={"csrf_token": token})
    assert (r.status_code, error_code(r.text)) == (409, "order_state_conflict")
    assert "This order is accepted now" in r.text
    assert wallet_available(db, kitchen.customer_id) == 7_000


def test_someone_elses_order_is_not_found(app, db: Database, settings: Settings, kitchen: Kitchen) -> None:  # type: ignore[no-untyped-def]
    order_id = place(db, settings, kitchen)
    for other in person_client(app, db, kitchen.other_customer_id):
        for path in (f"/orders/{order_id}", "/orders/not-an-id", f"/orders/{uuid.uuid4()}"):
            r = other.get(path)
            assert (r.status_code, error_code(r.text)) == (404, "order_not_found"), path
            assert "Lanzhou" not in r.text
        token = csrf_of(other.get("/orders").text)
        r = other.post(f"/orders/{order_id}/cancel", data={"csrf_token": token})
        assert r.status_code == 404
        assert 'data-testid="orders-none"' in other.get("/orders").text
    with db.sessionmaker() as s:
        assert service.get_order(s, order_id).state == "paid"


# ---------------------------------------------------------------------------------------------------- the merchant's console


def test_the_console_is_for_the_people_of_the_store(
    customer: TestClient, staff: TestClient, owner: TestClient, kitchen: Kitchen
) -> None:
    s, other = kitchen.store_id, kitchen.other_store_id
    for section in ("orders", "counter", "stock", "sales"):
        assert staff.get(f"/merchant/stores/{s}/{section}").status_code == 200, section
        assert owner.get(f"/merchant/stores/{s}/{section}").status_code == 200, section
        r = staff.get(f"/merchant/stores/{other}/{section}")
        assert (r.status_code, error_code(r.text)) == (403, "forbidden"), section
        r = customer.get(f"/merchant/stores/{s}/{section}")
        assert (r.status_code, error_code(r.text)) == (403, "forbidden"), section
        r = staff.get(f"/merchant/stores/{uuid.uuid4()}/{section}")
        assert (r.status_code, error_code(r.text)) == (404, "store_not_found"), section
    home = staff.get("/merchant").text
    assert f'data-store-id="{s}" data-role="merchant_staff"' in home
    assert 'data-testid="workplace-catalogue"' not in home  # the catalogue is the owner's
    home = owner.get("/merchant").text
    assert f'data-store-id="{s}" data-role="merchant_owner"' in home and 'data-testid="workplace-catalogue"' in home
    assert 'data-testid="workplaces-none"' in customer.get("/merchant").text


def test_the_shop_takes_an_order_through_its_steps(
    staff: TestClient, db: Database, settings: Settings, kitchen: Kitchen
) -> None:
    order_id = place(db, settings, kitchen)
    page = staff.get(f"/merchant/stores/{kitchen.store_id}/orders").text
    incoming = page.split('data-testid="group-incoming"')[1].split('data-testid="group-active"')[0]
    assert f'data-order-id="{order_id}" data-state="paid"' in incoming
    assert 'data-testid="console-countdown"' in incoming and "10 minutes" in incoming
    assert "Large" in incoming and "Beef noodles" in incoming
    assert "data-poll-events" in page and f"/api/merchant/stores/{kitchen.store_id}/order-events?after=" in page
    token = csrf_of(page)
    base = f"/merchant/stores/{kitchen.store_id}/orders/{order_id}"
    # Refusals first: nothing moves.
    r = staff.post(f"{base}/accept", data={"csrf_token": "forged"})
    assert (r.status_code, error_code(r.text)) == (403, "csrf_failed")
    r = staff.post(f"{base}/deliver", data={"csrf_token": token})
    assert (r.status_code, error_code(r.text)) == (409, "order_state_conflict")
    r = staff.post(f"{base}/fly", data={"csrf_token": token})
    assert (r.status_code, error_code(r.text)) == (404, "unknown_step")
    with db.sessionmaker() as s:
        assert service.get_order(s, order_id).state == "paid"
    for step, state in (("accept", "accepted"), ("start", "preparing"), ("ready", "ready"), ("pick-up", "completed")):
        if step == "pick-up":
            # Handed to the shop's own rider, then delivered.
            assert location(staff.post(f"{base}/pick-up", data={"csrf_token": token})) == (
                f"/merchant/stores/{kitchen.store_id}/orders#order-{order_id}"
            )
            page = staff.get(f"/merchant/stores/{kitchen.store_id}/orders").text
            assert f'data-order-id="{order_id}" data-state="picked_up"' in page and 'data-testid="step-deliver"' in page
            step = "deliver"
        r = staff.post(f"{base}/{step}", data={"csrf_token": token}, follow_redirects=False)
        assert location(r).endswith(f"#order-{order_id}"), step
        with db.sessionmaker() as s:
            assert service.get_order(s, order_id).state == state, step
    page = staff.get(f"/merchant/stores/{kitchen.store_id}/orders").text
    done = page.split('data-testid="group-done"')[1]
    assert f'data-order-id="{order_id}" data-state="completed"' in done


def test_the_shop_rejects_with_a_reason(customer: TestClient, staff: TestClient, db: Database, settings: Settings,
                                        kitchen: Kitchen) -> None:
    order_id = place(db, settings, kitchen)
    token = csrf_of(staff.get(f"/merchant/stores/{kitchen.store_id}/orders").text)
    base = f"/merchant/stores/{kitchen.store_id}/orders/{order_id}"
    r = staff.post(f"{base}/cancel", data={"csrf_token": token, "reason": ""})
    assert (r.status_code, error_code(r.text)) == (422, "invalid_cancel_reason")
    assert wallet_available(db, kitchen.customer_id) == 7_000
    assert location(staff.post(f"{base}/cancel", data={"csrf_token": token, "reason": "too_busy"}))
    assert wallet_available(db, kitchen.customer_id) == 10_000  # refunded
    page = customer.get(f"/orders/{order_id}").text
    assert "Canceled by the shop" in page and "Too busy" in page
    # Another store's staff cannot touch it.
    r = staff.post(f"/merchant/stores/{kitchen.other_store_id}/orders/{order_id}/accept", data={"csrf_token": token})
    assert r.status_code == 403


def test_collecting_an_order_paid_at_the_counter_needs_the_tender(
    staff: TestClient, db: Database, settings: Settings, kitchen: Kitchen
) -> None:
    with db.session() as s:
        order_id = service.place(
            s, settings, customer_id=kitchen.customer_id, store_id=kitchen.store_id, kind=OrderKind.CLICK_COLLECT,
            payment_mode=service.PaymentMode.AT_COUNTER, lines=[LineRequest(kitchen.dumplings, 1)],
        ).id
    page = staff.get(f"/merchant/stores/{kitchen.store_id}/orders").text
    assert f'data-order-id="{order_id}" data-state="placed"' in page and "Pays at the counter" in page
    token = csrf_of(page)
    base = f"/merchant/stores/{kitchen.store_id}/orders/{order_id}"
    for step in ("accept", "ready"):
        location(staff.post(f"{base}/{step}", data={"csrf_token": token}))
    page = staff.get(f"/merchant/stores/{kitchen.store_id}/orders").text
    assert 'data-testid="console-tender"' in page
    r = staff.post(f"{base}/pick-up", data={"csrf_token": token})
    assert (r.status_code, error_code(r.text)) == (422, "tender_required")
    location(staff.post(f"{base}/pick-up", data={"csrf_token": token, "tender": "cash"}))
    with db.sessionmaker() as s:
        order = service.get_order(s, order_id)
        assert (order.state, order.tender) == ("completed", "cash")


def test_the_counter_sells_from_the_catalogue(staff: TestClient, db: Database, kitchen: Kitchen) -> None:
    counter = f"/merchant/stores/{kitchen.store_id}/counter"
    page = staff.get(counter).text
    assert 'data-testid="ticket-empty"' in page and "Beef noodles" in page
    # Adding is a GET that answers with the ticket in the address.
    r = staff.get(counter, params={"add": str(kitchen.noodles), "option_id": [str(kitchen.size_large)], "quantity": "2"},
                  follow_redirects=False)
    ticket = parse_qs(urlsplit(location(r)).query)["ticket"][0]
    r = staff.get(counter, params={"ticket": ticket, "add": str(kitchen.dumplings), "quantity": "2"},
                  follow_redirects=False)
    ticket = parse_qs(urlsplit(location(r)).query)["ticket"][0]
    page = staff.get(counter, params={"ticket": ticket}).text
    assert page.count('data-testid="ticket-line"') == 2
    assert 'data-testid="ticket-total" data-amount="9000"' in page  # 2 × 2100 + 2 × 2400
    token = csrf_of(page)
    r = staff.post(counter, data={"ticket": ticket, "tender": "", "csrf_token": token})
    assert (r.status_code, error_code(r.text)) == (422, "invalid_tender")
    r = staff.post(counter, data={"ticket": ticket, "tender": "card", "csrf_token": "forged"})
    assert (r.status_code, error_code(r.text)) == (403, "csrf_failed")
    assert on_hand(db, kitchen.dumplings) == 5
    r = staff.post(counter, data={"ticket": ticket, "tender": "card", "csrf_token": token}, follow_redirects=False)
    sold = uuid.UUID(parse_qs(urlsplit(location(r)).query)["sold"][0])
    page = staff.get(location(r)).text
    assert f'data-testid="counter-sold" data-order-id="{sold}"' in page and "paid with card" in page
    assert on_hand(db, kitchen.dumplings) == 3
    with db.sessionmaker() as s:
        order = service.get_order(s, sold)
        assert (order.kind, order.state, order.total, order.tender, order.clerk_person_id) == (
            "counter", "completed", 9000, "card", kitchen.staff_id
        )


def test_the_counter_refuses_what_is_not_on_the_shelf(staff: TestClient, db: Database, kitchen: Kitchen) -> None:
    counter = f"/merchant/stores/{kitchen.store_id}/counter"
    ticket = ticket_text([carts.CartLine(kitchen.dumplings, 6, ()), carts.CartLine(kitchen.cola, 1, ())])
    page = staff.get(counter, params={"ticket": ticket}).text
    before = counts(db)
    r = staff.post(counter, data={"ticket": ticket, "tender": "cash", "csrf_token": csrf_of(page)})
    assert (r.status_code, error_code(r.text)) == (409, "out_of_stock")
    assert "Not enough left: Dumplings (5 left)." in r.text
    assert counts(db) == before and on_hand(db, kitchen.dumplings) == 5 and on_hand(db, kitchen.cola) == 20


def test_stock_counts_and_their_refusals(staff: TestClient, owner: TestClient, db: Database, settings: Settings,
                                         kitchen: Kitchen) -> None:
    stock_url = f"/merchant/stores/{kitchen.store_id}/stock"
    page = staff.get(stock_url).text
    assert re.search(rf'data-item-id="{kitchen.noodles}" data-tracked="false"', page)
    assert re.search(rf'data-item-id="{kitchen.cola}" data-tracked="true"', page)
    assert 'data-testid="stock-untrack"' not in page  # the owner's
    token = csrf_of(page)
    r = staff.post(stock_url, data={"item_id": str(kitchen.cola), "on_hand": "12", "csrf_token": token},
                   follow_redirects=False)
    assert location(r) == f"{stock_url}?saved={kitchen.cola}#item-{kitchen.cola}"
    assert on_hand(db, kitchen.cola) == 12
    # Checkouts hold 2 dumplings: the count cannot go below that.
    with db.session() as s:
        stock.hold(s, city_id=kitchen.city_id, store_id=kitchen.store_id, reference="test", quantities={kitchen.dumplings: 2})
    for data, status, code in [
        ({"item_id": str(kitchen.dumplings), "on_hand": "1"}, 409, "stock_below_held"),
        ({"item_id": str(kitchen.dumplings), "on_hand": "-1"}, 422, "invalid_stock"),
        ({"item_id": str(kitchen.dumplings), "on_hand": "many"}, 422, "invalid_stock"),
        ({"item_id": str(uuid.uuid4()), "on_hand": "3"}, 422, "unknown_item"),
        ({"item_id": str(kitchen.dumplings), "on_hand": "3", "csrf_token": "forged"}, 403, "csrf_failed"),
    ]:
        r = staff.post(stock_url, data={"csrf_token": token, **data})
        assert (r.status_code, error_code(r.text)) == (status, code), data
    assert "2 units are held by checkouts in progress" in staff.post(
        stock_url, data={"csrf_token": token, "item_id": str(kitchen.dumplings), "on_hand": "1"}).text
    assert on_hand(db, kitchen.dumplings) == 5
    # Staff cannot stop tracking; the owner can; starting again is a count.
    r = staff.post(stock_url, data={"csrf_token": token, "item_id": str(kitchen.cola), "action": "untrack"})
    assert r.status_code == 403 and on_hand(db, kitchen.cola) == 12
    owner_token = csrf_of(owner.get(stock_url).text)
    location(owner.post(stock_url, data={"csrf_token": owner_token, "item_id": str(kitchen.cola), "action": "untrack"}))
    assert on_hand(db, kitchen.cola) is None
    location(staff.post(stock_url, data={"csrf_token": token, "item_id": str(kitchen.noodles), "on_hand": "7"}))
    assert on_hand(db, kitchen.noodles) == 7


def test_sales_by_channel_for_a_day(staff: TestClient, db: Database, settings: Settings, kitchen: Kitchen) -> None:
    place(db, settings, kitchen)
    place(db, settings, kitchen, kind=OrderKind.TAKEOUT)
    with db.session() as s:
        service.sell_at_counter(s, store_id=kitchen.store_id, clerk_id=kitchen.staff_id,
                                lines=[LineRequest(kitchen.cola, 2)], tender="cash")
    page = staff.get(f"/merchant/stores/{kitchen.store_id}/sales").text
    rows = dict(re.findall(r'data-testid="sales-row" data-channel="([a-z_]+)" data-orders="\d+" data-amount="(\d+)"', page))
    assert rows == {"delivery": "3000", "takeout": "2700", "click_collect": "0", "counter": "1000", "vouchers": "0"}
    assert 'data-testid="sales-total-amount" data-amount="6700"' in page
    assert page.count('data-testid="sales-bar"') == 5 and "<svg" in page
    yesterday = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8) - dt.timedelta(days=1)).date()
    page = staff.get(f"/merchant/stores/{kitchen.store_id}/sales", params={"day": yesterday.isoformat()}).text
    assert 'data-testid="sales-total-amount" data-amount="0"' in page and 'data-testid="sales-next"' in page
    r = staff.get(f"/merchant/stores/{kitchen.store_id}/sales", params={"day": "2026-02-30"})
    assert (r.status_code, error_code(r.text)) == (400, "invalid_day")


# ---------------------------------------------------------------------------------------------------- the demo city's history
# (Here because the order pages show it: the sales page reads these rows.)


def test_the_demo_city_has_a_month_of_order_history(db: Database) -> None:
    from collections import Counter

    from o2o.demo.generator import STEPS, DemoContext, DemoSize, run_steps
    from o2o.demo.geography import CITIES
    from o2o.kit.time import frozen_clock
    from o2o.orders import demo  # noqa: F401  (registers the step)
    from o2o.stores import demo_catalogue  # noqa: F401  (the menus the history sells from)

    names = [step.name for step in STEPS]
    assert names.index("catalogues") < names.index("order_history") and names.count("order_history") == 1
    moment = dt.datetime(2026, 3, 16, 4, 0, tzinfo=dt.UTC)  # a Monday noon in Beijing: the dates are fixed
    with db.session() as s, frozen_clock(moment):
        ctx = DemoContext(session=s, spec=CITIES["beijing"], size=DemoSize("tiny", stores=12, people=80), seed=3)
        run_steps(ctx)
        city_id, timezone = ctx.city_id, ctx.city["timezone"]
        demo_customer = next(p["id"] for p in ctx.people if p["phone_e164"] == "+8613800000006")
    with db.sessionmaker() as s:
        orders = s.scalars(select(Order).where(Order.city_id == city_id)).all()
        assert len(orders) >= 12 * 20
        # History only: no payment, no refund, no money in the ledger.
        assert all(o.intent_id is None and o.refund_id is None for o in orders)
        assert s.scalar(select(func.count()).select_from(PaymentIntent)) == 0
        assert {o.state for o in orders} == {"completed", "canceled"}
        kinds = Counter(o.kind for o in orders)
        assert set(kinds) == {"delivery", "takeout", "click_collect", "counter"}
        assert kinds["delivery"] > max(kinds["takeout"], kinds["click_collect"])
        restaurants = {store["id"] for store in ctx.stores if store["category"] == "food"}
        assert Counter(o.kind for o in orders if o.store_id in restaurants).most_common(1)[0][0] == "delivery"
        canceled = [o for o in orders if o.state == "canceled"]
        assert 0 < len(canceled) < len(orders) / 5
        assert {o.cancel_reason for o in canceled} <= {"customer_request", "unpaid", "not_accepted", *service.MERCHANT_CANCEL_REASONS}
        assert any(o.customer_person_id == demo_customer for o in orders)
        lines = service.lines_of(s, [o.id for o in orders])
        items = dict(s.execute(select(MenuItem.id, MenuItem.store_id)).all())
        local = [clock_in(o.created_at, timezone) for o in orders]
        today = clock_in(moment, timezone).date()
        for order, when in zip(orders, local, strict=True):
            assert today - dt.timedelta(days=30) <= when.date() < today
            assert lines[order.id] and all(items[line.item_id] == order.store_id for line in lines[order.id])
            assert order.subtotal == sum(line.line_total for line in lines[order.id])
            assert order.total == order.subtotal + order.packaging_fee + order.delivery_fee
            if order.kind == "delivery":
                assert order.dest_lat is not None and order.delivery_fee > 0 and order.address
            if order.state == "completed":
                assert order.paid_at is not None and order.completed_at is not None
        # Every order's events are numbered 1..n, in time, ending in its state.
        events: dict[uuid.UUID, list[OrderEventRecord]] = {}
        for e in s.scalars(select(OrderEventRecord).order_by(OrderEventRecord.order_id, OrderEventRecord.seq)):
            events.setdefault(e.order_id, []).append(e)
        for order in orders:
            timeline = events[order.id]
            assert [e.seq for e in timeline] == list(range(1, order.seq + 1))
            assert [e.at for e in timeline] == sorted(e.at for e in timeline)
            assert timeline[-1].state == order.state and timeline[0].event in ("place", "sell")
        # Lunch and dinner beat the small hours; the weekend beats the week.
        hours = Counter(w.hour for w in local)
        assert hours[12] + hours[18] > 4 * (hours[3] + hours[4] + 1)
        per_day = Counter(w.date() for w in local)
        weekend = [n for d, n in per_day.items() if d.weekday() >= 5]
        week = [n for d, n in per_day.items() if d.weekday() < 5]
        assert sum(weekend) / max(1, len(weekend)) > sum(week) / max(1, len(week))
        # The sales page's figures count them.
        busiest = per_day.most_common(1)[0][0]
        from o2o.orders.endpoints import sales_by_channel

        store_id = Counter(o.store_id for o, w in zip(orders, local, strict=True) if w.date() == busiest).most_common(1)[0][0]
        assert sum(row.orders for row in sales_by_channel(s, store_id, busiest)) > 0


def clock_in(value: dt.datetime, timezone: str) -> dt.datetime:
    from o2o.kit.time import in_zone

    return in_zone(value, timezone)
