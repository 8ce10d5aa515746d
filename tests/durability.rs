//! Acknowledged means durable: exports acknowledged before a SIGKILL are all there after a
//! restart, exactly once, whether they had reached Parquet or only the WAL; `vigil sql`
//! sees them with and without a running server.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{ServerProcess, cli_sql, parquet_files, post};
use serde_json::json;

/// A trace export of `n` spans whose names are `<prefix>-<i>`, with valid ids.
fn export(prefix: &str, n: usize, base: usize) -> Vec<u8> {
    let spans: Vec<_> = (0..n)
        .map(|i| {
            let k = base + i;
            json!({
                "traceId": format!("{k:032x}"),
                "spanId": format!("{k:016x}"),
                "name": format!("{prefix}-{k}"),
                "startTimeUnixNano": (1_780_000_000_000_000_000u64 + k as u64 * 1_000_000_000).to_string(),
                "endTimeUnixNano": (1_780_000_000_000_000_000u64 + k as u64 * 1_000_000_000 + 5).to_string(),
                "attributes": [{"key": "k", "value": {"intValue": k.to_string()}}]
            })
        })
        .collect();
    serde_json::to_vec(&json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "durability"}}]},
        "scopeSpans": [{"spans": spans}]
    }]}))
    .unwrap()
}

fn send_batches(
    server: &ServerProcess,
    prefix: &str,
    batches: usize,
    per_batch: usize,
    offset: usize,
) -> HashSet<String> {
    let mut acked = HashSet::new();
    for b in 0..batches {
        let base = offset + b * per_batch;
        let response = post(
            &format!("http://{}/v1/traces", server.http),
            "application/json",
            &[],
            &export(prefix, per_batch, base),
        );
        assert_eq!(response.status, 200, "{}", response.text());
        acked.extend((base..base + per_batch).map(|k| format!("{prefix}-{k}")));
    }
    acked
}

fn names(data_dir: &std::path::Path) -> Vec<String> {
    cli_sql(data_dir, "SELECT name FROM spans")
        .into_iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_exactly(found: Vec<String>, expected: &HashSet<String>) {
    let unique: HashSet<String> = found.iter().cloned().collect();
    assert_eq!(found.len(), unique.len(), "no record twice");
    assert_eq!(&unique, expected);
}

#[test]
fn acknowledged_exports_survive_sigkill_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vigil.toml");
    // Flush often, so the kill lands with rows in Parquet and in the WAL both.
    std::fs::write(&config, "[storage]\nflush_interval = \"300ms\"\n").unwrap();
    let data = dir.path().join("data");
    let config_arg = config.to_str().unwrap();

    let mut server = ServerProcess::spawn(&data, &["--config", config_arg]);
    let mut acked = send_batches(&server, "a", 20, 25, 0);
    std::thread::sleep(Duration::from_millis(800));
    acked.extend(send_batches(&server, "b", 20, 25, 0));

    // While the server runs, the CLI already sees every acknowledged record.
    assert_exactly(names(&data), &acked);
    server.kill9();

    // Without a server: Parquet plus the WAL past the checkpoint.
    assert_exactly(names(&data), &acked);
    assert!(
        parquet_files(&data.join("spans")) > 0,
        "some rows had reached Parquet before the kill"
    );

    // Restart: replay, more data, another kill, another restart.
    let mut server = ServerProcess::spawn(&data, &["--config", config_arg]);
    acked.extend(send_batches(&server, "c", 10, 10, 0));
    server.kill9();
    let mut server = ServerProcess::spawn(&data, &["--config", config_arg]);
    let response = post(
        &format!("http://{}/api/v1/query", server.http),
        "application/json",
        &[],
        br#"{"sql": "SELECT count(*) AS n, count(DISTINCT name) AS d FROM spans"}"#,
    );
    let rows = response.json()["rows"].clone();
    assert_eq!(rows[0]["n"], acked.len());
    assert_eq!(rows[0]["d"], acked.len());

    // A graceful stop flushes everything and leaves only an empty WAL behind.
    server.terminate();
    assert_exactly(names(&data), &acked);
    let wal_bytes: u64 = std::fs::read_dir(data.join("_wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(wal_bytes, 8, "only the header of a fresh segment remains");
}

#[test]
fn a_second_server_on_the_same_data_directory_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _first = ServerProcess::spawn(&data, &[]);
    let output = std::process::Command::new(common::vigil_bin())
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args([
            "--grpc-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("in use by another vigil serve"), "{stderr}");
    // Reading while a server runs stays possible.
    assert!(cli_sql(&data, "SELECT count(*) AS n FROM spans")[0]["n"] == 0);
}

#[test]
fn sigterm_flushes_even_while_a_client_holds_a_half_sent_request() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = ServerProcess::spawn(&data, &[]);
    let acked = send_batches(&server, "t", 3, 10, 0);
    // Headers and half a body, then silence.
    let mut stuck = std::net::TcpStream::connect(&server.http).unwrap();
    write!(stuck, "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"resourceSpans\"").unwrap();
    let mut trickle = std::net::TcpStream::connect(&server.http).unwrap();
    write!(trickle, "POST /v1/tra").unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let started = std::time::Instant::now();
    server.terminate();
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert!(
        parquet_files(&data.join("spans")) > 0,
        "the final flush ran"
    );
    assert_exactly(names(&data), &acked);
}

#[test]
fn ctrl_c_shuts_down_cleanly_and_keeps_what_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // At once after readiness, the signal must not meet its default action (death). The
    // window before the run loop's first poll is short, so this rarely catches a listener
    // registered late; it does check that Ctrl-C stops the server cleanly.
    let mut server = ServerProcess::spawn(&data, &[]);
    server.interrupt();
    let mut server = ServerProcess::spawn(&data, &[]);
    let acked = send_batches(&server, "c", 2, 10, 0);
    server.interrupt();
    assert!(
        parquet_files(&data.join("spans")) > 0,
        "the final flush ran"
    );
    assert_exactly(names(&data), &acked);
}

#[test]
fn a_lost_checkpoint_or_a_damaged_file_loses_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = ServerProcess::spawn(&data, &[]);
    let mut acked = send_batches(&server, "x", 3, 10, 0);
    server.terminate();
    acked.extend({
        let mut server = ServerProcess::spawn(&data, &[]);
        let more = send_batches(&server, "y", 2, 10, 0);
        server.terminate();
        more
    });

    // The checkpoint file disappears: committed files must survive the next start.
    std::fs::remove_file(data.join("_wal/checkpoint")).unwrap();
    assert_exactly(names(&data), &acked);
    let mut server = ServerProcess::spawn(&data, &[]);
    server.terminate();
    assert_exactly(names(&data), &acked);

    // A stray, damaged Parquet file is moved aside; the table stays queryable.
    let stray = data.join("spans/date=2026-06-01/hour=00/part-00000000000000000001-9.parquet");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"PAR1 not really").unwrap();
    let mut server = ServerProcess::spawn(&data, &[]);
    server.terminate();
    assert!(!stray.exists());
    assert!(
        data.join("_quarantine/spans/date=2026-06-01/hour=00/part-00000000000000000001-9.parquet")
            .exists()
    );
    assert_exactly(names(&data), &acked);

    // Nested columns print as text in CSV.
    let output = std::process::Command::new(common::vigil_bin())
        .args(["sql", "--format", "csv", "--data-dir"])
        .arg(&data)
        .arg("SELECT name, events, links FROM spans LIMIT 1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("name,events,links\n"));
}
