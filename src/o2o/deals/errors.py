"""The deals domain's errors: one factory per stable ``code`` (4xx for expected failures).

404 for what does not exist (or is not the caller's to see), 400 for input that cannot be right, 409 for what the
state of a deal or voucher refuses now.
"""

from __future__ import annotations

from o2o.errors import AppError

DEAL_NOT_FOUND = (404, "deal_not_found")
DEAL_NOT_ON_SALE = (409, "deal_not_on_sale")
DEAL_SOLD_OUT = (409, "deal_sold_out")
DEAL_NOT_PUBLISHABLE = (409, "deal_not_publishable")
DEAL_NOT_WITHDRAWABLE = (409, "deal_not_withdrawable")
INVALID_DEAL = (400, "invalid_deal")
UNKNOWN_STORE = (400, "unknown_store")
STORE_NOT_OF_MERCHANT = (400, "store_not_of_merchant")
PURCHASE_LIMIT_REACHED = (409, "purchase_limit_reached")
VOUCHER_NOT_FOUND = (404, "voucher_not_found")
VOUCHER_FORGED = (400, "voucher_forged")
VOUCHER_EXPIRED = (409, "voucher_expired")
VOUCHER_ALREADY_REDEEMED = (409, "voucher_already_redeemed")
VOUCHER_NOT_FOR_THIS_STORE = (409, "voucher_not_for_this_store")
VOUCHER_NOT_USABLE_NOW = (409, "voucher_not_usable_now")
VOUCHER_REFUNDED = (409, "voucher_refunded")
VOUCHER_NOT_PAID = (409, "voucher_not_paid")
VOUCHER_NOT_REDEEMED = (409, "voucher_not_redeemed")
UNDO_WINDOW_PASSED = (409, "undo_window_passed")
CITY_OR_STORE_REQUIRED = (400, "city_or_store_required")


def _error(pair: tuple[int, str], detail: str) -> AppError:
    status, code = pair
    return AppError(code, status, detail)


def deal_not_found() -> AppError:
    return _error(DEAL_NOT_FOUND, "No such deal.")


def deal_not_on_sale(why: str = "This deal is not on sale now.") -> AppError:
    return _error(DEAL_NOT_ON_SALE, why)


def deal_sold_out() -> AppError:
    return _error(DEAL_SOLD_OUT, "This deal is sold out.")


def deal_not_publishable(status: str) -> AppError:
    return _error(DEAL_NOT_PUBLISHABLE, f"This deal is {status}; only a draft can be published.")


def deal_not_withdrawable(status: str) -> AppError:
    return _error(DEAL_NOT_WITHDRAWABLE, f"This deal is {status}; it cannot be withdrawn.")


def invalid_deal(field: str, message: str) -> AppError:
    return AppError(INVALID_DEAL[1], INVALID_DEAL[0], message, extra={"field": field})


def unknown_store() -> AppError:
    return _error(UNKNOWN_STORE, "No such store.")


def store_not_of_merchant() -> AppError:
    return _error(STORE_NOT_OF_MERCHANT, "A deal covers only stores of its own merchant, in its city.")


def purchase_limit_reached(limit: int) -> AppError:
    return _error(PURCHASE_LIMIT_REACHED, f"This deal allows {limit} voucher(s) per person; you have them already.")


def voucher_not_found() -> AppError:
    return _error(VOUCHER_NOT_FOUND, "No such voucher.")


def voucher_forged() -> AppError:
    return _error(VOUCHER_FORGED, "This QR code was not issued by us (its signature does not check out).")


def voucher_expired() -> AppError:
    return _error(VOUCHER_EXPIRED, "This voucher has expired.")


def voucher_already_redeemed() -> AppError:
    return _error(VOUCHER_ALREADY_REDEEMED, "This voucher has already been redeemed.")


def voucher_not_for_this_store() -> AppError:
    return _error(VOUCHER_NOT_FOR_THIS_STORE, "This voucher is not valid in this store.")


def voucher_not_usable_now() -> AppError:
    return _error(VOUCHER_NOT_USABLE_NOW, "This voucher's rules do not allow using it now (day, hours or start date).")


def voucher_refunded() -> AppError:
    return _error(VOUCHER_REFUNDED, "This voucher was refunded.")


def voucher_not_paid() -> AppError:
    return _error(VOUCHER_NOT_PAID, "This voucher is not paid for (yet).")


def voucher_not_redeemed() -> AppError:
    return _error(VOUCHER_NOT_REDEEMED, "This voucher is not redeemed, so there is nothing to undo.")


def undo_window_passed() -> AppError:
    return _error(UNDO_WINDOW_PASSED, "The time to undo this redemption has passed.")


def city_or_store_required() -> AppError:
    return _error(CITY_OR_STORE_REQUIRED, "Give city_id or store_id.")
