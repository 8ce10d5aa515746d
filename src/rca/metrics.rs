//! Metric evidence: how far each component's series departs, during the incident window,
//! from its own baseline.
//!
//! Owns the robust departure score used everywhere in `rca`:
//!
//! ```text
//! centre = median(baseline)
//! spread = 1.4826 × MAD(baseline), or 1.2533 × mean |baseline − centre| when the MAD is 0
//! level  = median(recent)           (the points just before the incident; centre if none)
//! scale  = max(spread, relative_floor × |centre|, min_scale, |level − centre|)
//! worst  = the incident point furthest in the "worse" direction
//! excess = max(0, worst − max(centre, level))   (mirrored when lower is worse)
//! z      = excess / scale
//! ```
//!
//! The `recent` reference matters when the baseline is an older or longer history: a series
//! that already sat at its incident level just before the incident did not change with it,
//! and a level shift between history and the recent past widens the scale by its size.
//!
//! Guarantees: missing points (`None`, NaN) are skipped; a series with no baseline or no
//! incident point gives no finding (never a NaN score); `excess` is in the series' own unit,
//! so excesses of the same metric on different components can be compared (the call-graph
//! evidence relies on that).

use serde::Serialize;

use crate::rca::stats::{MAD_TO_SIGMA, MEAN_ABS_TO_SIGMA, anomaly_degree, mad, median};

/// Which way a metric goes when things get worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Direction {
    /// Latency, error rate, queue depth.
    HigherIsWorse,
    /// Availability, throughput of a healthy path.
    LowerIsWorse,
}

/// One component's metric as timestamped points (seconds since the epoch); `None` marks a
/// missing point.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSeries {
    pub component: String,
    pub metric: String,
    pub direction: Direction,
    /// Smallest meaningful change in the metric's unit (its resolution); keeps a flat
    /// baseline from turning noise into an infinite z.
    pub min_scale: f64,
    pub points: Vec<(i64, Option<f64>)>,
}

/// A half-open time range `[start, end)` in seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

impl Window {
    pub fn contains(&self, t: i64) -> bool {
        self.start <= t && t < self.end
    }
}

/// Constants of the departure score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricConfig {
    /// Lower bound of the scale as a fraction of the baseline median.
    pub relative_floor: f64,
    /// The z at which a departure counts as half anomalous (see [`MetricFinding::anomaly`]).
    pub half_anomaly_z: f64,
}

impl Default for MetricConfig {
    fn default() -> Self {
        Self {
            relative_floor: 0.05,
            half_anomaly_z: 3.0,
        }
    }
}

/// How far one series departed from its baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricFinding {
    pub component: String,
    pub metric: String,
    pub baseline_median: f64,
    pub scale: f64,
    /// The incident point furthest in the worse direction.
    pub worst: f64,
    /// `worst − baseline_median` in the worse direction, never negative.
    pub excess: f64,
    /// `excess / scale`.
    pub z: f64,
    /// `z² / (z² + half²)` in `[0, 1)`.
    pub anomaly: f64,
    pub evidence: String,
}

/// The values of one series, split by window. Non-finite values are skipped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowValues<'a> {
    /// History the spread is estimated from (may include `recent`).
    pub baseline: &'a [f64],
    /// The points right before the incident when `baseline` is a longer or older history;
    /// empty when the baseline is the recent past itself.
    pub recent: &'a [f64],
    pub incident: &'a [f64],
}

/// Scores one series given its values per window. `None` when the baseline or the incident
/// has no usable value.
pub fn score_values(
    component: &str,
    metric: &str,
    direction: Direction,
    min_scale: f64,
    values: WindowValues<'_>,
    config: &MetricConfig,
) -> Option<MetricFinding> {
    let finite =
        |values: &[f64]| -> Vec<f64> { values.iter().copied().filter(|v| v.is_finite()).collect() };
    let baseline = finite(values.baseline);
    let recent = finite(values.recent);
    let incident = finite(values.incident);
    let centre = median(&baseline)?;
    let level = median(&recent).unwrap_or(centre);
    let spread = match mad(&baseline)? * MAD_TO_SIGMA {
        // Mostly-constant series (error counts that are zero most of the time) have a MAD
        // of zero; their mean absolute deviation still sees the occasional spike.
        0.0 => {
            let mean_abs =
                baseline.iter().map(|v| (v - centre).abs()).sum::<f64>() / baseline.len() as f64;
            mean_abs * MEAN_ABS_TO_SIGMA
        }
        spread => spread,
    };
    let scale = spread
        .max(config.relative_floor * centre.abs())
        .max(min_scale)
        .max((level - centre).abs())
        .max(f64::MIN_POSITIVE);

    // Work in "higher is worse" terms: sign flips lower-is-worse metrics.
    let sign = match direction {
        Direction::HigherIsWorse => 1.0,
        Direction::LowerIsWorse => -1.0,
    };
    let worst_signed = incident.iter().map(|v| sign * v).fold(f64::NAN, f64::max);
    if worst_signed.is_nan() {
        return None;
    }
    let worst = sign * worst_signed;
    let reference = (sign * centre).max(sign * level);
    let excess = (worst_signed - reference).max(0.0);
    let z = excess / scale;
    let anomaly = anomaly_degree(z, config.half_anomaly_z);
    let recent_text = if recent.is_empty() {
        String::new()
    } else {
        format!(", just before {level:.4}")
    };
    let evidence = format!(
        "{metric} of {component}: worst {worst:.4} against baseline median {centre:.4}\
         {recent_text} (scale {scale:.4}), z = {z:.1}"
    );
    Some(MetricFinding {
        component: component.to_string(),
        metric: metric.to_string(),
        baseline_median: centre,
        scale,
        worst,
        excess,
        z,
        anomaly,
        evidence,
    })
}

