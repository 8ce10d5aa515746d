//! `vigil predict` on a real data directory: with a day of history it makes no page
//! prediction and says why; when it cannot train, the classifier an earlier run saved
//! stays in use (and a newer, interrupted save does not replace it). The job counts model
//! calls sent over OTLP per `service.name` and per pack service.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestServer, cli_sql, vigil_bin};
use vigil::predict::card::{self, ModelCard};
use vigil::predict::classify::{BurnClassifier, FEATURE_NAMES, FeatureRow, TrainConfig};

/// A server whose SLO job fills a day of `slo_status` for the built-in packs, stopped once
/// the first rows are in; returns its data directory.
fn a_day_of_status() -> (tempfile::TempDir, std::path::PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let mut config = common::config_for(&data_dir);
    config.slo.interval = vigil::config::HumanDuration(Duration::from_secs(1));
    config.anomalies.enabled = false;
    config.predict.enabled = false;
    let mut server = TestServer::start_config(config);
    let deadline = Instant::now() + Duration::from_secs(120);
    while server
        .sql("SELECT count(*) AS n FROM slo_status")
        .first()
        .and_then(|r| r["n"].as_i64())
        .unwrap_or(0)
        == 0
    {
        assert!(Instant::now() < deadline, "no slo_status rows");
        std::thread::sleep(Duration::from_millis(200));
    }
    server.stop();
    (temp, data_dir)
}

