"""Alipay's protocol, pure: canonical strings, RSA2 signatures (known answer from OpenSSL), amounts, times,
responses signed over their exact text, notifications parsed from raw bytes."""

from __future__ import annotations

import base64
import datetime as dt
import json
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import serialization

from o2o.wallet.channels import alipay

# A public key and a signature made with OpenSSL (`openssl dgst -sha256 -sign key.pem | base64`) over the
# canonical string of KAT_PARAMS: our canonical string and our verifier must agree with it byte for byte.
KAT_PUBLIC_KEY = b"""-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnuYFenvn14PtYJBrhVqF
y7PNIquSxvj1A+Y3wT6uGma3pwdsCOG0uWjRP53tdLaPvylkRYNv8Pge1EKHanXz
L/drYvbyU5Q+CSZlxTWeO5DP4jzRkentDawIwQTbFR/oGKSc2iL9/ebs1wEuAw/Y
udKN3VtcjENBiogYJk7hRF4dkjI/Ta8Mq/NwglThtUNjBLnUm8GthJvt9CPI7UoK
QQFl6ZEnfHvKDn+E4H6H6QVemMwdQ/Xve2HuJyJaLMLg3B4p4D6LZ2OMUhG2Zn1I
RQUMoZ2W7aaMczLNeSzLvnajB8r2dSHZ1038L9eRhCudHoirSwX6NosKC+iF1Fzk
NQIDAQAB
-----END PUBLIC KEY-----
"""
KAT_SIGNATURE = (
    "cVsnFjtRWkiC4rs0GnVI1446xmbdK48wX1jwP+geFJrWzCsr5a0ByDObdiejuiDTEEf4OBgaQZOsNqtUDsL9hMnbVg040ToSdowCf7iM"
    "Cg2t77vMbuJSr+llsdlFtSarDobC1DlQ/DGkeG3K4r+YdCdVQUjVqAfojcxlx8hyWEHpEAzbkZ596ZhB9vhV+u59GOc+BZMYDmS2aDBr"
    "07N5lTJVKn6lm6VDB9onBz4sS1pk3tIUU3gMnIIXQq7DXOUnfl7+qimOFiw2yvrf/Jq4GcybX1j+kSicyCyl6LEyypmFRi3OeElBAYgu"
    "VqKHb5AJIbs9f1P8u7SHGWbh2XiNmQ=="
)
KAT_PARAMS = {
    "version": "1.0",
    "timestamp": "2026-11-26 20:00:00",
    "sign_type": "RSA2",
    "method": "alipay.trade.query",
    "charset": "utf-8",
    "biz_content": '{"out_trade_no":"T20261126001","total_amount":"12.34"}',
    "app_id": "2021000000000000",
    "notify_url": "",  # empty: skipped
    "sign": KAT_SIGNATURE,  # never part of what is signed
}
KAT_CANONICAL = (
    'app_id=2021000000000000&biz_content={"out_trade_no":"T20261126001","total_amount":"12.34"}&charset=utf-8'
    "&method=alipay.trade.query&sign_type=RSA2&timestamp=2026-11-26 20:00:00&version=1.0"
)


def kat_key():
    return serialization.load_pem_public_key(KAT_PUBLIC_KEY)


def test_canonical_string_sorts_skips_sign_and_empty_values():
    assert alipay.canonical_string(KAT_PARAMS) == KAT_CANONICAL


def test_notification_canonical_string_also_skips_sign_type():
    assert alipay.notify_canonical_string(KAT_PARAMS) == KAT_CANONICAL.replace("&sign_type=RSA2", "")


def test_openssl_signature_verifies():
    assert alipay.rsa2_verify(kat_key(), KAT_CANONICAL, KAT_SIGNATURE)
    alipay.verify_request(KAT_PARAMS, kat_key())  # raises if not


def test_a_flipped_byte_anywhere_fails():
    key = kat_key()
    assert not alipay.rsa2_verify(key, KAT_CANONICAL.replace("12.34", "12.35"), KAT_SIGNATURE)
    raw = bytearray(base64.b64decode(KAT_SIGNATURE))
    raw[100] ^= 0x01
    assert not alipay.rsa2_verify(key, KAT_CANONICAL, base64.b64encode(bytes(raw)).decode())
    assert not alipay.rsa2_verify(key, KAT_CANONICAL, "not base64!")
    with pytest.raises(alipay.SignatureError):
        alipay.verify_request({**KAT_PARAMS, "timestamp": "2026-11-26 20:00:01"}, key)
    with pytest.raises(alipay.SignatureError):
        alipay.verify_request({**KAT_PARAMS, "sign_type": "RSA"}, key)  # sign_type is signed for requests


def test_sign_then_verify_with_own_key(key_pair, other_key):
    params = {"b": "2", "a": "中文 & = ok", "empty": ""}
    signed = alipay.sign_request({**params, "sign_type": "RSA2"}, key_pair)
    alipay.verify_request(signed, key_pair.public_key())
    with pytest.raises(alipay.SignatureError):
        alipay.verify_request(signed, other_key.public_key())
    # PKCS#1 v1.5 is deterministic: the same content, the same signature.
    assert alipay.sign_request({**params, "sign_type": "RSA2"}, key_pair)["sign"] == signed["sign"]


