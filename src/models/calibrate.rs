//! Score post-processing shared by the detectors: [`Likelihood`] turns a raw anomaly measure
//! into a calibrated tail probability relative to that series' own recent history (so one
//! global threshold fits quiet and noisy series alike), and [`Quiet`] keeps alerts sparse by
//! damping scores for a while after one fired.
//!
//! Both are causal and bounded: `Likelihood` keeps `short + long` numbers, `Quiet` two.

use serde::{Deserialize, Serialize};

use super::math::{Ring, erfc};

/// Anomaly likelihood: the short-term average of a raw measure, compared with the mean and
/// deviation of that average over a long trailing window; the upper normal tail of the
/// resulting z-score is returned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Likelihood {
    short: Ring,
    long: Ring,
    /// Refresh the long-window mean/deviation every this many points.
    refresh: usize,
    since_refresh: usize,
    /// Points before the first estimate; the tail is 1 (nothing) until then.
    warmup: usize,
    seen: usize,
    /// Lower bound on the deviation, in raw units.
    min_std: f64,
    mean: f64,
    std: f64,
}

impl Likelihood {
    pub(crate) fn new(short: usize, long: usize, warmup: usize, min_std: f64) -> Self {
        Self {
            short: Ring::new(short),
            long: Ring::new(long),
            refresh: 50,
            since_refresh: 0,
            warmup,
            seen: 0,
            min_std,
            mean: 0.0,
            std: 0.0,
        }
    }

    /// Feeds a raw measure (larger = more anomalous) and returns the tail probability of its
    /// short-term average, in `(0, 1]`.
    pub(crate) fn update(&mut self, raw: f64) -> f64 {
        let raw = if raw.is_finite() { raw } else { 0.0 };
        self.short.push(raw);
        let avg = self.short.iter().sum::<f64>() / self.short.len() as f64;
        self.seen += 1;
        let tail = if self.seen > self.warmup && self.long.len() > 1 {
            let z = (avg - self.mean) / self.std.max(self.min_std);
            if z <= 0.0 {
                1.0
            } else {
                0.5 * erfc(z / std::f64::consts::SQRT_2)
            }
        } else {
            1.0
        };
        self.long.push(avg);
        self.since_refresh += 1;
        if self.since_refresh >= self.refresh || self.seen <= self.warmup {
            (self.mean, self.std) = self.long.mean_std();
            self.since_refresh = 0;
        }
        tail
    }
}

/// Sparse alerting: once a score reaches `level`, the next `span` scores are multiplied by
/// `damp`, so one incident yields one alert instead of a burst.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Quiet {
    level: f64,
    span: usize,
    damp: f64,
    remaining: usize,
}

impl Quiet {
    pub(crate) fn new(level: f64, span: usize, damp: f64) -> Self {
        Self {
            level,
            span,
            damp,
            remaining: 0,
        }
    }

    pub(crate) fn apply(&mut self, score: f64) -> f64 {
        if self.remaining > 0 {
            self.remaining -= 1;
            return score * self.damp;
        }
        if score >= self.level {
            self.remaining = self.span;
        }
        score
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn likelihood_of_a_constant_measure_stays_at_one() {
        let mut l = Likelihood::new(5, 100, 10, 0.1);
        for _ in 0..500 {
            assert_eq!(l.update(0.0), 1.0);
        }
    }

    #[test]
    fn likelihood_flags_a_jump_in_the_measure() {
        let mut l = Likelihood::new(1, 100, 10, 0.1);
        for i in 0..500 {
            l.update(f64::from(i % 3));
        }
        assert!(l.update(20.0) < 1e-6);
    }

    #[test]
    fn quiet_damps_the_scores_after_an_alert() {
        let mut q = Quiet::new(0.9, 2, 0.0);
        assert_eq!(q.apply(0.95), 0.95);
        assert_eq!(q.apply(0.99), 0.0);
        assert_eq!(q.apply(0.99), 0.0);
        assert_eq!(q.apply(0.99), 0.99);
    }
}

/// Global parameters of a `Calibrated` pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalibrationParams {
    /// Points averaged before comparing with history.
    pub short: usize,
    /// Trailing points whose averages form the reference distribution.
    pub long: usize,
    /// Points seen before any score can be raised.
    pub warmup: usize,
    /// Floor on the reference deviation, in raw units.
    pub min_std: f64,
    /// A tail probability of `10^-decades` maps to score 1.
    pub decades: f64,
    /// Score at which an alert starts a quiet span.
    pub alert_level: f64,
    /// Points damped after an alert.
    pub quiet_span: usize,
    /// Factor applied to scores during the quiet span.
    pub quiet_damp: f64,
}

