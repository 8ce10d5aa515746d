//! Evaluation of [`forecast`](crate::predict::forecast) and the event scores of
//! [`backtest`](crate::predict::backtest) on the Numenta Anomaly Benchmark corpus.
//!
//! `root` is a NAB checkout: `root/data/<group>/<file>.csv` with `timestamp,value` rows
//! (`YYYY-MM-DD HH:MM:SS`, UTC) and `root/labels/combined_windows.json`, which maps each data
//! file to its anomaly windows `[[start, end], …]`.
//!
//! # What is measured
//!
//! - **Forecast error** on `realKnownCause/nyc_taxi.csv` (30-minute steps) and the
//!   `realAWSCloudwatch` series (5-minute steps): rolling origin, one origin per day, 48 h
//!   horizon, daily season; MASE of the chosen model, naive and seasonal naive, all scaled by
//!   the in-sample seasonal-naive one-step MAE (see [`backtest`](crate::predict::backtest)).
//! - **Lead time** on `realKnownCause/machine_temperature_system_failure.csv`: at the start of
//!   every day (after 7 days of history) a forecast of the next 24 h is made from the last
//!   14 days. A step **exceeds** when its value falls outside the forecast's 95 % interval, and
//!   a **warning** is on at a step when at least [`EXCEEDANCE_MIN`] of the last
//!   [`EXCEEDANCE_WINDOW`] steps exceeded. The rule was fixed before looking at the scores.
//!   Incidents are the window starts; scores use the default lead bands. For each window the
//!   report also gives the first warning within 48 h before its start up to its end (negative
//!   lead: the warning came after the window opened).
//!
//! # Regularisation
//!
//! Rows are sorted by time and put in the slot `floor((t - t0) / step)` of a regular grid
//! (`step` = the most common spacing); the last row in a slot wins and an empty slot repeats
//! the previous value. The report counts the filled slots.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::predict::backtest::{
    BacktestError, EventScore, ForecastBacktest, LeadBand, RollingForecastConfig, rolling_forecast,
    score_events,
};
use crate::predict::forecast::{ForecastConfig, ForecastError, forecast};

/// A warning needs this many exceedances…
pub const EXCEEDANCE_MIN: usize = 6;
/// …among this many most recent steps.
pub const EXCEEDANCE_WINDOW: usize = 12;
/// Interval whose exceedance counts.
pub const EXCEEDANCE_LEVEL: f64 = 0.95;

const DAY: i64 = 86_400;
const LEAD_FILE: &str = "realKnownCause/machine_temperature_system_failure.csv";
const TAXI_FILE: &str = "realKnownCause/nyc_taxi.csv";
const AWS_DIR: &str = "realAWSCloudwatch";

/// Why the evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum NabEvalError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {reason}")]
    Csv {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path} is not a NAB label file: {source}")]
    Labels {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{file}: bad window timestamp {text:?}")]
    WindowTime { file: String, text: String },
    #[error("{path} has fewer than two rows")]
    TooFewRows { path: PathBuf },
    #[error("{file}: {source}")]
    Backtest { file: String, source: BacktestError },
    #[error("{file}: {source}")]
    Forecast { file: String, source: ForecastError },
}

/// A series on a regular grid.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Regular {
    pub(crate) start: i64,
    pub(crate) step: i64,
    pub(crate) values: Vec<f64>,
    /// Grid slots with no row of their own.
    pub(crate) filled: usize,
}

impl Regular {
    fn time(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// Forecast figures for one series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesForecast {
    pub file: String,
    pub step_secs: i64,
    pub filled_steps: usize,
    pub backtest: ForecastBacktest,
}

/// When the first warning came for one labelled window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowLead {
    pub start: String,
    pub end: String,
    /// `start - first warning`, seconds, for the first warning in `[start - 48 h, end]`.
    pub first_warning_lead_secs: Option<i64>,
}

/// Lead-time figures for the machine temperature series.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadTimeReport {
    pub file: String,
    pub windows: Vec<WindowLead>,
    pub scores: Vec<EventScore>,
    /// Share of evaluated steps on which a warning was on.
    pub warning_share: f64,
}

/// Everything [`evaluate_nab`] measured; `Display` renders it as tables.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub forecasts: Vec<SeriesForecast>,
    /// Series that could not be evaluated, with the reason.
    pub skipped: Vec<(String, String)>,
    pub lead: LeadTimeReport,
}

