//! Error-budget arithmetic over per-minute rollups.
//!
//! Owns the per-minute series of `(good, total)` counts for one SLO objective, the window sums
//! over it, and everything derived: SLI, error ratio, burn rate, budget remaining and consumed,
//! the consumption class, the policy state, multiwindow multi-burn-rate alert conditions with
//! thresholds derived from budget fractions, timeslice budgeting and incidents.
//!
//! Definitions (the SRE workbook's, "Alerting on SLOs"):
//! - error ratio = bad ÷ total; burn rate = error ratio ÷ (1 − objective). A burn rate of 1
//!   spends exactly the budget over the SLO period.
//! - budget consumed by a window = burn rate × window length ÷ period length (so 2% of a 30-day
//!   budget in 1 h is a burn rate of 14.4). This assumes traffic is spread evenly over the
//!   period, as the workbook's thresholds do.
//! - budget remaining over the SLO period = 1 − bad ÷ ((1 − objective) × total), which equals
//!   1 − the period's burn rate; it goes below zero once the budget is overspent, and stays so.
//! - alert threshold = budget fraction × period ÷ long window; a condition fires when the burn
//!   rate over both its long and its short window exceeds the threshold.
//!
//! Guarantees: a window with no events is "no data" (`None`), never 100%; a page needs at least
//! `min_events` events in each of its windows; windows are O(1) differences of cumulative sums,
//! so a 30-day window is not a rescan and recording the newest minute is O(1) amortised
//! (revising a minute `k` minutes back costs O(k)); memory is bounded by the retention the
//! config needs (its longest window plus a margin). Nothing here panics on input values.

use std::collections::VecDeque;

use super::window::{DAY, HOUR, MINUTE, Period, TimeWindow, format_secs};

/// The alerting windows every evaluation reports, in seconds: 5m, 30m, 1h, 2h, 6h, 1d, 3d.
pub const STANDARD_WINDOWS: [i64; 7] = [
    5 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    6 * HOUR,
    DAY,
    3 * DAY,
];

/// Pages need at least this many events in each window unless the SLO says otherwise.
pub const DEFAULT_MIN_EVENTS: u64 = 10;

/// Budget consumed in 24 h above this fraction is a fast burn.
pub const FAST_BURN_PER_DAY: f64 = 0.05;
/// Budget consumed in 24 h below this fraction is a slow burn.
pub const SLOW_BURN_PER_DAY: f64 = 0.02;
/// Budget remaining above this fraction is healthy.
pub const HEALTHY_ABOVE: f64 = 0.50;
/// Budget remaining below this fraction is critical.
pub const CRITICAL_BELOW: f64 = 0.25;
/// An incident that consumed at least this fraction of the budget needs a post-mortem.
pub const POSTMORTEM_AT: f64 = 0.20;

/// Good and total events (or, for timeslice budgeting, good slices and slices with data).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub good: u64,
    pub total: u64,
}

impl Counts {
    /// Good and total; `good` above `total` is clamped to `total` (a rollup can't have more
    /// good events than events).
    pub fn new(good: u64, total: u64) -> Self {
        Self {
            good: good.min(total),
            total,
        }
    }

    /// From bad and total (a `bad`+`total` ratio metric); bad above total means all bad.
    pub fn from_bad(bad: u64, total: u64) -> Self {
        Self {
            good: total.saturating_sub(bad),
            total,
        }
    }

    pub fn bad(&self) -> u64 {
        self.total.saturating_sub(self.good)
    }

    /// Good ÷ total; `None` without events.
    pub fn sli(&self) -> Option<f64> {
        (self.total > 0).then(|| self.good as f64 / self.total as f64)
    }

    /// Bad ÷ total; `None` without events.
    pub fn error_ratio(&self) -> Option<f64> {
        (self.total > 0).then(|| self.bad() as f64 / self.total as f64)
    }

    fn add(self, other: Counts) -> Counts {
        Counts {
            good: self.good.saturating_add(other.good),
            total: self.total.saturating_add(other.total),
        }
    }

    fn sub(self, other: Counts) -> Counts {
        Counts {
            good: self.good.saturating_sub(other.good),
            total: self.total.saturating_sub(other.total),
        }
    }
}

/// The highest burn rate an objective allows: every event bad. 10 for 90%, 1000 for 99.9%.
pub fn max_burn_rate(objective: f64) -> f64 {
    1.0 / (1.0 - objective)
}

/// Burn rate of an error ratio against an objective.
pub fn burn_rate(error_ratio: f64, objective: f64) -> f64 {
    error_ratio / (1.0 - objective)
}

/// How an objective's budget is counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budgeting {
    /// Every event counts: SLI = good events ÷ events.
    Occurrences,
    /// Time is cut into slices of `slice_secs` (whole minutes, aligned to the unix epoch); a
    /// slice with events is good when its good ÷ total ≥ `target`; SLI = good slices ÷ slices
    /// with events. A window counts every slice that overlaps it.
    Timeslices { target: f64, slice_secs: i64 },
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Ticket,
    Page,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Ticket => "ticket",
            Severity::Page => "page",
        }
    }
}

/// One multiwindow burn-rate condition: alert when `budget_fraction` of the period's budget
/// would burn within `long_secs`, confirmed over `short_secs`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnCondition {
    pub severity: Severity,
    pub budget_fraction: f64,
    pub long_secs: i64,
    pub short_secs: i64,
}

