//! `GET /metrics` scraped by a real Prometheus (Debian package `prometheus`): Vigil's
//! health counters and every SLO's figures under Sloth's metric names come back through
//! Prometheus' own query API with the values worked out by hand.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::TestServer;
use common::peers::free_port;
use serde_json::{Value, json};

/// A Prometheus on 127.0.0.1 scraping one target every second. Killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: vigil\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let binary = std::env::var_os("PROMETHEUS_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("prometheus"));
        let port = free_port();
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}); install it with `apt-get install prometheus` or set PROMETHEUS_BIN",
                    binary.display()
                )
            });
        let prometheus = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while ureq::get(&format!("{}/-/ready", prometheus.url))
            .call()
            .is_err()
        {
            assert!(Instant::now() < deadline, "prometheus never became ready");
            std::thread::sleep(Duration::from_millis(200));
        }
        prometheus
    }

    /// The instant vector of `query`, through `GET /api/v1/query`.
    fn query(&self, query: &str) -> Vec<Value> {
        let url = format!(
            "{}/api/v1/query?{}",
            self.url,
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("query", query)
                .finish()
        );
        let body = common::get_json(&url);
        assert_eq!(body["status"], "success", "{body}");
        body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn value(sample: &Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
fn prometheus_scrapes_health_and_sloth_named_slo_series() {
    let server = TestServer::start_with(|c| {
        c.slo.interval = vigil::config::HumanDuration(Duration::from_secs(1));
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Ten minutes ago: 100 answered Claude Code requests and 5 overloaded errors (529).
    let event = |name: &str, status: Option<&str>| {
        let mut attributes = vec![json!({"key": "event.name", "value": {"stringValue": name}})];
        if let Some(code) = status {
            attributes.push(json!({"key": "status_code", "value": {"stringValue": code}}));
        }
        json!({"timeUnixNano": ((now - 600) * 1_000_000_000).to_string(), "attributes": attributes})
    };
    let records: Vec<Value> = std::iter::repeat_n(event("api_request", None), 100)
        .chain(std::iter::repeat_n(event("api_error", Some("529")), 5))
        .collect();
    let body = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "claude-code"}}]},
        "scopeLogs": [{"logRecords": records}]
    }]});
    let response = server.post_json("/v1/logs", &body);
    assert_eq!(response.status, 200, "{}", response.text());

    let prometheus = Prometheus::start(&server.http.to_string());
    let selector = "{sloth_service=\"claude-code\",sloth_slo=\"claude-code-availability\"}";
    let deadline = Instant::now() + Duration::from_secs(60);
    let budget = loop {
        let found = prometheus.query(&format!(
            "slo:period_error_budget_remaining:ratio{selector}"
        ));
        // The first scrapes may predate the SLO job's first step over the new events.
        if let Some(sample) = found.first()
            && (value(sample) - 1.0).abs() > 1e-9
        {
            break sample.clone();
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never got the SLO's budget: {found:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    // 5 bad of 105 against a 1% budget: the period burns at (5/105)/0.01 and leaves
    // 1 − 5/1.05 of the budget.
    assert!(
        (value(&budget) - (1.0 - 5.0 / 1.05)).abs() < 1e-9,
        "{budget}"
    );
    assert_eq!(
        budget["metric"]["sloth_id"],
        "claude-code-claude-code-availability"
    );
    let objective = prometheus.query(&format!("slo:objective:ratio{selector}"));
    assert!((value(&objective[0]) - 0.99).abs() < 1e-12, "{objective:?}");
    let period = prometheus.query(&format!("slo:sli_error:ratio_rate30d{selector}"));
    assert!((value(&period[0]) - 5.0 / 105.0).abs() < 1e-9, "{period:?}");
    assert_eq!(period[0]["metric"]["sloth_window"], "30d");
    let burn = prometheus.query(&format!("slo:period_burn_rate:ratio{selector}"));
    assert!(
        (value(&burn[0]) - (5.0 / 105.0) / 0.01).abs() < 1e-9,
        "{burn:?}"
    );
    let days = prometheus.query(&format!("slo:time_period:days{selector}"));
    assert_eq!(value(&days[0]), 30.0);
    let info = prometheus.query(&format!("sloth_slo_info{selector}"));
    assert_eq!(info[0]["metric"]["sloth_objective"], "99");

    // Vigil's own health: the 105 log records it acknowledged.
    let ingested = prometheus.query("vigil_ingested_records_total{signal=\"logs\"}");
    assert_eq!(value(&ingested[0]), 105.0, "{ingested:?}");
    let queries = prometheus.query("vigil_query_duration_seconds_count");
    assert!(value(&queries[0]) > 0.0, "{queries:?}");
}
