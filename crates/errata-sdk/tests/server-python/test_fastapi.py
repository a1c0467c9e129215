"""FastAPI applications built on the generated packages: real pydantic validation, the router's
404 and 405, HTTPException, unexpected exceptions, request ids and content negotiation."""

from __future__ import annotations

import json
import logging
from types import ModuleType
from typing import Any, Dict, List, Literal

import pytest
from fastapi import FastAPI, HTTPException, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field

from conftest import CASES, PACKAGES, adapter, compact, package


class Campaign(BaseModel):
    name: str = Field(min_length=3)
    budget: int
    title: str


def app_for(catalog: str, **options: Any) -> FastAPI:
    app = FastAPI()
    adapter(catalog, "fastapi").install(app, **options)

    @app.api_route("/v1/items", methods=["GET", "POST"])
    def items() -> Dict[str, bool]:
        return {"ok": True}

    @app.get("/v1/whoami")
    def whoami(request: Request) -> Dict[str, str]:
        return {"request_id": package(catalog).request_id(request)}

    @app.get("/v1/status/{status}")
    def status(status: int, retry_after: str = "") -> Dict[str, bool]:
        headers = {"Retry-After": retry_after, "WWW-Authenticate": "Bearer"} if retry_after else None
        raise HTTPException(status_code=status, detail="never shown", headers=headers)

    @app.get("/v1/boom")
    def boom() -> Dict[str, bool]:
        raise ValueError("the secret is hunter2")

    @app.get("/v1/limit")
    def limit(n: int) -> Dict[str, int]:
        return {"n": n}

    return app


def validation_case(catalog: str, accept: bool) -> Dict[str, Any]:
    return next(
        c for c in CASES
        if c["catalog"] == catalog and c.get("condition") == "invalid_fields" and ("accept" in c) == accept
    )


@pytest.mark.parametrize("accept", [False, True], ids=["envelope", "problem"])
@pytest.mark.parametrize("catalog", sorted(PACKAGES))
def test_real_pydantic_validation_gives_the_tables_details(catalog: str, accept: bool) -> None:
    """The table's invalid_fields case, this time failed by pydantic itself."""
    case = validation_case(catalog, accept)
    app = FastAPI()
    adapter(catalog, "fastapi").install(app)

    @app.post(case["path"])
    def create(campaign: Campaign) -> Dict[str, str]:
        return {"name": campaign.name}

    headers = {package(catalog)._catalog.REQUEST_ID_HEADER: case["request_id"]}
    if accept:
        headers["accept"] = case["accept"]
    res = TestClient(app).post(case["path"], json={"name": "ab", "budget": "lots"}, headers=headers)
    assert res.status_code == case["status"]
    for name, value in case["headers"].items():
        assert res.headers[name] == value
    assert res.content == compact(case["body"]), res.text

    ok = TestClient(app).post(case["path"], json={"name": "abc", "budget": 3, "title": "t"})
    assert ok.status_code == 200 and ok.json() == {"name": "abc"}


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(pattern=r"^[A-Z]+$")
    qty: int = Field(ge=1, le=10)
    kind: Literal["a", "b"]


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: List[Item] = Field(min_length=1, max_length=2)
    price: float = Field(gt=0.5)
    flag: bool


def test_more_pydantic_errors_as_zod_reports_them(kaplaix: ModuleType) -> None:
    """Models are module-level: FastAPI resolves string annotations in the module."""
    app = FastAPI()
    adapter("kaplaix.toml", "fastapi").install(app)

    @app.post("/v1/orders")
    def create(order: Order) -> Dict[str, int]:
        return {"n": len(order.items)}

    body = {
        "items": [{"sku": "ab1", "qty": 0, "kind": "c", "x": 1, "y": 2}],
        "price": 0.25,
        "flag": "maybe",
        "extra": True,
    }
    res = TestClient(app).post("/v1/orders", json=body)
    assert res.status_code == 400
    details = res.json()["error"]["details"]
    assert details == [
        {"path": ["items", "0", "sku"], "message": "Invalid", "code": "invalid_string"},
        {"path": ["items", "0", "qty"], "message": "Number must be greater than or equal to 1", "code": "too_small"},
        {"path": ["items", "0", "kind"], "message": "Invalid enum value. Expected 'a' | 'b', received 'c'", "code": "invalid_enum_value"},
        {"path": ["items", "0"], "message": "Unrecognized key(s) in object: 'x', 'y'", "code": "unrecognized_keys"},
        {"path": ["price"], "message": "Number must be greater than 0.5", "code": "too_small"},
        {"path": ["flag"], "message": "Expected boolean, received string", "code": "invalid_type"},
        {"path": [], "message": "Unrecognized key(s) in object: 'extra'", "code": "unrecognized_keys"},
    ]

    too_many = TestClient(app).post("/v1/orders", json={"items": [], "price": 1, "flag": True})
    assert too_many.json()["error"]["details"] == [
        {"path": ["items"], "message": "Array must contain at least 1 element(s)", "code": "too_small"},
    ]


