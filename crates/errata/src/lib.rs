//! The `errata` binary's library: the configuration file composed from its owners' sections,
//! and the wiring that runs the gateway, the admin side and the state behind both in one
//! process (for `errata serve`, the demo and the end-to-end tests).

pub mod config;
pub mod logs;
pub mod reload;
pub mod serve;
