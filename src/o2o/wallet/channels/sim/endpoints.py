"""The simulated providers' HTTP surface, in their own words, and their cashier pages.

Alipay (``/sim/alipay``):

* ``GET|POST /sim/alipay/gateway.do`` with ``method=alipay.trade.page.pay``: checks our signature, creates (or
  finds) the trade and sends the browser to the cashier; with a server method (``alipay.trade.query``,
  ``.close``, ``.refund``, ``.fastpay.refund.query``, ``alipay.data.dataservice.bill.downloadurl.query``): a
  signed JSON answer.
* ``GET /sim/alipay/bill/download``: the bill file a download URL points to (a zip of a GBK CSV).

WeChat Pay (``/sim/wechatpay``, paths as under WeChat's API host, every call signed by us and every answer
signed by the platform): ``POST /v3/pay/transactions/native``, ``GET /v3/pay/transactions/out-trade-no/{no}``,
``POST .../{no}/close``, ``POST /v3/refund/domestic/refunds``, ``GET /v3/refund/domestic/refunds/{no}``,
``GET /v3/bill/tradebill``, ``GET /v3/billdownload/file``.

Cashiers (the customer's side): ``GET /sim/alipay/cashier/{token}``; ``GET /sim/wechatpay/cashier?code_url=...``
(plays "scan the QR code"); ``POST /sim/{alipay|wechatpay}/cashier/{token}/pay`` and ``.../cancel``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import segno
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from o2o.config import Settings
from o2o.errors import AppError
from o2o.http import DbSession, api_router
from o2o.kit.time import now as clock
from o2o.wallet.channels import alipay, keys, wechatpay
from o2o.wallet.channels.sim import service
from o2o.wallet.channels.sim.models import SimRefund, SimTrade
from o2o.wallet.channels.sim.service import ALIPAY, CHINA, WECHAT, SimError
from o2o.web import csrf
from o2o.web.render import render

router = api_router(include_in_schema=False)

ALIPAY_ROOT = "/sim/alipay"
WECHAT_ROOT = "/sim/wechatpay"
CODE_URL_PREFIX = "weixin://wxpay/bizpayurl?pr="
_OUT_NO = re.compile(r"^[0-9A-Za-z_\-*|]{6,64}$")
BILL_LINK_SECONDS = 30


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _sign_token(secret: bytes, *parts: str) -> str:
    return hmac.new(secret, "|".join(parts).encode(), hashlib.sha256).hexdigest()[:40]


def _parse_day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text or "") else None
    except ValueError:
        return None


# ================================================================================================================
# Alipay


ALIPAY_PAGE_ERRORS = {
    "amount_mismatch": ("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改 (this trade number exists with another amount)"),
    "closed": ("ACQ.TRADE_HAS_CLOSE", "交易已经关闭 (the trade is closed)"),
    "invalid": ("ACQ.INVALID_PARAMETER", "参数无效 (invalid parameter)"),
}


def _alipay_params(request: Request, body: bytes) -> dict[str, str]:
    query = alipay.parse_form(request.url.query)
    form = alipay.parse_form(body) if body else {}
    if set(query) & set(form):
        raise ValueError("a parameter is both in the query and the body")
    return {**query, **form}


@router.get(ALIPAY_ROOT + "/gateway.do", response_class=HTMLResponse)
def alipay_gateway_get(request: Request, session: DbSession) -> Response:
    try:
        params = alipay.parse_form(request.url.query)
    except ValueError:
        return _cashier_error(request, ALIPAY, "isv.invalid-parameter", "Malformed request.", 400)
    if params.get("method") != alipay.PAGE_PAY:
        return _cashier_error(request, ALIPAY, "isv.invalid-method", "Only page pay is opened in a browser.", 400)
    return _alipay_page_pay(request, session, params)


@router.post(ALIPAY_ROOT + "/gateway.do")
async def alipay_gateway_post(request: Request, session: DbSession) -> Response:
    body = await request.body()
    return await run_in_threadpool(_alipay_gateway_post, request, session, body)


def _alipay_gateway_post(request: Request, session: Session, body: bytes) -> Response:
    provider = keys.alipay_provider(_settings(request))
    try:
        params = _alipay_params(request, body)
    except ValueError:
        return _alipay_answer("", alipay.invalid_arguments("isv.invalid-parameter", "参数无效"), provider, "error_response")
    method = params.get("method", "")
    if method == alipay.PAGE_PAY:
        return _alipay_page_pay(request, session, params)
    handler = ALIPAY_METHODS.get(method)
    if handler is None:
        return _alipay_answer(method, alipay.invalid_arguments("isv.invalid-method", "不存在的方法名"), provider, "error_response")
    try:
        alipay.verify_request(params, provider.merchant_public_key)
    except alipay.SignatureError:
        return _alipay_answer(method, alipay.invalid_arguments("isv.invalid-signature", "验签出错"), provider)
    if params.get("app_id") != provider.app_id:
        return _alipay_answer(method, alipay.invalid_arguments("isv.invalid-app-id", "无效的AppID参数"), provider)
    try:
        biz = json.loads(params.get("biz_content") or "{}")
        if not isinstance(biz, dict):
            raise ValueError("biz_content is not an object")
    except ValueError:
        return _alipay_answer(method, alipay.invalid_arguments("isv.invalid-parameter", "biz_content 无效"), provider)
    payload = handler(session, _settings(request), provider, biz)
    return _alipay_answer(method, payload, provider)


def _alipay_answer(
    method: str, payload: dict[str, Any], provider: keys.AlipayProvider, name: str | None = None
) -> Response:
    return Response(
        alipay.build_response(method, payload, provider.private_key, name=name),
        media_type="application/json;charset=utf-8",
    )


def _alipay_page_pay(request: Request, session: Session, params: dict[str, str]) -> Response:
    provider = keys.alipay_provider(_settings(request))
    try:
        alipay.verify_request(params, provider.merchant_public_key)
    except alipay.SignatureError:
        return _cashier_error(request, ALIPAY, "isv.invalid-signature", "验签出错 (the request's signature is wrong)", 400)
    if params.get("app_id") != provider.app_id:
        return _cashier_error(request, ALIPAY, "isv.invalid-app-id", "无效的AppID参数 (unknown app_id)", 400)
    try:
        biz = json.loads(params.get("biz_content") or "{}")
        out_trade_no = str(biz.get("out_trade_no", ""))
        amount_fen = alipay.fen(str(biz.get("total_amount", "")))
        subject = str(biz.get("subject", "")).strip()
        if not _OUT_NO.match(out_trade_no) or not subject or amount_fen <= 0:
            raise ValueError("missing or invalid out_trade_no, subject or total_amount")
        if biz.get("product_code") != "FAST_INSTANT_TRADE_PAY":
            raise ValueError("product_code must be FAST_INSTANT_TRADE_PAY")
        moment = clock()
        expires_at = (
            alipay.parse_china_time(biz["time_expire"]) if biz.get("time_expire") else moment + dt.timedelta(hours=2)
        )
        notify_url = params.get("notify_url", "")
        if not notify_url.startswith(("http://", "https://")):
            raise ValueError("notify_url is required")
    except (ValueError, TypeError, AttributeError) as exc:
        return _cashier_error(request, ALIPAY, "isv.invalid-parameter", f"参数无效 ({exc})", 400)
    try:
        trade = service.create_or_get_trade(
            session,
            channel=ALIPAY,
            merchant_id=provider.app_id,
            out_trade_no=out_trade_no,
            amount_fen=amount_fen,
            subject=subject,
            notify_url=notify_url,
            return_url=params.get("return_url") or None,
            expires_at=expires_at,
            now=moment,
        )
    except SimError as exc:
        code, message = ALIPAY_PAGE_ERRORS.get(exc.reason, ("ACQ.SYSTEM_ERROR", exc.message))
        return _cashier_error(request, ALIPAY, code, message, 400)
    return RedirectResponse(f"{ALIPAY_ROOT}/cashier/{trade.cashier_token}", status_code=303)


def _trade_not_exist() -> dict[str, str]:
    return alipay.business_error("ACQ.TRADE_NOT_EXIST", "交易不存在")


def _alipay_query(session: Session, settings: Settings, provider: keys.AlipayProvider, biz: dict) -> dict[str, Any]:
    trade = service.visible_trade(session, ALIPAY, provider.app_id, str(biz.get("out_trade_no", "")))
    if trade is None:
        return _trade_not_exist()
    answer = alipay.success(
        trade_no=trade.channel_trade_no,
        out_trade_no=trade.out_trade_no,
        trade_status=service.alipay_status(trade),
        total_amount=alipay.yuan(trade.amount_fen),
    )
    if trade.paid_at is not None:
        answer.update(
            buyer_logon_id="sim***@example.com",
            buyer_user_id="2088102177846880",
            buyer_pay_amount=alipay.yuan(trade.amount_fen),
            receipt_amount=alipay.yuan(trade.amount_fen),
            send_pay_date=alipay.china_time(trade.paid_at),
        )
    return answer


def _alipay_close(session: Session, settings: Settings, provider: keys.AlipayProvider, biz: dict) -> dict[str, Any]:
    out_trade_no = str(biz.get("out_trade_no", ""))
    try:
        trade = service.close(session, ALIPAY, provider.app_id, out_trade_no)
    except SimError:
        return alipay.business_error("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
    if trade is None:
        return _trade_not_exist()
    return alipay.success(trade_no=trade.channel_trade_no, out_trade_no=trade.out_trade_no)


ALIPAY_REFUND_ERRORS = {
    "not_found": ("ACQ.TRADE_NOT_EXIST", "交易不存在"),
    "not_paid": ("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"),
    "refund_exceeds": ("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限"),
    "refund_conflict": ("ACQ.INVALID_PARAMETER", "同一退款请求号的退款金额不一致"),
    "invalid": ("ACQ.INVALID_PARAMETER", "参数无效"),
    "total_mismatch": ("ACQ.INVALID_PARAMETER", "参数无效"),
}


def _alipay_refund(session: Session, settings: Settings, provider: keys.AlipayProvider, biz: dict) -> dict[str, Any]:
    out_trade_no = str(biz.get("out_trade_no", ""))
    out_request_no = str(biz.get("out_request_no") or out_trade_no)
    try:
        amount = alipay.fen(str(biz.get("refund_amount", "")))
    except ValueError:
        return alipay.business_error("ACQ.INVALID_PARAMETER", "refund_amount 无效")
    try:
        row, created = service.refund(
            session,
            settings,
            channel=ALIPAY,
            merchant_id=provider.app_id,
            out_trade_no=out_trade_no,
            out_refund_no=out_request_no,
            refund_fen=amount,
            reason=str(biz.get("refund_reason", "")),
        )
    except SimError as exc:
        return alipay.business_error(*ALIPAY_REFUND_ERRORS.get(exc.reason, ("ACQ.SYSTEM_ERROR", exc.message)))
    trade = session.get(SimTrade, row.trade_id)
    assert trade is not None and row.succeeded_at is not None
    return alipay.success(
        trade_no=trade.channel_trade_no,
        out_trade_no=trade.out_trade_no,
        buyer_logon_id="sim***@example.com",
        fund_change="Y" if created else "N",
        refund_fee=alipay.yuan(trade.refunded_fen),
        send_back_fee=alipay.yuan(row.refund_fen),
        gmt_refund_pay=alipay.china_time(row.succeeded_at),
    )


def _alipay_refund_query(
    session: Session, settings: Settings, provider: keys.AlipayProvider, biz: dict
) -> dict[str, Any]:
    trade = service.visible_trade(session, ALIPAY, provider.app_id, str(biz.get("out_trade_no", "")))
    if trade is None:
        return _trade_not_exist()
    row = service.find_refund(session, trade, str(biz.get("out_request_no", "")))
    if row is None or row.succeeded_at is None:  # Alipay answers "success" with no refund data: not refunded
        return alipay.success(trade_no=trade.channel_trade_no, out_trade_no=trade.out_trade_no)
    return alipay.success(
        trade_no=trade.channel_trade_no,
        out_trade_no=trade.out_trade_no,
        out_request_no=row.out_refund_no,
        total_amount=alipay.yuan(trade.amount_fen),
        refund_amount=alipay.yuan(row.refund_fen),
        refund_status=alipay.REFUND_SUCCESS,
        gmt_refund_pay=alipay.china_time(row.succeeded_at),
    )


def _alipay_bill_url(session: Session, settings: Settings, provider: keys.AlipayProvider, biz: dict) -> dict[str, Any]:
    day = _parse_day(str(biz.get("bill_date", "")))
    if biz.get("bill_type") != "trade" or day is None:
        return alipay.business_error("isp.invalid-parameter", "bill_type 须为 trade，bill_date 为 yyyy-MM-dd")
    if service.day_bounds(day)[1] > clock():
        return alipay.business_error("isp.bill_not_exist", "账单不存在")
    expires = str(int(clock().timestamp()) + BILL_LINK_SECONDS)
    query = {
        "app_id": provider.app_id,
        "bill_date": day.isoformat(),
        "expires": expires,
        "token": _sign_token(provider.secret, provider.app_id, day.isoformat(), expires),
    }
    return alipay.success(bill_download_url=f"{settings.base_url}{ALIPAY_ROOT}/bill/download?{urlencode(query)}")


ALIPAY_METHODS: dict[str, Callable[[Session, Settings, keys.AlipayProvider, dict], dict[str, Any]]] = {
    alipay.TRADE_QUERY: _alipay_query,
    alipay.TRADE_CLOSE: _alipay_close,
    alipay.TRADE_REFUND: _alipay_refund,
    alipay.REFUND_QUERY: _alipay_refund_query,
    alipay.BILL_URL_QUERY: _alipay_bill_url,
}


@router.get(ALIPAY_ROOT + "/bill/download")
def alipay_bill_download(
    request: Request, session: DbSession, app_id: str = "", bill_date: str = "", expires: str = "", token: str = ""
) -> Response:
    provider = keys.alipay_provider(_settings(request))
    day = _parse_day(bill_date)
    good = hmac.compare_digest(token, _sign_token(provider.secret, app_id, bill_date, expires))
    if not good or day is None or app_id != provider.app_id or not expires.isdigit() or int(expires) < clock().timestamp():
        return Response("链接已失效 (this download link is not valid)", status_code=403, media_type="text/plain")
    try:
        entries = service.bill(session, ALIPAY, provider.app_id, day)
    except SimError:
        return Response("账单不存在", status_code=404, media_type="text/plain")
    return Response(
        service.alipay_bill_zip(entries, provider.seller_id, day),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{provider.seller_id}_{day:%Y%m%d}.csv.zip"'},
    )


# ================================================================================================================
# WeChat Pay API v3


# A handler answers (status, payload) to be signed, or a finished Response (the bill file, which is not signed).
WxAnswer = tuple[int, dict[str, Any] | None] | Response
WxHandler = Callable[[Session, Settings, keys.WechatProvider, Any], WxAnswer]


def _wx_path(request: Request) -> str:
    """The request target as WeChat's host would see it: ``/v3/...`` with its query string, as sent."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    path = raw.decode("latin-1")
    at = path.find(WECHAT_ROOT + "/")
    path = path[at + len(WECHAT_ROOT) :] if at >= 0 else path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


