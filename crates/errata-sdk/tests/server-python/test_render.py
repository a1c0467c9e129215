"""The renderer and the error classes on their own: numbers as errata-core writes them,
templates, unknown codes, construction rules, pickling."""

from __future__ import annotations

import json
import os
import pickle
from types import ModuleType

import pytest

from conftest import PACKAGES, package


def test_numbers_print_as_serde_json_prints_them(kaplaix: ModuleType) -> None:
    text = os.environ["ERRATA_FLOATS"]
    values = json.loads(text)
    assert any(isinstance(v, float) for v in values) and any(isinstance(v, int) for v in values)
    assert kaplaix._render.dumps(values) == text


def test_message_arguments_are_text_or_compact_json(kaplaix: ModuleType) -> None:
    f = kaplaix.Failure(code="NOT_FOUND", args={"resource": 2.5, "id": [1, "a", None, True, 20.0]})
    assert kaplaix._render.message(f) == "2.5 '[1,\"a\",null,true,20.0]' not found"
    err = kaplaix.NotFoundError(resource="Event", id="évt_1")
    assert err.message == "Event 'évt_1' not found"
    assert str(err) == err.message
    assert err.render().body_bytes == '{"error":{"code":"NOT_FOUND","message":"Event \'évt_1\' not found"}}'.encode()


def test_templates_escape_braces_and_keep_unknown_placeholders(kaplaix: ModuleType) -> None:
    r = kaplaix._render
    assert r.fill("{{literal}} {x}", lambda n: None) == "{literal} {x}"
    assert r.names("a {b} {{c}} {d}") == ["b", "d"]
    assert r.fill("abc {x", lambda n: "v") == "abc {x"
    assert r.fill("a } b", lambda n: "v") == "a } b"
    assert r.fill("{a.b} and {c_1}", lambda n: n.upper()) == "A.B and C_1"


def test_an_unknown_code_renders_as_the_internal_error(default: ModuleType) -> None:
    f = default.Failure(
        code="no_such_code",
        param="x",
        details=[default.Detail(["a"], "m", "custom")],
        retry_after=5,
        request_id="req_1",
    )
    out = default.render_failure(f)
    assert out.status == 500 and out.code == "internal_error"
    assert out.headers == [("content-type", "application/json"), ("x-request-id", "req_1")]
    assert out.body == {
        "error": {
            "code": "internal_error",
            "type": "api_error",
            "message": "An internal error occurred. Please try again. If the problem persists, contact support with the request_id.",
            "param": None,
            "request_id": "req_1",
            "doc_url": "/errors#internal_error",
        }
    }


def test_details_render_in_the_catalogs_shape() -> None:
    bearer = package("bearer.toml")
    e = bearer.ERROR_CLASSES["validation_error"].from_code("validation_error", details=[{"path": ["items", 3, "a/b~c"], "message": "Required", "code": "invalid_type"}])
    body = e.render().body
    assert body["error"]["details"] == [{"field": "items.3.a/b~c", "message": "Required", "code": "invalid_type"}]
    problem = e.render("problem", instance="/v1/x").body
    assert problem["errors"] == [{"detail": "Required", "pointer": "#/items/3/a~1b~0c", "code": "invalid_type"}]


def test_construction_rules(kaplaix: ModuleType) -> None:
    with pytest.raises(TypeError):
        kaplaix.KaplaixError()
    with pytest.raises(ValueError, match="not a code"):
        kaplaix.KaplaixError.from_code("NOPE")
    with pytest.raises(ValueError, match="no message variant"):
        kaplaix.NotFoundError(variant="nope", method="GET", path="/")  # type: ignore[call-overload]
    err = kaplaix.KaplaixError.from_raise({"code": "NOT_FOUND", "variant": "route_not_found", "args": {"method": "GET", "path": "/x"}})
    assert isinstance(err, kaplaix.NotFoundError) and isinstance(err, kaplaix.KaplaixError)
    assert err.message == "Route GET /x not found"
    assert (err.code, err.status, err.type, err.retryable) == ("NOT_FOUND", 404, "not_found", False)
    assert kaplaix.render(err, "problem", request_id="req_9", instance="/x").body == {
        "type": "urn:problem-type:NOT_FOUND",
        "title": "Not found",
        "status": 404,
        "detail": "Route GET /x not found",
        "instance": "/x",
        "code": "NOT_FOUND",
        "request_id": "req_9",
    }


def test_errors_pickle(kaplaix: ModuleType) -> None:
    err = kaplaix.NotFoundError(resource="Event", id="evt_1", param="id", retry_after=3)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is kaplaix.NotFoundError
    assert (back.message, back.param, back.retry_after, back.message_args) == (err.message, "id", 3, err.message_args)


def test_request_id_formats() -> None:
    for catalog in PACKAGES:
        pkg = package(catalog)
        ids = {pkg.new_request_id() for _ in range(50)}
        assert len(ids) == 50
        assert all(pkg.is_request_id(i) and pkg.is_safe_token(i) for i in ids)
    k = package("kaplaix.toml")
    assert k.is_safe_token("req_1a2b3c4d5e6f")
    assert not k.is_safe_token("")
    assert not k.is_safe_token("a b")
    assert not k.is_safe_token("a\r\nx-evil: 1")
    assert not k.is_safe_token("a" * 129)
    assert not k.is_safe_token("ünïcode")


def test_format_from_accept(kaplaix: ModuleType) -> None:
    f = kaplaix.format_from_accept
    assert f(None) == "envelope"
    assert f("*/*") == "envelope"
    assert f("application/problem+json") == "problem"
    assert f("Application/Problem+JSON; charset=utf-8") == "problem"
    assert f("application/json, application/problem+json;q=0.5") == "envelope"
    assert f("application/problem+json, application/json;q=0.9") == "problem"
    assert f("application/problem+json;q=0") == "envelope"
    assert f("application/problem+json;q=oops") == "problem"
