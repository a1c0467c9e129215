"""Fixtures of the generated Python SDK's suite: the gateway, the upstream and a client whose
waits are recorded instead of slept (`ERRATA_*` variables, set by crates/errata/tests/sdk_python.rs)."""

from __future__ import annotations

import os
import uuid
from typing import Any, Callable, List

import httpx
import pytest

from kaplaix import Kaplaix

URL = os.environ["ERRATA_URL"]
KEY = os.environ["ERRATA_KEY"]
#: A key allowed one request a minute.
LIMITED_KEY = os.environ["ERRATA_LIMITED_KEY"]
UPSTREAM = os.environ["ERRATA_UPSTREAM"]
CLOSED = os.environ["ERRATA_CLOSED_URL"]


class Recorder:
    """The client's sleep: records each wait (seconds) and returns at once."""

    def __init__(self) -> None:
        self.waits: List[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def waits() -> Recorder:
    return Recorder()


@pytest.fixture
def make(waits: Recorder) -> Callable[..., Kaplaix]:
    """A client of the gateway with the test key, recorded waits and jitter that returns its cap."""

    def build(**kw: Any) -> Kaplaix:
        options: dict = dict(api_key=KEY, base_url=URL, timeout=5.0, sleep=waits, jitter=lambda cap: cap)
        options.update(kw)
        return Kaplaix(**options)

    return build


def fault_id() -> str:
    return uuid.uuid4().hex


def attempts(fid: str) -> list:
    """What the upstream received under a fault id."""
    return httpx.get(f"{UPSTREAM}/_attempts/{fid}").json()["attempts"]
