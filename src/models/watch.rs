//! The live detection step inside `vigil serve`: gathers the newest complete minutes of
//! every watched series, scores them ([`super::live::LiveDetectors`]), writes anomalies to
//! the `anomalies` table and sends them to the alert engine.
//!
//! A minute is scored once it is complete and one more minute has passed (for telemetry
//! that arrives a little late). On a fresh start the detectors learn from `warmup` of
//! history and only the last hour of it can raise anomalies; with saved state they resume
//! after the last scored minute. State is saved every ten steps and when the job stops.
//!
//! Alerts: `AnomalyDetected`, labelled `series` (and `slo` for SLO series), SEV4 below
//! `major_score`, SEV3 at or above it, SEV2 while the series' SLO is burning; handled by
//! ops bots except SEV2. Each stays firing for the alert engine's minimum firing time.

use std::path::PathBuf;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, TimeUnit};
use tracing::warn;

use super::live::{Anomaly, LiveDetectors, SeriesPoint, anomalies_batch};
use crate::alert::{Severity, Signal};
use crate::config::AnomaliesConfig;
use crate::query::QueryEngine;
use crate::slo::engine::SloEngine;
use crate::store::{Store, Table};

const MINUTE: i64 = 60;

/// The alert engine's name for anomaly evaluations.
pub const SOURCE: &str = "anomaly";

/// The alert name of anomaly alerts.
pub const ALERTNAME: &str = "AnomalyDetected";

/// Steps between saves of the detectors.
const SAVE_EVERY: u32 = 10;

#[derive(Debug)]
pub struct Watcher {
    config: AnomaliesConfig,
    live: LiveDetectors,
    state_path: PathBuf,
    /// Whether the detectors came from saved state (else history only teaches them).
    resumed: bool,
    steps: u32,
}

impl Watcher {
    /// The detectors saved under `data_dir`, or fresh ones.
    pub fn open(
        config: &AnomaliesConfig,
        data_dir: &std::path::Path,
    ) -> Result<Watcher, super::ModelError> {
        let state_path = data_dir.join("_models").join("live-detectors.json");
        let live = LiveDetectors::load_or_new(&state_path, &config.detector, config.threshold)?;
        Ok(Watcher {
            config: config.clone(),
            resumed: !live.is_empty(),
            live,
            state_path,
            steps: 0,
        })
    }

    /// Scores the minutes completed since the last step; returns the anomalies found
    /// (already written to `anomalies`) and the alert signals for them.
    pub async fn step(
        &mut self,
        slos: &SloEngine,
        query: &QueryEngine,
        store: &Store,
        now: i64,
    ) -> Vec<Signal> {
        let to = now.div_euclid(MINUTE) * MINUTE - MINUTE;
        let oldest = to - self.config.warmup.0.as_secs() as i64;
        let from = self
            .live
            .newest()
            .map_or(oldest, |newest| (newest + MINUTE).max(oldest));
        if from >= to {
            return Vec::new();
        }
        let emit_from = if self.resumed { from } else { to - 3600 };
        let mut points = slos.minute_points(from, to);
        for series in &self.config.series {
            match sql_points(query, &series.name, &series.sql(from, to)).await {
                Ok(found) => points.extend(found),
                Err(e) => warn!(series = %series.name, error = %e, "anomaly series query failed"),
            }
        }
        let found = self.live.observe(points, emit_from);
        self.resumed = true;
        self.steps += 1;
        if self.steps.is_multiple_of(SAVE_EVERY) {
            self.save();
        }
        if !found.is_empty()
            && let Err(e) = store
                .append_derived(Table::Anomalies, anomalies_batch(&found))
                .await
        {
            warn!(error = %e, "anomalies not written");
        }
        let burning = slos.burning(now.div_euclid(MINUTE) * MINUTE + MINUTE);
        found.iter().map(|a| self.signal(a, &burning)).collect()
    }

    /// Saves the detectors; failures are logged (the next save tries again).
    pub fn save(&self) {
        if let Err(e) = self.live.save(&self.state_path) {
            warn!(path = %self.state_path.display(), error = %e, "cannot save detector state");
        }
    }

    fn signal(&self, anomaly: &Anomaly, burning: &std::collections::BTreeSet<String>) -> Signal {
        let slo = anomaly
            .series
            .split_once(':')
            .map(|(slo, _)| slo.to_owned())
            .filter(|slo| !anomaly.series.contains('{') && !slo.is_empty());
        let severity = if slo.as_ref().is_some_and(|s| burning.contains(s)) {
            Severity::Sev2
        } else if anomaly.score >= self.config.major_score {
            Severity::Sev3
        } else {
            Severity::Sev4
        };
        let expected = match (anomaly.expected, anomaly.lower, anomaly.upper) {
            (Some(e), Some(l), Some(u)) => format!("expected about {e:.3} (band {l:.3} to {u:.3})"),
            _ => "not enough history for an expected value".to_owned(),
        };
        let at = chrono::DateTime::from_timestamp(anomaly.minute, 0).unwrap_or_default();
        let mut signal = Signal::new(ALERTNAME, severity, true)
            .label("series", &anomaly.series)
            .label("type", "anomaly")
            .annotation(
                "summary",
                format!("{} is unusual: {:.3}", anomaly.series, anomaly.value),
            )
            .annotation(
                "description",
                format!(
                    "{} was {:.3} in the minute from {}; {expected}. Score {:.3} ({}).",
                    anomaly.series,
                    anomaly.value,
                    at.format("%Y-%m-%d %H:%M UTC"),
                    anomaly.score,
                    anomaly.detector
                ),
            )
            .value("value", anomaly.value)
            .value("score", anomaly.score);
        if let Some(slo) = slo {
            signal = signal.label("slo", slo);
        }
        signal
    }
}

/// Runs a series query and reads its `minute`, `key` and `value` columns.
async fn sql_points(
    query: &QueryEngine,
    name: &str,
    sql: &str,
) -> Result<Vec<SeriesPoint>, String> {
    let result = query.sql(sql).await.map_err(|e| e.to_string())?;
    let mut points = Vec::new();
    for batch in &result.batches {
        let column = |wanted: &str| {
            batch
                .column_by_name(wanted)
                .cloned()
                .ok_or_else(|| format!("the query returns no {wanted} column"))
        };
        let minutes = arrow::compute::cast(
            &column("minute")?,
            &DataType::Timestamp(TimeUnit::Second, None),
        )
        .map_err(|e| format!("minute is not a timestamp: {e}"))?;
        let minutes = minutes.as_primitive::<arrow::datatypes::TimestampSecondType>();
        let keys = arrow::compute::cast(&column("key")?, &DataType::Utf8)
            .map_err(|e| format!("key is not text: {e}"))?;
        let keys = keys.as_string::<i32>();
        let values = arrow::compute::cast(&column("value")?, &DataType::Float64)
            .map_err(|e| format!("value is not a number: {e}"))?;
        let values = values.as_primitive::<arrow::datatypes::Float64Type>();
        for row in 0..batch.num_rows() {
            if minutes.is_null(row) || values.is_null(row) {
                continue;
            }
            let key = if keys.is_null(row) {
                ""
            } else {
                keys.value(row)
            };
            points.push(SeriesPoint {
                series: format!("{name}{{{key}}}"),
                minute: minutes.value(row).div_euclid(MINUTE) * MINUTE,
                value: values.value(row),
            });
        }
    }
    Ok(points)
}
