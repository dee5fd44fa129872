"""Alipay's open-platform protocol, pure (no database, no web): what both our client and the simulator speak.

* **Signatures (RSA2).** SHA256withRSA, PKCS#1 v1.5, base64. A request's signed string is every parameter but
  ``sign``, sorted by key, ``k=v`` joined by ``&``, values raw (not URL-encoded), empty values skipped. An
  asynchronous notification is verified the same way but without ``sign_type`` too, as Alipay does.
* **Amounts** are yuan strings with two decimals (``"12.34"``); we convert to and from fen exactly, never
  through a float.
* **Times** are ``yyyy-MM-dd HH:mm:ss`` in China Standard Time (UTC+8, no daylight saving).
* **Server API responses** are ``{"<method with underscores>_response": {...}, "sign": "..."}`` where the sign
  covers the *exact JSON text* of the response object, so it is checked on the raw text before parsing.
* **Notifications** are form-encoded POST bodies (``trade_status_sync``) parsed from the raw bytes and verified
  before anything in them is used; the merchant answers with the bare text ``success``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CHINA = dt.timezone(dt.timedelta(hours=8), "CST")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
SUCCESS_CODE = "10000"
ACK_SUCCESS = b"success"
ACK_FAILURE = b"fail"

PAGE_PAY = "alipay.trade.page.pay"
PAGE_PAY_RETURN = "alipay.trade.page.pay.return"
TRADE_QUERY = "alipay.trade.query"
TRADE_CLOSE = "alipay.trade.close"
TRADE_REFUND = "alipay.trade.refund"
REFUND_QUERY = "alipay.trade.fastpay.refund.query"
BILL_URL_QUERY = "alipay.data.dataservice.bill.downloadurl.query"
SERVER_METHODS = (TRADE_QUERY, TRADE_CLOSE, TRADE_REFUND, REFUND_QUERY, BILL_URL_QUERY)

# Trade statuses, as Alipay spells them.
WAIT_BUYER_PAY = "WAIT_BUYER_PAY"
TRADE_SUCCESS = "TRADE_SUCCESS"
TRADE_FINISHED = "TRADE_FINISHED"
TRADE_CLOSED = "TRADE_CLOSED"
REFUND_SUCCESS = "REFUND_SUCCESS"

_YUAN = re.compile(r"^(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,2}))?$")
MAX_FEN = 100_000_000 * 100  # Alipay's ceiling: 100 million yuan


class SignatureError(Exception):
    """Raised by the ``verify_*`` helpers; callers translate it into their own error."""


# ----------------------------------------------------------------------------------------------------------------
# Amounts and times


def yuan(fen: int) -> str:
    """``1234`` -> ``"12.34"``."""
    if not isinstance(fen, int) or isinstance(fen, bool) or fen < 0:
        raise ValueError("an amount in fen is a non-negative integer")
    return f"{fen // 100}.{fen % 100:02d}"


def fen(text: str) -> int:
    """``"12.34"`` -> ``1234``; ``"12.3"`` -> ``1230``; refuses anything that is not an exact yuan amount."""
    match = _YUAN.match(text or "")
    if match is None:
        raise ValueError(f"not an amount in yuan: {text!r}")
    minor = (match.group(2) or "").ljust(2, "0")
    return int(match.group(1)) * 100 + int(minor)


def china_time(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(CHINA).strftime(TIME_FORMAT)


def parse_china_time(text: str) -> dt.datetime:
    """``"2026-11-26 12:00:00"`` (China time) -> an aware UTC datetime."""
    return dt.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=CHINA).astimezone(dt.UTC)


# ----------------------------------------------------------------------------------------------------------------
# Signatures


def canonical_string(params: Mapping[str, str], *, exclude: Iterable[str] = ("sign",)) -> str:
    """The signed content: ``k=v`` pairs sorted by key, joined by ``&``; ``exclude`` and empty values skipped.

    Requests exclude ``sign`` only; notifications (``notify_canonical_string``) exclude ``sign_type`` too."""
    skipped = set(exclude)
    return "&".join(f"{key}={params[key]}" for key in sorted(params) if key not in skipped and params[key] != "")


def notify_canonical_string(params: Mapping[str, str]) -> str:
    return canonical_string(params, exclude=("sign", "sign_type"))


def rsa2_sign(private_key: rsa.RSAPrivateKey, content: str) -> str:
    signature = private_key.sign(content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa2_verify(public_key: rsa.RSAPublicKey, content: str, sign: str) -> bool:
    try:
        signature = base64.b64decode(sign, validate=True)
    except (ValueError, TypeError):
        return False
    try:
        public_key.verify(signature, content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except _CryptoInvalidSignature:
        return False
    return True


def sign_request(params: Mapping[str, str], private_key: rsa.RSAPrivateKey) -> dict[str, str]:
    """The parameters with ``sign`` added (``sign_type`` is part of what is signed)."""
    signed = {k: v for k, v in params.items() if k != "sign"}
    signed["sign"] = rsa2_sign(private_key, canonical_string(signed))
    return signed


def verify_request(params: Mapping[str, str], public_key: rsa.RSAPublicKey) -> None:
    sign = params.get("sign", "")
    if params.get("sign_type") != "RSA2" or not sign or not rsa2_verify(public_key, canonical_string(params), sign):
        raise SignatureError("request signature does not check out")


def sign_notification(params: Mapping[str, str], private_key: rsa.RSAPrivateKey) -> dict[str, str]:
    signed = {k: v for k, v in params.items() if k not in ("sign", "sign_type")}
    sign = rsa2_sign(private_key, notify_canonical_string(signed))
    signed["sign_type"] = "RSA2"
    signed["sign"] = sign
    return signed


def verify_notification(params: Mapping[str, str], public_key: rsa.RSAPublicKey) -> None:
    sign = params.get("sign", "")
    if params.get("sign_type", "RSA2") != "RSA2":
        raise SignatureError(f"unsupported sign_type {params.get('sign_type')!r}")
    if not sign or not rsa2_verify(public_key, notify_canonical_string(params), sign):
        raise SignatureError("notification signature does not check out")


# ----------------------------------------------------------------------------------------------------------------
# Form bodies, parsed exactly


def parse_form(body: bytes | str) -> dict[str, str]:
    """A form-encoded body (or query string) into a dict, values kept exactly (blank ones too); a repeated key
    is refused (an attacker could otherwise make the verifier and the reader see different values)."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    params: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict"):
        if key in params:
            raise ValueError(f"repeated parameter {key!r}")
        params[key] = value
    return params


