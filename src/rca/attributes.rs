//! Attribute evidence: which attribute values are over-represented among the failures of
//! the incident.
//!
//! Owns the comparison of the incident's bad events with two references: the incident's
//! good events, and every event of the baseline window before the incident (the normal
//! traffic mix). For a value `k=v`, with smoothing prior `α`:
//!
//! ```text
//! share_bad = (bad events with k=v + α) / (bad events + 2α)
//! share_ref = (reference events with k=v + α) / (reference events + 2α)
//! lift      = min over the non-empty references of share_bad / share_ref
//! score     = support × ln(lift),   support = bad events with k=v / bad events
//! ```
//!
//! The log-lift says how much more common the value is among failures than elsewhere; the
//! support says how much of the failure it accounts for. A value carried by every event
//! (one service for all) has lift ≤ 1 and never scores; a value seen on a handful of
//! failures needs `min_bad_support` of them before it is reported. Taking the smaller lift
//! of the two references means a value must stand out against both the healthy traffic of
//! the incident and the traffic before it.

use std::collections::BTreeMap;

use serde::Serialize;

/// One event (request, agent step, tool call) as fetched for the incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub attributes: Vec<(String, String)>,
    /// The event violated the SLI (error, too slow).
    pub bad: bool,
    /// The event is in the incident window; otherwise in the baseline window before it.
    pub in_incident: bool,
}

/// Constants of the attribute statistic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttributeConfig {
    /// Pseudo-count `α` added to both sides of every share.
    pub prior: f64,
    /// Fewest bad events a value must appear on.
    pub min_bad_support: usize,
}

impl Default for AttributeConfig {
    fn default() -> Self {
        Self {
            prior: 0.5,
            min_bad_support: 3,
        }
    }
}

/// One attribute value over-represented among failures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeFinding {
    pub key: String,
    pub value: String,
    pub score: f64,
    /// Bad incident events carrying the value.
    pub bad_with: usize,
    /// Bad incident events in all.
    pub bad_total: usize,
    /// `bad_with / bad_total`.
    pub support: f64,
    /// Share of the value among the incident's good events (raw, unsmoothed).
    pub share_good: f64,
    /// Share of the value among baseline events (raw; `None` without baseline events).
    pub share_baseline: Option<f64>,
    /// The smaller smoothed lift of the two references.
    pub lift: f64,
    /// Bad rate of incident events with the value, and of those without it.
    pub bad_rate_with: f64,
    pub bad_rate_without: f64,
    pub evidence: String,
}

/// Smoothed share `(count + α) / (total + 2α)`.
pub(crate) fn smoothed_share(count: usize, total: usize, prior: f64) -> f64 {
    (count as f64 + prior) / (total as f64 + 2.0 * prior)
}

/// `support × ln(lift)` where `lift` is the bad share over the reference share.
pub(crate) fn lift_score(
    bad_with: usize,
    bad_total: usize,
    references: &[(usize, usize)],
    prior: f64,
) -> (f64, f64) {
    if bad_total == 0 {
        return (1.0, 0.0);
    }
    let share_bad = smoothed_share(bad_with, bad_total, prior);
    let lift = references
        .iter()
        .filter(|(_, total)| *total > 0)
        .map(|&(with, total)| share_bad / smoothed_share(with, total, prior))
        .fold(f64::INFINITY, f64::min);
    if !lift.is_finite() {
        return (1.0, 0.0);
    }
    let support = bad_with as f64 / bad_total as f64;
    (lift, support * lift.ln())
}

#[derive(Default)]
struct Counts {
    bad: usize,
    good: usize,
    baseline: usize,
}

