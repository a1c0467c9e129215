// A user's file: type-checked with `tsc --noEmit --strict` against the generated declarations.
import {
  KaplaixError, // API returned an error status
  KaplaixNetworkError, // Network-level failure
  KaplaixTimeoutError, // Request timed out
} from "@kaplaix/sdk-ts";
import Default, { Kaplaix, RateLimitedError, isKaplaixError, ERROR_CLASSES } from "@kaplaix/sdk-ts";
import type { KaplaixErrorCode, ClientOptions, RequestOptions } from "@kaplaix/sdk-ts";

interface Agent {
  id: string;
  name: string;
}

const options: ClientOptions = { apiKey: "kplx_test", baseURL: "https://api.kaplaix.test", timeout: 10_000, maxRetries: 3 };
const client: Kaplaix = new Default(options);
const request: RequestOptions = { body: { name: "a" }, headers: { "x-trace": "1" } };

export async function createAgent(): Promise<Agent | null> {
  try {
    return await client.post<Agent>("/v1/agents", request);
  } catch (e: unknown) {
    if (isKaplaixError(e)) {
      const code: KaplaixErrorCode | (string & {}) | null = e.code;
      const status: number = e.status;
      const requestId: string | null = e.requestId;
      const wait: number | null = e.retryAfter;
      const details: unknown[] | null = e.details;
      console.log(code, status, requestId, wait, details, e.retryable, e.docUrl, e.headers["x-request-id"]);
      if (e.code === "NOT_FOUND") return null;
    }
    if (e instanceof RateLimitedError) {
      const known: "RATE_LIMITED" = RateLimitedError.code;
      console.log(known, e.retryAfter);
    }
    if (e instanceof KaplaixTimeoutError) console.log(e.timeout, e.deadline, e.cause);
    else if (e instanceof KaplaixNetworkError) console.log(e.message, e.attempts);
    else if (e instanceof KaplaixError) console.log(e.body, e.type, e.param, e.name);
    throw e;
  }
}

const cls: typeof KaplaixError = ERROR_CLASSES.RATE_LIMITED;
const codes: KaplaixErrorCode[] = ["AUTHENTICATION_FAILED", "GATEWAY_TIMEOUT"];
// @ts-expect-error: not a code of the catalog
const wrong: KaplaixErrorCode = "NOT_A_CODE";
export { cls, codes, wrong };
