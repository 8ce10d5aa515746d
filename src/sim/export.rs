//! Sending [`Batches`] to an OTLP endpoint: gRPC (tonic), or HTTP with protobuf or
//! JSON bodies (ureq, on the blocking pool).
//!
//! Retries follow the OTLP specification's advice: gRPC `UNAVAILABLE`,
//! `RESOURCE_EXHAUSTED`, `DEADLINE_EXCEEDED` and `ABORTED`, HTTP 429, 502, 503 and 504,
//! and transport errors are retried with exponential backoff (honouring `Retry-After`);
//! any other refusal ends the export with an error naming the signal, the endpoint, the
//! status and the server's message. Records the server dropped (OTLP partial success)
//! are counted as rejected, never retried.

use std::io::Write as _;
use std::str::FromStr;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

use super::generate::{Batches, Counts};

/// How telemetry is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// OTLP/gRPC (default endpoint `http://127.0.0.1:4317`).
    #[default]
    Grpc,
    /// OTLP/HTTP with protobuf bodies (base endpoint `http://127.0.0.1:4318`).
    HttpProtobuf,
    /// OTLP/HTTP with JSON bodies.
    HttpJson,
}

impl Protocol {
    /// The endpoint a local Vigil listens on for this protocol.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "http://127.0.0.1:4317",
            _ => "http://127.0.0.1:4318",
        }
    }
}

impl FromStr for Protocol {
    type Err = ExportError;

    /// The values of `OTEL_EXPORTER_OTLP_PROTOCOL`: `grpc`, `http/protobuf`, `http/json`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "grpc" => Ok(Protocol::Grpc),
            "http/protobuf" | "http" => Ok(Protocol::HttpProtobuf),
            "http/json" | "json" => Ok(Protocol::HttpJson),
            other => Err(ExportError::Protocol(other.to_string())),
        }
    }
}

/// Request body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
}

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Logs,
    Metrics,
}

impl Signal {
    fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Logs => "/v1/logs",
            Signal::Metrics => "/v1/metrics",
        }
    }

    fn rejected_field(self) -> &'static str {
        match self {
            Signal::Traces => "rejectedSpans",
            Signal::Logs => "rejectedLogRecords",
            Signal::Metrics => "rejectedDataPoints",
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("unknown protocol {0:?}: expected grpc, http/protobuf or http/json")]
    Protocol(String),
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    Endpoint { endpoint: String, reason: String },
    #[error("{signal} export refused by {endpoint}: {status}: {message}")]
    Refused {
        signal: Signal,
        endpoint: String,
        status: String,
        message: String,
    },
    #[error("{signal} export to {endpoint} failed after {attempts} attempts; last error: {last}")]
    GaveUp {
        signal: Signal,
        endpoint: String,
        attempts: u32,
        last: String,
    },
    #[error("cannot encode the {signal} request: {reason}")]
    Encode { signal: Signal, reason: String },
    #[error("{signal} response from {endpoint} is not a valid OTLP response: {reason}")]
    Response {
        signal: Signal,
        endpoint: String,
        reason: String,
    },
    #[error("an export task stopped unexpectedly: {0}")]
    Task(String),
}

/// What one export of a [`Batches`] achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Delivery {
    pub(crate) sent: Counts,
    pub(crate) rejected: Counts,
    pub(crate) requests: u64,
    pub(crate) retries: u64,
}

/// Backoff between attempts.
#[derive(Debug, Clone, Copy)]
struct RetryPolicy {
    attempts: u32,
    first: Duration,
    max: Duration,
    max_retry_after: Duration,
}

const RETRY: RetryPolicy = RetryPolicy {
    attempts: 10,
    first: Duration::from_millis(100),
    max: Duration::from_secs(8),
    max_retry_after: Duration::from_secs(30),
};

impl RetryPolicy {
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self
            .first
            .saturating_mul(1 << attempt.min(16))
            .min(self.max);
        retry_after.map_or(backoff, |r| r.min(self.max_retry_after))
    }
}

