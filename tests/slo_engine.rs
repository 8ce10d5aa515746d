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
    // A user SLO whose filter names a column that does not exist passes the static checks
    // and fails when planned: it must not keep the other SLOs from being evaluated.
    let specs = tempfile::tempdir().unwrap();
    std::fs::write(
        specs.path().join("broken.yaml"),
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: broken}\nspec:\n  service: x\n  \
         indicator:\n    metadata: {name: broken-sli}\n    spec:\n      ratioMetric:\n        \
         good: {metricSource: {type: Vigil, spec: {table: logs, filter: \"no_such_column = 1\"}}}\n        \
         total: {metricSource: {type: Vigil, spec: {table: logs, filter: \"true\"}}}\n  \
         timeWindow: [{duration: 30d, isRolling: true}]\n  budgetingMethod: Occurrences\n  \
         objectives: [{target: 0.9}]\n",
    )
    .unwrap();
    let specs_dir = specs.path().to_owned();
    let server = TestServer::start_with(move |c| {
        c.slo.interval = vigil::config::HumanDuration(Duration::from_secs(1));
        c.slo.history = vigil::config::HumanDuration(Duration::from_secs(600));
        c.slo.dirs = vec![specs_dir];
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
    let rows = server.sql(
        "SELECT total, policy FROM slo_status WHERE slo = 'broken' ORDER BY time DESC LIMIT 1",
    );
    assert_eq!(rows[0], json!({"total": 0, "policy": "no data"}));
}

/// Runs `vigil slo <args> --data-dir DIR` and returns its stdout, failing on a non-zero exit.
fn slo_cli(data_dir: &std::path::Path, args: &[&str]) -> String {
    let output = std::process::Command::new(common::vigil_bin())
        .arg("slo")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run vigil slo");
    assert!(
        output.status.success(),
        "vigil slo {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// Rows per (slo, time) of `slo_status` that appear more than once.
fn duplicate_status_rows(data_dir: &std::path::Path) -> Vec<Value> {
    common::cli_sql(
        data_dir,
        "SELECT slo, time, count(*) AS n FROM slo_status GROUP BY slo, time HAVING count(*) > 1",
    )
}

#[test]
fn slo_status_is_stored_and_backfill_recomputes_it_with_its_incidents() {
    let temp = tempfile::tempdir().unwrap();
    let mut config = common::config_for(temp.path());
    config.slo.interval = vigil::config::HumanDuration(Duration::from_secs(1));
    config.slo.history = vigil::config::HumanDuration(Duration::from_secs(600));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Three hours of Claude Code traffic ending an hour ago, starting on an hour (t0):
    // one answered request a minute, except minutes 60..90, an outage with one answered
    // request and three overloaded errors (529) each.
    let t0 = now / 3600 * 3600 - 4 * 3600;
    let mut records = Vec::new();
    for minute in 0..180 {
        let at = t0 + minute * 60 + 10;
        records.push(event(at, "api_request", &[("duration_ms", "900")]));
        if (60..90).contains(&minute) {
            for i in 0..3 {
                records.push(event(at + 5 + i, "api_error", &[("status_code", "529")]));
            }
        }
    }
    let body = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "claude-code"}}]},
        "scopeLogs": [{"logRecords": records}]
    }]});

    let mut server = TestServer::start_config(config.clone());
    let response = server.post_json("/v1/logs", &body);
    assert_eq!(response.status, 200, "{}", response.text());
    let deadline = Instant::now() + Duration::from_secs(60);
    while server
        .scalar("SELECT count(*) FROM slo_status")
        .as_u64()
        .unwrap()
        == 0
    {
        assert!(Instant::now() < deadline, "slo_status stayed empty");
        std::thread::sleep(Duration::from_millis(250));
    }
    server.stop();

    // The rows outlive the server, once per SLO and minute, and a restart adds to them
    // without repeating a minute.
    let stored = |sql: &str| common::cli_sql(temp.path(), sql);
    let count = "SELECT count(*) AS n FROM slo_status WHERE slo = 'claude-code-availability'";
    let before = stored(count)[0]["n"].as_u64().unwrap();
    assert!(before >= 10, "the 10 minutes of history: {before}");
    let mut server = TestServer::start_config(config);
    std::thread::sleep(Duration::from_secs(3));
    server.stop();
    assert!(stored(count)[0]["n"].as_u64().unwrap() >= before);
    assert_eq!(duplicate_status_rows(temp.path()), Vec::<Value>::new());

    // Backfill recomputes every minute boundary from the first hour of the range on, twice
    // without duplicating one.
    let from = (now - 5 * 3600) / 3600 * 3600;
    for _ in 0..2 {
        slo_cli(temp.path(), &["backfill", "--since", "5h"]);
        assert_eq!(duplicate_status_rows(temp.path()), Vec::<Value>::new());
    }
    let first = stored(&format!(
        "SELECT CAST(min(time) AS BIGINT) / 1000000000 AS t FROM slo_status \
         WHERE slo = 'claude-code-availability' AND time >= to_timestamp({from})"
    ));
    assert_eq!(first[0]["t"], json!(from));

    // At minute 90 the period holds 60 quiet minutes and the outage: 180 events, 90 bad.
    // The last hour holds 30 quiet minutes and the outage: 150 events, 90 bad, an error
    // ratio of 0.6 against a 1% budget, a burn rate of 60.
    let row = stored(&format!(
        "SELECT good, total, burn_1h, firing FROM slo_status \
         WHERE slo = 'claude-code-availability' AND time = to_timestamp({})",
        t0 + 90 * 60
    ));
    assert_eq!(row.len(), 1, "{row:?}");
    assert_eq!(row[0]["good"], json!(90));
    assert_eq!(row[0]["total"], json!(180));
    assert!(
        (row[0]["burn_1h"].as_f64().unwrap() - 60.0).abs() < 1e-9,
        "{row:?}"
    );
    assert_eq!(row[0]["firing"], "page");

    // The first firing evaluation is at minute 61: the ticket's 3 d and 6 h windows both
    // hold 3 bad of 64 events, above the 1% budget. The incident starts 5 minutes (the
    // shortest confirmation window) earlier, at minute 56; the fast-burn page follows; the
    // ticket's 6 h window still holds the outage now, so the incident is ongoing.
    let incidents: Vec<Value> = serde_json::from_str(&slo_cli(
        temp.path(),
        &["incidents", "--since", "5h", "--format", "json"],
    ))
    .expect("incidents as JSON");
    let ours: Vec<&Value> = incidents
        .iter()
        .filter(|i| i["slo"] == "claude-code-availability")
        .collect();
    assert_eq!(ours.len(), 1, "{incidents:?}");
    let incident = ours[0];
    let start = t0 + 56 * 60;
    let seconds = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap_or_else(|e| panic!("{v} is not RFC 3339: {e}"))
            .timestamp() as u64
    };
    assert_eq!(seconds(&incident["start"]), start, "{incident}");
    assert_eq!(incident["severity"], "page");
    assert_eq!(incident["ongoing"], json!(true));
    // From minute 56 on: 4 quiet minutes, the outage (120 events, 90 bad), 90 quiet
    // minutes: 90 bad of 214, burning (90/214)/0.01; the incident consumed that burn
    // times its length over the 30-day period.
    let end = seconds(&incident["end"]);
    let want = (90.0 / 214.0) / 0.01 * (end - start) as f64 / (30.0 * 86_400.0);
    let got = incident["budget_consumed"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-9, "{got} vs {want}: {incident}");
    // A post-mortem is due once an incident consumed 20% of the budget.
    assert_eq!(
        incident["postmortem_required"],
        json!(want >= 0.2),
        "{incident}"
    );
}
