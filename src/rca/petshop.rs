//! PetShop benchmark: loader for the dataset of Hardt et al. (2023) and the evaluation of
//! Vigil's ranking against three baselines computed in the same run.
//!
//! Owns reading `dataset/<scenario>/{graph.csv, noissue/metrics.csv, train|test/issue_N/}`
//! as published (CC-BY-4.0, Amazon; see the dataset's NOTICE), turning each issue into an
//! incident for [`crate::rca`], and the top-1 / top-3 accuracy table.
//!
//! Data layout, as found in the files:
//! - `graph.csv`: square adjacency matrix, first row and column the component names; a
//!   non-zero cell at (row r, column c) is the call r → c.
//! - `metrics.csv`: three header rows (component, metric, statistic), then one row labelled
//!   `unix_timestamp`, then one row per 5-minute interval, first column the interval start in
//!   seconds (`1681855320.0`). Empty cells are missing values. Metrics are `latency`
//!   (seconds), `availability` (percent) and `requests`; statistics `Average`, `p50`…`p99`,
//!   `Sum`.
//! - `target.json`: `target.node`, `target.metric`, `target.agg`, `target.timestamp` and
//!   `root_cause.node`.
//!
//! Each issue file holds five intervals; the target timestamp falls in the second. The
//! incident window is the interval containing the target timestamp and every later one; the
//! recent baseline is the intervals before it; the spread comes from those plus, when asked
//! for and present, the scenario's `noissue` period (a different week; only low_traffic and
//! high_traffic have one here).
//!
//! Every component is scored on the target's metric and statistic. Availability is turned
//! into unavailability (100 − percent, so higher is worse and excesses add up across a call
//! chain), with a resolution of one failed request per typical interval (100 / median
//! requests); latency keeps seconds with a resolution of 1 ms. X-Ray's `<host>_remote`
//! endpoints are marked inferred in the call graph.
//!
//! Methods compared:
//! - `vigil`: metric departures → call-graph localisation → [`crate::rca::rank::combine`].
//! - `random`: expected accuracy of a uniformly random order of the candidates, k / N.
//! - `correlation`: candidates ordered by |Pearson r| between their series and the target's
//!   over the issue's intervals.
//! - `traversal`: from the target along callees through anomalous nodes (z ≥ 3, the same
//!   departure scores Vigil uses); the anomalous nodes with no anomalous callee, highest z
//!   first.
//!
//! Candidates for every method are the graph's components other than the target node.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::rca::graph::{CallGraph, GraphFinding, NodeHealth, localize};
use crate::rca::metrics::{Direction, MetricConfig, MetricFinding, WindowValues, score_values};
use crate::rca::rank::{CombineConfig, Ranking, combine};
use crate::rca::stats::pearson;

/// The four traffic scenarios of the dataset.
pub const SCENARIOS: [&str; 4] = [
    "low_traffic",
    "high_traffic",
    "temporal_traffic1",
    "temporal_traffic2",
];

/// z from which the traversal baseline calls a node anomalous.
const TRAVERSAL_Z: f64 = 3.0;

/// What went wrong reading the dataset.
#[derive(Debug, thiserror::Error)]
pub enum PetShopError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {reason}")]
    Csv {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: not valid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: missing or mistyped field `{field}`")]
    Field { path: PathBuf, field: &'static str },
    #[error("{path}: no scenario directory found (expected one of {SCENARIOS:?})")]
    NoScenario { path: PathBuf },
}

/// Train or test split of the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Split {
    Train,
    Test,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

/// One column of a metrics file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ColumnKey {
    pub component: String,
    pub metric: String,
    pub statistic: String,
}

/// A metrics file: timestamps and one value vector per column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsTable {
    pub timestamps: Vec<i64>,
    pub columns: BTreeMap<ColumnKey, Vec<Option<f64>>>,
}