/// The outcome of one attempt.
enum Attempt {
    /// Accepted; how many records the server rejected.
    Accepted(u64),
    /// Worth retrying, after `Retry-After` if the server gave one.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Refused for good.
    Refused { status: String, message: String },
}

/// One gRPC client per signal over a shared channel.
#[derive(Debug, Clone)]
struct GrpcClients {
    traces: TraceServiceClient<Channel>,
    logs: LogsServiceClient<Channel>,
    metrics: MetricsServiceClient<Channel>,
}

/// A connection to one endpoint for one protocol.
#[derive(Debug, Clone)]
pub(crate) struct Exporter {
    endpoint: String,
    transport: Transport,
}

#[derive(Debug, Clone)]
enum Transport {
    Grpc(Box<GrpcClients>),
    Http {
        agent: ureq::Agent,
        json: bool,
        gzip: bool,
    },
}

impl Exporter {
    /// An exporter for `endpoint`; gRPC connects lazily, at the first export.
    pub(crate) fn new(
        endpoint: &str,
        protocol: Protocol,
        compression: Compression,
    ) -> Result<Exporter, ExportError> {
        let endpoint = endpoint.trim_end_matches('/').to_string();
        if !endpoint.starts_with("http://") {
            return Err(ExportError::Endpoint {
                endpoint,
                reason: "only plain http:// endpoints are supported".into(),
            });
        }
        let transport = match protocol {
            Protocol::Grpc => grpc(&endpoint, compression)?,
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                let config = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(60)))
                    .build();
                Transport::Http {
                    agent: config.into(),
                    json: protocol == Protocol::HttpJson,
                    gzip: compression == Compression::Gzip,
                }
            }
        };
        Ok(Exporter {
            endpoint,
            transport,
        })
    }

    /// Sends the non-empty requests of `batches`, retrying as the module docs say.
    pub(crate) async fn export(&self, batches: Batches) -> Result<Delivery, ExportError> {
        let counts = batches.counts();
        let mut delivery = Delivery::default();
        if counts.spans > 0 {
            let (rejected, retries) = self
                .send(Signal::Traces, Request::Traces(batches.traces))
                .await?;
            delivery.sent.spans = counts.spans;
            delivery.rejected.spans = rejected;
            delivery.requests += 1;
            delivery.retries += retries;
        }
        if counts.log_records > 0 {
            let (rejected, retries) = self.send(Signal::Logs, Request::Logs(batches.logs)).await?;
            delivery.sent.log_records = counts.log_records;
            delivery.rejected.log_records = rejected;
            delivery.requests += 1;
            delivery.retries += retries;
        }
        if counts.data_points > 0 {
            let (rejected, retries) = self
                .send(Signal::Metrics, Request::Metrics(batches.metrics))
                .await?;
            delivery.sent.data_points = counts.data_points;
            delivery.rejected.data_points = rejected;
            delivery.requests += 1;
            delivery.retries += retries;
        }
        Ok(delivery)
    }

    /// One request with retries: (records rejected, retries made).
    async fn send(&self, signal: Signal, request: Request) -> Result<(u64, u64), ExportError> {
        match &self.transport {
            Transport::Grpc(clients) => {
                self.retry(signal, || async {
                    Ok(grpc_attempt(clients, request.clone()).await)
                })
                .await
            }
            Transport::Http { agent, json, gzip } => {
                let body = encode(signal, &request, *json, *gzip)?;
                let url = format!("{}{}", self.endpoint, signal.path());
                self.retry(signal, || {
                    http_attempt(
                        agent.clone(),
                        url.clone(),
                        body.clone(),
                        *json,
                        *gzip,
                        signal,
                    )
                })
                .await
            }
        }
    }

    /// Runs `attempt` until it is accepted or refused, or the attempts run out.
    async fn retry<F, Fut>(&self, signal: Signal, mut attempt: F) -> Result<(u64, u64), ExportError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Attempt, ExportError>>,
    {
        let mut last = String::new();
        for n in 0..RETRY.attempts {
            match attempt().await? {
                Attempt::Accepted(rejected) => {
                    if rejected > 0 {
                        tracing::warn!(%signal, rejected, endpoint = %self.endpoint, "records rejected");
                    }
                    return Ok((rejected, u64::from(n)));
                }
                Attempt::Refused { status, message } => {
                    return Err(ExportError::Refused {
                        signal,
                        endpoint: self.endpoint.clone(),
                        status,
                        message,
                    });
                }
                Attempt::Retry { reason, after } => {
                    let delay = RETRY.delay(n, after);
                    tracing::debug!(%signal, %reason, delay_ms = delay.as_millis() as u64, "retrying export");
                    last = reason;
                    tokio::time::sleep(delay).await;
                }
            }
        }
        Err(ExportError::GaveUp {
            signal,
            endpoint: self.endpoint.clone(),
            attempts: RETRY.attempts,
            last,
        })
    }
}

