"""The permissions matrix: who may do what, where. Pure (no database, no web framework)."""

from __future__ import annotations

import ast
import inspect
import uuid

import pytest

from o2o.accounts import permissions
from o2o.accounts.permissions import (
    RULES,
    Action,
    Grant,
    PermissionDenied,
    Principal,
    Resource,
    Role,
    authorize,
    can,
    scope_error,
)

CITY_A, CITY_B = uuid.uuid4(), uuid.uuid4()
STORE_A1, STORE_A2, STORE_B1 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def person(*grants: Grant) -> Principal:
    return Principal(uuid.uuid4(), tuple(grants))


CUSTOMER = Grant(Role.CUSTOMER)
alice = person(CUSTOMER)
bob = person(CUSTOMER)
nobody = person()  # signed in, every grant revoked
owner = person(CUSTOMER, Grant(Role.MERCHANT_OWNER, CITY_A, STORE_A1))
staff = person(CUSTOMER, Grant(Role.MERCHANT_STAFF, CITY_A, STORE_A1))
courier = person(CUSTOMER, Grant(Role.COURIER, CITY_A))
fleet = person(Grant(Role.FLEET_OPERATOR, CITY_A))
agent = person(Grant(Role.HOME_AGENT, CITY_A))
operator_a = person(Grant(Role.PLATFORM_OPERATOR, CITY_A))
operator_all = person(Grant(Role.PLATFORM_OPERATOR))

STORE_IN_A1 = Resource(city_id=CITY_A, store_id=STORE_A1)
STORE_IN_A2 = Resource(city_id=CITY_A, store_id=STORE_A2)
STORE_IN_B1 = Resource(city_id=CITY_B, store_id=STORE_B1)
IN_A = Resource(city_id=CITY_A)
IN_B = Resource(city_id=CITY_B)

OWN_DATA = [
    Action.PROFILE_READ,
    Action.PROFILE_UPDATE,
    Action.PASSWORD_SET,
    Action.REAL_NAME_SUBMIT,
    Action.SESSIONS_MANAGE,
    Action.FAVOURITES_READ,
    Action.FAVOURITES_WRITE,
]


@pytest.mark.parametrize("action", OWN_DATA)
def test_own_data_is_only_ever_ones_own(action):
    assert can(alice, action, Resource(owner_id=alice.person_id))
    assert not can(alice, action, Resource(owner_id=bob.person_id))
    # No role reaches another person's own data: not even a platform-wide operator's.
    for someone in (owner, staff, courier, fleet, agent, operator_a, operator_all):
        assert not can(someone, action, Resource(owner_id=alice.person_id))
    assert not can(alice, action, Resource())  # no owner named: refused, not assumed


@pytest.mark.parametrize(
    "who, action, resource, allowed",
    [
        # Store management: the owner of that store, or an operator of its city.
        (owner, Action.STORE_MANAGE, STORE_IN_A1, True),
        (owner, Action.STORE_MANAGE, STORE_IN_A2, False),
        (staff, Action.STORE_MANAGE, STORE_IN_A1, False),
        (operator_a, Action.STORE_MANAGE, STORE_IN_A1, True),
        (operator_a, Action.STORE_MANAGE, STORE_IN_B1, False),
        (operator_all, Action.STORE_MANAGE, STORE_IN_B1, True),
        (alice, Action.STORE_MANAGE, STORE_IN_A1, False),
        (courier, Action.STORE_MANAGE, STORE_IN_A1, False),
        # Working in a store: its owner and its staff only.
        (owner, Action.STORE_OPERATE, STORE_IN_A1, True),
        (staff, Action.STORE_OPERATE, STORE_IN_A1, True),
        (staff, Action.STORE_OPERATE, STORE_IN_A2, False),
        (staff, Action.STORE_OPERATE, Resource(store_id=STORE_A2, city_id=CITY_A), False),
        (staff, Action.STORE_OPERATE, Resource(city_id=CITY_A), False),  # no store named
        (operator_a, Action.STORE_OPERATE, STORE_IN_A1, False),
        (alice, Action.STORE_OPERATE, STORE_IN_A1, False),
        # City roles act in their city only.
        (courier, Action.DELIVERY_WORK, IN_A, True),
        (courier, Action.DELIVERY_WORK, IN_B, False),
        (courier, Action.DELIVERY_WORK, Resource(), False),
        (alice, Action.DELIVERY_WORK, IN_A, False),
        (fleet, Action.FLEET_OPERATE, IN_A, True),
        (fleet, Action.FLEET_OPERATE, IN_B, False),
        (operator_a, Action.FLEET_OPERATE, IN_A, True),
        (operator_a, Action.FLEET_OPERATE, IN_B, False),
        (courier, Action.FLEET_OPERATE, IN_A, False),
        (agent, Action.HOMES_LIST, IN_A, True),
        (agent, Action.HOMES_LIST, IN_B, False),
        (operator_a, Action.HOMES_LIST, IN_A, False),
        (operator_a, Action.CITY_OPERATE, IN_A, True),
        (operator_a, Action.CITY_OPERATE, IN_B, False),
        (operator_all, Action.CITY_OPERATE, IN_B, True),
        (fleet, Action.CITY_OPERATE, IN_A, False),
        # A city-scoped grant never matches a store-scoped one of the same city for city actions.
        (owner, Action.CITY_OPERATE, IN_A, False),
        # Buying: any customer, anywhere.
        (alice, Action.PURCHASE, IN_B, True),
        (nobody, Action.PURCHASE, IN_A, False),
        (fleet, Action.PURCHASE, IN_A, False),
        # Finding people by phone: operators only.
        (operator_a, Action.PEOPLE_LOOKUP, Resource(), True),
        (owner, Action.PEOPLE_LOOKUP, Resource(), False),
        (alice, Action.PEOPLE_LOOKUP, Resource(), False),
    ],
)
def test_matrix(who, action, resource, allowed):
    assert can(who, action, resource) is allowed


