//! The official OTLP JSON examples and the Collector's edge-case payloads: every record
//! lands and every field reads back through SQL. Expected values are read off the
//! fixture files by eye (and record counts by walking the JSON independently).

mod common;

use common::{TestServer, fixture, post};
use serde_json::{Value, json};

fn send(server: &TestServer, path: &str, file: &str) {
    let response = post(&server.url(path), "application/json", &[], &fixture(file));
    assert_eq!(response.status, 200, "{file}: {}", response.text());
    assert_eq!(
        response.json(),
        json!({}),
        "{file}: no partial success expected"
    );
}

fn one_row(server: &TestServer, sql: &str) -> Value {
    let rows = server.sql(sql);
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows.into_iter().next().unwrap()
}

#[test]
fn otlp_trace_example_round_trips_every_field() {
    let server = TestServer::start();
    send(&server, "/v1/traces", "opentelemetry-proto/trace.json");
    let row = one_row(
        &server,
        "SELECT trace_id, span_id, parent_span_id, name, kind, start_time, end_time, duration_ns,
                start_time_unix_nano, service_name, scope_name, scope_version, status_code,
                attributes->>'my.span.attr' AS attr, scope_attributes->>'my.scope.attribute' AS scope_attr,
                resource_attributes->>'service.name' AS resource_service
         FROM spans",
    );
    assert_eq!(row["trace_id"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(row["span_id"], "eee19b7ec3c1b174");
    assert_eq!(row["parent_span_id"], "eee19b7ec3c1b173");
    assert_eq!(row["name"], "I'm a server span");
    assert_eq!(row["kind"], "SERVER");
    assert_eq!(row["start_time"], "2018-12-13T14:51:00Z");
    assert_eq!(row["end_time"], "2018-12-13T14:51:01Z");
    assert_eq!(row["duration_ns"], 1_000_000_000i64);
    assert_eq!(row["start_time_unix_nano"], 1_544_712_660_000_000_000u64);
    assert_eq!(row["service_name"], "my.service");
    assert_eq!(row["scope_name"], "my.library");
    assert_eq!(row["scope_version"], "1.0.0");
    assert_eq!(row["status_code"], "UNSET");
    assert_eq!(row["attr"], "some value");
    assert_eq!(row["scope_attr"], "some scope attribute");
    assert_eq!(row["resource_service"], "my.service");
}

#[test]
fn collector_traces_keep_every_value_type_event_link_and_count() {
    let server = TestServer::start();
    send(
        &server,
        "/v1/traces",
        "opentelemetry-collector/pdata_ptrace_tracesJSON.json",
    );
    let row = one_row(
        &server,
        "SELECT trace_state, flags, kind, status_code, status_message, dropped_attributes_count,
                dropped_events_count, dropped_links_count, resource_dropped_attributes_count,
                resource_schema_url, scope_schema_url, service_name,
                json_get_str(attributes, 'string') AS s, json_get_bool(attributes, 'bool') AS b,
                json_get_int(attributes, 'int') AS i, json_get_float(attributes, 'double') AS d,
                json_get_str(attributes, 'bytes') AS bytes,
                json_get_json(attributes, 'array') AS arr, json_get_int(attributes, 'kvList', 'int') AS kv_int,
                events[1]['name'] AS event_name, events[1]['time'] AS event_time,
                json_get_float(events[1]['attributes'], 'double') AS event_double,
                events[1]['dropped_attributes_count'] AS event_dropped,
                links[1]['trace_id'] AS link_trace, links[1]['span_id'] AS link_span,
                links[1]['trace_state'] AS link_state, links[1]['flags'] AS link_flags,
                json_get_str(links[1]['attributes'], 'bytes') AS link_bytes
         FROM spans WHERE name = 'testSpan'",
    );
    assert_eq!(row["trace_state"], "state");
    assert_eq!(row["flags"], 1);
    assert_eq!(row["kind"], "CLIENT");
    assert_eq!(row["status_code"], "OK");
    assert_eq!(row["status_message"], "message");
    assert_eq!(row["dropped_attributes_count"], 1);
    assert_eq!(row["dropped_events_count"], 1);
    assert_eq!(row["dropped_links_count"], 1);
    assert_eq!(row["resource_dropped_attributes_count"], 1);
    assert_eq!(row["resource_schema_url"], "schemaURL");
    assert_eq!(row["scope_schema_url"], "schemaURL");
    assert_eq!(row["service_name"], "testService");
    assert_eq!(row["s"], "value");
    assert_eq!(row["b"], true);
    assert_eq!(row["i"], 1);
    assert_eq!(row["d"], 1.1);
    assert_eq!(row["bytes"], "Zm9v");
    assert_eq!(row["arr"], "[1,\"str\"]");
    assert_eq!(row["kv_int"], 1);
    assert_eq!(row["event_name"], "eventName");
    assert_eq!(row["event_time"], "2023-05-20T22:06:22.541971Z");
    assert_eq!(row["event_double"], 1.1);
    assert_eq!(row["event_dropped"], 1);
    assert_eq!(row["link_trace"], "0102030405060708090a0b0c0d0e0f10");
    assert_eq!(row["link_span"], "1112131415161718");
    assert_eq!(row["link_state"], "state");
    assert_eq!(row["link_flags"], 1);
    assert_eq!(row["link_bytes"], "Zm9v");

    // The second span has empty ids and an empty status: legal, stored as such.
    let row = one_row(
        &server,
        "SELECT trace_id, span_id, parent_span_id, status_code, start_time, start_time_unix_nano,
                cardinality(events) AS events FROM spans WHERE name = 'testSpan2'",
    );
    assert_eq!(row["trace_id"], "");
    assert_eq!(row["span_id"], "");
    assert_eq!(row["parent_span_id"], "");
    assert_eq!(row["status_code"], "UNSET");
    assert_eq!(row["start_time"], Value::Null);
    assert_eq!(row["start_time_unix_nano"], 0);
    assert_eq!(row["events"], 0);
}

#[test]
fn otlp_logs_and_events_examples_round_trip() {
    let server = TestServer::start();
    send(&server, "/v1/logs", "opentelemetry-proto/logs.json");
    send(&server, "/v1/logs", "opentelemetry-proto/events.json");
    let row = one_row(
        &server,
        "SELECT time, observed_time, severity_number, severity_text, body, body_type, trace_id, span_id,
                event_name, json_get_bool(attributes, 'boolean.attribute') AS b,
                json_get_int(attributes, 'int.attribute') AS i,
                json_get_float(attributes, 'double.attribute') AS d,
                json_get_json(attributes, 'array.attribute') AS arr,
                attributes->'map.attribute'->>'some.map.key' AS map_value
         FROM logs WHERE severity_number = 10",
    );
    assert_eq!(row["time"], "2018-12-13T14:51:00.300Z");
    assert_eq!(row["observed_time"], "2018-12-13T14:51:00.300Z");
    assert_eq!(row["severity_text"], "Information");
    assert_eq!(row["body"], "Example log record");
    assert_eq!(row["body_type"], "string");
    assert_eq!(row["trace_id"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(row["span_id"], "eee19b7ec3c1b174");
    assert_eq!(row["event_name"], Value::Null);
    assert_eq!(row["b"], true);
    assert_eq!(row["i"], 10);
    assert_eq!(row["d"], 637.704);
    assert_eq!(row["arr"], "[\"many\",\"values\"]");
    assert_eq!(row["map_value"], "some value");

    let row = one_row(
        &server,
        "SELECT event_name, body_type, json_get_int(body, 'type') AS body_type_field, body->>'title' AS title,
                attributes->>'event.attribute' AS attr, severity_text
         FROM logs WHERE severity_number = 9",
    );
    assert_eq!(row["event_name"], "browser.page_view");
    assert_eq!(row["body_type"], "map");
    assert_eq!(row["body_type_field"], 0);
    assert_eq!(row["title"], "Free Online GUID Generator");
    assert_eq!(row["attr"], "some event attribute");
    assert_eq!(row["severity_text"], "test severity text");
}

#[test]
fn collector_log_keeps_flags_dropped_counts_and_schema_urls() {
    let server = TestServer::start();
    send(
        &server,
        "/v1/logs",
        "opentelemetry-collector/pdata_plog_logsJSON.json",
    );
    let row = one_row(
        &server,
        "SELECT flags, dropped_attributes_count, resource_dropped_attributes_count, scope_dropped_attributes_count,
                resource_schema_url, scope_schema_url, scope_name, scope_version, severity_number, severity_text,
                body, time, observed_time, service_name, resource_attributes->>'host.name' AS host
         FROM logs",
    );
    assert_eq!(row["flags"], 1);
    assert_eq!(row["dropped_attributes_count"], 1);
    assert_eq!(row["resource_dropped_attributes_count"], 1);
    assert_eq!(row["scope_dropped_attributes_count"], 1);
    assert_eq!(row["resource_schema_url"], "resource_schema");
    assert_eq!(row["scope_schema_url"], "scope_schema");
    assert_eq!(row["scope_name"], "name");
    assert_eq!(row["scope_version"], "version");
    assert_eq!(row["severity_number"], 17);
    assert_eq!(row["severity_text"], "Error");
    assert_eq!(row["body"], "hello world");
    assert_eq!(row["time"], "2023-05-20T21:16:22.541971Z");
    assert_eq!(row["observed_time"], "2023-05-20T23:00:46.539558Z");
    assert_eq!(
        row["service_name"],
        Value::Null,
        "no service.name attribute was sent"
    );
    assert_eq!(row["host"], "testHost");
}

#[test]
fn otlp_metrics_example_lands_in_each_point_table() {
    let server = TestServer::start();
    send(&server, "/v1/metrics", "opentelemetry-proto/metrics.json");
    let rows = server.sql(
        "SELECT metric_name, metric_type, temporality, is_monotonic, value, unit, metric_description,
                attributes->>'my.counter.attr' AS counter_attr
         FROM metrics ORDER BY metric_name",
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["metric_name"], "my.counter");
    assert_eq!(rows[0]["metric_type"], "sum");
    assert_eq!(rows[0]["temporality"], "delta");
    assert_eq!(rows[0]["is_monotonic"], true);
    assert_eq!(rows[0]["value"], 5.0);
    assert_eq!(rows[0]["unit"], "1");
    assert_eq!(rows[0]["metric_description"], "I am a Counter");
    assert_eq!(rows[0]["counter_attr"], "some value");
    assert_eq!(rows[1]["metric_name"], "my.gauge");
    assert_eq!(rows[1]["metric_type"], "gauge");
    assert_eq!(rows[1]["temporality"], Value::Null);
    assert_eq!(rows[1]["value"], 10.0);

    let row = one_row(
        &server,
        "SELECT metric_name, temporality, count, sum, min, max, bucket_counts, explicit_bounds, time, start_time
         FROM histograms",
    );
    assert_eq!(row["metric_name"], "my.histogram");
    assert_eq!(row["temporality"], "delta");
    assert_eq!(row["count"], 2);
    assert_eq!(row["sum"], 2.0);
    assert_eq!(row["min"], 0.0);
    assert_eq!(row["max"], 2.0);
    assert_eq!(row["bucket_counts"], json!([1, 1]));
    assert_eq!(row["explicit_bounds"], json!([1.0]));
    assert_eq!(row["time"], "2018-12-13T14:51:00.300Z");

    let row = one_row(
        &server,
        "SELECT metric_name, count, sum, scale, zero_count, zero_threshold, positive_offset,
                positive_bucket_counts, negative_offset, negative_bucket_counts, min, max
         FROM exp_histograms",
    );
    assert_eq!(row["metric_name"], "my.exponential.histogram");
    assert_eq!(row["count"], 3);
    assert_eq!(row["sum"], 10.0);
    assert_eq!(row["scale"], 0);
    assert_eq!(row["zero_count"], 1);
    assert_eq!(row["zero_threshold"], 0.0);
    assert_eq!(row["positive_offset"], 1);
    assert_eq!(row["positive_bucket_counts"], json!([0, 2]));
    assert_eq!(
        row["negative_offset"],
        Value::Null,
        "no negative buckets were sent"
    );
    assert_eq!(row["min"], 0.0);
    assert_eq!(row["max"], 5.0);
}

#[test]
fn contrib_edge_cases_keep_summaries_exemplars_negative_offsets_and_huge_timestamps() {
    let server = TestServer::start();
    send(
        &server,
        "/v1/metrics",
        "opentelemetry-collector-contrib/pmetrictest_summary_quantile_values_expected.json",
    );
    send(
        &server,
        "/v1/metrics",
        "opentelemetry-collector-contrib/pmetrictest_exemplar_actual.json",
    );
    send(
        &server,
        "/v1/metrics",
        "opentelemetry-collector-contrib/pmetrictest_exphist_negative_offset_expected.json",
    );
    send(
        &server,
        "/v1/logs",
        "opentelemetry-collector-contrib/plogtest_equal_actual.json",
    );

    let summary: Value = serde_json::from_slice(&fixture(
        "opentelemetry-collector-contrib/pmetrictest_summary_quantile_values_expected.json",
    ))
    .unwrap();
    let point =
        &summary["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["summary"]["dataPoints"][0];
    let row = one_row(
        &server,
        "SELECT quantiles, quantile_values, count, sum FROM summaries",
    );
    let expected_q: Vec<f64> = point["quantileValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["quantile"].as_f64().unwrap_or(0.0))
        .collect();
    let expected_v: Vec<f64> = point["quantileValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["value"].as_f64().unwrap_or(0.0))
        .collect();
    assert_eq!(row["quantiles"], json!(expected_q));
    assert_eq!(row["quantile_values"], json!(expected_v));

    let exemplars = server.sql(
        "SELECT e['value'] AS value, e['trace_id'] AS trace_id FROM (SELECT unnest(exemplars) AS e FROM metrics)",
    );
    assert!(!exemplars.is_empty(), "exemplars are kept");

    let row = one_row(
        &server,
        "SELECT negative_offset, negative_bucket_counts FROM exp_histograms",
    );
    let exp: Value = serde_json::from_slice(&fixture(
        "opentelemetry-collector-contrib/pmetrictest_exphist_negative_offset_expected.json",
    ))
    .unwrap();
    let negative = &exp["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["exponentialHistogram"]
        ["dataPoints"][0]["negative"];
    assert_eq!(row["negative_offset"], negative["offset"]);

    // 11651379494838206464 ns does not fit a signed timestamp: NULL there, exact in the raw column.
    let rows = server.sql("SELECT time, time_unix_nano, attributes FROM logs ORDER BY attributes");
    assert!(!rows.is_empty());
    for row in &rows {
        assert_eq!(row["time"], Value::Null);
        assert_eq!(row["time_unix_nano"], json!(11651379494838206464u64));
    }
    // Duplicate keys are kept, in order.
    assert!(
        rows.iter().any(|r| r["attributes"]
            == r#"{"testKey3":"teststringvalue3","testKey3":"teststringvalue4"}"#),
        "{rows:?}"
    );
}

#[test]
fn minimal_requests_with_empty_resource_scope_and_no_timestamps_are_stored() {
    let server = TestServer::start();
    send(
        &server,
        "/v1/traces",
        "opentelemetry-collector/ptraceotlp_request_minimal.json",
    );
    send(
        &server,
        "/v1/logs",
        "opentelemetry-collector/plogotlp_request_minimal.json",
    );
    send(
        &server,
        "/v1/metrics",
        "opentelemetry-collector/pmetricotlp_request_minimal.json",
    );
    send(
        &server,
        "/v1/metrics",
        "opentelemetry-collector/pdata_pmetric_metricsJSON.json",
    );
    let span = one_row(
        &server,
        "SELECT name, start_time, end_time, duration_ns, resource_attributes, scope_name FROM spans",
    );
    assert_eq!(span["name"], "test_span");
    assert_eq!(span["start_time"], Value::Null);
    assert_eq!(span["duration_ns"], Value::Null);
    assert_eq!(span["resource_attributes"], "{}");
    assert_eq!(span["scope_name"], "");
    let log = one_row(&server, "SELECT body, time, severity_number FROM logs");
    assert_eq!(log["body"], "test_log_record");
    assert_eq!(log["time"], Value::Null);
    let metrics = server.sql("SELECT metric_name, metric_type, metric_metadata->>'metadatakey' AS meta FROM metrics ORDER BY metric_name");
    assert_eq!(
        metrics.len(),
        2,
        "a metric without data still lands, as type 'empty'"
    );
    assert_eq!(metrics[0]["metric_name"], "testMetric");
    assert_eq!(metrics[0]["metric_type"], "empty");
    assert_eq!(metrics[0]["meta"], "metadatavalue");
    assert_eq!(metrics[1]["metric_name"], "test_metric");
}

#[test]
fn a_log_without_a_timestamp_is_timed_by_its_observed_time() {
    let server = TestServer::start();
    let body = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"observedTimeUnixNano": "1544712660300000000", "body": {"stringValue": "collected"}}
    ]}]}]});
    let response = server.post_json("/v1/logs", &body);
    assert_eq!(response.status, 200);
    let row = one_row(
        &server,
        "SELECT time, observed_time, time_unix_nano FROM logs",
    );
    assert_eq!(row["time"], "2018-12-13T14:51:00.300Z");
    assert_eq!(row["observed_time"], "2018-12-13T14:51:00.300Z");
    assert_eq!(
        row["time_unix_nano"], 0,
        "the raw column still says no timestamp was sent"
    );
}

#[test]
fn resource_entity_refs_are_kept() {
    let server = TestServer::start();
    let body = json!({"resourceSpans": [{
        "resource": {
            "attributes": [{"key": "service.name", "value": {"stringValue": "bot"}}],
            "entityRefs": [{"schemaUrl": "https://opentelemetry.io/schemas/1.30.0", "type": "service",
                            "idKeys": ["service.name"], "descriptionKeys": ["service.version"]}]
        },
        "scopeSpans": [{"spans": [{"name": "s"}]}]
    }]});
    let response = server.post_json("/v1/traces", &body);
    assert_eq!(response.status, 200);
    let row = one_row(&server, "SELECT resource_entity_refs FROM spans");
    let refs: Value = serde_json::from_str(row["resource_entity_refs"].as_str().unwrap()).unwrap();
    assert_eq!(
        refs,
        json!([{"type": "service", "schema_url": "https://opentelemetry.io/schemas/1.30.0",
                "id_keys": ["service.name"], "description_keys": ["service.version"]}])
    );
}

/// Counts records in an OTLP JSON file by walking it, independently of Vigil's decoder.
fn count_records(doc: &Value) -> (u64, u64, u64) {
    let arr = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let mut spans = 0;
    let mut logs = 0;
    let mut points = 0;
    for r in arr(&doc["resourceSpans"]) {
        for s in arr(&r["scopeSpans"]) {
            spans += arr(&s["spans"]).len() as u64;
        }
    }
    for r in arr(&doc["resourceLogs"]) {
        for s in arr(&r["scopeLogs"]) {
            logs += arr(&s["logRecords"]).len() as u64;
        }
    }
    for r in arr(&doc["resourceMetrics"]) {
        for s in arr(&r["scopeMetrics"]) {
            for m in arr(&s["metrics"]) {
                let kinds = [
                    "gauge",
                    "sum",
                    "histogram",
                    "exponentialHistogram",
                    "summary",
                ];
                match kinds.iter().find(|k| m.get(**k).is_some()) {
                    Some(k) => points += arr(&m[*k]["dataPoints"]).len() as u64,
                    None => points += 1,
                }
            }
        }
    }
    (spans, logs, points)
}

#[test]
fn every_fixture_record_lands() {
    let server = TestServer::start();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/otlp");
    let mut expected = (0, 0, 0);
    let mut files = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let body = std::fs::read(&path).unwrap();
            let doc: Value = serde_json::from_slice(&body).unwrap();
            let (s, l, p) = count_records(&doc);
            let route = if doc.get("resourceSpans").is_some() {
                "/v1/traces"
            } else if doc.get("resourceLogs").is_some() {
                "/v1/logs"
            } else {
                "/v1/metrics"
            };
            let response = post(&server.url(route), "application/json", &[], &body);
            assert_eq!(
                response.status,
                200,
                "{}: {}",
                path.display(),
                response.text()
            );
            expected = (expected.0 + s, expected.1 + l, expected.2 + p);
            files += 1;
        }
    }
    assert_eq!(files, 17, "every JSON fixture is sent");
    let spans = server.scalar("SELECT count(*) FROM spans");
    let logs = server.scalar("SELECT count(*) FROM logs");
    let points = server.scalar(
        "SELECT (SELECT count(*) FROM metrics) + (SELECT count(*) FROM histograms)
              + (SELECT count(*) FROM exp_histograms) + (SELECT count(*) FROM summaries)",
    );
    assert_eq!(
        (spans, logs, points),
        (json!(expected.0), json!(expected.1), json!(expected.2))
    );
}
