"""One error type and one renderer: RFC 9457 problem details with a stable snake_case ``code``.

Services raise ``AppError`` (or a subclass from their domain's ``errors.py``); they never raise HTTPException.
Expected business failures are 4xx with a code; 422 is only for a malformed payload; a 500 is always a bug.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger("o2o.errors")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://o2o.dev/problems/"


class AppError(Exception):
    """An expected failure that a client can act upon."""

    def __init__(
        self,
        code: str,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.status = status
        self.detail = detail
        self.title = title or code.replace("_", " ").capitalize()
        self.extra = extra or {}
        self.headers = headers or {}

    def to_problem(self) -> dict[str, Any]:
        return {
            "type": TYPE_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            **self.extra,
        }


# A few shared ones; domains define their own next to their code.
def not_found(what: str, code: str = "not_found") -> AppError:
    return AppError(code, 404, f"{what} was not found.")


def forbidden(detail: str = "You may not do this.") -> AppError:
    return AppError("forbidden", 403, detail)


def unauthenticated(detail: str = "Sign in first.", code: str = "unauthenticated") -> AppError:
    return AppError(code, 401, detail, headers={"WWW-Authenticate": "Bearer"})


class Problem(BaseModel):
    """The body of every error response (RFC 9457)."""

    type: str = Field(examples=[TYPE_BASE + "otp_expired"])
    title: str = Field(examples=["Otp expired"])
    status: int = Field(examples=[400])
    detail: str = Field(examples=["The code has expired; ask for a new one."])
    code: str = Field(examples=["otp_expired"])


def problem_responses(*codes: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting the typed errors an endpoint can return."""
    by_status: dict[int, list[str]] = {}
    for status, code in codes:
        by_status.setdefault(status, []).append(code)
    return {
        status: {
            "model": Problem,
            "description": "Problem: " + ", ".join(f"`{c}`" for c in names),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status, names in by_status.items()
    }


def problem_response(error: AppError) -> JSONResponse:
    return JSONResponse(error.to_problem(), status_code=error.status, media_type=PROBLEM_JSON, headers=error.headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        out.append({"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")})
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
        return problem_response(
            AppError(
                "invalid_request",
                422,
                f"{where}: {first['msg']}",
                title="The request is malformed",
                extra={"errors": errors},
            )
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated", 403: "forbidden"}
        code = codes.get(exc.status_code, f"http_{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else code
        return problem_response(AppError(code, exc.status_code, detail, headers=dict(exc.headers or {})))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return problem_response(AppError("internal_error", 500, "Something went wrong on our side."))
