"""Who may do what: the one place that decides (pure: no database, no web framework).

A ``Principal`` is a signed-in person with their role grants. A grant is a role in a scope: everywhere
(``city_id`` and ``store_id`` both None), in one city, or in one store (store grants carry the store's city
too). An action is asked about a ``Resource``: whose data it is (``owner_id``), which city and store it
belongs to, and for role changes which role is being granted.

The rules, in words:

- A person sees and changes their own data (profile, password, real name, sessions, favourites), and nobody
  else's: there is no role that reads another person's profile.
- Store owners manage their stores (``store.manage``) and, with their staff, work in them (``store.operate``);
  a store grant never reaches another store.
- City-scoped roles (courier, fleet operator, home agent, platform operator) act only in their city; a grant
  without a city is platform-wide.
- A platform operator grants and revokes roles in their city (including other operators of that city); a
  platform-wide operator does so anywhere, and alone grants platform-wide roles. A store owner hires and lets
  go of staff for their own store.

Every endpoint asks ``authorize(principal, action, resource)`` (or the ``require(action)`` dependency).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from o2o.errors import AppError


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    MERCHANT_OWNER = "merchant_owner"
    MERCHANT_STAFF = "merchant_staff"
    COURIER = "courier"
    FLEET_OPERATOR = "fleet_operator"
    HOME_AGENT = "home_agent"
    PLATFORM_OPERATOR = "platform_operator"


class ScopeKind(enum.StrEnum):
    GLOBAL = "global"  # no city, no store
    CITY = "city"
    STORE = "store"


# Which scopes a grant of each role may have (checked when a role is granted).
ROLE_SCOPES: dict[Role, frozenset[ScopeKind]] = {
    Role.CUSTOMER: frozenset({ScopeKind.GLOBAL}),
    Role.MERCHANT_OWNER: frozenset({ScopeKind.STORE}),
    Role.MERCHANT_STAFF: frozenset({ScopeKind.STORE}),
    Role.COURIER: frozenset({ScopeKind.CITY}),
    Role.FLEET_OPERATOR: frozenset({ScopeKind.CITY}),
    Role.HOME_AGENT: frozenset({ScopeKind.CITY}),
    Role.PLATFORM_OPERATOR: frozenset({ScopeKind.GLOBAL, ScopeKind.CITY}),
}


class Action(enum.StrEnum):
    # One's own data
    PROFILE_READ = "profile.read"
    PROFILE_UPDATE = "profile.update"
    PASSWORD_SET = "password.set"
    REAL_NAME_SUBMIT = "real_name.submit"
    SESSIONS_MANAGE = "sessions.manage"
    FAVOURITES_READ = "favourites.read"
    FAVOURITES_WRITE = "favourites.write"
    # Roles
    ROLES_LIST = "roles.list"  # open someone's list of roles (self, or any platform operator)
    ROLE_VIEW = "role.view"  # see one grant in that list (self, or an operator of the grant's city)
    ROLE_GRANT = "role.grant"
    ROLE_REVOKE = "role.revoke"
    PEOPLE_LOOKUP = "people.lookup"  # find a person by phone, to grant them a role
    # Commerce and operations, for the domains that follow
    PURCHASE = "purchase"  # order, buy deals, ride bikes: any customer
    STORE_MANAGE = "store.manage"  # edit the store, its catalogue and prices
    STORE_OPERATE = "store.operate"  # accept orders, redeem vouchers, mark items out of stock
    DELIVERY_WORK = "delivery.work"  # start a shift, accept and deliver orders
    FLEET_OPERATE = "fleet.operate"  # maintain and rebalance bikes, manage parking zones
    HOMES_LIST = "homes.list"  # publish and manage home listings
    CITY_OPERATE = "city.operate"  # districts, settlement, support for a city
    WALLET_USE = "wallet.use"  # see one's balance and history, top up, pay
    PAYMENT_REFUND = "payment.refund"  # refund a sale (its store's owner, the city's operators) or one's top-up
    STORE_FINANCE = "store.finance"  # a store's statements
    PLATFORM_FINANCE = "platform.finance"  # channel reconciliation: the platform's own money


class Match(enum.StrEnum):
    SELF = "self"  # resource.owner_id is the principal
    ANYWHERE = "anywhere"  # a grant of the role in any scope
    GLOBAL = "global"  # a platform-wide grant of the role
    CITY = "city"  # a platform-wide grant, or a city grant (no store) for resource.city_id
    STORE = "store"  # a grant of the role for resource.store_id


@dataclass(frozen=True, slots=True)
class Rule:
    match: Match
    role: Role | None = None  # None only with SELF
    grantable: frozenset[Role] | None = None  # for role.grant/role.revoke: which roles this rule may hand out


@dataclass(frozen=True, slots=True)
class Grant:
    role: Role
    city_id: uuid.UUID | None = None
    store_id: uuid.UUID | None = None

    @property
    def scope(self) -> ScopeKind:
        if self.store_id is not None:
            return ScopeKind.STORE
        return ScopeKind.CITY if self.city_id is not None else ScopeKind.GLOBAL


@dataclass(frozen=True, slots=True)
class Principal:
    person_id: uuid.UUID
    grants: tuple[Grant, ...] = ()

    def has_role(self, role: Role) -> bool:
        return any(g.role == role for g in self.grants)


@dataclass(frozen=True, slots=True)
class Resource:
    owner_id: uuid.UUID | None = None
    city_id: uuid.UUID | None = None
    store_id: uuid.UUID | None = None
    role: Role | None = None  # the role being granted or revoked


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: Rule | None = None
    reasons: tuple[str, ...] = field(default=())


_ALL_ROLES = frozenset(Role)
_SELF = (Rule(Match.SELF),)

RULES: dict[Action, tuple[Rule, ...]] = {
    Action.PROFILE_READ: _SELF,
    Action.PROFILE_UPDATE: _SELF,
    Action.PASSWORD_SET: _SELF,
    Action.REAL_NAME_SUBMIT: _SELF,
    Action.SESSIONS_MANAGE: _SELF,
    Action.FAVOURITES_READ: _SELF,
    Action.FAVOURITES_WRITE: _SELF,
    Action.ROLES_LIST: (Rule(Match.SELF), Rule(Match.ANYWHERE, Role.PLATFORM_OPERATOR)),
    Action.ROLE_VIEW: (Rule(Match.SELF), Rule(Match.CITY, Role.PLATFORM_OPERATOR)),
    Action.PEOPLE_LOOKUP: (Rule(Match.ANYWHERE, Role.PLATFORM_OPERATOR),),
    Action.ROLE_GRANT: (
        Rule(Match.GLOBAL, Role.PLATFORM_OPERATOR, grantable=_ALL_ROLES),
        Rule(Match.CITY, Role.PLATFORM_OPERATOR, grantable=_ALL_ROLES),
        Rule(Match.STORE, Role.MERCHANT_OWNER, grantable=frozenset({Role.MERCHANT_STAFF})),
    ),
    Action.ROLE_REVOKE: (
        Rule(Match.GLOBAL, Role.PLATFORM_OPERATOR, grantable=_ALL_ROLES),
        Rule(Match.CITY, Role.PLATFORM_OPERATOR, grantable=_ALL_ROLES),
        Rule(Match.STORE, Role.MERCHANT_OWNER, grantable=frozenset({Role.MERCHANT_STAFF})),
    ),
    Action.PURCHASE: (Rule(Match.ANYWHERE, Role.CUSTOMER),),
    Action.STORE_MANAGE: (
        Rule(Match.STORE, Role.MERCHANT_OWNER),
        Rule(Match.CITY, Role.PLATFORM_OPERATOR),
    ),
    Action.STORE_OPERATE: (
        Rule(Match.STORE, Role.MERCHANT_OWNER),
        Rule(Match.STORE, Role.MERCHANT_STAFF),
    ),
    Action.DELIVERY_WORK: (Rule(Match.CITY, Role.COURIER),),
    Action.FLEET_OPERATE: (Rule(Match.CITY, Role.FLEET_OPERATOR), Rule(Match.CITY, Role.PLATFORM_OPERATOR)),
    Action.HOMES_LIST: (Rule(Match.CITY, Role.HOME_AGENT),),
    Action.CITY_OPERATE: (Rule(Match.CITY, Role.PLATFORM_OPERATOR),),
    Action.WALLET_USE: _SELF,
    Action.PAYMENT_REFUND: (
        Rule(Match.SELF),  # the resource names an owner only for a top-up: one's own wallet money
        Rule(Match.STORE, Role.MERCHANT_OWNER),
        Rule(Match.CITY, Role.PLATFORM_OPERATOR),
    ),
    Action.STORE_FINANCE: (Rule(Match.STORE, Role.MERCHANT_OWNER), Rule(Match.CITY, Role.PLATFORM_OPERATOR)),
    Action.PLATFORM_FINANCE: (Rule(Match.GLOBAL, Role.PLATFORM_OPERATOR),),
}


def _grant_matches(rule: Rule, grant: Grant, resource: Resource) -> bool:
    if grant.role != rule.role:
        return False
    match rule.match:
        case Match.ANYWHERE:
            return True
        case Match.GLOBAL:
            return grant.scope is ScopeKind.GLOBAL
        case Match.CITY:
            if grant.scope is ScopeKind.GLOBAL:
                return True
            return (
                grant.scope is ScopeKind.CITY
                and resource.city_id is not None
                and grant.city_id == resource.city_id
            )
        case Match.STORE:
            return (
                grant.scope is ScopeKind.STORE
                and resource.store_id is not None
                and (grant.store_id == resource.store_id)
            )
    return False


def _rule_allows(rule: Rule, principal: Principal, resource: Resource) -> bool:
    if rule.grantable is not None and (resource.role is None or resource.role not in rule.grantable):
        return False
    if rule.match is Match.SELF:
        return resource.owner_id is not None and resource.owner_id == principal.person_id
    return any(_grant_matches(rule, g, resource) for g in principal.grants)


def decide(principal: Principal | None, action: Action, resource: Resource = Resource()) -> Decision:
    if principal is None:
        return Decision(False, reasons=("not signed in",))
    for rule in RULES[action]:
        if _rule_allows(rule, principal, resource):
            return Decision(True, rule)
    return Decision(False, reasons=(f"no rule of {action.value} matches",))


def can(principal: Principal | None, action: Action, resource: Resource = Resource()) -> bool:
    return decide(principal, action, resource).allowed


class PermissionDenied(AppError):
    def __init__(self, action: Action) -> None:
        super().__init__("forbidden", 403, "You may not do this.", extra={"action": action.value})
        self.action = action


def authorize(principal: Principal | None, action: Action, resource: Resource = Resource()) -> None:
    """Raise ``forbidden`` (403) unless the principal may do ``action`` on ``resource``.

    Callers check sign-in first (401 ``unauthenticated``); a None principal here is refused as well.
    """
    if not can(principal, action, resource):
        raise PermissionDenied(action)


def scope_error(role: Role, city_id: uuid.UUID | None, store_id: uuid.UUID | None) -> str | None:
    """Why a grant of ``role`` cannot have this scope, or None when it can."""
    if store_id is not None and city_id is None:
        return "A store role needs the store's city_id too."
    scope = Grant(role, city_id, store_id).scope
    allowed = ROLE_SCOPES[role]
    if scope in allowed:
        return None
    wanted = {
        ScopeKind.GLOBAL: "no city and no store",
        ScopeKind.CITY: "a city_id",
        ScopeKind.STORE: "a store_id",
    }
    return f"The role {role.value} needs " + " or ".join(wanted[s] for s in sorted(allowed)) + "."


def grants_of(rows: Iterable[tuple[str, uuid.UUID | None, uuid.UUID | None]]) -> tuple[Grant, ...]:
    """Grants from (role, city_id, store_id) rows; roles this code no longer knows are ignored."""
    out = []
    for role, city_id, store_id in rows:
        try:
            out.append(Grant(Role(role), city_id, store_id))
        except ValueError:
            continue
    return tuple(out)
