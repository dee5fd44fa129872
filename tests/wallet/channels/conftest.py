"""Channel test helpers: RSA keys made once per run (pure tests), and settings for the simulators."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa


@pytest.fixture(scope="session")
def key_pair() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# ----------------------------------------------------------------------------------------------------------------
# In-process HTTP: our clients -> the simulators, the simulators' callbacks -> a recording receiver.


from dataclasses import dataclass, field  # noqa: E402

from fastapi import Request  # noqa: E402
from fastapi.responses import Response  # noqa: E402

from o2o.config import Settings  # noqa: E402
from o2o.wallet.channels import get_channel  # noqa: E402
from o2o.wallet.channels.base import ChannelError, PaymentNotification  # noqa: E402
from tests.wallet.conftest import cashier_forms, set_rates, with_rates  # noqa: E402, F401 (shared helpers)


@dataclass
class Received:
    channel: str
    body: bytes
    headers: dict[str, str]
    parsed: PaymentNotification | None = None
    error: ChannelError | None = None


@dataclass
class Receiver:
    """Our side of the callbacks, as the payments service would do it: parse (verify first), then ack."""

    settings: Settings
    received: list[Received] = field(default_factory=list)
    fail_next: int = 0  # answer "not accepted" to this many genuine callbacks first

    def url(self, channel: str) -> str:
        return f"{self.settings.base_url}/test/notify/{channel}"

    def accepted(self) -> list[PaymentNotification]:
        return [r.parsed for r in self.received if r.parsed is not None]

    def refused(self) -> list[Received]:
        return [r for r in self.received if r.error is not None]


@pytest.fixture
def receiver(app, settings: Settings) -> Receiver:
    rec = Receiver(settings)

    async def notify(channel: str, request: Request) -> Response:
        body = await request.body()
        client = get_channel(channel, request.app.state.settings)
        item = Received(channel, body, dict(request.headers))
        try:
            item.parsed = client.parse_notification(body, request.headers)
        except ChannelError as exc:
            item.error = exc
        accept = item.parsed is not None
        if accept and rec.fail_next > 0:
            rec.fail_next -= 1
            accept, item.parsed = False, None
        rec.received.append(item)
        ack = client.ack(accept, str(item.error or "try again"))
        return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)

    app.add_api_route("/test/notify/{channel}", notify, methods=["POST"])
    return rec
