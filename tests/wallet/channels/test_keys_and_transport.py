"""Key files (made once, 0600, each side reading only its share) and the client's mapping of transport failures,
server errors and unverifiable answers to ``OutcomeUnknown``."""

from __future__ import annotations

import datetime as dt
import stat

import httpx
import pytest

from o2o.config import Settings
from o2o.kit.time import now
from o2o.wallet.channels import alipay, get_channel, keys, transport, wechatpay
from o2o.wallet.channels.base import ChannelRefused, OutcomeUnknown, RefundRequest, TradeRequest


@pytest.fixture
def pure_settings(tmp_path) -> Settings:
    """Settings without a database: these tests never touch one."""
    return Settings(env="test", var_dir=tmp_path / "var", database_url="sqlite:///unused.db")


def test_key_files_are_private_and_stable(pure_settings):
    settings = pure_settings
    merchant = keys.alipay_merchant(settings)
    provider = keys.alipay_provider(settings)
    directory = keys.keys_dir(pure_settings)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    names = sorted(p.name for p in directory.iterdir())
    assert names == sorted(
        ["alipay-sim-merchant.pem", "alipay-sim-merchant.pub.pem", "alipay-sim-provider.pem", "alipay-sim-provider.pub.pem"]
    )
    # Each side holds its own private key and the other's public key.
    assert merchant.alipay_public_key.public_numbers() == provider.private_key.public_key().public_numbers()
    assert provider.merchant_public_key.public_numbers() == merchant.private_key.public_key().public_numbers()
    assert merchant.private_key.public_key().public_numbers() != provider.private_key.public_key().public_numbers()
    again = keys.alipay_merchant(pure_settings)
    assert again.private_key.private_numbers() == merchant.private_key.private_numbers()


def test_wechat_key_material(pure_settings):
    merchant = keys.wechat_merchant(pure_settings)
    provider = keys.wechat_provider(pure_settings)
    assert len(merchant.apiv3_key) == 32 and merchant.apiv3_key == provider.apiv3_key
    assert merchant.platform_serial_no == provider.platform_serial_no != merchant.serial_no == provider.merchant_serial_no
    assert len(merchant.serial_no) == 40


def test_a_new_directory_outside_tests_gets_new_keys(tmp_path):
    first = keys.alipay_merchant(Settings(env="development", var_dir=tmp_path / "a"))
    second = keys.alipay_merchant(Settings(env="development", var_dir=tmp_path / "b"))
    assert first.private_key.private_numbers() != second.private_key.private_numbers()


def test_get_channel_by_name(pure_settings):
    assert get_channel("alipay-sim", pure_settings).name == "alipay-sim"
    assert get_channel("wechatpay-sim", pure_settings).name == "wechatpay-sim"
    with pytest.raises(ValueError):
        get_channel("paypal", pure_settings)


def _request(pure_settings) -> TradeRequest:
    return TradeRequest("PAY-000001", 100, "x", now() + dt.timedelta(minutes=5), "http://n", "http://r")


@pytest.mark.parametrize("name", ["alipay-sim", "wechatpay-sim"])
@pytest.mark.parametrize(
    "answer",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.Response(502, text="bad gateway"),
        httpx.Response(200, text="{not json"),
        httpx.Response(200, json={"alipay_trade_query_response": {"code": "10000"}, "sign": "AAAA"}),
    ],
    ids=["connect", "timeout", "502", "garbage", "bad-signature"],
)
def test_what_cannot_be_trusted_is_outcome_unknown(pure_settings, name, answer):
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = get_channel(name, pure_settings)
    with transport.routed(lambda: httpx.Client(transport=httpx.MockTransport(handler))):
        with pytest.raises(OutcomeUnknown):
            client.query("PAY-000001")
        with pytest.raises(OutcomeUnknown):
            client.refund(RefundRequest("PAY-000001", "RF-000001", 10, 100))
        if name == "wechatpay-sim":
            with pytest.raises(OutcomeUnknown):
                client.checkout_url(_request(pure_settings))


def test_a_signed_wechat_answer_from_the_wrong_key_is_outcome_unknown(pure_settings, other_key):
    wx = keys.wechat_provider(pure_settings)
    body = '{"code_url":"weixin://wxpay/bizpayurl?pr=x"}'

    def handler(request: httpx.Request) -> httpx.Response:
        headers = wechatpay.signed_headers(
            private_key=other_key, serial_no=wx.platform_serial_no, body=body, timestamp=int(now().timestamp())
        )
        return httpx.Response(200, content=body.encode(), headers=headers)

    with transport.routed(lambda: httpx.Client(transport=httpx.MockTransport(handler))), pytest.raises(OutcomeUnknown):
        get_channel("wechatpay-sim", pure_settings).checkout_url(_request(pure_settings))


def test_a_signed_business_refusal_is_channel_refused(pure_settings):
    provider = keys.alipay_provider(pure_settings)

    def handler(request: httpx.Request) -> httpx.Response:
        payload = alipay.business_error("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
        return httpx.Response(200, content=alipay.build_response(alipay.TRADE_REFUND, payload, provider.private_key))

    with (
        transport.routed(lambda: httpx.Client(transport=httpx.MockTransport(handler))),
        pytest.raises(ChannelRefused) as refused,
    ):
        get_channel("alipay-sim", pure_settings).refund(RefundRequest("PAY-000001", "RF-000001", 10, 100))
    assert refused.value.code == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"


def test_a_system_error_is_outcome_unknown(pure_settings):
    provider = keys.alipay_provider(pure_settings)

    def handler(request: httpx.Request) -> httpx.Response:
        payload = {"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "isp.unknow-error"}
        return httpx.Response(200, content=alipay.build_response(alipay.TRADE_QUERY, payload, provider.private_key))

    with transport.routed(lambda: httpx.Client(transport=httpx.MockTransport(handler))), pytest.raises(OutcomeUnknown):
        get_channel("alipay-sim", pure_settings).query("PAY-000001")


def test_an_answer_about_another_trade_is_outcome_unknown(pure_settings):
    provider = keys.alipay_provider(pure_settings)

    def handler(request: httpx.Request) -> httpx.Response:
        payload = alipay.success(out_trade_no="PAY-OTHER1", trade_status="TRADE_SUCCESS", total_amount="1.00")
        return httpx.Response(200, content=alipay.build_response(alipay.TRADE_QUERY, payload, provider.private_key))

    with transport.routed(lambda: httpx.Client(transport=httpx.MockTransport(handler))), pytest.raises(OutcomeUnknown):
        get_channel("alipay-sim", pure_settings).query("PAY-000001")


def test_acks(pure_settings):
    ali, wx = get_channel("alipay-sim", pure_settings), get_channel("wechatpay-sim", pure_settings)
    assert (ali.ack(True).status_code, ali.ack(True).body) == (200, b"success")
    assert ali.ack(False).body == b"fail"
    assert wx.ack(True).status_code == 204 and wx.ack(True).body == b""
    refused = wx.ack(False, "bad signature")
    assert refused.status_code == 500 and b'"code": "FAIL"' in refused.body


def test_the_trade_request_is_checked_before_any_call(pure_settings):
    client = get_channel("alipay-sim", pure_settings)
    with pytest.raises(ValueError):
        client.checkout_url(TradeRequest("short", 100, "x", now(), "http://n", "http://r"))
    with pytest.raises(ValueError):
        client.checkout_url(TradeRequest("PAY-000001", 0, "x", now(), "http://n", "http://r"))
