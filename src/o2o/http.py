"""The HTTP request boundary: one session per request, one commit, idempotency keys.

Every router is made with ``api_router()`` so that its routes use ``TransactionalRoute``. The route opens a
session, runs the endpoint, and commits once the response body is rendered but before a byte is sent: a
client never sees a success that was not committed. Any exception rolls everything back and renders as
problem+json. Endpoints take the session with ``DbSession``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from o2o import idempotency
from o2o.errors import AppError

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}

# At most this many requests run their endpoint at once; the others wait on the event loop, holding no thread
# and no connection. It stays below both the connection pool (10 + 20 overflow, see ``db.make_engine``) and the
# thread pool that runs sync endpoints and their response validation (40 threads): a request that holds a row
# lock must always find a thread to finish its response and a connection is never waited for inside a thread.
ADMITTED_REQUESTS = 28
_admission = anyio.CapacityLimiter(ADMITTED_REQUESTS)

# The transaction's own thread hops (claim an idempotency key, commit, close) run on a limiter of their own, not
# on the thread pool that runs the endpoints. Otherwise, under a burst, every pool thread can be taken by new
# requests waiting on a row lock that an earlier request holds, while that earlier request waits for a pool
# thread to COMMIT and let go of the lock: nobody moves until the connection pool times out. (The race test of
# 200 buyers for one item found this.) These hops never wait on another request, so they always finish.
_TRANSACTION_HOPS = anyio.CapacityLimiter(64)
T = TypeVar("T")


async def run_in_transaction_thread(fn: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=_TRANSACTION_HOPS)
# Headers worth replaying with a stored answer (cookies included: a replayed sign-in signs in).
REPLAY_HEADERS = {"location", "set-cookie", "content-type"}


def get_session(request: Request) -> Session:
    session = getattr(request.state, "db_session", None)
    if session is None:
        raise RuntimeError("no session: is this route made with o2o.http.api_router()?")
    return session


DbSession = Annotated[Session, Depends(get_session)]


def caller_identity(request: Request) -> str:
    """Who is calling, for scoping idempotency keys: the credential itself, hashed later with the path."""
    auth = request.headers.get("authorization")
    if auth:
        return "auth:" + auth
    cookie = request.cookies.get("o2o_session")
    if cookie:
        return "cookie:" + cookie
    return "anonymous"


class TransactionalRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint_handler = super().get_route_handler()

        async def handler(request: Request) -> Response:
            db = request.app.state.db
            settings = request.app.state.settings
            key_header = request.headers.get(idempotency.HEADER) if request.method in MUTATING else None
            session: Session = db.sessionmaker()
            request.state.db_session = session
            try:
                record = keys = None
                if key_header is not None:
                    key = idempotency.validate_key(key_header)
                    body = await request.body()
                    path = request.url.path
                    keys = idempotency.derive(settings.secret_key, caller_identity(request), request.method, path, key)
                    request_mac = keys.request_mac(request.method, path, request.url.query, body)
                    replay, record = await run_in_transaction_thread(
                        _claim_or_replay, session, keys, request_mac, settings.idempotency_ttl_hours
                    )
                    if replay is not None:
                        await run_in_transaction_thread(session.close)
                        return replay
                async with _admission:
                    response = await endpoint_handler(request)
                if record is not None and keys is not None and 200 <= response.status_code < 300 and hasattr(
                    response, "body"
                ):
                    headers = [(k, v) for k, v in response.headers.items() if k.lower() in REPLAY_HEADERS]
                    answer = idempotency.StoredAnswer(response.status_code, headers, bytes(response.body))
                    idempotency.finish(record, keys, answer)
                elif record is not None:
                    # A failure returned (not raised) still commits what it recorded, e.g. a spent sign-in try;
                    # its key is not remembered, so a retry runs again, as after a raised failure.
                    session.delete(record)
                await run_in_transaction_thread(_commit_and_close, session)
                return response
            except BaseException:
                await run_in_transaction_thread(session.close)  # closing rolls back what is not committed
                raise

        return handler


def _commit_and_close(session: Session) -> None:
    # One thread hop for both: each hop to the thread pool costs tens of microseconds and a GIL hand-off.
    try:
        session.commit()
    finally:
        session.close()


def _claim_or_replay(
    session: Session, keys: idempotency.Keys, request_mac: str, ttl_hours: int
) -> tuple[Response | None, idempotency.IdempotencyRecord | None]:
    for _attempt in range(3):
        existing = idempotency.find(session, keys)
        if existing is not None and existing.status_code:
            idempotency.check_replay(existing, request_mac)
            answer = idempotency.open_answer(existing, keys)
            session.rollback()
            response = Response(content=answer.body, status_code=answer.status_code)
            response.raw_headers = [(b"content-length", str(len(answer.body)).encode())]
            for name, value in answer.headers:
                response.raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
            response.raw_headers.append((idempotency.REPLAYED_HEADER.lower().encode(), b"true"))
            return response, None
        try:
            return None, idempotency.claim(session, keys, request_mac, ttl_hours=ttl_hours)
        except idempotency.KeyTaken:
            session.rollback()  # the twin committed (or is committing): look again in a fresh transaction
    raise AppError(
        "idempotency_key_in_use", 409, "A request with this Idempotency-Key is still being processed; retry later."
    )


def api_router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes run inside the request transaction."""
    return APIRouter(route_class=TransactionalRoute, **kwargs)
