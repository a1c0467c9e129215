// The generated packages beyond the case table: a real Zod schema's failure, body-parser's
// errors, http-errors' status errors, request ids, logging, Accept, and the renderer's details.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import createError from "http-errors";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { z } from "zod";
import { CASES, express, headersOf, listen, load } from "./helpers.mjs";

const schema = z.object({ name: z.string().min(3), budget: z.number(), title: z.string() });
const invalid = { name: "ab", budget: "lots" };
/** The details the case table gives a body that fails validation (the same failure). */
const tableDetails = CASES.find((c) => c.catalog === "kaplaix.toml" && c.condition === "invalid_fields").raise.details;

const KAPLAIX_ID = /^req_[0-9A-Za-z]{24}$/;

function expressApp(pkg, routes, options = {}) {
  const { requestId, notFound, errorHandler } = pkg.express;
  const app = express();
  app.use(requestId(options.requestId));
  app.use(express.json({ limit: 64 }));
  routes(app);
  app.use(notFound());
  app.use(errorHandler({ log: options.log ?? (() => {}) }));
  return app;
}

describe("Express with the Kaplaix package", () => {
  let pkg;
  let server;
  let untrusting;
  const logged = [];
  before(async () => {
    pkg = await load("kaplaix.toml");
    const { KaplaixError, TooManyCampaignsError } = pkg.root;
    const routes = (app) => {
      app.post("/v1/campaigns", (req, res) => {
        schema.parse(req.body);
        res.json({ ok: true });
      });
      app.get("/v1/ok", (req, res) => res.json({ ok: true, requestId: res.locals.requestId }));
      app.get("/v1/status/:s", (req) => {
        const s = Number(req.params.s);
        throw s === 503 ? createError(503, { headers: { "retry-after": "7" } }) : createError(s);
      });
      app.get("/v1/boom", () => {
        throw new Error("database password is hunter2");
      });
      app.get("/v1/async", async () => {
        await new Promise((r) => setTimeout(r, 1));
        throw KaplaixError.fromCode("CONFLICT", { args: { resource: "Agent" } });
      });
      app.get("/v1/typed", () => {
        throw KaplaixError.fromCode("NOT_FOUND", { args: { resource: "Agent", id: "agent_1" }, headers: { "x-extra": "1" } });
      });
      void TooManyCampaignsError;
    };
    server = await listen(expressApp(pkg, routes, { log: (err, ctx) => logged.push({ err, ctx }) }));
    untrusting = await listen(expressApp(pkg, routes, { requestId: { trustRequestId: false } }));
  });
  after(async () => {
    await server?.close();
    await untrusting?.close();
  });

  test("a real Zod schema failure gives the table's details", async () => {
    const res = await fetch(`${server.url}/v1/campaigns`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "req_zod1" },
      body: JSON.stringify(invalid),
    });
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(JSON.stringify(body), JSON.stringify({ error: { code: "VALIDATION_ERROR", message: "Invalid request body", details: tableDetails } }));
  });

  test("a body that is not JSON is malformed_body, with body-parser's reason", async () => {
    const res = await fetch(`${server.url}/v1/campaigns`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"name": ',
    });
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.deepEqual(Object.keys(body.error), ["code", "message"]);
    assert.equal(body.error.code, "VALIDATION_ERROR");
    assert.match(body.error.message, /^Malformed request body: .*JSON/);
  });

  test("a body over body-parser's limit is body_too_large", async () => {
    const res = await fetch(`${server.url}/v1/campaigns`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "x".repeat(200) }),
    });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: { code: "VALIDATION_ERROR", message: "Request body exceeds 64 bytes" } });
  });

  test("http-errors' status errors keep their status, with the catalog's code for it", async () => {
    let res = await fetch(`${server.url}/v1/status/503`);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "7");
    assert.deepEqual(await res.json(), { error: { code: "SERVICE_UNAVAILABLE", message: "Service unavailable, retry after 7 seconds" } });

    res = await fetch(`${server.url}/v1/status/404`);
    assert.equal(res.status, 404);
    const notFound = await res.json();
    assert.equal(notFound.error.code, "NOT_FOUND");
    // NOT_FOUND's message needs {resource} and {id}, which a bare 404 does not give: its description.
    assert.equal(notFound.error.message, pkg.root.CATALOG.codes.NOT_FOUND.description);
    assert.notEqual(notFound.error.message, pkg.root.CATALOG.codes.NOT_FOUND.message);

    // A status the catalog has no code for: a 4xx is the malformed_body code, keeping 418.
    res = await fetch(`${server.url}/v1/status/418`);
    assert.equal(res.status, 418);
    assert.equal((await res.json()).error.code, "VALIDATION_ERROR");
  });

  test("an exception is logged with the request id, and its text never sent", async () => {
    const res = await fetch(`${server.url}/v1/boom`, { headers: { "x-request-id": "req_boom1" } });
    assert.equal(res.status, 500);
    const text = await res.text();
    assert.equal(text, '{"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}');
    assert.doesNotMatch(text, /hunter2/);
    const entry = logged.find((l) => l.ctx.requestId === "req_boom1");
    assert.ok(entry);
    assert.match(entry.err.message, /hunter2/);
    assert.equal(entry.ctx.method, "GET");
    assert.equal(entry.ctx.path, "/v1/boom");
  });

  test("a rejected promise reaches the error handler (Express 5)", async () => {
    const res = await fetch(`${server.url}/v1/async`);
    assert.equal(res.status, 409);
    assert.deepEqual(await res.json(), { error: { code: "CONFLICT", message: "Agent already exists" } });
  });

  test("extra headers are sent, names in lower case", async () => {
    const res = await fetch(`${server.url}/v1/typed`);
    assert.equal(res.status, 404);
    assert.equal(res.headers.get("x-extra"), "1");
  });

  test("success responses carry the request id", async () => {
    let res = await fetch(`${server.url}/v1/ok`, { headers: { "x-request-id": "req_fromgateway1" } });
    assert.equal(res.headers.get("x-request-id"), "req_fromgateway1");
    assert.deepEqual(await res.json(), { ok: true, requestId: "req_fromgateway1" });
    res = await fetch(`${server.url}/v1/ok`);
    const made = res.headers.get("x-request-id");
    assert.match(made, KAPLAIX_ID);
    assert.equal((await res.json()).requestId, made);
  });

  test("unsafe inbound request ids are replaced", async () => {
    for (const bad of ["bad id!", "a".repeat(129), "req_<script>"]) {
      const res = await fetch(`${server.url}/v1/nowhere`, { headers: { "x-request-id": bad } });
      assert.equal(res.status, 404);
      const id = res.headers.get("x-request-id");
      assert.match(id, KAPLAIX_ID, `replaced ${JSON.stringify(bad)}`);
      await res.arrayBuffer();
    }
  });

  test("with trustRequestId: false, every request gets a new id", async () => {
    const res = await fetch(`${untrusting.url}/v1/ok`, { headers: { "x-request-id": "req_fromgateway2" } });
    const id = res.headers.get("x-request-id");
    assert.notEqual(id, "req_fromgateway2");
    assert.match(id, KAPLAIX_ID);
    await res.arrayBuffer();
  });

  test("Accept picks problem+json only when preferred", async () => {
    const path = "/v1/nowhere/else";
    let res = await fetch(server.url + path, { headers: { accept: "application/json, application/problem+json;q=0.5", "x-request-id": "req_acc1" } });
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.deepEqual(await res.json(), { error: { code: "NOT_FOUND", message: `Route GET ${path} not found` } });
    res = await fetch(server.url + path + "?q=1", { headers: { accept: "application/problem+json", "x-request-id": "req_acc2" } });
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    assert.equal(
      await res.text(),
      JSON.stringify({
        type: "urn:problem-type:NOT_FOUND",
        title: "Not found",
        status: 404,
        detail: `Route GET ${path} not found`,
        instance: path,
        code: "NOT_FOUND",
        request_id: "req_acc2",
      }),
    );
  });
});

