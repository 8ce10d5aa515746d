//! Lifecycle tests: the engine driven with explicit times, notifications read back from the
//! outbox (no sink is running).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::alertmanager::AlertmanagerSink;
use super::sinks::{Auth, HttpClient};
use super::webhook::WebhookSink;
use super::*;

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap() + TimeDelta::seconds(seconds)
}

/// An Alertmanager and a webhook sink; nothing is sent, deliveries stay in the outbox.
fn sinks() -> Vec<Sink> {
    let http = HttpClient::new(Duration::from_secs(1));
    vec![
        Sink::alertmanager(AlertmanagerSink::new(
            "am".into(),
            "http://127.0.0.1:9",
            Auth::None,
            http.clone(),
            Duration::from_secs(60),
        )),
        Sink::webhook(WebhookSink::new(
            "hook".into(),
            "http://127.0.0.1:9/hook",
            Auth::None,
            String::new(),
            http,
        )),
    ]
}

fn settings() -> EngineSettings {
    EngineSettings {
        min_firing: Duration::from_secs(5 * 60),
        resend_interval: Duration::from_secs(60),
        pending_for: Duration::ZERO,
        external_url: Some("http://vigil.test:4318".into()),
    }
}

fn open(dir: &Path) -> AlertEngine {
    AlertEngine::open(dir, settings(), &sinks()).unwrap()
}

fn burn(severity: Severity, active: bool) -> Signal {
    Signal::new("SloBurnRate", severity, active)
        .label("slo", "availability")
        .label("service", "checkout-bot")
        .annotation("summary", "availability burns its budget")
        .value("burn_1h", 14.4)
}

fn states(transitions: &[Transition]) -> Vec<&'static str> {
    transitions.iter().map(|t| t.state.as_str()).collect()
}

/// (sink, kind, tier label) of every queued delivery, oldest first.
fn queued(engine: &AlertEngine) -> Vec<(String, NotificationKind, String)> {
    engine
        .outbox()
        .pending()
        .into_iter()
        .map(|d| {
            let tier = d
                .notification
                .labels
                .get("tier")
                .cloned()
                .unwrap_or_default();
            (d.sink, d.notification.kind, tier)
        })
        .collect()
}

fn drain(engine: &AlertEngine) {
    let outbox = engine.outbox();
    for d in outbox.pending() {
        outbox.complete(d.id).unwrap();
    }
}

#[test]
fn signal_fires_only_after_its_pending_period() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = open(dir.path());
    let signal = || burn(Severity::Sev2, true).pending_for(Duration::from_secs(5 * 60));

    assert_eq!(
        states(&engine.evaluate("slo", vec![signal()], t(0)).unwrap()),
        ["pending"]
    );
    assert!(queued(&engine).is_empty(), "pending alerts are not sent");
    assert!(
        engine
            .evaluate("slo", vec![signal()], t(4 * MINUTE))
            .unwrap()
            .is_empty()
    );

    let fired = engine
        .evaluate("slo", vec![signal()], t(5 * MINUTE))
        .unwrap();
    assert_eq!(states(&fired), ["firing"]);
    assert_eq!(fired[0].started_at, t(5 * MINUTE));
    assert_eq!(fired[0].labels["severity"], "sev2");
    assert_eq!(fired[0].labels["handler"], "human");
    assert_eq!(fired[0].labels["tier"], "L3");
    assert_eq!(
        queued(&engine),
        [
            ("am".into(), NotificationKind::Firing, "L3".into()),
            ("hook".into(), NotificationKind::Firing, "L3".into())
        ]
    );
    let n = &engine.outbox().pending()[0].notification;
    assert_eq!(n.starts_at, t(5 * MINUTE));
    assert_eq!(
        n.generator_url.as_deref(),
        Some(format!("http://vigil.test:4318/alerts/{}", fired[0].fingerprint).as_str())
    );
}

