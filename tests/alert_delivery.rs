//! Delivery against real peers: the real Prometheus Alertmanager (started per test on a
//! loopback port), and loopback receivers checking the Grafana annotation and webhook
//! bodies against their documented schemas.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use vigil::alert::{self, AlertsConfig, Severity, Signal, TransitionKind, fingerprint};

use common::peers::{Alertmanager, Receiver, free_port, secret_file, wait_for};

const WAIT: Duration = Duration::from_secs(15);

fn config(text: &str) -> AlertsConfig {
    #[derive(Deserialize)]
    struct File {
        alerts: AlertsConfig,
    }
    toml::from_str::<File>(text)
        .expect("test config parses")
        .alerts
}

/// Settings every test shares: no flapping hold, fast retries.
fn base_config(sinks: &str) -> AlertsConfig {
    config(&format!(
        r#"
        [alerts]
        min_firing = "0s"
        resend_interval = "1m"
        external_url = "http://vigil.test:4318"
        retry_initial = "100ms"
        retry_max = "400ms"
        timeout = "2s"
        {sinks}
        "#
    ))
}

fn burn(active: bool) -> Signal {
    Signal::new("VigilTestBurn", Severity::Sev3, active)
        .label("slo", "availability")
        .label("service", "checkout-bot")
        .annotation("summary", "availability burns its budget 14.4x too fast")
        .annotation("runbook_url", "http://runbooks.test/slo-burn")
        .value("burn_1h", 14.4)
}

fn parse_time(value: &Value) -> DateTime<Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a string"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

fn millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).expect("in range")
}

fn labels_of(alert: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(alert["labels"].clone()).expect("labels are a string map")
}

