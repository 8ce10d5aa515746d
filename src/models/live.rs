//! Live anomaly detection: one streaming detector per watched series, fed one point per
//! minute inside `vigil serve`, with its learned state kept across restarts.
//!
//! Series come from two places:
//! - every SLO objective, from the SLO engine's minute rollups: `<slo>:error_ratio` (bad ÷
//!   total, minutes with events only) and `<slo>:events` (events per minute, 0 when none);
//! - SQL series ([`SqlSeries`], `[[anomalies.series]]` in `vigil.toml`, with defaults for
//!   agent telemetry): a query returning `minute`, `key` and `value` per minute, one series
//!   per key, named `<name>{<key>}`.
//!
//! Each series is scored in time order and only once per minute. A point whose score
//! reaches the threshold is an [`Anomaly`], written to the `anomalies` table with the
//! value expected from the series' recent past (the median of its last hour) and a band
//! (± 3 robust standard deviations, 1.4826 × MAD). Points older than the emission start
//! (history replayed after a fresh start) only teach the detector.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use serde::{Deserialize, Serialize};

use super::{AnyDetector, Detector, ModelError, new_detector};
use crate::store::Table;

/// Points kept per series for the expected value and band.
const RECENT: usize = 60;

/// One minute of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    pub series: String,
    /// The minute's start, unix seconds.
    pub minute: i64,
    pub value: f64,
}

/// A point that scored at or above the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub minute: i64,
    pub series: String,
    pub value: f64,
    pub expected: Option<f64>,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub score: f64,
    pub detector: String,
}

/// A watched series defined by SQL.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlSeries {
    /// The series name; each key adds `{key}`.
    pub name: String,
    /// Returns `minute` (timestamp), `key` (text) and `value` (number) for the minutes in
    /// `[$__start, $__end)`.
    pub query: String,
}

impl SqlSeries {
    /// The query for `[start, end)`.
    pub fn sql(&self, start: i64, end: i64) -> String {
        use crate::slo::source::{END_MARKER, START_MARKER, timestamp_literal};
        self.query
            .replace(START_MARKER, &timestamp_literal(start))
            .replace(END_MARKER, &timestamp_literal(end))
    }
}

/// The SQL series watched unless configured otherwise: tokens and cost per bot (Claude
/// Code counters), p95 span latency per service, p95 model latency per model (GenAI
/// `chat` spans) and CI pipeline duration per pipeline.
pub fn default_sql_series() -> Vec<SqlSeries> {
    let per_bot = |name: &str, metric: &str| SqlSeries {
        name: name.to_owned(),
        query: format!(
            "SELECT date_trunc('minute', time) AS minute, \
             coalesce(json_get_str(resource_attributes, 'bot.id'), service_name, '') AS key, \
             sum(value) AS value FROM metrics \
             WHERE metric_name = '{metric}' AND time >= $__start AND time < $__end GROUP BY 1, 2"
        ),
    };
    vec![
        per_bot("tokens_per_bot", "claude_code.token.usage"),
        per_bot("cost_per_bot", "claude_code.cost.usage"),
        SqlSeries {
            name: "latency_p95_ms".to_owned(),
            query: "SELECT date_trunc('minute', start_time) AS minute, \
                    coalesce(service_name, '') AS key, \
                    approx_percentile_cont(duration_ns / 1e6, 0.95) AS value FROM spans \
                    WHERE start_time >= $__start AND start_time < $__end GROUP BY 1, 2"
                .to_owned(),
        },
        SqlSeries {
            name: "model_latency_p95_ms".to_owned(),
            query: "SELECT date_trunc('minute', start_time) AS minute, \
                    coalesce(json_get_str(attributes, 'gen_ai.request.model'), '') AS key, \
                    approx_percentile_cont(duration_ns / 1e6, 0.95) AS value FROM spans \
                    WHERE name LIKE 'chat %' AND start_time >= $__start AND start_time < $__end \
                    GROUP BY 1, 2"
                .to_owned(),
        },
        SqlSeries {
            name: "ci_duration_s".to_owned(),
            query: "SELECT date_trunc('minute', start_time) AS minute, \
                    coalesce(json_get_str(attributes, 'cicd.pipeline.name'), '') AS key, \
                    avg(duration_ns / 1e9) AS value FROM spans \
                    WHERE json_get_str(attributes, 'cicd.pipeline.result') IS NOT NULL \
                    AND start_time >= $__start AND start_time < $__end GROUP BY 1, 2"
                .to_owned(),
        },
    ]
}