impl BurnCondition {
    /// The SRE workbook's recommendation: page on 2% in 1 h (5 m) or 5% in 6 h (30 m); ticket
    /// on 10% in 3 d (6 h).
    pub fn defaults() -> Vec<BurnCondition> {
        vec![
            BurnCondition {
                severity: Severity::Page,
                budget_fraction: 0.02,
                long_secs: HOUR,
                short_secs: 5 * MINUTE,
            },
            BurnCondition {
                severity: Severity::Page,
                budget_fraction: 0.05,
                long_secs: 6 * HOUR,
                short_secs: 30 * MINUTE,
            },
            BurnCondition {
                severity: Severity::Ticket,
                budget_fraction: 0.10,
                long_secs: 3 * DAY,
                short_secs: 6 * HOUR,
            },
        ]
    }

    /// Burn-rate threshold = budget fraction × period ÷ long window.
    pub fn threshold(&self, period_secs: i64) -> f64 {
        self.budget_fraction * period_secs as f64 / self.long_secs as f64
    }

    /// `page 2% 1h/5m`.
    pub fn describe(&self) -> String {
        format!(
            "{} {}% {}/{}",
            self.severity.name(),
            self.budget_fraction * 100.0,
            format_secs(self.long_secs),
            format_secs(self.short_secs)
        )
    }
}

/// Everything the arithmetic needs to know about one objective of one SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerConfig {
    /// Target in (0, 1), e.g. 0.999.
    pub objective: f64,
    pub window: TimeWindow,
    pub budgeting: Budgeting,
    pub conditions: Vec<BurnCondition>,
    pub min_events: u64,
}

impl TrackerConfig {
    /// How far back evaluation reads minutes: the longest of the SLO period, the alert
    /// windows and the standard windows.
    pub fn lookback_secs(&self) -> i64 {
        let longest_condition = self
            .conditions
            .iter()
            .map(|c| c.long_secs.max(c.short_secs))
            .max()
            .unwrap_or(0);
        self.window
            .max_period_secs()
            .max(longest_condition)
            .max(STANDARD_WINDOWS[STANDARD_WINDOWS.len() - 1])
    }
}

/// A rollup the tracker could not store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollupError {
    #[error("minute {minute} is older than the oldest retained minute {oldest}")]
    TooOld { minute: i64, oldest: i64 },
}

/// Cumulative sums over consecutive indices (minutes or slices): `cum[i]` is the sum of the
/// `base .. base + i` entries, so any range sum is one subtraction.
#[derive(Debug, Clone)]
struct CumSeries {
    base: i64,
    cum: VecDeque<Counts>,
    retention: i64,
}

impl CumSeries {
    fn new(retention: i64) -> Self {
        Self {
            base: 0,
            cum: VecDeque::new(),
            retention: retention.max(1),
        }
    }

    fn len(&self) -> i64 {
        self.cum.len().saturating_sub(1) as i64
    }

    fn end(&self) -> i64 {
        self.base + self.len()
    }

    fn last_cum(&self) -> Counts {
        self.cum.back().copied().unwrap_or_default()
    }

    /// Stores the counts of entry `idx`, replacing what was there.
    fn set(&mut self, idx: i64, counts: Counts) -> Result<(), RollupError> {
        if self.cum.is_empty() || idx - self.end() >= self.retention {
            // First entry, or so far ahead that everything retained would be trimmed anyway.
            self.base = idx;
            self.cum.clear();
            self.cum.push_back(Counts::default());
        }
        if idx < self.base {
            return Err(RollupError::TooOld {
                minute: idx,
                oldest: self.base,
            });
        }
        if idx >= self.end() {
            let last = self.last_cum();
            for _ in self.end()..idx {
                self.cum.push_back(last);
            }
            self.cum.push_back(last.add(counts));
            self.trim();
            return Ok(());
        }
        let i = (idx - self.base) as usize;
        let old = self.cum[i + 1].sub(self.cum[i]);
        for entry in self.cum.iter_mut().skip(i + 1) {
            *entry = entry.sub(old).add(counts);
        }
        Ok(())
    }

    fn trim(&mut self) {
        let slack = self.retention / 8 + 1;
        if self.len() > self.retention + slack {
            let drop = (self.len() - self.retention) as usize;
            self.cum.drain(..drop);
            self.base += drop as i64;
        }
    }

    /// Sum of entries `from .. to`, clamped to what is retained.
    fn sum(&self, from: i64, to: i64) -> Counts {
        let from = from.clamp(self.base, self.end());
        let to = to.clamp(self.base, self.end());
        if from >= to {
            return Counts::default();
        }
        let at = |idx: i64| self.cum[(idx - self.base) as usize];
        at(to).sub(at(from))
    }
}

fn floor_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

fn ceil_div(a: i64, b: i64) -> i64 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 { q } else { q + 1 }
}

/// Figures for one window ending at the evaluation instant.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowReport {
    /// `5m`, `1h`, … or `period` for the SLO window.
    pub label: String,
    pub start: i64,
    pub end: i64,
    /// Event counts in the window (used for the low-traffic rule).
    pub events: Counts,
    /// What the objective counts: events, or slices for timeslice budgeting.
    pub counts: Counts,
    pub sli: Option<f64>,
    pub error_ratio: Option<f64>,
    pub burn_rate: Option<f64>,
    /// Fraction of the period's budget this window consumed: burn × length ÷ period.
    pub budget_consumed: Option<f64>,
}

/// 24-hour budget consumption speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumptionClass {
    /// More than 5% of the budget per day.
    Fast,
    /// 2% to 5% per day, both included.
    Medium,
    /// Less than 2% per day.
    Slow,
}

