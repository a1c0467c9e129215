"""The generated Kaplaix SDK against a real `errata serve` with the Kaplaix catalog in front of a
fault-injecting upstream: every error class, retries with exact attempt counts, Retry-After
waits, timeouts, connection refused, one Idempotency-Key per POST, the gateway's request id."""

from __future__ import annotations

import asyncio
import pickle
import re
from typing import Any, List

import pytest

import kaplaix
from kaplaix import (
    AsyncKaplaix,
    Kaplaix,
    KaplaixError,
    KaplaixNetworkError,
    KaplaixTimeoutError,
)
from kaplaix._catalog import CODES

from conftest import CLOSED, KEY, LIMITED_KEY, UPSTREAM, URL, attempts, fault_id

REQUEST_ID = re.compile(r"^req_[0-9A-Za-z]{24}$")


def test_the_seeds_import_lines_work_verbatim() -> None:
    namespace: dict = {}
    exec(
        "from kaplaix import (\n"
        "KaplaixError, # API returned an error status\n"
        "KaplaixNetworkError, # Network-level failure\n"
        "KaplaixTimeoutError, # Request timed out\n"
        ")\n",
        namespace,
    )
    assert namespace["KaplaixError"] is KaplaixError
    assert issubclass(namespace["KaplaixTimeoutError"], KaplaixNetworkError)


def test_a_success_returns_the_decoded_json(make: Any) -> None:
    with make() as client:
        got = client.post("/v1/echo", json={"eventId": "e1"})
        assert got["ok"] is True
        assert got["method"] == "POST"
        assert got["body"] == '{"eventId":"e1"}'
        assert re.match(r"^[0-9a-f-]{36}$", got["idempotency_key"])
        assert client.get("/v1/echo")["idempotency_key"] is None


@pytest.mark.parametrize("code", list(CODES))
def test_every_code_raises_its_class(make: Any, code: str) -> None:
    info = CODES[code]
    fid = fault_id()
    with make(max_retries=0) as client, pytest.raises(KaplaixError) as caught:
        client.get(f"/v1/fault/{fid}?status={info.status}&code={code}")
    e = caught.value
    assert type(e) is kaplaix.ERROR_CLASSES[code]
    assert (e.status, e.code, e.type, e.retryable) == (info.status, code, info.type, info.retryable)
    assert e.message == f"injected {code}"
    assert e.in_catalog
    # Kaplaix's envelope has no request id: it is the gateway's header.
    assert e.request_id == e.headers["x-request-id"]
    assert REQUEST_ID.match(e.request_id)
    assert e.body == {"error": {"code": code, "message": f"injected {code}", **({"details": e.details} if e.details else {})}}
    assert str(e) == f"{code}: injected {code} (HTTP {info.status}, request_id {e.request_id})"
    assert e.attempts == 1
    assert len(attempts(fid)) == 1


def test_validation_details_arrive(make: Any) -> None:
    with make() as client, pytest.raises(kaplaix.ValidationError) as caught:
        client.post(f"/v1/fault/{fault_id()}?status=400&code=VALIDATION_ERROR", json={})
    assert caught.value.details == [{"path": ["eventId"], "message": "Invalid uuid", "code": "invalid_string"}]


def test_the_gateways_own_errors_are_classes_too(make: Any) -> None:
    with make(api_key=None) as client, pytest.raises(kaplaix.AuthenticationFailedError) as caught:
        client.get("/v1/echo")
    assert caught.value.message == "Missing API key"
    with make(api_key="kplx_live_" + "x" * 32) as client, pytest.raises(kaplaix.AuthenticationFailedError):
        client.get("/v1/echo")


def test_retryable_codes_are_retried_with_exact_attempts_and_backoff(make: Any, waits: Any) -> None:
    fid = fault_id()
    with make() as client:
        got = client.get(f"/v1/fault/{fid}?fail=2&status=503&code=SERVICE_UNAVAILABLE")
    assert got == {"ok": True, "attempts": 3}
    assert waits.waits == [0.5, 1.0]
    assert len(attempts(fid)) == 3


