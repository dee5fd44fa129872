"""The payment intent's state machine (pure: no database, no web).

An intent is the platform's promise to collect one amount for one thing sold (a shop payment, an order, a
voucher, a ride, a wallet top-up). Its life, in the spirit of Stripe's PaymentIntent:

    requires_payment --pay_from_wallet--> succeeded
    requires_payment --start_channel----> processing --channel_paid----> succeeded
                                          processing --channel_closed--> requires_payment (retry another way)
                                                                         or canceled (expired / cancel asked)
    requires_payment --cancel / expire--> canceled
    processing       --channel_paid_wrong_amount--> failed (the money is sent back)

``processing`` means a channel trade is live: only the channel can end it (the customer pays, or we close the
trade there and the channel confirms). So a cancellation or an expiry of a processing intent is *asked for*
(``close_requested``) and takes effect when the channel says the trade is closed; if the customer paid first,
the payment wins and the intent succeeds. Nothing here ever creates a second payment for one intent: a new
channel attempt starts only after the previous trade is known to be closed.

``succeeded``, ``failed`` and ``canceled`` are final. Money moves with the transitions into ``succeeded``
(customer's wallet or the channel's clearing account -> the sales escrow) and ``failed`` (nothing is kept).
"""

from __future__ import annotations

from enum import StrEnum


class IntentStatus(StrEnum):
    REQUIRES_PAYMENT = "requires_payment"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class IntentEvent(StrEnum):
    PAY_FROM_WALLET = "pay_from_wallet"
    START_CHANNEL = "start_channel"
    CHANNEL_PAID = "channel_paid"
    CHANNEL_PAID_WRONG_AMOUNT = "channel_paid_wrong_amount"
    CHANNEL_CLOSED = "channel_closed"  # closed without payment, and no close was asked: try again
    CHANNEL_CLOSED_AS_ASKED = "channel_closed_as_asked"  # closed after an expiry or a cancellation
    CANCEL = "cancel"
    EXPIRE = "expire"


class CancellationReason(StrEnum):
    REQUESTED = "requested"  # by the payer or the seller
    EXPIRED = "expired"  # unpaid at the deadline
    ABANDONED = "abandoned"  # the seller's order went away (e.g. an order canceled before payment)


FINAL = frozenset({IntentStatus.SUCCEEDED, IntentStatus.FAILED, IntentStatus.CANCELED})

TRANSITIONS: dict[tuple[IntentStatus, IntentEvent], IntentStatus] = {
    (IntentStatus.REQUIRES_PAYMENT, IntentEvent.PAY_FROM_WALLET): IntentStatus.SUCCEEDED,
    (IntentStatus.REQUIRES_PAYMENT, IntentEvent.START_CHANNEL): IntentStatus.PROCESSING,
    (IntentStatus.REQUIRES_PAYMENT, IntentEvent.CANCEL): IntentStatus.CANCELED,
    (IntentStatus.REQUIRES_PAYMENT, IntentEvent.EXPIRE): IntentStatus.CANCELED,
    (IntentStatus.PROCESSING, IntentEvent.CHANNEL_PAID): IntentStatus.SUCCEEDED,
    (IntentStatus.PROCESSING, IntentEvent.CHANNEL_PAID_WRONG_AMOUNT): IntentStatus.FAILED,
    (IntentStatus.PROCESSING, IntentEvent.CHANNEL_CLOSED): IntentStatus.REQUIRES_PAYMENT,
    (IntentStatus.PROCESSING, IntentEvent.CHANNEL_CLOSED_AS_ASKED): IntentStatus.CANCELED,
}
"""Every legal move. Anything else is refused by ``next_status``."""


class IllegalTransition(ValueError):
    def __init__(self, status: IntentStatus, event: IntentEvent) -> None:
        super().__init__(f"{event} is not allowed in {status}")
        self.status = status
        self.event = event


def next_status(status: IntentStatus, event: IntentEvent) -> IntentStatus:
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise IllegalTransition(status, event) from None


def can(status: IntentStatus, event: IntentEvent) -> bool:
    return (status, event) in TRANSITIONS


def closed_event(close_requested: bool) -> IntentEvent:
    """What a trade closed at the channel means for a processing intent."""
    return IntentEvent.CHANNEL_CLOSED_AS_ASKED if close_requested else IntentEvent.CHANNEL_CLOSED


# ---------------------------------------------------------------------------------------------------- splits


def settlement_split(net_fen: int, commission_rate_bp: int, courier_fee_fen: int) -> tuple[int, int, int]:
    """Split a completed sale's net amount (paid minus refunded) into (merchant, commission, courier).

    The courier's fee comes off the top; the platform's commission is ``rate`` of what remains, rounded half
    up to the fen; the merchant gets the rest. The three parts always add up to ``net_fen`` exactly.
    """
    if net_fen < 0 or courier_fee_fen < 0:
        raise ValueError("amounts must not be negative")
    if not 0 <= commission_rate_bp <= 10_000:
        raise ValueError("the commission rate is in basis points, 0..10000")
    if courier_fee_fen > net_fen:
        raise ValueError("the courier's fee cannot exceed what is left of the sale")
    goods = net_fen - courier_fee_fen
    commission = (goods * commission_rate_bp + 5_000) // 10_000
    return goods - commission, commission, courier_fee_fen