fn grpc(endpoint: &str, compression: Compression) -> Result<Transport, ExportError> {
    let channel = Channel::from_shared(endpoint.to_string())
        .map_err(|e| ExportError::Endpoint {
            endpoint: endpoint.to_string(),
            reason: e.to_string(),
        })?
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    let mut traces = TraceServiceClient::new(channel.clone());
    let mut logs = LogsServiceClient::new(channel.clone());
    let mut metrics = MetricsServiceClient::new(channel);
    if compression == Compression::Gzip {
        traces = traces.send_compressed(CompressionEncoding::Gzip);
        logs = logs.send_compressed(CompressionEncoding::Gzip);
        metrics = metrics.send_compressed(CompressionEncoding::Gzip);
    }
    Ok(Transport::Grpc(Box::new(GrpcClients {
        traces,
        logs,
        metrics,
    })))
}

#[derive(Debug, Clone)]
enum Request {
    Traces(ExportTraceServiceRequest),
    Logs(ExportLogsServiceRequest),
    Metrics(ExportMetricsServiceRequest),
}

async fn grpc_attempt(clients: &GrpcClients, request: Request) -> Attempt {
    let result = match request {
        Request::Traces(r) => clients.traces.clone().export(r).await.map(|resp| {
            let p = resp.into_inner().partial_success;
            p.map_or(0, |p| p.rejected_spans)
        }),
        Request::Logs(r) => clients.logs.clone().export(r).await.map(|resp| {
            let p = resp.into_inner().partial_success;
            p.map_or(0, |p| p.rejected_log_records)
        }),
        Request::Metrics(r) => clients.metrics.clone().export(r).await.map(|resp| {
            let p = resp.into_inner().partial_success;
            p.map_or(0, |p| p.rejected_data_points)
        }),
    };
    match result {
        Ok(rejected) => Attempt::Accepted(rejected.max(0) as u64),
        Err(status) => {
            use tonic::Code;
            let retry = matches!(
                status.code(),
                Code::Unavailable
                    | Code::ResourceExhausted
                    | Code::DeadlineExceeded
                    | Code::Aborted
            );
            let described = format!("gRPC {:?}: {}", status.code(), status.message());
            if retry {
                Attempt::Retry {
                    reason: described,
                    after: None,
                }
            } else {
                Attempt::Refused {
                    status: format!("gRPC {:?}", status.code()),
                    message: status.message().to_string(),
                }
            }
        }
    }
}

