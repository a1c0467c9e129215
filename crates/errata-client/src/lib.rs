//! errata-client: an SDK for any API whose errors follow an errata catalog, with typed errors
//! and retries only where the catalog says a retry can help.
//!
//! ```no_run
//! use errata_client::{Client, Error};
//!
//! #[derive(serde::Deserialize)]
//! struct Campaign { id: String, name: String }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder("http://127.0.0.1:8080").api_key("sk_test_123").build()?;
//! // 429 rate limits, 5xx, timeouts: already retried with backoff. 400-404, spent quotas: not.
//! match client.get("/v1/campaigns/camp_1").send::<Campaign>().await {
//!     Ok(c) => println!("{}: {}", c.id, c.name),
//!     Err(Error::Api(e)) if e.code() == Some("quota_exceeded") => println!("upgrade: {e}"),
//!     Err(e) => eprintln!("{e}"), // code, message and request id
//! }
//! # Ok(()) }
//! ```
//!
//! # What it does
//!
//! - **Typed errors.** An error body is read through the catalog ([`errata_core::Catalog`]):
//!   [`Error::Api`] carries status, code, type, message, param, details, the request id (from the
//!   body, else the catalog's request-id header), `Retry-After`, and the raw body when it was not
//!   the catalog's envelope or problem+json. [`Error::Network`] and [`Error::Timeout`] are the
//!   failures where no answer arrived. Display shows code, message and request id.
//! - **Honest retries.** A code is retried only when the catalog marks it `retryable`:
//!   `rate_limit_exceeded` is, `quota_exceeded` (also a 429) is not. A body outside the catalog
//!   falls back to its status (408, 429, 5xx). Network failures and timeouts are retried.
//!   Waits are exponential with full jitter (0.5 s doubling to 8 s, 2 retries by default), or
//!   exactly what the server asked (`retry-after-ms`, `Retry-After` seconds or HTTP-date) up to a
//!   ceiling above which the error is returned at once. An optional deadline bounds the whole.
//! - **Safe retries.** `GET`, `HEAD`, `PUT`, `DELETE` and `OPTIONS` are repeated freely; `POST`
//!   and `PATCH` only with an `Idempotency-Key`, which the client adds (one per logical request,
//!   the same on every attempt) unless the caller set one.
//! - **Testable.** The clock ([`clock::Clock`]) and jitter ([`jitter::Jitter`]) are injectable:
//!   [`clock::ManualClock`] records every wait instead of sleeping.
//!
//! A runnable program: `examples/demo.rs` (`ERRATA_URL=... ERRATA_KEY=... cargo run -p
//! errata-client --example demo -- GET /v1/campaigns`) prints a response or the typed error.
//!
//! # Authentication
//!
//! The catalog describes errors, not authentication, so which header carries the key is a
//! client option: [`Auth::Bearer`] (default) or [`Auth::Header`] (`x-api-key`, ...).
//!
//! # TLS
//!
//! `https` works out of the box: the default feature `rustls` turns on reqwest's rustls backend
//! (certificates verified by the platform's verifier). Without default features the client speaks
//! plain `http` only (enough for a local gateway or sidecar), or uses whichever reqwest TLS
//! backend your own `Cargo.toml` enables (features unify):
//!
//! ```toml
//! errata-client = { version = "0.1", default-features = false }
//! reqwest = { version = "0.13", default-features = false, features = ["native-tls"] }
//! ```

#![warn(missing_docs)]

mod api_error;
#[cfg(test)]
mod cases;
mod client;
pub mod clock;
mod error;
pub mod jitter;
mod request;
mod response;
mod retry;
mod send;

pub use api_error::ApiError;
pub use client::{Auth, Client, ClientBuilder};
pub use errata_core::Catalog;
pub use error::{BuildError, DecodeError, Error, NetworkError, RequestError, TimeoutError};
pub use request::{IDEMPOTENCY_KEY, RequestBuilder};
pub use reqwest::{self, Method};
pub use response::Response;
pub use retry::RetryPolicy;