def grant(role: Role, city=None, store=None, owner_id=None) -> Resource:
    return Resource(owner_id=owner_id or alice.person_id, city_id=city, store_id=store, role=role)


@pytest.mark.parametrize("action", [Action.ROLE_GRANT, Action.ROLE_REVOKE])
@pytest.mark.parametrize(
    "who, resource, allowed",
    [
        (operator_a, grant(Role.COURIER, CITY_A), True),
        (operator_a, grant(Role.COURIER, CITY_B), False),
        (operator_a, grant(Role.MERCHANT_OWNER, CITY_A, STORE_A1), True),
        (operator_a, grant(Role.MERCHANT_OWNER, CITY_B, STORE_B1), False),
        (operator_a, grant(Role.PLATFORM_OPERATOR, CITY_A), True),  # a city's operators appoint colleagues
        (operator_a, grant(Role.PLATFORM_OPERATOR), False),  # but nobody platform-wide
        (operator_a, grant(Role.CUSTOMER), False),  # the customer role is platform-wide
        (operator_all, grant(Role.PLATFORM_OPERATOR), True),
        (operator_all, grant(Role.CUSTOMER), True),
        (operator_all, grant(Role.HOME_AGENT, CITY_B), True),
        (owner, grant(Role.MERCHANT_STAFF, CITY_A, STORE_A1), True),  # an owner hires staff
        (owner, grant(Role.MERCHANT_STAFF, CITY_A, STORE_A2), False),  # for their own store only
        (owner, grant(Role.MERCHANT_OWNER, CITY_A, STORE_A1), False),  # and no co-owners
        (owner, grant(Role.COURIER, CITY_A), False),
        (staff, grant(Role.MERCHANT_STAFF, CITY_A, STORE_A1), False),
        (alice, grant(Role.COURIER, CITY_A, owner_id=alice.person_id), False),  # not even for oneself
        (courier, grant(Role.COURIER, CITY_A), False),
        (operator_a, Resource(owner_id=alice.person_id, city_id=CITY_A), False),  # no role named
    ],
)
def test_granting_roles(action, who, resource, allowed):
    assert can(who, action, resource) is allowed


def test_reading_someones_roles():
    own = Resource(owner_id=alice.person_id)
    assert can(alice, Action.ROLES_LIST, own)
    assert not can(bob, Action.ROLES_LIST, own)
    assert not can(owner, Action.ROLES_LIST, own)
    assert can(operator_a, Action.ROLES_LIST, own)
    # Each grant is visible to an operator of its city only (a platform-wide operator sees all).
    in_a = Resource(owner_id=alice.person_id, city_id=CITY_A)
    in_b = Resource(owner_id=alice.person_id, city_id=CITY_B)
    everywhere = Resource(owner_id=alice.person_id)
    assert can(operator_a, Action.ROLE_VIEW, in_a)
    assert not can(operator_a, Action.ROLE_VIEW, in_b)
    assert not can(operator_a, Action.ROLE_VIEW, everywhere)
    assert all(can(operator_all, Action.ROLE_VIEW, r) for r in (in_a, in_b, everywhere))
    assert all(can(alice, Action.ROLE_VIEW, r) for r in (in_a, in_b, everywhere))


def test_not_signed_in_may_do_nothing():
    for action in Action:
        assert not can(None, action, Resource(owner_id=alice.person_id, city_id=CITY_A, store_id=STORE_A1))


def test_authorize_raises_forbidden():
    authorize(owner, Action.STORE_MANAGE, STORE_IN_A1)
    with pytest.raises(PermissionDenied) as err:
        authorize(owner, Action.STORE_MANAGE, STORE_IN_B1)
    problem = err.value.to_problem()
    assert (problem["status"], problem["code"], problem["action"]) == (403, "forbidden", "store.manage")
    with pytest.raises(PermissionDenied):
        authorize(None, Action.PROFILE_READ, Resource(owner_id=alice.person_id))


def test_every_action_has_rules():
    assert set(RULES) == set(Action)
    assert all(RULES[a] for a in Action)


@pytest.mark.parametrize(
    "role, city, store, ok",
    [
        (Role.CUSTOMER, None, None, True),
        (Role.CUSTOMER, CITY_A, None, False),
        (Role.COURIER, CITY_A, None, True),
        (Role.COURIER, None, None, False),
        (Role.COURIER, CITY_A, STORE_A1, False),
        (Role.MERCHANT_STAFF, CITY_A, STORE_A1, True),
        (Role.MERCHANT_STAFF, None, STORE_A1, False),  # a store grant carries its city
        (Role.MERCHANT_OWNER, CITY_A, None, False),
        (Role.PLATFORM_OPERATOR, None, None, True),
        (Role.PLATFORM_OPERATOR, CITY_A, None, True),
        (Role.PLATFORM_OPERATOR, CITY_A, STORE_A1, False),
        (Role.HOME_AGENT, CITY_B, None, True),
        (Role.FLEET_OPERATOR, None, None, False),
    ],
)
def test_role_scopes(role, city, store, ok):
    assert (scope_error(role, city, store) is None) is ok


def test_grants_from_rows_skip_roles_no_longer_known():
    rows = [("courier", CITY_A, None), ("astronaut", None, None)]
    assert permissions.grants_of(rows) == (Grant(Role.COURIER, CITY_A),)


def test_the_module_is_pure():
    tree = ast.parse(inspect.getsource(permissions))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert imported <= {"__future__", "enum", "uuid", "collections.abc", "dataclasses", "o2o.errors"}
