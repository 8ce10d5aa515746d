//! Root-cause ranking on Vigil's own tables, over OTLP sent to a real server: a single
//! misbehaving bot (through the live alert path: annotation and `root_causes` rows), a
//! bad model version, and a failing downstream service behind healthy callers (from
//! spans), each read back with `vigil rca`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use common::{TestServer, get_json, vigil_bin};

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn string(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

/// One OTLP/JSON logs request: `events` (name, seconds, attributes) from one bot.
fn bot_logs(bot: &str, events: &[(&str, i64, Vec<Value>)]) -> Value {
    let records: Vec<Value> = events
        .iter()
        .map(|(name, at, attributes)| {
            let mut attributes = attributes.clone();
            attributes.push(string("event.name", name));
            json!({"timeUnixNano": (at * 1_000_000_000).to_string(),
                   "body": {"stringValue": name}, "attributes": attributes})
        })
        .collect();
    json!({"resourceLogs": [{
        "resource": {"attributes": [string("service.name", "agent"), string("bot.id", bot),
                                    string("host.name", &format!("host-{bot}"))]},
        "scopeLogs": [{"logRecords": records}]
    }]})
}

/// A fleet availability SLO on `req_ok` / `req_failed` log events that pages on 2% of
/// the budget in an hour, confirmed over the last two minutes (so a minute boundary
/// between sending and evaluating does not hide the burst).
const FLEET_SLO: &str = "\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: fleet-availability
  annotations:
    vigil.dev/alert-windows: page 2% 1h 2m
    vigil.dev/min-events: '1'
spec:
  service: agent
  indicator:
    metadata: {name: fleet-requests}
    spec:
      ratioMetric:
        counter: true
        bad: {metricSource: {type: Vigil, spec: {table: logs, filter: \"event_name = 'req_failed'\"}}}
        total: {metricSource: {type: Vigil, spec: {table: logs, filter: \"event_name IN ('req_ok', 'req_failed')\"}}}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: frontend-availability
spec:
  service: frontend
  indicator:
    metadata: {name: frontend-spans}
    spec:
      ratioMetric:
        counter: true
        bad: {metricSource: {type: Vigil, spec: {table: spans, filter: \"service_name = 'frontend' AND status_code = 'ERROR'\"}}}
        total: {metricSource: {type: Vigil, spec: {table: spans, filter: \"service_name = 'frontend'\"}}}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
";

fn server() -> (TestServer, tempfile::TempDir) {
    let specs = tempfile::tempdir().unwrap();
    std::fs::write(specs.path().join("fleet.yaml"), FLEET_SLO).unwrap();
    let dir = specs.path().to_owned();
    let server = TestServer::start_with(move |c| {
        c.slo.interval = vigil::config::HumanDuration(Duration::from_secs(1));
        c.slo.built_in_packs = false;
        c.slo.dirs = vec![dir];
        c.anomalies.enabled = false;
        let section: toml::Table = toml::from_str("min_firing = \"0s\"\n").unwrap();
        c.alerts = section.try_into().unwrap();
    });
    (server, specs)
}

fn rca(server: &TestServer, specs: &tempfile::TempDir, slo: &str, at: i64) -> String {
    let at = chrono::DateTime::from_timestamp(at, 0)
        .unwrap()
        .to_rfc3339();
    let config = specs.path().join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "[slo]\nbuilt_in_packs = false\ndirs = [{:?}]\n",
            specs.path().join("fleet.yaml")
        ),
    )
    .unwrap();
    let output = Command::new(vigil_bin())
        .args(["rca", "--slo", slo, "--at", &at, "--top", "5", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&server.data_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "vigil rca failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The subject of the first ranked candidate in `vigil rca` output (` 1. subject (score)`).
fn first(ranking: &str) -> String {
    let line = ranking
        .lines()
        .find(|l| l.trim_start().starts_with("1. "))
        .unwrap_or_else(|| panic!("no ranking in:\n{ranking}"));
    let subject = line.trim_start().trim_start_matches("1. ");
    subject[..subject.rfind(" (").unwrap()].to_string()
}

#[test]
fn a_misbehaving_bot_is_named_in_its_alert_and_in_the_root_causes_table() {
    let (server, specs) = server();
    let now = now_secs();
    // Within the last hour every bot was healthy (5 requests each), so the hour's error
    // ratio after the burst below is 15 / 80 = 18.75%, over the page's 14.4%.
    for bot in ["bot-1", "bot-2", "bot-3", "bot-4"] {
        let events: Vec<(&str, i64, Vec<Value>)> = (0..5)
            .map(|i| ("req_ok", now - 3_000 + i * 300, vec![string("model", "m1")]))
            .collect();
        assert_eq!(
            server.post_json("/v1/logs", &bot_logs(bot, &events)).status,
            200
        );
    }
    // Now bot-3 fails every request; the others go on.
    for bot in ["bot-1", "bot-2", "bot-3", "bot-4"] {
        let name = if bot == "bot-3" {
            "req_failed"
        } else {
            "req_ok"
        };
        let events: Vec<(&str, i64, Vec<Value>)> = (0..15)
            .map(|_| (name, now, vec![string("model", "m1")]))
            .collect();
        assert_eq!(
            server.post_json("/v1/logs", &bot_logs(bot, &events)).status,
            200
        );
    }

    let deadline = Instant::now() + Duration::from_secs(60);
    let annotation = loop {
        let alerts = get_json(&server.url("/api/v1/alerts"));
        let found = alerts.as_array().and_then(|alerts| {
            alerts
                .iter()
                .find_map(|a| a["annotations"]["root_causes"].as_str().map(str::to_string))
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no alert with root causes: {alerts}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(annotation.starts_with("1. bot.id=bot-3 ("), "{annotation}");

    let rows = server.sql(
        "SELECT rank, candidate, evidence_kinds FROM root_causes \
         WHERE slo = 'fleet-availability' ORDER BY time, rank",
    );
    assert_eq!(rows[0]["rank"], 1, "{rows:?}");
    assert_eq!(rows[0]["candidate"], "bot.id=bot-3", "{rows:?}");
    assert!(
        rows[0]["evidence_kinds"]
            .as_str()
            .unwrap()
            .contains("attributes"),
        "{rows:?}"
    );

    // The CLI, reading the same data directory while the server runs, agrees.
    assert_eq!(
        first(&rca(&server, &specs, "fleet-availability", now)),
        "bot.id=bot-3"
    );
}

#[test]
fn a_bad_model_version_ranks_first() {
    let (server, specs) = server();
    let at = now_secs() - 4 * 3_600;
    // Baseline hour: model versions v1 and v2 both healthy. Incident hour: v2 fails most
    // requests on every bot, v1 keeps working.
    for bot in ["bot-1", "bot-2", "bot-3"] {
        let mut events: Vec<(&str, i64, Vec<Value>)> = Vec::new();
        for i in 0..30 {
            let t = at - 7_000 + i * 100;
            events.push((
                "req_ok",
                t,
                vec![string("model", "m1"), string("model.version", "v1")],
            ));
            events.push((
                "req_ok",
                t + 5,
                vec![string("model", "m1"), string("model.version", "v2")],
            ));
        }
        for i in 0..30 {
            let t = at - 3_000 + i * 100;
            events.push((
                "req_ok",
                t,
                vec![string("model", "m1"), string("model.version", "v1")],
            ));
            let v2 = if i % 5 == 0 { "req_ok" } else { "req_failed" };
            events.push((
                v2,
                t + 5,
                vec![string("model", "m1"), string("model.version", "v2")],
            ));
        }
        assert_eq!(
            server.post_json("/v1/logs", &bot_logs(bot, &events)).status,
            200
        );
    }
    let ranking = rca(&server, &specs, "fleet-availability", at);
    assert_eq!(first(&ranking), "model.version=v2", "{ranking}");
}

/// One trace: frontend → checkout → payments, each a server span of its own service.
fn trace(n: u64, start: i64, failing: bool) -> Value {
    let trace_id = format!("{:032x}", n + 1);
    let span = |id: u64, parent: Option<u64>, service: &str, ms: i64| {
        let start_ns = start * 1_000_000_000;
        let mut span = json!({
            "traceId": trace_id,
            "spanId": format!("{:016x}", n * 10 + id),
            "name": format!("{service} handle"),
            "kind": 2,
            "startTimeUnixNano": start_ns.to_string(),
            "endTimeUnixNano": (start_ns + ms * 1_000_000).to_string(),
            "status": {"code": if failing { 2 } else { 1 }},
            "attributes": [string("http.route", "/buy")]
        });
        if let Some(parent) = parent {
            span["parentSpanId"] = json!(format!("{:016x}", n * 10 + parent));
        }
        json!({"resource": {"attributes": [string("service.name", service)]},
               "scopeSpans": [{"spans": [span]}]})
    };
    json!([
        span(1, None, "frontend", 120),
        span(2, Some(1), "checkout", 90),
        span(3, Some(2), "payments", 60)
    ])
}

#[test]
fn a_failing_downstream_service_behind_healthy_callers_ranks_first() {
    let (server, specs) = server();
    let at = now_secs() - 4 * 3_600;
    let mut resource_spans = Vec::new();
    for n in 0..60u64 {
        // Baseline hour healthy; in the incident hour payments fails in two of three
        // traces, and its callers fail only because it does.
        let (start, failing) = if n < 30 {
            (at - 7_000 + n as i64 * 100, false)
        } else {
            (at - 3_000 + (n as i64 - 30) * 100, n % 3 != 0)
        };
        resource_spans.extend(trace(n, start, failing).as_array().unwrap().clone());
    }
    let body = json!({ "resourceSpans": resource_spans });
    assert_eq!(server.post_json("/v1/traces", &body).status, 200);
    let ranking = rca(&server, &specs, "frontend-availability", at);
    assert_eq!(first(&ranking), "payments", "{ranking}");
}
