//! Query benchmark: analyst queries over at least 10 million spans, run by Vigil (its
//! HTTP query API on a real `vigil serve`) and by DuckDB (from Python) on the same Parquet
//! files, in the same run. Prints each engine's median time and the ratio.
//!
//! ```text
//! cargo bench --bench query                     # 10M spans into target/bench-query-data
//! VIGIL_BENCH_SPANS=20000000 VIGIL_BENCH_RUNS=7 cargo bench --bench query
//! VIGIL_BENCH_DATA=/path/to/dir cargo bench --bench query   # reuse a data directory
//! ```
//!
//! The data directory is filled once (ingest over OTLP/gRPC, then a graceful stop that
//! flushes everything to Parquet) and reused by later runs. DuckDB comes from the test
//! environment (`scripts/test.sh` creates `.venv`; or set `VIGIL_TEST_PYTHON`).

#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{env_usize, export, free_port, request, vigil_binary_unless};
use prost::Message;
use serde_json::{Value, json};

const BASE_SECS: u64 = 1_780_000_000;
const SPANS_PER_REQUEST: usize = 1000;

fn spawn_server(binary: &Path, data: &Path) -> (Child, String, String) {
    let grpc = format!("127.0.0.1:{}", free_port());
    let http = format!("127.0.0.1:{}", free_port());
    let pg = format!("127.0.0.1:{}", free_port());
    let child = Command::new(binary)
        .args(["serve", "--data-dir"])
        .arg(data)
        .args([
            "--grpc-listen",
            &grpc,
            "--http-listen",
            &http,
            "--pg-listen",
            &pg,
        ])
        .env("VIGIL_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start vigil serve");
    let agent = agent();
    let deadline = Instant::now() + Duration::from_secs(120);
    while agent.get(format!("http://{http}/health")).call().is_err() {
        assert!(Instant::now() < deadline, "vigil serve did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, grpc, http)
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into()
}

/// Sends `requests` exports of distinct spans: a request a minute of data, twelve
/// services, six bots, so time, service and trace filters all have something to select.
fn ingest(binary: &Path, data: &Path, requests: usize) {
    let (child, grpc, _) = spawn_server(binary, data);
    let started = Instant::now();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        );
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (channel, path, next) = (channel.clone(), path.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut client = tonic::client::Grpc::new(channel);
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= requests {
                        break;
                    }
                    let service = format!("agent-{:02}", i % 12);
                    let base_ns = (BASE_SECS + 60 * i as u64) * 1_000_000_000;
                    let body = bytes::Bytes::from(
                        request(i % 6, &service, SPANS_PER_REQUEST, base_ns, i as u64 + 1)
                            .encode_to_vec(),
                    );
                    export(&mut client, body, &path).await;
                }
            }));
        }
        for task in tasks {
            task.await.expect("sender");
        }
    });
    println!(
        "  ingested {} spans in {:.1} s",
        requests * SPANS_PER_REQUEST,
        started.elapsed().as_secs_f64()
    );
    stop(child);
}

fn vigil_query(http: &str, sql: &str) -> (f64, usize) {
    let started = Instant::now();
    let mut response = agent()
        .post(format!("http://{http}/api/v1/query"))
        .header("content-type", "application/json")
        .send(json!({ "sql": sql }).to_string())
        .expect("query request");
    let body = response.body_mut().read_to_string().expect("query body");
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(response.status(), 200, "{sql}: {body}");
    let rows = serde_json::from_str::<Value>(&body).expect("JSON")["row_count"]
        .as_u64()
        .unwrap_or(0) as usize;
    (ms, rows)
}

/// The first column of the first row of a query's answer.
fn first_value(http: &str, sql: &str) -> Value {
    let body = agent()
        .post(format!("http://{http}/api/v1/query"))
        .send(sql)
        .expect("query request")
        .body_mut()
        .read_to_string()
        .expect("query body");
    let answer: Value = serde_json::from_str(&body).expect("JSON answer");
    answer["rows"][0]
        .as_object()
        .and_then(|row| row.values().next().cloned())
        .unwrap_or(Value::Null)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn python() -> PathBuf {
    std::env::var("VIGIL_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"))
}

fn duckdb_times(data: &Path, queries: &[String], runs: usize) -> Vec<(f64, usize)> {
    let job = json!({
        "glob": data.join("spans/**/*.parquet").to_string_lossy(),
        "queries": queries,
        "runs": runs,
    });
    let mut child = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/duckdb_queries.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python with duckdb (scripts/test.sh creates .venv)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(job.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "duckdb_queries.py failed");
    let results: Vec<Value> = serde_json::from_slice(&output.stdout).expect("duckdb JSON");
    results
        .iter()
        .map(|r| {
            (
                r["median_ms"].as_f64().unwrap_or(f64::NAN),
                r["rows"].as_u64().unwrap_or(0) as usize,
            )
        })
        .collect()
}

