"""A Starlette application without FastAPI: the package and its Starlette adapter import no
FastAPI (it is made unimportable in a fresh interpreter) and answer as the FastAPI one does."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import PACKAGES

SCRIPT = textwrap.dedent(
    """
    import logging, sys
    sys.modules["fastapi"] = None  # importing fastapi now fails
    import {pkg}
    import {pkg}.starlette as adapter
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def ok(request):
        return JSONResponse({{"request_id": adapter.request_id(request)}})

    async def raised(request):
        raise {pkg}.NotFoundError(resource="Event", id="evt_1")

    async def boom(request):
        raise RuntimeError("hunter2")

    async def teapot(request):
        raise HTTPException(418)

    app = Starlette(routes=[
        Route("/ok", ok),
        Route("/raised", raised),
        Route("/boom", boom),
        Route("/teapot", teapot),
        Route("/only-post", ok, methods=["POST"]),
    ])
    seen = []
    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record)
    logger = logging.getLogger("starlette-app")
    logger.addHandler(Keep())
    adapter.install(app, logger=logger)
    c = TestClient(app)

    r = c.get("/ok", headers={{"x-request-id": "req_ok"}})
    assert r.status_code == 200 and r.json() == {{"request_id": "req_ok"}}, r.text
    assert r.headers["x-request-id"] == "req_ok"

    r = c.get("/raised", headers={{"x-request-id": "req_r", "accept": "application/problem+json"}})
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json", r.text
    assert r.content == b'{{"type":"urn:problem-type:NOT_FOUND","title":"Not found","status":404,"detail":"Event \\'evt_1\\' not found","instance":"/raised","code":"NOT_FOUND","request_id":"req_r"}}', r.content

    r = c.get("/nowhere")
    assert r.status_code == 404 and r.json() == {{"error": {{"code": "NOT_FOUND", "message": "Route GET /nowhere not found"}}}}, r.text
    assert {pkg}.is_request_id(r.headers["x-request-id"])

    r = c.get("/only-post")
    assert r.status_code == 404 and r.json()["error"]["message"] == "Route GET /only-post not found", r.text
    assert r.headers["allow"] == "POST"

    r = c.get("/teapot")
    assert r.status_code == 418 and r.json() == {{"error": {{"code": "VALIDATION_ERROR", "message": "Invalid request body"}}}}, r.text

    r = c.get("/boom", headers={{"x-request-id": "req_boom"}})
    assert r.status_code == 500 and "hunter2" not in r.text, r.text
    assert r.json() == {{"error": {{"code": "INTERNAL_ERROR", "message": "Internal server error"}}}}
    assert any("req_boom" in rec.getMessage() and rec.exc_info for rec in seen)
    assert "fastapi" not in [m.split(".")[0] for m in sys.modules if sys.modules[m] is not None]
    print("starlette ok")
    """
)


def test_a_starlette_app_without_fastapi() -> None:
    pkg = PACKAGES["kaplaix.toml"]
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(pkg=pkg)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "starlette ok" in out.stdout
