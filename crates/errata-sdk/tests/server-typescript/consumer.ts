// A user's file: type-checked with `tsc --noEmit --strict` against the generated declarations,
// with Express's and Hono's own types.
import express from "express";
import { Hono } from "hono";
import {
  CATALOG,
  ERROR_CLASSES,
  KaplaixError,
  NotFoundError,
  RateLimitedError,
  ValidationError,
  classify,
  formatFromAccept,
  isKaplaixError,
  render,
} from "@kaplaix/server";
import type { Detail, KaplaixErrorCode, Rendered, Condition } from "@kaplaix/server";
import * as ex from "@kaplaix/server/express";
import * as hono from "@kaplaix/server/hono";

// Typed message arguments: required ones required, by the type of the catalog's example.
const notFound: NotFoundError = new NotFoundError({ resource: "Agent", id: "agent_1" });
const sameCode: "NOT_FOUND" = notFound.code;
const resource: string = notFound.args.resource;
const limited = new RateLimitedError({ retryAfter: 12, headers: { "x-limit": "100" } });
const details: Detail[] = [{ path: ["items", 0, "sku"], message: "Required", code: "invalid_type" }];
const invalid = new ValidationError({ details, param: "items", variant: "malformed_body", reason: "bad" });
const byName: NotFoundError = KaplaixError.fromCode("NOT_FOUND", { args: { resource: "Agent", id: "a" } });
const noArgs: RateLimitedError = KaplaixError.fromCode("RATE_LIMITED");
const anyCode: KaplaixError = KaplaixError.fromCondition("route_not_found", { args: { method: "GET", path: "/x" } });
const byStatus: KaplaixError = KaplaixError.fromStatus(503);
const condition: Condition = "invalid_fields";
const code: KaplaixErrorCode = RateLimitedError.code;
const status: 429 = RateLimitedError.status;
const cls: typeof NotFoundError = ERROR_CLASSES.NOT_FOUND;

// @ts-expect-error: a required argument is missing
new NotFoundError({ resource: "Agent" });
// @ts-expect-error: `id` is a string
new NotFoundError({ resource: "Agent", id: 42 });
// @ts-expect-error: not an argument of NOT_FOUND
new NotFoundError({ resource: "Agent", id: "a", budget: 1 });
// @ts-expect-error: not a variant of NOT_FOUND
new NotFoundError({ resource: "Agent", id: "a", variant: "nope" });
// @ts-expect-error: NOT_FOUND needs its arguments by name
KaplaixError.fromCode("NOT_FOUND");
// @ts-expect-error: `resource` is a string
KaplaixError.fromCode("NOT_FOUND", { args: { resource: 1, id: "a" } });
// @ts-expect-error: not a code of the catalog
KaplaixError.fromCode("NO_SUCH_CODE");
// @ts-expect-error: not a condition
KaplaixError.fromCondition("no_such_condition");

export function handle(e: unknown): Rendered {
  if (isKaplaixError(e)) {
    const s: number = e.status;
    const r: boolean = e.retryable;
    const wait: number | null = e.retryAfter;
    const d: readonly Detail[] = e.details;
    console.log(s, r, wait, d, e.param, e.variant, e.type, e.title, e.origin, e.condition, e.message);
    return e.render({ format: formatFromAccept("application/problem+json"), requestId: "req_1", instance: "/v1/x" });
  }
  const { error, unexpected } = classify(e);
  if (unexpected) console.error(e);
  return render(error, { requestId: "req_1" });
}

// Express: the middleware fits Express's own types.
const app = express();
app.use(ex.requestId());
app.use(express.json());
app.get("/v1/agents/:id", (req, res) => {
  const id: string = ex.getRequestId(req, res);
  if (req.params.id === "none") throw new NotFoundError({ resource: "Agent", id: req.params.id });
  res.json({ id });
});
app.use(ex.notFound());
app.use(ex.errorHandler({ log: (err, ctx) => console.error(ctx.requestId, ctx.method, ctx.path, ctx.error.code, err) }));
app.use(ex.errorHandler({ trustRequestId: false }));

// Hono: the handlers fit Hono's own types.
const h = new Hono();
h.use(hono.requestId());
h.get("/v1/agents/:id", (c) => {
  throw new NotFoundError({ resource: "Agent", id: c.req.param("id") });
});
h.notFound(hono.notFound());
h.onError(hono.onError({ log: (err, ctx) => console.error(ctx.requestId, err) }));
const response: Response = limited.toResponse();

export { sameCode, resource, invalid, byName, noArgs, anyCode, byStatus, condition, code, status, cls, response, CATALOG, app, h };
