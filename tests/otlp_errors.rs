//! Bad input gets a clear error naming the problem, good records in a partly bad request
//! are kept (OTLP partial success), overload answers with retryable codes, and analyst SQL
//! stays read-only.

mod common;

use std::io::Write;

use common::{TestServer, fixture, post};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use serde_json::json;

/// `google.rpc.Status`, decoded independently of the server's own definition.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct AnyMessage {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatusWithDetails {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<AnyMessage>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

fn trace_with_ids(spans: &[(&str, &str)]) -> Vec<u8> {
    let spans: Vec<_> = spans
        .iter()
        .enumerate()
        .map(
            |(i, (trace, span))| json!({"traceId": trace, "spanId": span, "name": format!("s{i}")}),
        )
        .collect();
    serde_json::to_vec(&json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})).unwrap()
}

#[test]
fn truncated_protobuf_gets_400_with_a_status_in_protobuf() {
    let server = TestServer::start();
    let body = fixture("opentelemetry-proto/trace.protobuf-bin");
    let response = post(
        &server.url("/v1/traces"),
        "application/x-protobuf",
        &[],
        &body[..body.len() - 7],
    );
    assert_eq!(response.status, 400);
    assert_eq!(
        response.header("content-type"),
        Some("application/x-protobuf")
    );
    let status = RpcStatus::decode(response.body.as_slice()).unwrap();
    assert_eq!(status.code, 3, "INVALID_ARGUMENT");
    assert!(
        status.message.contains("invalid protobuf"),
        "{}",
        status.message
    );
    assert_eq!(server.scalar("SELECT count(*) FROM spans"), 0);
}

#[test]
fn invalid_json_gets_400_naming_line_and_column() {
    let server = TestServer::start();
    let response = post(
        &server.url("/v1/logs"),
        "application/json",
        &[],
        b"{\"resourceLogs\": [\n  {\"scopeLogs\": ",
    );
    assert_eq!(response.status, 400);
    let body = response.json();
    assert_eq!(body["code"], 3);
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn a_wrong_id_length_rejects_only_that_span_with_partial_success() {
    let server = TestServer::start();
    let body = trace_with_ids(&[
        ("5B8EFFF798038103D269B633813FC60C", "EEE19B7EC3C1B174"),
        ("5b8efff798038103", "eee19b7ec3c1b174"),
        ("", ""),
    ]);
    let response = post(
        &server.url("/v1/traces"),
        "application/json; charset=utf-8",
        &[],
        &body,
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let partial = &response.json()["partialSuccess"];
    assert_eq!(partial["rejectedSpans"], "1");
    let message = partial["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("spans[1].traceId") && message.contains("16 bytes"),
        "{message}"
    );
    let names = server.sql("SELECT name FROM spans ORDER BY name");
    assert_eq!(names, vec![json!({"name": "s0"}), json!({"name": "s2"})]);
}

#[test]
fn bad_hex_in_protobuf_free_json_and_all_bad_requests_get_400() {
    let server = TestServer::start();
    let body = trace_with_ids(&[("zz8efff798038103d269b633813fc60c", "eee19b7ec3c1b174")]);
    let response = post(&server.url("/v1/traces"), "application/json", &[], &body);
    assert_eq!(response.status, 400, "{}", response.text());
    assert!(
        response.json()["message"]
            .as_str()
            .unwrap()
            .contains("traceId"),
        "{}",
        response.text()
    );
}

#[test]
fn bodies_over_the_limit_and_decompression_bombs_get_400() {
    let server =
        TestServer::start_with(|c| c.server.max_request_size = vigil::config::ByteSize(64 << 10));
    let big = vec![b' '; 100 << 10];
    let response = post(&server.url("/v1/traces"), "application/json", &[], &big);
    assert_eq!(response.status, 400);
    assert!(
        response.json()["message"]
            .as_str()
            .unwrap()
            .contains("exceeds the limit of 65536 bytes")
    );

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![b' '; 50 << 20]).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 64 << 10, "the bomb itself is under the limit");
    let response = post(
        &server.url("/v1/traces"),
        "application/json",
        &[("Content-Encoding", "gzip")],
        &bomb,
    );
    assert_eq!(response.status, 400);
    assert!(
        response.json()["message"]
            .as_str()
            .unwrap()
            .contains("decompressed request body exceeds")
    );
}

