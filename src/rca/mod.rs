//! Root-cause ranking: when an SLO burns, which component or attribute value changed.
//!
//! Owns three kinds of evidence and their combination into one ranking with evidence text
//! per candidate:
//!
//! ```text
//!  events (SQL) ──► attributes::rank_attributes ──┐
//!  spans ──► graph::CallGraph + graph::span_health ├─► graph::localize ──┐
//!  edges ──┘                                       │                    ├─► rank::combine ─► Ranking
//!  minute series ──► metrics::score_series ───────┴─(health per node)──┘
//! ```
//!
//! - [`attributes`]: attribute values over-represented among failing events, against the
//!   incident's good events and the baseline window's traffic.
//! - [`graph`]: the caller → callee graph; a node's anomaly minus what its anomalous callees
//!   explain, so the deepest component that accounts for the damage ranks first.
//! - [`metrics`]: robust departure (median / MAD) of each series from its own baseline.
//! - [`rank`]: the weighted merge and the evidence list per candidate.
//! - [`petshop`]: loader and top-k evaluation on the PetShop benchmark (`vigil eval rca`).
//!
//! [`analyze`] is the entry point for Vigil: everything fetched for one incident in, one
//! [`Ranking`] out. It never fails: missing inputs just leave their kind of evidence out.
//!
//! Invariants: all scores are finite; every ranking is sorted by score with a deterministic
//! tie-break; no input-derived value is unwrapped.

pub mod attributes;
pub mod explain;
pub mod graph;
pub mod live;
pub mod metrics;
pub mod petshop;
pub mod rank;
pub(crate) mod stats;

use std::collections::HashMap;

pub use attributes::{AttributeConfig, AttributeFinding, Event, rank_attributes};
pub use explain::{Explanation, RcaError, explain};
pub use graph::{CallGraph, GraphFinding, NodeHealth, NodeLevel, Span, localize, span_health};
pub use metrics::{
    Direction, MetricConfig, MetricFinding, MetricSeries, Window, WindowValues, rank_metrics,
    score_series, score_values,
};
pub use petshop::{EvalOptions, Method, PetShopError, Report, evaluate};
pub use rank::{Candidate, CombineConfig, Evidence, EvidenceKind, Ranking, Subject, combine};

/// Everything Vigil fetched for one incident. Empty slices are fine.
#[derive(Debug, Clone, Copy)]
pub struct IncidentData<'a> {
    /// The component whose SLO burns, when known (anchors the call-graph walk).
    pub target: Option<&'a str>,
    /// The same-length window before the incident.
    pub baseline: Window,
    pub incident: Window,
    /// Events of both windows (`Event::in_incident` tells which).
    pub events: &'a [Event],
    /// Spans of both windows (split by `Span::start`).
    pub spans: &'a [Span],
    /// Extra caller → callee edges (a service map, a static topology).
    pub edges: &'a [(String, String)],
    /// Per-component series covering both windows.
    pub series: &'a [MetricSeries],
}

/// Constants of every stage.
#[derive(Debug, Clone, PartialEq)]
pub struct RcaConfig {
    pub metric: MetricConfig,
    pub attributes: AttributeConfig,
    pub combine: CombineConfig,
    pub node_level: NodeLevel,
    /// Fewest incident spans a node needs for span health.
    pub min_spans: usize,
}

impl Default for RcaConfig {
    fn default() -> Self {
        Self {
            metric: MetricConfig::default(),
            attributes: AttributeConfig::default(),
            combine: CombineConfig::default(),
            node_level: NodeLevel::Service,
            min_spans: 5,
        }
    }
}

/// Ranks the candidate causes of one incident.
///
/// The call graph is localised once per signal whose excesses share a unit (span error
/// rate, span latency, and each metric name across components), and a node keeps its best
/// graph score.
pub fn analyze(data: &IncidentData<'_>, config: &RcaConfig) -> Ranking {
    let mut graph = CallGraph::from_spans(data.spans, config.node_level);
    for (caller, callee) in data.edges {
        graph.add_edge(caller, callee);
    }
    for series in data.series {
        graph.add_node(&series.component);
    }

    let metric_findings = rank_metrics(data.series, data.baseline, data.incident, &config.metric);

    let mut health_maps: Vec<HashMap<String, NodeHealth>> = Vec::new();
    if !data.spans.is_empty() {
        let spans = span_health(
            data.spans,
            config.node_level,
            data.baseline,
            data.incident,
            config.min_spans,
            &config.metric,
        );
        health_maps.push(spans.errors);
        health_maps.push(spans.latency);
    }
    let mut per_metric: HashMap<&str, HashMap<String, NodeHealth>> = HashMap::new();
    for f in &metric_findings {
        per_metric.entry(f.metric.as_str()).or_default().insert(
            f.component.clone(),
            NodeHealth {
                anomaly: f.anomaly,
                excess: f.excess,
                detail: f.evidence.clone(),
            },
        );
    }
    health_maps.extend(per_metric.into_values());

    let mut best: HashMap<String, GraphFinding> = HashMap::new();
    for health in &health_maps {
        let target = data.target.filter(|t| health.contains_key(*t));
        for finding in localize(&graph, health, target) {
            let better = best
                .get(&finding.node)
                .is_none_or(|current| finding.score > current.score);
            if better {
                best.insert(finding.node.clone(), finding);
            }
        }
    }
    let graph_findings: Vec<GraphFinding> = best.into_values().collect();

    let attribute_findings = rank_attributes(data.events, &config.attributes);
    combine(
        &graph_findings,
        &metric_findings,
        &attribute_findings,
        &config.combine,
    )
}

#[cfg(test)]
mod tests;
