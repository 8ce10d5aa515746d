//! The bot-fleet simulator behind `vigil simulate`, `vigil demo` and game days.
//!
//! It owns a deterministic model of a fleet of AI agents and the telemetry they send
//! (Claude Code, Codex CLI and Gemini CLI log events and counters, GenAI/MCP/CI/git
//! spans, the GenAI duration histogram), incident scenarios injected into it with
//! ground-truth labels, and the client that sends it all to an OTLP endpoint.
//!
//! ```text
//! SimConfig ──plan()──► Plan { fleet, incidents } ──► labels file (ground truth)
//!                           │
//!                           ▼
//!          Generator: minute by minute, per bot
//!            Effects::at (scenario) ─► work::Planner (turns, calls, tools, git)
//!            ─► claude / cli / genai renderers ─► Batches (traces, logs, metrics)
//!            ─► ci (runs started by pushes)
//!                           │
//!                           ▼
//!          run: pacing (Speed, live) ─► batching ─► export (gRPC | HTTP protobuf | JSON)
//! ```
//!
//! Guarantees:
//! - Same seed and options (with a fixed `end`) ⇒ byte-identical telemetry and labels;
//!   ids come from the seeded generator, timestamps from `end`.
//! - Every incident in the labels is injected exactly as described: its window, its
//!   root cause, and the SLOs (by `metadata.name` in `pipelines/slo/`) it is sized to
//!   page on.
//! - Telemetry carries the event names and attribute keys the shipped SLO packs read,
//!   so every SLO evaluates with real counts.
//!
//! Where to start reading: [`plan`], then `generate.rs` (`Generator::minute`), then
//! `work.rs` (what a bot does) and `scenario.rs` (what goes wrong).

mod ci;
mod claude;
mod cli;
mod clock;
mod export;
mod fleet;
mod genai;
mod generate;
mod labels;
mod otlp;
mod rng;
mod run;
mod scenario;
mod unit;
mod work;

#[cfg(test)]
mod slo_check;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use clock::{Rhythm, rfc3339};
pub use export::{Compression, ExportError, Protocol, Signal};
pub use fleet::{AgentKind, Bot, Fleet, Model, Provider};
pub use generate::{Batches, Counts, Generator, Temporality};
pub use labels::{LabelBot, LabelIncident, Labels, LabelsError, labels, write as write_labels};
pub use run::{
    InjectConfig, Injection, Progress, Stop, StopHandle, Summary, inject, prepare_injection, run,
    run_injection, stop_pair,
};
pub use scenario::{
    Incident, Placement, RootCause, ScenarioError, ScenarioKind, ScenarioSelection, When,
};

/// How fast simulated time runs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Speed {
    /// As fast as the endpoint accepts.
    #[default]
    Max,
    /// This many simulated seconds per wall-clock second (1 = real time).
    Factor(f64),
}

impl std::str::FromStr for Speed {
    type Err = SimError;

    /// `max`, or a factor such as `1`, `60` or `60x`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "max" {
            return Ok(Speed::Max);
        }
        match s.trim_end_matches('x').parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => Ok(Speed::Factor(x)),
            _ => Err(SimError::Invalid(format!(
                "speed {s:?}: expected max or a positive factor such as 60"
            ))),
        }
    }
}

