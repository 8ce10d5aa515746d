//! `GET /metrics`: Vigil's own health and every SLO's figures in the Prometheus text
//! format, for a Prometheus that scrapes Vigil.
//!
//! Health counters are process-wide statics the hot paths bump with one relaxed atomic
//! add. SLO figures are the SLO job's latest evaluation ([`SloFigures`]), published after
//! every step, under the metric names and labels Sloth's recording rules produce, so
//! Sloth's public Grafana dashboards work unchanged:
//!
//! | metric | labels | value |
//! | --- | --- | --- |
//! | `slo:sli_error:ratio_rate<w>` for w in 5m 30m 1h 2h 6h 1d 3d and the SLO period (`30d`, …) | `sloth_id`, `sloth_service`, `sloth_slo`, `sloth_window` | error ratio over the window |
//! | `slo:objective:ratio` | id labels | the target, e.g. 0.99 |
//! | `slo:error_budget:ratio` | id labels | 1 − target |
//! | `slo:time_period:days` | id labels | the period's length in days |
//! | `slo:current_burn_rate:ratio` | id labels | burn rate over 5 m |
//! | `slo:period_burn_rate:ratio` | id labels | burn rate over the period so far |
//! | `slo:period_error_budget_remaining:ratio` | id labels | 1 − period burn rate |
//! | `sloth_slo_info` | id labels, `sloth_mode`, `sloth_spec`, `sloth_version`, `sloth_objective` | 1 |
//!
//! `sloth_service` is the SLO's service (or its name when it has none), `sloth_slo` the
//! SLO name (with the objective's name appended when an SLO has several), `sloth_id`
//! `<service>-<slo>`. A window without events has no sample (Sloth's would be NaN).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::store::Store;

/// A monotonically increasing count.
#[derive(Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Default for Counter {
    fn default() -> Self {
        Counter::new()
    }
}

/// How many operations took how long in total (a Prometheus summary without quantiles).
#[derive(Debug, Default)]
pub struct Timer {
    count: Counter,
    micros: Counter,
}

impl Timer {
    pub const fn new() -> Timer {
        Timer {
            count: Counter::new(),
            micros: Counter::new(),
        }
    }

    pub fn record(&self, took: Duration) {
        self.count.add(1);
        self.micros.add(took.as_micros() as u64);
    }
}

/// Records accepted per signal (traces, metrics, logs).
pub static INGESTED_RECORDS: [Counter; 3] = [Counter::new(), Counter::new(), Counter::new()];
/// Records rejected per signal, in accepted requests (partial success) and refused ones.
pub static REJECTED_RECORDS: [Counter; 3] = [Counter::new(), Counter::new(), Counter::new()];
/// Bytes of WAL records written.
pub static WAL_BYTES: Counter = Counter::new();
/// Flushes of the buffer to Parquet.
pub static FLUSHES: Timer = Timer::new();
/// Rows written to Parquet.
pub static FLUSHED_ROWS: Counter = Counter::new();
/// Queries run to completion (HTTP API, CLI and jobs; the Postgres port streams and is
/// not timed here).
pub static QUERIES: Timer = Timer::new();
/// Queries that failed.
pub static QUERY_ERRORS: Counter = Counter::new();

const SIGNALS: [&str; 3] = ["traces", "metrics", "logs"];

/// The index of a signal in the per-signal counters.
pub fn signal_index(signal: crate::store::Signal) -> Option<usize> {
    match signal {
        crate::store::Signal::Traces => Some(0),
        crate::store::Signal::Metrics => Some(1),
        crate::store::Signal::Logs => Some(2),
        crate::store::Signal::Derived => None,
    }
}

/// One SLO objective's figures at its latest evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct SloFigures {
    pub service: String,
    pub slo: String,
    pub objective: f64,
    pub period_days: f64,
    /// The SLO period's label (`30d`, `month`, …), used as its `sloth_window`.
    pub period_label: String,
    /// Error ratio per window label (`5m` … `3d`, then the period's label).
    pub error_ratios: Vec<(String, Option<f64>)>,
    pub current_burn: Option<f64>,
    pub period_burn: Option<f64>,
}

/// The latest SLO figures, shared by the SLO job (writer) and `/metrics` (reader).
pub type SharedFigures = Arc<RwLock<Vec<SloFigures>>>;

#[derive(Debug, Clone)]
struct Scrape {
    store: Store,
    slos: SharedFigures,
}

pub fn routes(store: Store, slos: SharedFigures) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(Scrape { store, slos })
}