#[test]
fn unsupported_media_types_get_415() {
    let server = TestServer::start();
    let response = post(&server.url("/v1/traces"), "text/plain", &[], b"hello");
    assert_eq!(response.status, 415);
    assert!(response.text().contains("unsupported content type"));
}

#[test]
fn gzip_and_zstd_bodies_are_accepted_and_protobuf_gets_a_protobuf_response() {
    let server = TestServer::start();
    let json_body = fixture("opentelemetry-proto/trace.json");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&json_body).unwrap();
    let response = post(
        &server.url("/v1/traces"),
        "application/json",
        &[("Content-Encoding", "gzip")],
        &gz.finish().unwrap(),
    );
    assert_eq!(response.status, 200, "{}", response.text());

    let proto = fixture("opentelemetry-proto/trace.protobuf-bin");
    let z = zstd::encode_all(proto.as_slice(), 3).unwrap();
    let response = post(
        &server.url("/v1/traces"),
        "application/x-protobuf",
        &[("Content-Encoding", "zstd")],
        &z,
    );
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/x-protobuf")
    );
    let decoded = ExportTraceServiceResponse::decode(response.body.as_slice()).unwrap();
    assert_eq!(decoded.partial_success, None);
    assert_eq!(server.scalar("SELECT count(*) FROM spans"), 2);
}

#[test]
fn the_same_attribute_key_with_different_types_is_stored_both_ways() {
    let server = TestServer::start();
    for value in [
        json!({"intValue": "3"}),
        json!({"stringValue": "3"}),
        json!({"doubleValue": 3.5}),
    ] {
        let body = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
            {"body": {"stringValue": "x"}, "attributes": [{"key": "retries", "value": value}]}
        ]}]}]});
        let response = server.post_json("/v1/logs", &body);
        assert_eq!(response.status, 200);
    }
    let rows = server.sql(
        "SELECT attributes, json_get_int(attributes, 'retries') AS i, json_get_str(attributes, 'retries') AS s,
                json_get_float(attributes, 'retries') AS f
         FROM logs ORDER BY attributes",
    );
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["attributes"], r#"{"retries":"3"}"#);
    assert_eq!(rows[0]["s"], "3");
    assert_eq!(rows[1]["attributes"], r#"{"retries":3.5}"#);
    assert_eq!(rows[1]["f"], 3.5);
    assert_eq!(rows[2]["attributes"], r#"{"retries":3}"#);
    assert_eq!(rows[2]["i"], 3);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn grpc_exports_store_and_bad_messages_get_invalid_argument() {
    let server =
        TestServer::start_with(|c| c.server.max_request_size = vigil::config::ByteSize(64 << 10));
    let proto = fixture("opentelemetry-proto/trace.protobuf-bin");
    let request = ExportTraceServiceRequest::decode(proto.as_slice()).unwrap();
    runtime().block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://{}", server.grpc))
            .await
            .unwrap()
            .send_compressed(tonic::codec::CompressionEncoding::Gzip);
        let response = client.export(request.clone()).await.unwrap().into_inner();
        assert_eq!(response.partial_success, None);

        // A span with a 3-byte span id next to a good one: partial success.
        let mut mixed = request.clone();
        let mut bad = mixed.resource_spans[0].scope_spans[0].spans[0].clone();
        bad.span_id = vec![1, 2, 3];
        mixed.resource_spans[0].scope_spans[0].spans.push(bad);
        let response = client.export(mixed).await.unwrap().into_inner();
        let partial = response.partial_success.expect("partial success");
        assert_eq!(partial.rejected_spans, 1);
        assert!(
            partial.error_message.contains("spanId must be 8 bytes"),
            "{}",
            partial.error_message
        );

        // Bigger than the configured limit.
        let mut big = request.clone();
        big.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(100 << 10);
        let status = client.export(big).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    });

    // Truncated protobuf, through a raw channel.
    runtime().block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.grpc))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        );
        let truncated = bytes::Bytes::copy_from_slice(&proto[..proto.len() - 5]);
        let status = grpc
            .unary(
                tonic::Request::new(truncated),
                path,
                vigil::otlp::grpc::RawCodec,
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().contains("invalid protobuf"),
            "{}",
            status.message()
        );
    });
    assert_eq!(server.scalar("SELECT count(*) FROM spans"), 2);
}