fn predict(data_dir: &Path) -> String {
    let output = Command::new(vigil_bin())
        .args(["predict", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "vigil predict failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn page_rows(data_dir: &Path) -> Vec<serde_json::Value> {
    cli_sql(
        data_dir,
        "SELECT target, probability, model_version FROM predictions WHERE kind = 'page'",
    )
}

#[test]
fn eval_predict_refuses_an_end_it_cannot_read_before_simulating() {
    let temp = tempfile::tempdir().unwrap();
    for (end, says) in [
        ("yesterday", "expected an RFC 3339 time"),
        ("2300-01-01T00:00:00Z", "outside 1970–2262"),
    ] {
        let output = Command::new(vigil_bin())
            .args([
                "eval",
                "predict",
                "--fleet-days",
                "1",
                "--end",
                end,
                "--data-dir",
            ])
            .arg(temp.path().join("fleet"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{end}: {stderr}");
        assert!(stderr.contains(says), "{end}: {stderr}");
        // Nothing was simulated: the NAB part did not run and no data directory was made.
        assert!(output.stdout.is_empty(), "{end}");
        assert!(!temp.path().join("fleet").exists(), "{end}");
    }
}

#[test]
fn eval_predict_refuses_a_seed_given_twice_before_simulating() {
    let temp = tempfile::tempdir().unwrap();
    let output = Command::new(vigil_bin())
        .args(["eval", "predict", "--fleet-days", "1", "--seed", "5,6,5"])
        .arg("--data-dir")
        .arg(temp.path().join("fleets"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("--seed 5 is given twice"), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(!temp.path().join("fleets").exists());
}

#[test]
fn a_day_of_history_gives_no_page_probability_and_says_why() {
    let (_temp, data_dir) = a_day_of_status();
    let stdout = predict(&data_dir);
    assert!(
        stdout.contains("insufficient history for the 6 h page probability"),
        "{stdout}"
    );
    assert!(stdout.contains("at least 7.0 are needed"), "{stdout}");
    assert!(stdout.contains("No page classifier yet"), "{stdout}");
    assert!(page_rows(&data_dir).is_empty());
    assert!(
        !data_dir
            .join("_models/predict/burn_classifier/current")
            .exists()
    );
}

/// 21 days of hourly rows whose 1 h burn rate climbs in the 6 hours before each of the
/// pages (one every 60 hours), and stays low otherwise.
fn precursor_history() -> (Vec<FeatureRow>, Vec<i64>) {
    const HOUR: i64 = 3_600;
    let start = 1_780_000_000 / HOUR * HOUR;
    let pages: Vec<i64> = (1..8).map(|k| start + k * 60 * HOUR).collect();
    let rows = (0..21 * 24)
        .map(|i| {
            let time = start + i * HOUR;
            let to_next = pages
                .iter()
                .find(|&&p| p > time)
                .map_or(i64::MAX, |p| p - time);
            let climbing = to_next <= 6 * HOUR;
            let burn = if climbing {
                1.0 + (6 * HOUR - to_next) as f64 / HOUR as f64
            } else {
                0.2 + 0.1 * ((i * 7) % 5) as f64 / 5.0
            };
            FeatureRow {
                time,
                burn_rate_5m: burn,
                burn_rate_1h: burn,
                burn_rate_6h: burn / 2.0,
                burn_rate_1h_trend: if climbing { 1.0 } else { 0.0 },
                anomaly_score_max: 0.0,
                share_rate_limited: 0.0,
                share_timeout: 0.0,
                share_5xx: 0.0,
                latency_p95_ms: 800.0,
                traffic_rps: 1.0,
                latency_p95_ratio: 1.0,
                ..FeatureRow::default()
            }
        })
        .collect();
    (rows, pages)
}

#[test]
fn a_run_that_cannot_train_keeps_the_previous_classifier_in_use() {
    let (_temp, data_dir) = a_day_of_status();
    let (rows, pages) = precursor_history();
    let cutoff = rows.last().unwrap().time;
    let classifier = BurnClassifier::train(&rows, &pages, cutoff, &TrainConfig::default()).unwrap();
    let models = data_dir.join("_models/predict/burn_classifier");
    let range = (rows[0].time, cutoff);
    let card = ModelCard::new("burn_classifier", "earlier", range, &FEATURE_NAMES);
    card::save(&models, &card, &classifier).unwrap();
    // A later save that was interrupted before its pointer switched: its files are there,
    // `current` still names the earlier version.
    std::fs::create_dir_all(models.join("interrupted")).unwrap();
    std::fs::write(models.join("interrupted/model.json"), b"{\"horizons\": [").unwrap();

    // The earlier classifier stays in use. It answers for the SLOs and horizons this run's
    // own classifier would (a unit test in `predict::job` checks its answers): in a day
    // without traffic no SLO has paged, so each gets a note and, at most, a 48 h page row.
    let stdout = predict(&data_dir);
    assert!(
        stdout.contains("Page classifier in use: version earlier"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "claude-code-availability: has not paged in the stored history; no page \
             probability within 6 h until it has"
        ),
        "{stdout}"
    );
    let rows = cli_sql(
        &data_dir,
        "SELECT horizon_hours, model_version FROM predictions WHERE kind = 'page'",
    );
    assert!(
        rows.iter()
            .all(|r| r["horizon_hours"] == 48.0 && r["model_version"] == "earlier"),
        "{rows:?}"
    );
    assert_eq!(
        std::fs::read_to_string(models.join("current"))
            .unwrap()
            .trim(),
        "earlier"
    );

    // A classifier saved by a Vigil with other features is not used: its coefficients
    // would not line up with today's rows.
    let card = ModelCard::new("burn_classifier", "older", range, &FEATURE_NAMES[..15]);
    card::save(&models, &card, &classifier).unwrap();
    let stdout = predict(&data_dir);
    assert!(
        stdout.contains("the previous classifier older was trained on other features"),
        "{stdout}"
    );
    assert!(stdout.contains("No page classifier yet"), "{stdout}");
    assert!(
        page_rows(&data_dir)
            .iter()
            .all(|row| row["model_version"] != "older")
    );
}

/// A probe SLO (99% of `probe` events succeed) whose budget a burst of failures spends.
const PROBE_SLO: &str = "\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: probe-availability
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

#[test]
fn a_scheduled_run_raises_a_predictive_alert_for_a_spent_budget() {
    let specs = tempfile::tempdir().unwrap();
    std::fs::write(specs.path().join("probe.yaml"), PROBE_SLO).unwrap();
    let dir = specs.path().to_owned();
    let server = TestServer::start_with(move |c| {
        c.slo.interval = vigil::config::HumanDuration(Duration::from_secs(1));
        c.slo.built_in_packs = false;
        c.slo.dirs = vec![dir];
        c.anomalies.enabled = false;
        c.predict.schedule = "* * * * *".into();
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // 50 of 100 probes fail: 50 bad events against a budget of 1% of 100.
    let record = |name: &str| {
        serde_json::json!({"timeUnixNano": (now * 1_000_000_000).to_string(),
            "attributes": [{"key": "event.name", "value": {"stringValue": name}}]})
    };
    let records: Vec<serde_json::Value> = (0..100)
        .map(|i| {
            record(if i % 2 == 0 {
                "probe_ok"
            } else {
                "probe_failed"
            })
        })
        .collect();
    let body = serde_json::json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "probe"}}]},
        "scopeLogs": [{"logRecords": records}]
    }]});
    assert_eq!(server.post_json("/v1/logs", &body).status, 200);

    // The job runs every minute; the second run at the latest sees the burst's status row.
    let deadline = Instant::now() + Duration::from_secs(200);
    let alert = loop {
        let alerts = common::get_json(&server.url("/api/v1/alerts"));
        let found = alerts.as_array().and_then(|alerts| {
            alerts
                .iter()
                .find(|a| a["alertname"] == "SLOBudgetExhaustionPredicted")
                .cloned()
        });
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "no predictive alert: {alerts}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(alert["labels"]["type"], "predictive", "{alert}");
    assert_eq!(alert["labels"]["slo"], "probe-availability", "{alert}");
    assert_eq!(alert["labels"]["service"], "probe", "{alert}");
    assert_eq!(alert["severity"], "sev3", "{alert}");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("probe-availability"),
        "{alert}"
    );
    let rows = server.sql(
        "SELECT kind, forecast FROM predictions WHERE target = 'probe-availability' \
         AND kind = 'budget'",
    );
    assert!(!rows.is_empty(), "no budget rows");
}