fn main() {
    let spans = env_usize("VIGIL_BENCH_SPANS", 10_000_000);
    let runs = env_usize("VIGIL_BENCH_RUNS", 5).max(1);
    let requests = spans.div_ceil(SPANS_PER_REQUEST);
    let binary = vigil_binary_unless(false);
    let data = std::env::var("VIGIL_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-query-data"));

    println!("query benchmark: Vigil (HTTP query API) and DuckDB on the same Parquet files");
    if !data.join("spans").exists() {
        std::fs::create_dir_all(&data).expect("data dir");
        ingest(&binary, &data, requests);
    }
    let (server, _, http) = spawn_server(&binary, &data);
    let count = first_value(&http, "SELECT count(*) AS n FROM spans")
        .as_u64()
        .unwrap_or(0);
    println!("  spans stored       {count} in {}", data.display());
    let trace_id = first_value(
        &http,
        "SELECT trace_id FROM spans WHERE service_name = 'agent-07' LIMIT 1",
    )
    .as_str()
    .unwrap_or("")
    .to_owned();
    let last_hour_ns = ((BASE_SECS + 60 * requests as u64) - 3600) * 1_000_000_000;
    let last_hour =
        chrono::DateTime::from_timestamp((BASE_SECS + 60 * requests as u64) as i64 - 3600, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

    let queries: Vec<(&str, String, String)> = vec![
        (
            "error rate by service per hour",
            "SELECT service_name, date_trunc('hour', start_time) AS hour, count(*) AS spans, \
             avg(CASE WHEN status_code = 'ERROR' THEN 1.0 ELSE 0.0 END) AS error_rate \
             FROM spans GROUP BY 1, 2 ORDER BY 1, 2"
                .into(),
            // DuckDB reads the column as TIMESTAMPTZ_NS, which its date_trunc lacks.
            "SELECT service_name, date_trunc('hour', CAST(start_time AS TIMESTAMPTZ)) AS hour, \
             count(*) AS spans, \
             avg(CASE WHEN status_code = 'ERROR' THEN 1.0 ELSE 0.0 END) AS error_rate \
             FROM spans GROUP BY 1, 2 ORDER BY 1, 2"
                .into(),
        ),
        (
            "p95 latency by model",
            "SELECT attr(attributes, 'gen_ai.request.model') AS model, \
             approx_percentile_cont(duration_ns, 0.95) AS p95 FROM spans GROUP BY 1 ORDER BY 1"
                .into(),
            "SELECT json_extract_string(attributes, '$.\"gen_ai.request.model\"') AS model, \
             approx_quantile(duration_ns, 0.95) AS p95 FROM spans GROUP BY 1 ORDER BY 1"
                .into(),
        ),
        (
            "top failing tools",
            "SELECT name, count(*) AS failures FROM spans WHERE status_code = 'ERROR' \
             GROUP BY name ORDER BY failures DESC LIMIT 10"
                .into(),
            "SELECT name, count(*) AS failures FROM spans WHERE status_code = 'ERROR' \
             GROUP BY name ORDER BY failures DESC LIMIT 10"
                .into(),
        ),
        (
            "a trace by id",
            format!("SELECT * FROM spans WHERE trace_id = '{trace_id}' ORDER BY start_time"),
            format!("SELECT * FROM spans WHERE trace_id = '{trace_id}' ORDER BY start_time"),
        ),
        (
            "attribute filter",
            "SELECT count(*) AS n FROM spans WHERE attr(attributes, 'gen_ai.tool.name') = 'bash' \
             AND attr_int(attributes, 'gen_ai.usage.input_tokens') > 3000"
                .into(),
            "SELECT count(*) AS n FROM spans \
             WHERE json_extract_string(attributes, '$.\"gen_ai.tool.name\"') = 'bash' \
             AND CAST(json_extract(attributes, '$.\"gen_ai.usage.input_tokens\"') AS BIGINT) > 3000"
                .into(),
        ),
        (
            "last hour by service",
            format!(
                "SELECT service_name, count(*) AS n FROM spans WHERE start_time >= '{last_hour}' \
                 GROUP BY 1 ORDER BY 1"
            ),
            // DuckDB cannot compare its TIMESTAMPTZ_NS column with a TIMESTAMPTZ literal;
            // the exact nanosecond column keeps its row-group statistics usable.
            format!(
                "SELECT service_name, count(*) AS n FROM spans \
                 WHERE start_time_unix_nano >= {last_hour_ns} GROUP BY 1 ORDER BY 1"
            ),
        ),
    ];

    let mut vigil = Vec::new();
    for (_, sql, _) in &queries {
        let (_, rows) = vigil_query(&http, sql);
        let times: Vec<f64> = (0..runs).map(|_| vigil_query(&http, sql).0).collect();
        vigil.push((median(times), rows));
    }
    stop(server);
    let duck = duckdb_times(
        &data,
        &queries.iter().map(|q| q.2.clone()).collect::<Vec<_>>(),
        runs,
    );

    println!("  median of {runs} runs after one warm-up, 2 cores shared by nothing else");
    println!(
        "  {:<32} {:>10} {:>10} {:>8} {:>8}",
        "query", "Vigil ms", "DuckDB ms", "ratio", "rows"
    );
    let mut ratios = Vec::new();
    for ((name, _, _), ((v, vrows), (d, drows))) in queries.iter().zip(vigil.iter().zip(&duck)) {
        let ratio = v / d;
        ratios.push(ratio);
        let rows = if vrows == drows {
            vrows.to_string()
        } else {
            format!("{vrows}≠{drows}")
        };
        println!("  {name:<32} {v:>10.1} {d:>10.1} {ratio:>8.2} {rows:>8}");
    }
    println!(
        "  median ratio (Vigil / DuckDB): {:.2}  (below 1 means Vigil is faster)",
        median(ratios)
    );
}
