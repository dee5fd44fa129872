"""The accounts API (``/api/accounts``) and the authentication dependencies every domain uses.

    from o2o.accounts.endpoints import CurrentPrincipal, OptionalPrincipal, require
    from o2o.accounts.permissions import Action, Resource

    @router.post("/stores/{store_id}/items")
    def add_item(store_id: UUID, principal: Annotated[Principal, Depends(require(Action.STORE_MANAGE, store))]):
        ...

Credentials: ``Authorization: Bearer <token>`` (API clients), or the pages' ``o2o_session`` cookie. A mutating
call authenticated by the cookie must carry the page's CSRF token in ``X-CSRF-Token``; a bearer call need not
(a cross-site page cannot make a browser send a bearer header). A missing credential is 401
``unauthenticated``; a forged, expired or revoked one is 401 ``invalid_token``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from sqlalchemy.orm import Session

from o2o.accounts import errors as e
from o2o.accounts import favourites, jobs, repository, service, sms  # noqa: F401  (jobs, sms: registrations)
from o2o.accounts.models import Person
from o2o.accounts.permissions import Action, Principal, Resource, Role, authorize
from o2o.accounts.phones import mask_phone
from o2o.accounts.schemas import (
    CodeRequest,
    CodeSentOut,
    DeviceOut,
    FavouriteKind,
    FavouriteOut,
    PasswordSet,
    PersonOut,
    PersonSummary,
    ProfileUpdate,
    RealNameSubmit,
    RoleGrantCreate,
    RoleGrantOut,
    SessionCreate,
    SessionOut,
)
from o2o.errors import AppError, problem_response, problem_responses
from o2o.http import MUTATING, DbSession, api_router
from o2o.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from o2o.web import csrf

SESSION_COOKIE = "o2o_session"

router = api_router(prefix="/api/accounts", tags=["accounts"])

# --------------------------------------------------------------------------------------------------------------
# Authentication dependencies

_UNSET = object()


def credential(request: Request) -> tuple[str, str] | None:
    """("bearer" | "cookie", token) from the request, or None. A malformed Authorization header is refused."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise e.invalid_token()
        return "bearer", token
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return "cookie", cookie
    return None


