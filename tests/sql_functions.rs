//! Vigil's telemetry SQL functions and the query API's output formats, on data sent over
//! OTLP. Expected values are worked out by hand from the data sent.

mod common;

use common::TestServer;
use serde_json::{Value, json};

fn send(server: &TestServer, signal: &str, body: &Value) {
    let response = server.post_json(&format!("/v1/{signal}"), body);
    assert_eq!(response.status, 200, "{}", response.text());
}

fn kv(key: &str, value: Value) -> Value {
    json!({"key": key, "value": value})
}

/// Three spans of a Claude Code–style agent: numbers sent as strings, as older versions do.
fn agent_spans() -> Value {
    let span = |i: u64, start_s: u64, dur_ms: u64, attrs: Vec<Value>| {
        json!({
            "traceId": format!("{:032x}", 1),
            "spanId": format!("{:016x}", i),
            "name": "execute_tool",
            "startTimeUnixNano": (start_s * 1_000_000_000).to_string(),
            "endTimeUnixNano": (start_s * 1_000_000_000 + dur_ms * 1_000_000).to_string(),
            "attributes": attrs
        })
    };
    json!({"resourceSpans": [{
        "resource": {"attributes": [kv("service.name", json!({"stringValue": "claude-code"}))]},
        "scopeSpans": [{"spans": [
            // 2024-05-01T10:02:30Z, 1.5 s
            span(1, 1_714_557_750, 1500, vec![
                kv("duration_ms", json!({"stringValue": "1500"})),
                kv("cost_usd", json!({"stringValue": "0.25"})),
                kv("success", json!({"stringValue": "true"})),
                kv("tool_name", json!({"stringValue": "Bash"})),
            ]),
            // 2024-05-01T10:07:59Z, 250 ms
            span(2, 1_714_558_079, 250, vec![
                kv("duration_ms", json!({"intValue": "250"})),
                kv("cost_usd", json!({"doubleValue": 0.5})),
                kv("success", json!({"boolValue": false})),
                kv("tool_name", json!({"stringValue": "Read"})),
            ]),
            // 2024-05-01T11:00:00Z, 2 m 3.5 s
            span(3, 1_714_561_200, 123_500, vec![
                kv("duration_ms", json!({"stringValue": "not a number"})),
            ]),
        ]}]
    }]})
}

#[test]
fn attributes_read_with_types_even_when_numbers_arrive_as_strings() {
    let server = TestServer::start();
    send(&server, "traces", &agent_spans());
    let rows = server.sql(
        "SELECT attr(attributes, 'tool_name') AS tool, attr_int(attributes, 'duration_ms') AS ms, \
         attr_float(attributes, 'cost_usd') AS cost, attr_bool(attributes, 'success') AS ok, \
         attr(attributes, 'cost_usd') AS cost_text \
         FROM spans ORDER BY start_time",
    );
    assert_eq!(
        rows,
        vec![
            json!({"tool": "Bash", "ms": 1500, "cost": 0.25, "ok": true, "cost_text": "0.25"}),
            json!({"tool": "Read", "ms": 250, "cost": 0.5, "ok": false, "cost_text": "0.5"}),
            json!({"tool": null, "ms": null, "cost": null, "ok": null, "cost_text": null}),
        ]
    );
}

#[test]
fn time_buckets_and_duration_helpers() {
    let server = TestServer::start();
    send(&server, "traces", &agent_spans());
    let rows = server.sql(
        "SELECT time_bucket('5m', start_time) AS b5, time_bucket(INTERVAL '1 hour', start_time) AS h, \
         duration_ms(start_time, end_time) AS ms, ns_to_ms(duration_ns) AS ms2, \
         format_duration(duration_ns) AS text \
         FROM spans ORDER BY start_time",
    );
    assert_eq!(
        rows,
        vec![
            json!({"b5": "2024-05-01T10:00:00Z", "h": "2024-05-01T10:00:00Z", "ms": 1500.0, "ms2": 1500.0, "text": "1.5s"}),
            json!({"b5": "2024-05-01T10:05:00Z", "h": "2024-05-01T10:00:00Z", "ms": 250.0, "ms2": 250.0, "text": "250ms"}),
            json!({"b5": "2024-05-01T11:00:00Z", "h": "2024-05-01T11:00:00Z", "ms": 123500.0, "ms2": 123500.0, "text": "2m3.5s"}),
        ]
    );
    // Weekly buckets start on Mondays, as in TimescaleDB: 2024-05-01 was a Wednesday.
    assert_eq!(
        server.scalar("SELECT time_bucket('1w', min(start_time)) FROM spans"),
        json!("2024-04-29T00:00:00Z")
    );
    let response = server.post_json(
        "/api/v1/query",
        &json!({"sql": "SELECT time_bucket('5 fortnights', start_time) FROM spans"}),
    );
    assert_eq!(response.status, 400);
    assert!(
        response.text().contains("fortnights"),
        "{}",
        response.text()
    );
}