/// Runs the whole evaluation on the NAB checkout at `root`.
pub fn evaluate_nab(root: &Path) -> Result<Report, NabEvalError> {
    let data = root.join("data");
    let labels = read_labels(&root.join("labels").join("combined_windows.json"))?;

    let mut files = vec![(TAXI_FILE.to_owned(), 14)];
    let aws_dir = data.join(AWS_DIR);
    let mut aws: Vec<String> = fs::read_dir(&aws_dir)
        .map_err(|source| NabEvalError::Read {
            path: aws_dir.clone(),
            source,
        })?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".csv"))
        .map(|name| format!("{AWS_DIR}/{name}"))
        .collect();
    aws.sort();
    files.extend(aws.into_iter().map(|f| (f, 7)));

    let mut forecasts = Vec::new();
    let mut skipped = Vec::new();
    for (file, initial_days) in files {
        let series = read_regular(&data.join(&file))?;
        match forecast_series(&file, &series, initial_days) {
            Ok(backtest) => forecasts.push(SeriesForecast {
                file,
                step_secs: series.step,
                filled_steps: series.filled,
                backtest,
            }),
            Err(NabEvalError::Backtest {
                source: source @ BacktestError::NoOrigin { .. },
                ..
            }) => skipped.push((file, source.to_string())),
            Err(e) => return Err(e),
        }
    }

    let windows = labels.get(LEAD_FILE).cloned().unwrap_or_default();
    let series = read_regular(&data.join(LEAD_FILE))?;
    let lead = lead_times(LEAD_FILE, &series, &windows)?;
    Ok(Report {
        forecasts,
        skipped,
        lead,
    })
}

fn forecast_series(
    file: &str,
    series: &Regular,
    initial_days: i64,
) -> Result<ForecastBacktest, NabEvalError> {
    let season = (DAY / series.step).max(2) as usize;
    let horizon = 2 * season;
    let initial = (initial_days as usize * season).min(series.values.len().saturating_sub(horizon));
    let config = RollingForecastConfig {
        forecast: ForecastConfig::new(season, horizon),
        initial_steps: initial.max(2 * season + 1),
        stride: season,
        max_origins: 0,
    };
    rolling_forecast(&series.values, &config).map_err(|source| NabEvalError::Backtest {
        file: file.to_owned(),
        source,
    })
}

/// Daily forecasts of the next 24 h; warnings from interval exceedances (module docs).
pub(crate) fn lead_times(
    file: &str,
    series: &Regular,
    windows: &[(i64, i64)],
) -> Result<LeadTimeReport, NabEvalError> {
    let season = (DAY / series.step).max(2) as usize;
    let mut config = ForecastConfig::new(season, season);
    config.levels = vec![EXCEEDANCE_LEVEL];
    config.max_fit_steps = 14 * season;

    let n = series.values.len();
    let first_origin = 7 * season;
    let mut exceeded = vec![false; n];
    let mut origin = first_origin;
    while origin < n {
        let f = forecast(&series.values[..origin], &config).map_err(|source| {
            NabEvalError::Forecast {
                file: file.to_owned(),
                source,
            }
        })?;
        if let Some(interval) = f.intervals.first() {
            for (h, slot) in exceeded[origin..].iter_mut().take(season).enumerate() {
                let v = series.values[origin + h];
                *slot = v < interval.lower[h] || v > interval.upper[h];
            }
        }
        origin += season;
    }

    let mut firing = Vec::new();
    let mut recent = 0usize;
    for i in first_origin..n {
        recent += usize::from(exceeded[i]);
        if i >= first_origin + EXCEEDANCE_WINDOW {
            recent -= usize::from(exceeded[i - EXCEEDANCE_WINDOW]);
        }
        if recent >= EXCEEDANCE_MIN {
            firing.push(series.time(i));
        }
    }

    let evaluated_from = series.time(first_origin);
    let incidents: Vec<i64> = windows
        .iter()
        .map(|w| w.0)
        .filter(|&s| s > evaluated_from)
        .collect();
    let scores = LeadBand::defaults()
        .iter()
        .map(|band| score_events(&firing, series.step, &incidents, band))
        .collect();
    let window_leads = windows
        .iter()
        .map(|&(start, end)| WindowLead {
            start: format_time(start),
            end: format_time(end),
            first_warning_lead_secs: firing
                .iter()
                .find(|&&t| t >= start - 2 * DAY && t <= end)
                .map(|&t| start - t),
        })
        .collect();
    Ok(LeadTimeReport {
        file: file.to_owned(),
        windows: window_leads,
        scores,
        warning_share: firing.len() as f64 / (n - first_origin.min(n)).max(1) as f64,
    })
}

fn format_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| secs.to_string())
}

