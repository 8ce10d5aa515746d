//! Times the budget arithmetic: 50 SLOs × 30 days of minute rollups (43 200 minutes each),
//! one full evaluation of all of them, and the incremental one-minute step.
//!
//! `cargo bench --bench slo`. This times the arithmetic only; the per-minute SQL rollups
//! that feed it in `vigil serve` are queries over the store and are not included.

use std::time::Instant;

use vigil::slo::budget::{BudgetTracker, Budgeting, BurnCondition, Counts, TrackerConfig};
use vigil::slo::window::{SpecDuration, TimeWindow};

const T0: i64 = 1_704_067_200;
const MINUTES: i64 = 30 * 24 * 60;

fn main() {
    let Ok(duration) = SpecDuration::parse("30d") else {
        return;
    };
    let window = TimeWindow::Rolling {
        duration,
        secs: 30 * 86_400,
    };
    let started = Instant::now();
    let mut trackers: Vec<BudgetTracker> = (0..50)
        .map(|i| {
            let budgeting = if i % 5 == 0 {
                Budgeting::Timeslices {
                    target: 0.95,
                    slice_secs: 300,
                }
            } else {
                Budgeting::Occurrences
            };
            BudgetTracker::new(TrackerConfig {
                objective: 0.99,
                window: window.clone(),
                budgeting,
                conditions: BurnCondition::defaults(),
                min_events: 10,
            })
        })
        .collect();
    for (i, tracker) in trackers.iter_mut().enumerate() {
        for m in 0..MINUTES {
            let total = 100 + ((m + i as i64) % 17) as u64;
            let bad = u64::from((m * 7 + i as i64) % 101 == 0);
            if let Err(e) = tracker.record_minute(T0 + m * 60, Counts::from_bad(bad, total)) {
                eprintln!("{e}");
            }
        }
    }
    let load = started.elapsed();
    let end = T0 + MINUTES * 60;

    let started = Instant::now();
    let evaluated = trackers.iter().filter_map(|t| t.evaluate(end)).count();
    let full = started.elapsed();

    let rounds = 1_000;
    let started = Instant::now();
    for round in 0..rounds {
        let minute = end + round * 60;
        for tracker in &mut trackers {
            if let Err(e) = tracker.record_minute(minute, Counts::new(100, 100)) {
                eprintln!("{e}");
            }
        }
        let _ = trackers
            .iter()
            .filter_map(|t| t.evaluate(minute + 60))
            .count();
    }
    let step = started.elapsed() / rounds as u32;

    println!("50 SLOs × {MINUTES} minute rollups (10 on 5-minute timeslices)");
    println!("  load all rollups:                  {load:?}");
    println!("  evaluate all ({evaluated}):               {full:?}");
    println!("  one-minute step, record + evaluate: {step:?} (mean of {rounds})");
}
