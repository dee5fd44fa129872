"""The stores domain's errors: one factory per stable ``code``.

Pairs are ``(status, code)`` for ``problem_responses(...)`` in the endpoints' OpenAPI documentation. A cart that
cannot be priced is refused with 422 when the request itself is wrong (an unknown item, a bad pick of options) and
with 409 when the request is fine but the store cannot sell it now (sold out, outside its breakfast hours).
"""

from __future__ import annotations

from typing import Any

from o2o.errors import AppError

STORE_NOT_FOUND = (404, "store_not_found")
CATEGORY_NOT_FOUND = (404, "menu_category_not_found")
ITEM_NOT_FOUND = (404, "menu_item_not_found")
GROUP_NOT_FOUND = (404, "option_group_not_found")
OPTION_NOT_FOUND = (404, "option_not_found")

# Pricing a cart (menu.price_lines)
EMPTY_CART = (422, "empty_cart")
TOO_MANY_LINES = (422, "too_many_lines")
INVALID_QUANTITY = (422, "invalid_quantity")
UNKNOWN_ITEM = (422, "unknown_item")
UNKNOWN_OPTION = (422, "unknown_option")
DUPLICATE_OPTION = (422, "duplicate_option")
OPTION_PICKS = (422, "option_picks")
ITEM_SOLD_OUT = (409, "item_sold_out")
OPTION_SOLD_OUT = (409, "option_sold_out")
ITEM_UNAVAILABLE_NOW = (409, "item_unavailable_now")

# Editing the catalogue
INVALID_NAME = (422, "invalid_name")
INVALID_DESCRIPTION = (422, "invalid_description")
INVALID_IMAGE = (422, "invalid_image")
INVALID_PRICE = (422, "invalid_price")
INVALID_PRICE_DELTA = (422, "invalid_price_delta")
INVALID_PICKS = (422, "invalid_picks")
INVALID_WINDOWS = (422, "invalid_windows")
INVALID_SOLD_OUT = (422, "invalid_sold_out")
INVALID_ORDER = (422, "invalid_order")
UNKNOWN_CATEGORY = (422, "unknown_menu_category")
NOTHING_TO_CHANGE = (422, "nothing_to_change")
DUPLICATE_NAME = (409, "duplicate_name")
CATEGORY_NOT_EMPTY = (409, "category_not_empty")
UNIT_PRICE_BELOW_ZERO = (409, "unit_price_below_zero")
CATALOGUE_LIMIT = (409, "catalogue_limit")

# Store settings
INVALID_DELIVERY_RADIUS = (422, "invalid_delivery_radius")
INVALID_DELIVERY_AREA = (422, "invalid_delivery_area")
AREA_EXCLUDES_STORE = (422, "area_excludes_store")
INVALID_FEE = (422, "invalid_fee")
INVALID_DELIVERY_BASE = (422, "invalid_delivery_base")
INVALID_ACCEPTING_ORDERS = (422, "invalid_accepting_orders")
INVALID_PREP_MINUTES = (422, "invalid_prep_minutes")
INVALID_OPENING_HOURS = (422, "invalid_opening_hours")


def _error(pair: tuple[int, str], detail: str, **extra: Any) -> AppError:
    status, code = pair
    return AppError(code, status, detail, extra=extra or None)


def store_not_found() -> AppError:
    return _error(STORE_NOT_FOUND, "No such store.")


def category_not_found() -> AppError:
    return _error(CATEGORY_NOT_FOUND, "No such menu category in this store.")


def item_not_found() -> AppError:
    return _error(ITEM_NOT_FOUND, "No such item in this store.")


def group_not_found() -> AppError:
    return _error(GROUP_NOT_FOUND, "No such option group in this store.")


def option_not_found() -> AppError:
    return _error(OPTION_NOT_FOUND, "No such option in this store.")


def invalid(pair: tuple[int, str], detail: str, **extra: Any) -> AppError:
    """Any of the input refusals above, with a detail that says what is wrong and what is allowed."""
    return _error(pair, detail, **extra)
