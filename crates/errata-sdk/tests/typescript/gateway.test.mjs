// The generated Kaplaix SDK against a real `errata serve` with the Kaplaix catalog in front of a
// fault-injecting upstream: every error class, retries with exact attempt counts, Retry-After
// waits, timeouts, connection refused, one Idempotency-Key per POST, the gateway's request id.

import assert from "node:assert/strict";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

import * as sdk from "@kaplaix/sdk-ts";
import {
  CODES,
  ERROR_CLASSES,
  Kaplaix,
  KaplaixError,
  KaplaixNetworkError,
  KaplaixTimeoutError,
  isKaplaixError,
  isKaplaixNetworkError,
  isKaplaixTimeoutError,
} from "@kaplaix/sdk-ts";
import { attempts, CLOSED, faultId, KEY, LIMITED_KEY, make, rejection, UPSTREAM } from "./helpers.mjs";

const REQUEST_ID = /^req_[0-9A-Za-z]{24}$/;

test("a success resolves to the decoded JSON", async () => {
  const { client } = make();
  const got = await client.post("/v1/echo", { body: { eventId: "e1" } });
  assert.equal(got.ok, true);
  assert.equal(got.method, "POST");
  assert.equal(got.body, '{"eventId":"e1"}');
  assert.match(got.idempotency_key, /^[0-9a-f-]{36}$/);
  assert.equal((await client.get("/v1/echo")).idempotency_key, null);
});

for (const [code, info] of Object.entries(CODES)) {
  test(`${code} rejects with its class`, async () => {
    const { client } = make({ maxRetries: 0 });
    const id = faultId();
    const e = await rejection(client.get(`/v1/fault/${id}?status=${info.status}&code=${code}`));
    assert.equal(Object.getPrototypeOf(e), ERROR_CLASSES[code].prototype);
    assert.ok(e instanceof KaplaixError && isKaplaixError(e) && !isKaplaixNetworkError(e));
    assert.equal(e.name, ERROR_CLASSES[code].name);
    assert.deepEqual([e.status, e.code, e.type, e.retryable, e.inCatalog], [info.status, code, info.type, info.retryable, true]);
    assert.equal(e.message, `injected ${code}`);
    // Kaplaix's envelope has no request id: it is the gateway's header.
    assert.equal(e.requestId, e.headers["x-request-id"]);
    assert.match(e.requestId, REQUEST_ID);
    assert.equal(String(e), `${e.name}: ${code}: injected ${code} (HTTP ${info.status}, request_id ${e.requestId})`);
    assert.ok(e.stack.startsWith(`${e.name}: ${code}: injected ${code}`));
    assert.equal(e.attempts, 1);
    assert.equal((await attempts(id)).length, 1);
  });
}

test("validation details arrive", async () => {
  const { client } = make();
  const e = await rejection(client.post(`/v1/fault/${faultId()}?status=400&code=VALIDATION_ERROR`, { body: {} }));
  assert.ok(e instanceof sdk.ValidationError);
  assert.deepEqual(e.details, [{ path: ["eventId"], message: "Invalid uuid", code: "invalid_string" }]);
});

test("the gateway's own errors are classes too", async () => {
  const missing = await rejection(make({ apiKey: undefined }).client.get("/v1/echo"));
  assert.ok(missing instanceof sdk.AuthenticationFailedError);
  assert.equal(missing.message, "Missing API key");
  const unknown = await rejection(make({ apiKey: `kplx_live_${"x".repeat(32)}` }).client.get("/v1/echo"));
  assert.ok(unknown instanceof sdk.AuthenticationFailedError);
});

test("retryable codes are retried with exact attempts and backoff", async () => {
  const { client, waits } = make();
  const id = faultId();
  assert.deepEqual(await client.get(`/v1/fault/${id}?fail=2&status=503&code=SERVICE_UNAVAILABLE`), { ok: true, attempts: 3 });
  assert.deepEqual(waits, [500, 1000]);
  assert.equal((await attempts(id)).length, 3);
});