/// Scores `series` with points in `baseline` against points in `incident`.
pub fn score_series(
    series: &MetricSeries,
    baseline: Window,
    incident: Window,
    config: &MetricConfig,
) -> Option<MetricFinding> {
    let pick = |window: Window| -> Vec<f64> {
        series
            .points
            .iter()
            .filter(|(t, _)| window.contains(*t))
            .filter_map(|(_, v)| *v)
            .collect()
    };
    score_values(
        &series.component,
        &series.metric,
        series.direction,
        series.min_scale,
        WindowValues {
            baseline: &pick(baseline),
            recent: &[],
            incident: &pick(incident),
        },
        config,
    )
}

/// Scores every series and ranks the findings by z, highest first (ties by component name).
pub fn rank_metrics(
    series: &[MetricSeries],
    baseline: Window,
    incident: Window,
    config: &MetricConfig,
) -> Vec<MetricFinding> {
    let mut findings: Vec<MetricFinding> = series
        .iter()
        .filter_map(|s| score_series(s, baseline, incident, config))
        .collect();
    findings.sort_by(|a, b| {
        b.z.total_cmp(&a.z)
            .then_with(|| a.component.cmp(&b.component))
    });
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn departure_is_measured_in_robust_scales_from_the_baseline_median() {
        // Baseline 10 11 12 13 14: median 12, MAD 1 -> scale 1.4826 (5% floor is 0.6).
        // Worst incident point 18 -> excess 6, z = 6 / 1.4826 = 4.047.
        let finding = score_values(
            "db",
            "latency",
            Direction::HigherIsWorse,
            0.0,
            WindowValues {
                baseline: &[10.0, 11.0, 12.0, 13.0, 14.0],
                recent: &[],
                incident: &[12.0, 18.0],
            },
            &MetricConfig::default(),
        );
        let finding = finding.expect("both windows have values");
        assert_eq!(finding.excess, 6.0);
        assert!((finding.z - 4.0469).abs() < 1e-3);
    }

    #[test]
    fn improvement_in_the_better_direction_is_not_an_anomaly() {
        let finding = score_values(
            "api",
            "availability",
            Direction::LowerIsWorse,
            0.1,
            WindowValues {
                baseline: &[99.0, 99.0, 99.5],
                recent: &[],
                incident: &[100.0],
            },
            &MetricConfig::default(),
        );
        assert_eq!(finding.map(|f| f.z), Some(0.0));
    }

    #[test]
    fn flat_baseline_uses_the_resolution_floor_instead_of_dividing_by_zero() {
        let finding = score_values(
            "api",
            "unavailability",
            Direction::HigherIsWorse,
            0.5,
            WindowValues {
                baseline: &[0.0, 0.0, 0.0],
                recent: &[],
                incident: &[2.0],
            },
            &MetricConfig::default(),
        );
        assert_eq!(finding.map(|f| f.z), Some(4.0));
    }

    #[test]
    fn series_already_at_its_incident_level_before_the_incident_is_not_anomalous() {
        // History around 0.5, but the points just before the incident sit at 3.0 like the
        // incident itself: level shift, not incident.
        let finding = score_values(
            "lambda",
            "latency",
            Direction::HigherIsWorse,
            0.001,
            WindowValues {
                baseline: &[0.49, 0.5, 0.51, 0.5, 3.0],
                recent: &[3.0],
                incident: &[3.01, 3.0],
            },
            &MetricConfig::default(),
        );
        let finding = finding.expect("both windows have values");
        // excess = 3.01 − max(0.5, 3.0) = 0.01; scale ≥ |3.0 − 0.5| = 2.5 -> z = 0.004.
        assert!(finding.z < 0.01, "{finding:?}");
    }

    #[test]
    fn series_without_incident_points_gives_no_finding() {
        let series = MetricSeries {
            component: "a".into(),
            metric: "latency".into(),
            direction: Direction::HigherIsWorse,
            min_scale: 0.0,
            points: vec![(0, Some(1.0)), (60, None)],
        };
        let base = Window { start: 0, end: 60 };
        let incident = Window {
            start: 60,
            end: 120,
        };
        assert_eq!(
            score_series(&series, base, incident, &MetricConfig::default()),
            None
        );
    }
}