#[test]
fn counter_increase_and_rate_survive_resets_and_histogram_quantiles_add_rows() {
    let server = TestServer::start();
    // A cumulative counter: 10, 15, 20, then a restart, 3, 8, ten seconds apart.
    let base = 1_714_557_600u64;
    let points: Vec<Value> = [10.0, 15.0, 20.0, 3.0, 8.0]
        .iter()
        .enumerate()
        .map(|(i, v)| {
            json!({"timeUnixNano": ((base + 10 * i as u64) * 1_000_000_000).to_string(), "asDouble": v})
        })
        .collect();
    // Two delta histograms with bounds [1, 2, 4]: counts 10/20/10/0 and 0/0/0/40.
    let histogram = |t: u64, counts: [u64; 4]| {
        json!({
            "timeUnixNano": (t * 1_000_000_000).to_string(),
            "count": counts.iter().sum::<u64>().to_string(),
            "bucketCounts": counts.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "explicitBounds": [1.0, 2.0, 4.0]
        })
    };
    send(
        &server,
        "metrics",
        &json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
            {"name": "tokens", "sum": {"aggregationTemporality": 2, "isMonotonic": true, "dataPoints": points}},
            {"name": "latency", "histogram": {"aggregationTemporality": 1, "dataPoints": [
                histogram(base, [10, 20, 10, 0]),
                histogram(base + 60, [0, 0, 0, 40]),
            ]}}
        ]}]}]}),
    );
    // Rises 5 + 5, the restart counts from zero (3), then 5: 18 over 40 s.
    assert_eq!(
        server.sql("SELECT increase(value, time) AS inc, rate(value, time) AS r FROM metrics"),
        vec![json!({"inc": 18.0, "r": 0.45})]
    );
    // First row alone: the median (rank 20 of 40) is halfway through (1, 2].
    assert_eq!(
        server.scalar(&format!(
            "SELECT histogram_quantile(0.5, bucket_counts, explicit_bounds) FROM histograms \
             WHERE time = to_timestamp({base})"
        )),
        json!(1.5)
    );
    // Both rows: 80 observations, rank 40 is the last of the first row's (2, 4] bucket.
    assert_eq!(
        server.scalar(
            "SELECT histogram_quantile(0.5, bucket_counts, explicit_bounds) FROM histograms"
        ),
        json!(4.0)
    );
    // Rank 36 of 80: 6 of the 10 in (2, 4] → 2 + 2 × 0.6.
    let p45 = server
        .scalar("SELECT histogram_quantile(0.45, bucket_counts, explicit_bounds) FROM histograms");
    assert!((p45.as_f64().unwrap() - 3.2).abs() < 1e-9, "{p45}");
}

#[test]
fn the_query_api_answers_csv_and_arrow_by_accept_header() {
    let server = TestServer::start();
    send(&server, "traces", &agent_spans());
    let sql = br#"{"sql": "SELECT span_id, duration_ns, start_time FROM spans ORDER BY start_time LIMIT 2"}"#;
    let csv = common::post(
        &server.url("/api/v1/query"),
        "application/json",
        &[("accept", "text/csv")],
        sql,
    );
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert_eq!(
        csv.text(),
        "span_id,duration_ns,start_time\n\
         0000000000000001,1500000000,2024-05-01T10:02:30Z\n\
         0000000000000002,250000000,2024-05-01T10:07:59Z\n"
    );

    let arrow_response = common::post(
        &server.url("/api/v1/query"),
        "application/json",
        &[(
            "accept",
            "application/vnd.apache.arrow.stream, application/json;q=0.5",
        )],
        sql,
    );
    assert_eq!(arrow_response.status, 200);
    assert_eq!(
        arrow_response.header("content-type"),
        Some("application/vnd.apache.arrow.stream")
    );
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(arrow_response.body), None)
            .unwrap();
    let schema = reader.schema();
    assert_eq!(
        schema.field(2).data_type(),
        &arrow::datatypes::DataType::Timestamp(
            arrow::datatypes::TimeUnit::Nanosecond,
            Some("UTC".into())
        )
    );
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 2);
    use arrow::array::AsArray;
    let durations = batches[0]
        .column(1)
        .as_primitive::<arrow::datatypes::Int64Type>();
    assert_eq!(durations.value(0), 1_500_000_000);

    // No Accept, or one Vigil does not write: JSON.
    let json_response = common::post(
        &server.url("/api/v1/query"),
        "application/json",
        &[("accept", "application/xml")],
        sql,
    );
    assert_eq!(json_response.json()["row_count"], 2);
}