test("retries end with the last error", async () => {
  const { client, waits } = make({ maxRetries: 3 });
  const id = faultId();
  const e = await rejection(client.get(`/v1/fault/${id}?status=500&code=INTERNAL_ERROR`));
  assert.ok(e instanceof sdk.InternalError);
  assert.equal(e.attempts, 4);
  assert.deepEqual(waits, [500, 1000, 2000]);
  assert.equal((await attempts(id)).length, 4);
});

test("codes the catalog does not mark retryable are not retried", async () => {
  const { client, waits } = make();
  const id = faultId();
  const e = await rejection(client.put(`/v1/fault/${id}?fail=1&status=409&code=CONFLICT`, { body: {} }));
  assert.ok(e instanceof sdk.ConflictError);
  assert.deepEqual(waits, []);
  assert.equal((await attempts(id)).length, 1);
});

test("Retry-After is waited exactly", async () => {
  const { client, waits } = make();
  await client.get(`/v1/fault/${faultId()}?fail=1&status=429&code=RATE_LIMITED&retry_after=2`);
  await client.get(`/v1/fault/${faultId()}?fail=1&status=503&code=SERVICE_UNAVAILABLE&retry_after=9&retry_after_ms=150`);
  assert.deepEqual(waits, [2000, 150]);
});

test("a Retry-After above the ceiling rejects with the wait", async () => {
  const { client, waits } = make();
  const id = faultId();
  const e = await rejection(client.get(`/v1/fault/${id}?status=429&code=RATE_LIMITED&retry_after=120`));
  assert.ok(e instanceof sdk.RateLimitedError);
  assert.equal(e.retryAfter, 120000);
  assert.deepEqual(waits, []);
  assert.equal((await attempts(id)).length, 1);
});

test("the gateway's rate limit", async () => {
  const { client, waits } = make({ apiKey: LIMITED_KEY, maxRetryAfter: 500 });
  await client.get("/v1/echo");
  const e = await rejection(client.get("/v1/echo"));
  assert.ok(e instanceof sdk.RateLimitedError && e.retryable);
  assert.ok(e.retryAfter >= 1000 && e.retryAfter <= 60000, String(e.retryAfter));
  assert.equal(e.requestId, e.headers["x-request-id"]);
  assert.deepEqual(waits, []);
});

test("an HTML 502 is normalized by the gateway", async () => {
  const { client, waits } = make();
  assert.equal((await client.get(`/v1/fault/${faultId()}?fail=1&status=502&body=html`)).ok, true);
  assert.deepEqual(waits, [500]);
  const e = await rejection(make({ maxRetries: 0 }).client.get(`/v1/fault/${faultId()}?status=502&body=html`));
  assert.ok(e instanceof sdk.BadGatewayError);
  assert.equal(e.code, "BAD_GATEWAY");
});

test("bodies outside the catalog never crash the SDK", async () => {
  const direct = new Kaplaix({ baseURL: UPSTREAM, maxRetries: 0 });
  const html = await rejection(direct.get(`/v1/fault/${faultId()}?status=502&body=html`));
  assert.ok(html instanceof sdk.BadGatewayError);
  assert.equal(html.code, null);
  assert.ok(html.body.includes("<h1>502</h1>"));
  assert.ok(String(html).includes("not an error of the API's catalog"));
  const teapot = await rejection(direct.get(`/v1/fault/${faultId()}?status=418&body=text`));
  assert.equal(Object.getPrototypeOf(teapot), KaplaixError.prototype);
  assert.equal(teapot.retryable, false);
  const newer = await rejection(direct.get(`/v1/fault/${faultId()}?status=409&code=DUPLICATE_EVENT`));
  assert.ok(newer instanceof sdk.ConflictError);
  assert.equal(newer.code, "DUPLICATE_EVENT");
  assert.equal(newer.inCatalog, false);
});

