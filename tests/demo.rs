//! `vigil demo` on a fresh data directory: simulates, evaluates and prints the report
//! (SLO table, pages with severity and detection time, the injected incidents), and its
//! data directory then holds the telemetry and the computed `slo_status`.

mod common;

#[test]
fn the_demo_reports_on_a_fresh_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let output = std::process::Command::new(common::vigil_bin())
        .args(["demo", "--days", "1", "--exit-after-report", "--data-dir"])
        .arg(&data)
        .output()
        .expect("run vigil demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for heading in ["SLOs now", "Pages:", "Injected incidents (ground truth)"] {
        assert!(stdout.contains(heading), "no {heading:?} in\n{stdout}");
    }
    let truth = stdout
        .split("Injected incidents (ground truth)")
        .nth(1)
        .unwrap();
    for scenario in [
        "rate-limit-storm",
        "bad-config",
        "latency-creep",
        "flaky-ci",
    ] {
        assert!(truth.contains(scenario), "{scenario} missing:\n{stdout}");
    }
    let stored = common::cli_sql(
        &data,
        "SELECT (SELECT count(*) FROM logs) AS logs, (SELECT count(DISTINCT slo) FROM slo_status) AS slos",
    );
    assert!(stored[0]["logs"].as_u64().unwrap() > 1000, "{stored:?}");
    assert_eq!(stored[0]["slos"], 17, "{stored:?}");
}
