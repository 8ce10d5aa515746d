//! Lifecycle figures over transitions, for `vigil alerts stats`: the same definitions as
//! the SQL in [`super::table`].

use std::collections::BTreeMap;
use std::time::Duration;

use super::model::{Severity, Transition, TransitionKind};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stats {
    /// `firing` transitions per severity.
    pub fired: BTreeMap<Severity, u64>,
    pub acknowledged: u64,
    pub resolved: u64,
    /// Mean time from firing to acknowledgement, over acknowledged alerts.
    pub mtta: Option<Duration>,
    /// Mean time from firing to resolution, over resolved alerts.
    pub mttr: Option<Duration>,
    /// Share of resolved alerts that never left the bot tiers (L1, L2).
    pub bot_handled_share: Option<f64>,
}

impl Stats {
    pub fn from_transitions(transitions: &[Transition]) -> Stats {
        let mut stats = Stats::default();
        let mut ack_total = Duration::ZERO;
        let mut resolve_total = Duration::ZERO;
        let mut by_bots = 0u64;

        for t in transitions {
            match t.state {
                TransitionKind::Firing => *stats.fired.entry(t.severity).or_default() += 1,
                TransitionKind::Acknowledged => {
                    if let Some(at) = t.acknowledged_at {
                        stats.acknowledged += 1;
                        ack_total += (at - t.started_at).to_std().unwrap_or_default();
                    }
                }
                TransitionKind::Resolved => {
                    stats.resolved += 1;
                    resolve_total += (t.time - t.started_at).to_std().unwrap_or_default();
                    by_bots += u64::from(t.tier.is_bot());
                }
                TransitionKind::Pending | TransitionKind::Inactive | TransitionKind::Escalated => {}
            }
        }

        stats.mtta = mean(ack_total, stats.acknowledged);
        stats.mttr = mean(resolve_total, stats.resolved);
        stats.bot_handled_share =
            (stats.resolved > 0).then(|| by_bots as f64 / stats.resolved as f64);
        stats
    }
}

fn mean(total: Duration, count: u64) -> Option<Duration> {
    (count > 0).then(|| total.div_f64(count as f64))
}
