// The shared case table (crates/errata-sdk/cases/server.json), run on an Express app and a Hono
// app built on each catalog's generated package: for every case the failure happens the way a
// framework meets it, and the answer must be the case's status, headers and body, member order
// included.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Hono } from "hono";
import { ZodError } from "zod";
import { CASES, express, headersOf, listen, load } from "./helpers.mjs";

/** Throws what the case says, the way an application would. */
function raise(pkg, c) {
  if (c.condition === "invalid_fields") throw new ZodError(c.zod);
  if (c.condition === "internal_error") throw new TypeError("Cannot read properties of undefined (reading 'budget')");
  const r = c.raise;
  const { ERROR_CLASSES } = pkg.root;
  const cls = ERROR_CLASSES[r.code];
  assert.ok(cls, `the package has a class for ${r.code}`);
  // Identifiers as constructor options, as an application writes them; others under `args`.
  const options = {};
  const args = {};
  for (const [k, v] of Object.entries(r.args ?? {})) {
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) options[k] = v;
    else args[k] = v;
  }
  if (Object.keys(args).length > 0) options.args = args;
  if (r.variant !== undefined) options.variant = r.variant;
  if (r.param !== undefined) options.param = r.param;
  if (r.details !== undefined) options.details = r.details;
  if (r.retry_after !== undefined) options.retryAfter = r.retry_after;
  throw new cls(options);
}

function requestHeaders(pkg, c) {
  const h = { [pkg.root.REQUEST_ID_HEADER]: c.request_id };
  if (c.accept !== undefined) h.accept = c.accept;
  return h;
}

async function check(c, res) {
  const text = await res.text();
  assert.equal(res.status, c.status, `status of ${c.name}: ${text}`);
  const headers = headersOf(res);
  for (const [name, value] of Object.entries(c.headers)) {
    assert.equal(headers[name], value, `header ${name} of ${c.name}`);
  }
  if (!("retry-after" in c.headers)) assert.equal(headers["retry-after"], undefined, `no retry-after in ${c.name}`);
  // The same members in the same order: compare the compact serializations.
  assert.equal(JSON.stringify(JSON.parse(text)), JSON.stringify(c.body), `body of ${c.name}`);
  if (c.seed !== undefined) assert.deepEqual(JSON.parse(text), c.seed, `seed body of ${c.name}`);
}

const catalogs = [...new Set(CASES.map((c) => c.catalog))];

test("the table covers every catalog and every way a framework meets a failure", () => {
  assert.equal(catalogs.length, 5);
  const conditions = new Set(CASES.map((c) => c.condition ?? "raise"));
  assert.deepEqual([...conditions].sort(), ["internal_error", "invalid_fields", "raise", "route_not_found"]);
});

for (const catalog of catalogs) {
  const cases = CASES.filter((c) => c.catalog === catalog);

  describe(`Express, ${catalog}`, () => {
    let server;
    let pkg;
    const logged = [];
    before(async () => {
      pkg = await load(catalog);
      const { requestId, notFound, errorHandler } = pkg.express;
      const app = express();
      app.use(requestId());
      for (const c of cases.filter((c) => c.condition !== "route_not_found")) {
        app.get(c.path, () => raise(pkg, c));
      }
      app.use(notFound());
      app.use(errorHandler({ log: (err, ctx) => logged.push({ err, ctx }) }));
      server = await listen(app);
    });
    after(() => server?.close());

    for (const c of cases) {
      test(c.name, async () => {
        const res = await fetch(server.url + c.path, { headers: requestHeaders(pkg, c) });
        await check(c, res);
        if (c.condition === "internal_error") {
          const entry = logged.find((l) => l.ctx.requestId === c.request_id);
          assert.ok(entry, "the exception was logged with the request id");
          assert.equal(entry.ctx.path, c.path);
        }
      });
    }
  });

  describe(`Hono, ${catalog}`, () => {
    let app;
    let pkg;
    before(async () => {
      pkg = await load(catalog);
      const { requestId, notFound, onError } = pkg.hono;
      app = new Hono();
      app.use(requestId());
      for (const c of cases.filter((c) => c.condition !== "route_not_found")) {
        app.get(c.path, () => raise(pkg, c));
      }
      app.notFound(notFound());
      app.onError(onError({ log: () => {} }));
    });

    for (const c of cases) {
      test(c.name, async () => {
        const res = await app.request(c.path, { headers: requestHeaders(pkg, c) });
        await check(c, res);
      });
    }
  });
}