def _wx_answer(provider: keys.WechatProvider, status: int, payload: dict[str, Any] | None) -> Response:
    body = "" if payload is None else wechatpay.dumps(payload)
    headers = wechatpay.signed_headers(
        private_key=provider.private_key,
        serial_no=provider.platform_serial_no,
        body=body,
        timestamp=int(clock().timestamp()),
    )
    headers["Request-ID"] = hashlib.sha1(body.encode() + headers[wechatpay.H_NONCE].encode(), usedforsecurity=False).hexdigest()
    if payload is None:
        return Response(status_code=status, headers=headers)
    return Response(body.encode("utf-8"), status_code=status, headers=headers, media_type="application/json")


async def _wx(request: Request, session: Session, handler: WxHandler) -> Response:
    body = await request.body()
    return await run_in_threadpool(_wx_sync, request, session, body, handler)


def _wx_sync(request: Request, session: Session, body: bytes, handler: WxHandler) -> Response:
    settings = _settings(request)
    provider = keys.wechat_provider(settings)
    try:
        text = body.decode("utf-8")
        fields = wechatpay.verify_authorization(
            request.headers.get("authorization", ""),
            method=request.method,
            url_path=_wx_path(request),
            body=text,
            public_key=provider.merchant_public_key,
            serial_no=provider.merchant_serial_no,
            now=clock(),
        )
    except (UnicodeDecodeError, wechatpay.SignatureError) as exc:
        return _wx_answer(provider, 401, wechatpay.error("SIGN_ERROR", f"签名错误 ({exc})"))
    if fields["mchid"] != provider.mchid:
        return _wx_answer(provider, 403, wechatpay.error("NO_AUTH", "商户号与签名不一致"))
    data: Any = None
    if text:
        try:
            data = json.loads(text)
        except ValueError:
            return _wx_answer(provider, 400, wechatpay.error("PARAM_ERROR", "请求体不是合法的JSON"))
    answer = handler(session, settings, provider, (data, request))
    if isinstance(answer, Response):
        return answer
    return _wx_answer(provider, *answer)