#[test]
fn pending_alert_that_clears_never_fires() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = open(dir.path());
    let slow = |active| burn(Severity::Sev3, active).pending_for(Duration::from_secs(600));
    engine.evaluate("slo", vec![slow(true)], t(0)).unwrap();
    let cleared = engine
        .evaluate("slo", vec![slow(false)], t(MINUTE))
        .unwrap();
    assert_eq!(states(&cleared), ["inactive"]);
    assert_eq!(engine.alerts().count(), 0);
    assert!(queued(&engine).is_empty());
}

#[test]
fn default_pending_period_comes_from_the_settings() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = AlertEngine::open(
        dir.path(),
        EngineSettings {
            pending_for: Duration::from_secs(120),
            ..settings()
        },
        &[],
    )
    .unwrap();
    let signal = || burn(Severity::Sev2, true);
    assert_eq!(
        states(&engine.evaluate("slo", vec![signal()], t(0)).unwrap()),
        ["pending"]
    );
    assert!(
        engine
            .evaluate("slo", vec![signal()], t(MINUTE))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        states(
            &engine
                .evaluate("slo", vec![signal()], t(2 * MINUTE))
                .unwrap()
        ),
        ["firing"]
    );
}

#[test]
fn flapping_condition_stays_one_firing_alert_for_the_minimum_firing_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = open(dir.path());
    let mut all = Vec::new();
    // Fires at 0, then flips every 30 s; min_firing is 5 minutes.
    for step in 0..10 {
        let active = step % 2 == 0;
        all.extend(
            engine
                .evaluate("slo", vec![burn(Severity::Sev3, active)], t(step * 30))
                .unwrap(),
        );
    }
    assert_eq!(
        states(&all),
        ["firing"],
        "no resolve while inside min_firing"
    );

    let resolved = engine
        .evaluate("slo", vec![burn(Severity::Sev3, false)], t(5 * MINUTE))
        .unwrap();
    assert_eq!(states(&resolved), ["resolved"]);
    assert_eq!(resolved[0].started_at, t(0));
    assert_eq!(resolved[0].time, t(5 * MINUTE));

    let kinds: Vec<NotificationKind> = engine
        .outbox()
        .pending_for("hook")
        .into_iter()
        .map(|d| d.notification.kind)
        .collect();
    assert_eq!(
        kinds,
        [NotificationKind::Firing, NotificationKind::Resolved]
    );
    let resolve = engine
        .outbox()
        .pending_for("am")
        .pop()
        .unwrap()
        .notification;
    assert_eq!(resolve.kind, NotificationKind::Resolved);
    assert_eq!(resolve.ends_at, Some(t(5 * MINUTE)));
}

#[test]
fn alert_resolves_at_first_false_evaluation_after_minimum_firing_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = open(dir.path());
    engine
        .evaluate("slo", vec![burn(Severity::Sev3, true)], t(0))
        .unwrap();
    engine
        .evaluate("slo", vec![burn(Severity::Sev3, true)], t(10 * MINUTE))
        .unwrap();
    let resolved = engine
        .evaluate("slo", vec![burn(Severity::Sev3, false)], t(11 * MINUTE))
        .unwrap();
    assert_eq!(states(&resolved), ["resolved"]);
}

#[test]
fn missing_signal_counts_as_inactive_for_its_own_source_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = open(dir.path());
    let anomaly =
        Signal::new("LatencyAnomaly", Severity::Sev4, true).label("service", "checkout-bot");
    engine
        .evaluate("slo", vec![burn(Severity::Sev3, true)], t(0))
        .unwrap();
    engine.evaluate("anomaly", vec![anomaly], t(0)).unwrap();

    let after = engine.evaluate("slo", Vec::new(), t(6 * MINUTE)).unwrap();
    assert_eq!(states(&after), ["resolved"]);
    assert_eq!(after[0].alertname, "SloBurnRate");
    let open: Vec<&str> = engine.alerts().map(|a| a.alertname.as_str()).collect();
    assert_eq!(open, ["LatencyAnomaly"]);
}