/// One series' detector and recent values.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Watched {
    detector: AnyDetector,
    recent: VecDeque<f64>,
    /// The last minute fed, unix seconds.
    last: i64,
}

/// Every watched series' detector, saved and restored as one JSON file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveDetectors {
    detector: String,
    threshold: f64,
    series: BTreeMap<String, Watched>,
}

impl LiveDetectors {
    /// No series yet; each gets a fresh `detector` when its first point arrives.
    pub fn new(detector: &str, threshold: f64) -> Result<LiveDetectors, ModelError> {
        new_detector(detector)?;
        Ok(LiveDetectors {
            detector: detector.to_owned(),
            threshold,
            series: BTreeMap::new(),
        })
    }

    /// The detectors saved at `path`, or fresh ones when there is no file or it was saved
    /// for another detector or threshold (what was learned then no longer applies).
    pub fn load_or_new(
        path: &Path,
        detector: &str,
        threshold: f64,
    ) -> Result<LiveDetectors, ModelError> {
        let fresh = LiveDetectors::new(detector, threshold)?;
        let Ok(text) = std::fs::read_to_string(path) else {
            return Ok(fresh);
        };
        match serde_json::from_str::<LiveDetectors>(&text) {
            Ok(saved) if saved.detector == detector && saved.threshold == threshold => Ok(saved),
            Ok(_) => Ok(fresh),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "detector state unreadable; starting fresh");
                Ok(fresh)
            }
        }
    }

    /// Saves every detector to `path` (write, fsync, rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        let text = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&text)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    }

    /// The newest minute fed to any series, if any.
    pub fn newest(&self) -> Option<i64> {
        self.series.values().map(|w| w.last).max()
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Feeds `points` (any order: each series is fed in time order, minutes it already
    /// saw are skipped) and returns the anomalies among points at or after `emit_from`.
    pub fn observe(&mut self, mut points: Vec<SeriesPoint>, emit_from: i64) -> Vec<Anomaly> {
        points.sort_by(|a, b| (&a.series, a.minute).cmp(&(&b.series, b.minute)));
        let mut found = Vec::new();
        for point in points {
            if !point.value.is_finite() {
                continue;
            }
            let watched = match self.series.get_mut(&point.series) {
                Some(w) => w,
                None => {
                    let Ok(detector) = new_detector(&self.detector) else {
                        continue;
                    };
                    self.series.entry(point.series.clone()).or_insert(Watched {
                        detector,
                        recent: VecDeque::new(),
                        last: i64::MIN,
                    })
                }
            };
            if point.minute <= watched.last {
                continue;
            }
            let band = band(&watched.recent);
            let score = watched.detector.update(point.minute, point.value);
            watched.last = point.minute;
            watched.recent.push_back(point.value);
            if watched.recent.len() > RECENT {
                watched.recent.pop_front();
            }
            if score >= self.threshold && point.minute >= emit_from {
                found.push(Anomaly {
                    minute: point.minute,
                    series: point.series,
                    value: point.value,
                    expected: band.map(|b| b.0),
                    lower: band.map(|b| b.1),
                    upper: band.map(|b| b.2),
                    score,
                    detector: self.detector.clone(),
                });
            }
        }
        found
    }
}

/// Median and ± 3 robust standard deviations of `recent`; `None` with fewer than 5.
fn band(recent: &VecDeque<f64>) -> Option<(f64, f64, f64)> {
    if recent.len() < 5 {
        return None;
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        }
    };
    let mut values: Vec<f64> = recent.iter().copied().collect();
    let center = median(&mut values);
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - center).abs()).collect();
    let spread = 3.0 * 1.4826 * median(&mut deviations);
    Some((center, center - spread, center + spread))
}

