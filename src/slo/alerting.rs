//! From SLO evaluations to alert signals: which burn is which severity, and what an
//! operator reads in the alert.
//!
//! One alert per SLO objective while any of its burn-rate conditions fires, named
//! `SLOErrorBudgetBurn` and labelled `slo`, `service`, `objective` (when named), `type`
//! = `burn` and the SLO's own labels. Severity, following the operating model:
//!
//! | firing | severity |
//! | --- | --- |
//! | a page condition, and the budget is spent or runs out within that condition's long window at its burn rate, or the SLI over 5 minutes is below 10% | SEV1 (service down) |
//! | a page condition otherwise | SEV2 (degraded) |
//! | only the ticket condition, with the policy critical or the budget burning fast (over 5% a day) | SEV3 |
//! | only the ticket condition otherwise | SEV4 |
//!
//! A change of severity is a new alert (the old one resolves): a SEV2 that turns into an
//! outage pages again as SEV1.

use super::budget::{ConditionState, ConsumptionClass, Evaluation, PolicyState};
use super::spec::Slo;
use crate::alert::{Severity as AlertSeverity, Signal};
use crate::store::schema::SLO_BURN_WINDOWS;

/// The alert name of every SLO burn alert.
pub const ALERTNAME: &str = "SLOErrorBudgetBurn";

/// The SLI over the shortest window below which a paging burn counts as an outage.
const OUTAGE_SLI: f64 = 0.1;

/// The signal of one objective's evaluation, or `None` when nothing fires.
pub fn burn_signal(slo: &Slo, objective: usize, evaluation: &Evaluation) -> Option<Signal> {
    let page = evaluation.firing()? == super::budget::Severity::Page;
    let severity = severity(evaluation, page);
    let target = evaluation.objective;
    let name = slo.display_name.as_deref().unwrap_or(&slo.name);
    let objective_name = slo.objectives.get(objective)?.display_name.as_deref();

    let mut signal = Signal::new(ALERTNAME, severity, true)
        .label("slo", &slo.name)
        .label("type", "burn");
    if let Some(service) = &slo.service {
        signal = signal.label("service", service);
    }
    if let Some(objective) = objective_name {
        signal = signal.label("objective", objective);
    }
    for (key, values) in &slo.labels {
        // The fixed labels win over an SLO label of the same name.
        if !signal.labels.contains_key(key) {
            signal = signal.label(key, values.join(","));
        }
    }

    let fired: Vec<String> = evaluation
        .conditions
        .iter()
        .filter(|c| c.state == ConditionState::Firing)
        .map(|c| {
            format!(
                "{} {:.1}× over {} ({:.1}×) and {} ({:.1}×)",
                c.condition.severity.name(),
                c.threshold,
                super::window::format_secs(c.condition.long_secs),
                c.long_burn.unwrap_or(0.0),
                super::window::format_secs(c.condition.short_secs),
                c.short_burn.unwrap_or(0.0),
            )
        })
        .collect();
    let period = evaluation.window("period");
    let sli_1h = evaluation.window("1h").and_then(|w| w.sli);
    let budget = evaluation.budget_remaining;
    let burn_1h = evaluation
        .window("1h")
        .and_then(|w| w.burn_rate)
        .unwrap_or(0.0);
    signal = signal
        .annotation(
            "summary",
            format!("{name} is burning its error budget {burn_1h:.1}× too fast"),
        )
        .annotation(
            "description",
            format!(
                "{name}: {} over the last hour against an objective of {}; {} of the error budget left ({} policy). Burn-rate conditions firing: {}.",
                percent(sli_1h),
                percent(Some(target)),
                percent(budget),
                super::engine::policy_name(evaluation.policy),
                fired.join("; ")
            ),
        )
        .annotation("objective", format!("{target}"))
        .annotation("sli", percent(period.and_then(|w| w.sli)))
        .annotation("burn_rates", fired.join("; "))
        .annotation("budget_remaining", percent(budget))
        .annotation("policy", super::engine::policy_name(evaluation.policy))
        .value("objective", target)
        .generator_url(status_link(&slo.name));
    if let Some(url) = &slo.runbook_url {
        signal = signal.annotation("runbook_url", url);
    }
    if let Some(budget) = budget {
        signal = signal.value("budget_remaining", budget);
    }
    if let Some(sli) = period.and_then(|w| w.sli) {
        signal = signal.value("sli", sli);
    }
    for label in SLO_BURN_WINDOWS.iter().copied().chain(["period"]) {
        if let Some(burn) = evaluation.window(label).and_then(|w| w.burn_rate) {
            signal = signal.value(format!("burn_{label}"), burn);
        }
    }
    Some(signal)
}

/// The severity of a firing evaluation (see the module docs).
fn severity(evaluation: &Evaluation, page: bool) -> AlertSeverity {
    if !page {
        let pressing = evaluation.policy == PolicyState::Critical
            || evaluation.consumption == Some(ConsumptionClass::Fast);
        return if pressing {
            AlertSeverity::Sev3
        } else {
            AlertSeverity::Sev4
        };
    }
    let shortest_sli = evaluation.windows.first().and_then(|w| w.sli);
    if shortest_sli.is_some_and(|sli| sli < OUTAGE_SLI) {
        return AlertSeverity::Sev1;
    }
    let Some(budget) = evaluation.budget_remaining else {
        return AlertSeverity::Sev2;
    };
    let period = evaluation.period.len_secs().max(1) as f64;
    let runs_out_soon = evaluation
        .conditions
        .iter()
        .filter(|c| {
            c.state == ConditionState::Firing
                && c.condition.severity == super::budget::Severity::Page
        })
        .any(|c| {
            // At burn rate b the whole budget lasts period ÷ b; what is left lasts that
            // times the fraction left.
            let burn = c.long_burn.unwrap_or(0.0);
            budget <= 0.0 || (burn > 0.0 && budget * period / burn <= c.condition.long_secs as f64)
        });
    if runs_out_soon {
        AlertSeverity::Sev1
    } else {
        AlertSeverity::Sev2
    }
}

/// A link (joined to Vigil's external URL) to the SLO's last hour of `slo_status`.
fn status_link(slo: &str) -> String {
    let sql = format!(
        "SELECT time, sli, error_ratio, budget_remaining, burn_5m, burn_1h, burn_6h, burn_3d, policy, firing \
         FROM slo_status WHERE slo = '{}' ORDER BY time DESC LIMIT 60",
        slo.replace('\'', "''")
    );
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("sql", &sql)
        .finish();
    format!("/api/v1/query?{query}")
}

fn percent(value: Option<f64>) -> String {
    match value {
        Some(v) => format!("{:.2}%", v * 100.0),
        None => "no data".to_owned(),
    }
}