#[test]
fn firing_alerts_are_resent_to_alertmanager_only_every_resend_interval() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = open(dir.path());
    for step in 0..=4 {
        engine
            .evaluate("slo", vec![burn(Severity::Sev2, true)], t(step * 30))
            .unwrap();
    }
    let am: Vec<NotificationKind> = engine
        .outbox()
        .pending_for("am")
        .into_iter()
        .map(|d| d.notification.kind)
        .collect();
    assert_eq!(
        am,
        [
            NotificationKind::Firing,
            NotificationKind::Resend,
            NotificationKind::Resend
        ],
        "sent at 0 s, re-sent at 60 s and 120 s"
    );
    assert_eq!(
        engine.outbox().pending_for("hook").len(),
        1,
        "webhooks get changes only"
    );

    // tick does the same for sources that evaluate rarely.
    engine.tick(t(180)).unwrap();
    assert_eq!(engine.outbox().pending_for("am").len(), 4);
}

#[test]
fn bot_alert_escalates_one_tier_per_response_time_until_l3() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = open(dir.path());
    let signal = || burn(Severity::Sev3, true);
    let fired = engine.evaluate("slo", vec![signal()], t(0)).unwrap();
    assert_eq!(
        (fired[0].handler, fired[0].tier),
        (Handler::OpsBot, Tier::L1)
    );
    drain(&engine);

    assert!(engine.tick(t(4 * HOUR - 1)).unwrap().is_empty());
    drain(&engine);
    let first = engine.evaluate("slo", vec![signal()], t(4 * HOUR)).unwrap();
    assert_eq!(states(&first), ["escalated"]);
    assert_eq!(first[0].tier, Tier::L2);
    assert_eq!(
        first[0].fingerprint, fired[0].fingerprint,
        "escalation keeps the identity"
    );
    assert!(first[0].annotations["escalation"].contains("from L1 to L2"));
    assert!(first[0].annotations["escalation"].contains("4h"));

    let to_am = engine.outbox().pending_for("am")[0].notification.clone();
    assert_eq!(to_am.kind, NotificationKind::Escalated);
    assert_eq!(to_am.labels["tier"], "L2");
    assert_eq!(to_am.replaces.as_ref().unwrap()["tier"], "L1");
    assert_eq!(to_am.starts_at, t(0), "still the same incident");
    assert_eq!(
        queued(&engine)
            .iter()
            .map(|q| q.0.as_str())
            .collect::<Vec<_>>(),
        ["am", "hook"],
        "escalation goes to every sink"
    );

    assert!(
        engine
            .tick(t(8 * HOUR - 1))
            .unwrap()
            .iter()
            .all(|t| t.state != TransitionKind::Escalated)
    );
    let second = engine.tick(t(8 * HOUR)).unwrap();
    assert_eq!(
        (states(&second), second[0].tier),
        (vec!["escalated"], Tier::L3)
    );
    let later = engine.tick(t(20 * HOUR)).unwrap();
    assert!(later.is_empty(), "L3 is the last tier");
}

#[test]
fn human_alert_starts_at_l3_and_does_not_escalate() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = open(dir.path());
    let fired = engine
        .evaluate("slo", vec![burn(Severity::Sev1, true)], t(0))
        .unwrap();
    assert_eq!(
        (fired[0].handler, fired[0].tier),
        (Handler::Human, Tier::L3)
    );
    assert!(engine.tick(t(2 * HOUR)).unwrap().is_empty());
}

#[test]
fn acknowledgement_stops_escalation_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = open(dir.path());
    let fired = engine
        .evaluate("slo", vec![burn(Severity::Sev4, true)], t(0))
        .unwrap();
    let fingerprint = fired[0].fingerprint.clone();

    let ack = engine.ack(&fingerprint[..6], "ops-bot-7", t(HOUR)).unwrap();
    assert_eq!(ack.state, TransitionKind::Acknowledged);
    assert_eq!(ack.acknowledged_at, Some(t(HOUR)));
    assert_eq!(ack.acknowledged_by.as_deref(), Some("ops-bot-7"));
    assert_eq!(ack.started_at, t(0));

    let much_later = engine.tick(t(30 * HOUR)).unwrap();
    assert!(
        much_later.is_empty(),
        "no escalation after an acknowledgement"
    );
    assert_eq!(engine.alerts().next().unwrap().tier, Tier::L1);

    let again = engine
        .ack(&fingerprint, "someone-else", t(2 * HOUR))
        .unwrap_err();
    assert!(matches!(again, AlertError::AlreadyAcknowledged { ref by, .. } if by == "ops-bot-7"));

    let resolved = engine
        .evaluate("slo", vec![burn(Severity::Sev4, false)], t(31 * HOUR))
        .unwrap();
    assert_eq!(resolved[0].acknowledged_by.as_deref(), Some("ops-bot-7"));
}

