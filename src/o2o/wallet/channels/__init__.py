"""Payment channels: the contract (``base``), the protocols (``alipay``, ``wechatpay``), our clients
(``clients``), key material (``keys``), the HTTP hook (``transport``) and the simulated providers (``sim``).

The payments service asks for a channel by name::

    channel = get_channel("alipay-sim", settings)
    url = channel.checkout_url(TradeRequest(...))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from o2o.wallet.channels.base import Channel, ChannelName

if TYPE_CHECKING:
    from o2o.config import Settings


def get_channel(name: ChannelName | str, settings: Settings) -> Channel:
    """Our client of the named channel (``ValueError`` for an unknown name)."""
    from o2o.wallet.channels.clients import AlipaySimClient, WechatPaySimClient

    channel = ChannelName(name)
    if channel is ChannelName.ALIPAY_SIM:
        return AlipaySimClient(settings)
    return WechatPaySimClient(settings)


__all__ = ["Channel", "ChannelName", "get_channel"]