impl MetricsTable {
    pub fn column(&self, component: &str, metric: &str, statistic: &str) -> Option<&[Option<f64>]> {
        self.columns
            .get(&ColumnKey {
                component: component.to_string(),
                metric: metric.to_string(),
                statistic: statistic.to_string(),
            })
            .map(Vec::as_slice)
    }
}

/// One injected issue.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueCase {
    pub scenario: String,
    pub split: Split,
    /// Directory name, `issue_N`.
    pub name: String,
    pub target_node: String,
    /// `latency` or `availability`.
    pub target_metric: String,
    pub target_statistic: String,
    pub target_timestamp: i64,
    pub root_cause: String,
    pub metrics: MetricsTable,
}

/// A scenario: its call graph, its normal period when present, and its issues.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub graph: CallGraph,
    pub normal: Option<MetricsTable>,
    pub cases: Vec<IssueCase>,
}

/// Loads every scenario found under `root` (the directory holding the scenario directories,
/// or its parent holding `dataset/`).
pub fn load_dataset(root: &Path) -> Result<Vec<Scenario>, PetShopError> {
    let base = if root.join("dataset").is_dir() {
        root.join("dataset")
    } else {
        root.to_path_buf()
    };
    let mut scenarios = Vec::new();
    for name in SCENARIOS {
        let dir = base.join(name);
        if dir.is_dir() {
            scenarios.push(load_scenario(&dir)?);
        }
    }
    if scenarios.is_empty() {
        return Err(PetShopError::NoScenario { path: base });
    }
    Ok(scenarios)
}

/// Loads one scenario directory.
pub fn load_scenario(dir: &Path) -> Result<Scenario, PetShopError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let graph = load_graph(&dir.join("graph.csv"))?;
    let normal_path = dir.join("noissue").join("metrics.csv");
    let normal = if normal_path.is_file() {
        Some(load_metrics(&normal_path)?)
    } else {
        None
    };
    let mut cases = Vec::new();
    for split in [Split::Train, Split::Test] {
        let split_dir = dir.join(split.to_string());
        if !split_dir.is_dir() {
            continue;
        }
        let mut issues: Vec<(u64, PathBuf)> = read_dir(&split_dir)?
            .into_iter()
            .filter_map(|p| {
                let file = p.file_name()?.to_str()?;
                let number = file.strip_prefix("issue_")?.parse().ok()?;
                Some((number, p))
            })
            .collect();
        issues.sort();
        for (_, issue_dir) in issues {
            cases.push(load_case(&name, split, &issue_dir)?);
        }
    }
    Ok(Scenario {
        name,
        graph,
        normal,
        cases,
    })
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, PetShopError> {
    let io = |source| PetShopError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        paths.push(entry.map_err(io)?.path());
    }
    Ok(paths)
}