def _param_error(message: str) -> WxAnswer:
    return 400, wechatpay.error("PARAM_ERROR", message)


def _wx_native(session: Session, settings: Settings, provider: keys.WechatProvider, arg: Any) -> WxAnswer:
    data, _request = arg
    if not isinstance(data, dict):
        return _param_error("缺少请求体")
    amount = data.get("amount") if isinstance(data.get("amount"), dict) else {}
    total = amount.get("total")
    out_trade_no = str(data.get("out_trade_no", ""))
    description = str(data.get("description", "")).strip()
    notify_url = str(data.get("notify_url", ""))
    if data.get("appid") != provider.appid or data.get("mchid") != provider.mchid:
        return 400, wechatpay.error("INVALID_REQUEST", "appid和mchid不匹配")
    if not isinstance(total, int) or isinstance(total, bool) or total <= 0 or amount.get("currency", "CNY") != "CNY":
        return _param_error("amount.total 须为正整数（分），currency 为 CNY")
    if not _OUT_NO.match(out_trade_no) or len(out_trade_no) > 32 or not description:
        return _param_error("out_trade_no 或 description 无效")
    if not notify_url.startswith(("http://", "https://")):
        return _param_error("notify_url 无效")
    try:
        expires_at = (
            wechatpay.parse_rfc3339(data["time_expire"]) if data.get("time_expire") else clock() + dt.timedelta(hours=2)
        )
    except (ValueError, TypeError):
        return _param_error("time_expire 无效")
    try:
        trade = service.create_or_get_trade(
            session,
            channel=WECHAT,
            merchant_id=provider.mchid,
            out_trade_no=out_trade_no,
            amount_fen=total,
            subject=description,
            notify_url=notify_url,
            return_url=None,
            expires_at=expires_at,
        )
    except SimError as exc:
        if exc.reason == "closed":
            return 400, wechatpay.error("ORDER_CLOSED", "订单已关闭")
        return 400, wechatpay.error("INVALID_REQUEST", "商户订单号重复，且参数不一致")
    if trade.status == service.PAID:
        return 400, wechatpay.error("ORDERPAID", "订单已支付")
    if trade.status == service.CLOSED:
        return 400, wechatpay.error("ORDER_CLOSED", "订单已关闭")
    return 200, {"code_url": CODE_URL_PREFIX + trade.cashier_token}


