// What the suites share: the case table, the generated package of each catalog, and an Express
// app listening on a loopback port.
import { readFileSync } from "node:fs";
import express from "express";

const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this suite through cargo test -p errata --test server_typescript`);
  return v;
};

/** The shared case table's cases. */
export const CASES = JSON.parse(readFileSync(need("ERRATA_SERVER_CASES"), "utf8")).cases;

/** The npm package generated for each catalog file (`kaplaix.toml` → `@kaplaix/server`). */
export const PACKAGES = JSON.parse(need("ERRATA_SERVER_PACKAGES"));

/** A catalog's package: the root module and its two adapters. */
export async function load(catalog) {
  const name = PACKAGES[catalog];
  if (name === undefined) throw new Error(`no package generated for ${catalog}`);
  const [root, ex, hono] = await Promise.all([import(name), import(`${name}/express`), import(`${name}/hono`)]);
  return { name, root, express: ex, hono };
}

/** Starts an Express app on 127.0.0.1 and an ephemeral port; `close()` stops it. */
export async function listen(app) {
  const server = await new Promise((resolve, reject) => {
    const s = app.listen(0, "127.0.0.1", (err) => (err ? reject(err) : resolve(s)));
  });
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

/** The headers of a fetch `Response` as a plain object. */
export function headersOf(res) {
  return Object.fromEntries(res.headers.entries());
}

export { express };