/// One OTLP log record at `time` (unix seconds) with `event.name` and string attributes.
fn event(time: i64, name: &str, attrs: &[(&str, &str)]) -> serde_json::Value {
    let mut attributes =
        vec![serde_json::json!({"key": "event.name", "value": {"stringValue": name}})];
    for (k, v) in attrs {
        attributes.push(serde_json::json!({"key": k, "value": {"stringValue": v}}));
    }
    serde_json::json!({"timeUnixNano": (time * 1_000_000_000).to_string(), "attributes": attributes})
}

/// One GenAI chat span at `time`; `error` is its `error.type`, which also marks it ERROR.
fn chat_span(time: i64, n: usize, error: Option<&str>) -> serde_json::Value {
    let mut attributes =
        vec![serde_json::json!({"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}})];
    if let Some(e) = error {
        attributes.push(serde_json::json!({"key": "error.type", "value": {"stringValue": e}}));
    }
    serde_json::json!({
        "traceId": format!("{:032x}", n + 1), "spanId": format!("{:016x}", n + 1),
        "name": "chat claude-sonnet-4-5", "kind": 3,
        "startTimeUnixNano": (time * 1_000_000_000).to_string(),
        "endTimeUnixNano": ((time + 2) * 1_000_000_000).to_string(),
        "attributes": attributes,
        "status": {"code": if error.is_some() { 2 } else { 0 }}
    })
}

fn resource(service: &str, version: &str) -> serde_json::Value {
    serde_json::json!({"attributes": [
        {"key": "service.name", "value": {"stringValue": service}},
        {"key": "service.version", "value": {"stringValue": version}}]})
}

#[test]
fn model_calls_are_counted_per_service_name_and_per_pack_service() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let mut config = common::config_for(&data_dir);
    config.slo.built_in_packs = false;
    config.anomalies.enabled = false;
    config.predict.enabled = false;
    let mut server = TestServer::start_config(config);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let hour = now - now % 3_600 - 3_600;
    let t = hour + 600;

    // Codex (service.name is its originator): 10 attempts; 429 twice, one 503, one attempt
    // without a response; a 200 is not a failure. Plus an event that is not a model call.
    let mut attempts = vec![
        vec![
            ("http.response.status_code", "200"),
            ("duration_ms", "1000")
        ];
        6
    ];
    for status in ["429", "429", "503"] {
        attempts.push(vec![("http.response.status_code", status)]);
    }
    attempts.push(vec![("error.message", "connection reset")]);
    let mut codex: Vec<serde_json::Value> = attempts
        .iter()
        .map(|attrs| event(t, "codex.api_request", attrs))
        .collect();
    codex.push(event(t, "codex.tool_result", &[("success", "false")]));
    let logs = serde_json::json!({"resourceLogs": [{
        "resource": resource("codex_cli_rs", "0.46.0"),
        "scopeLogs": [{"logRecords": codex}]
    }]});
    assert_eq!(server.post_json("/v1/logs", &logs).status, 200);

    // GenAI spans: triage-agent 10 chat calls (two 429s named only by error.type, one
    // overloaded_error, one 400), review-agent 2 good ones, and a failed tool span that is
    // not a model call.
    let errors = [
        Some("429"),
        Some("429"),
        Some("overloaded_error"),
        Some("400"),
    ];
    let triage: Vec<serde_json::Value> = (0..10)
        .map(|i| chat_span(t, i, errors.get(i).copied().flatten()))
        .collect();
    let mut review: Vec<serde_json::Value> = (10..12).map(|i| chat_span(t, i, None)).collect();
    let mut tool = chat_span(t, 12, Some("tool_error"));
    tool["name"] = "execute_tool read_file".into();
    tool["attributes"][0]["value"]["stringValue"] = "execute_tool".into();
    review.push(tool);
    let spans = serde_json::json!({"resourceSpans": [
        {"resource": resource("triage-agent", "1.2"), "scopeSpans": [{"spans": triage}]},
        {"resource": resource("review-agent", "2.0"), "scopeSpans": [{"spans": review}]}
    ]});
    assert_eq!(server.post_json("/v1/traces", &spans).status, 200);
    server.stop();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let inputs = runtime.block_on(async {
        let config = common::config_for(&data_dir);
        let store = vigil::store::Store::open(
            &data_dir,
            config.storage.store_config(),
            &vigil::otlp::rows_from_wal,
        )
        .unwrap();
        let query =
            vigil::query::QueryEngine::new(std::sync::Arc::new(store), config.query.limits())
                .unwrap();
        vigil::predict::job::gather(&query, &[], now, 3 * 3_600)
            .await
            .unwrap()
    });
    let get = |service: &str| {
        let found: Vec<_> = inputs
            .services
            .iter()
            .filter(|h| h.service == service)
            .collect();
        assert_eq!(found.len(), 1, "{service}: {:?}", inputs.services);
        found[0].clone()
    };
    // (requests, failures, rate limited, timeouts, 5xx)
    let counts = |h: &vigil::predict::pipeline::ServiceHour| {
        (
            h.requests,
            h.failures,
            h.rate_limited,
            h.timeouts,
            h.server_errors,
        )
    };
    for service in ["codex_cli_rs", "codex"] {
        let h = get(service);
        assert_eq!(h.hour, hour, "{service}");
        assert_eq!(counts(&h), (10, 4, 2, 1, 1), "{service}");
        assert_eq!(h.versions, vec!["0.46.0".to_string()], "{service}");
        assert_eq!(h.latency_p95_ms, Some(1000.0), "{service}");
    }
    assert_eq!(counts(&get("triage-agent")), (10, 4, 3, 0, 0));
    assert_eq!(counts(&get("review-agent")), (2, 0, 0, 0, 0));
    let genai = get("genai");
    assert_eq!(counts(&genai), (12, 4, 3, 0, 0));
    assert_eq!(genai.latency_p95_ms, Some(2000.0));
    let mut versions = genai.versions.clone();
    versions.sort();
    assert_eq!(versions, vec!["1.2".to_string(), "2.0".to_string()]);
}