@pytest.mark.parametrize(
    ("fen", "text"), [(1, "0.01"), (10, "0.10"), (100, "1.00"), (1234, "12.34"), (10_000_000_000, "100000000.00")]
)
def test_amounts_convert_exactly(fen, text):
    assert alipay.yuan(fen) == text
    assert alipay.fen(text) == fen


@pytest.mark.parametrize("bad", ["", "1.234", "-1.00", "01.00", "1e2", "1.", ".5", " 1.00", "NaN", "1,00"])
def test_malformed_amounts_are_refused(bad):
    with pytest.raises(ValueError):
        alipay.fen(bad)


def test_short_decimals_are_exact():
    assert alipay.fen("12.3") == 1230
    assert alipay.fen("0") == 0


def test_china_time_round_trip():
    moment = dt.datetime(2026, 11, 26, 16, 30, 5, tzinfo=dt.UTC)
    assert alipay.china_time(moment) == "2026-11-27 00:30:05"
    assert alipay.parse_china_time("2026-11-27 00:30:05") == moment


def test_page_pay_request_is_signed_and_carries_the_trade(key_pair):
    now = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    params = alipay.page_pay_request(
        app_id="app", private_key=key_pair, out_trade_no="PAY-000001", amount_fen=1234, subject="Noodles",
        expires_at=now + dt.timedelta(minutes=15), notify_url="http://x/notify", return_url="http://x/return", now=now,
    )
    assert params["method"] == "alipay.trade.page.pay" and params["sign_type"] == "RSA2" and params["charset"] == "utf-8"
    assert params["timestamp"] == "2026-11-26 20:00:00" and params["version"] == "1.0"
    assert json.loads(params["biz_content"]) == {
        "out_trade_no": "PAY-000001",
        "total_amount": "12.34",
        "subject": "Noodles",
        "product_code": "FAST_INSTANT_TRADE_PAY",
        "time_expire": "2026-11-26 20:15:00",
    }
    alipay.verify_request(params, key_pair.public_key())


def test_response_is_verified_on_its_exact_text(key_pair, other_key):
    raw = alipay.build_response("alipay.trade.query", {"code": "10000", "msg": "Success", "total_amount": "1.00"}, key_pair)
    assert raw.startswith(b'{"alipay_trade_query_response":{"code":"10000"')
    payload = alipay.verify_response("alipay.trade.query", raw, key_pair.public_key())
    assert payload["total_amount"] == "1.00"
    # Same JSON meaning, different text: the signature no longer matches.
    spaced = raw.replace(b'"code":"10000"', b'"code": "10000"')
    with pytest.raises(alipay.SignatureError):
        alipay.verify_response("alipay.trade.query", spaced, key_pair.public_key())
    with pytest.raises(alipay.SignatureError):
        alipay.verify_response("alipay.trade.query", raw.replace(b"1.00", b"9.00"), key_pair.public_key())
    with pytest.raises(alipay.SignatureError):
        alipay.verify_response("alipay.trade.query", raw, other_key.public_key())
    with pytest.raises(alipay.SignatureError):  # a second member with the same name is refused
        alipay.verify_response("alipay.trade.query", raw[:-1] + b',"sign":"x"}', key_pair.public_key())


def test_top_level_members_keep_exact_text():
    text = ' { "a" : {"x": [1, 2]} , "b":"s\\u0041" } '
    members = alipay.top_level_members(text)
    assert members["a"] == ({"x": [1, 2]}, '{"x": [1, 2]}')
    assert members["b"] == ("sA", '"s\\u0041"')
    for bad in ["[]", '{"a":1', '{"a":1}x', '{"a" 1}']:
        with pytest.raises(ValueError):
            alipay.top_level_members(bad)


def test_notification_round_trip_from_raw_bytes(key_pair, other_key):
    params = {"notify_id": "n1", "out_trade_no": "PAY-000001", "total_amount": "12.34", "subject": "a+b c&d=é"}
    signed = alipay.sign_notification(params, key_pair)
    body = urlencode(signed).encode()
    parsed = alipay.parse_form(body)
    assert parsed == signed
    alipay.verify_notification(parsed, key_pair.public_key())
    tampered = alipay.parse_form(body.replace(b"12.34", b"99.34"))
    with pytest.raises(alipay.SignatureError):
        alipay.verify_notification(tampered, key_pair.public_key())
    with pytest.raises(alipay.SignatureError):
        alipay.verify_notification(parsed, other_key.public_key())


def test_repeated_form_parameters_are_refused():
    with pytest.raises(ValueError):
        alipay.parse_form(b"a=1&a=2")
    assert alipay.parse_form(b"a=&b=%E4%B8%AD") == {"a": "", "b": "中"}