def _wx_refund_body(trade: SimTrade, row: SimRefund) -> dict[str, Any]:
    assert row.succeeded_at is not None
    return {
        "refund_id": row.channel_refund_no,
        "out_refund_no": row.out_refund_no,
        "transaction_id": trade.channel_trade_no,
        "out_trade_no": trade.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "success_time": wechatpay.rfc3339(row.succeeded_at),
        "create_time": wechatpay.rfc3339(row.created_at),
        "status": "SUCCESS",
        "funds_account": "AVAILABLE",
        "amount": {
            "total": trade.amount_fen,
            "refund": row.refund_fen,
            "payer_total": trade.amount_fen,
            "payer_refund": row.refund_fen,
            "settlement_total": trade.amount_fen,
            "settlement_refund": row.refund_fen,
            "discount_refund": 0,
            "currency": "CNY",
        },
    }


WX_REFUND_ERRORS = {
    "not_found": (404, "RESOURCE_NOT_EXISTS", "订单不存在"),
    "not_paid": (400, "INVALID_REQUEST", "订单未支付，不能退款"),
    "refund_exceeds": (400, "INVALID_REQUEST", "申请退款金额超过订单可退金额"),
    "refund_conflict": (400, "INVALID_REQUEST", "同一退款单号的参数不一致"),
    "total_mismatch": (400, "PARAM_ERROR", "订单金额与支付金额不一致"),
    "invalid": (400, "PARAM_ERROR", "参数错误"),
}


