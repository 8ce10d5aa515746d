//! An SLO driven into fast burn inside `vigil serve` raises an alert that a real
//! Prometheus Alertmanager lists with the right labels; acknowledging it through the API
//! and the burn ending are recorded in the `alerts` table, and the alert resolves in
//! Alertmanager.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::TestServer;
use common::peers::{Alertmanager, free_port};
use serde_json::{Value, json};

/// A probe SLO: 99% of `probe` events succeed; it pages when 2% of the 30-day budget
/// burns in an hour, confirmed over the last minute (so the test sees it fire and clear
/// within a minute or two).
const PROBE_SLO: &str = "\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: probe-availability
  displayName: Probe availability
  labels:
    team: [reliability]
  annotations:
    vigil.dev/alert-windows: page 2% 1h 1m
    vigil.dev/min-events: '1'
    vigil.dev/runbook: https://runbooks.example/probe
spec:
  service: probe
  indicator:
    metadata: {name: probe-events}
    spec:
      ratioMetric:
        counter: true
        bad: {metricSource: {type: Vigil, spec: {table: logs, filter: \"event_name = 'probe_failed'\"}}}
        total: {metricSource: {type: Vigil, spec: {table: logs, filter: \"event_name IN ('probe_ok', 'probe_failed')\"}}}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
";

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn probes(at: u64, ok: usize, failed: usize) -> Value {
    let record = |name: &str| {
        json!({"timeUnixNano": (at * 1_000_000_000).to_string(), "body": {"stringValue": name},
               "attributes": [{"key": "event.name", "value": {"stringValue": name}}]})
    };
    let records: Vec<Value> = std::iter::repeat_n(record("probe_ok"), ok)
        .chain(std::iter::repeat_n(record("probe_failed"), failed))
        .collect();
    json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "probe"}}]},
        "scopeLogs": [{"logRecords": records}]
    }]})
}

fn wait_until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_fast_burn_reaches_alertmanager_is_acknowledged_and_resolves() {
    let alertmanager = Alertmanager::start(free_port());
    let specs = tempfile::tempdir().unwrap();
    std::fs::write(specs.path().join("probe.yaml"), PROBE_SLO).unwrap();
    let specs_dir = specs.path().to_owned();
    let am_url = alertmanager.url.clone();
    let mut server = TestServer::start_with(move |c| {
        c.slo.interval = vigil::config::HumanDuration(Duration::from_secs(1));
        c.slo.built_in_packs = false;
        c.slo.dirs = vec![specs_dir];
        let section: toml::Table = toml::from_str(&format!(
            "min_firing = \"0s\"\nretry_initial = \"100ms\"\n\
             [[alertmanager]]\nurl = \"{am_url}\"\n"
        ))
        .unwrap();
        c.alerts = section.try_into().unwrap();
    });

    // Send the burst early in a minute, so it is still the minute in progress while the
    // alert fires.
    while now_secs() % 60 > 40 {
        std::thread::sleep(Duration::from_millis(500));
    }
    let sent = Instant::now();
    let response = server.post_json("/v1/logs", &probes(now_secs(), 20, 20));
    assert_eq!(response.status, 200, "{}", response.text());

    let alert = wait_until("the alert in Alertmanager", Duration::from_secs(30), || {
        alertmanager
            .alerts_named("SLOErrorBudgetBurn")
            .into_iter()
            .next()
    });
    eprintln!(
        "OTLP request to alert listed by Alertmanager: {:?}",
        sent.elapsed()
    );
    // Half the events failed: the hour burns at 0.5 / 0.01 = 50×, above the 14.4× page
    // threshold, and 20 bad events against an allowance of 0.01 × 40 = 0.4 have spent the
    // budget: a page with the budget gone is SEV1, handled by a human (tier L3).
    let labels = &alert["labels"];
    assert_eq!(labels["slo"], "probe-availability", "{alert}");
    assert_eq!(labels["service"], "probe");
    assert_eq!(labels["severity"], "sev1");
    assert_eq!(labels["handler"], "human");
    assert_eq!(labels["tier"], "L3");
    assert_eq!(labels["type"], "burn");
    assert_eq!(labels["team"], "reliability");
    let annotations = &alert["annotations"];
    assert_eq!(annotations["runbook_url"], "https://runbooks.example/probe");
    assert_eq!(annotations["budget_remaining"], "-4900.00%", "{alert}");
    assert!(
        annotations["summary"]
            .as_str()
            .unwrap()
            .contains("50.0× too fast"),
        "{alert}"
    );
    let generator = alert["generatorURL"].as_str().unwrap();
    assert!(
        generator.starts_with(&format!("http://{}/api/v1/query?sql=", server.http)),
        "{generator}"
    );
    // The link answers with the SLO's status rows.
    let linked = ureq::get(generator)
        .call()
        .expect("generatorURL answers")
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(linked.contains("\"rows\""), "{linked}");

    // The API lists it and takes the acknowledgement.
    let listed = common::get_json(&server.url("/api/v1/alerts"));
    let fingerprint = listed[0]["fingerprint"].as_str().unwrap().to_owned();
    let response = server.post_json(
        &format!("/api/v1/alerts/{}/ack", &fingerprint[..8]),
        &json!({"by": "oncall-ana"}),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let again = server.post_json(
        &format!("/api/v1/alerts/{fingerprint}/ack"),
        &json!({"by": "oncall-ana"}),
    );
    assert_eq!(again.status, 409, "{}", again.text());
    let unknown = server.post_json("/api/v1/alerts/ffffffffffffffff/ack", &json!({"by": "x"}));
    assert_eq!(unknown.status, 404, "{}", unknown.text());

    // Once the minute with the burst is over, its one-minute window is empty: the page
    // clears, the alert resolves, and Alertmanager no longer lists it as active.
    wait_until("the alert to resolve", Duration::from_secs(90), || {
        let active = alertmanager
            .alerts_named("SLOErrorBudgetBurn")
            .into_iter()
            .any(|a| a["status"]["state"] == "active");
        (!active).then_some(())
    });
    let states: Vec<String> = wait_until("the resolved row", Duration::from_secs(10), || {
        let rows = server.sql(&format!(
            "SELECT state FROM alerts WHERE fingerprint = '{fingerprint}' ORDER BY time"
        ));
        let states: Vec<String> = rows
            .iter()
            .map(|r| r["state"].as_str().unwrap().to_owned())
            .collect();
        states.contains(&"resolved".to_owned()).then_some(states)
    });
    assert_eq!(states, ["firing", "acknowledged", "resolved"]);
    server.stop();

    // The lifecycle figures read the same rows after the server is gone.
    let output = std::process::Command::new(common::vigil_bin())
        .args([
            "alerts",
            "stats",
            "--since",
            "1d",
            "--format",
            "json",
            "--data-dir",
        ])
        .arg(&server.data_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stats: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let sev1 = stats.iter().find(|r| r["severity"] == "sev1").unwrap();
    assert_eq!(sev1["fired"], json!(1));
    assert_eq!(sev1["resolved"], json!(1));
    assert_eq!(sev1["bot_handled_share"], json!(0.0));
    assert!(sev1["mtta_s"].as_f64().unwrap() >= 0.0, "{sev1}");
}