fn read_text(path: &Path) -> Result<String, PetShopError> {
    fs::read_to_string(path).map_err(|source| PetShopError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Splits one CSV line; fields may be double-quoted with `""` escapes.
fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

fn csv_rows(path: &Path) -> Result<Vec<Vec<String>>, PetShopError> {
    Ok(read_text(path)?
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
        .map(split_csv_line)
        .collect())
}

/// Reads `graph.csv` into a call graph (every component becomes a node).
pub fn load_graph(path: &Path) -> Result<CallGraph, PetShopError> {
    let rows = csv_rows(path)?;
    let header = rows.first().ok_or_else(|| PetShopError::Csv {
        path: path.to_path_buf(),
        line: 1,
        reason: "empty file".into(),
    })?;
    let mut graph = CallGraph::new();
    for name in header.iter().skip(1) {
        graph.add_node(name);
        // X-Ray names the endpoints a service calls but that report no telemetry of their
        // own (load balancers, third-party hosts, the container metadata address)
        // `<host>_remote`; their numbers are the callers' view of the call.
        if name.ends_with("_remote") {
            graph.mark_inferred(name);
        }
    }
    for (i, row) in rows.iter().enumerate().skip(1) {
        let caller = row.first().map(String::as_str).unwrap_or_default();
        for (j, cell) in row.iter().enumerate().skip(1) {
            let weight: f64 = cell.trim().parse().map_err(|_| PetShopError::Csv {
                path: path.to_path_buf(),
                line: i + 1,
                reason: format!("cell {j} is not a number: {cell:?}"),
            })?;
            let Some(callee) = header.get(j) else {
                return Err(PetShopError::Csv {
                    path: path.to_path_buf(),
                    line: i + 1,
                    reason: format!("{} cells but {} header names", row.len(), header.len()),
                });
            };
            if weight != 0.0 {
                graph.add_edge(caller, callee);
            }
        }
    }
    Ok(graph)
}

/// Reads a `metrics.csv` with its three header rows.
pub fn load_metrics(path: &Path) -> Result<MetricsTable, PetShopError> {
    let rows = csv_rows(path)?;
    if rows.len() < 3 {
        return Err(PetShopError::Csv {
            path: path.to_path_buf(),
            line: rows.len() + 1,
            reason: "fewer than the three header rows".into(),
        });
    }
    let width = rows[0].len();
    let keys: Vec<ColumnKey> = (1..width)
        .map(|j| ColumnKey {
            component: rows[0][j].clone(),
            metric: rows[1].get(j).cloned().unwrap_or_default(),
            statistic: rows[2].get(j).cloned().unwrap_or_default(),
        })
        .collect();
    let mut table = MetricsTable::default();
    let mut values: Vec<Vec<Option<f64>>> = vec![Vec::new(); keys.len()];
    for (i, row) in rows.iter().enumerate().skip(3) {
        let Some(first) = row.first() else { continue };
        let Ok(timestamp) = first.trim().parse::<f64>() else {
            // The `unix_timestamp` label row.
            continue;
        };
        if row.len() != width {
            return Err(PetShopError::Csv {
                path: path.to_path_buf(),
                line: i + 1,
                reason: format!("{} cells, header has {width}", row.len()),
            });
        }
        table.timestamps.push(timestamp.round() as i64);
        for (column, cell) in values.iter_mut().zip(row.iter().skip(1)) {
            let cell = cell.trim();
            let value = if cell.is_empty() {
                None
            } else {
                let v: f64 = cell.parse().map_err(|_| PetShopError::Csv {
                    path: path.to_path_buf(),
                    line: i + 1,
                    reason: format!("not a number: {cell:?}"),
                })?;
                v.is_finite().then_some(v)
            };
            column.push(value);
        }
    }
    table.columns = keys.into_iter().zip(values).collect();
    Ok(table)
}

fn load_case(scenario: &str, split: Split, dir: &Path) -> Result<IssueCase, PetShopError> {
    let target_path = dir.join("target.json");
    let json: serde_json::Value =
        serde_json::from_str(&read_text(&target_path)?).map_err(|source| PetShopError::Json {
            path: target_path.clone(),
            source,
        })?;
    let field = |pointer: &str, name: &'static str| -> Result<&serde_json::Value, PetShopError> {
        json.pointer(pointer).ok_or(PetShopError::Field {
            path: target_path.clone(),
            field: name,
        })
    };
    let text = |pointer: &str, name: &'static str| -> Result<String, PetShopError> {
        field(pointer, name)?
            .as_str()
            .map(str::to_string)
            .ok_or(PetShopError::Field {
                path: target_path.clone(),
                field: name,
            })
    };
    let target_timestamp = field("/target/timestamp", "target.timestamp")?
        .as_f64()
        .ok_or(PetShopError::Field {
            path: target_path.clone(),
            field: "target.timestamp",
        })?
        .round() as i64;
    Ok(IssueCase {
        scenario: scenario.to_string(),
        split,
        name: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        target_node: text("/target/node", "target.node")?,
        target_metric: text("/target/metric", "target.metric")?,
        target_statistic: text("/target/agg", "target.agg")
            .unwrap_or_else(|_| "Average".to_string()),
        target_timestamp,
        root_cause: text("/root_cause/node", "root_cause.node")?,
        metrics: load_metrics(&dir.join("metrics.csv"))?,
    })
}