#[test]
fn acknowledging_unknown_pending_or_ambiguous_ids_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = open(dir.path());
    let err = engine.ack("0123456789abcdef", "alice", t(0)).unwrap_err();
    assert!(matches!(err, AlertError::UnknownAlert { .. }), "{err}");
    assert!(err.to_string().contains("0123456789abcdef"));

    let pending = burn(Severity::Sev2, true).pending_for(Duration::from_secs(600));
    let rows = engine.evaluate("slo", vec![pending], t(0)).unwrap();
    let err = engine.ack(&rows[0].fingerprint, "alice", t(1)).unwrap_err();
    assert!(matches!(err, AlertError::NotFiring { .. }), "{err}");

    assert!(matches!(
        engine.ack(&rows[0].fingerprint, "  ", t(1)).unwrap_err(),
        AlertError::MissingAcknowledger
    ));
    assert!(matches!(
        engine.ack("abc", "alice", t(1)).unwrap_err(),
        AlertError::UnknownAlert { .. }
    ));
}

#[test]
fn fingerprint_is_a_fixed_hash_of_identity_labels_without_tier_or_handler() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = open(dir.path());
    let fired = engine
        .evaluate("slo", vec![burn(Severity::Sev3, true)], t(0))
        .unwrap();
    // FNV-1a 64 of alertname, service, severity, slo (computed outside this code base).
    assert_eq!(fired[0].fingerprint, "dd6a27dc0176c97f");

    let escalated = engine.tick(t(4 * HOUR)).unwrap();
    assert_eq!(escalated[0].fingerprint, "dd6a27dc0176c97f");
    drop(engine);

    let mut reopened = open(dir.path());
    assert_eq!(
        reopened.alerts().next().unwrap().fingerprint,
        "dd6a27dc0176c97f"
    );
    let resolved = reopened
        .evaluate("slo", vec![burn(Severity::Sev3, false)], t(5 * HOUR))
        .unwrap();
    assert_eq!(resolved[0].fingerprint, "dd6a27dc0176c97f");

    let other_severity = reopened
        .evaluate("slo", vec![burn(Severity::Sev2, true)], t(6 * HOUR))
        .unwrap();
    assert_ne!(
        other_severity[0].fingerprint, "dd6a27dc0176c97f",
        "severity is identity"
    );
}

#[test]
fn restart_keeps_firing_alerts_without_notifying_them_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = open(dir.path());
    engine
        .evaluate("slo", vec![burn(Severity::Sev3, true)], t(0))
        .unwrap();
    engine.ack("dd6a27dc0176c97f", "ops-bot", t(10)).unwrap();
    drain(&engine);
    drop(engine);

    let mut engine = open(dir.path());
    let alert = engine.alerts().next().unwrap().clone();
    assert_eq!(alert.state, AlertState::Firing);
    assert_eq!(alert.fired_at, Some(t(0)));
    assert_eq!(
        alert.acknowledged.as_ref().map(|a| a.by.as_str()),
        Some("ops-bot")
    );

    let rows = engine
        .evaluate("slo", vec![burn(Severity::Sev3, true)], t(30))
        .unwrap();
    assert!(rows.is_empty(), "no second firing after a restart");
    assert!(
        queued(&engine).is_empty(),
        "and nothing sent before the re-send is due"
    );
    engine
        .evaluate("slo", vec![burn(Severity::Sev3, true)], t(60))
        .unwrap();
    assert_eq!(
        queued(&engine),
        [("am".into(), NotificationKind::Resend, "L1".into())]
    );
}

