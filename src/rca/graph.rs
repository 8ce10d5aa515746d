//! Call-graph evidence: pushes an anomaly down to the deepest component that explains it.
//!
//! Owns the service/operation dependency graph (edges point from caller to callee), built
//! either from an explicit edge list or from span records (a span whose parent belongs to a
//! different node adds the edge parent-node → child-node), and the localisation rule:
//!
//! ```text
//! explained(n) = max over callees c of  anomaly(c) × min(1, excess(c) / excess(n))
//! impact(n)    = min(1, excess(n) / excess(target))        (1 without a target)
//! reach(n)     = best product of caller anomalies on a path target → … → n
//!                (the target and nodes without health pass through with 1)
//! score(n)     = anomaly(n) × (1 − explained(n)) × impact(n) × (floor + (1 − floor) × reach(n))
//! ```
//!
//! A caller that degrades only because a callee degraded by at least as much gets
//! `explained ≈ 1` and drops out; a node that degraded with healthy callees keeps its full
//! anomaly. `excess` must be in one unit across the nodes of an analysis (seconds of
//! latency, percentage points of errors), which is what makes "the callee explains the
//! caller" a comparison of magnitudes rather than of z-scores.
//!
//! An inferred node (known only from its callers, see [`CallGraph::mark_inferred`]) keeps
//! half its score, so an instrumented node with the same evidence ranks above it.
//!
//! Guarantees: cycles are allowed (reach is a best-path search over products ≤ 1); nodes
//! without health get score 0 but still pass reach along; output is sorted by score, then by
//! name, so equal inputs give equal rankings.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

/// Weight kept by a node the target cannot reach through anomalous callers.
const UNREACHED_FLOOR: f64 = 0.25;

/// Weight of an inferred node (see [`CallGraph::mark_inferred`]): seen only from its
/// callers, its degradation may be the network's or a server we also see under another name,
/// so an instrumented node with the same evidence ranks above it.
const INFERRED_WEIGHT: f64 = 0.5;

/// A span as Vigil's spans table holds it (only the fields localisation needs).
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub service: String,
    pub operation: String,
    pub error: bool,
    pub duration_ms: f64,
    /// Start time, seconds since the epoch.
    pub start: i64,
}

/// Which name a span contributes to the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeLevel {
    /// One node per `service`.
    Service,
    /// One node per `service/operation`.
    Operation,
}

impl NodeLevel {
    pub fn node_of(&self, span: &Span) -> String {
        match self {
            NodeLevel::Service => span.service.clone(),
            NodeLevel::Operation => format!("{}/{}", span.service, span.operation),
        }
    }
}

/// Directed dependency graph, caller → callee.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallGraph {
    callees: BTreeMap<String, BTreeSet<String>>,
    callers: BTreeMap<String, BTreeSet<String>>,
    inferred: BTreeSet<String>,
}

impl CallGraph {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a node with no edges (a no-op when it exists).
    pub fn add_node(&mut self, node: &str) {
        self.callees.entry(node.to_string()).or_default();
        self.callers.entry(node.to_string()).or_default();
    }

    /// Adds the edge `caller → callee`; self-loops are ignored.
    pub fn add_edge(&mut self, caller: &str, callee: &str) {
        self.add_node(caller);
        self.add_node(callee);
        if caller == callee {
            return;
        }
        if let Some(set) = self.callees.get_mut(caller) {
            set.insert(callee.to_string());
        }
        if let Some(set) = self.callers.get_mut(callee) {
            set.insert(caller.to_string());
        }
    }

