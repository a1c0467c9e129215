"""The classes' constructors as a type checker sees them: mypy --strict accepts the catalog's
arguments with their types and refuses what the catalog does not allow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import PACKAGES

GOOD = """
from {pkg} import KaplaixError, NotFoundError, NormalizationFailedError, RateLimitedError, Detail, Rendered

errors: list[KaplaixError] = [
    NotFoundError(resource="Event", id="evt_1"),
    NotFoundError(variant="route_not_found", method="GET", path="/v1/x"),
    NormalizationFailedError(reason="bad", param="payload", details=[Detail(["a", 0], "Required", "invalid_type")]),
    RateLimitedError(retry_after=3, headers={{"RateLimit-Remaining": "0"}}),
    KaplaixError.from_code("CONFLICT", args={{"resource": "Event"}}),
]
out: Rendered = errors[0].render("problem", request_id="req_1", instance="/v1/x")
status: int = NotFoundError.status
"""

BAD = """
from {pkg} import NotFoundError, NormalizationFailedError, RateLimitedError

NotFoundError(resource="Event")
NotFoundError(variant="nope", resource="Event", id="evt_1")
NormalizationFailedError(reason=3)
RateLimitedError(retry_after="soon")
NotFoundError(variant="route_not_found", resource="Event", id="evt_1")
"""


def mypy(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir=/dev/null", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_mypy_accepts_the_catalogs_arguments_and_refuses_others(tmp_path: Path) -> None:
    pkg = PACKAGES["kaplaix.toml"]
    good = tmp_path / "good.py"
    good.write_text(GOOD.format(pkg=pkg))
    out = mypy(good)
    assert out.returncode == 0, out.stdout + out.stderr

    bad = tmp_path / "bad.py"
    bad.write_text(BAD.format(pkg=pkg))
    out = mypy(bad)
    assert out.returncode == 1, out.stdout
    flagged = {int(line.split(":")[1]) for line in out.stdout.splitlines() if ": error:" in line}
    # Every line after the import is refused: a missing argument, an unknown variant, wrong
    # types, a variant without the arguments its message needs.
    assert flagged == {4, 5, 6, 7, 8}, out.stdout
