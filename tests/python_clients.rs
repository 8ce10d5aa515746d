//! Real peers: the official OpenTelemetry Python SDK sends over gRPC and HTTP, and DuckDB
//! and pyarrow read the Parquet files Vigil wrote. The Python environment comes from
//! `scripts/test.sh` (`.venv`, or the interpreter named by `VIGIL_TEST_PYTHON`).

mod common;

use std::path::Path;
use std::process::Command;

use common::{ServerProcess, cli_sql, python, script};
use serde_json::{Value, json};

fn run_python(args: &[&str]) -> String {
    let output = Command::new(python())
        .args(args)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "python {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn send(protocol: &str, endpoint: &str, service: &str) {
    let sender = script("send_with_sdk.py");
    run_python(&[
        sender.to_str().unwrap(),
        "--protocol",
        protocol,
        "--endpoint",
        endpoint,
        "--service",
        service,
    ]);
}

fn rows(data: &Path, sql: &str) -> Vec<Value> {
    cli_sql(data, sql)
}

#[test]
fn python_sdk_over_grpc_and_http_lands_and_duckdb_and_pyarrow_agree() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = ServerProcess::spawn(&data, &[]);
    send("grpc", &format!("http://{}", server.grpc), "py-grpc");
    send("http", &format!("http://{}", server.http), "py-http");

    for service in ["py-grpc", "py-http"] {
        // Spans: root + work-0..9 in one trace, parent links intact, one error with its event.
        let spans = rows(&data, &format!(
            "SELECT name, trace_id, span_id, parent_span_id, kind, status_code, status_message, scope_name, scope_version,
                    json_get_str(attributes, 'str.attr') AS s, json_get_int(attributes, 'int.attr') AS i,
                    json_get_float(attributes, 'float.attr') AS f, json_get_bool(attributes, 'bool.attr') AS b,
                    json_get_json(attributes, 'list.attr') AS l, cardinality(events) AS events,
                    resource_attributes->>'bot.id' AS bot
             FROM spans WHERE service_name = '{service}' ORDER BY name"
        ));
        assert_eq!(spans.len(), 11, "{service}: {spans:?}");
        let root = &spans[0];
        assert_eq!(root["name"], "root");
        assert_eq!(root["parent_span_id"], "");
        for (i, span) in spans[1..].iter().enumerate() {
            assert_eq!(span["name"], format!("work-{i}"));
            assert_eq!(span["trace_id"], root["trace_id"]);
            assert_eq!(span["parent_span_id"], root["span_id"]);
            assert_eq!(span["trace_id"].as_str().unwrap().len(), 32);
            assert_eq!(span["kind"], "INTERNAL");
            assert_eq!(span["s"], format!("value-{i}"));
            assert_eq!(span["i"], i);
            assert_eq!(span["f"], i as f64 + 0.5);
            assert_eq!(span["b"], i % 2 == 0);
            assert_eq!(span["l"], "[\"a\",\"b\"]");
            assert_eq!(span["scope_name"], "vigil.test");
            assert_eq!(span["scope_version"], "1.2.3");
            assert_eq!(span["bot"], "bot-7");
            if i == 3 {
                assert_eq!(span["status_code"], "ERROR");
                assert_eq!(span["status_message"], "tool failed");
                assert_eq!(span["events"], 1);
            } else {
                assert_eq!(span["status_code"], "UNSET");
                assert_eq!(span["events"], 0);
            }
        }

        // Metrics: cumulative sums (the SDK exports them on flush and again on shutdown).
        let sums = rows(&data, &format!(
            "SELECT metric_name, metric_type, temporality, is_monotonic, value, attributes->>'route' AS route
             FROM metrics WHERE service_name = '{service}' ORDER BY metric_name"
        ));
        assert!(!sums.is_empty());
        for row in &sums {
            assert_eq!(row["metric_type"], "sum");
            assert_eq!(row["temporality"], "cumulative");
            match row["metric_name"].as_str().unwrap() {
                "py.requests" => {
                    assert_eq!(row["value"], 15.0);
                    assert_eq!(row["is_monotonic"], true);
                    assert_eq!(row["route"], "/x");
                }
                "py.inflight" => {
                    assert_eq!(row["value"], 3.0);
                    assert_eq!(row["is_monotonic"], false);
                }
                other => panic!("unexpected metric {other}"),
            }
        }
        let histograms = rows(
            &data,
            &format!(
                "SELECT count, sum, min, max, bucket_counts, explicit_bounds, unit FROM histograms
             WHERE service_name = '{service}' AND metric_name = 'py.latency'"
            ),
        );
        assert!(!histograms.is_empty());
        for h in &histograms {
            assert_eq!(h["count"], 3);
            assert_eq!(h["sum"], 9.0);
            assert_eq!(h["min"], 0.5);
            assert_eq!(h["max"], 7.0);
            assert_eq!(h["unit"], "s");
            // The SDK's default boundaries: 0.5 and 1.5 fall in (0, 5], 7 in (5, 10].
            assert_eq!(h["explicit_bounds"][1], 5.0);
            assert_eq!(h["bucket_counts"][1], 2);
            assert_eq!(h["bucket_counts"][2], 1);
        }

        // Logs through the logging bridge.
        let logs = rows(
            &data,
            &format!(
                "SELECT body, severity_text, severity_number, json_get_int(attributes, 'n') AS n
             FROM logs WHERE service_name = '{service}' ORDER BY body"
            ),
        );
        assert_eq!(logs.len(), 3);
        for (i, log) in logs.iter().enumerate() {
            assert_eq!(log["body"], format!("hello {i}"));
            assert_eq!(log["severity_text"], "INFO");
            assert_eq!(log["severity_number"], 9);
            assert_eq!(log["n"], i);
        }
    }

    // Flush to Parquet, then read the files with DuckDB and pyarrow.
    server.terminate();
    let reader = script("read_parquet.py");
    let seen: Value = serde_json::from_str(&run_python(&[
        reader.to_str().unwrap(),
        data.to_str().unwrap(),
    ]))
    .unwrap();
    for table in ["spans", "logs", "metrics", "histograms"] {
        let ours = rows(&data, &format!("SELECT count(*) AS n FROM {table}"))[0]["n"].clone();
        assert!(
            seen[table]["files"].as_u64().unwrap() > 0,
            "{table} was flushed"
        );
        assert_eq!(seen[table]["duckdb_rows"], ours, "{table}");
        assert_eq!(seen[table]["pyarrow_rows"], ours, "{table}");
    }
    let names: Vec<Value> = rows(&data, "SELECT name FROM spans ORDER BY name")
        .into_iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(seen["span_names"], json!(names));
    let errors = rows(
        &data,
        "SELECT count(*) AS n FROM spans WHERE status_code = 'ERROR'",
    );
    assert_eq!(seen["error_spans"], errors[0]["n"]);
    let int_sum = rows(
        &data,
        "SELECT sum(json_get_int(attributes, 'int.attr')) AS n FROM spans",
    );
    assert_eq!(seen["int_attr_sum"], int_sum[0]["n"]);
    assert_eq!(seen["int_attr_sum"], 90, "0+…+9 from each of two senders");
    assert_eq!(seen["start_time_type"], "timestamp[ns, tz=UTC]");
}
