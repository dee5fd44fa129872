"""The voucher's life (pure: no database, no web).

::

    pending --paid--------------> issued --redeem--> redeemed --(undo window passes)--> settled (redeemed, paid out)
    pending --payment_failed----> canceled             |  ^
                                  issued --refund---> refunded (by its owner, any time while unused)
                                  issued --expire---> refunded (automatically, when its validity ends)
                                                    redeemed --undo (within the window)--> issued

* ``pending`` holds one unit of the deal's quantity while its payment intent is open; a canceled or failed payment
  gives the unit back (``canceled``).
* A voucher is redeemed at most once: ``issued -> redeemed`` is one conditional UPDATE, so of two staff scanning
  the same voucher, or a redemption racing a refund, exactly one moves the row.
* ``undo`` is possible only within the undo window and before settlement; settlement (the merchant is paid through
  ``payments.settle``) happens once the window has passed and is final. Settlement is recorded as ``settled_at``
  on a ``redeemed`` voucher rather than as a status of its own.
* ``refunded`` and ``canceled`` are final.
"""

from __future__ import annotations

from enum import StrEnum


class VoucherStatus(StrEnum):
    PENDING = "pending"
    ISSUED = "issued"
    REDEEMED = "redeemed"
    REFUNDED = "refunded"
    CANCELED = "canceled"


class VoucherEvent(StrEnum):
    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"
    REDEEM = "redeem"
    UNDO = "undo"
    REFUND = "refund"
    EXPIRE = "expire"


class RefundReason(StrEnum):
    REQUESTED = "requested"  # by the voucher's owner
    EXPIRED = "expired"  # its validity ended unused


FINAL = frozenset({VoucherStatus.REFUNDED, VoucherStatus.CANCELED})
# Statuses whose voucher counts as sold (and against a per-person limit): paid for and not given back.
SOLD = frozenset({VoucherStatus.ISSUED, VoucherStatus.REDEEMED})
# Statuses that hold a unit of the deal's quantity.
HOLDS_A_UNIT = frozenset({VoucherStatus.PENDING, VoucherStatus.ISSUED, VoucherStatus.REDEEMED})

TRANSITIONS: dict[tuple[VoucherStatus, VoucherEvent], VoucherStatus] = {
    (VoucherStatus.PENDING, VoucherEvent.PAID): VoucherStatus.ISSUED,
    (VoucherStatus.PENDING, VoucherEvent.PAYMENT_FAILED): VoucherStatus.CANCELED,
    (VoucherStatus.ISSUED, VoucherEvent.REDEEM): VoucherStatus.REDEEMED,
    (VoucherStatus.REDEEMED, VoucherEvent.UNDO): VoucherStatus.ISSUED,
    (VoucherStatus.ISSUED, VoucherEvent.REFUND): VoucherStatus.REFUNDED,
    (VoucherStatus.ISSUED, VoucherEvent.EXPIRE): VoucherStatus.REFUNDED,
}


class IllegalTransition(ValueError):
    def __init__(self, status: VoucherStatus, event: VoucherEvent) -> None:
        super().__init__(f"{event} is not allowed in {status}")
        self.status = status
        self.event = event


def next_status(status: VoucherStatus, event: VoucherEvent) -> VoucherStatus:
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise IllegalTransition(status, event) from None


def can(status: VoucherStatus, event: VoucherEvent) -> bool:
    return (status, event) in TRANSITIONS