def _wx_refund(session: Session, settings: Settings, provider: keys.WechatProvider, arg: Any) -> WxAnswer:
    data, _request = arg
    if not isinstance(data, dict) or not isinstance(data.get("amount"), dict):
        return _param_error("缺少 amount")
    refund_fen, total_fen = data["amount"].get("refund"), data["amount"].get("total")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (refund_fen, total_fen)):
        return _param_error("amount.refund 与 amount.total 须为整数（分）")
    out_refund_no = str(data.get("out_refund_no", ""))
    if not _OUT_NO.match(out_refund_no):
        return _param_error("out_refund_no 无效")
    try:
        row, _created = service.refund(
            session,
            settings,
            channel=WECHAT,
            merchant_id=provider.mchid,
            out_trade_no=str(data.get("out_trade_no", "")),
            out_refund_no=out_refund_no,
            refund_fen=refund_fen,
            total_fen=total_fen,
            reason=str(data.get("reason", "")),
        )
    except SimError as exc:
        status, code, message = WX_REFUND_ERRORS.get(exc.reason, (500, "SYSTEM_ERROR", exc.message))
        return status, wechatpay.error(code, message)
    trade = session.get(SimTrade, row.trade_id)
    assert trade is not None
    return 200, _wx_refund_body(trade, row)