/// Everything a simulation run needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// `http://host:port`; for HTTP the base to which `/v1/traces` etc. are appended.
    pub endpoint: String,
    pub protocol: Protocol,
    pub compression: Compression,
    /// Number of bots (at least 1; with 4 or more every agent kind is present).
    pub bots: usize,
    /// Length of the simulated span before `end`, in days (fractions allowed).
    pub days: f64,
    /// Unix seconds at which the span ends; `None`: now. Rounded down to the minute.
    pub end: Option<i64>,
    pub speed: Speed,
    pub seed: u64,
    pub scenarios: ScenarioSelection,
    /// Where to write the ground-truth labels (JSON).
    pub labels: Option<PathBuf>,
    /// Go on in real time past `end` until stopped.
    pub live: bool,
    /// Scales how much work every bot does (1.0: a few thousand records per busy day).
    pub activity: f64,
    /// The fleet's local time zone as a fixed offset from UTC, for the daily rhythm.
    pub utc_offset_minutes: i32,
    pub histogram_temporality: Temporality,
    /// With `Speed::Max`, minutes are merged into requests of about this many records.
    pub max_batch_records: usize,
    /// Export requests in flight at once.
    pub concurrency: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            endpoint: Protocol::Grpc.default_endpoint().to_string(),
            protocol: Protocol::Grpc,
            compression: Compression::None,
            bots: 6,
            days: 1.0,
            end: None,
            speed: Speed::Max,
            seed: 1,
            scenarios: ScenarioSelection::Default,
            labels: None,
            live: false,
            activity: 1.0,
            utc_offset_minutes: 0,
            histogram_temporality: Temporality::Delta,
            max_batch_records: 4_000,
            concurrency: 4,
        }
    }
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid simulator option: {0}")]
    Invalid(String),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Labels(#[from] LabelsError),
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// The fleet and the incidents of a run: everything [`Generator`] needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub seed: u64,
    /// Unix seconds, minute-aligned: the span is `[start, end)`.
    pub start: i64,
    pub end: i64,
    pub fleet: Fleet,
    pub incidents: Vec<Incident>,
    pub rhythm: Rhythm,
    pub activity: f64,
    pub histogram_temporality: Temporality,
}

impl Plan {
    /// The per-minute telemetry of this plan, from its start.
    pub fn generator(&self) -> Generator<'_> {
        Generator::new(self)
    }

    /// Minutes in `[start, end)`.
    pub fn minutes(&self) -> u64 {
        ((self.end - self.start) / clock::MINUTE) as u64
    }
}

/// Most bots and days a run accepts: beyond them a run would take hours.
const MAX_BOTS: usize = 1_000;
const MAX_DAYS: f64 = 400.0;

/// Plans a run: the fleet and the incidents, from the seed. Pure except that a missing
/// `end` means now.
pub fn plan(config: &SimConfig) -> Result<Plan, SimError> {
    validate(config)?;
    let end = clock::floor_minute(config.end.unwrap_or_else(|| chrono::Utc::now().timestamp()));
    let start = clock::floor_minute(end - (config.days * clock::DAY as f64).round() as i64);
    let fleet = fleet::build(config.seed, config.bots);
    let rhythm = Rhythm::new(config.utc_offset_minutes);
    let span = scenario::RunSpan {
        start,
        end,
        live: config.live,
    };
    let incidents = scenario::schedule(config.seed, &fleet, rhythm, span, &config.scenarios)?;
    Ok(Plan {
        seed: config.seed,
        start,
        end,
        fleet,
        incidents,
        rhythm,
        activity: config.activity,
        histogram_temporality: config.histogram_temporality,
    })
}

fn validate(config: &SimConfig) -> Result<(), SimError> {
    let invalid = |what: String| Err(SimError::Invalid(what));
    if config.bots == 0 || config.bots > MAX_BOTS {
        return invalid(format!("bots = {}: expected 1 to {MAX_BOTS}", config.bots));
    }
    if !config.days.is_finite() || config.days < 0.0 || config.days > MAX_DAYS {
        return invalid(format!("days = {}: expected 0 to {MAX_DAYS}", config.days));
    }
    if !config.activity.is_finite() || config.activity <= 0.0 || config.activity > 100.0 {
        return invalid(format!(
            "activity = {}: expected more than 0, at most 100",
            config.activity
        ));
    }
    if config.utc_offset_minutes.abs() > 14 * 60 {
        return invalid(format!(
            "utc_offset_minutes = {}: expected -840 to 840",
            config.utc_offset_minutes
        ));
    }
    if let Speed::Factor(x) = config.speed
        && !(x.is_finite() && x > 0.0)
    {
        return invalid(format!("speed factor {x}: expected a positive number"));
    }
    Ok(())
}