/// Knobs of the evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalOptions {
    /// Add the scenario's `noissue` period to every series' baseline when present.
    pub use_normal_period: bool,
    /// Restrict to these scenarios (all when empty).
    pub scenarios: Vec<String>,
    /// Restrict to at most this many cases per scenario and split (all when `None`).
    pub max_cases_per_split: Option<usize>,
    pub metric: MetricConfig,
    pub combine: CombineConfig,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            use_normal_period: true,
            scenarios: Vec::new(),
            max_cases_per_split: None,
            metric: MetricConfig::default(),
            combine: CombineConfig::default(),
        }
    }
}

/// The methods compared in a [`Report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Method {
    Vigil,
    Random,
    Correlation,
    Traversal,
}

impl Method {
    pub const ALL: [Method; 4] = [
        Method::Vigil,
        Method::Random,
        Method::Correlation,
        Method::Traversal,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Method::Vigil => "vigil",
            Method::Random => "random",
            Method::Correlation => "correlation",
            Method::Traversal => "traversal",
        }
    }
}

/// Outcome of one issue case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseResult {
    pub scenario: String,
    pub split: Split,
    pub issue: String,
    pub metric: String,
    pub root_cause: String,
    /// Number of candidates (components other than the target).
    pub candidates: usize,
    /// 1-based rank of the root cause per method (`None`: not ranked at all). For
    /// `Random` this is not used; see [`CaseResult::hit`].
    pub ranks: BTreeMap<Method, Option<usize>>,
    /// Vigil's top three with their scores.
    pub vigil_top: Vec<(String, f64)>,
}

impl CaseResult {
    /// 1.0 when the root cause is in the method's top `k` (the expected value k / N for
    /// `Random`).
    pub fn hit(&self, method: Method, k: usize) -> f64 {
        if method == Method::Random {
            return (k.min(self.candidates) as f64) / (self.candidates.max(1) as f64);
        }
        match self.ranks.get(&method).copied().flatten() {
            Some(rank) if rank <= k => 1.0,
            _ => 0.0,
        }
    }
}

/// Accuracy of every method over one group of cases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRow {
    pub group: String,
    pub cases: usize,
    /// `(top-1, top-3)` accuracy per method.
    pub accuracy: BTreeMap<Method, (f64, f64)>,
}

/// The evaluation: per-group accuracy table and per-case outcomes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub rows: Vec<ReportRow>,
    pub cases: Vec<CaseResult>,
}

impl Report {
    /// The row of `group` (`overall`, `test`, `low_traffic`, `low_traffic/latency`, …).
    pub fn row(&self, group: &str) -> Option<&ReportRow> {
        self.rows.iter().find(|r| r.group == group)
    }
}