# ----------------------------------------------------------------------------------------------------------------
# Requests we build


def common_params(app_id: str, method: str, now: dt.datetime, biz_content: Mapping[str, Any]) -> dict[str, str]:
    return {
        "app_id": app_id,
        "method": method,
        "format": "JSON",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": china_time(now),
        "version": "1.0",
        "biz_content": json.dumps(biz_content, ensure_ascii=False, separators=(",", ":")),
    }


def page_pay_request(
    *,
    app_id: str,
    private_key: rsa.RSAPrivateKey,
    out_trade_no: str,
    amount_fen: int,
    subject: str,
    expires_at: dt.datetime,
    notify_url: str,
    return_url: str,
    now: dt.datetime,
) -> dict[str, str]:
    """The signed parameters of ``alipay.trade.page.pay`` (sent by the customer's browser to the gateway)."""
    if amount_fen <= 0 or amount_fen > MAX_FEN:
        raise ValueError("amount out of range")
    biz = {
        "out_trade_no": out_trade_no,
        "total_amount": yuan(amount_fen),
        "subject": subject,
        "product_code": "FAST_INSTANT_TRADE_PAY",
        "time_expire": china_time(expires_at),
    }
    params = common_params(app_id, PAGE_PAY, now, biz)
    params["notify_url"] = notify_url
    params["return_url"] = return_url
    return sign_request(params, private_key)


