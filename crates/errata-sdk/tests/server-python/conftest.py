"""Fixtures of the generated Python server packages' suite. crates/errata/tests/server_python.rs
generates a package for each seed catalog, pip-installs them and sets:

- `ERRATA_SERVER_PACKAGES`: a JSON object, catalog file name (`kaplaix.toml`) -> import name;
- `ERRATA_SERVER_CASES`: the shared case table (crates/errata-sdk/cases/server.json);
- `ERRATA_FLOATS`: numbers as serde_json writes them (errata-core's JSON), a JSON array.
"""

from __future__ import annotations

import importlib
import json
import os
from types import ModuleType
from typing import Any, Dict, List

import pytest

PACKAGES: Dict[str, str] = json.loads(os.environ["ERRATA_SERVER_PACKAGES"])

with open(os.environ["ERRATA_SERVER_CASES"], encoding="utf-8") as f:
    CASES: List[Dict[str, Any]] = json.load(f)["cases"]


def package(catalog: str) -> ModuleType:
    """The installed server package generated from `catalog` (`kaplaix.toml`)."""
    return importlib.import_module(PACKAGES[catalog])


def adapter(catalog: str, framework: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGES[catalog]}.{framework}")


def compact(value: Any) -> bytes:
    """JSON as errata sends it: compact, members in order, UTF-8."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@pytest.fixture
def kaplaix() -> ModuleType:
    return package("kaplaix.toml")


@pytest.fixture
def default() -> ModuleType:
    return package("default.toml")