impl ConsumptionClass {
    pub fn of(consumed_per_day: f64) -> Self {
        if consumed_per_day > FAST_BURN_PER_DAY {
            ConsumptionClass::Fast
        } else if consumed_per_day >= SLOW_BURN_PER_DAY {
            ConsumptionClass::Medium
        } else {
            ConsumptionClass::Slow
        }
    }
}

/// Error-budget policy state from the budget remaining over the SLO period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyState {
    /// More than 50% left.
    Healthy,
    /// 25% to 50% left, both included.
    Warning,
    /// Less than 25% left, including an overspent (negative) budget.
    Critical,
    /// No events in the SLO period.
    NoData,
}

impl PolicyState {
    pub fn of(remaining: Option<f64>) -> Self {
        match remaining {
            None => PolicyState::NoData,
            Some(r) if r > HEALTHY_ABOVE => PolicyState::Healthy,
            Some(r) if r >= CRITICAL_BELOW => PolicyState::Warning,
            Some(_) => PolicyState::Critical,
        }
    }
}

/// What one alert condition says at the evaluation instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionState {
    /// Both windows burn above the threshold.
    Firing,
    /// At least one window burns at or below the threshold.
    Ok,
    /// A window has no events.
    NoData,
    /// A page condition whose windows burn above the threshold, but one of them has fewer
    /// events than the minimum: not paged.
    LowTraffic,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConditionReport {
    pub condition: BurnCondition,
    /// Burn-rate threshold for this period's length.
    pub threshold: f64,
    pub long_burn: Option<f64>,
    pub short_burn: Option<f64>,
    pub state: ConditionState,
}

/// Everything known about one objective at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Exclusive end of the evaluated data (a minute boundary).
    pub end: i64,
    pub objective: f64,
    /// The SLO period; data is counted from `period.start` to `end`.
    pub period: Period,
    /// The standard windows, shortest first, then the SLO period (label `period`).
    pub windows: Vec<WindowReport>,
    /// 1 − bad ÷ allowed bad over the period so far; negative when overspent.
    pub budget_remaining: Option<f64>,
    /// Fraction of the budget consumed in the last 24 h.
    pub consumed_24h: Option<f64>,
    pub consumption: Option<ConsumptionClass>,
    pub policy: PolicyState,
    pub conditions: Vec<ConditionReport>,
}

impl Evaluation {
    /// The most severe firing condition.
    pub fn firing(&self) -> Option<Severity> {
        self.conditions
            .iter()
            .filter(|c| c.state == ConditionState::Firing)
            .map(|c| c.condition.severity)
            .max()
    }

    /// The report of the window labelled `label` (`1h`, `period`, …).
    pub fn window(&self, label: &str) -> Option<&WindowReport> {
        self.windows.iter().find(|w| w.label == label)
    }
}

#[derive(Debug, Clone)]
struct SliceState {
    minutes_per_slice: i64,
    target: f64,
    series: CumSeries,
}

/// The rollups and arithmetic of one SLO objective.
#[derive(Debug, Clone)]
pub struct BudgetTracker {
    config: TrackerConfig,
    minutes: CumSeries,
    slices: Option<SliceState>,
}

