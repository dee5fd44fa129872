"""WeChat Pay API v3, pure: request authorization, signed response headers with a freshness window, the
AEAD_AES_256_GCM resource, and the text bill."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from o2o.wallet.channels import wechatpay

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
TS = int(NOW.timestamp())
KEY = b"0123456789abcdef0123456789ABCDEF"


def test_request_message_layout():
    assert wechatpay.request_message("post", "/v3/pay/transactions/native", "1554208460", "593BEC0C930BF1AFEB40B4A08C8FB242", '{"a":1}') == (
        'POST\n/v3/pay/transactions/native\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n{"a":1}\n'
    )
    assert wechatpay.response_message("1554208460", "N", "") == "1554208460\nN\n\n"


def test_authorization_round_trip(key_pair, other_key):
    header = wechatpay.authorization(
        mchid="1900000109", serial_no="SERIAL", private_key=key_pair, method="GET",
        url_path="/v3/pay/transactions/out-trade-no/PAY-1?mchid=1900000109", body="", timestamp=TS, nonce="NONCE",
    )
    assert header.startswith('WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="NONCE",signature="')
    assert header.endswith(f'timestamp="{TS}",serial_no="SERIAL"')
    check = dict(method="GET", url_path="/v3/pay/transactions/out-trade-no/PAY-1?mchid=1900000109", body="")
    fields = wechatpay.verify_authorization(header, public_key=key_pair.public_key(), serial_no="SERIAL", now=NOW, **check)
    assert fields["mchid"] == "1900000109"
    with pytest.raises(wechatpay.SignatureError, match="serial"):
        wechatpay.verify_authorization(header, public_key=key_pair.public_key(), serial_no="OTHER", now=NOW, **check)
    with pytest.raises(wechatpay.SignatureError, match="does not check out"):
        wechatpay.verify_authorization(header, public_key=other_key.public_key(), serial_no="SERIAL", now=NOW, **check)
    with pytest.raises(wechatpay.SignatureError):  # another path: the signature covers it
        wechatpay.verify_authorization(
            header, public_key=key_pair.public_key(), serial_no="SERIAL", now=NOW,
            method="GET", url_path="/v3/pay/transactions/out-trade-no/PAY-2?mchid=1900000109", body="",
        )
    with pytest.raises(wechatpay.SignatureError, match="stale"):
        wechatpay.verify_authorization(
            header, public_key=key_pair.public_key(), serial_no="SERIAL", now=NOW + dt.timedelta(seconds=301), **check
        )


@pytest.mark.parametrize(
    "header",
    [
        "",
        'WECHATPAY2-SHA256-RSA2048 mchid="1"',
        'OTHER mchid="1",nonce_str="n",signature="s",timestamp="1",serial_no="x"',
        'WECHATPAY2-SHA256-RSA2048 mchid="1",mchid="2",nonce_str="n",signature="s",timestamp="1",serial_no="x"',
        'WECHATPAY2-SHA256-RSA2048 mchid=1,nonce_str="n",signature="s",timestamp="1",serial_no="x"',
    ],
)
def test_malformed_authorization_is_refused(header):
    with pytest.raises(wechatpay.SignatureError):
        wechatpay.parse_authorization(header)


def test_signed_headers_verify_on_the_raw_body(key_pair, other_key):
    body = '{"code_url":"weixin://wxpay/bizpayurl?pr=abc"}'
    headers = wechatpay.signed_headers(private_key=key_pair, serial_no="PLAT", body=body, timestamp=TS)
    lower = {k.lower(): v for k, v in headers.items()}  # header names are case-insensitive
    wechatpay.verify_signed_headers(lower, body.encode(), public_key=key_pair.public_key(), serial_no="PLAT", now=NOW)
    flipped = bytearray(body.encode())
    flipped[5] ^= 0x01
    with pytest.raises(wechatpay.SignatureError):
        wechatpay.verify_signed_headers(headers, bytes(flipped), public_key=key_pair.public_key(), serial_no="PLAT", now=NOW)
    with pytest.raises(wechatpay.SignatureError):
        wechatpay.verify_signed_headers(headers, body.encode(), public_key=other_key.public_key(), serial_no="PLAT", now=NOW)
    with pytest.raises(wechatpay.SignatureError, match="serial"):
        wechatpay.verify_signed_headers(headers, body.encode(), public_key=key_pair.public_key(), serial_no="X", now=NOW)
    with pytest.raises(wechatpay.SignatureError, match="missing"):
        wechatpay.verify_signed_headers(
            {k: v for k, v in headers.items() if k != wechatpay.H_NONCE}, body.encode(),
            public_key=key_pair.public_key(), serial_no="PLAT", now=NOW,
        )


@pytest.mark.parametrize("skew", [-301, 301, 3600])
def test_stale_timestamps_are_refused(key_pair, skew):
    headers = wechatpay.signed_headers(private_key=key_pair, serial_no="PLAT", body="{}", timestamp=TS + skew)
    with pytest.raises(wechatpay.SignatureError, match="stale"):
        wechatpay.verify_signed_headers(headers, b"{}", public_key=key_pair.public_key(), serial_no="PLAT", now=NOW)


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_timestamps_within_five_minutes_pass(key_pair, skew):
    headers = wechatpay.signed_headers(private_key=key_pair, serial_no="PLAT", body="{}", timestamp=TS + skew)
    wechatpay.verify_signed_headers(headers, b"{}", public_key=key_pair.public_key(), serial_no="PLAT", now=NOW)


def test_aes_gcm_round_trip_and_tamper_detection():
    plaintext = '{"out_trade_no":"PAY-1","amount":{"total":100}}'
    ciphertext = wechatpay.encrypt_resource(KEY, plaintext, associated_data="transaction", nonce="fdasflkja484")
    resource = {"algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext, "associated_data": "transaction", "nonce": "fdasflkja484"}
    assert wechatpay.decrypt_resource(KEY, resource) == plaintext
    # The 16-byte tag is at the end of the ciphertext.
    assert len(base64.b64decode(ciphertext)) == len(plaintext.encode()) + 16
    sealed = bytearray(base64.b64decode(ciphertext))
    sealed[3] ^= 0x80
    for broken in (
        {**resource, "ciphertext": base64.b64encode(bytes(sealed)).decode()},
        {**resource, "associated_data": "refund"},
        {**resource, "nonce": "fdasflkja485"},
        {**resource, "algorithm": "AEAD_AES_128_GCM"},
        {**resource, "ciphertext": "%%%"},
    ):
        with pytest.raises(wechatpay.SignatureError):
            wechatpay.decrypt_resource(KEY, broken)
    with pytest.raises(wechatpay.SignatureError):
        wechatpay.decrypt_resource(b"f" * 32, resource)


def test_notification_body_shape():
    body = json.loads(
        wechatpay.notification_body(
            event_id="EV-1", create_time="2026-11-26T20:00:00+08:00", transaction={"out_trade_no": "PAY-1"},
            apiv3_key=KEY, nonce="abcdefghijkl",
        )
    )
    assert body["event_type"] == "TRANSACTION.SUCCESS" and body["resource_type"] == "encrypt-resource"
    assert body["resource"]["algorithm"] == "AEAD_AES_256_GCM" and body["resource"]["original_type"] == "transaction"
    assert json.loads(wechatpay.decrypt_resource(KEY, body["resource"])) == {"out_trade_no": "PAY-1"}


def test_rfc3339_in_china_time():
    assert wechatpay.rfc3339(NOW) == "2026-11-26T20:00:00+08:00"
    assert wechatpay.parse_rfc3339("2026-11-26T20:00:00+08:00") == NOW
    with pytest.raises(ValueError):
        wechatpay.parse_rfc3339("2026-11-26T20:00:00")


def test_bill_lines_and_parsing():
    row = ["2026-11-26 20:00:00", "wx1", "1900000109", "0", "", "4200", "PAY-1", "o", "NATIVE", "SUCCESS", "OTHERS",
           "CNY", "12.34", "0.00", "0", "0", "0.00", "0.00", "", "", "Noodles", "", "0.00", "0.60%", "12.34", "0.00", ""]
    text = "\r\n".join(
        [wechatpay.BILL_HEADER, wechatpay.bill_line(row), wechatpay.BILL_TOTALS_HEADER,
         wechatpay.bill_line(["1", "12.34", "0.00", "0.00", "0.00", "12.34", "0.00"])]
    )
    assert wechatpay.bill_line(["a", "b"]) == "`a,`b"
    rows, totals = wechatpay.parse_bill(text)
    assert rows[0]["商户订单号"] == "PAY-1" and wechatpay.bill_fen(rows[0]["订单金额"]) == 1234
    assert totals["总交易单数"] == "1"
    with pytest.raises(ValueError):
        wechatpay.bill_line(["a,b"])
    with pytest.raises(ValueError):
        wechatpay.parse_bill(text.replace("`PAY-1", "PAY-1"))
