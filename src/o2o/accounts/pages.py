"""Accounts pages: sign up, sign in (code or password), sign out, the profile, favourites buttons, and the
development SMS outbox.

The pages keep the signed-in session in the ``o2o_session`` cookie (HttpOnly, SameSite=Lax, Secure on https),
holding the same kind of opaque token the API gives out. Every form carries the CSRF token. A form that fails
is drawn again with a message and with what the person typed; a successful one redirects (303).

Other pages draw a favourite button with the macro in ``accounts/_favourite.html``:

    {% from "accounts/_favourite.html" import favourite_button with context %}
    {{ favourite_button("store", store.id, saved=store.id in saved_ids) }}
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from o2o import i18n
from o2o.accounts import errors, favourites, identity, repository, service, sms
from o2o.accounts.endpoints import SESSION_COOKIE
from o2o.accounts.permissions import Role
from o2o.accounts.phones import format_phone, mask_phone
from o2o.errors import AppError
from o2o.http import DbSession, api_router
from o2o.web.render import add_context_provider, render, request_locale
from o2o.web.render import csrf_refusal as _csrf_error
from o2o.web.render import see_other as _redirect
from o2o.web.render import translate as _tr

router = api_router(include_in_schema=False)

_UNSET = object()
_CODE = re.compile(r"^[0-9]{6}$")
FormStr = Annotated[str, Form()]


def N_(message: str) -> str:
    return message


# What each error says on a page (the API's `detail` is for developers; these are for people).
MESSAGES = {
    "invalid_phone": N_("Enter a mobile number, for example 138 0013 8000 (or +86 138 0013 8000)."),
    "otp_rate_limited": N_("Too many codes were sent to this number. Try again in {minutes} minutes."),
    "otp_invalid": N_("That code is not right. You have {attempts_left} tries left."),
    "otp_missing": N_("No code was sent to this number yet. Ask for one first."),
    "otp_malformed": N_("Enter the 6 digits from the text message."),
    "otp_expired": N_("That code has expired. Ask for a new one."),
    "otp_attempts_exceeded": N_("Too many wrong tries: that code no longer works. Ask for a new one."),
    "otp_already_used": N_("That code was already used. Ask for a new one."),
    "invalid_credentials": N_("The phone number or the password is not right."),
    "password_locked": N_(
        "Too many wrong passwords. Sign in with a code, or try again in {minutes} minutes."
    ),
    "csrf_failed": N_("The form's security token is missing or out of date. Reload the page and try again."),
    "invalid_display_name": N_("A display name needs some visible characters (at most 50)."),
    "weak_password": N_("Choose a stronger password: {detail}"),
    "reauthentication_required": N_("Enter your current password to change it."),
    "invalid_current_password": N_("The current password is not right."),
    "invalid_real_name": N_("Write your name as it is on your identity card."),
    "invalid_id_number": N_("Check the identity number: {detail}"),
    "id_number_in_use": N_("This identity number is already verified on another account."),
    "already_verified": N_("Your real name is already verified."),
    "favourite_kind_unavailable": N_("Saving this is not available yet."),
    "favourite_target_not_found": N_("This no longer exists."),
    "not_found": N_("This page does not exist."),
}
DONE = {
    "profile": N_("Your profile is saved."),
    "password": N_("Your password is set."),
    "real-name": N_("Your real name is verified."),
}
KIND_NAMES = {"store": N_("Store"), "deal": N_("Deal"), "home": N_("Home")}
STATUS_NAMES = {"pending": N_("pending"), "sent": N_("sent"), "failed": N_("failed")}
ROLE_NAMES = {
    Role.CUSTOMER: N_("Customer"),
    Role.MERCHANT_OWNER: N_("Store owner"),
    Role.MERCHANT_STAFF: N_("Store staff"),
    Role.COURIER: N_("Courier"),
    Role.FLEET_OPERATOR: N_("Fleet operator"),
    Role.HOME_AGENT: N_("Home agent"),
    Role.PLATFORM_OPERATOR: N_("Platform operator"),
}


def message_for(request: Request, error: AppError) -> str:
    """The error in words for people, in the page's language."""
    template = MESSAGES.get(error.code)
    if error.code == "otp_invalid" and "attempts_left" not in error.extra:
        template = MESSAGES["otp_missing"]
    with i18n.use_locale(request_locale(request)):
        if template is None:
            return error.detail
        retry = int(error.extra.get("retry_after", 60))
        detail = error.detail.split(": ", 1)[-1] if ": " in error.detail else error.detail
        return i18n.gettext(template).format(
            minutes=max(1, -(-retry // 60)), attempts_left=error.extra.get("attempts_left", 0), detail=detail
        )


# --------------------------------------------------------------------------------------------------------------
# Who is signed in (pages): an invalid or expired cookie just means "not signed in".


def page_auth(request: Request) -> service.Authenticated | None:
    cached = getattr(request.state, "o2o_page_auth", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[return-value]
    auth = None
    token = request.cookies.get(SESSION_COOKIE)
    session: Session | None = getattr(request.state, "db_session", None)
    if token and session is not None:
        try:
            auth = service.authenticate(session, token)
        except AppError:
            auth = None
    request.state.o2o_page_auth = auth
    return auth


@dataclass(frozen=True, slots=True)
class CurrentPerson:
    id: uuid.UUID
    display_name: str | None
    phone_masked: str


@add_context_provider
def current_person_context(request: Request) -> dict[str, Any]:
    """Every page's ``current_person`` (None when signed out), for the navigation bar."""
    auth = page_auth(request)
    session: Session | None = getattr(request.state, "db_session", None)
    if auth is None or session is None:
        return {"current_person": None}
    person = repository.get_person(session, auth.person_id)
    if person is None:
        return {"current_person": None}
    return {
        "current_person": CurrentPerson(
            id=person.id, display_name=person.display_name, phone_masked=mask_phone(person.phone_e164)
        )
    }


def safe_next(value: str | None, default: str = "/me") -> str:
    """Only a path on this site: never ``//elsewhere``, a scheme, or a header-splitting character."""
    if (
        not value
        or len(value) > 512
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 32 for c in value)
    ):
        return default
    return value


def _error_page(request: Request, error: AppError, back: str = "/") -> HTMLResponse:
    return render(
        request,
        "error.html",
        {
            "title": _tr(request, N_("Something is not right")),
            "detail": message_for(request, error),
            "code": error.code,
            "back": back,
        },
        status_code=error.status,
    )


def _set_session_cookie(request: Request, response: Response, sign_in: service.SignIn) -> None:
    max_age = int((sign_in.session.expires_at - sign_in.session.created_at).total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        sign_in.token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


# --------------------------------------------------------------------------------------------------------------
# Sign up and sign in


def _auth_page(
    request: Request,
    mode: str,
    *,
    step: str = "phone",
    next_url: str = "/me",
    phone: str = "",
    display_name: str = "",
    code: str = "",
    error: AppError | None = None,
    error_field: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    title = N_("Sign up") if mode == "signup" else N_("Sign in")
    return render(
        request,
        "accounts/auth.html",
        {
            "nav": mode,
            "mode": mode,
            "title": _tr(request, title),
            "step": step,
            "next": next_url,
            "phone": phone,
            "phone_display": format_phone(phone) if phone.startswith("+") else phone,
            "display_name": display_name,
            "code": code,
            "error": message_for(request, error) if error else None,
            "error_code": error.code if error else None,
            "error_field": error_field,
            "notice": notice,
        },
        status_code=error.status if error else 200,
    )


def _auth_get(request: Request, mode: str, next_url: str | None) -> Response:
    target = safe_next(next_url)
    if page_auth(request) is not None:
        return _redirect(target)
    return _auth_page(request, mode, next_url=target)


@router.get("/signup", response_class=HTMLResponse)
def signup_page(request: Request, next: str | None = None) -> Response:
    return _auth_get(request, "signup", next)


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, next: str | None = None) -> Response:
    return _auth_get(request, "signin", next)


def _send_code(
    request: Request, session: Session, mode: str, phone: str, display_name: str, next_url: str, token: str
) -> Response:
    next_url = safe_next(next_url)
    keep = {"next_url": next_url, "phone": phone[:64], "display_name": display_name[:64]}
    if (bad := _csrf_error(request, token)) is not None:
        return _auth_page(request, mode, error=bad, **keep)
    if mode == "signup" and display_name.strip():
        try:
            service.clean_display_name(display_name)
        except AppError as exc:
            return _auth_page(request, mode, error=exc, error_field="display_name", **keep)
    try:
        with session.begin_nested():  # a failure leaves nothing half-written behind the page it returns
            sent = service.request_code(session, request.app.state.settings, phone)
    except AppError as exc:
        return _auth_page(request, mode, error=exc, error_field="phone", **keep)
    with i18n.use_locale(request_locale(request)):
        notice = i18n.gettext(
            N_("We sent a 6-digit code to {phone}. It works for {minutes} minutes.")
        ).format(
            phone=format_phone(sent.phone_e164),
            minutes=max(1, request.app.state.settings.otp_ttl_seconds // 60),
        )
    return _auth_page(
        request,
        mode,
        step="code",
        next_url=next_url,
        phone=sent.phone_e164,
        display_name=display_name[:64],
        notice=notice,
    )


def _verify(
    request: Request,
    session: Session,
    mode: str,
    phone: str,
    code: str,
    display_name: str,
    next_url: str,
    token: str,
) -> Response:
    next_url = safe_next(next_url)
    keep = {"next_url": next_url, "phone": phone[:64], "display_name": display_name[:64], "code": code[:16]}
    if (bad := _csrf_error(request, token)) is not None:
        return _auth_page(request, mode, step="code", error=bad, **keep)
    code = code.strip()
    if not _CODE.match(code):
        return _auth_page(
            request,
            mode,
            step="code",
            error=AppError("otp_malformed", 400, "need 6 digits"),
            error_field="code",
            **keep,
        )
    settings = request.app.state.settings
    try:
        with session.begin_nested():  # raised: nothing kept; returned failure: the spent try is kept
            result = service.sign_in_with_code(
                session,
                settings,
                phone,
                code,
                channel="web",
                user_agent=request.headers.get("user-agent"),
                display_name=(display_name.strip() or None) if mode == "signup" else None,
                locale=request_locale(request),
            )
    except AppError as exc:  # a malformed phone: back to the first step
        return _auth_page(request, mode, error=exc, error_field="phone", **keep)
    if isinstance(result, AppError):
        # Returned, not raised, so the spent try is committed along with this page.
        return _auth_page(request, mode, step="code", error=result, error_field="code", **keep)
    response = _redirect(next_url)
    _set_session_cookie(request, response, result)
    return response


@router.post("/signup/code")
def signup_code(
    request: Request,
    session: DbSession,
    phone: FormStr = "",
    display_name: FormStr = "",
    next: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    return _send_code(request, session, "signup", phone, display_name, next, csrf_token)


@router.post("/signin/code")
def signin_code(
    request: Request,
    session: DbSession,
    phone: FormStr = "",
    next: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    return _send_code(request, session, "signin", phone, "", next, csrf_token)


@router.post("/signup/verify")
def signup_verify(
    request: Request,
    session: DbSession,
    phone: FormStr = "",
    code: FormStr = "",
    display_name: FormStr = "",
    next: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    return _verify(request, session, "signup", phone, code, display_name, next, csrf_token)


@router.post("/signin/verify")
def signin_verify(
    request: Request,
    session: DbSession,
    phone: FormStr = "",
    code: FormStr = "",
    next: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    return _verify(request, session, "signin", phone, code, "", next, csrf_token)


@router.post("/signin/password")
def signin_password(
    request: Request,
    session: DbSession,
    phone: FormStr = "",
    password: FormStr = "",
    next: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    next_url = safe_next(next)
    keep = {"next_url": next_url, "phone": phone[:64]}
    if (bad := _csrf_error(request, csrf_token)) is not None:
        return _auth_page(request, "signin", error=bad, **keep)
    if not password or len(password) > 128:
        return _auth_page(request, "signin", error=errors.invalid_credentials(), **keep)
    try:
        with session.begin_nested():
            result = service.sign_in_with_password(
                session,
                request.app.state.settings,
                phone,
                password,
                channel="web",
                user_agent=request.headers.get("user-agent"),
            )
    except AppError as exc:
        return _auth_page(request, "signin", error=exc, error_field="phone", **keep)
    if isinstance(result, AppError):
        return _auth_page(request, "signin", error=result, error_field="password", **keep)
    response = _redirect(next_url)
    _set_session_cookie(request, response, result)
    return response


@router.post("/signout")
def signout(request: Request, session: DbSession, csrf_token: FormStr = "") -> Response:
    if (bad := _csrf_error(request, csrf_token)) is not None:
        return _error_page(request, bad)
    auth = page_auth(request)
    if auth is not None:
        service.sign_out(session, auth)
    response = _redirect("/")
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )
    return response


# --------------------------------------------------------------------------------------------------------------
# The profile


def _me_page(
    request: Request,
    session: Session,
    auth: service.Authenticated,
    *,
    form: str | None = None,
    error: AppError | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    person = service.get_person(session, auth.person_id)
    tz = service.person_timezone(session, person)
    rows, _next_cursor = favourites.list_favourites(session, person.id, limit=50)
    by_kind: dict[str, list[uuid.UUID]] = {}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(row.target_id)
    described = {kind: favourites.describe(session, kind, ids) for kind, ids in by_kind.items()}
    saved = [{"row": r, "target": described[r.kind][r.target_id]} for r in rows]
    grants = repository.grants_for(session, person.id)
    done = request.query_params.get("done")
    with i18n.use_locale(request_locale(request)):
        roles = [{"name": i18n.gettext(ROLE_NAMES.get(Role(g.role), g.role)), "grant": g} for g in grants]
        flash = {"kind": "ok", "text": i18n.gettext(DONE[done])} if done in DONE and error is None else None
    return render(
        request,
        "accounts/me.html",
        {
            "nav": "me",
            "person": person,
            "phone_masked": mask_phone(person.phone_e164),
            "age": service.age_of(person, tz),
            "roles": roles,
            "favourites": saved,
            "flash": flash,
            "form": form,
            "error": message_for(request, error) if error else None,
            "error_code": error.code if error else None,
            "values": values or {},
            "timezone": tz,
            "kind_names": KIND_NAMES,
        },
        status_code=error.status if error else 200,
    )


def _signed_in_or_redirect(request: Request, next_url: str) -> service.Authenticated | Response:
    auth = page_auth(request)
    if auth is None:
        return _redirect("/signin?next=" + quote(next_url, safe="/"))
    return auth


@router.get("/me", response_class=HTMLResponse)
def me_page(request: Request, session: DbSession) -> Response:
    auth = _signed_in_or_redirect(request, "/me")
    if isinstance(auth, Response):
        return auth
    return _me_page(request, session, auth)


def _me_form(
    request: Request,
    session: DbSession,
    csrf_token: str,
    form: str,
    change: Callable[[service.Authenticated], object],
    values: dict[str, str] | None = None,
) -> Response:
    """One profile form: signed in, CSRF checked, the change in a savepoint; on a refusal the page again with
    the message and what was typed, else back to /me saying what was done."""
    auth = _signed_in_or_redirect(request, "/me")
    if isinstance(auth, Response):
        return auth
    if (bad := _csrf_error(request, csrf_token)) is not None:
        return _me_page(request, session, auth, form=form, error=bad, values=values)
    try:
        with session.begin_nested():
            change(auth)
    except AppError as exc:
        return _me_page(request, session, auth, form=form, error=exc, values=values)
    return _redirect(f"/me?done={form}")


@router.post("/me/profile")
def me_profile(
    request: Request, session: DbSession, display_name: FormStr = "", csrf_token: FormStr = ""
) -> Response:
    return _me_form(
        request,
        session,
        csrf_token,
        "profile",
        lambda auth: service.update_profile(session, auth.principal, display_name=display_name.strip() or None),
        values={"display_name": display_name[:64]},
    )


@router.post("/me/password")
def me_password(
    request: Request,
    session: DbSession,
    password: FormStr = "",
    current_password: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    return _me_form(
        request,
        session,
        csrf_token,
        "password",
        lambda auth: service.set_password(session, auth, password, current_password=current_password or None),
    )


@router.post("/me/real-name")
def me_real_name(
    request: Request,
    session: DbSession,
    real_name: FormStr = "",
    id_number: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    settings = request.app.state.settings
    return _me_form(
        request,
        session,
        csrf_token,
        "real-name",
        lambda auth: service.submit_real_name(session, settings, auth.principal, real_name, id_number),
        values={"real_name": real_name[:64], "id_number": id_number[: identity.MAX_INPUT_LENGTH]},
    )


@router.post("/me/favourites/{kind}/{target_id}")
def me_favourite(
    request: Request,
    session: DbSession,
    kind: str,
    target_id: str,
    action: FormStr = "add",
    next: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    back = safe_next(next, default="/")
    if (bad := _csrf_error(request, csrf_token)) is not None:
        return _error_page(request, bad, back=back)
    auth = page_auth(request)
    if auth is None:
        return _redirect("/signup?next=" + quote(back, safe="/"))
    try:
        target = uuid.UUID(target_id)
    except ValueError:
        return _error_page(request, AppError("not_found", 404, "no such target"), back=back)
    if kind not in favourites.KINDS:
        return _error_page(request, AppError("not_found", 404, "no such kind"), back=back)
    try:
        if action == "remove":
            favourites.remove_favourite(session, auth.person_id, kind, target)
        else:
            favourites.add_favourite(session, auth.person_id, kind, target)
    except AppError as exc:
        return _error_page(request, exc, back=back)
    return _redirect(back)


# --------------------------------------------------------------------------------------------------------------
# Development tools


@router.get("/dev/outbox", response_class=HTMLResponse)
def dev_outbox(request: Request, session: DbSession) -> Response:
    """The text messages the platform sent (codes included), newest first. Not in production."""
    if not request.app.state.settings.dev_tools_enabled:
        return _error_page(request, AppError("not_found", 404, "not found"))
    messages = [
        {"message": m, "phone": m.data.get("phone", ""), "text": m.data.get("text", "")}
        for m in sms.recent_messages(session)
    ]
    return render(
        request,
        "accounts/dev_outbox.html",
        {"messages": messages, "format_phone": format_phone, "status_names": STATUS_NAMES},
    )