async fn metrics(State(scrape): State<Scrape>) -> impl IntoResponse {
    let mut out = String::new();
    health(&mut out, &scrape.store);
    let slos = scrape.slos.read().unwrap_or_else(|e| e.into_inner());
    slo_series(&mut out, &slos);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn health(out: &mut String, store: &Store) {
    let per_signal = |out: &mut String, name: &str, help: &str, counters: &[Counter; 3]| {
        header(out, name, "counter", help);
        for (signal, counter) in SIGNALS.iter().zip(counters) {
            let _ = writeln!(out, "{name}{{signal=\"{signal}\"}} {}", counter.get());
        }
    };
    per_signal(
        out,
        "vigil_ingested_records_total",
        "OTLP records acknowledged (spans, log records, metric data points).",
        &INGESTED_RECORDS,
    );
    per_signal(
        out,
        "vigil_rejected_records_total",
        "OTLP records refused as invalid.",
        &REJECTED_RECORDS,
    );
    let single = |out: &mut String, name: &str, kind: &str, help: &str, value: f64| {
        header(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    };
    single(
        out,
        "vigil_wal_written_bytes_total",
        "counter",
        "Bytes of write-ahead log records written.",
        WAL_BYTES.get() as f64,
    );
    single(
        out,
        "vigil_buffered_bytes",
        "gauge",
        "Arrow bytes buffered in memory, waiting for a flush to Parquet.",
        store.buffered_bytes() as f64,
    );
    single(
        out,
        "vigil_flushed_rows_total",
        "counter",
        "Rows written to Parquet files.",
        FLUSHED_ROWS.get() as f64,
    );
    summary(
        out,
        "vigil_flush_duration_seconds",
        "Time to write the buffer to Parquet.",
        &FLUSHES,
    );
    summary(
        out,
        "vigil_query_duration_seconds",
        "Time to run a SQL query to completion (HTTP API, CLI, jobs).",
        &QUERIES,
    );
    single(
        out,
        "vigil_query_errors_total",
        "counter",
        "SQL queries that failed.",
        QUERY_ERRORS.get() as f64,
    );
}

fn summary(out: &mut String, name: &str, help: &str, timer: &Timer) {
    header(out, name, "summary", help);
    let _ = writeln!(out, "{name}_sum {}", timer.micros.get() as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {}", timer.count.get());
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn slo_series(out: &mut String, slos: &[SloFigures]) {
    let ids = |f: &SloFigures| {
        format!(
            "sloth_id=\"{}-{}\",sloth_service=\"{}\",sloth_slo=\"{}\"",
            escape(&f.service),
            escape(&f.slo),
            escape(&f.service),
            escape(&f.slo)
        )
    };
    let mut windows: Vec<&str> = Vec::new();
    for f in slos {
        for (label, _) in &f.error_ratios {
            if !windows.contains(&label.as_str()) {
                windows.push(label);
            }
        }
    }
    for window in windows {
        let name = format!("slo:sli_error:ratio_rate{window}");
        header(out, &name, "gauge", &format!("Error ratio over {window}."));
        for f in slos {
            let ratio = f
                .error_ratios
                .iter()
                .find(|(label, _)| label == window)
                .and_then(|(_, r)| *r);
            if let Some(ratio) = ratio {
                let _ = writeln!(
                    out,
                    "{name}{{{},sloth_window=\"{window}\"}} {ratio}",
                    ids(f)
                );
            }
        }
    }
    type Value = fn(&SloFigures) -> Option<f64>;
    let gauges: [(&str, &str, Value); 6] = [
        ("slo:objective:ratio", "The SLO's objective.", |f| {
            Some(f.objective)
        }),
        ("slo:error_budget:ratio", "1 minus the objective.", |f| {
            Some(1.0 - f.objective)
        }),
        ("slo:time_period:days", "The SLO period in days.", |f| {
            Some(f.period_days)
        }),
        (
            "slo:current_burn_rate:ratio",
            "Burn rate over the last 5 minutes.",
            |f| f.current_burn,
        ),
        (
            "slo:period_burn_rate:ratio",
            "Burn rate over the SLO period so far.",
            |f| f.period_burn,
        ),
        (
            "slo:period_error_budget_remaining:ratio",
            "Error budget left in the SLO period (negative when overspent).",
            |f| f.period_burn.map(|b| 1.0 - b),
        ),
    ];
    for (name, help, value) in gauges {
        header(out, name, "gauge", help);
        for f in slos {
            if let Some(v) = value(f) {
                let _ = writeln!(out, "{name}{{{}}} {v}", ids(f));
            }
        }
    }
    header(
        out,
        "sloth_slo_info",
        "gauge",
        "Information about each SLO.",
    );
    for f in slos {
        let _ = writeln!(
            out,
            "sloth_slo_info{{{},sloth_mode=\"vigil\",sloth_objective=\"{}\",sloth_spec=\"openslo/v1\",sloth_version=\"{}\"}} 1",
            ids(f),
            f.objective * 100.0,
            env!("CARGO_PKG_VERSION")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slo_series_follow_sloths_names_and_skip_windows_without_data() {
        let figures = vec![SloFigures {
            service: "claude-code".into(),
            slo: "claude-code-availability".into(),
            objective: 0.99,
            period_days: 30.0,
            period_label: "30d".into(),
            error_ratios: vec![("5m".into(), Some(0.02)), ("30d".into(), None)],
            current_burn: Some(2.0),
            period_burn: Some(0.25),
        }];
        let mut out = String::new();
        slo_series(&mut out, &figures);
        let id = "sloth_id=\"claude-code-claude-code-availability\",sloth_service=\"claude-code\",sloth_slo=\"claude-code-availability\"";
        for line in [
            format!("slo:sli_error:ratio_rate5m{{{id},sloth_window=\"5m\"}} 0.02"),
            format!("slo:objective:ratio{{{id}}} 0.99"),
            format!("slo:current_burn_rate:ratio{{{id}}} 2"),
            format!("slo:period_error_budget_remaining:ratio{{{id}}} 0.75"),
            format!("slo:time_period:days{{{id}}} 30"),
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line} in\n{out}");
        }
        assert!(!out.contains("ratio_rate30d{"), "{out}");
        assert!(out.contains("# TYPE slo:sli_error:ratio_rate30d gauge"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
