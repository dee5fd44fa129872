"""Rendering pages: one Jinja2 environment, the translation function, formatting filters, CSRF token."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import jinja2
from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from o2o import i18n
from o2o.errors import AppError
from o2o.web import csrf

TEMPLATES_DIR = Path(__file__).parent / "templates"

# Starlette's Jinja2Templates takes no Jinja options; build the environment (with the i18n extension) ourselves.
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True, extensions=["jinja2.ext.i18n"]
)
templates = Jinja2Templates(env=_env)
templates.env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
templates.env.filters["money"] = lambda amount, currency: i18n.format_money(amount, currency)
templates.env.filters["distance"] = i18n.format_distance
templates.env.filters["when"] = lambda value, tz: i18n.format_datetime(value, tz)

# Context every page gets; domains add entries with ``add_context_provider``.
_context_providers: list[Any] = []


def add_context_provider(fn: Any) -> Any:
    """Register ``fn(request) -> dict`` whose result every page's context receives (e.g. the signed-in person)."""
    _context_providers.append(fn)
    return fn


def request_locale(request: Request) -> str:
    header = request.headers.get("accept-language", "")
    first = header.split(",")[0].split(";")[0].strip()
    return i18n.normalise_locale(first) if first else i18n.DEFAULT_LOCALE


def render(request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    ctx: dict[str, Any] = {"csrf_token": csrf.token_for(request), "settings": request.app.state.settings}
    for provider in _context_providers:
        ctx.update(provider(request))
    ctx.update(context or {})
    with i18n.use_locale(request_locale(request)):
        response = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    csrf.set_cookie(request, response)
    return response


def translate(request: Request, message: str, **values: Any) -> str:
    """``message`` in the page's language, with ``{name}`` placeholders filled in when ``values`` are given."""
    with i18n.use_locale(request_locale(request)):
        text = i18n.gettext(message)
        return text.format(**values) if values else text


def format_money(request: Request, amount: int, currency: str) -> str:
    """An amount in minor units, formatted in the page's language."""
    with i18n.use_locale(request_locale(request)):
        return i18n.format_money(amount, currency)


def parse_id(text: str | None) -> uuid.UUID | None:
    """An id from a path or a form field, or None when it is not one (the page then answers "not found")."""
    try:
        return uuid.UUID(str(text))
    except (TypeError, ValueError):
        return None


def see_other(url: str) -> RedirectResponse:
    """The answer to a form that worked: 303, so a reload does not post it again."""
    return RedirectResponse(url, status_code=303)


def csrf_refusal(request: Request, token: str) -> AppError | None:
    """The form's CSRF token checked: None when it is good, else the refusal to show (nothing has changed)."""
    try:
        csrf.verify(request, token or None)
    except AppError as exc:
        return exc
    return None
