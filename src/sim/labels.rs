//! The ground-truth labels file: the fleet and every incident a plan injects, as JSON,
//! so detectors and predictors can be scored against what really happened.
//!
//! ```json
//! { "seed": 42, "start": "2025-03-03T00:00:00Z", "end": "…", "bots": [ … ],
//!   "incidents": [ { "scenario": "rate-limit-storm", "start": "…", "end": "…",
//!                    "precursor_start": null, "root_cause": { "kind": "provider_rate_limit",
//!                    "provider": "anthropic" }, "affected_slos": ["claude-code-availability"],
//!                    "description": "…" } ] }
//! ```
//!
//! The file is written before any telemetry is sent and is a pure function of the plan.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Plan;
use super::clock::rfc3339;
use super::scenario::RootCause;

/// The labels file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Labels {
    pub seed: u64,
    pub start: String,
    pub end: String,
    pub bots: Vec<LabelBot>,
    pub incidents: Vec<LabelIncident>,
}

/// A bot as the labels file describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelBot {
    pub id: String,
    pub kind: String,
    pub service_name: String,
    pub service_version: String,
    pub main_model: String,
}

/// An incident as the labels file describes it; times are RFC 3339 UTC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelIncident {
    pub scenario: String,
    pub start: String,
    pub end: String,
    pub precursor_start: Option<String>,
    pub root_cause: RootCause,
    pub affected_slos: Vec<String>,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    #[error("cannot write labels file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot encode labels: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The labels of `plan`.
pub fn labels(plan: &Plan) -> Labels {
    Labels {
        seed: plan.seed,
        start: rfc3339(plan.start),
        end: rfc3339(plan.end),
        bots: plan
            .fleet
            .bots
            .iter()
            .map(|b| LabelBot {
                id: b.id.clone(),
                kind: b.kind.name().into(),
                service_name: b.service_name.into(),
                service_version: b.service_version.into(),
                main_model: b.main_model().name.into(),
            })
            .collect(),
        incidents: plan
            .incidents
            .iter()
            .map(|i| LabelIncident {
                scenario: i.scenario.name().into(),
                start: rfc3339(i.start),
                end: rfc3339(i.end),
                precursor_start: i.precursor_start.map(rfc3339),
                root_cause: i.root_cause.clone(),
                affected_slos: i.affected_slos.iter().map(|s| s.to_string()).collect(),
                description: i.description.clone(),
            })
            .collect(),
    }
}

/// Writes the labels of `plan` to `path` as pretty-printed JSON.
pub fn write(plan: &Plan, path: &Path) -> Result<(), LabelsError> {
    let mut text = serde_json::to_string_pretty(&labels(plan))?;
    text.push('\n');
    std::fs::write(path, text).map_err(|source| LabelsError::Write {
        path: path.display().to_string(),
        source,
    })
}
