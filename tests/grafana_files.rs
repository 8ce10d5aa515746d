//! The shipped Grafana files work against a running Vigil: every SQL query of the
//! dashboard (panels and annotations, with Grafana's `$__timeFilter` macro expanded as
//! Grafana expands it) runs, every metric its PromQL names is served on `/metrics`, and
//! every data source it uses is provisioned.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::TestServer;
use serde_json::{Value, json};

fn repo_file(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Every object under `value` that has a `key` string field, with that field.
fn collect<'a>(value: &'a Value, key: &str, out: &mut Vec<(&'a Value, &'a str)>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(text)) = map.get(key) {
                out.push((value, text));
            }
            for child in map.values() {
                collect(child, key, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, key, out)),
        _ => {}
    }
}

/// Grafana's expansion of `$__timeFilter(column)` for the PostgreSQL data source.
fn expand_time_filter(sql: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    let mut rest = sql;
    while let Some(at) = rest.find("$__timeFilter(") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "$__timeFilter(".len()..];
        let close = after.find(')').expect("closing parenthesis");
        let column = after[..close].trim();
        out.push_str(&format!("{column} BETWEEN '{from}' AND '{to}'"));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_dashboard_queries_run_and_its_metrics_and_data_sources_exist() {
    let dashboard: Value = serde_json::from_str(&repo_file("grafana/dashboards/vigil-slos.json"))
        .expect("dashboard JSON");
    let server = TestServer::start_with(|c| {
        c.slo.interval = vigil::config::HumanDuration(Duration::from_secs(1));
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let records: Vec<Value> = (0..20)
        .map(|i| {
            json!({"timeUnixNano": ((now - 30 + i) * 1_000_000_000).to_string(),
                   "attributes": [{"key": "event.name", "value": {"stringValue": "api_request"}}]})
        })
        .collect();
    let body = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "claude-code"}}]},
        "scopeLogs": [{"logRecords": records}]
    }]});
    assert_eq!(server.post_json("/v1/logs", &body).status, 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        let text = ureq::get(&server.url("/metrics"))
            .call()
            .expect("GET /metrics")
            .body_mut()
            .read_to_string()
            .unwrap();
        if text.contains("slo:current_burn_rate:ratio{") {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no SLO series on /metrics:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };

    // SQL, as Grafana sends it after expanding its macros.
    let mut queries = Vec::new();
    collect(&dashboard, "rawSql", &mut queries);
    assert!(queries.len() >= 4, "{queries:?}");
    for (_, sql) in &queries {
        let sql = expand_time_filter(sql, "2026-01-01T00:00:00Z", "2100-01-01T00:00:00Z");
        server.sql(&sql);
    }

    // PromQL: every Vigil or SLO metric it reads is served.
    let served: BTreeSet<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let mut exprs = Vec::new();
    collect(&dashboard, "expr", &mut exprs);
    assert!(!exprs.is_empty());
    for (_, expr) in &exprs {
        let names = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .filter(|w| w.starts_with("slo:") || w.starts_with("vigil_"));
        for name in names {
            assert!(
                served.contains(name),
                "{name} (in {expr}) is not on /metrics"
            );
        }
    }

    // Data sources: each one the dashboard names is provisioned, with a matching type.
    let provisioned: serde_json::Value =
        serde_norway::from_str(&repo_file("grafana/provisioning/datasources/vigil.yaml"))
            .expect("data sources YAML");
    let sources: Vec<(&str, &str)> = provisioned["datasources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["uid"].as_str().unwrap(), d["type"].as_str().unwrap()))
        .collect();
    let mut used = Vec::new();
    collect(&dashboard, "uid", &mut used);
    for (object, uid) in used {
        if let Some(kind) = object.get("type").and_then(|t| t.as_str()) {
            assert!(
                sources.contains(&(uid, kind)),
                "data source {uid} ({kind}) is not provisioned: {sources:?}"
            );
        }
    }
    let providers: serde_json::Value =
        serde_norway::from_str(&repo_file("grafana/provisioning/dashboards/vigil.yaml"))
            .expect("dashboard provider YAML");
    assert_eq!(providers["providers"][0]["type"], "file");
}