/// Ranks attribute values by [`AttributeFinding::score`], highest first; only positive
/// scores with enough support are returned.
pub fn rank_attributes(events: &[Event], config: &AttributeConfig) -> Vec<AttributeFinding> {
    let mut totals = Counts::default();
    let mut per_value: BTreeMap<(&str, &str), Counts> = BTreeMap::new();
    for event in events {
        let slot = |c: &mut Counts| match (event.in_incident, event.bad) {
            (true, true) => c.bad += 1,
            (true, false) => c.good += 1,
            (false, _) => c.baseline += 1,
        };
        slot(&mut totals);
        // An event listing the same pair twice counts once.
        let mut seen: Vec<(&str, &str)> = event
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        for pair in seen {
            slot(per_value.entry(pair).or_default());
        }
    }

    let mut findings = Vec::new();
    for ((key, value), counts) in per_value {
        if counts.bad < config.min_bad_support.max(1) {
            continue;
        }
        let (lift, score) = lift_score(
            counts.bad,
            totals.bad,
            &[
                (counts.good, totals.good),
                (counts.baseline, totals.baseline),
            ],
            config.prior,
        );
        if score <= 0.0 {
            continue;
        }
        let support = counts.bad as f64 / totals.bad as f64;
        let share_good = ratio(counts.good, totals.good);
        let share_baseline = (totals.baseline > 0).then(|| ratio(counts.baseline, totals.baseline));
        let bad_rate_with = ratio(counts.bad, counts.bad + counts.good);
        let bad_rate_without = ratio(
            totals.bad - counts.bad,
            totals.bad + totals.good - counts.bad - counts.good,
        );
        let evidence = format!(
            "{key}={value} on {} of {} failing events ({:.0}%) against {:.0}% of good events{}; \
             failure rate {:.1}% with it, {:.1}% without; lift {lift:.1}",
            counts.bad,
            totals.bad,
            support * 100.0,
            share_good * 100.0,
            share_baseline
                .map(|s| format!(" and {:.0}% of baseline events", s * 100.0))
                .unwrap_or_default(),
            bad_rate_with * 100.0,
            bad_rate_without * 100.0,
        );
        findings.push(AttributeFinding {
            key: key.to_string(),
            value: value.to_string(),
            score,
            bad_with: counts.bad,
            bad_total: totals.bad,
            support,
            share_good,
            share_baseline,
            lift,
            bad_rate_with,
            bad_rate_without,
            evidence,
        });
    }
    findings.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| (&a.key, &a.value).cmp(&(&b.key, &b.value)))
    });
    findings
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(pairs: &[(&str, &str)], bad: bool, in_incident: bool) -> Event {
        Event {
            attributes: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            bad,
            in_incident,
        }
    }

    /// Tiny table, worked by hand with α = 0.5:
    ///
    /// | events            | total | model=x |
    /// |-------------------|-------|---------|
    /// | incident, bad     | 10    | 8       |
    /// | incident, good    | 40    | 4       |
    /// | baseline (all)    | 50    | 5       |
    ///
    /// share_bad  = 8.5 / 11 = 0.772727
    /// share_good = 4.5 / 41 = 0.109756 -> lift_good = 348.5 / 49.5 = 7.040404
    /// share_base = 5.5 / 51 = 0.107843 -> lift_base = 433.5 / 60.5 = 7.165289
    /// lift = min = 7.040404; ln(7.040404) = 1.945910 + ln(1.005772) = 1.951665
    /// score = 0.8 × 1.951665 = 1.561332
    /// failure rate with model=x = 8 / 12 = 66.7 %, without = 2 / 38 = 5.3 %
    #[test]
    fn lift_score_matches_the_hand_worked_table() {
        let (lift, score) = lift_score(8, 10, &[(4, 40), (5, 50)], 0.5);
        assert!((lift - 7.040404).abs() < 1e-5, "lift {lift}");
        assert!((score - 1.561332).abs() < 1e-5, "score {score}");

        let mut events = Vec::new();
        for i in 0..10 {
            let model = if i < 8 { "x" } else { "y" };
            events.push(event(&[("model", model)], true, true));
        }
        for i in 0..40 {
            let model = if i < 4 { "x" } else { "y" };
            events.push(event(&[("model", model)], false, true));
        }
        for i in 0..50 {
            let model = if i < 5 { "x" } else { "y" };
            events.push(event(&[("model", model)], false, false));
        }
        let findings = rank_attributes(&events, &AttributeConfig::default());
        let top = findings.first().expect("model=x is reported");
        assert_eq!((top.key.as_str(), top.value.as_str()), ("model", "x"));
        assert!((top.score - 1.561332).abs() < 1e-5);
        assert!((top.bad_rate_with - 8.0 / 12.0).abs() < 1e-12);
        assert!((top.bad_rate_without - 2.0 / 38.0).abs() < 1e-12);
    }

    #[test]
    fn value_shared_by_every_event_never_scores() {
        let mut events = Vec::new();
        for i in 0..30 {
            let region = if i % 3 == 0 { "eu" } else { "us" };
            events.push(event(
                &[("service.name", "api"), ("region", region)],
                i < 10,
                true,
            ));
            events.push(event(
                &[("service.name", "api"), ("region", region)],
                false,
                false,
            ));
        }
        let findings = rank_attributes(&events, &AttributeConfig::default());
        assert!(
            findings.iter().all(|f| f.key != "service.name"),
            "{findings:?}"
        );
    }

    #[test]
    fn value_on_too_few_failures_is_not_reported() {
        let mut events = vec![
            event(&[("bot.id", "rare")], true, true),
            event(&[("bot.id", "rare")], true, true),
        ];
        for _ in 0..20 {
            events.push(event(&[("bot.id", "common")], false, true));
        }
        assert!(rank_attributes(&events, &AttributeConfig::default()).is_empty());
    }
}
