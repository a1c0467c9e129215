//! errata-axum over real HTTP on loopback: a server per test on 127.0.0.1:0, driven by reqwest
//! (or raw TCP for what a client library refuses to send).

mod cases;
mod common;
mod conditions;
mod panic_log;
mod request_id;
mod success_meta;
mod sweep;
mod tenant;