/// The request body for HTTP: protobuf or OTLP/JSON, optionally gzipped.
fn encode(
    signal: Signal,
    request: &Request,
    json: bool,
    gzip: bool,
) -> Result<Vec<u8>, ExportError> {
    let encode_error = |reason: String| ExportError::Encode { signal, reason };
    let body = if json {
        match request {
            Request::Traces(r) => serde_json::to_vec(r),
            Request::Logs(r) => serde_json::to_vec(r),
            Request::Metrics(r) => serde_json::to_vec(r),
        }
        .map_err(|e| encode_error(e.to_string()))?
    } else {
        match request {
            Request::Traces(r) => r.encode_to_vec(),
            Request::Logs(r) => r.encode_to_vec(),
            Request::Metrics(r) => r.encode_to_vec(),
        }
    };
    if !gzip {
        return Ok(body);
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(&body)
        .and_then(|()| encoder.finish())
        .map_err(|e| encode_error(format!("gzip: {e}")))
}

async fn http_attempt(
    agent: ureq::Agent,
    url: String,
    body: Vec<u8>,
    json: bool,
    gzip: bool,
    signal: Signal,
) -> Result<Attempt, ExportError> {
    tokio::task::spawn_blocking(move || http_post(&agent, &url, &body, json, gzip, signal))
        .await
        .map_err(|e| ExportError::Task(e.to_string()))?
}

fn http_post(
    agent: &ureq::Agent,
    url: &str,
    body: &[u8],
    json: bool,
    gzip: bool,
    signal: Signal,
) -> Result<Attempt, ExportError> {
    let content_type = if json {
        "application/json"
    } else {
        "application/x-protobuf"
    };
    let mut request = agent.post(url).header("Content-Type", content_type);
    if gzip {
        request = request.header("Content-Encoding", "gzip");
    }
    let mut response = match request.send(body) {
        Ok(response) => response,
        Err(e) => {
            return Ok(Attempt::Retry {
                reason: format!("HTTP transport error: {e}"),
                after: None,
            });
        }
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = response.body_mut().read_to_vec().unwrap_or_default();
    if status == 200 {
        let rejected =
            rejected_records(signal, &bytes, json).map_err(|reason| ExportError::Response {
                signal,
                endpoint: url.to_string(),
                reason,
            })?;
        return Ok(Attempt::Accepted(rejected));
    }
    let message = error_message(&bytes, json);
    if matches!(status, 429 | 502 | 503 | 504) {
        return Ok(Attempt::Retry {
            reason: format!("HTTP {status}: {message}"),
            after: retry_after,
        });
    }
    Ok(Attempt::Refused {
        status: format!("HTTP {status}"),
        message,
    })
}

/// The partial-success count of a successful response body.
fn rejected_records(signal: Signal, body: &[u8], json: bool) -> Result<u64, String> {
    if body.is_empty() {
        return Ok(0);
    }
    if json {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let field = &value["partialSuccess"][signal.rejected_field()];
        // proto3 JSON writes int64 as a string; accept a number too.
        return Ok(field
            .as_u64()
            .or_else(|| field.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0));
    }
    let rejected = match signal {
        Signal::Traces => ExportTraceServiceResponse::decode(body)
            .map(|r| r.partial_success.map_or(0, |p| p.rejected_spans)),
        Signal::Logs => ExportLogsServiceResponse::decode(body)
            .map(|r| r.partial_success.map_or(0, |p| p.rejected_log_records)),
        Signal::Metrics => ExportMetricsServiceResponse::decode(body)
            .map(|r| r.partial_success.map_or(0, |p| p.rejected_data_points)),
    };
    rejected.map(|n| n.max(0) as u64).map_err(|e| e.to_string())
}

/// `google.rpc.Status`, which OTLP/HTTP error bodies carry.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The server's message from an error body, or the body itself as text.
fn error_message(body: &[u8], json: bool) -> String {
    let message = if json {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
    } else {
        RpcStatus::decode(body)
            .ok()
            .map(|s| s.message)
            .filter(|m| !m.is_empty())
    };
    message.unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn protocols_parse_from_the_otel_names() {
        assert_eq!("grpc".parse::<Protocol>().unwrap(), Protocol::Grpc);
        assert_eq!(
            "http/protobuf".parse::<Protocol>().unwrap(),
            Protocol::HttpProtobuf
        );
        assert_eq!("http/json".parse::<Protocol>().unwrap(), Protocol::HttpJson);
        assert!("thrift".parse::<Protocol>().is_err());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_honours_retry_after() {
        assert_eq!(RETRY.delay(0, None), Duration::from_millis(100));
        assert_eq!(RETRY.delay(3, None), Duration::from_millis(800));
        assert_eq!(RETRY.delay(9, None), Duration::from_secs(8));
        assert_eq!(
            RETRY.delay(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            RETRY.delay(0, Some(Duration::from_secs(600))),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn partial_success_is_read_from_json_strings_numbers_and_protobuf() {
        let body = br#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"bad id"}}"#;
        assert_eq!(rejected_records(Signal::Traces, body, true), Ok(3));
        let body = br#"{"partialSuccess":{"rejectedLogRecords":2}}"#;
        assert_eq!(rejected_records(Signal::Logs, body, true), Ok(2));
        assert_eq!(rejected_records(Signal::Metrics, b"{}", true), Ok(0));
        let response = ExportMetricsServiceResponse {
            partial_success: Some(
                opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsPartialSuccess {
                    rejected_data_points: 5,
                    error_message: String::new(),
                },
            ),
        };
        assert_eq!(
            rejected_records(Signal::Metrics, &response.encode_to_vec(), false),
            Ok(5)
        );
    }

    #[test]
    fn error_messages_come_from_rpc_status_bodies() {
        let status = RpcStatus {
            code: 3,
            message: "traceId must be 16 bytes".into(),
        };
        assert_eq!(
            error_message(&status.encode_to_vec(), false),
            "traceId must be 16 bytes"
        );
        assert_eq!(
            error_message(br#"{"code":3,"message":"nope"}"#, true),
            "nope"
        );
    }

    /// A loopback HTTP server answering each request with the next canned response.
    fn canned_server(responses: Vec<Vec<u8>>) -> String {
        use std::io::{BufRead, BufReader, Read};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for response in responses {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream);
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                reader.read_exact(&mut vec![0; length]).unwrap();
                reader.get_mut().write_all(&response).unwrap();
            }
        });
        address
    }

    fn response(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Type: application/x-protobuf\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    fn one_log_record() -> Batches {
        use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
        let mut batches = Batches::default();
        batches.logs.resource_logs.push(ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord::default()],
                ..Default::default()
            }],
            ..Default::default()
        });
        batches
    }

    #[tokio::test]
    async fn a_503_is_retried_after_the_servers_retry_after() {
        let endpoint = canned_server(vec![
            response("503 Service Unavailable", "Retry-After: 1\r\n", b""),
            response("200 OK", "", b""),
        ]);
        let exporter = Exporter::new(&endpoint, Protocol::HttpProtobuf, Compression::Gzip).unwrap();
        let started = std::time::Instant::now();
        let delivery = exporter.export(one_log_record()).await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(1));
        assert_eq!(delivery.retries, 1);
        assert_eq!(delivery.sent.log_records, 1);
        assert_eq!(delivery.rejected.log_records, 0);
    }

    #[tokio::test]
    async fn a_400_ends_the_export_with_the_servers_message() {
        let status = RpcStatus {
            code: 3,
            message: "logRecords[0].traceId must be 16 bytes".into(),
        };
        let endpoint = canned_server(vec![response(
            "400 Bad Request",
            "",
            &status.encode_to_vec(),
        )]);
        let exporter = Exporter::new(&endpoint, Protocol::HttpProtobuf, Compression::None).unwrap();
        let error = exporter.export(one_log_record()).await.unwrap_err();
        let text = error.to_string();
        assert!(text.contains("logs export refused"), "{text}");
        assert!(
            text.contains("HTTP 400: logRecords[0].traceId must be 16 bytes"),
            "{text}"
        );
    }

    #[test]
    fn only_plain_http_endpoints_are_accepted() {
        let err = Exporter::new(
            "https://example.invalid:4317",
            Protocol::Grpc,
            Compression::None,
        );
        assert!(matches!(err, Err(ExportError::Endpoint { .. })));
    }
}