fn outbox_len(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("outbox.jsonl"))
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Prometheus Alertmanager
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_past_its_pending_period_reaches_alertmanager_and_resolving_ends_it() {
    let am = Alertmanager::start(free_port());
    let dir = tempfile::tempdir().unwrap();
    let config = base_config(&format!("[[alerts.alertmanager]]\nurl = {:?}\n", am.url));
    let (mut engine, dispatcher) = alert::start(&config, dir.path()).unwrap();
    let signal = |active| burn(active).pending_for(Duration::from_millis(300));

    let pending = engine
        .evaluate("slo", vec![signal(true)], Utc::now())
        .unwrap();
    assert_eq!(pending[0].state, TransitionKind::Pending);
    assert!(engine.outbox().is_empty(), "nothing is sent while pending");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let fired_at = Utc::now();
    let firing = engine
        .evaluate("slo", vec![signal(true)], fired_at)
        .unwrap();
    assert_eq!(firing[0].state, TransitionKind::Firing);

    let listed = wait_for(WAIT, "the alert in Alertmanager", || {
        am.alerts_named("VigilTestBurn").into_iter().next()
    })
    .await;
    let labels = labels_of(&listed);
    let expected: BTreeMap<String, String> = [
        ("alertname", "VigilTestBurn"),
        ("slo", "availability"),
        ("service", "checkout-bot"),
        ("severity", "sev3"),
        ("handler", "ops-bot"),
        ("tier", "L1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(labels, expected);
    assert_eq!(
        listed["annotations"],
        json!({
            "summary": "availability burns its budget 14.4x too fast",
            "runbook_url": "http://runbooks.test/slo-burn"
        })
    );
    assert_eq!(listed["status"]["state"], "active");
    assert_eq!(
        listed["generatorURL"],
        format!("http://vigil.test:4318/alerts/{}", firing[0].fingerprint)
    );
    assert_eq!(parse_time(&listed["startsAt"]), millis(fired_at));
    let ends_at = parse_time(&listed["endsAt"]);
    let ahead = ends_at - fired_at;
    assert!(
        ahead >= TimeDelta::seconds(239) && ahead <= TimeDelta::seconds(250),
        "endsAt is 4 resend intervals ahead, got {ahead}"
    );
    // Alertmanager's own fingerprint of the sent label set uses the same hash as Vigil's.
    assert_eq!(listed["fingerprint"], fingerprint(&labels));

    let resolved = engine
        .evaluate("slo", vec![signal(false)], Utc::now())
        .unwrap();
    assert_eq!(resolved[0].state, TransitionKind::Resolved);
    wait_for(WAIT, "Alertmanager to drop the resolved alert", || {
        am.alerts_named("VigilTestBurn").is_empty().then_some(())
    })
    .await;
    wait_for(WAIT, "an empty outbox", || {
        engine.outbox().is_empty().then_some(())
    })
    .await;
    dispatcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_replaces_the_lower_tier_alert_in_alertmanager() {
    let am = Alertmanager::start(free_port());
    let dir = tempfile::tempdir().unwrap();
    let config = base_config(&format!("[[alerts.alertmanager]]\nurl = {:?}\n", am.url));
    let (mut engine, dispatcher) = alert::start(&config, dir.path()).unwrap();

    // Fired 4 h ago: a SEV3's response time has passed without an acknowledgement.
    let now = Utc::now();
    engine
        .evaluate("slo", vec![burn(true)], now - TimeDelta::hours(4))
        .unwrap();
    wait_for(WAIT, "the L1 alert", || {
        am.alerts_named("VigilTestBurn")
            .into_iter()
            .find(|a| a["labels"]["tier"] == "L1")
    })
    .await;

    let escalated = engine.tick(now).unwrap();
    assert_eq!(escalated[0].state, TransitionKind::Escalated);
    let listed = wait_for(WAIT, "only the L2 alert left", || {
        let alerts = am.alerts_named("VigilTestBurn");
        (alerts.len() == 1 && alerts[0]["labels"]["tier"] == "L2").then(|| alerts[0].clone())
    })
    .await;
    let note = listed["annotations"]["escalation"].as_str().unwrap();
    assert!(
        note.contains("from L1 to L2") && note.contains("4h"),
        "{note}"
    );
    dispatcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_fired_while_alertmanager_is_down_arrives_once_it_is_up() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = base_config(&format!(
        "[[alerts.alertmanager]]\nurl = \"http://127.0.0.1:{port}\"\n"
    ));
    let (mut engine, dispatcher) = alert::start(&config, dir.path()).unwrap();

    engine
        .evaluate("slo", vec![burn(true)], Utc::now())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(engine.outbox().len(), 1, "kept while Alertmanager is down");

    let am = Alertmanager::start(port);
    wait_for(WAIT, "the alert after Alertmanager came up", || {
        am.alerts_named("VigilTestBurn").into_iter().next()
    })
    .await;
    wait_for(WAIT, "an empty outbox", || {
        engine.outbox().is_empty().then_some(())
    })
    .await;
    dispatcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_undelivered_outbox_delivers_it_without_firing_again() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = base_config(&format!(
        "[[alerts.alertmanager]]\nurl = \"http://127.0.0.1:{port}\"\n"
    ));
    {
        let (mut engine, dispatcher) = alert::start(&config, dir.path()).unwrap();
        engine
            .evaluate("slo", vec![burn(true)], Utc::now())
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        dispatcher.stop().await;
    }
    assert_eq!(
        outbox_len(dir.path()),
        1,
        "the firing notification waits on disk"
    );

    let am = Alertmanager::start(port);
    let (mut engine, dispatcher) = alert::start(&config, dir.path()).unwrap();
    assert_eq!(engine.alerts().count(), 1, "the firing alert was restored");
    wait_for(WAIT, "the alert from the restored outbox", || {
        am.alerts_named("VigilTestBurn").into_iter().next()
    })
    .await;
    let again = engine
        .evaluate("slo", vec![burn(true)], Utc::now())
        .unwrap();
    assert!(again.is_empty(), "still the same firing alert: {again:?}");
    wait_for(WAIT, "an empty outbox", || {
        engine.outbox().is_empty().then_some(())
    })
    .await;
    assert_eq!(outbox_len(dir.path()), 0);
    dispatcher.stop().await;
}

// ---------------------------------------------------------------------------------------
// Grafana annotations
// ---------------------------------------------------------------------------------------

const GRAFANA_TOKEN: &str = "glsa_vigil_test_token_0123456789";

fn grafana_answers(patch_status: u16) -> Receiver {
    Receiver::start(move |request, _| match request.method.as_str() {
        "POST" => (200, r#"{"message":"Annotation added","id":42}"#.into()),
        "PATCH" if patch_status == 200 => (200, r#"{"message":"Annotation patched"}"#.into()),
        "PATCH" => (
            patch_status,
            r#"{"message":"Could not find annotation to update"}"#.into(),
        ),
        _ => (405, "{}".into()),
    })
}

fn grafana_config(grafana: &Receiver, dir: &Path) -> AlertsConfig {
    let token = secret_file(dir, "grafana-token", GRAFANA_TOKEN);
    base_config(&format!(
        "[alerts.grafana]\nurl = {:?}\ntoken_file = {:?}\n",
        grafana.url(),
        token.display().to_string()
    ))
}

fn assert_json_request(request: &common::peers::Request, method: &str, path: &str) {
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        (method, path)
    );
    assert_eq!(
        request.headers.get("authorization").map(String::as_str),
        Some(format!("Bearer {GRAFANA_TOKEN}").as_str())
    );
    assert_eq!(
        request.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_region_annotation_is_created_on_firing_and_closed_on_resolve() {
    let grafana = grafana_answers(200);
    let dir = tempfile::tempdir().unwrap();
    let (mut engine, dispatcher) =
        alert::start(&grafana_config(&grafana, dir.path()), dir.path()).unwrap();

    let now = Utc::now();
    let fired_at = now - TimeDelta::hours(4);
    engine.evaluate("slo", vec![burn(true)], fired_at).unwrap();
    engine.tick(now).unwrap();
    let resolved_at = now + TimeDelta::seconds(1);
    engine
        .evaluate("slo", vec![burn(false)], resolved_at)
        .unwrap();
    let requests = wait_for(WAIT, "three Grafana requests", || {
        let r = grafana.requests();
        (r.len() >= 3).then_some(r)
    })
    .await;
    assert_eq!(requests.len(), 3);

    let create = &requests[0];
    assert_json_request(create, "POST", "/api/annotations");
    let body = create.json();
    assert!(
        body["time"].is_i64(),
        "time is epoch ms as an integer: {body}"
    );
    assert_eq!(body["time"].as_i64(), Some(fired_at.timestamp_millis()));
    assert_eq!(body["timeEnd"], body["time"], "a region that starts open");
    assert_eq!(
        body["tags"],
        json!([
            "vigil",
            "alertname:VigilTestBurn",
            "slo:availability",
            "severity:sev3"
        ])
    );
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("Firing: VigilTestBurn (sev3, tier L1)"),
        "{text}"
    );
    assert!(text.contains("14.4x"), "{text}");
    assert!(
        body.get("dashboardUID").is_none(),
        "organization annotation"
    );

    let escalate = &requests[1];
    assert_json_request(escalate, "PATCH", "/api/annotations/42");
    let body = escalate.json();
    assert!(body.get("timeEnd").is_none(), "still open: {body}");
    assert!(
        body["text"].as_str().unwrap().contains("escalated"),
        "{body}"
    );

    let close = &requests[2];
    assert_json_request(close, "PATCH", "/api/annotations/42");
    let body = close.json();
    assert!(body["timeEnd"].is_i64());
    assert_eq!(
        body["timeEnd"].as_i64(),
        Some(resolved_at.timestamp_millis())
    );
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("Resolved: VigilTestBurn")
    );
    assert!(
        body["tags"]
            .as_array()
            .unwrap()
            .iter()
            .all(Value::is_string)
    );

    wait_for(WAIT, "an empty outbox", || {
        engine.outbox().is_empty().then_some(())
    })
    .await;
    dispatcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_annotation_is_closed_by_id_after_a_restart() {
    let grafana = grafana_answers(200);
    let dir = tempfile::tempdir().unwrap();
    let config = grafana_config(&grafana, dir.path());
    {
        let (mut engine, dispatcher) = alert::start(&config, dir.path()).unwrap();
        engine
            .evaluate("slo", vec![burn(true)], Utc::now())
            .unwrap();
        wait_for(WAIT, "the create", || {
            (!grafana.requests().is_empty()).then_some(())
        })
        .await;
        wait_for(WAIT, "an empty outbox", || {
            engine.outbox().is_empty().then_some(())
        })
        .await;
        dispatcher.stop().await;
    }

    let (mut engine, dispatcher) = alert::start(&config, dir.path()).unwrap();
    engine
        .evaluate("slo", vec![burn(false)], Utc::now())
        .unwrap();
    let requests = wait_for(WAIT, "the close", || {
        let r = grafana.requests();
        (r.len() >= 2).then_some(r)
    })
    .await;
    assert_json_request(&requests[1], "PATCH", "/api/annotations/42");
    dispatcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_annotation_deleted_meanwhile_is_recreated_with_both_ends() {
    let grafana = grafana_answers(404);
    let dir = tempfile::tempdir().unwrap();
    let (mut engine, dispatcher) =
        alert::start(&grafana_config(&grafana, dir.path()), dir.path()).unwrap();

    let fired_at = Utc::now() - TimeDelta::minutes(10);
    engine.evaluate("slo", vec![burn(true)], fired_at).unwrap();
    let resolved_at = Utc::now();
    engine
        .evaluate("slo", vec![burn(false)], resolved_at)
        .unwrap();
    let requests = wait_for(WAIT, "create, failed patch, re-create", || {
        let r = grafana.requests();
        (r.len() >= 3).then_some(r)
    })
    .await;
    assert_json_request(&requests[1], "PATCH", "/api/annotations/42");
    assert_json_request(&requests[2], "POST", "/api/annotations");
    let body = requests[2].json();
    assert_eq!(body["time"].as_i64(), Some(fired_at.timestamp_millis()));
    assert_eq!(
        body["timeEnd"].as_i64(),
        Some(resolved_at.timestamp_millis())
    );
    dispatcher.stop().await;
}

// ---------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_bodies_follow_the_alertmanager_webhook_schema() {
    let hook = Receiver::start(|_, _| (200, "{}".into()));
    let dir = tempfile::tempdir().unwrap();
    let token = secret_file(dir.path(), "hook-token", "hook-secret");
    let config = base_config(&format!(
        "[[alerts.webhook]]\nname = \"ops-bot\"\nurl = \"{}/hooks/vigil\"\ntoken_file = {:?}\n",
        hook.url(),
        token.display().to_string()
    ));
    let (mut engine, dispatcher) = alert::start(&config, dir.path()).unwrap();

    let fired_at = Utc::now();
    let rows = engine.evaluate("slo", vec![burn(true)], fired_at).unwrap();
    let resolved_at = fired_at + TimeDelta::seconds(2);
    engine
        .evaluate("slo", vec![burn(false)], resolved_at)
        .unwrap();
    let requests = wait_for(WAIT, "two webhook calls", || {
        let r = hook.requests();
        (r.len() >= 2).then_some(r)
    })
    .await;

    for request in &requests {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/hooks/vigil")
        );
        assert_eq!(request.headers["authorization"], "Bearer hook-secret");
        assert_eq!(request.headers["content-type"], "application/json");
    }
    let firing = requests[0].json();
    assert_eq!(firing["version"], "4");
    assert_eq!(firing["status"], "firing");
    assert_eq!(firing["receiver"], "ops-bot");
    assert_eq!(firing["externalURL"], "http://vigil.test:4318");
    assert_eq!(firing["truncatedAlerts"].as_u64(), Some(0));
    let group_key = firing["groupKey"].as_str().expect("groupKey is a string");
    assert_eq!(
        group_key,
        r#"{}:{alertname="VigilTestBurn", service="checkout-bot", severity="sev3", slo="availability"}"#
    );
    assert_eq!(
        firing["groupLabels"],
        json!({"alertname": "VigilTestBurn", "service": "checkout-bot", "severity": "sev3", "slo": "availability"})
    );
    assert_eq!(firing["commonLabels"]["tier"], "L1");
    assert_eq!(firing["commonLabels"]["handler"], "ops-bot");
    assert_eq!(
        firing["commonAnnotations"]["runbook_url"],
        "http://runbooks.test/slo-burn"
    );

    let alerts = firing["alerts"].as_array().expect("alerts is an array");
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    let keys: Vec<&str> = alert
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "annotations",
            "endsAt",
            "fingerprint",
            "generatorURL",
            "labels",
            "startsAt",
            "status"
        ]
    );
    assert_eq!(alert["status"], "firing");
    assert_eq!(parse_time(&alert["startsAt"]), millis(fired_at));
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(alert["fingerprint"], rows[0].fingerprint.as_str());
    assert_eq!(
        alert["generatorURL"],
        format!("http://vigil.test:4318/alerts/{}", rows[0].fingerprint)
    );
    assert_eq!(alert["labels"], firing["commonLabels"]);

    let resolved = requests[1].json();
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(
        resolved["groupKey"], group_key,
        "same group across the lifecycle"
    );
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    assert_eq!(
        parse_time(&resolved["alerts"][0]["endsAt"]),
        millis(resolved_at)
    );
    dispatcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_that_is_down_gets_every_notification_in_order_once_up() {
    let hook = Receiver::start(|_, index| {
        if index < 3 {
            (503, "{}".into())
        } else {
            (200, "{}".into())
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let config = base_config(&format!(
        "[[alerts.webhook]]\nname = \"bot\"\nurl = \"{}/h\"\n",
        hook.url()
    ));
    let (mut engine, dispatcher) = alert::start(&config, dir.path()).unwrap();

    engine
        .evaluate("slo", vec![burn(true)], Utc::now())
        .unwrap();
    engine
        .evaluate("slo", vec![burn(false)], Utc::now())
        .unwrap();
    let requests = wait_for(WAIT, "retries, then both notifications", || {
        let r = hook.requests();
        (r.len() >= 5).then_some(r)
    })
    .await;
    let statuses: Vec<String> = requests
        .iter()
        .map(|r| r.json()["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        statuses,
        ["firing", "firing", "firing", "firing", "resolved"]
    );
    wait_for(WAIT, "an empty outbox", || {
        engine.outbox().is_empty().then_some(())
    })
    .await;
    dispatcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_notification_goes_to_the_dead_letter_file_and_the_queue_moves_on() {
    let hook = Receiver::start(|_, index| {
        if index == 0 {
            (400, r#"{"error":"bad"}"#.into())
        } else {
            (200, "{}".into())
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let config = base_config(&format!(
        "[[alerts.webhook]]\nname = \"bot\"\nurl = \"{}/h\"\n",
        hook.url()
    ));
    let (mut engine, dispatcher) = alert::start(&config, dir.path()).unwrap();

    engine
        .evaluate("slo", vec![burn(true)], Utc::now())
        .unwrap();
    engine
        .evaluate("slo", vec![burn(false)], Utc::now())
        .unwrap();
    wait_for(WAIT, "both calls", || {
        (hook.requests().len() >= 2).then_some(())
    })
    .await;
    wait_for(WAIT, "an empty outbox", || {
        engine.outbox().is_empty().then_some(())
    })
    .await;
    let dead = std::fs::read_to_string(dir.path().join("dead-letter.jsonl")).unwrap();
    assert_eq!(dead.lines().count(), 1);
    assert!(
        dead.contains("HTTP 400") && dead.contains("\"kind\":\"firing\""),
        "{dead}"
    );
    assert_eq!(hook.requests()[1].json()["status"], "resolved");
    dispatcher.stop().await;
}
