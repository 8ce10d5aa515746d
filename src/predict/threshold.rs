//! The probability at which a page-probability model warns, learned from the history it was
//! trained on.
//!
//! The classifier's probabilities are not calibrated (positives are weighted up, and one
//! pooled model serves every SLO), so a fixed 0.5 suits them badly. Each horizon's model
//! instead warns at the probability that would have scored best on its own training period:
//! warning on every predictable row at or above a candidate, scored event by event against
//! the page starts as [`crate::predict::backtest::score_events`] defines (recall: pages
//! warned of within the band; precision: warning episodes some page followed), pooled over
//! SLOs, and ranked by the F-score with [`TUNING_BETA`]. The nightly job and the backtest use
//! the same learned value.

use crate::predict::backtest::{EventScore, LeadBand, score_events};
use crate::predict::backtest_fleet::pooled_score;
use crate::predict::classify::FeatureRow;
use crate::predict::features::{HOUR_SECS, SloFeatures};

/// Per SLO and row, the score a warning threshold applies to: the row's probability, or 0
/// when the row is not predictable (it is never predicted).
pub fn row_scores(
    fleet: &[SloFeatures],
    probability: impl Fn(&FeatureRow) -> f64,
) -> Vec<Vec<f64>> {
    fleet
        .iter()
        .map(|slo| {
            (0..slo.rows.len())
                .map(|j| {
                    if slo.predictable(j) {
                        probability(&slo.rows[j])
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect()
}

/// Most thresholds [`tuned_threshold`] tries.
pub const MAX_THRESHOLD_CANDIDATES: usize = 64;

/// The β of the F-score [`tuned_threshold`] maximises: below 1 weighs precision above
/// recall. Most pages have no precursor a band can see (at 48 h, none but a quota running
/// out), and F1 reaches for them with a low threshold that warns on quiet hours. On two
/// simulated 56-day precursor fleets, β = 0.5 instead of 1 kept 48 h recall where a
/// precursor exists at 1.0 and moved precision from 0.50 to 0.51 and from 0.32 to 0.46.
pub const TUNING_BETA: f64 = 0.5;

/// The event-level F-score with [`TUNING_BETA`]: `(1 + β²) P R / (β² P + R)`.
pub fn f_score(recall: f64, precision: f64) -> f64 {
    let b2 = TUNING_BETA * TUNING_BETA;
    let denominator = b2 * precision + recall;
    if denominator > 0.0 {
        (1.0 + b2) * precision * recall / denominator
    } else {
        0.0
    }
}

/// A threshold is learned only when its training warnings were true alarms at least this
/// many times as often as warnings on every row would have been (capped at a precision of
/// 1). A model that has not learned to tell the hours before a page apart, typically in
/// its first days, scores its best F-score by warning on every row: on four simulated
/// 56-day fleets that made up every 48 h warning of the first three days of one fleet
/// (precision 0.71 there; 1.00 without them), and changed nothing else.
pub const MIN_PRECISION_LIFT: f64 = 2.0;

/// The probability at which warning on the training rows before `origin` scores the best
/// event-level F-score ([`f_score`], of recall and precision pooled over SLOs as the
/// backtest pools them) against the page starts before `origin`, in `band`, among those
/// that beat warning on every row ([`MIN_PRECISION_LIFT`]). Rows count when predictable and
/// with a known outcome (`t + lookahead <= origin`); page starts when no later than
/// `origin`. `None` without a page start there or without a threshold that predicts one
/// and beats warning on every row. Candidates are at most [`MAX_THRESHOLD_CANDIDATES`]
/// quantiles of the rows' probabilities. When consecutive candidates tie for the best,
/// from the highest that scores it down, the threshold lies midway between the ends of that
/// run in log-odds ([`midway`]).
pub fn tuned_threshold(
    fleet: &[SloFeatures],
    origin: i64,
    band: &LeadBand,
    scores: &[Vec<f64>],
) -> Option<f64> {
    let mut rows: Vec<Vec<(i64, f64)>> = Vec::with_capacity(fleet.len());
    let mut incidents: Vec<Vec<i64>> = Vec::with_capacity(fleet.len());
    for (slo, slo_scores) in fleet.iter().zip(scores) {
        rows.push(
            slo.rows
                .iter()
                .zip(slo_scores)
                .filter(|(row, score)| row.time + band.lookahead_secs <= origin && **score > 0.0)
                .map(|(row, score)| (row.time, *score))
                .collect(),
        );
        incidents.push(
            slo.page_starts
                .iter()
                .copied()
                .filter(|&s| s <= origin)
                .collect(),
        );
    }
    if incidents.iter().all(Vec::is_empty) {
        return None;
    }
    let mut all: Vec<f64> = rows.iter().flatten().map(|r| r.1).collect();
    all.sort_by(|a, b| b.total_cmp(a));
    all.dedup();
    let step = all.len().div_ceil(MAX_THRESHOLD_CANDIDATES).max(1);
    let score_at = |threshold: f64| {
        let per_slo: Vec<EventScore> = rows
            .iter()
            .zip(&incidents)
            .map(|(r, inc)| {
                let firing: Vec<i64> = r
                    .iter()
                    .filter(|(_, p)| *p >= threshold)
                    .map(|(t, _)| *t)
                    .collect();
                score_events(&firing, HOUR_SECS, inc, band)
            })
            .collect();
        pooled_score(&per_slo, band)
    };
    let every_row = all.last().and_then(|&lowest| score_at(lowest).precision)?;
    let required = (MIN_PRECISION_LIFT * every_row).min(1.0);
    // Per candidate, highest first: its F-score, or `None` when it predicts nothing or
    // does not beat warning on every row.
    let scored: Vec<(f64, Option<f64>)> = all
        .iter()
        .step_by(step)
        .map(|&threshold| {
            let pooled = score_at(threshold);
            let f = match (pooled.recall, pooled.precision) {
                (Some(recall), Some(precision)) if precision >= required => {
                    Some(f_score(recall, precision)).filter(|f| *f > 0.0)
                }
                _ => None,
            };
            (threshold, f)
        })
        .collect();
    let best = scored.iter().filter_map(|s| s.1).reduce(f64::max)?;
    let first = scored.iter().position(|s| s.1 == Some(best))?;
    let run = scored[first..]
        .iter()
        .take_while(|s| s.1 == Some(best))
        .count();
    Some(midway(scored[first].0, scored[first + run - 1].0))
}

/// The probability midway between two in log-odds, the scale on which the logistic model
/// adds up its inputs: warning there leaves the same margin, in the model's own terms, to
/// the candidate above (which would miss a training page) and to the one below (which
/// would raise another training false alarm). Thresholds that tie on the training period
/// score the same there, so the margin decides: on four simulated 56-day fleets, the
/// highest tied candidate, often a rate-limiting level seen only in the one quota
/// exhaustion trained on, missed two of the ten quota exhaustions of one fleet that the
/// midway threshold warned of (48 h recall where a precursor exists 0.60 to 0.80,
/// precision 0.90 to 0.91), and changed nothing on the others.
pub fn midway(high: f64, low: f64) -> f64 {
    if high == low {
        return high;
    }
    // Probabilities of exactly 0 or 1 have infinite log-odds: clamp them just inside.
    let logit = |p: f64| {
        let p = p.clamp(f64::MIN_POSITIVE, 1.0 - f64::EPSILON);
        (p / (1.0 - p)).ln()
    };
    let z = (logit(high) + logit(low)) / 2.0;
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = HOUR_SECS;

    #[test]
    fn the_tuned_threshold_is_the_probability_with_the_best_training_f_half() {
        // Rows at 0..10 h, pages at 4.5 h and 8.5 h, band 1 h (warned 5 min to 1 h ahead):
        // only warnings at 4 h and 8 h predict them, and with a 1 h look-ahead every hourly
        // warning is its own episode. F0.5 = 1.25 P R / (0.25 P + R).
        //   >= 0.9: warns at 4 h: recall 1/2, precision 1: F0.5 = 0.625 / 0.75 = 0.833.
        //   >= 0.5: also 1 h (false) and 8 h: recall 1, precision 2/3:
        //           F0.5 = 0.833 / 1.167 = 0.714 (F1 would pick it: 0.8 against 0.667).
        //   >= 0.1: six more false warnings: precision 2/9, worse still.
        let probabilities = [0.05, 0.5, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.5, 0.1, 0.1];
        let slo = eleven_hours(vec![4 * H + H / 2, 8 * H + H / 2]);
        let band = LeadBand::new("1 h", 300, H);
        let p = |r: &FeatureRow| probabilities[(r.time / H) as usize];
        let scores = row_scores(std::slice::from_ref(&slo), p);
        assert_eq!(scores[0], probabilities);
        assert_eq!(
            tuned_threshold(std::slice::from_ref(&slo), 12 * H, &band, &scores),
            Some(0.9)
        );
        // Without the page at 4.5 h only >= 0.5 predicts one: recall 1, precision 1/3.
        let later_only = SloFeatures {
            page_starts: vec![8 * H + H / 2],
            ..slo.clone()
        };
        assert_eq!(
            tuned_threshold(std::slice::from_ref(&later_only), 12 * H, &band, &scores),
            Some(0.5)
        );
        // A paging row is never predicted: it scores 0.
        let mut paging = slo.clone();
        paging.paging[4] = true;
        let mut paging_scores = row_scores(&[paging], p);
        assert_eq!(paging_scores.remove(0)[3..6], [0.1, 0.0, 0.1]);

        let quiet = SloFeatures {
            page_starts: Vec::new(),
            ..slo
        };
        assert_eq!(tuned_threshold(&[quiet], 12 * H, &band, &scores), None);
    }

    #[test]
    fn no_threshold_is_learned_when_none_beats_warning_on_every_row() {
        // The same rows and band, one page at 4.5 h, but the row before it has the lowest
        // probability: only warning on every row (>= 0.05) predicts it, with precision
        // 1/11, which is not twice itself. Without the lift rule, F0.5 would pick it.
        let probabilities = [0.3, 0.5, 0.1, 0.1, 0.05, 0.1, 0.1, 0.9, 0.5, 0.1, 0.1];
        let slo = eleven_hours(vec![4 * H + H / 2]);
        let band = LeadBand::new("1 h", 300, H);
        let scores = row_scores(std::slice::from_ref(&slo), |r| {
            probabilities[(r.time / H) as usize]
        });
        assert_eq!(
            tuned_threshold(std::slice::from_ref(&slo), 12 * H, &band, &scores),
            None
        );
        // Ranked second lowest instead (0.08, with the first row at 0.05), it warns at
        // >= 0.08 with nine false rows: precision 1/10, still under 2/11. Ranked highest
        // (0.95), it is learned: precision 1 >= 2/11.
        for (p, learned) in [(0.08, None), (0.95, Some(0.95))] {
            let mut moved = probabilities;
            moved[0] = 0.05;
            moved[4] = p;
            let scores = row_scores(std::slice::from_ref(&slo), |r| moved[(r.time / H) as usize]);
            assert_eq!(
                tuned_threshold(std::slice::from_ref(&slo), 12 * H, &band, &scores),
                learned,
                "{p}"
            );
        }
    }

    #[test]
    fn thresholds_that_tie_give_way_to_the_midpoint_of_their_run_in_log_odds() {
        // Rows at 0..10 h, one page at 5.5 h, band 6 h (warned 1 h to 6 h ahead: rows at
        // 0 h..4 h). A warning episode is true when the page starts within 6 h after it.
        //   >= 0.9: warns at 3 h: recall 1, precision 1, F0.5 = 1.
        //   >= 0.6: warns at 2 h and 3 h, one true episode: F0.5 = 1 again (a tie).
        //   >= 0.1: also at 7 h..10 h, which no page follows: precision 1/2.
        //   >= 0.05 (every row): episodes 0 h..5 h (true) and 6 h..10 h (false), precision
        //           1/2, so a threshold must reach 2 × 1/2 = 1 and 0.1 cannot.
        // The run of best candidates is 0.9, 0.6: midway in log-odds, the odds are
        // sqrt(9 * 1.5) = 3.674, a probability of 3.674 / 4.674 = 0.786.
        let probabilities = [0.05, 0.05, 0.6, 0.9, 0.05, 0.05, 0.05, 0.1, 0.1, 0.1, 0.1];
        let slo = eleven_hours(vec![5 * H + H / 2]);
        let band = LeadBand::new("6 h", H, 6 * H);
        let scores = row_scores(std::slice::from_ref(&slo), |r| {
            probabilities[(r.time / H) as usize]
        });
        let learned =
            tuned_threshold(std::slice::from_ref(&slo), 17 * H, &band, &scores).expect("learned");
        assert!((learned - 0.786).abs() < 5e-4, "{learned}");
        // It warns where the highest tied candidate did on the training rows: at 3 h alone.
        assert!(0.6 < learned && learned < 0.9);

        assert_eq!(midway(0.7, 0.7), 0.7);
        // Symmetric odds meet at even odds; the ends of the scale stay finite.
        assert!((midway(0.8, 0.2) - 0.5).abs() < 1e-12);
        let edge = midway(1.0, 0.0);
        assert!(edge.is_finite() && (0.0..=1.0).contains(&edge), "{edge}");
    }

    /// An SLO with observed, predictable rows at 0 h..10 h and the given page starts.
    fn eleven_hours(page_starts: Vec<i64>) -> SloFeatures {
        SloFeatures {
            slo: "a".into(),
            rows: (0..11)
                .map(|h| FeatureRow {
                    time: h * H,
                    ..Default::default()
                })
                .collect(),
            observed: vec![true; 11],
            paging: vec![false; 11],
            after_page: vec![false; 11],
            error_ratio: vec![0.0; 11],
            page_starts,
            budget: None,
        }
    }
}
