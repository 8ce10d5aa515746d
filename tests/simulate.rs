//! `vigil simulate` against a real `vigil serve`: every protocol's telemetry is stored
//! without a rejected record, in every table the packs read, and the labels file names
//! exactly the incidents asked for.

mod common;

use common::TestServer;
use serde_json::Value;

fn simulate(args: &[&str]) -> std::process::Output {
    std::process::Command::new(common::vigil_bin())
        .arg("simulate")
        .args(args)
        .output()
        .expect("run vigil simulate")
}

#[test]
fn simulated_fleet_telemetry_is_stored_without_rejections_with_its_labels() {
    let server = TestServer::start_with(|c| c.slo.enabled = false);
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels.json");
    let grpc = format!("http://{}", server.grpc);
    let output = simulate(&[
        "--endpoint",
        &grpc,
        "--days",
        "0.25",
        "--seed",
        "7",
        "--scenarios",
        "rate-limit-storm@-4h,flaky-ci@-2h",
        "--labels",
        labels.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(" 0 rejected"), "{stderr}");

    let truth: Value = serde_json::from_slice(&std::fs::read(&labels).unwrap()).unwrap();
    let incidents = truth["incidents"].as_array().expect("incidents list");
    let names: Vec<&str> = incidents
        .iter()
        .map(|i| i["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["rate-limit-storm", "flaky-ci"], "{truth}");
    assert!(
        incidents
            .iter()
            .all(|i| !i["affected_slos"].as_array().unwrap().is_empty())
    );

    // The other two protocols, a little history each.
    let http = format!("http://{}", server.http);
    for protocol in ["http/protobuf", "http/json"] {
        let output = simulate(&[
            "--endpoint",
            &http,
            "--protocol",
            protocol,
            "--days",
            "0.02",
            "--seed",
            "8",
            "--scenarios",
            "none",
        ]);
        assert!(
            output.status.success(),
            "{protocol}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    for table in ["spans", "logs", "metrics", "histograms"] {
        let n = server.scalar(&format!("SELECT count(*) FROM {table}"));
        assert!(n.as_u64().unwrap() > 0, "{table} is empty");
    }
    let services = server.sql("SELECT DISTINCT service_name FROM logs ORDER BY 1");
    let services: Vec<&str> = services
        .iter()
        .filter_map(|r| r["service_name"].as_str())
        .collect();
    assert!(services.contains(&"claude-code"), "{services:?}");
}
