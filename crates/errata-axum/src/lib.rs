//! errata-axum: every failure an axum service can meet leaves as an error of its catalog.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Router, routing::post};
//! use errata_axum::{ErrataLayer, Error, ValidJson};
//! use errata_core::Catalog;
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct NewReport { campaign_ids: Vec<String> }
//!
//! async fn create(ValidJson(report): ValidJson<NewReport>) -> Result<&'static str, Error> {
//!     if report.campaign_ids.len() > 20 {
//!         return Err(Error::code("too_many_campaigns")
//!             .arg("max", 20)
//!             .arg("provided", report.campaign_ids.len()));
//!     }
//!     Ok("queued")
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let catalog = Arc::new(Catalog::builtin().clone());
//! let routes = Router::new().route("/v1/reports", post(create));
//! let app = ErrataLayer::new(catalog).wrap(routes);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! - [`Error`]: what handlers return; an app code with arguments, param and details, or a
//!   condition, in one expression.
//! - [`ErrataLayer`]: renders errors with the catalog (envelope or problem+json), gives every
//!   request an id, and maps timeouts, panics, load shedding, body limits, unknown routes and
//!   wrong methods (and any error response that did not come from the catalog) to the catalog.
//! - [`Json`], [`ValidJson`], [`Query`], [`Path`]: extractors whose rejections are conditions;
//!   [`ValidJson`] reports every invalid field at once, Zod-style.
//! - [`RequestId`], [`Tenant`]: extractors for the request id and the authenticated tenant;
//!   [`Tenant::load`] makes another tenant's resource look exactly like a missing one.
//! - [`RateLimitMetaLayer`]: `meta.remaining_requests` in successful JSON bodies, opt-in.
//!
//! Only errata-core serializes an error body: this crate hands its output to the wire.

#![warn(missing_docs)]

mod error;
pub mod extract;
pub mod layer;
pub mod meta;
mod render;
pub mod request_id;
pub mod tenant;

pub use error::{Error, Result};
pub use extract::{Json, Path, Query, ValidJson, validate};
pub use layer::{ErrataLayer, ErrataService};
pub use meta::RateLimitMetaLayer;
pub use request_id::RequestId;
pub use tenant::Tenant;
