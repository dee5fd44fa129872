"""Operations endpoints: liveness, readiness, metrics, the OpenAPI document."""

from __future__ import annotations

from fastapi.testclient import TestClient

from o2o.app import create_app
from o2o.config import Settings
from o2o.db import Database


def test_healthz(client):
    r = client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


def test_readyz_reports_the_database(client, db):
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "database": db.dialect}


def test_readyz_is_503_problem_when_the_database_is_gone(tmp_path):
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    settings = Settings(env="test", database_url=url, var_dir=tmp_path, inprocess_worker=False)
    with TestClient(create_app(settings, Database(url))) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "database_unavailable"


def test_metrics_count_requests_by_route_template(client):
    client.get("/healthz")
    client.get("/no/such/page")
    text = client.get("/metrics").text
    assert 'o2o_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="unmatched",status="404"' in text
    assert "o2o_http_request_duration_seconds_bucket" in text


def test_openapi_documents_problems(client):
    doc = client.get("/openapi.json").json()
    assert "Problem" in doc["components"]["schemas"]
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            assert op.get("summary"), f"{method.upper()} {path} has no summary"
    assert client.get("/docs").status_code == 200
