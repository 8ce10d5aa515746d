//! What the benchmarks share: the GenAI-style span generator, the release binary and
//! free loopback ports.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// One export of `spans` GenAI-style spans from bot `bot` of `service`, one a millisecond
/// from `base_ns`; `seed` makes the ids and values of one request differ from another's.
pub fn request(
    bot: usize,
    service: &str,
    spans: usize,
    base_ns: u64,
    seed: u64,
) -> ExportTraceServiceRequest {
    let models = ["claude-sonnet-4", "gpt-5", "gemini-2.5-pro"];
    let tools = ["bash", "read_file", "edit", "grep", "web_fetch"];
    let spans = (0..spans)
        .map(|i| {
            let n = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(i as u64);
            let start = base_ns + i as u64 * 1_000_000;
            let tool = tools[(n % tools.len() as u64) as usize];
            Span {
                trace_id: n.to_le_bytes().repeat(2),
                span_id: (n ^ 0xabcdef).to_le_bytes().to_vec(),
                parent_span_id: (n ^ 0x123456).to_le_bytes().to_vec(),
                name: format!("execute_tool {tool}"),
                kind: 3,
                start_time_unix_nano: start,
                end_time_unix_nano: start + 1_000_000 + n % 50_000_000,
                attributes: vec![
                    kv(
                        "gen_ai.operation.name",
                        Value::StringValue("execute_tool".into()),
                    ),
                    kv("gen_ai.tool.name", Value::StringValue(tool.into())),
                    kv(
                        "gen_ai.request.model",
                        Value::StringValue(models[bot % models.len()].into()),
                    ),
                    kv(
                        "gen_ai.usage.input_tokens",
                        Value::IntValue((n % 4000) as i64),
                    ),
                    kv(
                        "gen_ai.usage.output_tokens",
                        Value::IntValue((n % 900) as i64),
                    ),
                    kv(
                        "session.id",
                        Value::StringValue(format!("session-{bot}-{}", n % 7)),
                    ),
                    kv("success", Value::BoolValue(!n.is_multiple_of(20))),
                ],
                status: Some(Status {
                    code: if n.is_multiple_of(20) { 2 } else { 1 },
                    message: String::new(),
                }),
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", Value::StringValue(service.into())),
                    kv(
                        "service.instance.id",
                        Value::StringValue(format!("bot-{bot}")),
                    ),
                    kv("bot.id", Value::StringValue(format!("bot-{bot}"))),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "bench".into(),
                    version: "1".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

pub fn vigil_binary_unless(external: bool) -> PathBuf {
    if external {
        return PathBuf::new();
    }
    if let Ok(path) = std::env::var("VIGIL_BIN") {
        return PathBuf::from(path);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--bin", "vigil"])
        .current_dir(&root)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build --release failed");
    root.join("target/release/vigil")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Exports one request over `client`, waiting and retrying while the server answers
/// UNAVAILABLE (its buffer is full); returns how many retries that took.
pub async fn export(
    client: &mut tonic::client::Grpc<tonic::transport::Channel>,
    body: bytes::Bytes,
    path: &tonic::codegen::http::uri::PathAndQuery,
) -> usize {
    let mut retries = 0;
    loop {
        client.ready().await.expect("channel ready");
        match client
            .unary(
                tonic::Request::new(body.clone()),
                path.clone(),
                vigil::otlp::grpc::RawCodec,
            )
            .await
        {
            Ok(_) => return retries,
            Err(status) if status.code() == tonic::Code::Unavailable => {
                retries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(status) => panic!("export failed: {status}"),
        }
    }
}
