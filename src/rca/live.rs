//! Root causes in burn alerts: when an SLO starts burning, the SLO job asks
//! [`LiveExplainer`] to rank its causes; the best three go into every burn alert of that
//! SLO as the `root_causes` annotation, and the best ten into the `root_causes` table.
//!
//! The ranking is made once when the burn begins and again every [`REFRESH`] while it
//! lasts (the incident window grows, and the picture may sharpen); it is forgotten when
//! the SLO stops burning. A failed ranking is logged and retried at the next refresh;
//! alerts go out without the annotation meanwhile.

use std::collections::{BTreeMap, BTreeSet};

use tracing::{info, warn};

use crate::alert::Signal;
use crate::slo::engine::SloEngine;
use crate::store::{Store, Table};

/// How often the ranking of a burning SLO is made again.
pub const REFRESH: i64 = 600;
/// Annotation holding the best three candidates.
pub const ANNOTATION: &str = "root_causes";
/// Candidates written to the table per ranking.
const ROWS: usize = 10;

#[derive(Debug, Clone)]
struct Ranked {
    /// Unix seconds of the ranking.
    at: i64,
    /// The annotation text.
    text: String,
}

/// Rankings of the SLOs burning now; see the module docs.
#[derive(Debug, Default)]
pub struct LiveExplainer {
    ranked: BTreeMap<String, Ranked>,
}

impl LiveExplainer {
    /// Adds the known ranking to every active signal of its SLO.
    pub fn attach(&self, signals: &mut [Signal]) {
        for signal in signals.iter_mut().filter(|s| s.active) {
            if let Some(ranked) = signal
                .labels
                .get("slo")
                .and_then(|slo| self.ranked.get(slo))
            {
                signal
                    .annotations
                    .insert(ANNOTATION.to_string(), ranked.text.clone());
            }
        }
    }

    /// Ranks the causes of every SLO with an active signal that has no ranking yet, or an
    /// older one than [`REFRESH`]; forgets SLOs without active signals. Returns whether a
    /// new ranking was made (then the signals should be attached and sent again).
    pub async fn refresh(
        &mut self,
        slos: &SloEngine,
        store: &Store,
        signals: &[Signal],
        now: i64,
    ) -> bool {
        let burning: BTreeSet<&str> = signals
            .iter()
            .filter(|s| s.active)
            .filter_map(|s| s.labels.get("slo").map(String::as_str))
            .collect();
        self.ranked.retain(|slo, _| burning.contains(slo.as_str()));
        let mut made = false;
        for slo in burning {
            if self.ranked.get(slo).is_some_and(|r| now - r.at < REFRESH) {
                continue;
            }
            let Some(spec) = slos.spec(slo) else { continue };
            let started = std::time::Instant::now();
            match super::explain(slos.query(), spec, now).await {
                Ok(explanation) => {
                    let top = explanation.top(3);
                    let text = if top.is_empty() {
                        "no candidate stands out".to_string()
                    } else {
                        top.iter()
                            .enumerate()
                            .map(|(i, line)| format!("{}. {line}", i + 1))
                            .collect::<Vec<_>>()
                            .join("; ")
                    };
                    info!(
                        slo,
                        first = top.first().map(String::as_str).unwrap_or("-"),
                        events = explanation.events,
                        spans = explanation.spans,
                        ms = started.elapsed().as_millis() as u64,
                        "root causes ranked"
                    );
                    if let Err(e) = store
                        .append_derived(Table::RootCauses, explanation.rows(ROWS, now))
                        .await
                    {
                        warn!(slo, error = %e, "root causes not written");
                    }
                    self.ranked
                        .insert(slo.to_string(), Ranked { at: now, text });
                    made = true;
                }
                Err(e) => warn!(slo, error = %e, "root causes not ranked; retrying later"),
            }
        }
        made
    }
}