@router.post(WECHAT_ROOT + wechatpay.NATIVE_PATH)
async def wechat_native(request: Request, session: DbSession) -> Response:
    return await _wx(request, session, _wx_native)


@router.get(WECHAT_ROOT + "/v3/pay/transactions/out-trade-no/{out_trade_no}")
async def wechat_query(request: Request, session: DbSession, out_trade_no: str, mchid: str = "") -> Response:
    def handle(session: Session, settings: Settings, provider: keys.WechatProvider, arg: Any) -> WxAnswer:
        if mchid != provider.mchid:
            return _param_error("mchid 无效")
        trade = service.visible_trade(session, WECHAT, provider.mchid, out_trade_no)
        if trade is None:
            return 404, wechatpay.error("ORDER_NOT_EXIST", "订单不存在")
        return 200, service.wechat_transaction(trade)

    return await _wx(request, session, handle)


@router.post(WECHAT_ROOT + "/v3/pay/transactions/out-trade-no/{out_trade_no}/close")
async def wechat_close(request: Request, session: DbSession, out_trade_no: str) -> Response:
    def handle(session: Session, settings: Settings, provider: keys.WechatProvider, arg: Any) -> WxAnswer:
        data, _request = arg
        if not isinstance(data, dict) or data.get("mchid") != provider.mchid:
            return _param_error("mchid 无效")
        try:
            service.close(session, WECHAT, provider.mchid, out_trade_no)
        except SimError:
            return 400, wechatpay.error("ORDERPAID", "订单已支付")
        return 204, None

    return await _wx(request, session, handle)


@router.post(WECHAT_ROOT + wechatpay.REFUND_PATH)
async def wechat_refund(request: Request, session: DbSession) -> Response:
    return await _wx(request, session, _wx_refund)


@router.get(WECHAT_ROOT + "/v3/refund/domestic/refunds/{out_refund_no}")
async def wechat_refund_query(request: Request, session: DbSession, out_refund_no: str) -> Response:
    def handle(session: Session, settings: Settings, provider: keys.WechatProvider, arg: Any) -> WxAnswer:
        row = service.find_refund_by_number(session, WECHAT, provider.mchid, out_refund_no)
        if row is None:
            return 404, wechatpay.error("RESOURCE_NOT_EXISTS", "退款单不存在")
        trade = session.get(SimTrade, row.trade_id)
        assert trade is not None
        return 200, _wx_refund_body(trade, row)

    return await _wx(request, session, handle)


def _wx_bill_file(session: Session, provider: keys.WechatProvider, day: dt.date, bill_type: str) -> str:
    entries = service.bill(session, WECHAT, provider.mchid, day)
    if bill_type == "SUCCESS":
        entries = [e for e in entries if e.refund is None]
    elif bill_type == "REFUND":
        entries = [e for e in entries if e.refund is not None]
    return service.wechat_bill_file(entries, provider.appid, provider.mchid)