def optional_auth(request: Request, session: DbSession) -> service.Authenticated | None:
    """The caller, if a credential was sent (401 ``invalid_token`` when it is not valid)."""
    cached = getattr(request.state, "o2o_auth", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[return-value]
    found = credential(request)
    auth = None
    if found is not None:
        via, token = found
        auth = service.authenticate(session, token)
        if via == "cookie" and request.method in MUTATING:
            csrf.verify(request, request.headers.get(csrf.HEADER))
    request.state.o2o_auth = auth
    return auth


# The dependencies below do no I/O: ``async def`` keeps them on the event loop instead of a thread-pool hop
# each (every hop is a GIL hand-off that adds latency under load).


async def current_auth(
    auth: Annotated[service.Authenticated | None, Depends(optional_auth)],
) -> service.Authenticated:
    if auth is None:
        raise e.unauthenticated()
    return auth


async def current_principal(auth: Annotated[service.Authenticated, Depends(current_auth)]) -> Principal:
    return auth.principal


async def optional_principal(
    auth: Annotated[service.Authenticated | None, Depends(optional_auth)],
) -> Principal | None:
    return None if auth is None else auth.principal


CurrentAuth = Annotated[service.Authenticated, Depends(current_auth)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def require(action: Action, resource: Callable[..., Resource] | None = None) -> Callable[..., Principal]:
    """A dependency: the signed-in principal, if ``permissions`` lets them do ``action``.

    ``resource`` is itself a dependency (it may take path parameters and ``DbSession``) returning the
    ``Resource`` acted on; without it the resource is the caller's own data.
    """
    if resource is None:

        async def dependency(principal: CurrentPrincipal) -> Principal:
            authorize(principal, action, Resource(owner_id=principal.person_id))
            return principal

    else:
        # A default rather than Annotated[...]: with postponed annotations FastAPI could not resolve the
        # closure's ``resource`` from the annotation's string.
        target_dependency = Depends(resource)

        async def dependency(principal: CurrentPrincipal, target: Resource = target_dependency) -> Principal:
            authorize(principal, action, target)
            return principal

    dependency.__name__ = f"require_{action.name.lower()}"
    return dependency


# --------------------------------------------------------------------------------------------------------------
# Shapes


def person_out(session: Session, person: Person) -> PersonOut:
    roles = repository.grants_for(session, person.id)
    return PersonOut(
        id=person.id,
        phone_e164=person.phone_e164,
        phone_masked=mask_phone(person.phone_e164),
        display_name=person.display_name,
        locale=person.locale,
        home_city_id=person.home_city_id,
        has_password=person.password_hash is not None,
        verified=person.verified_at is not None,
        real_name=person.real_name,
        id_number_masked=person.id_number_masked,
        # The age needs the home city's time zone (one more query): only for verified people.
        age=service.age_of(person, service.person_timezone(session, person)) if person.verified_at else None,
        roles=[RoleGrantOut.model_validate(r) for r in roles],
        created_at=person.created_at,
    )


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"


AUTH_ERRORS = (e.UNAUTHENTICATED, e.INVALID_TOKEN, e.CSRF_FAILED)

# --------------------------------------------------------------------------------------------------------------
# Codes and sessions


@router.post(
    "/otp",
    status_code=202,
    response_model=CodeSentOut,
    summary="Send a sign-in code by text message",
    description=(
        "Sends a 6-digit code to the phone (out of production: shown at `/dev/outbox`). The code works for 5 "
        "minutes, for 5 tries, once; only the newest code of a phone works. At most 5 codes per phone per hour."
    ),
    responses=problem_responses(e.INVALID_PHONE, e.INVALID_REQUEST, e.OTP_RATE_LIMITED),
)
def send_code(body: CodeRequest, session: DbSession, request: Request) -> CodeSentOut:
    sent = service.request_code(session, request.app.state.settings, body.phone)
    return CodeSentOut(phone_e164=sent.phone_e164, expires_at=sent.expires_at)


@router.post(
    "/sessions",
    status_code=201,
    response_model=SessionOut,
    summary="Sign in (or sign up) and get a bearer token",
    description=(
        "With `{phone, code}`: the code from the text message; an unknown phone gets a new account "
        "(`created: true`) with the customer role. With `{phone, password}`: a password set on the profile. "
        "A wrong code still spends one of the code's 5 tries."
    ),
    responses=problem_responses(
        e.INVALID_PHONE,
        e.OTP_INVALID,
        e.OTP_EXPIRED,
        e.INVALID_CREDENTIALS,
        e.OTP_ALREADY_USED,
        e.INVALID_REQUEST,
        e.IDEMPOTENCY_KEY_REUSED,
        e.OTP_ATTEMPTS_EXCEEDED,
        e.PASSWORD_LOCKED,
    ),
)
def create_session(body: SessionCreate, session: DbSession, request: Request, response: Response) -> Any:
    settings = request.app.state.settings
    agent = request.headers.get("user-agent")
    if body.code is not None:
        result = service.sign_in_with_code(
            session,
            settings,
            body.phone,
            body.code,
            channel="api",
            user_agent=agent,
            display_name=body.display_name,
            locale=None,
        )
    else:
        assert body.password is not None
        result = service.sign_in_with_password(
            session, settings, body.phone, body.password, channel="api", user_agent=agent
        )
    if isinstance(result, AppError):
        # Returned, not raised: the boundary commits the spent try with this answer.
        return problem_response(result)
    _no_store(response)
    return SessionOut(
        token=result.token,
        expires_at=result.session.expires_at,
        created=result.created,
        person=person_out(session, result.person),
    )


@router.delete(
    "/sessions/current",
    status_code=204,
    summary="Sign out (revoke the token used for this call)",
    responses=problem_responses(*AUTH_ERRORS),
)
def delete_current_session(session: DbSession, auth: CurrentAuth) -> Response:
    service.sign_out(session, auth)
    return Response(status_code=204)


@router.get(
    "/me/sessions",
    response_model=list[DeviceOut],
    summary="List my signed-in devices and API tokens",
    responses=problem_responses(*AUTH_ERRORS),
)
def list_my_sessions(session: DbSession, auth: CurrentAuth) -> list[DeviceOut]:
    rows = service.list_sessions(session, auth.principal)
    return [
        DeviceOut(
            id=r.id,
            method=r.method,
            channel=r.channel,
            user_agent=r.user_agent,
            created_at=r.created_at,
            expires_at=r.expires_at,
            current=r.id == auth.session_id,
        )
        for r in rows
    ]


@router.delete(
    "/me/sessions/{session_id}",
    status_code=204,
    summary="Sign out one of my devices",
    responses=problem_responses(*AUTH_ERRORS, e.SESSION_NOT_FOUND),
)
def revoke_my_session(session_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Response:
    service.revoke_session(session, principal, session_id)
    return Response(status_code=204)


# --------------------------------------------------------------------------------------------------------------
# Profile


@router.get(
    "/me",
    response_model=PersonOut,
    summary="My profile",
    responses=problem_responses(*AUTH_ERRORS),
)
def get_me(
    session: DbSession, principal: Annotated[Principal, Depends(require(Action.PROFILE_READ))]
) -> PersonOut:
    return person_out(session, service.get_person(session, principal.person_id))


@router.patch(
    "/me",
    response_model=PersonOut,
    summary="Change my display name, language or home city",
    responses=problem_responses(
        *AUTH_ERRORS, e.UNKNOWN_CITY, e.UNSUPPORTED_LOCALE, (400, "invalid_display_name"), e.INVALID_REQUEST
    ),
)
def patch_me(body: ProfileUpdate, session: DbSession, principal: CurrentPrincipal) -> PersonOut:
    given = body.model_fields_set
    person = service.update_profile(
        session,
        principal,
        display_name=body.display_name if "display_name" in given else service.UNSET,
        locale=body.locale if "locale" in given else service.UNSET,
        home_city_id=body.home_city_id if "home_city_id" in given else service.UNSET,
    )
    return person_out(session, person)


@router.put(
    "/me/password",
    status_code=204,
    summary="Set or change my password",
    description=(
        "Changing an existing password needs `current_password`, unless this session signed in with a text-message "
        "code in the last 10 minutes (that is how a forgotten password is replaced)."
    ),
    responses=problem_responses(
        *AUTH_ERRORS,
        e.WEAK_PASSWORD,
        e.REAUTHENTICATION_REQUIRED,
        e.INVALID_CURRENT_PASSWORD,
        e.INVALID_REQUEST,
    ),
)
def put_password(body: PasswordSet, session: DbSession, auth: CurrentAuth) -> Response:
    service.set_password(session, auth, body.password, current_password=body.current_password)
    return Response(status_code=204)


@router.post(
    "/me/real-name",
    response_model=PersonOut,
    summary="Verify my real name with a resident identity number",
    description=(
        "Checks the 18-character number (area code, birth date, GB 11643 check character). The number is never "
        "stored: only a keyed hash (one number, one account) and a masked form."
    ),
    responses=problem_responses(
        *AUTH_ERRORS,
        e.INVALID_ID_NUMBER,
        (400, "invalid_real_name"),
        e.ID_NUMBER_IN_USE,
        e.ALREADY_VERIFIED,
        e.INVALID_REQUEST,
    ),
)
def post_real_name(
    body: RealNameSubmit, session: DbSession, principal: CurrentPrincipal, request: Request
) -> PersonOut:
    person = service.submit_real_name(
        session, request.app.state.settings, principal, body.real_name, body.id_number
    )
    return person_out(session, person)


# --------------------------------------------------------------------------------------------------------------
# Favourites


@router.get(
    "/me/favourites",
    response_model=Page[FavouriteOut],
    summary="My saved stores, deals and homes (newest first)",
    responses=problem_responses(*AUTH_ERRORS, e.INVALID_CURSOR, e.INVALID_REQUEST),
)
def list_my_favourites(
    session: DbSession,
    principal: Annotated[Principal, Depends(require(Action.FAVOURITES_READ))],
    kind: Annotated[FavouriteKind | None, Query(description="Only this kind")] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[FavouriteOut]:
    rows, next_cursor = favourites.list_favourites(
        session, principal.person_id, kind=kind, cursor=cursor, limit=limit
    )
    return Page[FavouriteOut](items=[FavouriteOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.put(
    "/me/favourites/{kind}/{target_id}",
    response_model=FavouriteOut,
    status_code=201,
    summary="Save a store, deal or home (idempotent: 201 when new, 200 when already saved)",
    responses={
        200: {"description": "Already saved; nothing changed.", "model": FavouriteOut},
        **problem_responses(
            *AUTH_ERRORS, e.FAVOURITE_KIND_UNAVAILABLE, e.FAVOURITE_TARGET_NOT_FOUND, e.INVALID_REQUEST
        ),
    },
)
def put_favourite(
    kind: FavouriteKind,
    target_id: uuid.UUID,
    session: DbSession,
    response: Response,
    principal: Annotated[Principal, Depends(require(Action.FAVOURITES_WRITE))],
) -> FavouriteOut:
    saved = favourites.add_favourite(session, principal.person_id, kind, target_id)
    if not saved.created:
        response.status_code = 200
    return FavouriteOut.model_validate(saved.favourite)


@router.delete(
    "/me/favourites/{kind}/{target_id}",
    status_code=204,
    summary="Forget a saved store, deal or home (idempotent)",
    responses=problem_responses(*AUTH_ERRORS, e.INVALID_REQUEST),
)
def delete_favourite(
    kind: FavouriteKind,
    target_id: uuid.UUID,
    session: DbSession,
    principal: Annotated[Principal, Depends(require(Action.FAVOURITES_WRITE))],
) -> Response:
    favourites.remove_favourite(session, principal.person_id, kind, target_id)
    return Response(status_code=204)


# --------------------------------------------------------------------------------------------------------------
# People and roles (operators)


@router.get(
    "/people",
    response_model=PersonSummary,
    summary="Find a person by phone (platform operators)",
    responses=problem_responses(
        *AUTH_ERRORS, e.FORBIDDEN, e.INVALID_PHONE, e.PERSON_NOT_FOUND, e.INVALID_REQUEST
    ),
)
def find_person(
    session: DbSession,
    principal: CurrentPrincipal,
    request: Request,
    phone: Annotated[str, Query(min_length=1, max_length=32, examples=["+8613800138000"])],
) -> PersonSummary:
    person = service.find_person_by_phone(session, request.app.state.settings, principal, phone)
    return PersonSummary(
        id=person.id, phone_masked=mask_phone(person.phone_e164), display_name=person.display_name
    )


@router.get(
    "/people/{person_id}/roles",
    response_model=list[RoleGrantOut],
    summary="A person's roles (your own; an operator sees their city's)",
    responses=problem_responses(*AUTH_ERRORS, e.FORBIDDEN, e.PERSON_NOT_FOUND),
)
def list_roles(person_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> list[RoleGrantOut]:
    return [RoleGrantOut.model_validate(g) for g in service.visible_roles(session, principal, person_id)]


@router.post(
    "/people/{person_id}/roles",
    response_model=RoleGrantOut,
    status_code=201,
    summary="Grant a role (platform operators in their city; store owners hire staff)",
    responses={
        200: {
            "description": "The person already had this role there; nothing changed.",
            "model": RoleGrantOut,
        },
        **problem_responses(
            *AUTH_ERRORS,
            e.FORBIDDEN,
            e.INVALID_ROLE_SCOPE,
            e.UNKNOWN_CITY,
            e.UNKNOWN_STORE,
            e.PERSON_NOT_FOUND,
            e.INVALID_REQUEST,
        ),
    },
)
def grant_role(
    person_id: uuid.UUID,
    body: RoleGrantCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    response: Response,
) -> RoleGrantOut:
    grant, created = service.grant_role(
        session, principal, person_id, body.role, city_id=body.city_id, store_id=body.store_id
    )
    if not created:
        response.status_code = 200
    return RoleGrantOut.model_validate(grant)


@router.delete(
    "/people/{person_id}/roles",
    status_code=204,
    summary="Revoke a role",
    responses=problem_responses(*AUTH_ERRORS, e.FORBIDDEN, e.ROLE_GRANT_NOT_FOUND, e.INVALID_REQUEST),
)
def revoke_role(
    person_id: uuid.UUID,
    session: DbSession,
    principal: CurrentPrincipal,
    role: Annotated[Role, Query()],
    city_id: Annotated[uuid.UUID | None, Query()] = None,
    store_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Response:
    service.revoke_role(session, principal, person_id, role, city_id=city_id, store_id=store_id)
    return Response(status_code=204)