    pub fn from_edges<'a>(edges: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut graph = Self::new();
        for (caller, callee) in edges {
            graph.add_edge(caller, callee);
        }
        graph
    }

    /// Builds the graph from spans: every span's node is added, and an edge from the parent
    /// span's node whenever the parent is known and sits on a different node. Parents missing
    /// from `spans` (sampled away, outside the query window) are skipped.
    pub fn from_spans(spans: &[Span], level: NodeLevel) -> Self {
        let mut graph = Self::new();
        let by_id: HashMap<(&str, &str), &Span> = spans
            .iter()
            .map(|s| ((s.trace_id.as_str(), s.span_id.as_str()), s))
            .collect();
        for span in spans {
            let child = level.node_of(span);
            graph.add_node(&child);
            let Some(parent_id) = span.parent_span_id.as_deref() else {
                continue;
            };
            if let Some(parent) = by_id.get(&(span.trace_id.as_str(), parent_id)) {
                graph.add_edge(&level.node_of(parent), &child);
            }
        }
        graph
    }

    /// Marks `node` as inferred: known only from its callers' client spans (a peer address,
    /// a remote endpoint, a load balancer in front of something), with no telemetry of its
    /// own. Adds the node when missing.
    pub fn mark_inferred(&mut self, node: &str) {
        self.add_node(node);
        self.inferred.insert(node.to_string());
    }

    pub fn is_inferred(&self, node: &str) -> bool {
        self.inferred.contains(node)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.callees.keys().map(String::as_str)
    }

    pub fn contains(&self, node: &str) -> bool {
        self.callees.contains_key(node)
    }

    pub fn callees(&self, node: &str) -> impl Iterator<Item = &str> {
        self.callees
            .get(node)
            .into_iter()
            .flat_map(|set| set.iter().map(String::as_str))
    }

    pub fn callers(&self, node: &str) -> impl Iterator<Item = &str> {
        self.callers
            .get(node)
            .into_iter()
            .flat_map(|set| set.iter().map(String::as_str))
    }

    /// Every node reachable from `root` along caller → callee edges, `root` included.
    pub fn descendants(&self, root: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![root.to_string()];
        while let Some(node) = stack.pop() {
            if !self.contains(&node) || !seen.insert(node.clone()) {
                continue;
            }
            stack.extend(self.callees(&node).map(str::to_string));
        }
        seen
    }
}

/// How unhealthy one node is during the incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeHealth {
    /// Degree of anomaly in `[0, 1]` (see `metrics::MetricFinding::anomaly`).
    pub anomaly: f64,
    /// How much worse than its baseline the node got, in the unit shared by the analysis.
    pub excess: f64,
    /// Human-readable numbers behind `anomaly`, carried into the evidence text.
    pub detail: String,
}

/// One node's standing as a root cause according to the call graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphFinding {
    pub node: String,
    pub score: f64,
    pub anomaly: f64,
    /// Share of the node's anomaly its callees account for, in `[0, 1]`.
    pub explained: f64,
    /// The callee that explains most of it.
    pub explained_by: Option<String>,
    /// Share of the target's excess this node's excess can account for.
    pub impact: f64,
    /// Strength of the anomalous path from the target to this node.
    pub reach: f64,
    pub evidence: String,
}

/// Ranks the nodes of `graph` that have health as root-cause candidates for an incident
/// seen on `target` (or anywhere, when `target` is `None`).
pub fn localize(
    graph: &CallGraph,
    health: &HashMap<String, NodeHealth>,
    target: Option<&str>,
) -> Vec<GraphFinding> {
    let reach = reach_from(graph, health, target);
    let target_excess = target
        .and_then(|t| health.get(t))
        .map(|h| h.excess)
        .filter(|e| *e > 0.0);

    let mut findings = Vec::new();
    for node in graph.nodes() {
        let Some(own) = health.get(node) else {
            continue;
        };
        let (explained, explained_by) = explained_by_callees(graph, health, node, own);
        let impact = match target_excess {
            Some(t) => (own.excess / t).clamp(0.0, 1.0),
            None => 1.0,
        };
        let node_reach = reach.get(node).copied().unwrap_or(0.0);
        let inferred = graph.is_inferred(node);
        let score = own.anomaly
            * (1.0 - explained)
            * impact
            * (UNREACHED_FLOOR + (1.0 - UNREACHED_FLOOR) * node_reach)
            * if inferred { INFERRED_WEIGHT } else { 1.0 };
        let seen = if inferred {
            "; seen only from its callers"
        } else {
            ""
        };
        let evidence = match &explained_by {
            Some(callee) if explained > 0.0 => format!(
                "{}; callees explain {:.0}% (most: {callee}); reach {:.2}, impact {:.2}{seen}",
                own.detail,
                explained * 100.0,
                node_reach,
                impact
            ),
            _ => format!(
                "{}; no anomalous callee explains it; reach {:.2}, impact {:.2}{seen}",
                own.detail, node_reach, impact
            ),
        };
        findings.push(GraphFinding {
            node: node.to_string(),
            score,
            anomaly: own.anomaly,
            explained,
            explained_by,
            impact,
            reach: node_reach,
            evidence,
        });
    }
    findings.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.node.cmp(&b.node))
    });
    findings
}

/// `max over callees c of anomaly(c) × min(1, excess(c) / excess(node))`, with the callee.
fn explained_by_callees(
    graph: &CallGraph,
    health: &HashMap<String, NodeHealth>,
    node: &str,
    own: &NodeHealth,
) -> (f64, Option<String>) {
    let mut best = (0.0, None);
    for callee in graph.callees(node) {
        let Some(child) = health.get(callee) else {
            continue;
        };
        let ratio = if own.excess > 0.0 {
            (child.excess / own.excess).clamp(0.0, 1.0)
        } else {
            1.0
        };
        let share = (child.anomaly * ratio).clamp(0.0, 1.0);
        if share > best.0 {
            best = (share, Some(callee.to_string()));
        }
    }
    best
}