def test_a_body_that_is_not_json_is_malformed_body(kaplaix: ModuleType) -> None:
    app = FastAPI()
    adapter("kaplaix.toml", "fastapi").install(app)

    @app.post("/v1/campaigns")
    def create(campaign: Campaign) -> Dict[str, str]:
        return {"name": campaign.name}

    res = TestClient(app).post("/v1/campaigns", content=b'{"name": ', headers={"content-type": "application/json"})
    assert res.status_code == 400
    error = res.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["message"].startswith("Malformed request body: ")
    assert "details" not in error


def test_a_bad_query_parameter_is_invalid_parameter(default: ModuleType) -> None:
    res = TestClient(app_for("default.toml")).get("/v1/limit?n=ten")
    assert res.status_code == 400
    error = res.json()["error"]
    assert error["code"] == "invalid_parameter"
    assert error["param"] == "n"
    assert error["message"] == "Invalid parameter: n: Expected number, received string."


def test_405_lists_the_allowed_methods(default: ModuleType) -> None:
    res = TestClient(app_for("default.toml")).delete("/v1/items", headers={"x-request-id": "req_405"})
    assert res.status_code == 405
    assert res.headers["allow"] == "GET, POST"
    assert res.headers["x-request-id"] == "req_405"
    assert res.content == compact({
        "error": {
            "code": "method_not_allowed",
            "type": "invalid_request_error",
            "message": "DELETE is not allowed on /v1/items. Allowed: GET, POST.",
            "param": None,
            "request_id": "req_405",
            "doc_url": "/errors#method_not_allowed",
        }
    })


def test_404_of_the_router_and_of_a_handler(default: ModuleType) -> None:
    client = TestClient(app_for("default.toml"))
    unrouted = client.get("/v1/nowhere", headers={"x-request-id": "req_404"})
    assert unrouted.status_code == 404
    assert unrouted.json()["error"]["message"] == "No route matches GET /v1/nowhere."
    raised = client.get("/v1/status/404", headers={"x-request-id": "req_404b"})
    assert raised.status_code == 404
    assert raised.json()["error"]["message"] == "Resource '/v1/status/404' not found."
    assert "never shown" not in raised.text


def test_http_exceptions_keep_their_status_and_headers(default: ModuleType) -> None:
    client = TestClient(app_for("default.toml"))
    teapot = client.get("/v1/status/418", headers={"x-request-id": "req_418"})
    assert teapot.status_code == 418
    assert teapot.json()["error"] == {
        "code": "invalid_request",
        "type": "invalid_request_error",
        "message": "The request could not be parsed.",
        "param": None,
        "request_id": "req_418",
        "doc_url": "/errors#invalid_request",
    }
    # The code marked fallback for the status.
    conflict = client.get("/v1/status/409")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "resource_conflict"
    assert conflict.json()["error"]["message"] == "The operation conflicts with the resource's current state."
    # A message needing an argument the status cannot give is the code's description.
    bare = client.get("/v1/status/429")
    assert bare.status_code == 429
    assert bare.json()["error"]["code"] == "rate_limit_exceeded"
    assert bare.json()["error"]["message"] == "Too many requests in the current window."
    assert "retry-after" not in bare.headers
    limited = client.get("/v1/status/429?retry_after=7", headers={"accept": "application/problem+json"})
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"
    assert limited.headers["www-authenticate"] == "Bearer"
    assert limited.headers["content-type"] == "application/problem+json"
    body = limited.json()
    assert body["detail"] == "Rate limit exceeded. Please retry after 7 seconds."
    assert list(body)[:6] == ["type", "title", "status", "detail", "instance", "code"]
    assert body["instance"] == "/v1/status/429"