def api_request(
    *, app_id: str, private_key: rsa.RSAPrivateKey, method: str, biz_content: Mapping[str, Any], now: dt.datetime
) -> dict[str, str]:
    """The signed form of a server API call (posted to the gateway)."""
    return sign_request(common_params(app_id, method, now, biz_content), private_key)


def response_key(method: str) -> str:
    return method.replace(".", "_") + "_response"


# ----------------------------------------------------------------------------------------------------------------
# Responses: signed over the exact text of the response object


def build_response(
    method: str, payload: Mapping[str, Any], private_key: rsa.RSAPrivateKey, *, name: str | None = None
) -> bytes:
    """The gateway's answer: ``{"<name>": <payload>, "sign": ...}`` signed over the payload's exact text; ``name``
    defaults to the method's response key (``error_response`` when the method is unknown)."""
    content = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    sign = rsa2_sign(private_key, content)
    key = name or response_key(method)
    return ('{"' + key + '":' + content + ',"sign":' + json.dumps(sign) + "}").encode("utf-8")


def top_level_members(text: str) -> dict[str, tuple[Any, str]]:
    """The members of a JSON object with each value's exact source text: ``{key: (value, raw_text)}``.

    Used to check a signature on the bytes Alipay sent rather than on a re-serialisation. Repeated keys and
    anything but one object are refused."""
    decoder = json.JSONDecoder()
    ws = re.compile(r"[ \t\n\r]*")
    pos = ws.match(text, 0).end()  # type: ignore[union-attr]
    if text[pos : pos + 1] != "{":
        raise ValueError("not a JSON object")
    pos = ws.match(text, pos + 1).end()  # type: ignore[union-attr]
    members: dict[str, tuple[Any, str]] = {}
    if text[pos : pos + 1] == "}":
        pos += 1
    else:
        while True:
            if text[pos : pos + 1] != '"':
                raise ValueError("expected a key")
            key, pos = decoder.raw_decode(text, pos)
            pos = ws.match(text, pos).end()  # type: ignore[union-attr]
            if text[pos : pos + 1] != ":":
                raise ValueError("expected ':'")
            pos = ws.match(text, pos + 1).end()  # type: ignore[union-attr]
            start = pos
            value, pos = decoder.raw_decode(text, pos)
            if key in members:
                raise ValueError(f"repeated key {key!r}")
            members[key] = (value, text[start:pos])
            pos = ws.match(text, pos).end()  # type: ignore[union-attr]
            if text[pos : pos + 1] == ",":
                pos = ws.match(text, pos + 1).end()  # type: ignore[union-attr]
                continue
            if text[pos : pos + 1] == "}":
                pos += 1
                break
            raise ValueError("expected ',' or '}'")
    if ws.match(text, pos).end() != len(text):  # type: ignore[union-attr]
        raise ValueError("trailing data after the object")
    return members


def verify_response(method: str, raw: bytes, public_key: rsa.RSAPublicKey) -> dict[str, Any]:
    """The response object of ``method``, once its signature over the exact text checks out."""
    try:
        members = top_level_members(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SignatureError(f"unreadable response: {exc}") from exc
    key = response_key(method)
    if key not in members:
        key = "error_response"  # what the gateway answers when it cannot tell the method
    if key not in members or "sign" not in members:
        raise SignatureError("unsigned response")
    payload, content = members[key]
    sign = members["sign"][0]
    if not isinstance(payload, dict) or not isinstance(sign, str) or not rsa2_verify(public_key, content, sign):
        raise SignatureError("response signature does not check out")
    return payload


# ----------------------------------------------------------------------------------------------------------------
# Error answers, as Alipay spells them


def business_error(sub_code: str, sub_msg: str) -> dict[str, str]:
    return {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}


def invalid_arguments(sub_code: str, sub_msg: str) -> dict[str, str]:
    return {"code": "40002", "msg": "Invalid Arguments", "sub_code": sub_code, "sub_msg": sub_msg}


def success(**fields: str) -> dict[str, str]:
    return {"code": SUCCESS_CODE, "msg": "Success", **fields}
