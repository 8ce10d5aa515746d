//! The OTLP/HTTP receiver: `POST /v1/traces`, `/v1/metrics`, `/v1/logs`.
//!
//! - Content types `application/x-protobuf` and `application/json` (parameters such as
//!   `charset` allowed, names case-insensitive); anything else gets 415.
//! - `Content-Encoding` gzip, zstd or identity; the body limit applies to the received
//!   bytes and again to the decompressed bytes, so a decompression bomb stops at the limit.
//! - Responses are the Export*ServiceResponse in the request's encoding; errors carry a
//!   `google.rpc.Status` in that encoding, as the OTLP specification asks. A full buffer
//!   answers 503 with `Retry-After`, which OTLP exporters honour.

use std::io::Read;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use super::{Encoding, Export, IngestError, ingest, json};
use crate::store::{Store, StoreError};

/// Time a client has to send a request's body once its headers arrived.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Seconds a client is asked to wait when the buffer is full.
const RETRY_AFTER_SECONDS: &str = "2";

#[derive(Debug, Clone)]
struct Receiver {
    store: Store,
    max_body_bytes: usize,
}

/// The OTLP/HTTP routes, sharing `store`.
pub fn routes(store: Store, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/v1/traces", post(export::<ExportTraceServiceRequest>))
        .route("/v1/metrics", post(export::<ExportMetricsServiceRequest>))
        .route("/v1/logs", post(export::<ExportLogsServiceRequest>))
        // The limit is enforced while reading, below, with OTLP's error body.
        .layer(DefaultBodyLimit::disable())
        .with_state(Receiver {
            store,
            max_body_bytes,
        })
}

/// Why a request was refused before reaching ingest.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    grpc_code: i32,
    message: String,
}

impl Refusal {
    fn bad_request(message: String) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            grpc_code: tonic::Code::InvalidArgument as i32,
            message,
        }
    }
}

/// Parses a media type such as `application/json; charset=utf-8`.
pub fn parse_content_type(value: &str) -> Option<Encoding> {
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
        "application/json" => Some(Encoding::Json),
        _ => None,
    }
}

fn encoding_of(headers: &HeaderMap) -> Result<Encoding, Refusal> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    parse_content_type(value).ok_or_else(|| Refusal {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        grpc_code: tonic::Code::InvalidArgument as i32,
        message: format!(
            "unsupported content type {value:?}: send application/x-protobuf or application/json"
        ),
    })
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, Refusal> {
    let read = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| {
            Refusal::bad_request(format!(
                "request body not received within {} s",
                BODY_TIMEOUT.as_secs()
            ))
        })?;
    read.map_err(|e| {
        // axum reports the limit only through the error's text.
        if e.to_string().contains("length limit") {
            Refusal::bad_request(format!("request body exceeds the limit of {limit} bytes"))
        } else {
            Refusal::bad_request(format!("cannot read request body: {e}"))
        }
    })
}

/// Decompresses per `Content-Encoding`, never producing more than `limit` bytes.
pub fn decompress(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, String> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        .unwrap_or_default();
    let reader: Box<dyn Read + '_> = match encoding.as_str() {
        "" | "identity" => return Ok(body),
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(body.as_ref())),
        "zstd" => Box::new(
            zstd::stream::read::Decoder::new(body.as_ref())
                .map_err(|e| format!("invalid zstd body: {e}"))?,
        ),
        other => {
            return Err(format!(
                "unsupported Content-Encoding {other:?}: send gzip, zstd or none"
            ));
        }
    };
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("invalid {encoding} body: {e}"))?;
    if out.len() > limit {
        return Err(format!(
            "decompressed request body exceeds the limit of {limit} bytes"
        ));
    }
    Ok(Bytes::from(out))
}

async fn export<E: Export + Send + 'static>(
    State(receiver): State<Receiver>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let response = export_inner::<E>(receiver, &headers, body).await;
    if !response.status().is_success() {
        let reason = response
            .extensions()
            .get::<RefusalReason>()
            .map_or("", |r| r.0.as_str());
        super::log_refusal("http", uri.path(), response.status().as_u16(), reason);
    }
    response
}

