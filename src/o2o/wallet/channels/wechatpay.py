"""WeChat Pay API v3, pure (no database, no web): what both our client and the simulator speak.

* **Requests** carry ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",signature="..",
  timestamp="..",serial_no=".."``; the signature is SHA256withRSA (PKCS#1 v1.5) by the merchant's key over
  ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n``.
* **Responses and callbacks** carry ``Wechatpay-Timestamp``, ``Wechatpay-Nonce``, ``Wechatpay-Signature`` and
  ``Wechatpay-Serial`` (the platform certificate's serial); the signature, by the platform's key, covers
  ``TIMESTAMP\\nNONCE\\nBODY\\n``. A timestamp more than five minutes away from our clock is refused (replays).
* **Callbacks** hold the transaction in ``resource``, encrypted with AEAD_AES_256_GCM under the merchant's
  32-byte APIv3 key (``nonce`` and ``associated_data`` as given, base64 ciphertext with the 16-byte tag at the
  end). The merchant answers 200 or 204 when it accepts, anything else to be called again.
* **Amounts** are integers in fen; times are RFC 3339 with the +08:00 offset.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
MAX_CLOCK_SKEW = 300  # seconds, either way
CHINA = dt.timezone(dt.timedelta(hours=8), "CST")

H_TIMESTAMP = "Wechatpay-Timestamp"
H_NONCE = "Wechatpay-Nonce"
H_SIGNATURE = "Wechatpay-Signature"
H_SERIAL = "Wechatpay-Serial"

NATIVE_PATH = "/v3/pay/transactions/native"
QUERY_PATH = "/v3/pay/transactions/out-trade-no/{out_trade_no}"
CLOSE_PATH = "/v3/pay/transactions/out-trade-no/{out_trade_no}/close"
REFUND_PATH = "/v3/refund/domestic/refunds"
REFUND_QUERY_PATH = "/v3/refund/domestic/refunds/{out_refund_no}"
TRADE_BILL_PATH = "/v3/bill/tradebill"
BILL_DOWNLOAD_PATH = "/v3/billdownload/file"

# trade_state values
SUCCESS = "SUCCESS"
REFUND = "REFUND"
NOTPAY = "NOTPAY"
CLOSED = "CLOSED"
REVOKED = "REVOKED"
USERPAYING = "USERPAYING"
PAYERROR = "PAYERROR"

TRADE_STATE_DESC = {
    SUCCESS: "支付成功",
    REFUND: "转入退款",
    NOTPAY: "未支付",
    CLOSED: "已关闭",
    REVOKED: "已撤销",
    USERPAYING: "用户支付中",
    PAYERROR: "支付失败",
}

_AUTH_FIELD = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*(?:,|$)')


class SignatureError(Exception):
    """Raised by the ``verify_*`` and ``decrypt_*`` helpers; callers translate it into their own error."""


# ----------------------------------------------------------------------------------------------------------------
# Times


def rfc3339(moment: dt.datetime) -> str:
    """``2026-11-26T20:00:00+08:00`` (China time, as WeChat Pay writes it)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(CHINA).replace(microsecond=0).isoformat()


def parse_rfc3339(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"time without an offset: {text!r}")
    return value.astimezone(dt.UTC)


def new_nonce() -> str:
    return secrets.token_hex(16).upper()


# ----------------------------------------------------------------------------------------------------------------
# RSA signatures