impl BudgetTracker {
    pub fn new(config: TrackerConfig) -> Self {
        let retention_minutes = ceil_div(config.lookback_secs(), MINUTE) + 1;
        let slices = match config.budgeting {
            Budgeting::Occurrences => None,
            Budgeting::Timeslices { target, slice_secs } => {
                let minutes_per_slice = ceil_div(slice_secs.max(MINUTE), MINUTE);
                Some(SliceState {
                    minutes_per_slice,
                    target,
                    series: CumSeries::new(ceil_div(retention_minutes, minutes_per_slice) + 1),
                })
            }
        };
        Self {
            config,
            minutes: CumSeries::new(retention_minutes),
            slices,
        }
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Stores (or replaces) the rollup of the minute starting at `minute_start` (unix
    /// seconds, floored to the minute). Replacing lets the engine re-query recent minutes
    /// whose data arrived late. A minute older than the retention is refused.
    pub fn record_minute(&mut self, minute_start: i64, counts: Counts) -> Result<(), RollupError> {
        let minute = floor_div(minute_start, MINUTE);
        self.minutes
            .set(minute, counts)
            .map_err(|_| RollupError::TooOld {
                minute: minute_start,
                oldest: self.minutes.base.saturating_mul(MINUTE),
            })?;
        if let Some(slices) = &mut self.slices {
            let per = slices.minutes_per_slice;
            let slice = floor_div(minute, per);
            let c = self.minutes.sum(slice * per, slice * per + per);
            // A hair of tolerance so that 95/100 meets a 0.95 target despite binary fractions.
            let good = c.total > 0 && c.good as f64 / c.total as f64 + 1e-12 >= slices.target;
            // A slice partly before the retained minutes is simply left as it was.
            let _ = slices
                .series
                .set(slice, Counts::new(u64::from(good), u64::from(c.total > 0)));
        }
        Ok(())
    }

    /// Events in `[start, end)` (unix seconds; minutes whose start lies in the range).
    pub fn events(&self, start: i64, end: i64) -> Counts {
        self.minutes
            .sum(ceil_div(start, MINUTE), ceil_div(end, MINUTE))
    }

    /// What the objective counts in `[start, end)`: events, or good slices and slices with
    /// data among those overlapping the range.
    pub fn objective_counts(&self, start: i64, end: i64) -> Counts {
        match &self.slices {
            None => self.events(start, end),
            Some(slices) => {
                let per = slices.minutes_per_slice * MINUTE;
                slices.series.sum(floor_div(start, per), ceil_div(end, per))
            }
        }
    }

    fn window_report(&self, label: String, start: i64, end: i64, period_secs: i64) -> WindowReport {
        let counts = self.objective_counts(start, end);
        let error_ratio = counts.error_ratio();
        let burn = error_ratio.map(|e| burn_rate(e, self.config.objective));
        WindowReport {
            label,
            start,
            end,
            events: self.events(start, end),
            counts,
            sli: counts.sli(),
            error_ratio,
            burn_rate: burn,
            budget_consumed: burn.map(|b| b * (end - start) as f64 / period_secs as f64),
        }
    }

    /// Budget consumed in `[start, end)`: burn rate × length ÷ the length of the SLO period
    /// ending at `end`.
    pub fn budget_consumed(&self, start: i64, end: i64) -> Option<f64> {
        let period = self.config.window.period_ending_at(end)?;
        self.window_report(String::new(), start, end, period.len_secs().max(1))
            .budget_consumed
    }

    /// Evaluates the objective on the data before `end` (unix seconds, floored to a minute).
    /// `None` only when `end` is outside chrono's date range.
    pub fn evaluate(&self, end: i64) -> Option<Evaluation> {
        let end = floor_div(end, MINUTE) * MINUTE;
        let period = self.config.window.period_ending_at(end)?;
        let period_secs = period.len_secs().max(1);
        let mut windows: Vec<WindowReport> = STANDARD_WINDOWS
            .iter()
            .map(|&secs| self.window_report(format_secs(secs), end - secs, end, period_secs))
            .collect();
        let whole = self.window_report("period".to_owned(), period.start, end, period_secs);
        let budget_remaining = whole.burn_rate.map(|b| 1.0 - b);
        windows.push(whole);
        let consumed_24h = self
            .window_report(String::new(), end - DAY, end, period_secs)
            .budget_consumed;
        let conditions = self
            .config
            .conditions
            .iter()
            .map(|condition| self.condition_report(condition, end, period_secs))
            .collect();
        Some(Evaluation {
            end,
            objective: self.config.objective,
            period,
            windows,
            budget_remaining,
            consumed_24h,
            consumption: consumed_24h.map(ConsumptionClass::of),
            policy: PolicyState::of(budget_remaining),
            conditions,
        })
    }

    fn condition_report(
        &self,
        condition: &BurnCondition,
        end: i64,
        period_secs: i64,
    ) -> ConditionReport {
        let threshold = condition.threshold(period_secs);
        let long = self.window_report(String::new(), end - condition.long_secs, end, period_secs);
        let short = self.window_report(String::new(), end - condition.short_secs, end, period_secs);
        let state = match (long.burn_rate, short.burn_rate) {
            (Some(l), Some(s)) if l > threshold && s > threshold => {
                let enough = |w: &WindowReport| w.events.total >= self.config.min_events;
                if condition.severity == Severity::Page && !(enough(&long) && enough(&short)) {
                    ConditionState::LowTraffic
                } else {
                    ConditionState::Firing
                }
            }
            (Some(_), Some(_)) => ConditionState::Ok,
            _ => ConditionState::NoData,
        };
        ConditionReport {
            condition: *condition,
            threshold,
            long_burn: long.burn_rate,
            short_burn: short.burn_rate,
            state,
        }
    }
}

/// One evaluation in a series, for incident detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalPoint {
    /// The evaluation's `end`.
    pub at: i64,
    /// The most severe firing condition, if any.
    pub firing: Option<Severity>,
}

/// A contiguous run of firing evaluations.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// First firing evaluation minus the lead time.
    pub start: i64,
    /// First evaluation after the run that was not firing, or the last evaluation if the run
    /// is still going (`open`).
    pub end: i64,
    pub open: bool,
    /// The most severe condition seen during the run.
    pub severity: Severity,
    /// Budget consumed between `start` and `end`; `None` without events.
    pub budget_consumed: Option<f64>,
    /// At least 20% of the budget consumed.
    pub postmortem_required: bool,
}