/// Figures from the dataset publishers' own repository (amazon-science/
/// petshop-root-cause-analysis, `code/RCA-Dataset-Eval.ipynb`, commit 1c5992dc): their
/// anomaly-traversal baseline with a median-deviation scorer (threshold 5), top-1 and top-3
/// over train and test together, temporal scenarios pooled. These are the stored notebook
/// outputs, not the paper's tables (which could not be retrieved here).
pub const PUBLISHED_TRAVERSAL_MAD: [(&str, &str, usize, f64, f64); 6] = [
    ("low_traffic", "latency", 14, 0.571, 0.571),
    ("low_traffic", "availability", 12, 0.833, 1.000),
    ("high_traffic", "latency", 14, 0.571, 0.786),
    ("high_traffic", "availability", 12, 0.667, 1.000),
    ("temporal_traffic", "latency", 8, 1.000, 1.000),
    ("temporal_traffic", "availability", 8, 0.750, 1.000),
];

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<32} {:>5}", "group", "cases")?;
        for method in Method::ALL {
            write!(f, " {:>15}", format!("{} @1/@3", method.name()))?;
        }
        writeln!(f)?;
        for row in &self.rows {
            write!(f, "{:<32} {:>5}", row.group, row.cases)?;
            for method in Method::ALL {
                let (top1, top3) = row.accuracy.get(&method).copied().unwrap_or((0.0, 0.0));
                write!(f, " {:>15}", format!("{top1:.3}/{top3:.3}"))?;
            }
            writeln!(f)?;
        }
        writeln!(f, "(random: expected accuracy k / N over the N candidates)")?;
        writeln!(
            f,
            "\nPublished (dataset repository notebook, anomaly traversal with MAD scores, \
             train+test):"
        )?;
        for (scenario, metric, n, top1, top3) in PUBLISHED_TRAVERSAL_MAD {
            writeln!(
                f,
                "  {:<32} {n:>5} {:>15}",
                format!("{scenario}/{metric}"),
                format!("{top1:.3}/{top3:.3}")
            )?;
        }
        Ok(())
    }
}

/// Evaluates every method on the PetShop dataset under `dataset_root`.
pub fn evaluate(dataset_root: &Path, options: &EvalOptions) -> Result<Report, PetShopError> {
    let scenarios = load_dataset(dataset_root)?;
    let mut cases = Vec::new();
    for scenario in &scenarios {
        if !options.scenarios.is_empty() && !options.scenarios.contains(&scenario.name) {
            continue;
        }
        let mut taken: HashMap<Split, usize> = HashMap::new();
        for case in &scenario.cases {
            let count = taken.entry(case.split).or_default();
            if options.max_cases_per_split.is_some_and(|max| *count >= max) {
                continue;
            }
            *count += 1;
            cases.push(evaluate_case(scenario, case, options));
        }
    }
    Ok(Report {
        rows: summarize(&cases),
        cases,
    })
}

fn summarize(cases: &[CaseResult]) -> Vec<ReportRow> {
    let mut groups: Vec<(String, Vec<&CaseResult>)> = Vec::new();
    fn push<'a>(
        groups: &mut Vec<(String, Vec<&'a CaseResult>)>,
        name: String,
        members: Vec<&'a CaseResult>,
    ) {
        if !members.is_empty() {
            groups.push((name, members));
        }
    }
    for scenario in SCENARIOS {
        for metric in ["latency", "availability"] {
            push(
                &mut groups,
                format!("{scenario}/{metric}"),
                cases
                    .iter()
                    .filter(|c| c.scenario == scenario && c.metric == metric)
                    .collect(),
            );
        }
        push(
            &mut groups,
            scenario.to_string(),
            cases.iter().filter(|c| c.scenario == scenario).collect(),
        );
    }
    for metric in ["latency", "availability"] {
        push(
            &mut groups,
            format!("all/{metric}"),
            cases.iter().filter(|c| c.metric == metric).collect(),
        );
    }
    for split in [Split::Train, Split::Test] {
        push(
            &mut groups,
            format!("{split} split"),
            cases.iter().filter(|c| c.split == split).collect(),
        );
    }
    push(&mut groups, "overall".to_string(), cases.iter().collect());

    groups
        .into_iter()
        .map(|(group, members)| {
            let n = members.len() as f64;
            let accuracy = Method::ALL
                .iter()
                .map(|&m| {
                    let top1 = members.iter().map(|c| c.hit(m, 1)).sum::<f64>() / n;
                    let top3 = members.iter().map(|c| c.hit(m, 3)).sum::<f64>() / n;
                    (m, (top1, top3))
                })
                .collect();
            ReportRow {
                group,
                cases: members.len(),
                accuracy,
            }
        })
        .collect()
}