/// The message of a refusal, kept on the response for the log line.
#[derive(Debug, Clone)]
struct RefusalReason(String);

async fn export_inner<E: Export + Send + 'static>(
    receiver: Receiver,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let encoding = match encoding_of(headers) {
        Ok(encoding) => encoding,
        Err(refusal) => return refusal_response(refusal, Encoding::Json),
    };
    let body = match read_body(body, receiver.max_body_bytes).await {
        Ok(body) => body,
        Err(refusal) => return refusal_response(refusal, encoding),
    };
    let body = match decompress(headers, body, receiver.max_body_bytes) {
        Ok(body) => body,
        Err(message) => return refusal_response(Refusal::bad_request(message), encoding),
    };
    match ingest::<E>(&receiver.store, encoding, body).await {
        Ok(outcome) => {
            let body = match encoding {
                Encoding::Protobuf => E::response_protobuf(&outcome.rejected),
                Encoding::Json => json::encode_partial_success_response(
                    E::REJECTED_FIELD,
                    outcome.rejected.count,
                    &outcome.rejected.message(),
                ),
            };
            with_body(StatusCode::OK, encoding, body)
        }
        Err(error) => refusal_response(refusal_of(error), encoding),
    }
}

fn refusal_of(error: IngestError) -> Refusal {
    match error {
        IngestError::Invalid(message) => Refusal::bad_request(message),
        e @ IngestError::AllRejected { .. } => Refusal::bad_request(e.to_string()),
        IngestError::Store(e @ (StoreError::Overloaded { .. } | StoreError::Closed)) => Refusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            grpc_code: tonic::Code::Unavailable as i32,
            message: e.to_string(),
        },
        e => Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            grpc_code: tonic::Code::Internal as i32,
            message: e.to_string(),
        },
    }
}

fn refusal_response(refusal: Refusal, encoding: Encoding) -> Response {
    let reason = RefusalReason(refusal.message.clone());
    let body = match encoding {
        Encoding::Protobuf => super::rpc::Status {
            code: refusal.grpc_code,
            message: refusal.message,
            details: Vec::new(),
        }
        .encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&serde_json::json!({
            "code": refusal.grpc_code,
            "message": refusal.message,
        }))
        .unwrap_or_default(),
    };
    let mut response = with_body(refusal.status, encoding, body);
    response.extensions_mut().insert(reason);
    if refusal.status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
    }
    response
}

fn with_body(status: StatusCode, encoding: Encoding, body: Vec<u8>) -> Response {
    let content_type = match encoding {
        Encoding::Protobuf => "application/x-protobuf",
        Encoding::Json => "application/json",
    };
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_are_parsed_with_parameters_and_any_case() {
        assert_eq!(parse_content_type("application/json"), Some(Encoding::Json));
        assert_eq!(
            parse_content_type("Application/JSON; charset=utf-8"),
            Some(Encoding::Json)
        );
        assert_eq!(
            parse_content_type("application/x-protobuf"),
            Some(Encoding::Protobuf)
        );
        assert_eq!(
            parse_content_type(" application/x-protobuf ;foo=bar"),
            Some(Encoding::Protobuf)
        );
        assert_eq!(parse_content_type("text/plain"), None);
        assert_eq!(parse_content_type("application/jsonx"), None);
        assert_eq!(parse_content_type(""), None);
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_limit() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 10 << 20]).unwrap();
        let bomb = Bytes::from(gz.finish().unwrap());
        assert!(bomb.len() < 64 << 10);
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        let err = decompress(&headers, bomb, 1 << 20).unwrap_err();
        assert!(err.contains("exceeds the limit of 1048576 bytes"), "{err}");
    }

    #[test]
    fn zstd_and_gzip_bodies_decompress() {
        let data = b"hello otlp".repeat(100);
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("zstd"));
        let z = zstd::encode_all(&data[..], 3).unwrap();
        assert_eq!(
            decompress(&headers, Bytes::from(z), 1 << 20).unwrap(),
            Bytes::from(data.clone())
        );
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert!(
            decompress(&headers, Bytes::from_static(b"x"), 10)
                .unwrap_err()
                .contains("unsupported")
        );
    }
}
