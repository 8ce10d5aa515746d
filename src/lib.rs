//! Vigil: the reliability back office for fleets of AI agents.
//!
//! OTLP comes in ([`otlp`]), is made durable and stored as Arrow then Parquet
//! ([`store`]), and is queried with SQL ([`query`]). [`server`] runs them together;
//! `src/main.rs` is only the command line. See ARCHITECTURE.md for the map.

#![deny(missing_debug_implementations, unreachable_pub)]

pub mod alert;
pub mod config;
pub mod demo;
pub mod gameday;
pub mod http_server;
pub mod logging;
pub mod metrics;
pub mod models;
pub mod otlp;
pub mod postgres;
pub mod predict;
pub mod progress;
pub mod query;
pub mod rca;
pub mod schedule;
pub mod server;
pub mod sim;
pub mod slo;
pub mod store;
