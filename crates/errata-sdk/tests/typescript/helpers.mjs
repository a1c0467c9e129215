// Shared setup of the generated TypeScript SDK's suite: the gateway, the upstream, and a client
// whose waits are recorded instead of slept (ERRATA_* variables, set by
// crates/errata/tests/sdk_typescript.rs).

import { randomUUID } from "node:crypto";
import { Kaplaix } from "@kaplaix/sdk-ts";

export const URL = process.env.ERRATA_URL;
export const KEY = process.env.ERRATA_KEY;
/** A key allowed one request a minute. */
export const LIMITED_KEY = process.env.ERRATA_LIMITED_KEY;
export const UPSTREAM = process.env.ERRATA_UPSTREAM;
export const CLOSED = process.env.ERRATA_CLOSED_URL;
export const CASES = process.env.ERRATA_CASES;

/** A client of the gateway with the test key, recorded waits and jitter that returns its cap. */
export function make(options = {}) {
  const waits = [];
  const client = new Kaplaix({
    apiKey: KEY,
    baseURL: URL,
    timeout: 5000,
    sleep: async (ms) => {
      waits.push(ms);
    },
    jitter: (cap) => cap,
    ...options,
  });
  return { client, waits };
}

export const faultId = () => randomUUID().replaceAll("-", "");

/** What the upstream received under a fault id. */
export async function attempts(id) {
  const res = await fetch(`${UPSTREAM}/_attempts/${id}`);
  return (await res.json()).attempts;
}

/** The error a promise rejects with (fails when it resolves). */
export async function rejection(promise) {
  try {
    const value = await promise;
    throw new Error(`expected an error, got ${JSON.stringify(value)}`);
  } catch (e) {
    return e;
  }
}