#[test]
fn a_full_buffer_answers_503_with_retry_after_and_grpc_unavailable_then_recovers() {
    // A file where the spans directory should be makes every flush fail, so the buffer
    // fills and stays full until it is removed.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spans"), b"in the way").unwrap();
    let mut config = common::config_for(dir.path());
    config.storage.max_buffer_size = vigil::config::ByteSize(64 << 10);
    let server = TestServer::start_config(config);
    let body = fixture("opentelemetry-proto/trace.json");
    let mut accepted = 0;
    let refused = loop {
        let response = post(&server.url("/v1/traces"), "application/json", &[], &body);
        match response.status {
            200 => accepted += 1,
            503 => break response,
            other => panic!("unexpected {other}: {}", response.text()),
        }
        assert!(accepted < 1000, "the buffer never filled");
    };
    assert!(accepted > 0);
    assert_eq!(refused.header("retry-after"), Some("2"));
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("buffer is full")
    );
    let proto = fixture("opentelemetry-proto/trace.protobuf-bin");
    let request = ExportTraceServiceRequest::decode(proto.as_slice()).unwrap();
    runtime().block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://{}", server.grpc))
            .await
            .unwrap();
        let status = client.export(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        // google.rpc.Status whose details carry google.rpc.RetryInfo { retry_delay: 2 s }.
        let details = RpcStatusWithDetails::decode(status.details()).unwrap();
        assert_eq!(
            details.details[0].type_url,
            "type.googleapis.com/google.rpc.RetryInfo"
        );
        let retry = RetryInfo::decode(details.details[0].value.as_slice()).unwrap();
        assert_eq!(retry.retry_delay.unwrap().seconds, 2);
    });
    assert_eq!(server.scalar("SELECT count(*) FROM spans"), accepted);

    // Clear the obstacle: the flusher's retry writes the buffer out and ingest resumes.
    std::fs::remove_file(dir.path().join("spans")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let response = post(&server.url("/v1/traces"), "application/json", &[], &body);
        if response.status == 200 {
            accepted += 1;
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ingest did not resume"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(server.scalar("SELECT count(*) FROM spans"), accepted);
}

/// Posts a trace export of `names.len()` spans under one resource whose single attribute
/// is `blob`.
fn post_spans_under_blob(
    server: &TestServer,
    blob: &str,
    names: &[String],
) -> common::HttpResponse {
    let spans: Vec<_> = names.iter().map(|name| json!({"name": name})).collect();
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "blob", "value": {"stringValue": blob}}]},
        "scopeSpans": [{"spans": spans}]
    }]});
    server.post_json("/v1/traces", &body)
}

fn assert_asks_for_smaller_batches(response: &common::HttpResponse) {
    assert_eq!(response.status, 400, "{}", response.text());
    let message = response.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("send fewer records per request"),
        "{message}"
    );
}

#[test]
fn a_request_that_expands_past_the_buffer_gets_400_not_endless_503() {
    let server =
        TestServer::start_with(|c| c.storage.max_buffer_size = vigil::config::ByteSize(8 << 20));
    // 300 KB of resource attribute repeated on 100 spans: ~30 MB of rows from a 300 KB body.
    let blob = "x".repeat(300_000);
    let names: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
    assert_asks_for_smaller_batches(&post_spans_under_blob(&server, &blob, &names));
    // The same spans in batches that fit are taken.
    for chunk in names.chunks(10) {
        let response = post_spans_under_blob(&server, &blob, chunk);
        assert!(
            response.status == 200 || response.status == 503,
            "{}",
            response.text()
        );
    }
}

