//! Combination of the three kinds of evidence into one ranking of candidates.
//!
//! Owns the mapping of each kind's score onto `[0, 1]`, the weighted sum, and the evidence
//! text attached to each candidate. A candidate is a component (a service, node of the call
//! graph, or the subject of a metric series) or an attribute value that names no component.
//! Attribute values whose key names components (`service.name`, `host.name`, … see
//! [`CombineConfig::component_keys`]) are merged into that component's candidate.
//!
//! ```text
//! graph      = GraphFinding::score                   (already in [0, 1])
//! metrics    = max over the component's series of MetricFinding::anomaly
//! attributes = s / (s + attribute_half)               for s = AttributeFinding::score
//! combined   = Σ weight(kind) × kind score / Σ weight(kind) over the kinds given any input
//! ```
//!
//! Dividing by the weights of the kinds present keeps scores comparable whether Vigil had
//! spans, metrics and events for the incident or only some of them.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::rca::attributes::AttributeFinding;
use crate::rca::graph::GraphFinding;
use crate::rca::metrics::MetricFinding;

/// Weights and constants of the combination.
#[derive(Debug, Clone, PartialEq)]
pub struct CombineConfig {
    pub graph_weight: f64,
    pub metrics_weight: f64,
    pub attributes_weight: f64,
    /// Attribute score mapped to 0.5.
    pub attribute_half: f64,
    /// Attribute keys whose values are component names.
    pub component_keys: Vec<String>,
}

impl Default for CombineConfig {
    fn default() -> Self {
        Self {
            graph_weight: 0.6,
            metrics_weight: 0.25,
            attributes_weight: 0.4,
            attribute_half: 0.5,
            component_keys: vec!["service.name".to_string(), "host.name".to_string()],
        }
    }
}

/// What a candidate is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Subject {
    Component(String),
    Attribute { key: String, value: String },
}

impl Subject {
    pub fn component(&self) -> Option<&str> {
        match self {
            Subject::Component(name) => Some(name),
            Subject::Attribute { .. } => None,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Component(name) => f.write_str(name),
            Subject::Attribute { key, value } => write!(f, "{key}={value}"),
        }
    }
}

/// The three kinds of evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum EvidenceKind {
    Graph,
    Metrics,
    Attributes,
}

/// One piece of evidence for a candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub kind: EvidenceKind,
    /// The kind's score mapped onto `[0, 1]`.
    pub score: f64,
    pub text: String,
}

/// A ranked candidate with everything that supports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub subject: Subject,
    pub score: f64,
    pub evidence: Vec<Evidence>,
}

/// Candidates, best first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Ranking {
    pub candidates: Vec<Candidate>,
}

impl Ranking {
    /// 1-based position of the first candidate whose subject displays as `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.candidates
            .iter()
            .position(|c| c.subject.to_string() == name)
            .map(|i| i + 1)
    }
}

impl fmt::Display for Ranking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, candidate) in self.candidates.iter().enumerate() {
            writeln!(
                f,
                "{:>2}. {} ({:.3})",
                i + 1,
                candidate.subject,
                candidate.score
            )?;
            for e in &candidate.evidence {
                writeln!(f, "      {:?} {:.2}: {}", e.kind, e.score, e.text)?;
            }
        }
        Ok(())
    }
}

/// Merges the evidence into one ranking (ties broken by subject, so the order is stable).
pub fn combine(
    graph: &[GraphFinding],
    metrics: &[MetricFinding],
    attributes: &[AttributeFinding],
    config: &CombineConfig,
) -> Ranking {
    let mut by_subject: BTreeMap<Subject, BTreeMap<EvidenceKind, Evidence>> = BTreeMap::new();
    let mut offer = |subject: Subject, evidence: Evidence| {
        let slot = by_subject.entry(subject).or_default();
        let keep = slot
            .get(&evidence.kind)
            .is_none_or(|current| evidence.score > current.score);
        if keep {
            slot.insert(evidence.kind, evidence);
        }
    };

    for finding in graph {
        offer(
            Subject::Component(finding.node.clone()),
            Evidence {
                kind: EvidenceKind::Graph,
                score: finding.score.clamp(0.0, 1.0),
                text: finding.evidence.clone(),
            },
        );
    }
    for finding in metrics {
        offer(
            Subject::Component(finding.component.clone()),
            Evidence {
                kind: EvidenceKind::Metrics,
                score: finding.anomaly.clamp(0.0, 1.0),
                text: finding.evidence.clone(),
            },
        );
    }
    for finding in attributes {
        let subject = if config.component_keys.contains(&finding.key) {
            Subject::Component(finding.value.clone())
        } else {
            Subject::Attribute {
                key: finding.key.clone(),
                value: finding.value.clone(),
            }
        };
        let s = finding.score.max(0.0);
        offer(
            subject,
            Evidence {
                kind: EvidenceKind::Attributes,
                score: s / (s + config.attribute_half),
                text: finding.evidence.clone(),
            },
        );
    }

    let weight = |kind: EvidenceKind| match kind {
        EvidenceKind::Graph => config.graph_weight,
        EvidenceKind::Metrics => config.metrics_weight,
        EvidenceKind::Attributes => config.attributes_weight,
    };
    let present: f64 = [
        (EvidenceKind::Graph, !graph.is_empty()),
        (EvidenceKind::Metrics, !metrics.is_empty()),
        (EvidenceKind::Attributes, !attributes.is_empty()),
    ]
    .iter()
    .filter(|(_, given)| *given)
    .map(|(kind, _)| weight(*kind))
    .sum();

    let mut candidates: Vec<Candidate> = by_subject
        .into_iter()
        .map(|(subject, evidence)| {
            let total: f64 = evidence.values().map(|e| weight(e.kind) * e.score).sum();
            Candidate {
                subject,
                score: if present > 0.0 { total / present } else { 0.0 },
                evidence: evidence.into_values().collect(),
            }
        })
        .collect();
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.subject.cmp(&b.subject))
    });
    Ranking { candidates }
}
