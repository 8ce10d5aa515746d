//! Alerts: the lifecycle of every condition Vigil raises, and its delivery to Prometheus
//! Alertmanager, Grafana annotations and webhooks.
//!
//! ```text
//!  SLO job, detectors ──Signal──► AlertEngine ──Transition──► alerts table (caller writes it)
//!                                   │  │
//!               alerts-state.json ◄─┘  └─ Notification × sink ──► outbox.jsonl (fsync)
//!                                                                    │
//!                          Dispatcher: one task per sink, retry with backoff, in order
//!                                    ├─► Alertmanager  POST /api/v2/alerts
//!                                    ├─► Grafana       POST/PATCH /api/annotations
//!                                    └─► webhook       Alertmanager webhook body
//! ```
//!
//! | file | owns |
//! | --- | --- |
//! | `model.rs` | [`Signal`], severities, handlers, tiers, [`Transition`], the fingerprint |
//! | `engine.rs` | [`AlertEngine`]: pending → firing → resolved, minimum firing time, escalation, acknowledgement, saved state |
//! | `outbox.rs` | [`Outbox`]: the fsynced queue of deliveries |
//! | `sinks.rs` | [`Sink`], [`Dispatcher`], retries, HTTP |
//! | `alertmanager.rs`, `grafana.rs`, `webhook.rs` | each receiver's wire format |
//! | `table.rs` | the `alerts` table schema and rows, with the SQL for MTTA, MTTR, counts, bot share |
//! | `stats.rs` | [`Stats`]: the same figures in Rust |
//! | `config.rs` | the `[alerts]` config section, secrets, durations |
//!
//! # Identity
//!
//! An alert is its identity label set: the caller's labels (`slo`, `service`, the SLO's own
//! labels), `alertname` and `severity`. Its [`fingerprint`] is the FNV-1a hash Prometheus
//! uses for label sets, so it is stable across restarts and versions. The engine adds
//! `handler` (follows from the severity) and `tier` (changes on escalation) to what it
//! sends; neither is part of the identity, so an escalated alert stays the same alert. A
//! change of severity makes a new alert, as it should: it is a different page.
//!
//! # Severity, handler, tier
//!
//! | severity label | meaning | respond within | `handler` | starting `tier` |
//! | --- | --- | --- | --- | --- |
//! | `sev1` | service down | 15 min | `human` | `L3` |
//! | `sev2` | degraded | 1 h | `human` | `L3` |
//! | `sev3` | minor | 4 h | `ops-bot` | `L1` |
//! | `sev4` | low | 24 h | `ops-bot` | `L1` |
//!
//! Tiers are L1 (ops bot), L2 (bot team), L3 (human). Bot-handled alerts start at L1;
//! every response time that passes without an acknowledgement moves the alert up one tier
//! and sends it again with the new `tier` label and an `escalation` annotation, until L3.
//! Human-handled alerts start at L3 because a SEV1/SEV2 must reach a person at once.
//!
//! # Driving it
//!
//! ```text
//! let sinks = config.sinks(&dir)?;                       // reads secrets
//! let mut engine = AlertEngine::open(&dir, config.engine_settings(), &sinks)?;
//! let dispatcher = Dispatcher::start(engine.outbox(), sinks, config.retry_policy())?;
//! every evaluation of a source ("slo", "anomaly", …):
//!     let rows = engine.evaluate("slo", signals, Utc::now())?;   // all conditions of "slo"
//!     append transitions_to_batch(&rows)? to the alerts table
//! every resend_interval, if some source evaluates less often: engine.tick(Utc::now())?
//! HTTP ack: engine.ack(id, by, Utc::now())?
//! shutdown: dispatcher.stop().await
//! ```
//!
//! [`start`] does the first three lines. The engine's calls block on fsync; from async code
//! run them on the blocking pool or accept a few milliseconds per evaluation.

mod alertmanager;
pub mod config;
pub mod engine;
mod grafana;
pub mod http;
pub mod model;
pub mod outbox;
mod persist;
pub mod sinks;
pub mod stats;
pub mod table;
mod webhook;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use config::{AlertsConfig, ConfigError, Secret};
pub use engine::{Acknowledgement, Alert, AlertEngine, AlertError, AlertState, EngineSettings};
pub use model::{Handler, Severity, Signal, Tier, Transition, TransitionKind, fingerprint};
pub use outbox::{Delivery, Notification, NotificationKind, Outbox, OutboxError};
pub use sinks::{DeliveryError, Dispatcher, RetryPolicy, Sink, SinkKind};
pub use stats::Stats;
pub use table::{RecordError, evaluate_and_record, transitions_to_batch};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Engine(#[from] AlertError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

/// Builds the sinks from `config`, opens the engine over `dir` and starts delivering.
/// Call inside a tokio runtime.
pub fn start(config: &AlertsConfig, dir: &Path) -> Result<(AlertEngine, Dispatcher), StartError> {
    let sinks = config.sinks(dir)?;
    let engine = AlertEngine::open(dir, config.engine_settings(), &sinks)?;
    let dispatcher = Dispatcher::start(engine.outbox(), sinks, config.retry_policy())?;
    Ok((engine, dispatcher))
}
