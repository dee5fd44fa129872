"""CSRF protection for cookie-authenticated requests (double-submit token).

Pages get a random token in an HttpOnly, SameSite=Lax cookie and the same token in every form's hidden
``csrf_token`` field (``render()`` puts it in the template context). A form POST, or an API call that
authenticates by the session cookie rather than a bearer token, must send the token back (form field, or the
``X-CSRF-Token`` header); a cross-site page can neither read the cookie nor guess the token.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from o2o.errors import AppError

COOKIE = "o2o_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"


def token_for(request: Request) -> str:
    """The request's CSRF token: the cookie's, or a new one (which ``set_cookie`` then stores)."""
    token = getattr(request.state, "csrf_token", None)
    if token is None:
        token = request.cookies.get(COOKIE) or secrets.token_urlsafe(32)
        request.state.csrf_token = token
    return token


def set_cookie(request: Request, response: Response) -> None:
    token = token_for(request)
    if request.cookies.get(COOKIE) != token:
        secure = request.url.scheme == "https"
        response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=secure, path="/")


def verify(request: Request, submitted: str | None) -> None:
    cookie = request.cookies.get(COOKIE)
    if not cookie or not submitted or not hmac.compare_digest(cookie, submitted):
        raise AppError(
            "csrf_failed",
            403,
            "The form's security token is missing or does not match; reload the page and try again.",
        )
