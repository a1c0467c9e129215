"""The shared table of classification and retry cases, run against the generated SDK."""

from __future__ import annotations

import json
import os

import pytest

from kaplaix import ERROR_CLASSES, KaplaixError, KaplaixTimeoutError
from kaplaix._errors import error_from_response
from kaplaix._retry import RetryPolicy, decide

with open(os.environ["ERRATA_CASES"], encoding="utf-8") as f:
    TABLE = json.load(f)


def test_the_table_is_for_this_catalog() -> None:
    assert TABLE["catalog"] == "catalogs/kaplaix.toml"
    assert len(TABLE["cases"]) >= 30


@pytest.mark.parametrize("case", TABLE["cases"], ids=[c["name"] for c in TABLE["cases"]])
def test_case(case: dict) -> None:
    exp = case["expect"]
    if "transport" in case:
        err: object = KaplaixTimeoutError("timed out", timeout=30.0)
    else:
        e = error_from_response(case["status"], case["headers"], case["body"].encode(), now=TABLE["now"])
        if "class" in exp:
            want = KaplaixError if exp["class"] is None else ERROR_CLASSES[exp["class"]]
            assert type(e) is want
        for field in ("code", "message", "request_id", "details", "retryable"):
            if field in exp:
                assert getattr(e, field) == exp[field], field
        if "retry_after_ms" in exp:
            if exp["retry_after_ms"] is None:
                assert e.retry_after is None
            else:
                assert e.retry_after is not None
                assert e.retry_after * 1000 == pytest.approx(exp["retry_after_ms"], abs=1e-6)
        assert str(e)
        err = e
    left = case.get("deadline_left_ms")
    delay, reason = decide(
        err,
        policy=RetryPolicy(),
        attempt=case["attempt"],
        repeatable=case["method"] not in ("POST", "PATCH"),
        now=0.0,
        deadline_at=None if left is None else left / 1000,
        jitter=lambda cap: cap,
    )
    assert (delay is not None) == exp["retry"], reason
    if exp["retry"]:
        assert delay is not None
        assert delay * 1000 == pytest.approx(exp["delay_ms"], abs=1e-6)