def sign(private_key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(private_key.sign(message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(public_key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, TypeError, _CryptoInvalidSignature):
        return False
    return True


def request_message(method: str, url_path: str, timestamp: str, nonce: str, body: str) -> str:
    """What a merchant signs: the path is the request target with its query string (``/v3/...?a=b``)."""
    return f"{method.upper()}\n{url_path}\n{timestamp}\n{nonce}\n{body}\n"


def response_message(timestamp: str, nonce: str, body: str) -> str:
    """What the platform signs on a response or a callback."""
    return f"{timestamp}\n{nonce}\n{body}\n"


def authorization(
    *,
    mchid: str,
    serial_no: str,
    private_key: rsa.RSAPrivateKey,
    method: str,
    url_path: str,
    body: str,
    timestamp: int,
    nonce: str | None = None,
) -> str:
    nonce = nonce or new_nonce()
    signature = sign(private_key, request_message(method, url_path, str(timestamp), nonce, body))
    return (
        f'{SCHEMA} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


def parse_authorization(header: str) -> dict[str, str]:
    """The fields of an ``Authorization`` header; refuses another schema, a repeated or a missing field."""
    schema, _, rest = (header or "").strip().partition(" ")
    if schema != SCHEMA:
        raise SignatureError("not a WECHATPAY2-SHA256-RSA2048 authorization")
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        match = _AUTH_FIELD.match(rest, pos)
        if match is None or match.end() == pos:
            raise SignatureError("malformed authorization")
        if match.group(1) in fields:
            raise SignatureError(f"repeated authorization field {match.group(1)}")
        fields[match.group(1)] = match.group(2)
        pos = match.end()
    for name in ("mchid", "nonce_str", "signature", "timestamp", "serial_no"):
        if not fields.get(name):
            raise SignatureError(f"authorization without {name}")
    return fields


def verify_authorization(
    header: str,
    *,
    method: str,
    url_path: str,
    body: str,
    public_key: rsa.RSAPublicKey,
    serial_no: str,
    now: dt.datetime,
) -> dict[str, str]:
    """What the platform checks on a merchant's request: the merchant's certificate serial, a fresh timestamp and
    the signature. Returns the header's fields (``mchid`` among them)."""
    fields = parse_authorization(header)
    if fields["serial_no"] != serial_no:
        raise SignatureError("unknown merchant certificate serial")
    _check_fresh(fields["timestamp"], now)
    message = request_message(method, url_path, fields["timestamp"], fields["nonce_str"], body)
    if not verify(public_key, message, fields["signature"]):
        raise SignatureError("request signature does not check out")
    return fields


def _check_fresh(timestamp: str, now: dt.datetime) -> None:
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError("malformed timestamp")
    if abs(int(now.timestamp()) - int(timestamp)) > MAX_CLOCK_SKEW:
        raise SignatureError("stale timestamp")


def signed_headers(
    *, private_key: rsa.RSAPrivateKey, serial_no: str, body: str, timestamp: int, nonce: str | None = None
) -> dict[str, str]:
    """The platform's signature headers for a response or a callback body."""
    nonce = nonce or new_nonce()
    return {
        H_TIMESTAMP: str(timestamp),
        H_NONCE: nonce,
        H_SIGNATURE: sign(private_key, response_message(str(timestamp), nonce, body)),
        H_SERIAL: serial_no,
    }


def verify_signed_headers(
    headers: Mapping[str, str], body: bytes, *, public_key: rsa.RSAPublicKey, serial_no: str, now: dt.datetime
) -> None:
    """Check a response's or a callback's signature on the raw body. Header names are case-insensitive."""
    lower = {k.lower(): v for k, v in headers.items()}
    values = [lower.get(name.lower(), "") for name in (H_TIMESTAMP, H_NONCE, H_SIGNATURE, H_SERIAL)]
    timestamp, nonce, signature, serial = values
    if not all(values):
        raise SignatureError("missing Wechatpay-* signature headers")
    if serial != serial_no:
        raise SignatureError("unknown platform certificate serial")
    _check_fresh(timestamp, now)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SignatureError("body is not UTF-8") from exc
    if not verify(public_key, response_message(timestamp, nonce, text), signature):
        raise SignatureError("signature does not check out")


# ----------------------------------------------------------------------------------------------------------------
# AEAD_AES_256_GCM resources


def encrypt_resource(apiv3_key: bytes, plaintext: str, *, associated_data: str, nonce: str) -> str:
    if len(apiv3_key) != 32:
        raise ValueError("the APIv3 key is 32 bytes")
    sealed = AESGCM(apiv3_key).encrypt(nonce.encode(), plaintext.encode("utf-8"), associated_data.encode())
    return base64.b64encode(sealed).decode()


def decrypt_resource(apiv3_key: bytes, resource: Mapping[str, Any]) -> str:
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise SignatureError(f"unsupported algorithm {resource.get('algorithm')!r}")
    try:
        nonce = str(resource["nonce"]).encode()
        associated = str(resource.get("associated_data") or "").encode()
        ciphertext = base64.b64decode(str(resource["ciphertext"]), validate=True)
        return AESGCM(apiv3_key).decrypt(nonce, ciphertext, associated).decode("utf-8")
    except (KeyError, ValueError, TypeError, InvalidTag, UnicodeDecodeError) as exc:
        raise SignatureError("the resource does not decrypt") from exc


def notification_body(
    *,
    event_id: str,
    create_time: str,
    transaction: Mapping[str, Any],
    apiv3_key: bytes,
    nonce: str,
    event_type: str = "TRANSACTION.SUCCESS",
    summary: str = "支付成功",
) -> str:
    """The JSON text of a payment callback, its transaction encrypted."""
    associated = "transaction"
    plaintext = json.dumps(transaction, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(
        {
            "id": event_id,
            "create_time": create_time,
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": "transaction",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": encrypt_resource(apiv3_key, plaintext, associated_data=associated, nonce=nonce),
                "associated_data": associated,
                "nonce": nonce,
            },
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def dumps(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


# ----------------------------------------------------------------------------------------------------------------
# The trade bill: WeChat's text format


BILL_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
    "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,"
    "商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
BILL_TOTALS_HEADER = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"


def bill_yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def bill_fen(text: str) -> int:
    match = re.fullmatch(r"(0|[1-9][0-9]*)(?:\.([0-9]{1,2}))?", text)
    if match is None:
        raise ValueError(f"not an amount in yuan: {text!r}")
    return int(match.group(1)) * 100 + int((match.group(2) or "").ljust(2, "0"))


def bill_line(fields: list[str]) -> str:
    """A bill row: every field prefixed with a backtick (so spreadsheets keep long numbers as text)."""
    for field in fields:
        if "," in field or "\n" in field:
            raise ValueError("a bill field cannot hold a comma or a newline")
    return ",".join("`" + f for f in fields)


def parse_bill(text: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The rows of a trade bill as dicts keyed by the header's column names, and the totals line."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 3 or lines[0] != BILL_HEADER:
        raise ValueError("not a WeChat Pay trade bill")
    header = lines[0].split(",")
    try:
        totals_at = lines.index(BILL_TOTALS_HEADER)
    except ValueError as exc:
        raise ValueError("bill without totals") from exc
    rows = []
    for line in lines[1:totals_at]:
        fields = line.split(",")
        if len(fields) != len(header) or not all(f.startswith("`") for f in fields):
            raise ValueError(f"malformed bill row: {line!r}")
        rows.append(dict(zip(header, (f[1:] for f in fields), strict=True)))
    if totals_at + 1 >= len(lines):
        raise ValueError("bill without a totals line")
    totals_fields = lines[totals_at + 1].split(",")
    totals_header = BILL_TOTALS_HEADER.split(",")
    if len(totals_fields) != len(totals_header) or not all(f.startswith("`") for f in totals_fields):
        raise ValueError("malformed totals line")
    totals = dict(zip(totals_header, (f[1:] for f in totals_fields), strict=True))
    return rows, totals
