"""The accounts domain's errors: one factory per stable ``code``, so every place that fails the same way says
the same thing. Status codes follow the platform rule: 4xx with a code for expected failures, 422 only for a
malformed payload (the shared handler's ``invalid_request``)."""

from __future__ import annotations

import math

from o2o.errors import AppError

# (status, code) pairs, for ``problem_responses(...)`` in the endpoints' OpenAPI documentation.
INVALID_PHONE = (400, "invalid_phone")
OTP_RATE_LIMITED = (429, "otp_rate_limited")
OTP_INVALID = (400, "otp_invalid")
OTP_EXPIRED = (400, "otp_expired")
OTP_ATTEMPTS_EXCEEDED = (429, "otp_attempts_exceeded")
OTP_ALREADY_USED = (409, "otp_already_used")
INVALID_CREDENTIALS = (401, "invalid_credentials")
PASSWORD_LOCKED = (429, "password_locked")
UNAUTHENTICATED = (401, "unauthenticated")
INVALID_TOKEN = (401, "invalid_token")
FORBIDDEN = (403, "forbidden")
CSRF_FAILED = (403, "csrf_failed")
INVALID_REQUEST = (422, "invalid_request")
IDEMPOTENCY_KEY_REUSED = (422, "idempotency_key_reused")
INVALID_ID_NUMBER = (400, "invalid_id_number")
ID_NUMBER_IN_USE = (409, "id_number_in_use")
ALREADY_VERIFIED = (409, "already_verified")
REAL_NAME_REQUIRED = (403, "real_name_required")
TOO_YOUNG = (403, "too_young")
WEAK_PASSWORD = (400, "weak_password")
REAUTHENTICATION_REQUIRED = (403, "reauthentication_required")
INVALID_CURRENT_PASSWORD = (403, "invalid_current_password")
UNKNOWN_CITY = (400, "unknown_city")
UNSUPPORTED_LOCALE = (400, "unsupported_locale")
PERSON_NOT_FOUND = (404, "person_not_found")
SESSION_NOT_FOUND = (404, "session_not_found")
INVALID_ROLE_SCOPE = (400, "invalid_role_scope")
UNKNOWN_STORE = (400, "unknown_store")
ROLE_GRANT_NOT_FOUND = (404, "role_grant_not_found")
FAVOURITE_KIND_UNAVAILABLE = (400, "favourite_kind_unavailable")
FAVOURITE_TARGET_NOT_FOUND = (404, "favourite_target_not_found")
INVALID_CURSOR = (400, "invalid_cursor")
INVALID_LIMIT = (400, "invalid_limit")


def _error(pair: tuple[int, str], detail: str, **kwargs: object) -> AppError:
    status, code = pair
    return AppError(code, status, detail, **kwargs)  # type: ignore[arg-type]


def invalid_phone(detail: str = "Enter a mobile phone number, e.g. +86 138 0013 8000.") -> AppError:
    return _error(INVALID_PHONE, detail)


def otp_rate_limited(retry_after_seconds: float) -> AppError:
    seconds = max(1, math.ceil(retry_after_seconds))
    return _error(
        OTP_RATE_LIMITED,
        f"Too many codes were sent to this number in the last hour; try again in {seconds} seconds.",
        headers={"Retry-After": str(seconds)},
        extra={"retry_after": seconds},
    )


def otp_invalid(attempts_left: int | None = None) -> AppError:
    if attempts_left is None:
        return _error(OTP_INVALID, "No code was sent to this number; ask for one first.")
    return _error(
        OTP_INVALID, "The code is not right; check the text message.", extra={"attempts_left": attempts_left}
    )


def otp_expired() -> AppError:
    return _error(OTP_EXPIRED, "The code has expired; ask for a new one.")


def otp_attempts_exceeded() -> AppError:
    return _error(
        OTP_ATTEMPTS_EXCEEDED, "Too many wrong tries: this code no longer works; ask for a new one."
    )


def otp_already_used() -> AppError:
    return _error(OTP_ALREADY_USED, "This code was already used; ask for a new one.")


def invalid_credentials() -> AppError:
    return _error(INVALID_CREDENTIALS, "The phone number or the password is not right.")


def password_locked(retry_after_seconds: float) -> AppError:
    seconds = max(1, math.ceil(retry_after_seconds))
    return _error(
        PASSWORD_LOCKED,
        f"Too many wrong passwords: sign in with a text-message code, or try again in {seconds} seconds.",
        headers={"Retry-After": str(seconds)},
        extra={"retry_after": seconds},
    )


def unauthenticated() -> AppError:
    return AppError(UNAUTHENTICATED[1], 401, "Sign in first.", headers={"WWW-Authenticate": "Bearer"})


def invalid_token() -> AppError:
    return AppError(
        INVALID_TOKEN[1],
        401,
        "The session token is not valid: it is unknown, expired or signed out. Sign in again.",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def forbidden(detail: str = "You may not do this.") -> AppError:
    return _error(FORBIDDEN, detail)


def invalid_id_number(reason: str) -> AppError:
    return _error(INVALID_ID_NUMBER, f"This is not a valid resident identity number: {reason}.")


def id_number_in_use() -> AppError:
    return _error(ID_NUMBER_IN_USE, "This identity number is already verified on another account.")


def already_verified() -> AppError:
    return _error(ALREADY_VERIFIED, "Your real name is already verified.")


def real_name_required() -> AppError:
    return _error(REAL_NAME_REQUIRED, "Verify your real name (resident identity number) first.")


def too_young(min_age: int) -> AppError:
    return _error(TOO_YOUNG, f"You must be at least {min_age} years old.", extra={"min_age": min_age})


def weak_password(detail: str) -> AppError:
    return _error(WEAK_PASSWORD, detail)


def reauthentication_required() -> AppError:
    return _error(
        REAUTHENTICATION_REQUIRED,
        "Give your current password, or sign in again with a text-message code to set a new one.",
    )


def invalid_current_password() -> AppError:
    return _error(INVALID_CURRENT_PASSWORD, "The current password is not right.")


def unknown_city() -> AppError:
    return _error(UNKNOWN_CITY, "There is no such city.")


def unsupported_locale(supported: tuple[str, ...]) -> AppError:
    return _error(UNSUPPORTED_LOCALE, "Choose one of these languages: " + ", ".join(supported) + ".")


def person_not_found() -> AppError:
    return _error(PERSON_NOT_FOUND, "There is no such person.")


def session_not_found() -> AppError:
    return _error(SESSION_NOT_FOUND, "There is no such session.")


def invalid_role_scope(detail: str) -> AppError:
    return _error(INVALID_ROLE_SCOPE, detail)


def unknown_store() -> AppError:
    return _error(UNKNOWN_STORE, "There is no such store (in that city).")


def role_grant_not_found() -> AppError:
    return _error(ROLE_GRANT_NOT_FOUND, "This person does not have that role there.")


def favourite_kind_unavailable(kind: str) -> AppError:
    return _error(
        FAVOURITE_KIND_UNAVAILABLE,
        f"Saving a {kind} as a favourite is not available yet.",
        extra={"kind": kind},
    )


def favourite_target_not_found(kind: str) -> AppError:
    return _error(FAVOURITE_TARGET_NOT_FOUND, f"There is no such {kind}.", extra={"kind": kind})
