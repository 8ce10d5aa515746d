//! The OTLP/gRPC receiver: the Trace, Metrics and Logs `Export` methods.
//!
//! Requests reach [`super::ingest`] as raw protobuf bytes through a pass-through codec,
//! so the bytes that were received are the bytes written to the WAL and decode errors
//! get `INVALID_ARGUMENT` with the decoder's message. gzip and zstd request compression
//! are accepted. Status codes follow the OTLP specification: malformed or oversized input
//! `INVALID_ARGUMENT` (not retried), a full buffer `UNAVAILABLE` (retried with backoff).

use std::convert::Infallible;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::codegen::{BoxFuture, StdError, http};
use tonic::server::NamedService;
use tonic::{Code, Status};
use tracing::info;

use super::{Encoding, Export, IngestError, ingest};
use crate::store::{Store, StoreError};

/// Passes message bytes through untouched in both directions (also used by the ingest
/// benchmark to send pre-encoded requests).
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

#[derive(Debug, Clone, Copy, Default)]
pub struct RawCoder;

impl Encoder for RawCoder {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCoder;
    type Decoder = RawCoder;
    fn encoder(&mut self) -> RawCoder {
        RawCoder
    }
    fn decoder(&mut self) -> RawCoder {
        RawCoder
    }
}

fn status_of(error: IngestError) -> Status {
    match error {
        IngestError::Invalid(message) => Status::invalid_argument(message),
        e @ IngestError::AllRejected { .. } => Status::invalid_argument(e.to_string()),
        IngestError::Store(e @ StoreError::Overloaded { .. }) => {
            unavailable_with_retry_info(e.to_string())
        }
        IngestError::Store(e @ StoreError::Closed) => Status::unavailable(e.to_string()),
        e => Status::internal(e.to_string()),
    }
}

/// Longest a gRPC export may take, from its first byte to the answer.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Seconds a client is asked to wait when the buffer is full (as HTTP's Retry-After).
const RETRY_DELAY_SECONDS: i64 = 2;

/// `UNAVAILABLE` with a `google.rpc.RetryInfo` detail: the OTLP specification's way of
/// telling an exporter when to retry after throttling.
fn unavailable_with_retry_info(message: String) -> Status {
    use prost::Message as _;
    let retry = super::rpc::RetryInfo {
        retry_delay: Some(super::rpc::Duration {
            seconds: RETRY_DELAY_SECONDS,
            nanos: 0,
        }),
    };
    let details = super::rpc::Status {
        code: Code::Unavailable as i32,
        message: message.clone(),
        details: vec![super::rpc::Any {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: retry.encode_to_vec(),
        }],
    };
    Status::with_details(
        Code::Unavailable,
        message,
        Bytes::from(details.encode_to_vec()),
    )
}

/// The gRPC service of one signal. `E` fixes the request type and the service name.
#[derive(Debug)]
pub struct ExportService<E> {
    store: Store,
    max_message_bytes: usize,
    _export: PhantomData<fn() -> E>,
}

impl<E> Clone for ExportService<E> {
    fn clone(&self) -> Self {
        ExportService {
            store: self.store.clone(),
            max_message_bytes: self.max_message_bytes,
            _export: PhantomData,
        }
    }
}

impl<E: Export + Send + 'static> ExportService<E> {
    pub fn new(store: Store, max_message_bytes: usize) -> Self {
        ExportService {
            store,
            max_message_bytes,
            _export: PhantomData,
        }
    }
}

#[derive(Debug)]
struct Unary<E> {
    store: Store,
    _export: PhantomData<fn() -> E>,
}

impl<E: Export + Send + 'static> tonic::server::UnaryService<Bytes> for Unary<E> {
    type Response = Bytes;
    type Future = BoxFuture<tonic::Response<Bytes>, Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let store = self.store.clone();
        Box::pin(async move {
            let outcome = ingest::<E>(&store, Encoding::Protobuf, request.into_inner())
                .await
                .map_err(status_of)?;
            Ok(tonic::Response::new(Bytes::from(E::response_protobuf(
                &outcome.rejected,
            ))))
        })
    }
}

/// tonic reports its own size checks as `OUT_OF_RANGE` (message too large) and
/// `RESOURCE_EXHAUSTED` (decompressed size over the limit). OTLP clients retry the
/// first, so both become `INVALID_ARGUMENT`: resending the same request cannot succeed.
fn size_errors_as_invalid_argument(
    mut response: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    let headers = response.headers_mut();
    let code = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok());
    if matches!(code, Some(c) if c == Code::OutOfRange as i32 || c == Code::ResourceExhausted as i32)
    {
        headers.insert(
            "grpc-status",
            http::HeaderValue::from(Code::InvalidArgument as i32),
        );
    }
    response
}

impl<E, B> tonic::codegen::Service<http::Request<B>> for ExportService<E>
where
    E: Export + Send + 'static,
    ExportService<E>: NamedService,
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let expected = format!("/{}/Export", <Self as NamedService>::NAME);
        if request.uri().path() != expected {
            return Box::pin(async { Ok(Status::unimplemented("unknown method").into_http()) });
        }
        let method = Unary::<E> {
            store: self.store.clone(),
            _export: PhantomData,
        };
        let limit = self.max_message_bytes;
        Box::pin(async move {
            let mut accept = EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            accept.enable(CompressionEncoding::Zstd);
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(limit), None);
            Ok(size_errors_as_invalid_argument(
                grpc.unary(method, request).await,
            ))
        })
    }
}

impl NamedService for ExportService<ExportTraceServiceRequest> {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl NamedService for ExportService<ExportMetricsServiceRequest> {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
}

impl NamedService for ExportService<ExportLogsServiceRequest> {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
}

/// Serves OTLP/gRPC on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Store,
    max_message_bytes: usize,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "OTLP/gRPC listening (TraceService, MetricsService, LogsService)");
    }
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        // The same bound the HTTP receiver puts on receiving a body: a client that stalls
        // mid-request is cut off instead of holding the connection and its buffer.
        .timeout(REQUEST_TIMEOUT)
        .add_service(ExportService::<ExportTraceServiceRequest>::new(
            store.clone(),
            max_message_bytes,
        ))
        .add_service(ExportService::<ExportMetricsServiceRequest>::new(
            store.clone(),
            max_message_bytes,
        ))
        .add_service(ExportService::<ExportLogsServiceRequest>::new(
            store,
            max_message_bytes,
        ))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