def test_retries_end_with_the_last_error(make: Any, waits: Any) -> None:
    fid = fault_id()
    with make(max_retries=3) as client, pytest.raises(kaplaix.InternalError) as caught:
        client.get(f"/v1/fault/{fid}?status=500&code=INTERNAL_ERROR")
    assert caught.value.attempts == 4
    assert waits.waits == [0.5, 1.0, 2.0]
    assert len(attempts(fid)) == 4


def test_codes_the_catalog_does_not_mark_retryable_are_not_retried(make: Any, waits: Any) -> None:
    fid = fault_id()
    with make() as client, pytest.raises(kaplaix.ConflictError):
        client.put(f"/v1/fault/{fid}?fail=1&status=409&code=CONFLICT", json={})
    assert waits.waits == []
    assert len(attempts(fid)) == 1


def test_retry_after_is_waited_exactly(make: Any, waits: Any) -> None:
    fid = fault_id()
    with make() as client:
        client.get(f"/v1/fault/{fid}?fail=1&status=429&code=RATE_LIMITED&retry_after=2")
        client.get(f"/v1/fault/{fault_id()}?fail=1&status=503&code=SERVICE_UNAVAILABLE&retry_after=9&retry_after_ms=150")
    assert waits.waits == [2.0, 0.15]
    assert len(attempts(fid)) == 2


def test_retry_after_above_the_ceiling_raises_with_the_wait(make: Any, waits: Any) -> None:
    fid = fault_id()
    with make() as client, pytest.raises(kaplaix.RateLimitedError) as caught:
        client.get(f"/v1/fault/{fid}?status=429&code=RATE_LIMITED&retry_after=120")
    assert caught.value.retry_after == 120.0
    assert waits.waits == []
    assert len(attempts(fid)) == 1


def test_the_gateways_rate_limit(make: Any, waits: Any) -> None:
    with make(api_key=LIMITED_KEY, max_retry_after=0.5) as client:
        client.get("/v1/echo")
        with pytest.raises(kaplaix.RateLimitedError) as caught:
            client.get("/v1/echo")
    e = caught.value
    assert e.code == "RATE_LIMITED" and e.retryable
    assert e.retry_after is not None and 1 <= e.retry_after <= 60
    assert e.request_id == e.headers["x-request-id"]
    assert waits.waits == []


def test_an_html_502_is_normalized_by_the_gateway(make: Any, waits: Any) -> None:
    fid = fault_id()
    with make() as client:
        assert client.get(f"/v1/fault/{fid}?fail=1&status=502&body=html")["ok"]
    assert waits.waits == [0.5]
    with make(max_retries=0) as client, pytest.raises(kaplaix.BadGatewayError) as caught:
        client.get(f"/v1/fault/{fault_id()}?status=502&body=html")
    assert caught.value.code == "BAD_GATEWAY"


def test_bodies_outside_the_catalog_never_crash_the_sdk() -> None:
    with Kaplaix(base_url=UPSTREAM, max_retries=0) as direct:
        with pytest.raises(kaplaix.BadGatewayError) as html:
            direct.get(f"/v1/fault/{fault_id()}?status=502&body=html")
        assert html.value.code is None and "<h1>502</h1>" in html.value.body
        assert "not an error of the API's catalog" in str(html.value)
        with pytest.raises(KaplaixError) as teapot:
            direct.get(f"/v1/fault/{fault_id()}?status=418&body=text")
        assert type(teapot.value) is KaplaixError and not teapot.value.retryable
        with pytest.raises(kaplaix.ConflictError) as newer:
            direct.get(f"/v1/fault/{fault_id()}?status=409&code=DUPLICATE_EVENT")
        assert newer.value.code == "DUPLICATE_EVENT" and not newer.value.in_catalog