/// Best product of anomalies along caller paths from the target; every node gets 1 without
/// a target. The target and nodes without health pass reach on unchanged.
fn reach_from(
    graph: &CallGraph,
    health: &HashMap<String, NodeHealth>,
    target: Option<&str>,
) -> HashMap<String, f64> {
    let Some(target) = target.filter(|t| graph.contains(t)) else {
        return graph.nodes().map(|n| (n.to_string(), 1.0)).collect();
    };
    let mut reach: HashMap<String, f64> = HashMap::new();
    reach.insert(target.to_string(), 1.0);
    // Label-correcting search: products of factors ≤ 1 never grow around a cycle, so a node
    // is re-queued only when its reach strictly improves and the loop terminates.
    let mut queue = vec![target.to_string()];
    while let Some(node) = queue.pop() {
        let here = reach.get(&node).copied().unwrap_or(0.0);
        let pass = if node == target {
            1.0
        } else {
            health.get(&node).map_or(1.0, |h| h.anomaly)
        };
        let onward = here * pass;
        for callee in graph.callees(&node) {
            let current = reach.get(callee).copied().unwrap_or(0.0);
            if onward > current + 1e-12 {
                reach.insert(callee.to_string(), onward);
                queue.push(callee.to_string());
            }
        }
    }
    reach
}