describe("Hono with the Kaplaix package", () => {
  let pkg;
  let app;
  const logged = [];
  before(async () => {
    pkg = await load("kaplaix.toml");
    const { requestId, notFound, onError } = pkg.hono;
    app = new Hono();
    app.use(requestId());
    app.post("/v1/campaigns", async (c) => c.json(schema.parse(await c.req.json())));
    app.get("/v1/ok", (c) => c.json({ ok: true, requestId: c.get("requestId") }));
    app.get("/v1/raw", () => new Response("plain"));
    app.get("/v1/http/:s", (c) => {
      throw new HTTPException(Number(c.req.param("s")), { message: "nope" });
    });
    app.get("/v1/boom", () => {
      throw new Error("secret stack");
    });
    app.notFound(notFound());
    app.onError(onError({ log: (err, ctx) => logged.push({ err, ctx }) }));
  });

  test("a real Zod schema failure gives the table's details", async () => {
    const res = await app.request("/v1/campaigns", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(invalid),
    });
    assert.equal(res.status, 400);
    assert.deepEqual((await res.json()).error.details, tableDetails);
  });

  test("HTTPException keeps its status, with the catalog's code for it", async () => {
    const res = await app.request("/v1/http/429");
    assert.equal(res.status, 429);
    assert.equal((await res.json()).error.code, "RATE_LIMITED");
  });

  test("an exception is logged and not sent", async () => {
    const res = await app.request("/v1/boom", { headers: { "x-request-id": "req_hboom" } });
    assert.equal(res.status, 500);
    assert.equal(await res.text(), '{"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}');
    assert.equal(res.headers.get("x-request-id"), "req_hboom");
    assert.equal(logged.at(-1).ctx.requestId, "req_hboom");
  });

  test("success responses carry the request id, also a Response made by hand", async () => {
    let res = await app.request("/v1/ok", { headers: { "x-request-id": "req_h1" } });
    assert.equal(res.headers.get("x-request-id"), "req_h1");
    assert.deepEqual(await res.json(), { ok: true, requestId: "req_h1" });
    res = await app.request("/v1/raw", { headers: { "x-request-id": "bad id" } });
    assert.match(res.headers.get("x-request-id"), KAPLAIX_ID);
    assert.equal(await res.text(), "plain");
  });
});