#[test]
fn restart_keeps_pending_alerts_counting_from_when_they_started() {
    let dir = tempfile::tempdir().unwrap();
    let signal = || burn(Severity::Sev2, true).pending_for(Duration::from_secs(10 * 60));
    let mut engine = open(dir.path());
    engine.evaluate("slo", vec![signal()], t(0)).unwrap();
    drop(engine);

    let mut engine = open(dir.path());
    assert!(
        engine
            .evaluate("slo", vec![signal()], t(9 * MINUTE))
            .unwrap()
            .is_empty()
    );
    assert!(
        queued(&engine).is_empty(),
        "a restart does not fire a pending alert early"
    );
    let fired = engine
        .evaluate("slo", vec![signal()], t(10 * MINUTE))
        .unwrap();
    assert_eq!(states(&fired), ["firing"]);
}

#[test]
fn failed_save_leaves_the_engine_unchanged_so_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = open(dir.path());
    // A directory where the temporary state file must go makes the save fail.
    let blocker = dir.path().join("alerts-state.json.tmp");
    std::fs::create_dir(&blocker).unwrap();
    let err = engine
        .evaluate("slo", vec![burn(Severity::Sev3, true)], t(0))
        .unwrap_err();
    assert!(matches!(err, AlertError::SaveState { .. }), "{err}");
    assert_eq!(engine.alerts().count(), 0);

    std::fs::remove_dir(&blocker).unwrap();
    let rows = engine
        .evaluate("slo", vec![burn(Severity::Sev3, true)], t(30))
        .unwrap();
    assert_eq!(states(&rows), ["firing"], "the firing is produced again");
    let firing = queued(&engine)
        .iter()
        .filter(|q| q.0 == "hook" && q.1 == NotificationKind::Firing)
        .count();
    assert_eq!(
        firing, 2,
        "at least once: the first attempt's delivery is kept too"
    );
}

#[test]
fn invalid_signals_fail_the_evaluation_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = open(dir.path());
    let cases = [
        (
            burn(Severity::Sev3, true).label("tier", "L2"),
            "set by the engine",
        ),
        (
            burn(Severity::Sev3, true).label("service.name", "x"),
            "not a Prometheus label name",
        ),
        (
            burn(Severity::Sev3, true).annotation("runbook-url", "x"),
            "annotation name",
        ),
        (Signal::new(" ", Severity::Sev3, true), "alertname is empty"),
    ];
    for (signal, expected) in cases {
        let err = engine
            .evaluate("slo", vec![burn(Severity::Sev4, true), signal], t(0))
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
    let twice = engine
        .evaluate(
            "slo",
            vec![burn(Severity::Sev3, true), burn(Severity::Sev3, false)],
            t(0),
        )
        .unwrap_err();
    assert!(
        matches!(twice, AlertError::DuplicateSignal { .. }),
        "{twice}"
    );
    assert_eq!(engine.alerts().count(), 0);
}

#[test]
fn empty_label_values_and_non_finite_values_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = open(dir.path());
    let signal = burn(Severity::Sev3, true)
        .label("region", "")
        .value("burn_5m", f64::NAN);
    let rows = engine.evaluate("slo", vec![signal], t(0)).unwrap();
    assert_eq!(
        rows[0].fingerprint, "dd6a27dc0176c97f",
        "empty label = absent label"
    );
    assert!(!rows[0].values.contains_key("burn_5m"));
    assert_eq!(rows[0].values["burn_1h"], 14.4);
}

