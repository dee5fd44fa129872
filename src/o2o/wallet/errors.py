"""The wallet's errors: one factory per stable ``code`` (4xx for expected failures, 503 when safe to retry)."""

from __future__ import annotations

from o2o.errors import AppError

INTENT_NOT_FOUND = (404, "payment_intent_not_found")
REFUND_NOT_FOUND = (404, "refund_not_found")
INSUFFICIENT_FUNDS = (402, "insufficient_funds")
INTENT_NOT_PAYABLE = (409, "payment_intent_not_payable")
INTENT_NOT_CANCELABLE = (409, "payment_intent_not_cancelable")
INTENT_EXPIRED = (409, "payment_intent_expired")
NOT_REFUNDABLE = (409, "payment_not_refundable")
REFUND_EXCEEDS_PAYMENT = (409, "refund_exceeds_payment")
REFUND_NO_REUSED = (409, "refund_no_reused")
REFUND_IN_PROGRESS = (409, "refund_in_progress")
MERCHANT_BALANCE_INSUFFICIENT = (409, "merchant_balance_insufficient")
NOT_SETTLEABLE = (409, "payment_not_settleable")
UNKNOWN_CHANNEL = (400, "unknown_channel")
UNKNOWN_STORE = (400, "unknown_store")
INVALID_AMOUNT = (400, "invalid_amount")
CURRENCY_MISMATCH = (400, "currency_mismatch")
CHANNEL_UNAVAILABLE = (503, "channel_unavailable")
RECONCILIATION_NOT_READY = (409, "bill_not_ready")


def _error(pair: tuple[int, str], detail: str) -> AppError:
    status, code = pair
    return AppError(code, status, detail)


def intent_not_found() -> AppError:
    return _error(INTENT_NOT_FOUND, "No such payment.")


def refund_not_found() -> AppError:
    return _error(REFUND_NOT_FOUND, "No such refund.")


def insufficient_funds(available: int, needed: int) -> AppError:
    return _error(INSUFFICIENT_FUNDS, f"The wallet holds {available} fen; this payment needs {needed} fen. Top up first.")


def not_payable(status: str) -> AppError:
    return _error(INTENT_NOT_PAYABLE, f"This payment is {status}; it cannot be paid now.")


def not_cancelable(status: str) -> AppError:
    return _error(INTENT_NOT_CANCELABLE, f"This payment is {status}; it can no longer be canceled.")


def expired() -> AppError:
    return _error(INTENT_EXPIRED, "This payment was not completed in time and is closed.")


def not_refundable(why: str) -> AppError:
    return _error(NOT_REFUNDABLE, why)


def refund_exceeds(left: int) -> AppError:
    return _error(REFUND_EXCEEDS_PAYMENT, f"At most {left} fen of this payment can still be refunded.")


def refund_no_reused() -> AppError:
    return _error(REFUND_NO_REUSED, "This refund number was already used for a different refund of this payment.")


def refund_in_progress() -> AppError:
    return _error(REFUND_IN_PROGRESS, "A refund of this payment is still being processed by the channel.")


def not_settleable(why: str) -> AppError:
    return _error(NOT_SETTLEABLE, why)


def unknown_channel(name: str) -> AppError:
    return _error(UNKNOWN_CHANNEL, f"Unknown payment channel {name!r}; use alipay-sim or wechatpay-sim.")


def unknown_store() -> AppError:
    return _error(UNKNOWN_STORE, "No such store.")


def invalid_amount(detail: str) -> AppError:
    return _error(INVALID_AMOUNT, detail)


def currency_mismatch(expected: str) -> AppError:
    return _error(CURRENCY_MISMATCH, f"This city pays in {expected}.")


def channel_unavailable() -> AppError:
    return _error(CHANNEL_UNAVAILABLE, "The payment channel did not answer; try again in a moment.")


def bill_not_ready() -> AppError:
    return _error(RECONCILIATION_NOT_READY, "The channel's bill for this day is not available yet.")


def merchant_balance_insufficient() -> AppError:
    return _error(
        MERCHANT_BALANCE_INSUFFICIENT,
        "This sale is settled and the store's balance no longer covers the refund.",
    )
