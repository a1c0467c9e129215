"""The shared case table (crates/errata-sdk/cases/server.json), the same failures errata-core and
errata-axum answer: each case raised from a FastAPI app built on its catalog's generated
package, answered with the same status, headers and bytes."""

from __future__ import annotations

import json
import keyword
from typing import Any, Dict, List

import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient

from conftest import CASES, adapter, compact, package

RESERVED = {"param", "retry_after", "details", "variant", "args", "headers", "self", "cause"}

_clients: Dict[str, TestClient] = {}


def raise_case(case: Dict[str, Any]) -> None:
    """Makes the case's failure happen as an application would."""
    pkg = package(case["catalog"])
    condition = case.get("condition")
    if condition == "invalid_fields":
        raise RequestValidationError(case["pydantic"])
    if condition == "internal_error":
        raise RuntimeError(f"database password is hunter2 ({case['path']})")
    spec = case["raise"]
    cls = pkg.ERROR_CLASSES[spec["code"]]
    kwargs: Dict[str, Any] = {}
    extra: Dict[str, Any] = {}
    for name, value in (spec.get("args") or {}).items():
        if name.isidentifier() and not keyword.iskeyword(name) and name not in RESERVED:
            kwargs[name] = value
        else:
            extra[name] = value
    if extra:
        kwargs["args"] = extra
    for key in ("variant", "param", "retry_after"):
        if key in spec:
            kwargs[key] = spec[key]
    if "details" in spec:
        kwargs["details"] = [pkg.Detail(d["path"], d["message"], d["code"]) for d in spec["details"]]
    raise cls(**kwargs)


def route(case: Dict[str, Any]) -> Any:
    def endpoint() -> Dict[str, str]:
        raise_case(case)
        return {"unreachable": "yes"}

    return endpoint


def client(catalog: str) -> TestClient:
    """One FastAPI app per catalog, with a route per case (none for `route_not_found`)."""
    if catalog not in _clients:
        app = FastAPI()
        adapter(catalog, "fastapi").install(app)
        for case in CASES:
            if case["catalog"] == catalog and case.get("condition") != "route_not_found":
                app.add_api_route(case["path"], route(case), methods=["GET"])
        _clients[catalog] = TestClient(app)
    return _clients[catalog]


def test_the_table_covers_every_catalog_and_condition() -> None:
    assert len(CASES) >= 55
    assert {c["catalog"] for c in CASES} == {"default.toml", "klayrai.toml", "klyra.toml", "bearer.toml", "kaplaix.toml"}
    assert {c.get("condition") for c in CASES} >= {None, "invalid_fields", "route_not_found", "internal_error"}


@pytest.mark.parametrize("case", CASES, ids=[f"{c['path']} {c['name']}" for c in CASES])
def test_case(case: Dict[str, Any]) -> None:
    pkg = package(case["catalog"])
    headers = {pkg._catalog.REQUEST_ID_HEADER: case["request_id"]}
    if "accept" in case:
        headers["accept"] = case["accept"]
    res = client(case["catalog"]).get(case["path"], headers=headers)

    assert res.status_code == case["status"], res.text
    for name, value in case["headers"].items():
        assert res.headers.get(name) == value, f"{name}: {res.headers}"
    if "retry-after" not in case["headers"]:
        assert "retry-after" not in res.headers
    # Member order included: the bytes are the compact JSON of the expected body.
    assert res.content == compact(case["body"]), res.text
    assert json.dumps(res.json()) == json.dumps(case["body"])
    if "seed" in case:
        assert res.json() == case["seed"]
    if case.get("condition") == "internal_error":
        assert "hunter2" not in res.text