/// MTTA, MTTR, counts per severity and bot share, from the `alerts` rows only, the way the
/// SQL in `table.rs` computes them.
#[test]
fn alerts_table_columns_give_the_same_stats_as_the_transitions() {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::TimestampNanosecondType;

    let dir = tempfile::tempdir().unwrap();
    let mut engine = open(dir.path());
    let mut rows = Vec::new();
    // A: sev3, acked after 10 min, resolved after 30 min at L1 (bot).
    // B: sev4, escalated to L2 at 24 h, resolved at 25 h (bot).
    // C: sev1, acked after 5 min, resolved after 60 min (human, L3).
    let a = || burn(Severity::Sev3, true);
    let b = || Signal::new("QueueBacklog", Severity::Sev4, true).label("service", "ci-runner");
    let c = || Signal::new("ServiceDown", Severity::Sev1, true).label("service", "api-gateway");
    rows.extend(engine.evaluate("slo", vec![a(), b(), c()], t(0)).unwrap());
    let fp = |name: &str| {
        rows.iter()
            .find(|r| r.alertname == name)
            .unwrap()
            .fingerprint
            .clone()
    };
    let (fa, fc) = (fp("SloBurnRate"), fp("ServiceDown"));
    rows.push(engine.ack(&fc, "alice", t(5 * MINUTE)).unwrap());
    rows.push(engine.ack(&fa, "ops-bot", t(10 * MINUTE)).unwrap());
    rows.extend(
        engine
            .evaluate("slo", vec![b(), c()], t(30 * MINUTE))
            .unwrap(),
    );
    rows.extend(engine.evaluate("slo", vec![b()], t(60 * MINUTE)).unwrap());
    rows.extend(engine.tick(t(24 * HOUR)).unwrap());
    rows.extend(engine.evaluate("slo", vec![], t(25 * HOUR)).unwrap());

    let stats = Stats::from_transitions(&rows);
    assert_eq!(
        stats.fired,
        BTreeMap::from([
            (Severity::Sev1, 1),
            (Severity::Sev3, 1),
            (Severity::Sev4, 1)
        ])
    );
    assert_eq!(stats.acknowledged, 2);
    assert_eq!(stats.mtta, Some(Duration::from_secs((5 + 10) * 60 / 2)));
    assert_eq!(stats.resolved, 3);
    assert_eq!(
        stats.mttr,
        Some(Duration::from_secs((30 * 60 + 60 * 60 + 25 * 3600) / 3))
    );
    assert_eq!(stats.bot_handled_share, Some(2.0 / 3.0));

    let batch = transitions_to_batch(&rows).unwrap();
    assert_eq!(batch.schema(), crate::store::Table::Alerts.schema());
    let text = |name: &str| {
        batch
            .column_by_name(name)
            .unwrap()
            .as_string::<i32>()
            .clone()
    };
    let ts = |name: &str| {
        batch
            .column_by_name(name)
            .unwrap()
            .as_primitive::<TimestampNanosecondType>()
            .clone()
    };
    let (state, severity, tier) = (text("state"), text("severity"), text("tier"));
    let (time, started, acked) = (ts("time"), ts("started_at"), ts("acknowledged_at"));

    let (mut ack_sum, mut ack_n, mut res_sum, mut res_n, mut bots) = (0i64, 0i64, 0i64, 0i64, 0i64);
    let mut fired: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..batch.num_rows() {
        match state.value(i) {
            "acknowledged" => {
                assert!(acked.is_valid(i));
                ack_sum += acked.value(i) - started.value(i);
                ack_n += 1;
            }
            "resolved" => {
                res_sum += time.value(i) - started.value(i);
                res_n += 1;
                bots += i64::from(matches!(tier.value(i), "L1" | "L2"));
            }
            "firing" => *fired.entry(severity.value(i).to_string()).or_default() += 1,
            _ => {}
        }
    }
    assert_eq!(
        Duration::from_nanos((ack_sum / ack_n) as u64),
        stats.mtta.unwrap()
    );
    assert_eq!(
        Duration::from_nanos((res_sum / res_n) as u64),
        stats.mttr.unwrap()
    );
    assert_eq!(
        fired,
        BTreeMap::from([("sev1".into(), 1), ("sev3".into(), 1), ("sev4".into(), 1)])
    );
    assert_eq!(bots as f64 / res_n as f64, stats.bot_handled_share.unwrap());

    let slo = text("slo");
    let first_a = rows
        .iter()
        .position(|r| r.alertname == "SloBurnRate")
        .unwrap();
    assert_eq!(slo.value(first_a), "availability");
    let first_b = rows
        .iter()
        .position(|r| r.alertname == "QueueBacklog")
        .unwrap();
    assert!(slo.is_null(first_b), "no slo label, null slo");
    let labels: BTreeMap<String, String> =
        serde_json::from_str(text("labels").value(first_a)).unwrap();
    assert_eq!(labels["tier"], "L1");
}
