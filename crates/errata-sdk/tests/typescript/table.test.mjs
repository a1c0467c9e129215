// The shared table of classification and retry cases, run against the generated SDK.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { ERROR_CLASSES, KaplaixError, KaplaixTimeoutError } from "@kaplaix/sdk-ts";
import { pathToFileURL } from "node:url";
import { CASES } from "./helpers.mjs";

// The internals are not exported by the package: load them from its folder (the same files, so
// the same module instances as "@kaplaix/sdk-ts").
const internal = (file) => import(pathToFileURL(`${process.env.ERRATA_SDK_DIR}/${file}`).href);
const { errorFromResponse } = await internal("errors.js");
const { decide, DEFAULT_MAX_RETRIES, INITIAL_RETRY_DELAY, MAX_RETRY_AFTER, MAX_RETRY_DELAY } = await internal("retry.js");

const table = JSON.parse(readFileSync(CASES, "utf8"));
const policy = {
  maxRetries: DEFAULT_MAX_RETRIES,
  initialDelay: INITIAL_RETRY_DELAY,
  maxDelay: MAX_RETRY_DELAY,
  maxRetryAfter: MAX_RETRY_AFTER,
  deadline: null,
};
const close = (a, b) => Math.abs(a - b) < 1e-6;

test("the table is for this catalog", () => {
  assert.equal(table.catalog, "catalogs/kaplaix.toml");
  assert.ok(table.cases.length >= 30);
});

for (const c of table.cases) {
  test(c.name, () => {
    const exp = c.expect;
    let err;
    if (c.transport) {
      err = new KaplaixTimeoutError("timed out", { timeout: 30000 });
    } else {
      err = errorFromResponse(c.status, c.headers, c.body, { now: table.now * 1000 });
      if ("class" in exp) {
        const want = exp.class === null ? KaplaixError : ERROR_CLASSES[exp.class];
        assert.equal(Object.getPrototypeOf(err), want.prototype);
      }
      const fields = { code: "code", message: "message", request_id: "requestId", details: "details", retryable: "retryable" };
      for (const [field, prop] of Object.entries(fields)) {
        if (field in exp) assert.deepEqual(err[prop], exp[field], field);
      }
      if ("retry_after_ms" in exp) {
        if (exp.retry_after_ms === null) assert.equal(err.retryAfter, null);
        else assert.ok(close(err.retryAfter, exp.retry_after_ms), `retryAfter ${err.retryAfter}`);
      }
      assert.ok(String(err).length > 0);
    }
    const left = c.deadline_left_ms;
    const { delay, reason } = decide(err, {
      policy,
      attempt: c.attempt,
      repeatable: c.method !== "POST" && c.method !== "PATCH",
      now: 0,
      deadlineAt: left === undefined ? null : left,
      jitter: (cap) => cap,
    });
    assert.equal(delay !== null, exp.retry, reason);
    if (exp.retry) assert.ok(close(delay, exp.delay_ms), `waited ${delay}, not ${exp.delay_ms}`);
  });
}