fn parse_time(text: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

/// Windows per data file, as unix-second pairs.
fn read_labels(path: &Path) -> Result<BTreeMap<String, Vec<(i64, i64)>>, NabEvalError> {
    let text = fs::read_to_string(path).map_err(|source| NabEvalError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let raw: BTreeMap<String, Vec<[String; 2]>> =
        serde_json::from_str(&text).map_err(|source| NabEvalError::Labels {
            path: path.to_path_buf(),
            source,
        })?;
    raw.into_iter()
        .map(|(file, windows)| {
            let parsed = windows
                .iter()
                .map(|[a, b]| {
                    let parse = |text: &String| {
                        parse_time(text).ok_or_else(|| NabEvalError::WindowTime {
                            file: file.clone(),
                            text: text.clone(),
                        })
                    };
                    Ok((parse(a)?, parse(b)?))
                })
                .collect::<Result<Vec<_>, NabEvalError>>()?;
            Ok((file, parsed))
        })
        .collect()
}

/// Reads a `timestamp,value` CSV and puts it on a regular grid (module docs).
pub(crate) fn read_regular(path: &Path) -> Result<Regular, NabEvalError> {
    let text = fs::read_to_string(path).map_err(|source| NabEvalError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let csv_error = |line: usize, reason: String| NabEvalError::Csv {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.trim() == "timestamp,value" => {}
        _ => {
            return Err(csv_error(
                1,
                "expected the header \"timestamp,value\"".into(),
            ));
        }
    }
    let mut rows = Vec::new();
    for (n, line) in lines.filter(|(_, l)| !l.trim().is_empty()) {
        let (t, v) = line
            .split_once(',')
            .ok_or_else(|| csv_error(n + 1, "expected two fields".into()))?;
        let time = parse_time(t).ok_or_else(|| csv_error(n + 1, format!("bad timestamp {t:?}")))?;
        let value: f64 = v
            .trim()
            .parse()
            .map_err(|_| csv_error(n + 1, format!("bad number {v:?}")))?;
        if !value.is_finite() {
            return Err(csv_error(n + 1, format!("value {v:?} is not finite")));
        }
        rows.push((time, value));
    }
    rows.sort_by_key(|r| r.0);
    regularise(&rows).ok_or_else(|| NabEvalError::TooFewRows {
        path: path.to_path_buf(),
    })
}

/// Puts sorted `(time, value)` rows on a grid of the most common spacing.
pub(crate) fn regularise(rows: &[(i64, f64)]) -> Option<Regular> {
    let mut gaps: BTreeMap<i64, usize> = BTreeMap::new();
    for w in rows.windows(2) {
        let gap = w[1].0 - w[0].0;
        if gap > 0 {
            *gaps.entry(gap).or_default() += 1;
        }
    }
    let step = gaps.iter().max_by_key(|(gap, count)| (**count, -**gap))?.0;
    let (start, _) = *rows.first()?;
    let (end, _) = *rows.last()?;
    let slots = ((end - start) / step + 1) as usize;
    let mut values: Vec<Option<f64>> = vec![None; slots];
    for &(t, v) in rows {
        values[((t - start) / step) as usize] = Some(v);
    }
    let mut filled = 0;
    let mut last = rows[0].1;
    let values = values
        .into_iter()
        .map(|v| {
            if let Some(v) = v {
                last = v;
            } else {
                filled += 1;
            }
            last
        })
        .collect();
    Some(Regular {
        start,
        step: *step,
        values,
        filled,
    })
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Forecast error, 48 h horizon, one origin per day; MASE scaled by in-sample \
             seasonal-naive (daily) MAE, lower is better"
        )?;
        writeln!(
            f,
            "{:<52} {:>7} {:>7} {:>7} {:>7} {:>11} {:>7} {:>7}",
            "series", "origins", "chosen", "naive", "snaive", "N/SN/HW/D", "cov80", "cov95"
        )?;
        for s in &self.forecasts {
            let b = &s.backtest;
            let counts: Vec<String> = b.chosen_counts.iter().map(|(_, c)| c.to_string()).collect();
            let cov = |level: f64| {
                b.coverage
                    .iter()
                    .find(|(l, _)| (l - level).abs() < 1e-9)
                    .map(|(_, c)| *c)
            };
            writeln!(
                f,
                "{:<52} {:>7} {:>7} {:>7} {:>7} {:>11} {:>7} {:>7}",
                s.file,
                b.origins,
                fmt_opt(b.mase_chosen),
                fmt_opt(b.mase_naive),
                fmt_opt(b.mase_seasonal_naive),
                counts.join("/"),
                fmt_opt(cov(0.8)),
                fmt_opt(cov(0.95)),
            )?;
        }
        let mean = |pick: fn(&ForecastBacktest) -> Option<f64>| {
            let v: Vec<f64> = self
                .forecasts
                .iter()
                .filter_map(|s| pick(&s.backtest))
                .collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        };
        writeln!(
            f,
            "{:<52} {:>7} {:>7} {:>7} {:>7}",
            "mean over series",
            "",
            fmt_opt(mean(|b| b.mase_chosen)),
            fmt_opt(mean(|b| b.mase_naive)),
            fmt_opt(mean(|b| b.mase_seasonal_naive)),
        )?;
        for (file, reason) in &self.skipped {
            writeln!(f, "skipped {file}: {reason}")?;
        }

        let lead = &self.lead;
        writeln!(f)?;
        writeln!(
            f,
            "Lead time on {}: warning = {EXCEEDANCE_MIN} of the last {EXCEEDANCE_WINDOW} steps \
             outside the {:.0} % interval of the day's forecast (on {:.1} % of steps)",
            lead.file,
            EXCEEDANCE_LEVEL * 100.0,
            lead.warning_share * 100.0
        )?;
        writeln!(
            f,
            "{:<18} {:<18} {:>22}",
            "window start", "window end", "first warning lead"
        )?;
        for w in &lead.windows {
            let text = w.first_warning_lead_secs.map_or_else(
                || "none".to_owned(),
                |s| format!("{:+.1} h", s as f64 / 3_600.0),
            );
            writeln!(f, "{:<18} {:<18} {:>22}", w.start, w.end, text)?;
        }
        writeln!(
            f,
            "{:<6} {:>10} {:>10} {:>9} {:>9} {:>8} {:>10} {:>10}",
            "band",
            "min lead",
            "lookahead",
            "incidents",
            "predicted",
            "recall",
            "episodes",
            "precision"
        )?;
        for s in &lead.scores {
            writeln!(
                f,
                "{:<6} {:>9.2}h {:>9.0}h {:>9} {:>9} {:>8} {:>10} {:>10}",
                s.band.name,
                s.band.min_lead_secs as f64 / 3_600.0,
                s.band.lookahead_secs as f64 / 3_600.0,
                s.incidents,
                s.predicted,
                fmt_opt(s.recall),
                s.episodes,
                fmt_opt(s.precision),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[ignore = "reads the NAB corpus; slow in debug builds: cargo test --release -- --ignored --nocapture"]
    fn nab_report_covers_every_series_and_window() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/nab");
        let report = evaluate_nab(&root).expect("evaluates");
        println!("{report}");
        assert_eq!(report.forecasts.len() + report.skipped.len(), 18);
        assert_eq!(report.lead.windows.len(), 4);
        assert!(
            report
                .forecasts
                .iter()
                .all(|s| s.backtest.mase_seasonal_naive.is_some_and(f64::is_finite))
        );
    }

    #[test]
    fn regularise_fills_gaps_and_absorbs_phase_shifts() {
        // Gaps 300, 600, 240, 60, 300: the step is 300. Slot 2 (600) has no row and repeats
        // 2.0; 1_140 is off phase, lands in slot 3 after 900 and wins.
        let rows = [
            (0, 1.0),
            (300, 2.0),
            (900, 3.0),
            (1_140, 4.0),
            (1_200, 5.0),
            (1_500, 6.0),
        ];
        let r = regularise(&rows).expect("two rows");
        assert_eq!(r.step, 300);
        assert_eq!(r.values, vec![1.0, 2.0, 2.0, 4.0, 5.0, 6.0]);
        assert_eq!(r.filled, 1);
    }

    #[test]
    fn warnings_before_a_level_shift_give_its_window_a_lead_time() {
        // 10 days of a clean hourly sine, then the level jumps by 50 at step 246 (day 10,
        // 6 h). Every step from the jump on leaves the interval, so the sixth exceedance, and
        // with it the warning, comes at step 251. The window opens at step 252: lead 1 h.
        let step = 3_600;
        let values: Vec<f64> = (0..13 * 24)
            .map(|i| {
                let base = (std::f64::consts::TAU * (i % 24) as f64 / 24.0).sin()
                    + 0.01 * ((i * 37 % 11) as f64);
                if i >= 246 { base + 50.0 } else { base }
            })
            .collect();
        let series = Regular {
            start: 0,
            step,
            values,
            filled: 0,
        };
        let start = 252 * step;
        let report = lead_times("synthetic", &series, &[(start, start + DAY)]).expect("runs");
        let lead = report.windows[0].first_warning_lead_secs.expect("warned");
        assert_eq!(lead, step);
    }
}