impl Default for CalibrationParams {
    fn default() -> Self {
        Self {
            short: 5,
            long: 2000,
            warmup: 300,
            min_std: 0.05,
            decades: 12.0,
            alert_level: 0.5,
            quiet_span: 300,
            quiet_damp: 0.1,
        }
    }
}

/// Raw measure → [`Likelihood`] → `-log10(tail) / decades` → [`Quiet`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Calibrated {
    likelihood: Likelihood,
    decades: f64,
    quiet: Quiet,
}

impl Calibrated {
    pub(crate) fn new(p: &CalibrationParams) -> Self {
        Self {
            likelihood: Likelihood::new(p.short, p.long, p.warmup, p.min_std),
            decades: p.decades,
            quiet: Quiet::new(p.alert_level, p.quiet_span, p.quiet_damp),
        }
    }

    /// The calibrated score before the quiet span is applied.
    pub(crate) fn unquieted(&mut self, raw: f64) -> f64 {
        super::math::surprise(self.likelihood.update(raw), self.decades)
    }

    pub(crate) fn update(&mut self, raw: f64) -> f64 {
        let s = self.unquieted(raw);
        self.quiet.apply(s)
    }
}

/// Distribution-free calibration of a raw measure against its own last `history` values:
/// up to the `(1 - upper)` quantile `u` the tail is 1 (nothing unusual), above it it decays
/// exponentially with the mean excess over `u` (a peaks-over-threshold fit), which keeps
/// resolution for values far beyond anything seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TailFit {
    history: Ring,
    upper: f64,
    refresh: usize,
    since_refresh: usize,
    warmup: usize,
    /// Lower bound on the mean excess, in raw units.
    min_excess: f64,
    u: f64,
    excess: f64,
}

impl TailFit {
    pub(crate) fn new(history: usize, upper: f64, warmup: usize, min_excess: f64) -> Self {
        Self {
            history: Ring::new(history),
            upper: upper.clamp(1e-4, 0.5),
            refresh: 25,
            since_refresh: 0,
            warmup,
            min_excess,
            u: 0.0,
            excess: 0.0,
        }
    }

    /// Tail probability of `raw` (in `(0, 1]`), learning from it afterwards.
    pub(crate) fn update(&mut self, raw: f64) -> f64 {
        let raw = if raw.is_finite() { raw } else { 0.0 };
        let tail = if self.history.len() > self.warmup && raw > self.u {
            let excess = self.excess.max(self.min_excess);
            (self.upper * (-(raw - self.u) / excess).exp()).min(1.0)
        } else {
            1.0
        };
        self.history.push(raw);
        self.since_refresh += 1;
        if self.since_refresh >= self.refresh || self.history.len() <= self.warmup {
            self.refit();
            self.since_refresh = 0;
        }
        tail
    }

    fn refit(&mut self) {
        let mut sorted: Vec<f64> = self.history.iter().collect();
        if sorted.is_empty() {
            return;
        }
        sorted.sort_by(f64::total_cmp);
        let above = ((sorted.len() as f64 * self.upper).ceil() as usize).clamp(1, sorted.len());
        let cut = sorted.len() - above;
        self.u = sorted[cut.saturating_sub(1)];
        let tail = &sorted[cut..];
        self.excess = tail.iter().map(|x| x - self.u).sum::<f64>() / tail.len() as f64;
    }
}
