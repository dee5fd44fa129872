"""Password hashing: scrypt with salt, constant-time comparison, the same work without an account."""

from __future__ import annotations

import pytest

from o2o.accounts import passwords


def test_hash_and_verify():
    stored = passwords.hash_password("correct horse battery")
    assert stored.startswith("scrypt$14$8$1$")
    assert "correct horse battery" not in stored
    assert passwords.verify_password("correct horse battery", stored)
    assert not passwords.verify_password("correct horse batterY", stored)
    assert not passwords.verify_password("", stored)


def test_every_hash_has_its_own_salt():
    assert passwords.hash_password("same password") != passwords.hash_password("same password")


@pytest.mark.parametrize(
    "stored", [None, "", "plain", "scrypt$x$8$1$aa$bb", "scrypt$14$8$1", "bcrypt$whatever"]
)
def test_missing_or_malformed_hashes_never_match(stored):
    assert not passwords.verify_password("anything at all", stored)


def test_no_account_costs_the_same_work(monkeypatch):
    calls = []
    real = passwords._derive

    def spy(*args):
        calls.append(args[2:])
        return real(*args)

    monkeypatch.setattr(passwords, "_derive", spy)
    stored = passwords.hash_password("correct horse battery")
    calls.clear()
    passwords.verify_password("guess guess", None)
    passwords.verify_password("guess guess", stored)
    assert calls == [(14, 8, 1), (14, 8, 1)]


def test_compare_is_constant_time(monkeypatch):
    used = []
    real = passwords.hmac.compare_digest
    monkeypatch.setattr(passwords.hmac, "compare_digest", lambda a, b: used.append(1) or real(a, b))
    passwords.verify_password("x" * 8, passwords.hash_password("y" * 8))
    assert used == [1]


def test_needs_rehash_when_parameters_change():
    assert not passwords.needs_rehash(passwords.hash_password("abcdefgh"))
    assert passwords.needs_rehash("scrypt$10$8$1$c2FsdA$ZGlnZXN0")
    assert passwords.needs_rehash("garbage")


@pytest.mark.parametrize(
    "password, phone, weak",
    [
        ("short", None, "at least 8"),
        ("aaaaaaaa", None, "different characters"),
        ("12345678", None, "most common"),
        ("abababab", None, "different characters"),
        ("password", None, "most common"),
        ("Password1", None, "most common"),
        ("13800138000", "+8613800138000", "phone number"),
        ("me13800138000!", "+8613800138000", "phone number"),
        ("x" * 129, None, "at most"),
        ("correct horse battery", "+8613800138000", None),
        ("Tr0ub4dor&3", None, None),
    ],
)
def test_weakness(password, phone, weak):
    reason = passwords.weakness(password, phone_e164=phone)
    if weak is None:
        assert reason is None
    else:
        assert reason is not None and weak in reason