test("a timed-out attempt is retried", async () => {
  const { client, waits } = make({ timeout: 300 });
  assert.equal((await client.get(`/v1/fault/${faultId()}?fail=1&status=200&delay_ms=800`)).ok, true);
  assert.deepEqual(waits, [500]);
  const e = await rejection(make({ timeout: 300, maxRetries: 0 }).client.get(`/v1/fault/${faultId()}?fail=1&delay_ms=800`));
  assert.ok(e instanceof KaplaixTimeoutError && e instanceof KaplaixNetworkError);
  assert.ok(isKaplaixTimeoutError(e) && isKaplaixNetworkError(e) && !isKaplaixError(e));
  assert.equal(e.name, "KaplaixTimeoutError");
  assert.equal(e.deadline, false);
  assert.equal(e.timeout, 300);
  assert.ok(e.cause !== undefined);
  assert.match(e.clientRequestId, REQUEST_ID);
});

test("the deadline bounds the whole call", async () => {
  const e = await rejection(make({ timeout: 5000, deadline: 400 }).client.get(`/v1/fault/${faultId()}?fail=1&delay_ms=1000`));
  assert.ok(e instanceof KaplaixTimeoutError);
  assert.equal(e.deadline, true);
  assert.equal(e.attempts, 1);
});

test("the gateway's upstream timeout", async () => {
  const e = await rejection(make({ maxRetries: 0 }).client.get(`/v1/fault/${faultId()}?fail=1&delay_ms=2500`));
  assert.ok(e instanceof sdk.GatewayTimeoutError && e.retryable);
});

test("connection refused is a network error, retried", async () => {
  const { client, waits } = make({ baseURL: CLOSED });
  const e = await rejection(client.get("/v1/echo"));
  assert.equal(Object.getPrototypeOf(e), KaplaixNetworkError.prototype);
  assert.equal(e.name, "KaplaixNetworkError");
  assert.ok(e.cause instanceof Error);
  assert.equal(e.attempts, 3);
  assert.deepEqual(waits, [500, 1000]);
});

test("a POST is retried under one Idempotency-Key", async () => {
  const id = faultId();
  assert.equal((await make().client.post(`/v1/fault/${id}?fail=2&status=503&code=SERVICE_UNAVAILABLE`, { body: { a: 1 } })).ok, true);
  const seen = await attempts(id);
  const keys = new Set(seen.map((a) => a.idempotency_key));
  assert.equal(seen.length, 3);
  assert.equal(keys.size, 1);
  assert.ok(!keys.has(null));
  const other = faultId();
  const e = await rejection(make({ idempotencyKeys: false }).client.post(`/v1/fault/${other}?fail=2&status=503&code=SERVICE_UNAVAILABLE`, { body: {} }));
  assert.ok(e instanceof sdk.ServiceUnavailableError);
  assert.equal((await attempts(other)).length, 1);
});

test("the brand works across copies of the package", async () => {
  const e = await rejection(make({ maxRetries: 0 }).client.get(`/v1/fault/${faultId()}?status=404&code=NOT_FOUND`));
  // A second copy of the package (another path, so another module instance).
  const copy = await import(pathToFileURL(`${process.env.ERRATA_SDK_COPY}/index.js`).href);
  assert.notEqual(copy.KaplaixError, KaplaixError);
  assert.equal(e instanceof copy.KaplaixError, false);
  assert.equal(copy.isKaplaixError(e), true);
  assert.equal(copy.isKaplaixNetworkError(e), false);
});

test("the key never shows in the client or in an error", async () => {
  const { client } = make({ maxRetries: 0 });
  assert.ok(!JSON.stringify(client).includes(KEY));
  const e = await rejection(client.get(`/v1/fault/${faultId()}?status=500&code=INTERNAL_ERROR`));
  assert.equal(e.requestHeaders.Authorization, "<redacted>");
  assert.equal(e.requestHeaders["x-request-id"], e.clientRequestId);
  assert.ok(!JSON.stringify(e).includes(KEY));
});