/// Turns a raw value of the target metric into "higher is worse": availability (percent)
/// becomes unavailability in percentage points, latency stays in seconds.
fn worse_is_higher(metric: &str, value: f64) -> f64 {
    match metric {
        "availability" => 100.0 - value,
        _ => value,
    }
}

/// Smallest change worth reading in the target metric for `component`: one millisecond of
/// latency; for unavailability one failed request in the component's typical interval
/// (100 / median requests, percentage points), the resolution of a proportion.
fn resolution(metric: &str, component: &str, table: &MetricsTable) -> f64 {
    match metric {
        "availability" => {
            let requests: Vec<f64> = ["Sum", "Average"]
                .iter()
                .find_map(|stat| table.column(component, "requests", stat))
                .map(|c| c.iter().flatten().copied().collect())
                .unwrap_or_default();
            let typical = crate::rca::stats::median(&requests).unwrap_or(0.0);
            if typical >= 1.0 { 100.0 / typical } else { 1.0 }
        }
        _ => 0.001,
    }
}

/// Departure of every component's series of the target metric and statistic.
fn case_findings(
    scenario: &Scenario,
    case: &IssueCase,
    options: &EvalOptions,
) -> Vec<MetricFinding> {
    let incident_start = case
        .metrics
        .timestamps
        .iter()
        .copied()
        .filter(|t| *t <= case.target_timestamp)
        .max()
        .unwrap_or(i64::MIN);
    let metric = case.target_metric.as_str();
    let mut findings = Vec::new();
    for component in scenario.graph.nodes() {
        let Some(column) =
            case.metrics
                .column(component, &case.target_metric, &case.target_statistic)
        else {
            continue;
        };
        let mut recent = Vec::new();
        let mut incident = Vec::new();
        for (t, v) in case.metrics.timestamps.iter().zip(column) {
            let Some(v) = v.map(|v| worse_is_higher(metric, v)) else {
                continue;
            };
            if *t < incident_start {
                recent.push(v);
            } else {
                incident.push(v);
            }
        }
        let mut baseline = recent.clone();
        if options.use_normal_period
            && let Some(normal) = &scenario.normal
            && let Some(values) =
                normal.column(component, &case.target_metric, &case.target_statistic)
        {
            baseline.extend(values.iter().flatten().map(|v| worse_is_higher(metric, *v)));
        }
        if let Some(f) = score_values(
            component,
            if metric == "availability" {
                "unavailability"
            } else {
                metric
            },
            Direction::HigherIsWorse,
            resolution(metric, component, &case.metrics),
            WindowValues {
                baseline: &baseline,
                recent: &recent,
                incident: &incident,
            },
            &options.metric,
        ) {
            findings.push(f);
        }
    }
    findings
}

fn health_of(findings: &[MetricFinding]) -> HashMap<String, NodeHealth> {
    findings
        .iter()
        .map(|f| {
            (
                f.component.clone(),
                NodeHealth {
                    anomaly: f.anomaly,
                    excess: f.excess,
                    detail: f.evidence.clone(),
                },
            )
        })
        .collect()
}

/// Vigil's ranking for one case (all components, target included).
pub fn rank_case(scenario: &Scenario, case: &IssueCase, options: &EvalOptions) -> Ranking {
    rank_findings(
        scenario,
        case,
        &case_findings(scenario, case, options),
        options,
    )
}

fn rank_findings(
    scenario: &Scenario,
    case: &IssueCase,
    findings: &[MetricFinding],
    options: &EvalOptions,
) -> Ranking {
    let health = health_of(findings);
    let graph_findings: Vec<GraphFinding> =
        localize(&scenario.graph, &health, Some(&case.target_node));
    combine(&graph_findings, findings, &[], &options.combine)
}

