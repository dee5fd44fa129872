"""The request boundary: one commit per request, rollback on error, problem+json, Idempotency-Key replay."""

from __future__ import annotations

import threading

import httpx
import pytest
from fastapi import FastAPI, Header
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from o2o import outbox
from o2o.errors import AppError
from o2o.http import DbSession, api_router
from o2o.idempotency import IdempotencyRecord
from o2o.outbox import OutboxMessage

router = api_router(prefix="/t")


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=20)
    fail: bool = False


@router.post("/notes", status_code=201)
def create_note(body: NoteIn, session: DbSession, x_test: str | None = Header(default=None)) -> dict:
    message = outbox.enqueue(session, "test.note", {"text": body.text})
    session.flush()
    if body.fail:
        raise AppError("note_refused", 409, "Refused after writing: the write must be rolled back.")
    return {"id": str(message.id), "text": body.text}


@router.post("/crash")
def crash(session: DbSession) -> dict:
    outbox.enqueue(session, "test.note", {"text": "crash"})
    session.flush()
    raise RuntimeError("a bug")


@pytest.fixture
def app_with_test_routes(app: FastAPI) -> FastAPI:
    app.include_router(router)
    return app


@pytest.fixture
def tclient(app_with_test_routes):
    from fastapi.testclient import TestClient

    with TestClient(app_with_test_routes, raise_server_exceptions=False) as c:
        yield c


def count(db, model) -> int:
    with db.sessionmaker() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_success_commits_once(tclient, db):
    r = tclient.post("/t/notes", json={"text": "hello"})
    assert r.status_code == 201
    assert count(db, OutboxMessage) == 1


def test_business_error_rolls_back_and_renders_problem(tclient, db):
    r = tclient.post("/t/notes", json={"text": "hello", "fail": True})
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json() == {
        "type": "https://o2o.dev/problems/note_refused",
        "title": "Note refused",
        "status": 409,
        "detail": "Refused after writing: the write must be rolled back.",
        "code": "note_refused",
    }
    assert count(db, OutboxMessage) == 0


def test_bug_is_500_problem_and_rolls_back(tclient, db):
    r = tclient.post("/t/crash")
    assert r.status_code == 500
    assert r.json()["code"] == "internal_error"
    assert "a bug" not in r.text  # no internals leak
    assert count(db, OutboxMessage) == 0


@pytest.mark.parametrize(
    "payload, where",
    [
        ({"text": "x", "colour": "red"}, "colour"),  # unknown field
        ({"text": 5}, "text"),  # wrong type
        ({"text": "x" * 21}, "text"),  # overlong
        ({}, "text"),  # missing
    ],
)
def test_malformed_payload_is_422_invalid_request(tclient, db, payload, where):
    r = tclient.post("/t/notes", json=payload)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "invalid_request"
    assert any(where in [str(p) for p in e["loc"]] for e in body["errors"])
    assert count(db, OutboxMessage) == 0


def test_not_json_is_422(tclient, db):
    r = tclient.post("/t/notes", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_request"
    assert count(db, OutboxMessage) == 0


def test_unknown_route_and_method_are_problems(tclient):
    assert tclient.get("/t/nothing").json()["code"] == "not_found"
    r = tclient.get("/t/notes")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


def test_idempotent_retry_replays_first_answer(tclient, db):
    headers = {"Idempotency-Key": "k-1"}
    first = tclient.post("/t/notes", json={"text": "once"}, headers=headers)
    second = tclient.post("/t/notes", json={"text": "once"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert count(db, OutboxMessage) == 1
    assert count(db, IdempotencyRecord) == 1


def test_same_key_different_body_is_refused(tclient, db):
    headers = {"Idempotency-Key": "k-2"}
    assert tclient.post("/t/notes", json={"text": "a"}, headers=headers).status_code == 201
    r = tclient.post("/t/notes", json={"text": "b"}, headers=headers)
    assert r.status_code == 422
    assert r.json()["code"] == "idempotency_key_reused"
    assert count(db, OutboxMessage) == 1


def test_keys_are_scoped_by_caller(tclient, db):
    body = {"text": "same"}
    a = tclient.post("/t/notes", json=body, headers={"Idempotency-Key": "k-3", "Authorization": "Bearer alice"})
    b = tclient.post("/t/notes", json=body, headers={"Idempotency-Key": "k-3", "Authorization": "Bearer bob"})
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert count(db, OutboxMessage) == 2


def test_failed_request_stores_nothing_and_can_be_retried(tclient, db):
    headers = {"Idempotency-Key": "k-4"}
    assert tclient.post("/t/notes", json={"text": "x", "fail": True}, headers=headers).status_code == 409
    assert count(db, IdempotencyRecord) == 0
    # The failed attempt changed nothing and is not remembered: the retry runs again (and fails again).
    assert tclient.post("/t/notes", json={"text": "x", "fail": True}, headers=headers).status_code == 409
    assert count(db, OutboxMessage) == 0


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "bad\x01key"])
def test_invalid_keys_are_refused(tclient, db, key):
    r = tclient.post("/t/notes", json={"text": "x"}, headers={"Idempotency-Key": key})
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_idempotency_key"
    assert count(db, OutboxMessage) == 0


def test_ten_parallel_requests_with_one_key_make_one_change(app_with_test_routes, db, live_server):
    """Real connections, real threads: on PostgreSQL the twins block on the key's unique index."""
    results: list[httpx.Response] = []
    barrier = threading.Barrier(10)

    def send() -> None:
        with httpx.Client(base_url=live_server.url, timeout=30) as c:
            barrier.wait()
            results.append(c.post("/t/notes", json={"text": "race"}, headers={"Idempotency-Key": "race-1"}))

    threads = [threading.Thread(target=send) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [201] * 10
    assert len({r.json()["id"] for r in results}) == 1
    assert count(db, OutboxMessage) == 1


def test_request_id_is_echoed(tclient):
    r = tclient.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    assert len(tclient.get("/healthz").headers["x-request-id"]) == 32


def test_stored_answers_keep_no_secret_in_clear(tclient, db):
    """A stored answer may hold a bearer token: neither it nor the key is readable from the database."""
    r = tclient.post("/t/notes", json={"text": "secret-ish"}, headers={"Idempotency-Key": "key-in-clear?"})
    assert r.status_code == 201
    with db.sessionmaker() as s:
        record = s.scalars(select(IdempotencyRecord)).one()
        assert b"secret-ish" not in record.sealed
        assert "key-in-clear?" not in record.key_digest
        assert record.status_code == 201
