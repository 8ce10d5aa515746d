//! `vigil gameday` against a real server: a bad-config incident on a Claude Code bot must
//! page `claude-code-availability` and resolve after, and a game day whose SLO cannot fire
//! must fail with a non-zero exit.
//!
//! The server loads the Claude Code pack's availability SLO from `pipelines/slo/` with
//! one change: its page condition is confirmed over 2 minutes instead of 5, so the alert
//! clears soon after the failure ends and the test takes minutes, not a quarter hour. (The
//! fleet sends each minute once it is over, and alerts are evaluated on the minute in
//! progress, so the short window must reach back past the last complete minute.)

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{TestServer, vigil_bin};

/// The pack's `claude-code-availability` SLO, with a 2-minute short window.
fn availability_slo_with_short_window() -> String {
    let pack = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/slo/claude-code.yaml"),
    )
    .unwrap();
    let document = pack
        .split("\n---\n")
        .find(|d| d.contains("name: claude-code-availability\n"))
        .expect("the pack defines claude-code-availability");
    let labels = "  labels:\n    pack: claude-code\n    signal: logs\n";
    assert!(document.contains(labels), "the SLO's labels changed");
    document.replace(
        labels,
        &format!(
            "{labels}  annotations:\n    vigil.dev/alert-windows: page 2% 1h 2m\n    \
             vigil.dev/min-events: '3'\n"
        ),
    )
}

/// The server, and the directory of its SLO file (kept until the test ends).
fn server_with_availability_slo() -> (TestServer, tempfile::TempDir) {
    let specs = tempfile::tempdir().unwrap();
    std::fs::write(
        specs.path().join("availability.yaml"),
        availability_slo_with_short_window(),
    )
    .unwrap();
    let specs_dir = specs.path().to_owned();
    let server = TestServer::start_with(move |c| {
        c.slo.interval = vigil::config::HumanDuration(Duration::from_secs(1));
        c.slo.built_in_packs = false;
        c.slo.dirs = vec![specs_dir];
        c.anomalies.enabled = false;
        let section: toml::Table = toml::from_str("min_firing = \"0s\"\n").unwrap();
        c.alerts = section.try_into().unwrap();
    });
    (server, specs)
}

fn gameday(server: &TestServer, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(vigil_bin())
        .arg("gameday")
        .args(args)
        .args([
            "--endpoint",
            &format!("http://{}", server.grpc),
            "--api",
            &format!("http://{}", server.http),
        ])
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_bad_config_game_day_pages_availability_in_time_and_resolves() {
    let (server, _specs) = server_with_availability_slo();
    let labels = tempfile::NamedTempFile::new().unwrap();
    let (passed, stdout, stderr) = gameday(
        &server,
        &[
            "bad-config",
            "--duration",
            "2m",
            "--detect-within",
            "3m",
            "--resolve-within",
            "4m",
            "--labels",
            labels.path().to_str().unwrap(),
        ],
    );
    assert!(passed, "game day failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("claude-code-availability"), "{stdout}");
    assert!(stdout.contains("PASS"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");

    // The labels file names the incident the game day measured, and the store holds its
    // alert's whole lifecycle.
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(labels.path()).unwrap()).unwrap();
    let incident = &truth["incidents"][0];
    assert_eq!(incident["scenario"], "bad-config");
    assert_eq!(
        incident["affected_slos"],
        serde_json::json!(["claude-code-availability"])
    );
    let states: Vec<String> = server
        .sql(
            "SELECT state FROM alerts WHERE slo = 'claude-code-availability' \
             ORDER BY time, state",
        )
        .iter()
        .map(|r| r["state"].as_str().unwrap().to_string())
        .collect();
    assert!(states.contains(&"firing".to_string()), "{states:?}");
    assert_eq!(states.last().map(String::as_str), Some("resolved"));
}

#[test]
fn a_game_day_whose_slo_never_fires_fails_with_a_non_zero_exit() {
    let (server, _specs) = server_with_availability_slo();
    // tool-loop pages the tool-success SLO, which this server does not load.
    let (passed, stdout, stderr) = gameday(
        &server,
        &[
            "tool-loop",
            "--duration",
            "1m",
            "--detect-within",
            "20s",
            "--resolve-within",
            "1m",
        ],
    );
    assert!(!passed, "a game day with nothing to fire passed:\n{stdout}");
    assert!(stdout.contains("never"), "{stdout}");
    assert!(stdout.contains("FAIL"), "{stdout}");
    assert!(stderr.contains("game day tool-loop failed"), "{stderr}");
}

#[test]
fn a_game_day_against_no_server_says_so() {
    let port = common::peers::free_port();
    let output = Command::new(vigil_bin())
        .args([
            "gameday",
            "bad-config",
            "--api",
            &format!("http://127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot reach Vigil's HTTP API"), "{stderr}");
}