@router.get(WECHAT_ROOT + wechatpay.TRADE_BILL_PATH)
async def wechat_trade_bill(request: Request, session: DbSession, bill_date: str = "", bill_type: str = "ALL") -> Response:
    def handle(session: Session, settings: Settings, provider: keys.WechatProvider, arg: Any) -> WxAnswer:
        day = _parse_day(bill_date)
        if day is None or bill_type not in ("ALL", "SUCCESS", "REFUND"):
            return _param_error("bill_date 须为 yyyy-MM-DD，bill_type 为 ALL/SUCCESS/REFUND")
        try:
            text = _wx_bill_file(session, provider, day, bill_type)
        except SimError:
            return 400, wechatpay.error("NO_STATEMENT_EXIST", "账单文件不存在")
        expires = str(int(clock().timestamp()) + BILL_LINK_SECONDS)
        token = _sign_token(provider.secret, provider.mchid, day.isoformat(), bill_type, expires)
        query = urlencode({"token": token, "bill_date": day.isoformat(), "bill_type": bill_type, "expires": expires})
        return 200, {
            "hash_type": "SHA1",
            "hash_value": hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest(),
            "download_url": f"{settings.base_url}{WECHAT_ROOT}{wechatpay.BILL_DOWNLOAD_PATH}?{query}",
        }

    return await _wx(request, session, handle)


@router.get(WECHAT_ROOT + wechatpay.BILL_DOWNLOAD_PATH)
async def wechat_bill_download(
    request: Request,
    session: DbSession,
    token: str = "",
    bill_date: str = "",
    bill_type: str = "ALL",
    expires: str = "",
) -> Response:
    """The file itself: the request is signed by the merchant; the answer is not signed (its SHA-1 was)."""

    def handle(session: Session, settings: Settings, provider: keys.WechatProvider, arg: Any) -> WxAnswer:
        expected = _sign_token(provider.secret, provider.mchid, bill_date, bill_type, expires)
        day = _parse_day(bill_date)
        if not hmac.compare_digest(token, expected) or day is None or not expires.isdigit():
            return 403, wechatpay.error("NO_AUTH", "下载链接无效")
        if int(expires) < clock().timestamp():
            return 403, wechatpay.error("NO_AUTH", "下载链接已过期")
        try:
            text = _wx_bill_file(session, provider, day, bill_type)
        except SimError:
            return 400, wechatpay.error("NO_STATEMENT_EXIST", "账单文件不存在")
        return Response(text.encode("utf-8"), media_type="text/plain; charset=utf-8")

    return await _wx(request, session, handle)


# ================================================================================================================
# The cashiers: the customer's side


PROVIDER_NAMES = {ALIPAY: "Alipay", WECHAT: "WeChat Pay"}
SLUGS = {"alipay": ALIPAY, "wechatpay": WECHAT}
CASHIER_MESSAGES = {
    "closed": "This payment is closed and can no longer be paid.",
    "expired": "This payment has expired and can no longer be paid.",
    "paid": "This payment is already paid.",
    "not_found": "There is no such payment.",
    "csrf_failed": "The form's security token is missing or out of date. Reload the page and try again.",
}


def _safe_redirect(url: str | None) -> str | None:
    if not url or len(url) > 2048 or any(ord(c) < 32 for c in url):
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _qr_svg(text: str) -> str:
    return segno.make(text, error="m").svg_inline(scale=5, border=2, svgclass="cashier-qr-code", title="QR code")


def _cashier(
    request: Request,
    channel: str,
    trade: SimTrade | None,
    *,
    error: str | None = None,
    error_code: str | None = None,
    status_code: int = 200,
    redirect_url: str | None = None,
) -> HTMLResponse:
    slug = "alipay" if channel == ALIPAY else "wechatpay"
    context: dict[str, Any] = {
        "channel": channel,
        "slug": slug,
        "provider_name": PROVIDER_NAMES[channel],
        "merchant_name": keys.MERCHANT_NAME,
        "trade": trade,
        "error": error,
        "error_code": error_code,
        "redirect_url": redirect_url or "",
    }
    if trade is not None:
        back = trade.return_url if channel == ALIPAY else redirect_url
        code_url = CODE_URL_PREFIX + trade.cashier_token
        context.update(
            status=trade.status,
            closed_reason=trade.closed_reason,
            expires_at=trade.expires_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M"),
            pay_action=f"/sim/{slug}/cashier/{trade.cashier_token}/pay",
            cancel_action=f"/sim/{slug}/cashier/{trade.cashier_token}/cancel",
            back_url=_safe_redirect(back),
            code_url=code_url if channel == WECHAT else None,
            qr_svg=_qr_svg(code_url) if channel == WECHAT and trade.status == service.WAITING else None,
        )
    return render(request, "channel_sim/cashier.html", context, status_code=status_code)


