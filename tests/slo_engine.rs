//! SLOs evaluated live inside `vigil serve`: Claude Code events sent over OTLP show up in
//! the `slo_status` table with the figures worked out by hand.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::TestServer;
use serde_json::{Value, json};

fn event(at: u64, name: &str, attrs: &[(&str, &str)]) -> Value {
    let mut attributes: Vec<Value> = attrs
        .iter()
        .map(|(k, v)| json!({"key": k, "value": {"stringValue": v}}))
        .collect();
    attributes.push(json!({"key": "event.name", "value": {"stringValue": name}}));
    json!({"timeUnixNano": (at * 1_000_000_000).to_string(), "attributes": attributes})
}

#[test]
fn claude_code_events_become_slo_status_rows() {
    let server = TestServer::start_with(|c| {
        c.slo.interval = vigil::config::HumanDuration(Duration::from_secs(1));
        c.slo.history = vigil::config::HumanDuration(Duration::from_secs(600));
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // In the last half hour, some of it older than the engine's 5-minute re-roll: 100
    // answered requests and 5 overloaded errors (529).
    let mut records: Vec<Value> = (0..100)
        .map(|i| {
            event(
                now - 1800 + i * 15,
                "api_request",
                &[("duration_ms", "1200")],
            )
        })
        .collect();
    records
        .extend((0..5).map(|i| event(now - 900 + i * 60, "api_error", &[("status_code", "529")])));
    let body = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "claude-code"}}]},
        "scopeLogs": [{"logRecords": records}]
    }]});
    let response = server.post_json("/v1/logs", &body);
    assert_eq!(response.status, 200, "{}", response.text());

    let query = "SELECT good, total, sli, budget_remaining, burn_1h, burn_3d, policy, firing \
                 FROM slo_status WHERE slo = 'claude-code-availability' ORDER BY time DESC LIMIT 1";
    let deadline = Instant::now() + Duration::from_secs(60);
    let row = loop {
        let rows = server.sql(query);
        if let Some(row) = rows.first()
            && row["total"] == json!(105)
        {
            break row.clone();
        }
        assert!(
            Instant::now() < deadline,
            "slo_status never counted the events: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    // 105 requests, 5 bad: SLI 100/105; error ratio 5/105 burns the 1% budget at
    // (5/105)/0.01 = 4.7619×; 5 bad events against an allowance of 0.01 × 105 = 1.05
    // leaves 1 − 5/1.05 = −3.7619 of the budget: critical. 4.76× is below the page
    // thresholds (14.4 over 1 h, 6 over 6 h) and above the ticket's 1 over 3 d and 6 h.
    assert_eq!(row["good"], json!(100));
    let close = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 1e-9;
    assert!(close(&row["sli"], 100.0 / 105.0), "{row}");
    assert!(close(&row["budget_remaining"], 1.0 - 5.0 / 1.05), "{row}");
    assert!(close(&row["burn_1h"], (5.0 / 105.0) / 0.01), "{row}");
    assert!(close(&row["burn_3d"], (5.0 / 105.0) / 0.01), "{row}");
    assert_eq!(row["policy"], "critical");
    assert_eq!(row["firing"], "ticket");
    // SLOs without events say so instead of claiming 100%.
    let rows = server.sql(
        "SELECT sli, policy FROM slo_status WHERE slo = 'git-operations' ORDER BY time DESC LIMIT 1",
    );
    assert_eq!(rows[0], json!({"sli": null, "policy": "no data"}));
}
