"""Our side of the simulated channels: ``Channel`` implementations over real HTTP to the simulators.

Every answer is checked before it is believed: Alipay's signature over the exact response text, WeChat Pay's
signature headers (platform serial, fresh timestamp, signature over the raw body), the bill file's SHA-1. What
cannot be trusted or read becomes ``OutcomeUnknown`` (resolve it by querying later); a provider's business
refusal becomes ``ChannelRefused`` with the provider's code. Callbacks are verified on the raw body before a
single field is read.

HTTP goes through ``o2o.wallet.channels.transport`` so tests can run it in-process. No call may be made while a
database transaction of ours is open (see ``base.py``).

Refusal codes worth knowing (``ChannelRefused.code``):

* alipay-sim: ``ACQ.TRADE_NOT_EXIST``, ``ACQ.TRADE_STATUS_ERROR`` (refund of an unpaid trade),
  ``ACQ.REFUND_AMT_NOT_EQUAL_TOTAL`` (more than what is left), ``ACQ.INVALID_PARAMETER`` (same out_request_no
  with another amount), ``isp.bill_not_exist`` (the day is not over), ``isv.invalid-signature``.
* wechatpay-sim: ``INVALID_REQUEST`` (out_trade_no reused with another amount; refund more than left, of an unpaid
  trade, or out_refund_no reused with another amount), ``ORDER_CLOSED`` / ``ORDERPAID`` (checkout of a closed or
  paid trade), ``RESOURCE_NOT_EXISTS`` (refund of an unknown trade), ``PARAM_ERROR`` (the total does not match),
  ``NO_STATEMENT_EXIST`` (the day is not over), ``SIGN_ERROR``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
import structlog

from o2o.config import Settings
from o2o.kit.time import now
from o2o.wallet.channels import alipay, keys, transport, wechatpay
from o2o.wallet.channels.base import (
    BillKind,
    BillRow,
    ChannelName,
    ChannelRefund,
    ChannelRefused,
    ChannelTrade,
    InvalidNotification,
    InvalidSignature,
    NotificationAck,
    OutcomeUnknown,
    PaymentNotification,
    RefundRequest,
    RefundStatus,
    TradeRequest,
    TradeStatus,
)

log = structlog.get_logger("o2o.channels")

_OUT_NO = re.compile(r"^[0-9A-Za-z_\-]{6,32}$")


def _check_trade_request(trade: TradeRequest) -> None:
    if not _OUT_NO.match(trade.out_trade_no):
        raise ValueError("out_trade_no must be 6..32 characters of [0-9A-Za-z_-]")
    if trade.amount_fen <= 0:
        raise ValueError("amount_fen must be positive")
    if trade.expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    if not trade.subject.strip():
        raise ValueError("subject is required")


def _check_refund_request(request: RefundRequest) -> None:
    if not _OUT_NO.match(request.out_refund_no) or not _OUT_NO.match(request.out_trade_no):
        raise ValueError("out_trade_no and out_refund_no must be 6..32 characters of [0-9A-Za-z_-]")
    if request.refund_fen <= 0 or request.refund_fen > request.total_fen:
        raise ValueError("refund_fen must be positive and at most total_fen")


def _send(method: str, url: str, *, content: bytes | None = None, headers: Mapping[str, str] | None = None) -> httpx.Response:
    try:
        with transport.client() as http:
            return http.request(method, url, content=content, headers=dict(headers or {}))
    except httpx.HTTPError as exc:
        raise OutcomeUnknown(f"{method} {url}: {type(exc).__name__}: {exc}") from exc


# ================================================================================================================
# alipay-sim


class AlipaySimClient:
    """Alipay's open platform, spoken to ``<base_url>/sim/alipay/gateway.do``."""

    name = ChannelName.ALIPAY_SIM

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = f"{settings.base_url}/sim/alipay"
        self.gateway = f"{self.root}/gateway.do"
        self.credentials = keys.alipay_merchant(settings)

    # -- calls ---------------------------------------------------------------------------------------------------

    def _call(self, method: str, biz: Mapping[str, Any]) -> dict[str, Any]:
        params = alipay.api_request(
            app_id=self.credentials.app_id,
            private_key=self.credentials.private_key,
            method=method,
            biz_content=biz,
            now=now(),
        )
        response = _send(
            "POST",
            self.gateway,
            content=urlencode(params).encode("utf-8"),
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
        )
        if response.status_code != 200:
            raise OutcomeUnknown(f"{method}: HTTP {response.status_code}")
        try:
            payload = alipay.verify_response(method, response.content, self.credentials.alipay_public_key)
        except alipay.SignatureError as exc:
            log.warning("alipay_response_unverified", method=method, error=str(exc))
            raise OutcomeUnknown(f"{method}: the answer's signature does not check out") from exc
        code = str(payload.get("code", ""))
        if code == alipay.SUCCESS_CODE:
            return payload
        sub_code = str(payload.get("sub_code") or code)
        message = str(payload.get("sub_msg") or payload.get("msg") or "")
        if code == "20000" or sub_code.endswith("SYSTEM_ERROR") or sub_code.startswith("isp.unknow"):
            raise OutcomeUnknown(f"{method}: {sub_code} {message}")
        raise ChannelRefused(sub_code, message)

    def _not_found(self, out_trade_no: str) -> ChannelTrade:
        return ChannelTrade(self.name, out_trade_no, TradeStatus.NOT_FOUND, 0)

    def _trade(self, out_trade_no: str, payload: Mapping[str, Any]) -> ChannelTrade:
        if payload.get("out_trade_no") != out_trade_no:
            raise OutcomeUnknown("the answer is about another trade")
        raw = str(payload.get("trade_status", ""))
        paid_at = alipay.parse_china_time(payload["send_pay_date"]) if payload.get("send_pay_date") else None
        if raw in (alipay.TRADE_SUCCESS, alipay.TRADE_FINISHED):
            status = TradeStatus.PAID
        elif raw == alipay.TRADE_CLOSED:
            status = TradeStatus.PAID if paid_at is not None else TradeStatus.CLOSED  # closed by a full refund
        elif raw == alipay.WAIT_BUYER_PAY:
            status = TradeStatus.WAITING
        else:
            raise OutcomeUnknown(f"unknown trade_status {raw!r}")
        try:
            amount = alipay.fen(str(payload.get("total_amount", "")))
        except ValueError as exc:
            raise OutcomeUnknown("unreadable total_amount") from exc
        return ChannelTrade(self.name, out_trade_no, status, amount, payload.get("trade_no"), paid_at, raw)

    # -- Channel -------------------------------------------------------------------------------------------------

    def checkout_url(self, trade: TradeRequest) -> str:
        _check_trade_request(trade)
        params = alipay.page_pay_request(
            app_id=self.credentials.app_id,
            private_key=self.credentials.private_key,
            out_trade_no=trade.out_trade_no,
            amount_fen=trade.amount_fen,
            subject=trade.subject,
            expires_at=trade.expires_at,
            notify_url=trade.notify_url,
            return_url=trade.return_url,
            now=now(),
        )
        return f"{self.gateway}?{urlencode(params)}"

    def query(self, out_trade_no: str) -> ChannelTrade:
        try:
            payload = self._call(alipay.TRADE_QUERY, {"out_trade_no": out_trade_no})
        except ChannelRefused as exc:
            if exc.code == "ACQ.TRADE_NOT_EXIST":
                return self._not_found(out_trade_no)
            raise
        return self._trade(out_trade_no, payload)

    def close(self, out_trade_no: str) -> ChannelTrade:
        try:
            self._call(alipay.TRADE_CLOSE, {"out_trade_no": out_trade_no})
        except ChannelRefused as exc:
            if exc.code == "ACQ.TRADE_NOT_EXIST":
                return self._not_found(out_trade_no)
            if exc.code != "ACQ.TRADE_STATUS_ERROR":  # that one: paid first; the query tells
                raise
        return self.query(out_trade_no)

    def refund(self, request: RefundRequest) -> ChannelRefund:
        _check_refund_request(request)
        payload = self._call(
            alipay.TRADE_REFUND,
            {
                "out_trade_no": request.out_trade_no,
                "refund_amount": alipay.yuan(request.refund_fen),
                "out_request_no": request.out_refund_no,
                "refund_reason": request.reason,
            },
        )
        if payload.get("out_trade_no") != request.out_trade_no:
            raise OutcomeUnknown("the answer is about another trade")
        try:
            refunded = alipay.fen(str(payload.get("send_back_fee") or alipay.yuan(request.refund_fen)))
            total_refunded = alipay.fen(str(payload.get("refund_fee", "0")))
        except ValueError as exc:
            raise OutcomeUnknown("unreadable refund amounts") from exc
        if refunded != request.refund_fen or total_refunded > request.total_fen:
            raise OutcomeUnknown("the refund's amounts do not match the request")
        succeeded_at = alipay.parse_china_time(payload["gmt_refund_pay"]) if payload.get("gmt_refund_pay") else now()
        return ChannelRefund(
            self.name,
            request.out_trade_no,
            request.out_refund_no,
            RefundStatus.SUCCEEDED,
            refunded,
            payload.get("trade_no"),
            succeeded_at,
        )

    def query_refund(self, out_trade_no: str, out_refund_no: str) -> ChannelRefund:
        missing = ChannelRefund(self.name, out_trade_no, out_refund_no, RefundStatus.NOT_FOUND, 0)
        try:
            payload = self._call(
                alipay.REFUND_QUERY,
                {"out_trade_no": out_trade_no, "out_request_no": out_refund_no, "query_options": ["gmt_refund_pay"]},
            )
        except ChannelRefused as exc:
            if exc.code == "ACQ.TRADE_NOT_EXIST":
                return missing
            raise
        if not payload.get("refund_amount") or payload.get("out_request_no") != out_refund_no:
            return missing  # Alipay answers success without refund data when there is no such refund
        status = payload.get("refund_status") or alipay.REFUND_SUCCESS
        try:
            amount = alipay.fen(str(payload["refund_amount"]))
        except ValueError as exc:
            raise OutcomeUnknown("unreadable refund_amount") from exc
        return ChannelRefund(
            self.name,
            out_trade_no,
            out_refund_no,
            RefundStatus.SUCCEEDED if status == alipay.REFUND_SUCCESS else RefundStatus.PROCESSING,
            amount,
            payload.get("trade_no"),
            alipay.parse_china_time(payload["gmt_refund_pay"]) if payload.get("gmt_refund_pay") else None,
        )

    def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> PaymentNotification:
        try:
            params = alipay.parse_form(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidSignature(f"unreadable notification: {exc}") from exc
        try:
            alipay.verify_notification(params, self.credentials.alipay_public_key)
        except alipay.SignatureError as exc:
            raise InvalidSignature(str(exc)) from exc
        # From here on the content is Alipay's.
        if params.get("app_id") != self.credentials.app_id:
            raise InvalidNotification(f"not our app_id: {params.get('app_id')!r}")
        if params.get("notify_type") != "trade_status_sync":
            raise InvalidNotification(f"unknown notify_type {params.get('notify_type')!r}")
        if not params.get("out_trade_no") or not params.get("notify_id"):
            raise InvalidNotification("out_trade_no or notify_id missing")
        try:
            paid_at = alipay.parse_china_time(params["gmt_payment"]) if params.get("gmt_payment") else None
            amount = alipay.fen(params.get("total_amount", ""))
        except ValueError as exc:
            raise InvalidNotification(str(exc)) from exc
        raw = params.get("trade_status", "")
        if raw in (alipay.TRADE_SUCCESS, alipay.TRADE_FINISHED):
            status = TradeStatus.PAID
        elif raw == alipay.TRADE_CLOSED:
            status = TradeStatus.PAID if paid_at is not None else TradeStatus.CLOSED
        elif raw == alipay.WAIT_BUYER_PAY:
            status = TradeStatus.WAITING
        else:
            raise InvalidNotification(f"unknown trade_status {raw!r}")
        return PaymentNotification(
            channel=self.name,
            notify_id=params["notify_id"],
            merchant_id=params["app_id"],
            trade=ChannelTrade(
                self.name, params["out_trade_no"], status, amount, params.get("trade_no") or None, paid_at, raw
            ),
        )

    def ack(self, accepted: bool, message: str = "") -> NotificationAck:
        return NotificationAck(200, "text/plain", alipay.ACK_SUCCESS if accepted else alipay.ACK_FAILURE)

    def bill(self, day: dt.date) -> list[BillRow]:
        payload = self._call(alipay.BILL_URL_QUERY, {"bill_type": "trade", "bill_date": day.isoformat()})
        url = str(payload.get("bill_download_url", ""))
        if not url.startswith(self.root + "/"):
            raise OutcomeUnknown(f"a bill URL outside the channel: {url!r}")
        response = _send("GET", url)
        if response.status_code != 200:
            raise OutcomeUnknown(f"bill download: HTTP {response.status_code}")
        try:
            return self._bill_rows(response.content)
        except (ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
            raise OutcomeUnknown(f"unreadable bill: {exc}") from exc

    def _bill_rows(self, archive: bytes) -> list[BillRow]:
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            names = [n for n in zipped.namelist() if n.endswith("_业务明细.csv")]
            if len(names) != 1:
                raise ValueError("no detail file in the bill archive")
            text = zipped.read(names[0]).decode("gbk")
        lines = [line for line in text.splitlines() if line and not line.startswith("#")]
        reader = csv.reader(lines)
        header = next(reader)
        rows = []
        for fields in reader:
            row = dict(zip(header, (f.strip() for f in fields), strict=True))
            kind = row["业务类型"]
            occurred = alipay.parse_china_time(row["完成时间"])
            if kind == "交易":
                rows.append(
                    BillRow(
                        self.name, BillKind.PAYMENT, row["商户订单号"], row["支付宝交易号"], alipay.fen(row["商家实收（元）"]), occurred
                    )
                )
            elif kind == "退款":
                rows.append(
                    BillRow(
                        self.name,
                        BillKind.REFUND,
                        row["商户订单号"],
                        row["支付宝交易号"],
                        alipay.fen(row["商家实收（元）"].removeprefix("-")),
                        occurred,
                        row["退款批次号/请求号"] or None,
                    )
                )
            else:
                raise ValueError(f"unknown business type {kind!r}")
        return rows


# ================================================================================================================
# wechatpay-sim


WX_PAID = {wechatpay.SUCCESS, wechatpay.REFUND}
WX_WAITING = {wechatpay.NOTPAY, wechatpay.USERPAYING}
WX_CLOSED = {wechatpay.CLOSED, wechatpay.REVOKED, wechatpay.PAYERROR}
WX_REFUND_STATUS = {
    "SUCCESS": RefundStatus.SUCCEEDED,
    "PROCESSING": RefundStatus.PROCESSING,
    "ABNORMAL": RefundStatus.FAILED,
    "CLOSED": RefundStatus.FAILED,
}


class WechatPaySimClient:
    """WeChat Pay API v3, spoken to ``<base_url>/sim/wechatpay`` (paths as under WeChat's API host)."""

    name = ChannelName.WECHATPAY_SIM

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = f"{settings.base_url}/sim/wechatpay"
        self.credentials = keys.wechat_merchant(settings)

    # -- calls ---------------------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> tuple[int, Any]:
        """One signed call; the answer's signature checked; 2xx answers returned, 4xx raised as refusals."""
        text = wechatpay.dumps(body) if body is not None else ""
        headers = {
            "Authorization": wechatpay.authorization(
                mchid=self.credentials.mchid,
                serial_no=self.credentials.serial_no,
                private_key=self.credentials.private_key,
                method=method,
                url_path=path,
                body=text,
                timestamp=int(now().timestamp()),
            ),
            "Accept": "application/json",
            "User-Agent": "o2o-wechatpay-sim-client",
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = _send(method, self.root + path, content=text.encode("utf-8") if body is not None else None, headers=headers)
        if response.status_code >= 500 or response.status_code == 429:
            raise OutcomeUnknown(f"{method} {path}: HTTP {response.status_code}")
        self._verify(response, f"{method} {path}")
        try:
            payload = json.loads(response.content) if response.content else None
        except ValueError as exc:
            raise OutcomeUnknown(f"{method} {path}: unreadable answer") from exc
        if 200 <= response.status_code < 300:
            return response.status_code, payload
        if not isinstance(payload, dict) or not payload.get("code"):
            raise OutcomeUnknown(f"{method} {path}: HTTP {response.status_code} without an error code")
        raise ChannelRefused(str(payload["code"]), str(payload.get("message", "")))

    def _verify(self, response: httpx.Response, what: str) -> None:
        try:
            wechatpay.verify_signed_headers(
                response.headers,
                response.content,
                public_key=self.credentials.platform_public_key,
                serial_no=self.credentials.platform_serial_no,
                now=now(),
            )
        except wechatpay.SignatureError as exc:
            log.warning("wechatpay_response_unverified", call=what, error=str(exc))
            raise OutcomeUnknown(f"{what}: the answer's signature does not check out") from exc

    def _trade(self, out_trade_no: str, tx: Mapping[str, Any], *, unknown: type[Exception] = OutcomeUnknown) -> ChannelTrade:
        if tx.get("out_trade_no") != out_trade_no or tx.get("mchid") != self.credentials.mchid:
            raise unknown("the transaction is not this trade of ours")
        if tx.get("appid") != self.credentials.appid:
            raise unknown(f"not our appid: {tx.get('appid')!r}")
        raw = str(tx.get("trade_state", ""))
        if raw in WX_PAID:
            status = TradeStatus.PAID
        elif raw in WX_WAITING:
            status = TradeStatus.WAITING
        elif raw in WX_CLOSED:
            status = TradeStatus.CLOSED
        else:
            raise unknown(f"unknown trade_state {raw!r}")
        amount = (tx.get("amount") or {}).get("total")
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise unknown("unreadable amount")
        try:
            paid_at = wechatpay.parse_rfc3339(tx["success_time"]) if tx.get("success_time") else None
        except ValueError as exc:
            raise unknown("unreadable success_time") from exc
        return ChannelTrade(self.name, out_trade_no, status, amount, tx.get("transaction_id") or None, paid_at, raw)

    def _refund(self, request_trade: str, out_refund_no: str, payload: Mapping[str, Any]) -> ChannelRefund:
        if payload.get("out_refund_no") != out_refund_no or payload.get("out_trade_no") != request_trade:
            raise OutcomeUnknown("the refund answer is about another refund")
        amount = (payload.get("amount") or {}).get("refund")
        status = WX_REFUND_STATUS.get(str(payload.get("status")))
        if not isinstance(amount, int) or status is None:
            raise OutcomeUnknown("unreadable refund answer")
        try:
            succeeded_at = wechatpay.parse_rfc3339(payload["success_time"]) if payload.get("success_time") else None
        except ValueError as exc:
            raise OutcomeUnknown("unreadable success_time") from exc
        return ChannelRefund(
            self.name, request_trade, out_refund_no, status, amount, payload.get("refund_id"), succeeded_at
        )

    # -- Channel -------------------------------------------------------------------------------------------------

    def checkout_url(self, trade: TradeRequest) -> str:
        _check_trade_request(trade)
        _status, payload = self._request(
            "POST",
            wechatpay.NATIVE_PATH,
            {
                "appid": self.credentials.appid,
                "mchid": self.credentials.mchid,
                "description": trade.subject[:127],
                "out_trade_no": trade.out_trade_no,
                "time_expire": wechatpay.rfc3339(trade.expires_at),
                "notify_url": trade.notify_url,
                "amount": {"total": trade.amount_fen, "currency": "CNY"},
            },
        )
        code_url = payload.get("code_url", "") if isinstance(payload, dict) else ""
        if not code_url.startswith("weixin://wxpay/bizpayurl?pr="):
            raise OutcomeUnknown("no code_url in the answer")
        return f"{self.root}/cashier?{urlencode({'code_url': code_url, 'redirect_url': trade.return_url})}"

    def query(self, out_trade_no: str) -> ChannelTrade:
        path = wechatpay.QUERY_PATH.format(out_trade_no=out_trade_no) + "?" + urlencode({"mchid": self.credentials.mchid})
        try:
            _status, payload = self._request("GET", path)
        except ChannelRefused as exc:
            if exc.code == "ORDER_NOT_EXIST":
                return ChannelTrade(self.name, out_trade_no, TradeStatus.NOT_FOUND, 0)
            raise
        return self._trade(out_trade_no, payload)

    def close(self, out_trade_no: str) -> ChannelTrade:
        try:
            self._request("POST", wechatpay.CLOSE_PATH.format(out_trade_no=out_trade_no), {"mchid": self.credentials.mchid})
        except ChannelRefused as exc:
            if exc.code == "ORDER_NOT_EXIST":
                return ChannelTrade(self.name, out_trade_no, TradeStatus.NOT_FOUND, 0)
            if exc.code not in ("ORDERPAID", "ORDER_PAID"):  # paid first: the query tells
                raise
        return self.query(out_trade_no)

    def refund(self, request: RefundRequest) -> ChannelRefund:
        _check_refund_request(request)
        body: dict[str, Any] = {
            "out_trade_no": request.out_trade_no,
            "out_refund_no": request.out_refund_no,
            "amount": {"refund": request.refund_fen, "total": request.total_fen, "currency": "CNY"},
        }
        if request.reason:
            body["reason"] = request.reason[:80]
        _status, payload = self._request("POST", wechatpay.REFUND_PATH, body)
        refund = self._refund(request.out_trade_no, request.out_refund_no, payload)
        if refund.refund_fen != request.refund_fen:
            raise OutcomeUnknown("the refund's amount does not match the request")
        return refund

    def query_refund(self, out_trade_no: str, out_refund_no: str) -> ChannelRefund:
        missing = ChannelRefund(self.name, out_trade_no, out_refund_no, RefundStatus.NOT_FOUND, 0)
        try:
            _status, payload = self._request("GET", wechatpay.REFUND_QUERY_PATH.format(out_refund_no=out_refund_no))
        except ChannelRefused as exc:
            if exc.code == "RESOURCE_NOT_EXISTS":
                return missing
            raise
        if payload.get("out_trade_no") != out_trade_no:
            return missing  # that number is another trade's refund
        return self._refund(out_trade_no, out_refund_no, payload)

    def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> PaymentNotification:
        try:
            wechatpay.verify_signed_headers(
                headers,
                body,
                public_key=self.credentials.platform_public_key,
                serial_no=self.credentials.platform_serial_no,
                now=now(),
            )
        except wechatpay.SignatureError as exc:
            raise InvalidSignature(str(exc)) from exc
        # Signed by the platform: readable now.
        try:
            envelope = json.loads(body)
        except ValueError as exc:
            raise InvalidNotification("the body is not JSON") from exc
        if not isinstance(envelope, dict) or not isinstance(envelope.get("resource"), dict):
            raise InvalidNotification("no resource")
        if envelope.get("event_type") != "TRANSACTION.SUCCESS" or envelope.get("resource_type") != "encrypt-resource":
            raise InvalidNotification(f"unexpected event {envelope.get('event_type')!r}")
        try:
            plaintext = wechatpay.decrypt_resource(self.credentials.apiv3_key, envelope["resource"])
        except wechatpay.SignatureError as exc:
            raise InvalidSignature(str(exc)) from exc
        try:
            tx = json.loads(plaintext)
        except ValueError as exc:
            raise InvalidNotification("the resource is not JSON") from exc
        if not isinstance(tx, dict) or not tx.get("out_trade_no") or not envelope.get("id"):
            raise InvalidNotification("out_trade_no or id missing")
        trade = self._trade(str(tx["out_trade_no"]), tx, unknown=InvalidNotification)
        return PaymentNotification(self.name, str(envelope["id"]), str(tx["mchid"]), trade)

    def ack(self, accepted: bool, message: str = "") -> NotificationAck:
        if accepted:
            return NotificationAck(204, "application/json", b"")
        body = json.dumps({"code": "FAIL", "message": message or "失败"}, ensure_ascii=False).encode("utf-8")
        return NotificationAck(500, "application/json", body)

    def bill(self, day: dt.date) -> list[BillRow]:
        path = wechatpay.TRADE_BILL_PATH + "?" + urlencode({"bill_date": day.isoformat(), "bill_type": "ALL"})
        _status, payload = self._request("GET", path)
        url = str(payload.get("download_url", "")) if isinstance(payload, dict) else ""
        if not url.startswith(self.root + wechatpay.BILL_DOWNLOAD_PATH + "?"):
            raise OutcomeUnknown(f"a bill URL outside the channel: {url!r}")
        file_path = url[len(self.root) :]
        response = _send(
            "GET",
            url,
            headers={
                "Authorization": wechatpay.authorization(
                    mchid=self.credentials.mchid,
                    serial_no=self.credentials.serial_no,
                    private_key=self.credentials.private_key,
                    method="GET",
                    url_path=file_path,
                    body="",
                    timestamp=int(now().timestamp()),
                )
            },
        )
        if response.status_code != 200:
            raise OutcomeUnknown(f"bill download: HTTP {response.status_code}")
        digest = hashlib.sha1(response.content, usedforsecurity=False).hexdigest()
        if payload.get("hash_type") != "SHA1" or digest != str(payload.get("hash_value", "")).lower():
            raise OutcomeUnknown("the bill file does not match its hash")
        try:
            rows, _totals = wechatpay.parse_bill(response.content.decode("utf-8"))
            return [self._bill_row(row) for row in rows]
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            raise OutcomeUnknown(f"unreadable bill: {exc}") from exc

    def _bill_row(self, row: Mapping[str, str]) -> BillRow:
        occurred = dt.datetime.strptime(row["交易时间"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=wechatpay.CHINA)
        occurred = occurred.astimezone(dt.UTC)
        if row["交易状态"] == "SUCCESS":
            return BillRow(
                self.name, BillKind.PAYMENT, row["商户订单号"], row["微信订单号"], wechatpay.bill_fen(row["订单金额"]), occurred
            )
        if row["交易状态"] == "REFUND":
            return BillRow(
                self.name,
                BillKind.REFUND,
                row["商户订单号"],
                row["微信订单号"],
                wechatpay.bill_fen(row["退款金额"]),
                occurred,
                row["商户退款单号"],
            )
        raise ValueError(f"unknown trade state in the bill: {row['交易状态']!r}")