def test_request_ids_trusted_untrusted_and_unsafe() -> None:
    for catalog in sorted(PACKAGES):
        pkg = package(catalog)
        header = pkg._catalog.REQUEST_ID_HEADER
        trusting = TestClient(app_for(catalog))
        res = trusting.get("/v1/whoami", headers={header: "req_from-gateway.1:2"})
        assert res.status_code == 200
        assert res.headers[header] == "req_from-gateway.1:2"
        assert res.json() == {"request_id": "req_from-gateway.1:2"}

        for unsafe in ["has space", "a" * 129, "semi;colon"]:
            res = trusting.get("/v1/whoami", headers={header: unsafe})
            fresh = res.headers[header]
            assert fresh != unsafe and pkg.is_request_id(fresh), fresh
            assert res.json() == {"request_id": fresh}

        distrusting = TestClient(app_for(catalog, trust_request_id=False))
        res = distrusting.get("/v1/items", headers={header: "req_from_gateway"})
        assert res.status_code == 200
        assert res.headers[header] != "req_from_gateway" and pkg.is_request_id(res.headers[header])

        missing = trusting.get("/v1/items")
        assert pkg.is_request_id(missing.headers[header])
        assert missing.headers[header] != trusting.get("/v1/items").headers[header]


def test_klyra_ids_are_hex_and_the_header_is_sent_once() -> None:
    pkg = package("klyra.toml")
    res = TestClient(app_for("klyra.toml")).get("/v1/nowhere")
    ids = res.headers.get_list("x-request-id")
    assert len(ids) == 1
    rid = ids[0]
    assert rid.startswith(pkg._catalog.REQUEST_ID_PREFIX)
    assert all(c in "0123456789abcdef" for c in rid[len(pkg._catalog.REQUEST_ID_PREFIX):])
    assert res.json()["error"]["request_id"] == rid


def test_an_unexpected_exception_is_logged_never_sent(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    res = TestClient(app_for("kaplaix.toml")).get("/v1/boom", headers={"x-request-id": "req_boom"})
    assert res.status_code == 500
    assert res.content == compact({"error": {"code": "INTERNAL_ERROR", "message": "Internal server error"}})
    assert res.headers["x-request-id"] == "req_boom"
    assert "hunter2" not in res.text
    records = [r for r in caplog.records if r.name == "kaplaix_server" and r.levelno == logging.ERROR]
    assert len(records) == 1
    assert "req_boom" in records[0].getMessage()
    assert records[0].exc_info is not None and "hunter2" in str(records[0].exc_info[1])


def test_a_custom_logger_and_header(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("my.app.errors")
    app = app_for("kaplaix.toml", logger=logger, request_id_header="x-trace-id")
    res = TestClient(app).get("/v1/boom", headers={"x-trace-id": "trace_1"})
    assert res.status_code == 500
    assert res.headers["x-trace-id"] == "trace_1"
    assert any(r.name == "my.app.errors" and "trace_1" in r.getMessage() for r in caplog.records)


def test_accept_picks_problem_json() -> None:
    client = TestClient(app_for("klayrai.toml"))
    for accept, problem in [
        ("application/problem+json", True),
        ("application/problem+json, application/json;q=0.9", True),
        ("application/json, application/problem+json;q=0.5", False),
        ("application/problem+json;q=0", False),
        ("*/*", False),
    ]:
        res = client.get("/v1/nowhere", headers={"accept": accept})
        assert res.status_code == 404
        assert (res.headers["content-type"] == "application/problem+json") is problem, accept
        assert ("instance" in res.json()) is problem


def test_raising_by_class_and_by_name(kaplaix: ModuleType) -> None:
    app = FastAPI()
    adapter("kaplaix.toml", "fastapi").install(app)

    @app.get("/v1/limited")
    def limited() -> Dict[str, bool]:
        raise kaplaix.RateLimitedError(retry_after=0, headers={"RateLimit-Remaining": "0"})

    @app.get("/v1/by-name")
    def by_name() -> Dict[str, bool]:
        raise kaplaix.KaplaixError.from_code("NOT_FOUND", args={"resource": "Event", "id": "evt_1"})

    client = TestClient(app)
    res = client.get("/v1/limited")
    assert res.status_code == 429
    assert res.headers["retry-after"] == "1"
    assert res.headers["ratelimit-remaining"] == "0"
    assert res.json() == {"error": {"code": "RATE_LIMITED", "message": "Rate limit exceeded, retry after 0 seconds"}}
    res = client.get("/v1/by-name")
    assert res.status_code == 404
    assert res.json() == {"error": {"code": "NOT_FOUND", "message": "Event 'evt_1' not found"}}