describe("the renderer and the classes", () => {
  let kaplaix;
  let errata;
  before(async () => {
    kaplaix = await load("kaplaix.toml");
    errata = await load("default.toml");
  });

  test("numbers print as errata-core prints them", () => {
    const { render, TooManyCampaignsError } = errata.root;
    const e = new TooManyCampaignsError({ max: 2.5, provided: 20 });
    assert.equal(e.message, "Maximum of 2.5 campaign IDs allowed per report. You provided 20.");
    assert.equal(e.status, 400);
    assert.equal(e.code, "too_many_campaigns");
    assert.equal(e.name, "TooManyCampaignsError");
    assert.equal(TooManyCampaignsError.code, "too_many_campaigns");
    const out = render({ code: "too_many_campaigns", args: { max: true, provided: null } });
    assert.equal(out.body.error.message, "Maximum of true campaign IDs allowed per report. You provided null.");
  });

  test("missing arguments stay visible; literal braces are braces", () => {
    const { fillTemplate, templateNames } = errata.root;
    assert.equal(fillTemplate("{{a}} {b} {c}", (n) => (n === "b" ? "B" : undefined)), "{a} B {c}");
    assert.deepEqual(templateNames("x {a} {{b}} {c.d}"), ["a", "c.d"]);
    assert.equal(fillTemplate("broken {", () => "x"), "broken {");
  });

  test("formatFromAccept follows errata-core", () => {
    const { formatFromAccept } = errata.root;
    assert.equal(formatFromAccept(undefined), "envelope");
    assert.equal(formatFromAccept("*/*"), "envelope");
    assert.equal(formatFromAccept("application/problem+json"), "problem");
    assert.equal(formatFromAccept("application/json, application/problem+json;q=0.5"), "envelope");
    assert.equal(formatFromAccept("application/problem+json, application/json;q=0.9"), "problem");
    assert.equal(formatFromAccept("application/problem+json;q=0"), "envelope");
    assert.equal(formatFromAccept("Application/Problem+JSON; q=1"), "problem");
  });

  test("request ids: the catalog's format, safe tokens", () => {
    const { newRequestId, isSafeToken } = kaplaix.root;
    const a = newRequestId();
    assert.match(a, KAPLAIX_ID);
    assert.notEqual(a, newRequestId());
    assert.ok(isSafeToken("req_1a2b3c4d5e6f"));
    assert.ok(!isSafeToken(""));
    assert.ok(!isSafeToken("a b"));
    assert.ok(!isSafeToken("a\r\nx-evil: 1"));
    assert.ok(!isSafeToken("a".repeat(129)));
  });

  test("an unknown code renders as the internal error, without param, details or retry-after", () => {
    const { render, KaplaixError } = kaplaix.root;
    const e = new KaplaixError("NO_SUCH_CODE", { param: "p", retryAfter: 3, details: [{ path: ["a"], message: "m", code: "c" }] });
    const out = render(e, { requestId: "req_u" });
    assert.equal(out.status, 500);
    assert.deepEqual(out.headers, [["content-type", "application/json"], ["x-request-id", "req_u"]]);
    assert.deepEqual(out.body, { error: { code: "INTERNAL_ERROR", message: "Internal server error" } });
  });

  test("problem+json: doc_url type, param, retry-after of at least 1, errors with pointers", () => {
    const { KaplaixError } = errata.root;
    void KaplaixError;
    const { ErrataError } = errata.root;
    const e = ErrataError.fromCondition("invalid_fields", {
      param: "items",
      retryAfter: 0.2,
      details: [{ path: ["items", 3, "a/b~c"], message: "Required", code: "invalid_type" }],
    });
    const out = e.render({ format: "problem", requestId: "req_p", instance: "/v1/x" });
    assert.deepEqual(out.headers, [["content-type", "application/problem+json"], ["x-request-id", "req_p"], ["retry-after", "1"]]);
    assert.equal(
      JSON.stringify(out.body),
      JSON.stringify({
        type: "/errors#validation_error",
        title: "Validation failed",
        status: 422,
        detail: "One or more fields failed validation.",
        instance: "/v1/x",
        code: "validation_error",
        param: "items",
        request_id: "req_p",
        errors: [{ detail: "Required", pointer: "#/items/3/a~1b~0c", code: "invalid_type" }],
      }),
    );
  });

  test("the brand, not instanceof, recognizes the package's errors", () => {
    const { isKaplaixError, KaplaixError, ERROR_CLASSES } = kaplaix.root;
    const e = KaplaixError.fromCode("RATE_LIMITED", { retryAfter: 5 });
    assert.ok(isKaplaixError(e));
    assert.ok(e instanceof ERROR_CLASSES.RATE_LIMITED);
    assert.ok(!isKaplaixError(new Error("x")));
    assert.ok(!isKaplaixError({ code: "RATE_LIMITED" }));
    // Another copy of the package marks its errors with the same registered symbol.
    const foreign = Object.assign(new Error("x"), { [Symbol.for("@kaplaix/server:error")]: true });
    assert.ok(isKaplaixError(foreign));
    // Another catalog's package is another brand.
    assert.ok(!errata.root.isErrataError(e));
  });
});