def test_a_timed_out_attempt_is_retried(make: Any, waits: Any) -> None:
    fid = fault_id()
    with make(timeout=0.3) as client:
        assert client.get(f"/v1/fault/{fid}?fail=1&status=200&delay_ms=800")["ok"]
    assert waits.waits == [0.5]
    with make(timeout=0.3, max_retries=0) as client, pytest.raises(KaplaixTimeoutError) as caught:
        client.get(f"/v1/fault/{fault_id()}?fail=1&delay_ms=800")
    e = caught.value
    assert isinstance(e, KaplaixNetworkError) and not e.deadline and e.timeout == 0.3
    assert REQUEST_ID.match(e.client_request_id or "")


def test_the_deadline_bounds_the_whole_call(make: Any) -> None:
    with make(timeout=5.0, deadline=0.4) as client, pytest.raises(KaplaixTimeoutError) as caught:
        client.get(f"/v1/fault/{fault_id()}?fail=1&delay_ms=1000")
    assert caught.value.deadline and caught.value.attempts == 1


def test_the_gateways_upstream_timeout(make: Any) -> None:
    with make(max_retries=0) as client, pytest.raises(kaplaix.GatewayTimeoutError) as caught:
        client.get(f"/v1/fault/{fault_id()}?fail=1&delay_ms=2500")
    assert caught.value.retryable


def test_connection_refused_is_a_network_error_retried(waits: Any) -> None:
    with Kaplaix(api_key=KEY, base_url=CLOSED, sleep=waits, jitter=lambda cap: cap) as client:
        with pytest.raises(KaplaixNetworkError) as caught:
            client.get("/v1/echo")
    assert type(caught.value) is KaplaixNetworkError
    assert caught.value.attempts == 3
    assert waits.waits == [0.5, 1.0]


def test_a_post_is_retried_under_one_idempotency_key(make: Any, waits: Any) -> None:
    fid = fault_id()
    with make() as client:
        assert client.post(f"/v1/fault/{fid}?fail=2&status=503&code=SERVICE_UNAVAILABLE", json={"a": 1})["ok"]
    seen = attempts(fid)
    keys = {a["idempotency_key"] for a in seen}
    assert len(seen) == 3 and len(keys) == 1 and None not in keys
    fid = fault_id()
    with make(idempotency_keys=False) as client, pytest.raises(kaplaix.ServiceUnavailableError):
        client.post(f"/v1/fault/{fid}?fail=2&status=503&code=SERVICE_UNAVAILABLE", json={"a": 1})
    assert len(attempts(fid)) == 1


def test_errors_pickle_without_the_api_key(make: Any) -> None:
    with make(max_retries=0) as client, pytest.raises(KaplaixError) as caught:
        client.get(f"/v1/fault/{fault_id()}?status=429&code=RATE_LIMITED&retry_after=3")
    e = caught.value
    assert e.request_headers["Authorization"] == "<redacted>"
    assert e.request_headers["x-request-id"] == e.client_request_id
    assert REQUEST_ID.match(e.client_request_id or "")
    data = pickle.dumps(e)
    assert KEY.encode() not in data
    back = pickle.loads(data)
    assert type(back) is kaplaix.RateLimitedError
    for field in ("status", "code", "message", "request_id", "retry_after", "headers", "body", "retryable", "client_request_id"):
        assert getattr(back, field) == getattr(e, field), field
    assert str(back) == str(e)
    net = pickle.loads(pickle.dumps(KaplaixTimeoutError("t", timeout=1.0, deadline=True)))
    assert type(net) is KaplaixTimeoutError and net.deadline and net.timeout == 1.0


def test_the_async_client() -> None:
    waits: List[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def main() -> None:
        async with AsyncKaplaix(api_key=KEY, base_url=URL, sleep=sleep, jitter=lambda cap: cap) as client:
            fid = fault_id()
            got = await client.patch(f"/v1/fault/{fid}?fail=1&status=500&code=INTERNAL_ERROR", json={"x": 1})
            assert got == {"ok": True, "attempts": 2}
            with pytest.raises(kaplaix.NotFoundError):
                await client.delete(f"/v1/fault/{fault_id()}?status=404&code=NOT_FOUND")

    asyncio.run(main())
    assert waits == [0.5]
