//! The SLO packs in `pipelines/slo/` against the real query engine: every SLO's per-minute
//! rollup SQL runs in DataFusion, and the Claude Code pack, fed Claude Code–shaped OTLP
//! log events, counts the good and total events worked out by hand.

mod common;

use std::path::PathBuf;

use common::TestServer;
use serde_json::{Value, json};
use vigil::slo::source::MetricSource;
use vigil::slo::spec::{self, RatioMetric, Slo};

fn packs() -> spec::Catalog {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/slo");
    spec::load_paths(&[dir]).unwrap_or_else(|e| panic!("{e}"))
}

/// Sum of a source's per-minute counts over `[start, end)`.
fn events(server: &TestServer, source: &MetricSource, start: i64, end: i64) -> i64 {
    let sql = format!(
        "SELECT CAST(coalesce(sum(n), 0) AS BIGINT) AS n FROM ({}) AS r",
        source.rollup_sql(start, end)
    );
    server
        .scalar(&sql)
        .as_i64()
        .unwrap_or_else(|| panic!("{sql}"))
}

/// (good, total) for an SLO.
fn good_total(server: &TestServer, slo: &Slo, start: i64, end: i64) -> (i64, i64) {
    match &slo.indicator.ratio {
        RatioMetric::GoodTotal { good, total } => (
            events(server, good, start, end),
            events(server, total, start, end),
        ),
        RatioMetric::BadTotal { bad, total } => {
            let total = events(server, total, start, end);
            (total - events(server, bad, start, end), total)
        }
    }
}

#[test]
fn every_pack_slo_rollup_runs_in_the_query_engine() {
    let server = TestServer::start();
    let catalog = packs();
    assert!(catalog.slos.len() >= 17);
    for slo in &catalog.slos {
        // No data: both sides count zero events (the SLI is "no data", not 100%).
        assert_eq!(
            good_total(&server, slo, 1_780_000_000, 1_780_086_400),
            (0, 0),
            "{}",
            slo.name
        );
    }
}

fn kv(key: &str, value: Value) -> Value {
    json!({"key": key, "value": value})
}

fn s(v: &str) -> Value {
    json!({"stringValue": v})
}

fn event(second: i64, name: &str, attributes: Vec<Value>) -> Value {
    let mut attributes = attributes;
    attributes.push(kv("event.name", s(name)));
    attributes.push(kv("session.id", s("session-1")));
    json!({
        "timeUnixNano": ((1_780_000_000 + second) * 1_000_000_000).to_string(),
        "body": s(&format!("claude_code.{name}")),
        "attributes": attributes
    })
}

#[test]
fn claude_code_pack_counts_what_claude_code_sends() {
    let server = TestServer::start();
    // Claude Code's events as its documentation names them; older versions send numbers
    // and booleans as strings, newer ones as typed values: both appear here.
    let mut records = Vec::new();
    // Eight answered API requests, durations in ms (strings and integers).
    for (i, ms) in [
        s("1200"),
        s("4800"),
        s("5200"),
        json!({"intValue": "900"}),
        s("7000"),
        json!({"doubleValue": 3000.0}),
        s("5000"),
        s("2500"),
    ]
    .into_iter()
    .enumerate()
    {
        records.push(event(
            i as i64 * 10,
            "api_request",
            vec![
                kv("model", s("claude-sonnet-4")),
                kv("duration_ms", ms),
                kv("cost_usd", s("0.01")),
            ],
        ));
    }
    // Four failed requests: overloaded (529, as a string), rate limited (429), a client
    // error (400), and a connection failure (no status_code at all).
    records.push(event(100, "api_error", vec![kv("status_code", s("529"))]));
    records.push(event(
        110,
        "api_error",
        vec![kv("status_code", json!({"intValue": "429"}))],
    ));
    records.push(event(120, "api_error", vec![kv("status_code", s("400"))]));
    records.push(event(
        130,
        "api_error",
        vec![kv("error", s("Connection error."))],
    ));
    // Tool runs: Read ok, Edit ok, Edit failed, Grep ok (typed boolean), one the user
    // rejected (never ran), and three Bash runs with tool details.
    let tool = |second, name: &str, success: Value, extra: Vec<Value>| {
        let mut attrs = vec![kv("tool_name", s(name)), kv("success", success)];
        attrs.extend(extra);
        event(second, "tool_result", attrs)
    };
    records.push(tool(200, "Read", s("true"), vec![]));
    records.push(tool(210, "Edit", s("true"), vec![]));
    records.push(tool(220, "Edit", s("false"), vec![]));
    records.push(tool(230, "Grep", json!({"boolValue": true}), vec![]));
    records.push(tool(
        240,
        "Write",
        s("false"),
        vec![kv("decision", s("reject"))],
    ));
    records.push(tool(
        250,
        "Bash",
        s("false"),
        vec![kv(
            "tool_parameters",
            s(r#"{"command":"git push origin main"}"#),
        )],
    ));
    records.push(tool(
        260,
        "Bash",
        s("true"),
        vec![kv(
            "tool_parameters",
            s(r#"{"command":"git -C repo fetch --all"}"#),
        )],
    ));
    records.push(tool(
        270,
        "Bash",
        s("true"),
        vec![kv("tool_parameters", s(r#"{"command":"ls -la"}"#))],
    ));
    let body = json!({"resourceLogs": [{
        "resource": {"attributes": [kv("service.name", s("claude-code"))]},
        "scopeLogs": [{"scope": {"name": "com.anthropic.claude_code.events"}, "logRecords": records}]
    }]});
    let response = server.post_json("/v1/logs", &body);
    assert_eq!(response.status, 200, "{}", response.text());

    let catalog = packs();
    let slo = |name: &str| {
        catalog
            .slos
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no SLO {name}"))
    };
    let (start, end) = (1_780_000_000 - 60, 1_780_000_000 + 3600);
    // Availability: 12 requests (8 answered + 4 errors); 529, 429 and the connection
    // failure are bad, the 400 is the client's fault: 9 good of 12.
    assert_eq!(
        good_total(&server, slo("claude-code-availability"), start, end),
        (9, 12)
    );
    // Latency: of the 8 answered requests, 1200, 4800, 900, 3000, 5000 and 2500 ms are
    // within 5000 ms: 6 of 8.
    assert_eq!(
        good_total(&server, slo("claude-code-api-latency"), start, end),
        (6, 8)
    );
    // Tool success: 7 tools ran (the rejected Write did not); Read, Edit, Grep, the git
    // fetch and ls succeeded: 5 of 7.
    assert_eq!(
        good_total(&server, slo("claude-code-tool-success"), start, end),
        (5, 7)
    );
    // Git operations: the push (failed) and the fetch (ok); ls is not git: 1 of 2.
    assert_eq!(
        good_total(&server, slo("claude-code-git-operations"), start, end),
        (1, 2)
    );
}