/// Groups consecutive firing evaluations (in the order given) into incidents. `lead_secs`
/// moves each incident's start back to include the burn that triggered it; pass the short
/// window of the fastest condition (5 min with the defaults), or 0 to count from the first
/// firing evaluation.
pub fn incidents(points: &[EvalPoint], tracker: &BudgetTracker, lead_secs: i64) -> Vec<Incident> {
    let mut found = Vec::new();
    let mut run: Option<(i64, Severity)> = None;
    let close = |first: i64, severity: Severity, end: i64, open: bool| {
        let start = first.saturating_sub(lead_secs.max(0));
        let budget_consumed = tracker.budget_consumed(start, end);
        Incident {
            start,
            end,
            open,
            severity,
            budget_consumed,
            postmortem_required: budget_consumed.is_some_and(|c| c >= POSTMORTEM_AT),
        }
    };
    for point in points {
        match (run, point.firing) {
            (None, Some(severity)) => run = Some((point.at, severity)),
            (Some((first, worst)), Some(severity)) => run = Some((first, worst.max(severity))),
            (Some((first, worst)), None) => {
                found.push(close(first, worst, point.at, false));
                run = None;
            }
            (None, None) => {}
        }
    }
    if let (Some((first, worst)), Some(last)) = (run, points.last()) {
        found.push(close(first, worst, last.at, true));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slo::window::{CalendarWindow, SpecDuration};
    use chrono::NaiveDate;

    const T0: i64 = 1_704_067_200; // 2024-01-01T00:00:00Z

    fn rolling(text: &str) -> TimeWindow {
        let duration = SpecDuration::parse(text).expect("valid duration");
        TimeWindow::Rolling {
            duration,
            secs: duration.fixed_secs().expect("fixed unit"),
        }
    }

    fn config(objective: f64, window: TimeWindow) -> TrackerConfig {
        TrackerConfig {
            objective,
            window,
            budgeting: Budgeting::Occurrences,
            conditions: BurnCondition::defaults(),
            min_events: DEFAULT_MIN_EVENTS,
        }
    }

    /// Feeds `minutes` minutes ending (exclusively) at `end`, each with `total` events of which
    /// `bad` are bad.
    fn feed(tracker: &mut BudgetTracker, end: i64, minutes: i64, bad: u64, total: u64) {
        for m in (0..minutes).rev() {
            let at = end - (m + 1) * MINUTE;
            tracker
                .record_minute(at, Counts::from_bad(bad, total))
                .expect("in retention");
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn workbook_thresholds_follow_from_budget_fraction_and_period() {
        // SRE workbook, table 5-8: for a 30-day SLO, 2% in 1 h is 14.4, 5% in 6 h is 6 and
        // 10% in 3 d is 1. Here from the formula fraction × period ÷ long window:
        // 0.02 × 720 h / 1 h = 14.4; 0.05 × 720 h / 6 h = 6; 0.10 × 720 h / 72 h = 1.
        let thresholds: Vec<f64> = BurnCondition::defaults()
            .iter()
            .map(|c| c.threshold(30 * DAY))
            .collect();
        assert!(close(thresholds[0], 14.4), "{thresholds:?}");
        assert!(close(thresholds[1], 6.0), "{thresholds:?}");
        assert!(close(thresholds[2], 1.0), "{thresholds:?}");
        // A 28-day window scales them: 0.02 × 672 / 1 = 13.44.
        assert!(close(
            BurnCondition::defaults()[0].threshold(28 * DAY),
            13.44
        ));
    }

    #[test]
    fn burn_rate_ceiling_is_one_over_the_error_budget() {
        assert!(close(max_burn_rate(0.90), 10.0));
        assert!(close(max_burn_rate(0.999), 1000.0));
        assert!(close(max_burn_rate(0.99), 100.0));
    }

    #[test]
    fn steady_one_percent_errors_burn_a_999_slo_at_10x_and_empty_it_in_3_days() {
        // 99.9% → budget 0.1%; 1% errors → burn 0.01 / 0.001 = 10. A 30-day budget at 10×
        // lasts 30 / 10 = 3 days: the last 3 days consumed 10 × 3/30 = 100% of it. Remaining is
        // computed on the events seen in the period so far (only these 3 days): 1 − 10 = −9.
        let mut tracker = BudgetTracker::new(config(0.999, rolling("30d")));
        let end = T0 + 3 * DAY;
        feed(&mut tracker, end, 3 * 24 * 60, 1, 100);
        let eval = tracker.evaluate(end).expect("in range");
        let three_days = eval.window("3d").expect("standard window");
        assert!(close(three_days.burn_rate.expect("data"), 10.0));
        assert!(close(three_days.budget_consumed.expect("data"), 1.0));
        assert!(close(eval.budget_remaining.expect("data"), -9.0));
        assert_eq!(eval.policy, PolicyState::Critical);
        let one_hour = eval.window("1h").expect("standard window");
        assert!(close(one_hour.error_ratio.expect("data"), 0.01));
        assert!(close(one_hour.sli.expect("data"), 0.99));
        // 24 h at 10× consume 10 × 1/30 = 33.3% per day: a fast burn.
        assert!(close(eval.consumed_24h.expect("data"), 1.0 / 3.0));
        assert_eq!(eval.consumption, Some(ConsumptionClass::Fast));
        // Burn 10 exceeds the 5%/6h page (6) on both windows, and the ticket (1), but not
        // the 2%/1h page (14.4).
        let states: Vec<ConditionState> = eval.conditions.iter().map(|c| c.state).collect();
        assert_eq!(
            states,
            vec![
                ConditionState::Ok,
                ConditionState::Firing,
                ConditionState::Firing
            ]
        );
        assert_eq!(eval.firing(), Some(Severity::Page));
    }

    #[test]
    fn budget_spent_over_a_full_30_day_window_is_exactly_empty() {
        // 30 days at 0.1% errors on a 99.9% SLO spends exactly the budget: remaining 0.
        let mut tracker = BudgetTracker::new(config(0.999, rolling("30d")));
        let end = T0 + 30 * DAY;
        feed(&mut tracker, end, 30 * 24 * 60, 1, 1000);
        let eval = tracker.evaluate(end).expect("in range");
        assert!(close(eval.budget_remaining.expect("data"), 0.0));
        assert_eq!(eval.policy, PolicyState::Critical);
        // 1 bad in 1000 per minute for 10 more days at 3× that: remaining goes negative and
        // stays there: period = last 30 days = 20 days × 1‰ + 10 days × 3‰ → bad ratio
        // (20 + 30) / 30 ‰ = 1.6667‰ → remaining 1 − 1.6667 = −0.6667.
        feed(&mut tracker, end + 10 * DAY, 10 * 24 * 60, 3, 1000);
        let later = tracker.evaluate(end + 10 * DAY).expect("in range");
        assert!(close(
            later.budget_remaining.expect("data"),
            1.0 - 50.0 / 30.0
        ));
    }

    #[test]
    fn burning_at_14_4_for_an_hour_consumes_2_percent_and_pages() {
        // 99.9%/30d; 1.44% errors → burn 14.4 → one hour consumes 14.4 × 1/720 = 2%.
        // Use 1.5% (burn 15) so the condition is strictly above 14.4.
        let mut tracker = BudgetTracker::new(config(0.999, rolling("30d")));
        let end = T0 + 2 * HOUR;
        feed(&mut tracker, end - HOUR, 60, 0, 1000);
        feed(&mut tracker, end, 60, 15, 1000);
        let eval = tracker.evaluate(end).expect("in range");
        let hour = eval.window("1h").expect("standard window");
        assert!(close(hour.burn_rate.expect("data"), 15.0));
        assert!(close(hour.budget_consumed.expect("data"), 15.0 / 720.0));
        assert_eq!(eval.conditions[0].state, ConditionState::Firing);
        assert!(close(eval.conditions[0].threshold, 14.4));
        // At exactly 14.4 the condition does not fire: it must exceed the threshold.
        let mut exact = BudgetTracker::new(config(0.999, rolling("30d")));
        feed(&mut exact, end, 60, 144, 10_000);
        let at = exact.evaluate(end).expect("in range");
        assert!(close(
            at.window("1h")
                .and_then(|w| w.budget_consumed)
                .expect("data"),
            0.02
        ));
        assert_eq!(at.conditions[0].state, ConditionState::Ok);
    }

    #[test]
    fn the_short_window_must_also_exceed_the_threshold() {
        // An hour at burn 20 that stopped 10 minutes ago: the 1 h window still burns above
        // 14.4, the 5 m window is clean → no page (the incident is over).
        let mut tracker = BudgetTracker::new(config(0.999, rolling("30d")));
        let end = T0 + HOUR;
        feed(&mut tracker, end - 10 * MINUTE, 50, 30, 1000);
        feed(&mut tracker, end, 10, 0, 1000);
        let eval = tracker.evaluate(end).expect("in range");
        let page = &eval.conditions[0];
        // 1 h: 50 minutes × 30 bad / 60 000 events = 2.5% → burn 25.
        assert!(close(page.long_burn.expect("data"), 25.0));
        assert!(close(page.short_burn.expect("data"), 0.0));
        assert_eq!(page.state, ConditionState::Ok);
    }

    #[test]
    fn windows_without_events_are_no_data_not_100_percent() {
        let tracker = BudgetTracker::new(config(0.99, rolling("30d")));
        let eval = tracker.evaluate(T0).expect("in range");
        assert!(
            eval.windows
                .iter()
                .all(|w| w.sli.is_none() && w.burn_rate.is_none())
        );
        assert_eq!(eval.budget_remaining, None);
        assert_eq!(eval.policy, PolicyState::NoData);
        assert_eq!(eval.consumed_24h, None);
        assert_eq!(eval.consumption, None);
        assert!(
            eval.conditions
                .iter()
                .all(|c| c.state == ConditionState::NoData)
        );
        assert_eq!(eval.firing(), None);
    }

    #[test]
    fn low_traffic_windows_cannot_page_but_can_ticket() {
        // One request a minute, all failing: burn 100 on a 99% SLO, far above every
        // threshold, but the 5 m window holds 5 events < 10 → no page.
        let mut tracker = BudgetTracker::new(config(0.99, rolling("30d")));
        let end = T0 + 3 * DAY;
        feed(&mut tracker, end, 3 * 24 * 60, 1, 1);
        let eval = tracker.evaluate(end).expect("in range");
        assert_eq!(eval.conditions[0].state, ConditionState::LowTraffic);
        assert_eq!(eval.conditions[1].state, ConditionState::Firing); // 30 m: 30 events ≥ 10
        assert_eq!(eval.conditions[2].state, ConditionState::Firing);
        // With a higher minimum, neither page fires; the ticket still does.
        let mut strict = config(0.99, rolling("30d"));
        strict.min_events = 100;
        let mut tracker = BudgetTracker::new(strict);
        feed(&mut tracker, end, 3 * 24 * 60, 1, 1);
        let eval = tracker.evaluate(end).expect("in range");
        assert_eq!(eval.conditions[0].state, ConditionState::LowTraffic);
        assert_eq!(eval.conditions[1].state, ConditionState::LowTraffic);
        assert_eq!(eval.firing(), Some(Severity::Ticket));
    }

    #[test]
    fn consumption_classes_and_policy_states_have_inclusive_middle_bands() {
        assert_eq!(ConsumptionClass::of(0.051), ConsumptionClass::Fast);
        assert_eq!(ConsumptionClass::of(0.05), ConsumptionClass::Medium);
        assert_eq!(ConsumptionClass::of(0.02), ConsumptionClass::Medium);
        assert_eq!(ConsumptionClass::of(0.0199), ConsumptionClass::Slow);
        assert_eq!(PolicyState::of(Some(0.51)), PolicyState::Healthy);
        assert_eq!(PolicyState::of(Some(0.50)), PolicyState::Warning);
        assert_eq!(PolicyState::of(Some(0.25)), PolicyState::Warning);
        assert_eq!(PolicyState::of(Some(0.2499)), PolicyState::Critical);
        assert_eq!(PolicyState::of(Some(-3.0)), PolicyState::Critical);
        assert_eq!(PolicyState::of(None), PolicyState::NoData);
    }

    #[test]
    fn budget_consumed_in_a_day_classifies_medium_burn() {
        // 99%/30d at 0.1% errors: burn 0.1 → a day consumes 0.1 / 30 = 0.33% → slow.
        // At 1% errors: burn 1 → 1/30 = 3.33% per day → medium.
        let mut tracker = BudgetTracker::new(config(0.99, rolling("30d")));
        let end = T0 + DAY;
        feed(&mut tracker, end, 24 * 60, 1, 100);
        let eval = tracker.evaluate(end).expect("in range");
        assert!(close(eval.consumed_24h.expect("data"), 1.0 / 30.0));
        assert_eq!(eval.consumption, Some(ConsumptionClass::Medium));
        // Remaining over the period so far: 1 − 1 = 0 (burn 1 since the start).
        assert!(close(eval.budget_remaining.expect("data"), 0.0));
    }

    #[test]
    fn calendar_month_in_berlin_resets_the_budget_at_local_midnight() {
        // Calendar month in Europe/Berlin. Berlin's February starts 2024-01-31T23:00Z. A bad
        // hour at 22:00–23:00Z on Jan 31 (still January locally) must not count in February.
        let start = NaiveDate::from_ymd_opt(2024, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("valid");
        let duration = SpecDuration::parse("1M").expect("valid");
        let window = TimeWindow::Calendar(
            CalendarWindow::new(duration, start, chrono_tz::Europe::Berlin).expect("calendar"),
        );
        let mut tracker = BudgetTracker::new(config(0.99, window));
        let feb_start = T0 + 30 * DAY + 23 * HOUR; // 2024-01-31T23:00Z
        feed(&mut tracker, feb_start, 60, 50, 100); // Jan 31 22:00–23:00Z: 50% errors
        feed(&mut tracker, feb_start + HOUR, 60, 0, 100); // Feb 1 00:00–01:00 local: clean
        let eval = tracker.evaluate(feb_start + HOUR).expect("in range");
        assert_eq!(eval.period.start, feb_start);
        assert_eq!(eval.period.len_secs(), 29 * DAY); // February 2024 in Berlin
        let period = eval.window("period").expect("period window");
        assert_eq!(period.counts, Counts::new(6000, 6000));
        assert!(close(eval.budget_remaining.expect("data"), 1.0));
        assert_eq!(eval.policy, PolicyState::Healthy);
        // The 2 h rolling window still sees the January hour: 3000 bad of 12 000 → 25%.
        let two_hours = eval.window("2h").expect("standard window");
        assert!(close(two_hours.error_ratio.expect("data"), 0.25));
        // One hour earlier the evaluation belongs to January, whose budget is hit:
        // 3000 bad of 6000 events seen → error 50% → remaining 1 − 50 = −49.
        let january = tracker.evaluate(feb_start).expect("in range");
        assert_eq!(january.period.end, feb_start);
        assert!(close(january.budget_remaining.expect("data"), -49.0));
        // Thresholds use the actual period length: 2% × 29 d × 24 h / 1 h = 13.92.
        assert!(close(eval.conditions[0].threshold, 13.92));
    }

    #[test]
    fn timeslices_count_good_slices_over_slices_with_data() {
        // 5-minute slices, good when ≥ 95% of a slice's events are good; objective 99%.
        let mut cfg = config(0.99, rolling("1d"));
        cfg.budgeting = Budgeting::Timeslices {
            target: 0.95,
            slice_secs: 5 * MINUTE,
        };
        let mut tracker = BudgetTracker::new(cfg);
        let end = T0 + HOUR;
        // 12 slices in the hour. Slice 3: 10% errors (bad slice). Slice 7: exactly 5% errors
        // (good: 95% ≥ 95%). Slices 10 and 11: no events at all.
        for minute in 0..50 {
            let slice = minute / 5;
            let counts = match slice {
                3 => Counts::from_bad(10, 100),
                7 => Counts::from_bad(5, 100),
                _ => Counts::new(100, 100),
            };
            tracker
                .record_minute(T0 + minute * MINUTE, counts)
                .expect("in retention");
        }
        let eval = tracker.evaluate(end).expect("in range");
        let hour = eval.window("1h").expect("standard window");
        assert_eq!(hour.counts, Counts::new(9, 10)); // 10 slices with data, 9 good
        assert!(close(hour.sli.expect("data"), 0.9));
        assert!(close(hour.burn_rate.expect("data"), 10.0)); // 0.1 / 0.01
        // The events themselves are still reported: 50 minutes × 100 events; slice 3 has
        // 5 × 10 bad, slice 7 has 5 × 5 bad.
        assert_eq!(hour.events, Counts::from_bad(75, 5000));
        // The last 5 minutes have no events: no data, not a good slice.
        assert_eq!(eval.window("5m").and_then(|w| w.sli), None);
    }

    #[test]
    fn a_revised_minute_replaces_the_old_rollup() {
        let mut tracker = BudgetTracker::new(config(0.99, rolling("30d")));
        tracker.record_minute(T0, Counts::new(10, 10)).expect("ok");
        tracker
            .record_minute(T0 + MINUTE, Counts::new(10, 10))
            .expect("ok");
        tracker.record_minute(T0, Counts::new(5, 20)).expect("ok");
        assert_eq!(tracker.events(T0, T0 + 2 * MINUTE), Counts::new(15, 30));
        assert_eq!(
            tracker.events(T0 + MINUTE, T0 + 2 * MINUTE),
            Counts::new(10, 10)
        );
    }

    #[test]
    fn rollups_older_than_the_retention_are_refused_and_far_future_ones_reset() {
        let mut tracker = BudgetTracker::new(config(0.99, rolling("7d")));
        tracker.record_minute(T0, Counts::new(1, 1)).expect("ok");
        // Retention is the 7-day window (3-day alert windows are shorter) plus a minute.
        tracker
            .record_minute(T0 + 8 * DAY, Counts::new(1, 1))
            .expect("ok");
        // Beyond the retention gap the series restarted at the new minute.
        assert!(matches!(
            tracker.record_minute(T0, Counts::new(1, 1)),
            Err(RollupError::TooOld { .. })
        ));
        assert_eq!(tracker.events(T0, T0 + 9 * DAY), Counts::new(1, 1));
    }

    #[test]
    fn memory_stays_bounded_by_the_retention() {
        let mut tracker = BudgetTracker::new(config(0.99, rolling("1d")));
        for minute in 0..(10 * 24 * 60) {
            tracker
                .record_minute(T0 + minute * MINUTE, Counts::new(1, 1))
                .expect("ok");
        }
        // 3 d (the longest standard window) + 1 minute, plus at most 1/8 slack.
        let retention = 3 * 24 * 60 + 1;
        assert!(tracker.minutes.len() <= retention + retention / 8 + 1);
        let eval = tracker.evaluate(T0 + 10 * DAY).expect("in range");
        assert_eq!(eval.window("3d").map(|w| w.events.total), Some(3 * 24 * 60));
    }

    #[test]
    fn good_above_total_is_clamped_and_bad_above_total_is_all_bad() {
        assert_eq!(
            Counts::new(12, 10),
            Counts {
                good: 10,
                total: 10
            }
        );
        assert_eq!(Counts::from_bad(12, 10), Counts { good: 0, total: 10 });
        assert_eq!(Counts::from_bad(3, 10).bad(), 3);
    }

    #[test]
    fn incidents_are_contiguous_firing_runs_with_their_budget() {
        // 99.9%/30d, 1000 events a minute. Minutes 60..120 run at 20% errors (burn 200);
        // the rest is clean. Budget consumed by that hour = 200 × 1 h / 720 h = 27.8% → a
        // post-mortem. A second, 10-minute burst at 1% errors (burn 10) consumes
        // 10 × 10 / 43 200 = 0.23%.
        let mut tracker = BudgetTracker::new(config(0.999, rolling("30d")));
        for minute in 0..300 {
            let bad = match minute {
                60..120 => 200,
                200..210 => 10,
                _ => 0,
            };
            tracker
                .record_minute(T0 + minute * MINUTE, Counts::from_bad(bad, 1000))
                .expect("ok");
        }
        let points: Vec<EvalPoint> = (1..=300)
            .map(|minute| EvalPoint {
                at: T0 + minute * MINUTE,
                firing: match minute {
                    61..=120 => Some(Severity::Page),
                    201..=210 => Some(Severity::Ticket),
                    290..=300 => Some(Severity::Ticket),
                    _ => None,
                },
            })
            .collect();
        // Lead 1 minute: the first firing evaluation (end of minute 60) covers minute 60.
        let found = incidents(&points, &tracker, MINUTE);
        assert_eq!(found.len(), 3);
        assert_eq!(
            (found[0].start, found[0].end),
            (T0 + 60 * MINUTE, T0 + 121 * MINUTE)
        );
        // 61 minutes including one clean one: 60 × 200 bad of 61 000 → burn 196.72 × 61/43 200.
        assert!(close(
            found[0].budget_consumed.expect("data"),
            12_000.0 / 61_000.0 / 0.001 * 61.0 / 43_200.0
        ));
        assert!(found[0].postmortem_required);
        assert_eq!(found[0].severity, Severity::Page);
        assert!(!found[1].postmortem_required);
        assert!(close(
            found[1].budget_consumed.expect("data"),
            100.0 / 11_000.0 / 0.001 * 11.0 / 43_200.0
        ));
        assert!(found[2].open);
        assert_eq!(found[2].end, T0 + 300 * MINUTE);
    }

    #[test]
    fn fifty_slos_over_thirty_days_evaluate_well_under_a_second() {
        use std::time::Instant;
        let minutes = 30 * 24 * 60; // 43 200
        let end = T0 + minutes * MINUTE;
        let started = Instant::now();
        let mut trackers: Vec<BudgetTracker> = (0..50)
            .map(|i| {
                let mut cfg = config(0.99 + (i % 9) as f64 * 0.001, rolling("30d"));
                if i % 5 == 0 {
                    cfg.budgeting = Budgeting::Timeslices {
                        target: 0.95,
                        slice_secs: 5 * MINUTE,
                    };
                }
                BudgetTracker::new(cfg)
            })
            .collect();
        for (i, tracker) in trackers.iter_mut().enumerate() {
            for m in 0..minutes {
                let total = 100 + ((m + i as i64) % 17) as u64;
                let bad = u64::from((m * 7 + i as i64) % 101 == 0);
                tracker
                    .record_minute(T0 + m * MINUTE, Counts::from_bad(bad, total))
                    .expect("ok");
            }
        }
        let loaded = started.elapsed();
        let started = Instant::now();
        let evaluations: Vec<Evaluation> =
            trackers.iter().filter_map(|t| t.evaluate(end)).collect();
        let full = started.elapsed();
        assert_eq!(evaluations.len(), 50);
        let started = Instant::now();
        for tracker in &mut trackers {
            tracker
                .record_minute(end, Counts::new(100, 100))
                .expect("ok");
        }
        let stepped: Vec<Evaluation> = trackers
            .iter()
            .filter_map(|t| t.evaluate(end + MINUTE))
            .collect();
        let step = started.elapsed();
        assert_eq!(stepped.len(), 50);
        println!(
            "50 SLOs × 43 200 minutes: load {loaded:?}, evaluate all {full:?}, \
             one-minute step (record + evaluate all) {step:?}"
        );
        assert!(full.as_secs_f64() < 1.0 && step.as_secs_f64() < 1.0);
    }
}