#[test]
fn escaped_control_characters_cannot_blow_up_a_small_request() {
    // 64 KiB of \x01 becomes 384 KiB of escaped JSON, repeated on each of 8000 spans:
    // about 3 GB of rows from a half-megabyte request. It must be refused, not attempted.
    let server = TestServer::start();
    let names = vec![String::new(); 8000];
    assert_asks_for_smaller_batches(&post_spans_under_blob(
        &server,
        &"\u{1}".repeat(64 << 10),
        &names,
    ));
    assert_eq!(server.scalar("SELECT count(*) AS n FROM spans"), 0);
}

#[test]
fn deeply_nested_sql_gets_400_and_the_server_keeps_running() {
    let server = TestServer::start();
    let deep = format!("SELECT {}", vec!["1"; 5000].join(" + "));
    let response = server.post_json("/api/v1/query", &json!({"sql": deep}));
    assert_eq!(response.status, 400);
    assert!(
        response.json()["error"]
            .as_str()
            .unwrap()
            .contains("more than 256 deep")
    );
    let moderate = format!("SELECT {} AS n", vec!["1"; 100].join(" + "));
    assert_eq!(server.scalar(&moderate), 100);
}

#[test]
fn analyst_sql_is_read_only() {
    let server = TestServer::start();
    for sql in [
        "CREATE TABLE t AS SELECT 1",
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
        "INSERT INTO spans (name) VALUES ('x')",
        "DROP TABLE spans",
        "COPY (SELECT 1) TO '/tmp/vigil-copy-test.csv'",
        "SET datafusion.execution.batch_size = 1",
        "CREATE VIEW v AS SELECT 1",
    ] {
        let response = server.post_json("/api/v1/query", &json!({"sql": sql}));
        assert_eq!(response.status, 403, "{sql}: {}", response.text());
        assert!(
            response.json()["error"]
                .as_str()
                .unwrap()
                .contains("read-only"),
            "{sql}: {}",
            response.text()
        );
    }
    // Reading a file by path is not a table here.
    let response = post(
        &server.url("/api/v1/query"),
        "application/json",
        &[],
        br#"{"sql": "SELECT * FROM '/etc/passwd'"}"#,
    );
    assert_eq!(response.status, 400, "{}", response.text());
    assert!(!std::path::Path::new("/tmp/vigil-copy-test.csv").exists());
    // Plain queries, SHOW and EXPLAIN still work.
    assert_eq!(server.scalar("SELECT 1 + 1 AS two"), 2);
    assert!(!server.sql("SHOW TABLES").is_empty());
    assert!(!server.sql("EXPLAIN SELECT count(*) FROM spans").is_empty());
}

#[test]
fn a_buffer_limit_below_the_flush_size_still_flushes_and_recovers() {
    // flush_size stays at its 128 MiB default and the interval at an hour: only the
    // half-of-the-limit rule can free the buffer.
    let server = TestServer::start_with(|c| {
        c.storage.max_buffer_size = vigil::config::ByteSize(256 << 10);
        c.storage.flush_interval =
            vigil::config::HumanDuration(std::time::Duration::from_secs(3600));
    });
    let body = fixture("opentelemetry-proto/trace.json");
    let mut refused = 0;
    for _ in 0..300 {
        loop {
            let response = post(&server.url("/v1/traces"), "application/json", &[], &body);
            match response.status {
                200 => break,
                503 => {
                    refused += 1;
                    assert!(refused < 2000, "the buffer never drained");
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => panic!("unexpected {other}: {}", response.text()),
            }
        }
    }
    assert_eq!(server.scalar("SELECT count(*) FROM spans"), 300);
    let parquet = common::parquet_files(&server.data_dir.join("spans"));
    assert!(parquet > 0, "flushed to Parquet by size, not by age");
}
