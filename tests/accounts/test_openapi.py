"""The accounts part of the OpenAPI document: summaries, typed errors, examples."""

from __future__ import annotations


def test_every_accounts_operation_is_documented(client):
    doc = client.get("/openapi.json").json()
    operations = [
        (path, method, op)
        for path, item in doc["paths"].items()
        if path.startswith("/api/accounts")
        for method, op in item.items()
    ]
    assert len(operations) == 16
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        assert op["tags"] == ["accounts"], where
        errors = {status: r for status, r in op["responses"].items() if status.startswith(("4", "5"))}
        assert errors, f"{where} documents no errors"
        for status, response in errors.items():
            if status == "422" and "application/problem+json" not in response["content"]:
                continue  # FastAPI's own validation entry
            assert response["content"]["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }, where
            assert "`" in response["description"], where  # the codes are listed
    public = {"/api/accounts/otp", "/api/accounts/sessions"}
    protected = [op for path, _m, op in operations if path not in public]
    assert all("401" in op["responses"] for op in protected)


def test_examples(client):
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert schemas["SessionCreate"]["examples"][0] == {"phone": "+86 138 0013 8000", "code": "123456"}
    assert schemas["CodeRequest"]["properties"]["phone"]["examples"] == ["+86 138 0013 8000"]
    assert schemas["SessionCreate"]["additionalProperties"] is False