/// Per-node health from spans: error rate and mean duration of the incident spans against
/// the baseline spans, as two health maps (errors in percentage points, latency in ms).
/// Nodes with fewer than `min_spans` incident spans are left out.
pub fn span_health(
    spans: &[Span],
    level: NodeLevel,
    baseline: crate::rca::metrics::Window,
    incident: crate::rca::metrics::Window,
    min_spans: usize,
    config: &crate::rca::metrics::MetricConfig,
) -> SpanHealth {
    #[derive(Default)]
    struct Side {
        errors: Vec<f64>,
        durations: Vec<f64>,
    }
    let mut sides: BTreeMap<String, (Side, Side)> = BTreeMap::new();
    for span in spans {
        let entry = sides.entry(level.node_of(span)).or_default();
        let side = if baseline.contains(span.start) {
            &mut entry.0
        } else if incident.contains(span.start) {
            &mut entry.1
        } else {
            continue;
        };
        side.errors.push(if span.error { 100.0 } else { 0.0 });
        side.durations.push(span.duration_ms);
    }

    let mut result = SpanHealth::default();
    for (node, (base, inc)) in sides {
        if inc.errors.len() < min_spans || base.errors.is_empty() {
            continue;
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        // Error rate: a proportion, so its scale is the binomial standard error of the
        // incident rate under the baseline rate (floored at one error in the sample).
        let p0 = mean(&base.errors) / 100.0;
        let p1 = mean(&inc.errors) / 100.0;
        let n = inc.errors.len() as f64;
        let se = ((p0 * (1.0 - p0)) / n).sqrt().max(1.0 / n) * 100.0;
        let excess = ((p1 - p0) * 100.0).max(0.0);
        let z = excess / se;
        result.errors.insert(
            node.clone(),
            NodeHealth {
                anomaly: crate::rca::stats::anomaly_degree(z, config.half_anomaly_z),
                excess,
                detail: format!(
                    "error rate {:.1}% against {:.1}% before ({} spans), z = {z:.1}",
                    p1 * 100.0,
                    p0 * 100.0,
                    inc.errors.len()
                ),
            },
        );
        // Latency: the incident mean against the baseline median, in units of the spread a
        // mean of n baseline durations would have (floored like every metric scale).
        let base_median = crate::rca::stats::median(&base.durations).unwrap_or(0.0);
        let base_spread = crate::rca::stats::mad(&base.durations).unwrap_or(0.0)
            * crate::rca::stats::MAD_TO_SIGMA
            / n.sqrt();
        let scale = base_spread
            .max(config.relative_floor * base_median.abs())
            .max(1.0);
        let inc_mean = mean(&inc.durations);
        let excess = (inc_mean - base_median).max(0.0);
        let z = excess / scale;
        result.latency.insert(
            node.clone(),
            NodeHealth {
                anomaly: crate::rca::stats::anomaly_degree(z, config.half_anomaly_z),
                excess,
                detail: format!(
                    "mean duration {inc_mean:.1} ms against median {base_median:.1} ms before \
                     ({} spans), z = {z:.1}",
                    inc.durations.len()
                ),
            },
        );
    }
    result
}

/// Health of span nodes from [`span_health`], one map per signal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanHealth {
    /// Excess in percentage points of error rate.
    pub errors: HashMap<String, NodeHealth>,
    /// Excess in milliseconds of mean duration.
    pub latency: HashMap<String, NodeHealth>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(anomaly: f64, excess: f64) -> NodeHealth {
        NodeHealth {
            anomaly,
            excess,
            detail: String::new(),
        }
    }

    fn score_of(findings: &[GraphFinding], node: &str) -> f64 {
        findings
            .iter()
            .find(|f| f.node == node)
            .map_or(f64::NAN, |f| f.score)
    }

    #[test]
    fn caller_degraded_no_more_than_its_callee_is_explained_away() {
        // api → db; api +10, db +12 in the same unit, both 0.9 anomalous.
        // api: explained = 0.9 × min(1, 12/10) = 0.9 -> 0.9 × 0.1 = 0.09.
        // db: no callee, impact min(1, 12/10) = 1, reach 1 (the target passes reach on
        // unchanged) -> 0.9.
        let graph = CallGraph::from_edges([("api", "db")]);
        let map = HashMap::from([
            ("api".to_string(), health(0.9, 10.0)),
            ("db".to_string(), health(0.9, 12.0)),
        ]);
        let findings = localize(&graph, &map, Some("api"));
        assert_eq!(findings[0].node, "db");
        assert!((score_of(&findings, "db") - 0.9).abs() < 1e-12);
        assert!((score_of(&findings, "api") - 0.09).abs() < 1e-12);
    }

    #[test]
    fn callee_with_a_small_excess_does_not_explain_a_large_degradation() {
        // api +10, db +1: db explains 0.9 × 0.1 = 9% of api, so api keeps 0.9 × 0.91 = 0.819;
        // db can account for a tenth of the target's excess: 0.9 × 0.1 = 0.09.
        let graph = CallGraph::from_edges([("api", "db")]);
        let map = HashMap::from([
            ("api".to_string(), health(0.9, 10.0)),
            ("db".to_string(), health(0.9, 1.0)),
        ]);
        let findings = localize(&graph, &map, Some("api"));
        let api = findings
            .iter()
            .find(|f| f.node == "api")
            .map(|f| f.explained);
        assert!((api.unwrap_or(f64::NAN) - 0.09).abs() < 1e-12);
        assert_eq!(findings[0].node, "api");
        assert!((score_of(&findings, "api") - 0.819).abs() < 1e-12);
        assert!((score_of(&findings, "db") - 0.09).abs() < 1e-12);
    }

    #[test]
    fn inferred_node_ranks_below_an_instrumented_node_with_equal_evidence() {
        let mut graph = CallGraph::from_edges([("web", "search"), ("web", "lb_remote")]);
        graph.mark_inferred("lb_remote");
        let map = HashMap::from([
            ("web".to_string(), health(0.9, 1.0)),
            ("search".to_string(), health(0.8, 1.0)),
            ("lb_remote".to_string(), health(0.8, 1.0)),
        ]);
        let findings = localize(&graph, &map, Some("web"));
        assert_eq!(findings[0].node, "search");
        assert!(score_of(&findings, "lb_remote") < score_of(&findings, "search"));
    }

    #[test]
    fn cycles_in_the_call_graph_terminate() {
        let graph = CallGraph::from_edges([("a", "b"), ("b", "a"), ("b", "c")]);
        let map = HashMap::from([
            ("a".to_string(), health(0.9, 5.0)),
            ("b".to_string(), health(0.9, 5.0)),
            ("c".to_string(), health(0.95, 6.0)),
        ]);
        let findings = localize(&graph, &map, Some("a"));
        assert_eq!(findings[0].node, "c");
    }

    #[test]
    fn spans_add_edges_across_nodes_and_skip_unknown_parents() {
        let span = |id: &str, parent: Option<&str>, service: &str| Span {
            trace_id: "t".into(),
            span_id: id.into(),
            parent_span_id: parent.map(str::to_string),
            service: service.into(),
            operation: "op".into(),
            error: false,
            duration_ms: 1.0,
            start: 0,
        };
        let spans = vec![
            span("1", None, "web"),
            span("2", Some("1"), "web"),
            span("3", Some("2"), "db"),
            span("4", Some("missing"), "cache"),
        ];
        let graph = CallGraph::from_spans(&spans, NodeLevel::Service);
        assert_eq!(graph.callees("web").collect::<Vec<_>>(), vec!["db"]);
        assert!(graph.contains("cache"));
        assert_eq!(graph.callers("cache").count(), 0);
    }
}