def _cashier_error(request: Request, channel: str, code: str, message: str, status_code: int) -> HTMLResponse:
    return _cashier(request, channel, None, error=message, error_code=code, status_code=status_code)


@router.get(ALIPAY_ROOT + "/cashier/{token}", response_class=HTMLResponse)
def alipay_cashier(request: Request, session: DbSession, token: str) -> Response:
    trade = service.trade_by_token(session, ALIPAY, token)
    if trade is None:
        return _cashier_error(request, ALIPAY, "not_found", CASHIER_MESSAGES["not_found"], 404)
    return _cashier(request, ALIPAY, trade)


@router.get(WECHAT_ROOT + "/cashier", response_class=HTMLResponse)
def wechat_cashier(request: Request, session: DbSession, code_url: str = "", redirect_url: str = "") -> Response:
    """Plays the customer scanning ``code_url`` with WeChat."""
    token = code_url[len(CODE_URL_PREFIX) :] if code_url.startswith(CODE_URL_PREFIX) else ""
    trade = service.trade_by_token(session, WECHAT, token) if token else None
    if trade is None:
        return _cashier_error(request, WECHAT, "not_found", CASHIER_MESSAGES["not_found"], 404)
    return _cashier(request, WECHAT, trade, redirect_url=_safe_redirect(redirect_url))


def _alipay_return_url(request: Request, trade: SimTrade) -> str | None:
    """Alipay sends the browser back with signed parameters (never proof of payment: the merchant queries)."""
    base = _safe_redirect(trade.return_url)
    if base is None:
        return None
    provider = keys.alipay_provider(_settings(request))
    params = alipay.sign_notification(
        {
            "charset": "utf-8",
            "out_trade_no": trade.out_trade_no,
            "method": alipay.PAGE_PAY_RETURN,
            "total_amount": alipay.yuan(trade.amount_fen),
            "trade_no": trade.channel_trade_no,
            "auth_app_id": provider.app_id,
            "version": "1.0",
            "app_id": provider.app_id,
            "seller_id": provider.seller_id,
            "timestamp": alipay.china_time(clock()),
        },
        provider.private_key,
    )
    return base + ("&" if "?" in base else "?") + urlencode(params)


def _cashier_action(
    request: Request, session: Session, slug: str, token: str, form: dict[str, str], action: str
) -> Response:
    channel = SLUGS.get(slug)
    if channel is None:
        raise AppError("not_found", 404, "no such provider")
    trade = service.trade_by_token(session, channel, token)
    redirect_url = _safe_redirect(form.get("redirect_url"))
    if trade is None:
        return _cashier_error(request, channel, "not_found", CASHIER_MESSAGES["not_found"], 404)
    try:
        csrf.verify(request, form.get("csrf_token") or None)
    except AppError as exc:
        return _cashier(
            request, channel, trade, error=CASHIER_MESSAGES["csrf_failed"], error_code=exc.code, status_code=403,
            redirect_url=redirect_url,
        )
    try:
        if action == "pay":
            service.pay(session, _settings(request), trade)
        else:
            service.cancel(session, trade)
    except SimError as exc:
        # Returned (not raised), so what the attempt changed (an expired trade closed) is committed.
        return _cashier(
            request, channel, trade, error=CASHIER_MESSAGES.get(exc.reason, exc.message), error_code=exc.reason,
            status_code=409, redirect_url=redirect_url,
        )
    target = _alipay_return_url(request, trade) if channel == ALIPAY and action == "pay" else None
    if target is None:
        target = _safe_redirect(trade.return_url) if channel == ALIPAY else redirect_url
    if target is None:
        return _cashier(request, channel, trade, redirect_url=redirect_url)
    return RedirectResponse(target, status_code=303)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/sim/{slug}/cashier/{token}/pay")
async def cashier_pay(request: Request, session: DbSession, slug: str, token: str) -> Response:
    form = await _form(request)
    return await run_in_threadpool(_cashier_action, request, session, slug, token, form, "pay")


@router.post("/sim/{slug}/cashier/{token}/cancel")
async def cashier_cancel(request: Request, session: DbSession, slug: str, token: str) -> Response:
    form = await _form(request)
    return await run_in_threadpool(_cashier_action, request, session, slug, token, form, "cancel")
