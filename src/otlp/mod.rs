//! OTLP receivers: gRPC and HTTP front ends, decoding, validation and conversion to rows.
//!
//! ```text
//!  gRPC (grpc.rs) ─┐                 ┌─ protobuf: prost decode
//!                  ├─► ingest() ─────┤                            ─► validate ─► convert ─► Store::append
//!  HTTP (http.rs) ─┘                 └─ JSON: json.rs
//! ```
//!
//! Every front end goes through [`ingest`], so both protocols and both encodings accept and
//! reject exactly the same things. The WAL gets the request as protobuf: the received
//! bytes when nothing was rejected, the re-encoded remainder otherwise.

pub mod attributes;
pub mod convert;
pub mod grpc;
pub mod http;
pub mod json;
pub mod rpc;
pub mod validate;

use arrow::array::RecordBatch;
use arrow::error::ArrowError;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tracing::{debug, warn};

use crate::store::{Signal, Store, StoreError, Table};
use validate::Rejections;

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

/// What happened to the records of an accepted request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub accepted: u64,
    pub rejected: Rejections,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The request as a whole cannot be read (HTTP 400 / INVALID_ARGUMENT).
    #[error("{0}")]
    Invalid(String),
    /// Every record in the request was rejected (HTTP 400 / INVALID_ARGUMENT).
    #[error("all {count} records rejected: {message}")]
    AllRejected { count: u64, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot convert records to rows: {0}")]
    Convert(#[from] ArrowError),
}

/// Per-row memory beyond the values themselves (offsets, fixed-width columns, JSON
/// punctuation), for [`Export::estimated_row_bytes`].
const ROW_OVERHEAD: usize = 256;

/// Upper bound on the text a record's own values become: no protobuf byte turns into
/// more than six bytes of stored text (a control character is escaped as `\u00XX`).
const TEXT_PER_PROTOBUF_BYTE: usize = 6;

/// Bytes a resource adds to each row beneath it: its attributes as stored JSON, its
/// `service.name` again, its entity references.
fn resource_row_bytes(
    resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>,
) -> usize {
    resource.map_or(0, |r| {
        let service_name = r
            .attributes
            .iter()
            .find(|kv| kv.key == "service.name")
            .map_or(0, |kv| kv.encoded_len() * TEXT_PER_PROTOBUF_BYTE);
        attributes::to_json(&r.attributes).len()
            + service_name
            + r.entity_refs
                .iter()
                .map(Message::encoded_len)
                .sum::<usize>()
                * TEXT_PER_PROTOBUF_BYTE
    })
}

/// Bytes a scope adds to each row beneath it.
fn scope_row_bytes(
    scope: Option<&opentelemetry_proto::tonic::common::v1::InstrumentationScope>,
) -> usize {
    scope.map_or(0, |s| {
        attributes::to_json(&s.attributes).len() + s.name.len() + s.version.len()
    })
}

/// Upper bound on the row bytes of `records` under one resource and scope: the resource
/// and scope repeated per row, plus the records' own values.
fn expansion<M: Message>(
    resource: usize,
    scope: Option<&opentelemetry_proto::tonic::common::v1::InstrumentationScope>,
    records: &[M],
) -> usize {
    records.len() * (resource + scope_row_bytes(scope) + ROW_OVERHEAD)
        + records.iter().map(Message::encoded_len).sum::<usize>() * TEXT_PER_PROTOBUF_BYTE
}

/// An OTLP export request type.
pub trait Export: Message + Default + Sized {
    const SIGNAL: Signal;
    /// The name of the partial-success counter in the response (`rejectedSpans`, …).
    const REJECTED_FIELD: &'static str;
    fn decode_json(body: &[u8]) -> Result<json::Decoded<Self>, json::JsonError>;
    fn validate(&mut self) -> Rejections;
    fn records(&self) -> u64;
    /// A cheap upper estimate of the bytes its rows will take in memory. Resource and
    /// scope values are repeated on every row beneath them, so a small request with a
    /// large resource can expand a thousandfold.
    fn estimated_row_bytes(&self) -> usize;
    fn to_rows(&self) -> Result<Vec<(Table, RecordBatch)>, ArrowError>;
    /// The Export*ServiceResponse as protobuf, with partial success when records were
    /// rejected.
    fn response_protobuf(rejected: &Rejections) -> Vec<u8>;
}

fn partial(rejected: &Rejections) -> Option<(i64, String)> {
    (rejected.count > 0).then(|| (rejected.count as i64, rejected.message()))
}

impl Export for ExportTraceServiceRequest {
    const SIGNAL: Signal = Signal::Traces;
    const REJECTED_FIELD: &'static str = "rejectedSpans";
    fn decode_json(body: &[u8]) -> Result<json::Decoded<Self>, json::JsonError> {
        json::decode_traces(body)
    }
    fn validate(&mut self) -> Rejections {
        validate::traces(self)
    }
    fn estimated_row_bytes(&self) -> usize {
        self.resource_spans
            .iter()
            .map(|r| {
                let resource = resource_row_bytes(r.resource.as_ref());
                r.scope_spans
                    .iter()
                    .map(|s| expansion(resource, s.scope.as_ref(), &s.spans))
                    .sum::<usize>()
            })
            .sum()
    }
    fn records(&self) -> u64 {
        validate::span_count(self)
    }
    fn to_rows(&self) -> Result<Vec<(Table, RecordBatch)>, ArrowError> {
        Ok(convert::spans(self)?
            .map(|b| (Table::Spans, b))
            .into_iter()
            .collect())
    }
    fn response_protobuf(rejected: &Rejections) -> Vec<u8> {
        use opentelemetry_proto::tonic::collector::trace::v1::{
            ExportTracePartialSuccess, ExportTraceServiceResponse,
        };
        ExportTraceServiceResponse {
            partial_success: partial(rejected).map(|(rejected_spans, error_message)| {
                ExportTracePartialSuccess {
                    rejected_spans,
                    error_message,
                }
            }),
        }
        .encode_to_vec()
    }
}

impl Export for ExportLogsServiceRequest {
    const SIGNAL: Signal = Signal::Logs;
    const REJECTED_FIELD: &'static str = "rejectedLogRecords";
    fn decode_json(body: &[u8]) -> Result<json::Decoded<Self>, json::JsonError> {
        json::decode_logs(body)
    }
    fn validate(&mut self) -> Rejections {
        validate::logs(self)
    }
    fn estimated_row_bytes(&self) -> usize {
        self.resource_logs
            .iter()
            .map(|r| {
                let resource = resource_row_bytes(r.resource.as_ref());
                r.scope_logs
                    .iter()
                    .map(|s| expansion(resource, s.scope.as_ref(), &s.log_records))
                    .sum::<usize>()
            })
            .sum()
    }
    fn records(&self) -> u64 {
        validate::log_count(self)
    }
    fn to_rows(&self) -> Result<Vec<(Table, RecordBatch)>, ArrowError> {
        Ok(convert::logs(self)?
            .map(|b| (Table::Logs, b))
            .into_iter()
            .collect())
    }
    fn response_protobuf(rejected: &Rejections) -> Vec<u8> {
        use opentelemetry_proto::tonic::collector::logs::v1::{
            ExportLogsPartialSuccess, ExportLogsServiceResponse,
        };
        ExportLogsServiceResponse {
            partial_success: partial(rejected).map(|(rejected_log_records, error_message)| {
                ExportLogsPartialSuccess {
                    rejected_log_records,
                    error_message,
                }
            }),
        }
        .encode_to_vec()
    }
}

impl Export for ExportMetricsServiceRequest {
    const SIGNAL: Signal = Signal::Metrics;
    const REJECTED_FIELD: &'static str = "rejectedDataPoints";
    fn decode_json(body: &[u8]) -> Result<json::Decoded<Self>, json::JsonError> {
        json::decode_metrics(body)
    }
    fn validate(&mut self) -> Rejections {
        validate::metrics(self)
    }
    fn estimated_row_bytes(&self) -> usize {
        self.resource_metrics
            .iter()
            .map(|r| {
                let resource = resource_row_bytes(r.resource.as_ref());
                r.scope_metrics
                    .iter()
                    .map(|s| {
                        let scope = scope_row_bytes(s.scope.as_ref());
                        s.metrics
                            .iter()
                            .map(|m| {
                                let points = validate::metric_point_count(m) as usize;
                                let metric = m.name.len()
                                    + m.description.len()
                                    + m.unit.len()
                                    + attributes::to_json(&m.metadata).len();
                                points * (resource + scope + metric + ROW_OVERHEAD)
                                    + m.encoded_len() * TEXT_PER_PROTOBUF_BYTE
                            })
                            .sum::<usize>()
                    })
                    .sum::<usize>()
            })
            .sum()
    }
    fn records(&self) -> u64 {
        validate::point_count(self)
    }
    fn to_rows(&self) -> Result<Vec<(Table, RecordBatch)>, ArrowError> {
        convert::metrics(self)
    }
    fn response_protobuf(rejected: &Rejections) -> Vec<u8> {
        use opentelemetry_proto::tonic::collector::metrics::v1::{
            ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
        };
        ExportMetricsServiceResponse {
            partial_success: partial(rejected).map(|(rejected_data_points, error_message)| {
                ExportMetricsPartialSuccess {
                    rejected_data_points,
                    error_message,
                }
            }),
        }
        .encode_to_vec()
    }
}

/// Decodes, validates, converts and stores one export request.
pub async fn ingest<E: Export>(
    store: &Store,
    encoding: Encoding,
    body: Bytes,
) -> Result<Outcome, IngestError> {
    // Under overload, refuse before paying for decoding and conversion.
    store.check_capacity()?;
    let (mut request, mut rejected) = match encoding {
        Encoding::Protobuf => {
            let request = E::decode(body.as_ref()).map_err(|e| {
                IngestError::Invalid(format!(
                    "invalid protobuf {}: {e}",
                    E::SIGNAL.request_name()
                ))
            })?;
            (request, Rejections::default())
        }
        Encoding::Json => {
            let decoded = E::decode_json(&body).map_err(|e| IngestError::Invalid(e.to_string()))?;
            let mut rejected = Rejections::default();
            if let Some(message) = decoded.first_error {
                rejected.add(decoded.rejected, || message);
            }
            (decoded.request, rejected)
        }
    };
    rejected.merge(request.validate());
    let accepted = request.records();
    let counted = crate::metrics::signal_index(E::SIGNAL);
    if let Some(i) = counted {
        crate::metrics::REJECTED_RECORDS[i].add(rejected.count);
    }
    if accepted == 0 && rejected.count > 0 {
        return Err(IngestError::AllRejected {
            count: rejected.count,
            message: rejected.message(),
        });
    }
    if rejected.count > 0 && PARTIAL_LOG.allow() {
        warn!(
            signal = ?E::SIGNAL,
            accepted,
            rejected = rejected.count,
            reason = %redact_quoted(&rejected.message()),
            partial_since_last_log = PARTIAL_LOG.take_suppressed(),
            "records rejected"
        );
    }
    let estimate = request.estimated_row_bytes();
    let limit = store.max_request_row_bytes();
    if estimate > limit {
        return Err(IngestError::Invalid(format!(
            "request would take about {estimate} bytes in memory once converted (resource and scope values \
             are repeated on each of its {accepted} records), over the limit of {limit}: send fewer records per request"
        )));
    }
    let rows = request.to_rows()?;
    let payload = if encoding == Encoding::Protobuf && rejected.count == 0 {
        body
    } else {
        Bytes::from(request.encode_to_vec())
    };
    store.append(E::SIGNAL, payload, rows).await?;
    if let Some(i) = counted {
        crate::metrics::INGESTED_RECORDS[i].add(accepted);
    }
    debug!(signal = ?E::SIGNAL, accepted, "export stored");
    Ok(Outcome { accepted, rejected })
}

static REFUSAL_LOG: crate::logging::RateLimit = crate::logging::RateLimit::new();
static PARTIAL_LOG: crate::logging::RateLimit = crate::logging::RateLimit::new();

/// Logs a request refused as a whole (at most once a second; the rest are counted), so an
/// operator whose client reports errors finds the reason on the server side too.
pub fn log_refusal(protocol: &'static str, path: &str, status: u16, message: &str) {
    if REFUSAL_LOG.allow() {
        warn!(
            protocol,
            path,
            status,
            reason = %redact_quoted(message),
            refused_since_last_log = REFUSAL_LOG.take_suppressed(),
            "request refused"
        );
    }
}

/// The message with every quoted client value replaced by `"…"`: error messages quote
/// the offending value for the client's benefit, but payload contents stay out of logs.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        if c == '"' {
            if inside {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// Turns a WAL record back into rows (the store's replay decoder).
pub fn rows_from_wal(signal: Signal, payload: &[u8]) -> Result<Vec<(Table, RecordBatch)>, String> {
    fn rows<E: Export>(payload: &[u8]) -> Result<Vec<(Table, RecordBatch)>, String> {
        let request = E::decode(payload).map_err(|e| e.to_string())?;
        request.to_rows().map_err(|e| e.to_string())
    }
    match signal {
        Signal::Traces => rows::<ExportTraceServiceRequest>(payload),
        Signal::Metrics => rows::<ExportMetricsServiceRequest>(payload),
        Signal::Logs => rows::<ExportLogsServiceRequest>(payload),
        Signal::Derived => Err("derived rows are not an OTLP export".to_owned()),
    }
}

impl Signal {
    pub(crate) fn request_name(self) -> &'static str {
        match self {
            Signal::Traces => "ExportTraceServiceRequest",
            Signal::Metrics => "ExportMetricsServiceRequest",
            Signal::Logs => "ExportLogsServiceRequest",
            Signal::Derived => "derived rows",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_reasons_keep_the_path_and_drop_quoted_values() {
        assert_eq!(
            redact_quoted(r#"resourceSpans[0].spans[1].traceId: invalid hex "zz-secret-token""#),
            r#"resourceSpans[0].spans[1].traceId: invalid hex "…""#
        );
        assert_eq!(redact_quoted("no quotes here"), "no quotes here");
    }
}