/// Anomalies as rows of the `anomalies` table.
pub fn anomalies_batch(found: &[Anomaly]) -> RecordBatch {
    let time = TimestampNanosecondArray::from(
        found
            .iter()
            .map(|a| a.minute.saturating_mul(1_000_000_000))
            .collect::<Vec<_>>(),
    )
    .with_timezone("UTC");
    let floats = |f: &dyn Fn(&Anomaly) -> Option<f64>| -> ArrayRef {
        Arc::new(found.iter().map(f).collect::<Float64Array>())
    };
    let texts = |f: &dyn Fn(&Anomaly) -> &str| -> ArrayRef {
        Arc::new(found.iter().map(|a| Some(f(a))).collect::<StringArray>())
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(time),
        texts(&|a| &a.series),
        floats(&|a| Some(a.value)),
        floats(&|a| a.expected),
        floats(&|a| a.lower),
        floats(&|a| a.upper),
        floats(&|a| Some(a.score)),
        texts(&|a| &a.detector),
    ];
    // The columns above follow the anomalies schema column for column.
    RecordBatch::try_new(Table::Anomalies.schema(), columns)
        .unwrap_or_else(|e| panic!("anomaly rows do not match their schema: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steady(series: &str, minutes: std::ops::Range<i64>) -> Vec<SeriesPoint> {
        minutes
            .map(|m| SeriesPoint {
                series: series.to_owned(),
                minute: 1_700_000_000 + m * 60,
                // A little deterministic wobble around 20.
                value: 20.0 + ((m * 7919) % 5) as f64 * 0.5,
            })
            .collect()
    }

    #[test]
    fn a_spike_after_two_days_of_steady_traffic_is_an_anomaly_with_its_band() {
        let mut live = LiveDetectors::new("ensemble", crate::models::DEFAULT_ALERT_THRESHOLD)
            .expect("detector");
        let history = steady("requests", 0..2880);
        assert_eq!(live.observe(history, i64::MIN), Vec::<Anomaly>::new());
        let spike = SeriesPoint {
            series: "requests".into(),
            minute: 1_700_000_000 + 2880 * 60,
            value: 400.0,
        };
        let found = live.observe(vec![spike.clone()], i64::MIN);
        assert_eq!(found.len(), 1, "{found:?}");
        let anomaly = &found[0];
        assert_eq!(anomaly.value, 400.0);
        let (lower, upper) = (anomaly.lower.unwrap(), anomaly.upper.unwrap());
        assert!(
            lower <= 20.0 && (22.0..400.0).contains(&upper),
            "{anomaly:?}"
        );
        // The same minute is never scored twice.
        assert!(live.observe(vec![spike], i64::MIN).is_empty());
    }

    #[test]
    fn flat_series_raise_nothing_and_history_before_emit_from_only_teaches() {
        let mut live = LiveDetectors::new("ensemble", 0.1199).expect("detector");
        let flat: Vec<SeriesPoint> = (0..500)
            .map(|m| SeriesPoint {
                series: "flat".into(),
                minute: m * 60,
                value: 3.0,
            })
            .collect();
        assert!(live.observe(flat, i64::MIN).is_empty());
        let mut late = steady("requests", 0..2880);
        late.push(SeriesPoint {
            series: "requests".into(),
            minute: 1_700_000_000 + 2880 * 60,
            value: 400.0,
        });
        assert!(live.observe(late, i64::MAX).is_empty());
    }

    #[test]
    fn saved_detectors_resume_where_they_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.json");
        let mut first = LiveDetectors::new("ensemble", 0.1199).unwrap();
        let mut twin = LiveDetectors::new("ensemble", 0.1199).unwrap();
        let history = steady("requests", 0..1500);
        first.observe(history.clone(), i64::MIN);
        twin.observe(history, i64::MIN);
        first.save(&path).unwrap();
        let mut restored = LiveDetectors::load_or_new(&path, "ensemble", 0.1199).unwrap();
        assert_eq!(restored.newest(), twin.newest());
        let next = steady("requests", 1500..2000);
        let spike = SeriesPoint {
            series: "requests".into(),
            minute: 1_700_000_000 + 2000 * 60,
            value: 300.0,
        };
        let mut rest = next.clone();
        rest.push(spike);
        assert_eq!(
            restored.observe(rest.clone(), i64::MIN),
            twin.observe(rest, i64::MIN)
        );
        // Another detector name starts fresh.
        let other = LiveDetectors::load_or_new(&path, "seasonal_mad", 0.1199).unwrap();
        assert!(other.is_empty());
    }
}
