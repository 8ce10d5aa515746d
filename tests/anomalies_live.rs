//! Live anomaly detection inside `vigil serve`: after two days of steady Claude Code
//! traffic, a burst of requests five minutes ago is written to `anomalies` with its
//! expected value and band, raises an `AnomalyDetected` alert, and a restart keeps what
//! the detectors learned (the same minute is not reported again).

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::TestServer;
use serde_json::{Value, json};

fn requests(minute: u64, n: u64) -> impl Iterator<Item = Value> {
    (0..n).map(move |i| {
        json!({"timeUnixNano": ((minute + i % 60) * 1_000_000_000).to_string(),
               "attributes": [{"key": "event.name", "value": {"stringValue": "api_request"}}]})
    })
}

fn send(server: &TestServer, records: Vec<Value>) {
    let body = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "claude-code"}}]},
        "scopeLogs": [{"logRecords": records}]
    }]});
    let response = server.post_json("/v1/logs", &body);
    assert_eq!(response.status, 200, "{}", response.text());
}

#[test]
fn a_burst_after_two_quiet_days_is_an_anomaly_and_a_restart_remembers() {
    let temp = tempfile::tempdir().unwrap();
    let mut config = common::config_for(temp.path());
    config.slo.interval = vigil::config::HumanDuration(Duration::from_secs(1));
    config.slo.history = vigil::config::HumanDuration(Duration::from_secs(600));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let this_minute = now / 60 * 60;
    let spike = this_minute - 300;
    // The history is stored before detection starts: a detector scores each minute once,
    // and telemetry that arrives after its minute was scored only updates the SLOs.
    let mut loading = config.clone();
    loading.anomalies.enabled = false;
    let mut server = TestServer::start_config(loading);
    // Two days of 8 to 12 requests a minute, then 300 in one minute five minutes ago.
    let start = this_minute - 2 * 86_400;
    let mut batch = Vec::new();
    let mut minute = start;
    while minute < this_minute - 60 {
        let n = if minute == spike {
            300
        } else {
            8 + (minute / 60 * 7919) % 5
        };
        batch.extend(requests(minute, n));
        if batch.len() >= 2000 {
            send(&server, std::mem::take(&mut batch));
        }
        minute += 60;
    }
    send(&server, batch);
    server.stop();
    let mut server = TestServer::start_config(config.clone());

    let query = "SELECT CAST(time AS BIGINT) / 1000000000 AS t, value, expected, lower, upper, score \
                 FROM anomalies WHERE series = 'claude-code-availability:events'";
    let deadline = Instant::now() + Duration::from_secs(120);
    let rows = loop {
        let rows = server.sql(query);
        if !rows.is_empty() {
            break rows;
        }
        assert!(Instant::now() < deadline, "no anomaly was found");
        std::thread::sleep(Duration::from_millis(500));
    };
    let at_spike: Vec<&Value> = rows.iter().filter(|r| r["t"] == json!(spike)).collect();
    assert_eq!(at_spike.len(), 1, "{rows:?}");
    let row = at_spike[0];
    assert_eq!(row["value"], json!(300.0));
    let (lower, upper) = (
        row["lower"].as_f64().unwrap(),
        row["upper"].as_f64().unwrap(),
    );
    assert!(lower <= 8.0 && (12.0..300.0).contains(&upper), "{row}");
    assert!(row["score"].as_f64().unwrap() >= vigil::models::DEFAULT_ALERT_THRESHOLD);
    // Only the last hour of the replayed history may raise anomalies.
    assert!(
        rows.iter()
            .all(|r| r["t"].as_u64().unwrap() >= this_minute - 60 - 3600),
        "{rows:?}"
    );
    let alerts = server.sql(
        "SELECT state, severity, handler FROM alerts WHERE alertname = 'AnomalyDetected' \
         AND json_get_str(labels, 'series') = 'claude-code-availability:events'",
    );
    assert!(
        alerts
            .iter()
            .any(|a| a["state"] == "firing" && a["handler"] == "ops-bot"),
        "{alerts:?}"
    );
    server.stop();
    assert!(temp.path().join("_models/live-detectors.json").exists());

    // A restart resumes after the last scored minute: the burst is not reported again.
    let mut server = TestServer::start_config(config);
    std::thread::sleep(Duration::from_secs(3));
    let again = server.sql(&format!(
        "SELECT count(*) AS n FROM anomalies \
         WHERE series = 'claude-code-availability:events' AND time = to_timestamp({spike})"
    ));
    assert_eq!(again[0]["n"], json!(1));
    server.stop();

    let output = std::process::Command::new(common::vigil_bin())
        .args([
            "anomalies",
            "--since",
            "1h",
            "--format",
            "csv",
            "--data-dir",
        ])
        .arg(temp.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("claude-code-availability:events"), "{text}");
}

#[test]
fn the_default_sql_series_run_against_every_table_they_read() {
    let server = TestServer::start();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for series in vigil::models::live::default_sql_series() {
        // server.sql fails the test on a query error.
        let rows = server.sql(&series.sql(now - 3600, now));
        assert!(rows.is_empty(), "{}: {rows:?}", series.name);
    }
}