fn rank_of(order: &[String], root_cause: &str) -> Option<usize> {
    order.iter().position(|c| c == root_cause).map(|i| i + 1)
}

fn evaluate_case(scenario: &Scenario, case: &IssueCase, options: &EvalOptions) -> CaseResult {
    let candidates: Vec<String> = scenario
        .graph
        .nodes()
        .filter(|n| *n != case.target_node)
        .map(str::to_string)
        .collect();

    let findings = case_findings(scenario, case, options);
    let ranking = rank_findings(scenario, case, &findings, options);
    let vigil: Vec<String> = ranking
        .candidates
        .iter()
        .filter_map(|c| c.subject.component())
        .filter(|c| *c != case.target_node)
        .map(str::to_string)
        .collect();
    let vigil_top = ranking
        .candidates
        .iter()
        .filter(|c| c.subject.component() != Some(case.target_node.as_str()))
        .take(3)
        .map(|c| (c.subject.to_string(), c.score))
        .collect();

    let mut ranks = BTreeMap::new();
    ranks.insert(Method::Vigil, rank_of(&vigil, &case.root_cause));
    ranks.insert(Method::Random, None);
    ranks.insert(
        Method::Correlation,
        rank_of(&correlation_order(case, &candidates), &case.root_cause),
    );
    ranks.insert(
        Method::Traversal,
        rank_of(
            &traversal_order(&scenario.graph, &findings, &case.target_node),
            &case.root_cause,
        ),
    );
    CaseResult {
        scenario: case.scenario.clone(),
        split: case.split,
        issue: case.name.clone(),
        metric: case.target_metric.clone(),
        root_cause: case.root_cause.clone(),
        candidates: candidates.len(),
        ranks,
        vigil_top,
    }
}

/// Candidates by |r| with the target's series over the issue's intervals (pairs with a
/// missing side dropped), ties by name.
fn correlation_order(case: &IssueCase, candidates: &[String]) -> Vec<String> {
    let metric = &case.target_metric;
    let statistic = &case.target_statistic;
    let target = case.metrics.column(&case.target_node, metric, statistic);
    let mut scored: Vec<(f64, &String)> = candidates
        .iter()
        .map(|c| {
            let r = match (target, case.metrics.column(c, metric, statistic)) {
                (Some(t), Some(x)) => {
                    let (a, b): (Vec<f64>, Vec<f64>) = t
                        .iter()
                        .zip(x)
                        .filter_map(|(a, b)| Some(((*a)?, (*b)?)))
                        .unzip();
                    pearson(&a, &b).map_or(0.0, f64::abs)
                }
                _ => 0.0,
            };
            (r, c)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().map(|(_, c)| c.clone()).collect()
}

/// Walks from the target along callees through anomalous nodes; returns the anomalous nodes
/// without anomalous callees, highest z first.
fn traversal_order(graph: &CallGraph, findings: &[MetricFinding], target: &str) -> Vec<String> {
    let z: HashMap<&str, f64> = findings
        .iter()
        .map(|f| (f.component.as_str(), f.z))
        .collect();
    let anomalous = |n: &str| z.get(n).is_some_and(|z| *z >= TRAVERSAL_Z);
    let mut visited = std::collections::BTreeSet::new();
    let mut stack = vec![target.to_string()];
    let mut roots = Vec::new();
    while let Some(node) = stack.pop() {
        if !visited.insert(node.clone()) {
            continue;
        }
        let next: Vec<String> = graph
            .callees(&node)
            .filter(|c| anomalous(c))
            .map(str::to_string)
            .collect();
        if next.is_empty() && node != target {
            roots.push(node.clone());
        }
        stack.extend(next);
    }
    roots.sort_by(|a, b| {
        let za = z.get(a.as_str()).copied().unwrap_or(0.0);
        let zb = z.get(b.as_str()).copied().unwrap_or(0.0);
        zb.total_cmp(&za).then_with(|| a.cmp(b))
    });
    roots
}
