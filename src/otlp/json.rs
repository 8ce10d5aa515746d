//! OTLP/JSON codec for the OTLP/HTTP receiver.
//!
//! This module owns the translation between OTLP/JSON request bodies and the
//! prost types of `opentelemetry-proto`:
//!
//! * [`decode_traces`], [`decode_metrics`] and [`decode_logs`] turn an
//!   `Export*ServiceRequest` body into its prost message, following the
//!   proto3 JSON mapping with the OTLP exceptions: trace and span ids are hex
//!   strings (any case), enums are integers (names are accepted too), and
//!   lowerCamelCase keys are expected (the original snake_case names are
//!   accepted as well). Unknown fields are ignored and `null` means "absent".
//! * [`encode_partial_success_response`] renders the `Export*ServiceResponse`
//!   body.
//!
//! Errors come in two kinds. A structural problem (not JSON, a value of the
//! wrong JSON type, an unparsable number) fails the whole request with a
//! [`JsonError`] naming the path. A malformed id (bad hex) only rejects the
//! record that holds it (span, log record or metric data point): the record
//! is dropped and counted in [`Decoded::rejected`], and decoding goes on.
//! Id lengths are not checked here; that is the validator's job.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    Summary, SummaryDataPoint, exemplar, exponential_histogram_data_point::Buckets, metric,
    number_data_point, summary_data_point::ValueAtQuantile,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};
use serde_json::{Map, Value as Json};
use std::fmt::Write as _;

/// How deeply `arrayValue` / `kvlistValue` may nest inside one attribute.
const MAX_ANY_VALUE_DEPTH: usize = 128;

/// Longest slice of an offending string quoted back in an error message.
const MAX_QUOTED_CHARS: usize = 64;

/// Every integer of at most this magnitude is exactly representable as f64.
const F64_EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53

const BASE64_CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const BASE64_STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, BASE64_CONFIG);
const BASE64_URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, BASE64_CONFIG);

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

/// A decoded request plus the records dropped for having malformed ids.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decoded<T> {
    /// The request, without the rejected records.
    pub request: T,
    /// How many spans / data points / log records were dropped.
    pub rejected: u64,
    /// Why the first of them was dropped (path and problem).
    pub first_error: Option<String>,
}

/// Why a whole OTLP/JSON request could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The body is not well-formed JSON (this includes nesting deeper than
    /// the JSON parser's recursion limit).
    #[error("invalid JSON at line {line} column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// The body is JSON but does not have the shape of an OTLP request.
    #[error("{path}: {message}")]
    Schema { path: String, message: String },
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` body.
///
/// # Errors
///
/// [`JsonError`] when the body is not JSON or not shaped like the request;
/// records with malformed ids are dropped and counted instead.
pub fn decode_traces(body: &[u8]) -> Result<Decoded<ExportTraceServiceRequest>, JsonError> {
    let root = Path::ROOT;
    let mut rejections = Rejections::default();
    let mut request = ExportTraceServiceRequest::default();
    for (key, value) in fields(parse(body)?, &root)? {
        if let "resourceSpans" | "resource_spans" = key.as_str() {
            request.resource_spans = list(value, &root.field("resourceSpans"), |v, p| {
                resource_spans(v, p, &mut rejections)
            })?;
        }
    }
    Ok(rejections.finish(request))
}

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest` body.
///
/// # Errors
///
/// [`JsonError`] when the body is not JSON or not shaped like the request;
/// records with malformed ids are dropped and counted instead.
pub fn decode_metrics(body: &[u8]) -> Result<Decoded<ExportMetricsServiceRequest>, JsonError> {
    let root = Path::ROOT;
    let mut rejections = Rejections::default();
    let mut request = ExportMetricsServiceRequest::default();
    for (key, value) in fields(parse(body)?, &root)? {
        if let "resourceMetrics" | "resource_metrics" = key.as_str() {
            request.resource_metrics = list(value, &root.field("resourceMetrics"), |v, p| {
                resource_metrics(v, p, &mut rejections)
            })?;
        }
    }
    Ok(rejections.finish(request))
}

/// Decodes an OTLP/JSON `ExportLogsServiceRequest` body.
///
/// # Errors
///
/// [`JsonError`] when the body is not JSON or not shaped like the request;
/// records with malformed ids are dropped and counted instead.
pub fn decode_logs(body: &[u8]) -> Result<Decoded<ExportLogsServiceRequest>, JsonError> {
    let root = Path::ROOT;
    let mut rejections = Rejections::default();
    let mut request = ExportLogsServiceRequest::default();
    for (key, value) in fields(parse(body)?, &root)? {
        if let "resourceLogs" | "resource_logs" = key.as_str() {
            request.resource_logs = list(value, &root.field("resourceLogs"), |v, p| {
                resource_logs(v, p, &mut rejections)
            })?;
        }
    }
    Ok(rejections.finish(request))
}

/// Renders an `Export*ServiceResponse` as OTLP/JSON.
///
/// `rejected_field` is `rejectedSpans`, `rejectedDataPoints` or
/// `rejectedLogRecords`. A full success is `{}`; otherwise the count is
/// written as a string (proto3 JSON int64) and `errorMessage` only when set.
#[must_use]
pub fn encode_partial_success_response(
    rejected_field: &str,
    rejected: u64,
    error_message: &str,
) -> Vec<u8> {
    if rejected == 0 && error_message.is_empty() {
        return b"{}".to_vec();
    }
    let mut out = String::from("{\"partialSuccess\":{");
    out.push_str(&json_string(rejected_field));
    out.push(':');
    out.push_str(&json_string(&rejected.to_string()));
    if !error_message.is_empty() {
        out.push_str(",\"errorMessage\":");
        out.push_str(&json_string(error_message));
    }
    out.push_str("}}");
    out.into_bytes()
}

// ---------------------------------------------------------------------------
// Paths and bookkeeping
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Step {
    Root,
    Field(&'static str),
    Index(usize),
}

/// Where in the request a value sits: a chain of stack frames that is only
/// turned into a string (`resourceSpans[0].scopeSpans[1].spans[2].name`)
/// when an error has to be reported.
#[derive(Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    step: Step,
}

impl Path<'static> {
    const ROOT: Self = Path {
        parent: None,
        step: Step::Root,
    };
}

impl<'a> Path<'a> {
    fn field(&'a self, name: &'static str) -> Path<'a> {
        Path {
            parent: Some(self),
            step: Step::Field(name),
        }
    }

    fn index(&'a self, index: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            step: Step::Index(index),
        }
    }

    fn render(&self) -> String {
        let mut steps = Vec::new();
        let mut current = Some(self);
        while let Some(path) = current {
            steps.push(path.step);
            current = path.parent;
        }
        let mut out = String::new();
        for step in steps.into_iter().rev() {
            match step {
                Step::Root => {}
                Step::Field(name) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(name);
                }
                Step::Index(index) => {
                    let _ = write!(out, "[{index}]");
                }
            }
        }
        if out.is_empty() {
            out.push_str("request body");
        }
        out
    }

    fn error(&self, message: impl Into<String>) -> JsonError {
        JsonError::Schema {
            path: self.render(),
            message: message.into(),
        }
    }

    fn expected(&self, what: &str, got: &Json) -> JsonError {
        self.error(format!("expected {what}, got {}", describe(got)))
    }
}

/// Records dropped so far in one request.
#[derive(Default)]
struct Rejections {
    count: u64,
    first_error: Option<String>,
}

impl Rejections {
    fn reject(&mut self, message: String) {
        self.count += 1;
        if self.first_error.is_none() {
            self.first_error = Some(message);
        }
    }

    fn finish<T>(self, request: T) -> Decoded<T> {
        Decoded {
            request,
            rejected: self.count,
            first_error: self.first_error,
        }
    }
}

/// The first malformed id met while decoding one record, if any.
#[derive(Default)]
struct BadId(Option<String>);

// ---------------------------------------------------------------------------
// Generic JSON helpers
// ---------------------------------------------------------------------------

fn parse(body: &[u8]) -> Result<Json, JsonError> {
    serde_json::from_slice(body).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        JsonError::Syntax {
            line: e.line(),
            column: e.column(),
            message,
        }
    })
}

fn object(value: Json, path: &Path) -> Result<Map<String, Json>, JsonError> {
    match value {
        Json::Object(map) => Ok(map),
        other => Err(path.expected("an object", &other)),
    }
}

/// The non-null members of a JSON object (`null` means "field absent").
fn fields(value: Json, path: &Path) -> Result<impl Iterator<Item = (String, Json)>, JsonError> {
    Ok(object(value, path)?
        .into_iter()
        .filter(|(_, value)| !value.is_null()))
}

fn array(value: Json, path: &Path) -> Result<Vec<Json>, JsonError> {
    match value {
        Json::Array(items) => Ok(items),
        other => Err(path.expected("an array", &other)),
    }
}

/// Decodes every element of a JSON array.
fn list<T>(
    value: Json,
    path: &Path,
    mut decode: impl FnMut(Json, &Path) -> Result<T, JsonError>,
) -> Result<Vec<T>, JsonError> {
    let items = array(value, path)?;
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        out.push(decode(item, &path.index(index))?);
    }
    Ok(out)
}

/// Decodes an array of records, dropping (and counting) those with bad ids.
fn records<T>(
    value: Json,
    path: &Path,
    rejections: &mut Rejections,
    mut decode: impl FnMut(Json, &Path, &mut BadId) -> Result<T, JsonError>,
) -> Result<Vec<T>, JsonError> {
    let items = array(value, path)?;
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let mut bad = BadId::default();
        let record = decode(item, &path.index(index), &mut bad)?;
        match bad.0 {
            None => out.push(record),
            Some(message) => rejections.reject(message),
        }
    }
    Ok(out)
}

fn set_oneof<T>(slot: &mut Option<T>, value: T, path: &Path) -> Result<(), JsonError> {
    if slot.is_some() {
        return Err(path.error("more than one member of a oneof is set"));
    }
    *slot = Some(value);
    Ok(())
}

fn describe(value: &Json) -> String {
    match value {
        Json::Null => "null".to_owned(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => quote(s),
        Json::Array(_) => "an array".to_owned(),
        Json::Object(_) => "an object".to_owned(),
    }
}

fn quote(s: &str) -> String {
    if s.chars().count() <= MAX_QUOTED_CHARS {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(MAX_QUOTED_CHARS).collect();
        format!("{head:?}...")
    }
}

fn json_string(s: &str) -> String {
    Json::String(s.to_owned()).to_string()
}

// ---------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------

fn string(value: Json, path: &Path) -> Result<String, JsonError> {
    match value {
        Json::String(s) => Ok(s),
        other => Err(path.expected("a string", &other)),
    }
}

fn boolean(value: Json, path: &Path) -> Result<bool, JsonError> {
    match value {
        Json::Bool(b) => Ok(b),
        other => Err(path.expected("true or false", &other)),
    }
}

/// An f64 that holds an integer exactly (no fraction, within ±2^53).
fn exact_i64(f: f64) -> Option<i64> {
    (f.fract() == 0.0 && f.abs() <= F64_EXACT_INT_LIMIT).then_some(f as i64)
}

/// Parses a string integer; "1e3"-style strings are accepted when exact.
fn parse_int_str<T: std::str::FromStr + TryFrom<i64>>(s: &str) -> Option<T> {
    if let Ok(v) = s.parse::<T>() {
        return Some(v);
    }
    if !s.contains(['.', 'e', 'E']) {
        return None;
    }
    let f = s.parse::<f64>().ok()?;
    T::try_from(exact_i64(f)?).ok()
}

fn json_u64(value: &Json) -> Option<u64> {
    match value {
        Json::Number(n) => n.as_u64().or_else(|| {
            let i = exact_i64(n.as_f64()?)?;
            u64::try_from(i).ok()
        }),
        Json::String(s) => parse_int_str(s),
        _ => None,
    }
}

fn json_i64(value: &Json) -> Option<i64> {
    match value {
        Json::Number(n) => n.as_i64().or_else(|| exact_i64(n.as_f64()?)),
        Json::String(s) => parse_int_str(s),
        _ => None,
    }
}

fn uint64(value: Json, path: &Path) -> Result<u64, JsonError> {
    json_u64(&value)
        .ok_or_else(|| path.expected("an unsigned 64-bit integer as a string or number", &value))
}

fn int64(value: Json, path: &Path) -> Result<i64, JsonError> {
    json_i64(&value)
        .ok_or_else(|| path.expected("a signed 64-bit integer as a string or number", &value))
}

fn uint32(value: Json, path: &Path) -> Result<u32, JsonError> {
    json_u64(&value)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| path.expected("an unsigned 32-bit integer as a number or string", &value))
}

fn int32(value: Json, path: &Path) -> Result<i32, JsonError> {
    json_i64(&value)
        .and_then(|v| i32::try_from(v).ok())
        .ok_or_else(|| path.expected("a signed 32-bit integer as a number or string", &value))
}

fn double(value: Json, path: &Path) -> Result<f64, JsonError> {
    let parsed = match &value {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.parse::<f64>().ok().filter(|f| f.is_finite()),
        },
        _ => None,
    };
    parsed.ok_or_else(|| {
        path.expected(
            "a number or one of \"NaN\", \"Infinity\", \"-Infinity\"",
            &value,
        )
    })
}

/// An enum: its integer (kept even when unknown), or its proto name.
fn enumeration(
    value: Json,
    path: &Path,
    by_name: fn(&str) -> Option<i32>,
) -> Result<i32, JsonError> {
    let parsed = match &value {
        Json::String(s) => by_name(s).or_else(|| parse_int_str(s)),
        other => json_i64(other).and_then(|v| i32::try_from(v).ok()),
    };
    parsed.ok_or_else(|| path.expected("an enum value as an integer or name", &value))
}

fn span_kind(name: &str) -> Option<i32> {
    span::SpanKind::from_str_name(name).map(|v| v as i32)
}

fn status_code(name: &str) -> Option<i32> {
    status::StatusCode::from_str_name(name).map(|v| v as i32)
}

fn severity_number(name: &str) -> Option<i32> {
    SeverityNumber::from_str_name(name).map(|v| v as i32)
}

fn temporality(name: &str) -> Option<i32> {
    AggregationTemporality::from_str_name(name).map(|v| v as i32)
}

/// A base64 `bytes` field; padding optional, standard or URL-safe alphabet.
fn bytes(value: Json, path: &Path) -> Result<Vec<u8>, JsonError> {
    let text = match value {
        Json::String(s) => s,
        other => return Err(path.expected("a base64 string", &other)),
    };
    let engine = if text.contains(['-', '_']) {
        &BASE64_URL_SAFE
    } else {
        &BASE64_STANDARD
    };
    engine
        .decode(&text)
        .map_err(|e| path.error(format!("invalid base64 {}: {e}", quote(&text))))
}

/// A hex trace/span id. Bad hex is noted in `bad` (rejecting the record)
/// rather than failing the request; the length is left to the validator.
fn id(value: Json, path: &Path, bad: &mut BadId) -> Result<Vec<u8>, JsonError> {
    let text = match value {
        Json::String(s) => s,
        other => return Err(path.expected("a hex string", &other)),
    };
    match hex::decode(&text) {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            if bad.0.is_none() {
                let problem = match e {
                    hex::FromHexError::InvalidHexCharacter { index, .. } => {
                        format!("invalid hex character at byte {index}")
                    }
                    hex::FromHexError::OddLength => "odd number of hex digits".to_owned(),
                    hex::FromHexError::InvalidStringLength => "invalid length".to_owned(),
                };
                bad.0 = Some(format!(
                    "{}: invalid hex id {}: {problem}",
                    path.render(),
                    quote(&text)
                ));
            }
            Ok(Vec::new())
        }
    }
}

// ---------------------------------------------------------------------------
// Common messages
// ---------------------------------------------------------------------------

fn attributes(value: Json, path: &Path) -> Result<Vec<KeyValue>, JsonError> {
    list(value, path, |v, p| key_value(v, p, 0))
}

fn key_value(value: Json, path: &Path, depth: usize) -> Result<KeyValue, JsonError> {
    let mut out = KeyValue::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "key" => out.key = string(v, &path.field("key"))?,
            "value" => out.value = Some(any_value(v, &path.field("value"), depth)?),
            "keyStrindex" | "key_strindex" => {
                out.key_strindex = int32(v, &path.field("keyStrindex"))?
            }
            _ => {}
        }
    }
    Ok(out)
}

fn any_value(value: Json, path: &Path, depth: usize) -> Result<AnyValue, JsonError> {
    use any_value::Value as V;
    if depth > MAX_ANY_VALUE_DEPTH {
        return Err(path.error(format!(
            "values nested deeper than {MAX_ANY_VALUE_DEPTH} levels"
        )));
    }
    let mut out = None;
    for (key, v) in fields(value, path)? {
        let member = match key.as_str() {
            "stringValue" | "string_value" => {
                V::StringValue(string(v, &path.field("stringValue"))?)
            }
            "boolValue" | "bool_value" => V::BoolValue(boolean(v, &path.field("boolValue"))?),
            "intValue" | "int_value" => V::IntValue(int64(v, &path.field("intValue"))?),
            "doubleValue" | "double_value" => {
                V::DoubleValue(double(v, &path.field("doubleValue"))?)
            }
            "arrayValue" | "array_value" => {
                V::ArrayValue(array_value(v, &path.field("arrayValue"), depth)?)
            }
            "kvlistValue" | "kvlist_value" => {
                V::KvlistValue(kvlist_value(v, &path.field("kvlistValue"), depth)?)
            }
            "bytesValue" | "bytes_value" => V::BytesValue(bytes(v, &path.field("bytesValue"))?),
            "stringValueStrindex" | "string_value_strindex" => {
                V::StringValueStrindex(int32(v, &path.field("stringValueStrindex"))?)
            }
            _ => continue,
        };
        set_oneof(&mut out, member, path)?;
    }
    Ok(AnyValue { value: out })
}

fn array_value(value: Json, path: &Path, depth: usize) -> Result<ArrayValue, JsonError> {
    let mut out = ArrayValue::default();
    for (key, v) in fields(value, path)? {
        if key == "values" {
            out.values = list(v, &path.field("values"), |v, p| any_value(v, p, depth + 1))?;
        }
    }
    Ok(out)
}

fn kvlist_value(value: Json, path: &Path, depth: usize) -> Result<KeyValueList, JsonError> {
    let mut out = KeyValueList::default();
    for (key, v) in fields(value, path)? {
        if key == "values" {
            out.values = list(v, &path.field("values"), |v, p| key_value(v, p, depth + 1))?;
        }
    }
    Ok(out)
}

fn resource(value: Json, path: &Path) -> Result<Resource, JsonError> {
    let mut out = Resource::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "attributes" => out.attributes = attributes(v, &path.field("attributes"))?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(v, &path.field("droppedAttributesCount"))?
            }
            "entityRefs" | "entity_refs" => {
                out.entity_refs = list(v, &path.field("entityRefs"), entity_ref)?
            }
            _ => {}
        }
    }
    Ok(out)
}

fn entity_ref(value: Json, path: &Path) -> Result<EntityRef, JsonError> {
    let mut out = EntityRef::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "schemaUrl" | "schema_url" => out.schema_url = string(v, &path.field("schemaUrl"))?,
            "type" => out.r#type = string(v, &path.field("type"))?,
            "idKeys" | "id_keys" => out.id_keys = list(v, &path.field("idKeys"), string)?,
            "descriptionKeys" | "description_keys" => {
                out.description_keys = list(v, &path.field("descriptionKeys"), string)?
            }
            _ => {}
        }
    }
    Ok(out)
}

fn scope(value: Json, path: &Path) -> Result<InstrumentationScope, JsonError> {
    let mut out = InstrumentationScope::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "name" => out.name = string(v, &path.field("name"))?,
            "version" => out.version = string(v, &path.field("version"))?,
            "attributes" => out.attributes = attributes(v, &path.field("attributes"))?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(v, &path.field("droppedAttributesCount"))?
            }
            _ => {}
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Traces
// ---------------------------------------------------------------------------

fn resource_spans(
    value: Json,
    path: &Path,
    rejections: &mut Rejections,
) -> Result<ResourceSpans, JsonError> {
    let mut out = ResourceSpans::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "resource" => out.resource = Some(resource(v, &path.field("resource"))?),
            "scopeSpans" | "scope_spans" => {
                out.scope_spans = list(v, &path.field("scopeSpans"), |v, p| {
                    scope_spans(v, p, rejections)
                })?
            }
            "schemaUrl" | "schema_url" => out.schema_url = string(v, &path.field("schemaUrl"))?,
            _ => {}
        }
    }
    Ok(out)
}

fn scope_spans(
    value: Json,
    path: &Path,
    rejections: &mut Rejections,
) -> Result<ScopeSpans, JsonError> {
    let mut out = ScopeSpans::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "scope" => out.scope = Some(scope(v, &path.field("scope"))?),
            "spans" => out.spans = records(v, &path.field("spans"), rejections, span)?,
            "schemaUrl" | "schema_url" => out.schema_url = string(v, &path.field("schemaUrl"))?,
            _ => {}
        }
    }
    Ok(out)
}

fn span(value: Json, path: &Path, bad: &mut BadId) -> Result<Span, JsonError> {
    let mut out = Span::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "traceId" | "trace_id" => out.trace_id = id(v, &path.field("traceId"), bad)?,
            "spanId" | "span_id" => out.span_id = id(v, &path.field("spanId"), bad)?,
            "traceState" | "trace_state" => out.trace_state = string(v, &path.field("traceState"))?,
            "parentSpanId" | "parent_span_id" => {
                out.parent_span_id = id(v, &path.field("parentSpanId"), bad)?
            }
            "flags" => out.flags = uint32(v, &path.field("flags"))?,
            "name" => out.name = string(v, &path.field("name"))?,
            "kind" => out.kind = enumeration(v, &path.field("kind"), span_kind)?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                out.start_time_unix_nano = uint64(v, &path.field("startTimeUnixNano"))?
            }
            "endTimeUnixNano" | "end_time_unix_nano" => {
                out.end_time_unix_nano = uint64(v, &path.field("endTimeUnixNano"))?
            }
            "attributes" => out.attributes = attributes(v, &path.field("attributes"))?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(v, &path.field("droppedAttributesCount"))?
            }
            "events" => out.events = list(v, &path.field("events"), event)?,
            "droppedEventsCount" | "dropped_events_count" => {
                out.dropped_events_count = uint32(v, &path.field("droppedEventsCount"))?
            }
            "links" => out.links = list(v, &path.field("links"), |v, p| link(v, p, bad))?,
            "droppedLinksCount" | "dropped_links_count" => {
                out.dropped_links_count = uint32(v, &path.field("droppedLinksCount"))?
            }
            "status" => out.status = Some(span_status(v, &path.field("status"))?),
            _ => {}
        }
    }
    Ok(out)
}

fn event(value: Json, path: &Path) -> Result<span::Event, JsonError> {
    let mut out = span::Event::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "timeUnixNano" | "time_unix_nano" => {
                out.time_unix_nano = uint64(v, &path.field("timeUnixNano"))?
            }
            "name" => out.name = string(v, &path.field("name"))?,
            "attributes" => out.attributes = attributes(v, &path.field("attributes"))?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(v, &path.field("droppedAttributesCount"))?
            }
            _ => {}
        }
    }
    Ok(out)
}

fn link(value: Json, path: &Path, bad: &mut BadId) -> Result<span::Link, JsonError> {
    let mut out = span::Link::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "traceId" | "trace_id" => out.trace_id = id(v, &path.field("traceId"), bad)?,
            "spanId" | "span_id" => out.span_id = id(v, &path.field("spanId"), bad)?,
            "traceState" | "trace_state" => out.trace_state = string(v, &path.field("traceState"))?,
            "attributes" => out.attributes = attributes(v, &path.field("attributes"))?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(v, &path.field("droppedAttributesCount"))?
            }
            "flags" => out.flags = uint32(v, &path.field("flags"))?,
            _ => {}
        }
    }
    Ok(out)
}

fn span_status(value: Json, path: &Path) -> Result<Status, JsonError> {
    let mut out = Status::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "message" => out.message = string(v, &path.field("message"))?,
            "code" => out.code = enumeration(v, &path.field("code"), status_code)?,
            _ => {}
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------

fn resource_logs(
    value: Json,
    path: &Path,
    rejections: &mut Rejections,
) -> Result<ResourceLogs, JsonError> {
    let mut out = ResourceLogs::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "resource" => out.resource = Some(resource(v, &path.field("resource"))?),
            "scopeLogs" | "scope_logs" => {
                out.scope_logs = list(v, &path.field("scopeLogs"), |v, p| {
                    scope_logs(v, p, rejections)
                })?
            }
            "schemaUrl" | "schema_url" => out.schema_url = string(v, &path.field("schemaUrl"))?,
            _ => {}
        }
    }
    Ok(out)
}

fn scope_logs(
    value: Json,
    path: &Path,
    rejections: &mut Rejections,
) -> Result<ScopeLogs, JsonError> {
    let mut out = ScopeLogs::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "scope" => out.scope = Some(scope(v, &path.field("scope"))?),
            "logRecords" | "log_records" => {
                out.log_records = records(v, &path.field("logRecords"), rejections, log_record)?
            }
            "schemaUrl" | "schema_url" => out.schema_url = string(v, &path.field("schemaUrl"))?,
            _ => {}
        }
    }
    Ok(out)
}

fn log_record(value: Json, path: &Path, bad: &mut BadId) -> Result<LogRecord, JsonError> {
    let mut out = LogRecord::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "timeUnixNano" | "time_unix_nano" => {
                out.time_unix_nano = uint64(v, &path.field("timeUnixNano"))?
            }
            "observedTimeUnixNano" | "observed_time_unix_nano" => {
                out.observed_time_unix_nano = uint64(v, &path.field("observedTimeUnixNano"))?
            }
            "severityNumber" | "severity_number" => {
                out.severity_number =
                    enumeration(v, &path.field("severityNumber"), severity_number)?
            }
            "severityText" | "severity_text" => {
                out.severity_text = string(v, &path.field("severityText"))?
            }
            "body" => out.body = Some(any_value(v, &path.field("body"), 0)?),
            "attributes" => out.attributes = attributes(v, &path.field("attributes"))?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(v, &path.field("droppedAttributesCount"))?
            }
            "flags" => out.flags = uint32(v, &path.field("flags"))?,
            "traceId" | "trace_id" => out.trace_id = id(v, &path.field("traceId"), bad)?,
            "spanId" | "span_id" => out.span_id = id(v, &path.field("spanId"), bad)?,
            "eventName" | "event_name" => out.event_name = string(v, &path.field("eventName"))?,
            _ => {}
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

fn resource_metrics(
    value: Json,
    path: &Path,
    rejections: &mut Rejections,
) -> Result<ResourceMetrics, JsonError> {
    let mut out = ResourceMetrics::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "resource" => out.resource = Some(resource(v, &path.field("resource"))?),
            "scopeMetrics" | "scope_metrics" => {
                out.scope_metrics = list(v, &path.field("scopeMetrics"), |v, p| {
                    scope_metrics(v, p, rejections)
                })?
            }
            "schemaUrl" | "schema_url" => out.schema_url = string(v, &path.field("schemaUrl"))?,
            _ => {}
        }
    }
    Ok(out)
}

fn scope_metrics(
    value: Json,
    path: &Path,
    rejections: &mut Rejections,
) -> Result<ScopeMetrics, JsonError> {
    let mut out = ScopeMetrics::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "scope" => out.scope = Some(scope(v, &path.field("scope"))?),
            "metrics" => {
                out.metrics = list(v, &path.field("metrics"), |v, p| {
                    metric_message(v, p, rejections)
                })?
            }
            "schemaUrl" | "schema_url" => out.schema_url = string(v, &path.field("schemaUrl"))?,
            _ => {}
        }
    }
    Ok(out)
}

fn metric_message(
    value: Json,
    path: &Path,
    rejections: &mut Rejections,
) -> Result<Metric, JsonError> {
    use metric::Data;
    let mut out = Metric::default();
    let mut data = None;
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "name" => out.name = string(v, &path.field("name"))?,
            "description" => out.description = string(v, &path.field("description"))?,
            "unit" => out.unit = string(v, &path.field("unit"))?,
            "metadata" => out.metadata = attributes(v, &path.field("metadata"))?,
            "gauge" => {
                let gauge = gauge(v, &path.field("gauge"), rejections)?;
                set_oneof(&mut data, Data::Gauge(gauge), path)?
            }
            "sum" => {
                let sum = sum(v, &path.field("sum"), rejections)?;
                set_oneof(&mut data, Data::Sum(sum), path)?
            }
            "histogram" => {
                let histogram = histogram(v, &path.field("histogram"), rejections)?;
                set_oneof(&mut data, Data::Histogram(histogram), path)?
            }
            "exponentialHistogram" | "exponential_histogram" => {
                let field = path.field("exponentialHistogram");
                let histogram = exponential_histogram(v, &field, rejections)?;
                set_oneof(&mut data, Data::ExponentialHistogram(histogram), path)?
            }
            "summary" => {
                let summary = summary(v, &path.field("summary"), rejections)?;
                set_oneof(&mut data, Data::Summary(summary), path)?
            }
            _ => {}
        }
    }
    out.data = data;
    Ok(out)
}

fn gauge(value: Json, path: &Path, rejections: &mut Rejections) -> Result<Gauge, JsonError> {
    let mut out = Gauge::default();
    for (key, v) in fields(value, path)? {
        if let "dataPoints" | "data_points" = key.as_str() {
            out.data_points = records(v, &path.field("dataPoints"), rejections, number_point)?;
        }
    }
    Ok(out)
}

fn sum(value: Json, path: &Path, rejections: &mut Rejections) -> Result<Sum, JsonError> {
    let mut out = Sum::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "dataPoints" | "data_points" => {
                out.data_points = records(v, &path.field("dataPoints"), rejections, number_point)?
            }
            "aggregationTemporality" | "aggregation_temporality" => {
                out.aggregation_temporality =
                    enumeration(v, &path.field("aggregationTemporality"), temporality)?
            }
            "isMonotonic" | "is_monotonic" => {
                out.is_monotonic = boolean(v, &path.field("isMonotonic"))?
            }
            _ => {}
        }
    }
    Ok(out)
}

fn histogram(
    value: Json,
    path: &Path,
    rejections: &mut Rejections,
) -> Result<Histogram, JsonError> {
    let mut out = Histogram::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "dataPoints" | "data_points" => {
                out.data_points =
                    records(v, &path.field("dataPoints"), rejections, histogram_point)?
            }
            "aggregationTemporality" | "aggregation_temporality" => {
                out.aggregation_temporality =
                    enumeration(v, &path.field("aggregationTemporality"), temporality)?
            }
            _ => {}
        }
    }
    Ok(out)
}

fn exponential_histogram(
    value: Json,
    path: &Path,
    rejections: &mut Rejections,
) -> Result<ExponentialHistogram, JsonError> {
    let mut out = ExponentialHistogram::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "dataPoints" | "data_points" => {
                out.data_points = records(
                    v,
                    &path.field("dataPoints"),
                    rejections,
                    exponential_histogram_point,
                )?
            }
            "aggregationTemporality" | "aggregation_temporality" => {
                out.aggregation_temporality =
                    enumeration(v, &path.field("aggregationTemporality"), temporality)?
            }
            _ => {}
        }
    }
    Ok(out)
}

fn summary(value: Json, path: &Path, rejections: &mut Rejections) -> Result<Summary, JsonError> {
    let mut out = Summary::default();
    for (key, v) in fields(value, path)? {
        if let "dataPoints" | "data_points" = key.as_str() {
            out.data_points = records(v, &path.field("dataPoints"), rejections, |v, p, _| {
                summary_point(v, p)
            })?;
        }
    }
    Ok(out)
}

fn number_point(value: Json, path: &Path, bad: &mut BadId) -> Result<NumberDataPoint, JsonError> {
    use number_data_point::Value as V;
    let mut out = NumberDataPoint::default();
    let mut number = None;
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "attributes" => out.attributes = attributes(v, &path.field("attributes"))?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                out.start_time_unix_nano = uint64(v, &path.field("startTimeUnixNano"))?
            }
            "timeUnixNano" | "time_unix_nano" => {
                out.time_unix_nano = uint64(v, &path.field("timeUnixNano"))?
            }
            "exemplars" => out.exemplars = exemplars(v, &path.field("exemplars"), bad)?,
            "flags" => out.flags = uint32(v, &path.field("flags"))?,
            "asDouble" | "as_double" => set_oneof(
                &mut number,
                V::AsDouble(double(v, &path.field("asDouble"))?),
                path,
            )?,
            "asInt" | "as_int" => {
                set_oneof(&mut number, V::AsInt(int64(v, &path.field("asInt"))?), path)?
            }
            _ => {}
        }
    }
    out.value = number;
    Ok(out)
}

fn histogram_point(
    value: Json,
    path: &Path,
    bad: &mut BadId,
) -> Result<HistogramDataPoint, JsonError> {
    let mut out = HistogramDataPoint::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "attributes" => out.attributes = attributes(v, &path.field("attributes"))?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                out.start_time_unix_nano = uint64(v, &path.field("startTimeUnixNano"))?
            }
            "timeUnixNano" | "time_unix_nano" => {
                out.time_unix_nano = uint64(v, &path.field("timeUnixNano"))?
            }
            "count" => out.count = uint64(v, &path.field("count"))?,
            "sum" => out.sum = Some(double(v, &path.field("sum"))?),
            "bucketCounts" | "bucket_counts" => {
                out.bucket_counts = list(v, &path.field("bucketCounts"), uint64)?
            }
            "explicitBounds" | "explicit_bounds" => {
                out.explicit_bounds = list(v, &path.field("explicitBounds"), double)?
            }
            "exemplars" => out.exemplars = exemplars(v, &path.field("exemplars"), bad)?,
            "flags" => out.flags = uint32(v, &path.field("flags"))?,
            "min" => out.min = Some(double(v, &path.field("min"))?),
            "max" => out.max = Some(double(v, &path.field("max"))?),
            _ => {}
        }
    }
    Ok(out)
}

fn exponential_histogram_point(
    value: Json,
    path: &Path,
    bad: &mut BadId,
) -> Result<ExponentialHistogramDataPoint, JsonError> {
    let mut out = ExponentialHistogramDataPoint::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "attributes" => out.attributes = attributes(v, &path.field("attributes"))?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                out.start_time_unix_nano = uint64(v, &path.field("startTimeUnixNano"))?
            }
            "timeUnixNano" | "time_unix_nano" => {
                out.time_unix_nano = uint64(v, &path.field("timeUnixNano"))?
            }
            "count" => out.count = uint64(v, &path.field("count"))?,
            "sum" => out.sum = Some(double(v, &path.field("sum"))?),
            "scale" => out.scale = int32(v, &path.field("scale"))?,
            "zeroCount" | "zero_count" => out.zero_count = uint64(v, &path.field("zeroCount"))?,
            "positive" => out.positive = Some(buckets(v, &path.field("positive"))?),
            "negative" => out.negative = Some(buckets(v, &path.field("negative"))?),
            "flags" => out.flags = uint32(v, &path.field("flags"))?,
            "exemplars" => out.exemplars = exemplars(v, &path.field("exemplars"), bad)?,
            "min" => out.min = Some(double(v, &path.field("min"))?),
            "max" => out.max = Some(double(v, &path.field("max"))?),
            "zeroThreshold" | "zero_threshold" => {
                out.zero_threshold = double(v, &path.field("zeroThreshold"))?
            }
            _ => {}
        }
    }
    Ok(out)
}

fn buckets(value: Json, path: &Path) -> Result<Buckets, JsonError> {
    let mut out = Buckets::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "offset" => out.offset = int32(v, &path.field("offset"))?,
            "bucketCounts" | "bucket_counts" => {
                out.bucket_counts = list(v, &path.field("bucketCounts"), uint64)?
            }
            _ => {}
        }
    }
    Ok(out)
}

fn summary_point(value: Json, path: &Path) -> Result<SummaryDataPoint, JsonError> {
    let mut out = SummaryDataPoint::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "attributes" => out.attributes = attributes(v, &path.field("attributes"))?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                out.start_time_unix_nano = uint64(v, &path.field("startTimeUnixNano"))?
            }
            "timeUnixNano" | "time_unix_nano" => {
                out.time_unix_nano = uint64(v, &path.field("timeUnixNano"))?
            }
            "count" => out.count = uint64(v, &path.field("count"))?,
            "sum" => out.sum = double(v, &path.field("sum"))?,
            "quantileValues" | "quantile_values" => {
                out.quantile_values = list(v, &path.field("quantileValues"), value_at_quantile)?
            }
            "flags" => out.flags = uint32(v, &path.field("flags"))?,
            _ => {}
        }
    }
    Ok(out)
}

fn value_at_quantile(value: Json, path: &Path) -> Result<ValueAtQuantile, JsonError> {
    let mut out = ValueAtQuantile::default();
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "quantile" => out.quantile = double(v, &path.field("quantile"))?,
            "value" => out.value = double(v, &path.field("value"))?,
            _ => {}
        }
    }
    Ok(out)
}

fn exemplars(value: Json, path: &Path, bad: &mut BadId) -> Result<Vec<Exemplar>, JsonError> {
    list(value, path, |v, p| exemplar_message(v, p, bad))
}

fn exemplar_message(value: Json, path: &Path, bad: &mut BadId) -> Result<Exemplar, JsonError> {
    use exemplar::Value as V;
    let mut out = Exemplar::default();
    let mut number = None;
    for (key, v) in fields(value, path)? {
        match key.as_str() {
            "filteredAttributes" | "filtered_attributes" => {
                out.filtered_attributes = attributes(v, &path.field("filteredAttributes"))?
            }
            "timeUnixNano" | "time_unix_nano" => {
                out.time_unix_nano = uint64(v, &path.field("timeUnixNano"))?
            }
            "spanId" | "span_id" => out.span_id = id(v, &path.field("spanId"), bad)?,
            "traceId" | "trace_id" => out.trace_id = id(v, &path.field("traceId"), bad)?,
            "asDouble" | "as_double" => set_oneof(
                &mut number,
                V::AsDouble(double(v, &path.field("asDouble"))?),
                path,
            )?,
            "asInt" | "as_int" => {
                set_oneof(&mut number, V::AsInt(int64(v, &path.field("asInt"))?), path)?
            }
            _ => {}
        }
    }
    out.value = number;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use prost::Message as _;

    // -- helpers -------------------------------------------------------------

    /// Reads a fixture from `tests/fixtures/otlp/<origin>/`: names prefixed `collector_`
    /// or `contrib_` come from the Collector and Collector-contrib folders, others from
    /// opentelemetry-proto's examples.
    fn fixture(name: &str) -> Vec<u8> {
        let (origin, file) = if let Some(rest) = name.strip_prefix("collector_") {
            ("opentelemetry-collector", rest)
        } else if let Some(rest) = name.strip_prefix("contrib_") {
            ("opentelemetry-collector-contrib", rest)
        } else {
            ("opentelemetry-proto", name)
        };
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/otlp")
            .join(origin)
            .join(file);
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    fn traces(json: &str) -> Decoded<ExportTraceServiceRequest> {
        decode_traces(json.as_bytes()).expect("traces decode")
    }

    fn metrics(json: &str) -> Decoded<ExportMetricsServiceRequest> {
        decode_metrics(json.as_bytes()).expect("metrics decode")
    }

    fn logs(json: &str) -> Decoded<ExportLogsServiceRequest> {
        decode_logs(json.as_bytes()).expect("logs decode")
    }

    fn trace_error(json: &str) -> String {
        decode_traces(json.as_bytes())
            .expect_err("traces must not decode")
            .to_string()
    }

    fn any(value: any_value::Value) -> Option<AnyValue> {
        Some(AnyValue { value: Some(value) })
    }

    fn str_value(s: &str) -> Option<AnyValue> {
        any(any_value::Value::StringValue(s.to_owned()))
    }

    fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value,
            key_strindex: 0,
        }
    }

    fn kv_str(key: &str, value: &str) -> KeyValue {
        kv(key, str_value(value))
    }

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test hex")
    }

    /// Wraps span JSON objects in a one-resource, one-scope trace request.
    fn spans_request(spans: &str) -> String {
        format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{spans}]}}]}}]}}"#)
    }

    fn only_span(decoded: &Decoded<ExportTraceServiceRequest>) -> &Span {
        let spans = &decoded.request.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 1);
        &spans[0]
    }

    /// Wraps one attribute value in a span and returns the decoded value.
    fn attribute_value(value_json: &str) -> Option<AnyValue> {
        let json = spans_request(&format!(
            r#"{{"attributes":[{{"key":"k","value":{value_json}}}]}}"#
        ));
        let decoded = traces(&json);
        only_span(&decoded).attributes[0].value.clone()
    }

    fn gauge_points(decoded: &Decoded<ExportMetricsServiceRequest>) -> &[NumberDataPoint] {
        match &decoded.request.resource_metrics[0].scope_metrics[0].metrics[0].data {
            Some(Data::Gauge(gauge)) => &gauge.data_points,
            other => panic!("expected a gauge, got {other:?}"),
        }
    }

    fn metric_data(decoded: &Decoded<ExportMetricsServiceRequest>, index: usize) -> &Data {
        decoded.request.resource_metrics[0].scope_metrics[0].metrics[index]
            .data
            .as_ref()
            .expect("metric has data")
    }

    // -- official examples: opentelemetry-proto ------------------------------

    #[test]
    fn proto_trace_example_by_eye() {
        let decoded = decode_traces(&fixture("trace.json")).expect("decodes");
        let expected = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv_str("service.name", "my.service")],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "my.library".into(),
                        version: "1.0.0".into(),
                        attributes: vec![kv_str("my.scope.attribute", "some scope attribute")],
                        dropped_attributes_count: 0,
                    }),
                    spans: vec![Span {
                        trace_id: vec![
                            0x5B, 0x8E, 0xFF, 0xF7, 0x98, 0x03, 0x81, 0x03, 0xD2, 0x69, 0xB6, 0x33,
                            0x81, 0x3F, 0xC6, 0x0C,
                        ],
                        span_id: vec![0xEE, 0xE1, 0x9B, 0x7E, 0xC3, 0xC1, 0xB1, 0x74],
                        parent_span_id: vec![0xEE, 0xE1, 0x9B, 0x7E, 0xC3, 0xC1, 0xB1, 0x73],
                        name: "I'm a server span".into(),
                        start_time_unix_nano: 1_544_712_660_000_000_000,
                        end_time_unix_nano: 1_544_712_661_000_000_000,
                        kind: 2,
                        attributes: vec![kv_str("my.span.attr", "some value")],
                        ..Default::default()
                    }],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        assert_eq!(decoded.request, expected);
        assert_eq!(decoded.rejected, 0);
        assert_eq!(decoded.first_error, None);
    }

    #[test]
    fn proto_trace_example_equals_protobuf_encoding() {
        let from_json = decode_traces(&fixture("trace.json")).expect("decodes");
        let from_proto =
            ExportTraceServiceRequest::decode(fixture("trace.protobuf-bin").as_slice())
                .expect("protobuf decodes");
        assert_eq!(from_json.request, from_proto);
    }

    #[test]
    fn proto_metrics_example_equals_protobuf_encoding() {
        let from_json = decode_metrics(&fixture("metrics.json")).expect("decodes");
        let from_proto =
            ExportMetricsServiceRequest::decode(fixture("metrics.protobuf-bin").as_slice())
                .expect("protobuf decodes");
        // The checked-in protobuf encoding predates the exponential histogram
        // that metrics.json gained later: it holds only the first three
        // metrics. Everything else must be identical.
        let mut trimmed = from_json.request.clone();
        let json_metrics = &mut trimmed.resource_metrics[0].scope_metrics[0].metrics;
        assert_eq!(json_metrics.len(), 4);
        assert_eq!(
            from_proto.resource_metrics[0].scope_metrics[0]
                .metrics
                .len(),
            3
        );
        json_metrics.truncate(3);
        assert_eq!(trimmed, from_proto);
    }

    #[test]
    fn proto_metrics_example_by_eye() {
        let decoded = decode_metrics(&fixture("metrics.json")).expect("decodes");
        assert_eq!(decoded.rejected, 0);
        let rm = &decoded.request.resource_metrics[0];
        assert_eq!(
            rm.resource.as_ref().map(|r| r.attributes.clone()),
            Some(vec![kv_str("service.name", "my.service")])
        );
        let sm = &rm.scope_metrics[0];
        let scope = sm.scope.as_ref().expect("scope");
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("my.library", "1.0.0")
        );
        let names: Vec<_> = sm.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "my.counter",
                "my.gauge",
                "my.histogram",
                "my.exponential.histogram"
            ]
        );
        assert_eq!(sm.metrics[0].unit, "1");
        assert_eq!(sm.metrics[0].description, "I am a Counter");

        let ts = 1_544_712_660_300_000_000;
        match metric_data(&decoded, 0) {
            Data::Sum(sum) => {
                assert_eq!(sum.aggregation_temporality, 1);
                assert!(sum.is_monotonic);
                let p = &sum.data_points[0];
                assert_eq!(p.value, Some(number_data_point::Value::AsDouble(5.0)));
                assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (ts, ts));
                assert_eq!(p.attributes, vec![kv_str("my.counter.attr", "some value")]);
            }
            other => panic!("expected sum, got {other:?}"),
        }
        match metric_data(&decoded, 1) {
            Data::Gauge(gauge) => {
                let p = &gauge.data_points[0];
                assert_eq!(p.value, Some(number_data_point::Value::AsDouble(10.0)));
                assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (0, ts));
            }
            other => panic!("expected gauge, got {other:?}"),
        }
        match metric_data(&decoded, 2) {
            Data::Histogram(h) => {
                assert_eq!(h.aggregation_temporality, 1);
                let p = &h.data_points[0];
                assert_eq!(p.count, 2);
                assert_eq!(p.sum, Some(2.0));
                assert_eq!(p.bucket_counts, vec![1, 1]);
                assert_eq!(p.explicit_bounds, vec![1.0]);
                assert_eq!((p.min, p.max), (Some(0.0), Some(2.0)));
                assert_eq!(
                    p.attributes,
                    vec![kv_str("my.histogram.attr", "some value")]
                );
            }
            other => panic!("expected histogram, got {other:?}"),
        }
        match metric_data(&decoded, 3) {
            Data::ExponentialHistogram(h) => {
                assert_eq!(h.aggregation_temporality, 1);
                let p = &h.data_points[0];
                assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (ts, ts));
                assert_eq!(p.count, 3);
                assert_eq!(p.sum, Some(10.0));
                assert_eq!(p.scale, 0);
                assert_eq!(p.zero_count, 1);
                assert_eq!(
                    p.positive,
                    Some(Buckets {
                        offset: 1,
                        bucket_counts: vec![0, 2]
                    })
                );
                assert_eq!(p.negative, None);
                assert_eq!((p.min, p.max), (Some(0.0), Some(5.0)));
                assert_eq!(p.zero_threshold, 0.0);
                assert_eq!(
                    p.attributes,
                    vec![kv_str("my.exponential.histogram.attr", "some value")]
                );
            }
            other => panic!("expected exponential histogram, got {other:?}"),
        }
    }

    #[test]
    fn proto_logs_example_by_eye() {
        use any_value::Value as V;
        let decoded = decode_logs(&fixture("logs.json")).expect("decodes");
        assert_eq!(decoded.rejected, 0);
        let rl = &decoded.request.resource_logs[0];
        assert_eq!(
            rl.resource.as_ref().map(|r| r.attributes.clone()),
            Some(vec![kv_str("service.name", "my.service")])
        );
        let sl = &rl.scope_logs[0];
        assert_eq!(
            sl.scope.as_ref().map(|s| s.name.as_str()),
            Some("my.library")
        );
        let expected = LogRecord {
            time_unix_nano: 1_544_712_660_300_000_000,
            observed_time_unix_nano: 1_544_712_660_300_000_000,
            severity_number: 10,
            severity_text: "Information".into(),
            trace_id: unhex("5b8efff798038103d269b633813fc60c"),
            span_id: unhex("eee19b7ec3c1b174"),
            body: str_value("Example log record"),
            attributes: vec![
                kv_str("string.attribute", "some string"),
                kv("boolean.attribute", any(V::BoolValue(true))),
                kv("int.attribute", any(V::IntValue(10))),
                kv("double.attribute", any(V::DoubleValue(637.704))),
                kv(
                    "array.attribute",
                    any(V::ArrayValue(ArrayValue {
                        values: vec![
                            AnyValue {
                                value: Some(V::StringValue("many".into())),
                            },
                            AnyValue {
                                value: Some(V::StringValue("values".into())),
                            },
                        ],
                    })),
                ),
                kv(
                    "map.attribute",
                    any(V::KvlistValue(KeyValueList {
                        values: vec![kv_str("some.map.key", "some value")],
                    })),
                ),
            ],
            ..Default::default()
        };
        assert_eq!(sl.log_records, vec![expected]);
    }

    #[test]
    fn proto_events_example_by_eye() {
        use any_value::Value as V;
        let decoded = decode_logs(&fixture("events.json")).expect("decodes");
        let record = &decoded.request.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(record.event_name, "browser.page_view");
        assert_eq!(record.time_unix_nano, 1_544_712_660_300_000_000);
        assert_eq!(record.observed_time_unix_nano, 1_544_712_660_300_000_000);
        assert_eq!(record.severity_number, 9);
        assert_eq!(record.severity_text, "test severity text");
        assert!(record.trace_id.is_empty() && record.span_id.is_empty());
        assert_eq!(
            record.attributes,
            vec![kv_str("event.attribute", "some event attribute")]
        );
        assert_eq!(
            record.body,
            any(V::KvlistValue(KeyValueList {
                values: vec![
                    kv("type", any(V::IntValue(0))),
                    kv_str(
                        "url",
                        "https://www.guidgenerator.com/online-guid-generator.aspx"
                    ),
                    kv_str("referrer", "https://wwww.google.com"),
                    kv_str("title", "Free Online GUID Generator"),
                ],
            }))
        );
    }

    // -- official examples: opentelemetry-collector --------------------------

    #[test]
    fn collector_traces_json_by_eye() {
        use any_value::Value as V;
        let decoded =
            decode_traces(&fixture("collector_pdata_ptrace_tracesJSON.json")).expect("decodes");
        assert_eq!(decoded.rejected, 0);
        let rs = &decoded.request.resource_spans[0];
        assert_eq!(rs.schema_url, "schemaURL");
        assert_eq!(
            rs.resource,
            Some(Resource {
                attributes: vec![
                    kv_str("host.name", "testHost"),
                    kv_str("service.name", "testService")
                ],
                dropped_attributes_count: 1,
                entity_refs: vec![],
            })
        );
        let ss = &rs.scope_spans[0];
        assert_eq!(ss.schema_url, "schemaURL");
        assert_eq!(
            ss.scope,
            Some(InstrumentationScope {
                name: "scope name".into(),
                version: "scope version".into(),
                ..Default::default()
            })
        );
        assert_eq!(ss.spans.len(), 2);
        let common_attrs = vec![
            kv_str("string", "value"),
            kv("bool", any(V::BoolValue(true))),
            kv("int", any(V::IntValue(1))),
            kv("double", any(V::DoubleValue(1.1))),
            kv("bytes", any(V::BytesValue(b"foo".to_vec()))),
        ];
        let mut span_attrs = common_attrs.clone();
        span_attrs.push(kv(
            "array",
            any(V::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(V::IntValue(1)),
                    },
                    AnyValue {
                        value: Some(V::StringValue("str".into())),
                    },
                ],
            })),
        ));
        span_attrs.push(kv(
            "kvList",
            any(V::KvlistValue(KeyValueList {
                values: vec![kv("int", any(V::IntValue(1))), kv_str("string", "string")],
            })),
        ));
        let expected_first = Span {
            trace_id: unhex("0102030405060708090a0b0c0d0e0f10"),
            span_id: unhex("1112131415161718"),
            trace_state: "state".into(),
            parent_span_id: unhex("1112131415161718"),
            flags: 1,
            name: "testSpan".into(),
            kind: 3,
            start_time_unix_nano: 1_684_617_382_541_971_000,
            end_time_unix_nano: 1_684_623_646_539_558_000,
            attributes: span_attrs,
            dropped_attributes_count: 1,
            events: vec![span::Event {
                time_unix_nano: 1_684_620_382_541_971_000,
                name: "eventName".into(),
                attributes: common_attrs.clone(),
                dropped_attributes_count: 1,
            }],
            dropped_events_count: 1,
            links: vec![span::Link {
                trace_id: unhex("0102030405060708090a0b0c0d0e0f10"),
                span_id: unhex("1112131415161718"),
                trace_state: "state".into(),
                attributes: common_attrs,
                dropped_attributes_count: 1,
                flags: 1,
            }],
            dropped_links_count: 1,
            status: Some(Status {
                message: "message".into(),
                code: 1,
            }),
        };
        assert_eq!(ss.spans[0], expected_first);
        let expected_second = Span {
            name: "testSpan2".into(),
            status: Some(Status::default()),
            ..Default::default()
        };
        assert_eq!(ss.spans[1], expected_second);
    }

    #[test]
    fn collector_logs_json_by_eye() {
        let decoded = decode_logs(&fixture("collector_pdata_plog_logsJSON.json")).expect("decodes");
        let rl = &decoded.request.resource_logs[0];
        assert_eq!(rl.schema_url, "resource_schema");
        assert_eq!(
            rl.resource,
            Some(Resource {
                attributes: vec![kv_str("host.name", "testHost")],
                dropped_attributes_count: 1,
                entity_refs: vec![],
            })
        );
        let sl = &rl.scope_logs[0];
        assert_eq!(sl.schema_url, "scope_schema");
        assert_eq!(
            sl.scope,
            Some(InstrumentationScope {
                name: "name".into(),
                version: "version".into(),
                attributes: vec![],
                dropped_attributes_count: 1,
            })
        );
        let expected = LogRecord {
            time_unix_nano: 1_684_617_382_541_971_000,
            observed_time_unix_nano: 1_684_623_646_539_558_000,
            severity_number: 17,
            severity_text: "Error".into(),
            body: str_value("hello world"),
            attributes: vec![kv_str("sdkVersion", "1.0.1")],
            dropped_attributes_count: 1,
            flags: 1,
            trace_id: unhex("0102030405060708090a0b0c0d0e0f10"),
            span_id: unhex("1112131415161718"),
            event_name: String::new(),
        };
        assert_eq!(sl.log_records, vec![expected]);
    }

    #[test]
    fn collector_metrics_json_by_eye() {
        let decoded =
            decode_metrics(&fixture("collector_pdata_pmetric_metricsJSON.json")).expect("decodes");
        let rm = &decoded.request.resource_metrics[0];
        assert_eq!(
            rm.resource.as_ref().map(|r| r.attributes.clone()),
            Some(vec![kv_str("host.name", "testHost")])
        );
        let sm = &rm.scope_metrics[0];
        assert_eq!(
            sm.scope.as_ref().map(|s| s.version.as_str()),
            Some("version")
        );
        assert_eq!(
            sm.metrics,
            vec![Metric {
                name: "testMetric".into(),
                metadata: vec![kv_str("metadatakey", "metadatavalue")],
                ..Default::default()
            }]
        );
    }

    #[test]
    fn collector_minimal_requests() {
        let t =
            decode_traces(&fixture("collector_ptraceotlp_request_minimal.json")).expect("traces");
        let rs = &t.request.resource_spans[0];
        assert_eq!(rs.resource, Some(Resource::default()));
        assert_eq!(
            rs.scope_spans[0].scope,
            Some(InstrumentationScope::default())
        );
        assert_eq!(
            rs.scope_spans[0].spans,
            vec![Span {
                name: "test_span".into(),
                status: Some(Status::default()),
                ..Default::default()
            }]
        );

        let m = decode_metrics(&fixture("collector_pmetricotlp_request_minimal.json"))
            .expect("metrics");
        let rm = &m.request.resource_metrics[0];
        assert_eq!(rm.resource, Some(Resource::default()));
        assert_eq!(
            rm.scope_metrics[0].metrics,
            vec![Metric {
                name: "test_metric".into(),
                ..Default::default()
            }]
        );

        let l = decode_logs(&fixture("collector_plogotlp_request_minimal.json")).expect("logs");
        let rl = &l.request.resource_logs[0];
        assert_eq!(rl.resource, Some(Resource::default()));
        assert_eq!(
            rl.scope_logs[0].scope,
            Some(InstrumentationScope::default())
        );
        assert_eq!(
            rl.scope_logs[0].log_records,
            vec![LogRecord {
                body: str_value("test_log_record"),
                ..Default::default()
            }]
        );
    }

    // -- official examples: opentelemetry-collector-contrib ------------------

    #[test]
    fn contrib_logs_by_eye() {
        let decoded = decode_logs(&fixture("contrib_plogtest_equal_actual.json")).expect("decodes");
        assert_eq!(decoded.rejected, 0);
        let rls = &decoded.request.resource_logs;
        assert_eq!(rls.len(), 2);
        assert_eq!(rls[0].schema_url, "https://opentelemetry.io/schemas/1.6.1");
        assert_eq!(rls[1].schema_url, "");
        assert_eq!(
            rls[0].resource.as_ref().map(|r| r.attributes.clone()),
            Some(vec![
                kv_str("testKey1", "teststringvalue1"),
                kv_str("testKey2", "teststringvalue2")
            ])
        );
        let first = &rls[0].scope_logs[0];
        assert_eq!(first.schema_url, "https://opentelemetry.io/schemas/1.6.1");
        assert_eq!(
            first.scope,
            Some(InstrumentationScope {
                name: "collector".into(),
                version: "v0.1.0".into(),
                ..Default::default()
            })
        );
        let record = &first.log_records[0];
        assert_eq!(record.time_unix_nano, 11_651_379_494_838_206_464);
        assert_eq!(record.observed_time_unix_nano, 11_651_379_494_838_206_464);
        assert_eq!(record.severity_number, 9);
        assert_eq!(record.severity_text, "TEST");
        assert_eq!(record.flags, 1);
        assert_eq!(record.body, str_value("testscopevalue1"));
        assert!(record.trace_id.is_empty() && record.span_id.is_empty());

        // The second resource repeats "testKey3": both entries are kept.
        let second = &rls[1].scope_logs[0].log_records[0];
        assert_eq!(
            second.attributes,
            vec![
                kv_str("testKey3", "teststringvalue3"),
                kv_str("testKey3", "teststringvalue4")
            ]
        );
        assert_eq!(second.flags, 0);
    }

    #[test]
    fn contrib_metrics_by_eye() {
        let decoded =
            decode_metrics(&fixture("contrib_pmetrictest_equal_expected.json")).expect("decodes");
        let rm = &decoded.request.resource_metrics[0];
        assert_eq!(rm.resource, Some(Resource::default()));
        let metrics = &rm.scope_metrics[0].metrics;
        let summary: Vec<_> = metrics
            .iter()
            .map(|m| (m.name.as_str(), m.description.as_str(), m.unit.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("gauge.multi", "multi gauge", "1"),
                ("gauge.single", "single gauge", "By"),
                ("delta.multi", "multi sum", "s"),
                ("cumulative.single", "single sum", "1/s"),
            ]
        );
        match metric_data(&decoded, 1) {
            Data::Gauge(g) => {
                assert_eq!(g.data_points.len(), 1);
                assert_eq!(
                    g.data_points[0].value,
                    Some(number_data_point::Value::AsInt(2))
                );
                assert_eq!(g.data_points[0].time_unix_nano, 11_651_379_494_838_206_464);
            }
            other => panic!("expected gauge, got {other:?}"),
        }
        match metric_data(&decoded, 2) {
            Data::Sum(s) => {
                assert_eq!(s.aggregation_temporality, 1);
                assert!(!s.is_monotonic);
                assert_eq!(s.data_points.len(), 2);
            }
            other => panic!("expected sum, got {other:?}"),
        }
        match metric_data(&decoded, 3) {
            Data::Sum(s) => {
                assert_eq!(s.aggregation_temporality, 2);
                assert!(s.is_monotonic);
                assert_eq!(
                    s.data_points[0].value,
                    Some(number_data_point::Value::AsDouble(2.0))
                );
                assert_eq!(s.data_points[0].time_unix_nano, 869_965_261_000_000_001);
            }
            other => panic!("expected sum, got {other:?}"),
        }
    }

    #[test]
    fn contrib_exemplar_by_eye() {
        let decoded =
            decode_metrics(&fixture("contrib_pmetrictest_exemplar_actual.json")).expect("decodes");
        let point = &gauge_points(&decoded)[0];
        assert_eq!(point.value, Some(number_data_point::Value::AsDouble(2.0)));
        assert_eq!(
            point.exemplars,
            vec![Exemplar {
                filtered_attributes: vec![kv_str("testKey1", "teststringvalue1")],
                time_unix_nano: 11_651_379_494_838_206_464,
                span_id: unhex("fd0da883bb27cd6b"),
                trace_id: unhex("8c8b1765a7b0acf0b66aa4623fcb7bd5"),
                value: Some(exemplar::Value::AsDouble(2.0)),
            }]
        );
    }

    #[test]
    fn contrib_exponential_histogram_buckets() {
        let negative = decode_metrics(&fixture(
            "contrib_pmetrictest_exphist_negative_offset_expected.json",
        ))
        .expect("decodes");
        let positive = decode_metrics(&fixture(
            "contrib_pmetrictest_exphist_positive_buckets_expected.json",
        ))
        .expect("decodes");
        match metric_data(&negative, 0) {
            Data::ExponentialHistogram(h) => {
                assert_eq!(h.data_points[0].positive, None);
                assert_eq!(
                    h.data_points[0].negative,
                    Some(Buckets {
                        offset: 10,
                        bucket_counts: vec![]
                    })
                );
            }
            other => panic!("expected exponential histogram, got {other:?}"),
        }
        match metric_data(&positive, 0) {
            Data::ExponentialHistogram(h) => {
                assert_eq!(
                    h.data_points[0].positive,
                    Some(Buckets {
                        offset: 0,
                        bucket_counts: vec![1, 2, 3]
                    })
                );
                assert_eq!(h.data_points[0].negative, None);
            }
            other => panic!("expected exponential histogram, got {other:?}"),
        }
    }

    #[test]
    fn contrib_summary_by_eye() {
        let decoded = decode_metrics(&fixture(
            "contrib_pmetrictest_summary_quantile_values_expected.json",
        ))
        .expect("decodes");
        match metric_data(&decoded, 0) {
            Data::Summary(s) => assert_eq!(
                s.data_points[0].quantile_values,
                vec![
                    ValueAtQuantile {
                        quantile: 0.5,
                        value: 50.0
                    },
                    ValueAtQuantile {
                        quantile: 0.9,
                        value: 90.0
                    },
                    ValueAtQuantile {
                        quantile: 0.99,
                        value: 99.0
                    },
                ]
            ),
            other => panic!("expected summary, got {other:?}"),
        }
    }

    #[test]
    fn contrib_traces_by_eye() {
        let decoded =
            decode_traces(&fixture("contrib_ptracetest_equal_expected.json")).expect("decodes");
        let rs = &decoded.request.resource_spans;
        assert_eq!(rs.len(), 2);
        let span1 = &rs[0].scope_spans[0].spans[0];
        assert_eq!(span1.name, "span1");
        assert_eq!(span1.kind, 2);
        assert_eq!(span1.trace_id, unhex("8c8b1765a7b0acf0b66aa4623fcb7bd5"));
        assert_eq!(span1.span_id, unhex("fd0da883bb27cd6b"));
        assert_eq!(span1.parent_span_id, unhex("bcff497b5a47310f"));
        assert_eq!(span1.start_time_unix_nano, 11_651_379_494_838_206_464);
        assert_eq!(span1.end_time_unix_nano, 11_651_379_494_838_206_464);
        // "description" inside status is not an OTLP field: ignored.
        assert_eq!(span1.status, Some(Status::default()));
        // "attributes": null, and the misspelt "droppedAttributeCount".
        assert_eq!(
            span1.events,
            vec![span::Event {
                name: "Sub span event".into(),
                ..Default::default()
            }]
        );
        assert_eq!(
            span1.links,
            vec![span::Link {
                trace_id: unhex("8c8b1765a7b0acf0b66aa4623fcb7bd5"),
                span_id: unhex("fd0da883bb27cd6b"),
                attributes: vec![
                    kv_str("testKey1", "teststringvalue1"),
                    kv_str("testKey2", "teststringvalue2")
                ],
                ..Default::default()
            }]
        );
        let span2 = &rs[1].scope_spans[0].spans[0];
        assert_eq!(
            span2,
            &Span {
                kind: 2,
                start_time_unix_nano: 11_651_379_494_838_206_464,
                end_time_unix_nano: 11_651_379_494_838_206_464,
                attributes: vec![
                    kv_str("testKey3", "teststringvalue3"),
                    kv_str("testKey4", "teststringvalue4")
                ],
                status: Some(Status::default()),
                ..Default::default()
            }
        );
    }

    // -- ids -----------------------------------------------------------------

    #[test]
    fn hex_ids_accept_any_case() {
        let upper = traces(&spans_request(
            r#"{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174"}"#,
        ));
        let lower = traces(&spans_request(
            r#"{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}"#,
        ));
        let mixed = traces(&spans_request(
            r#"{"traceId":"5b8EFFf798038103d269B633813FC60c","spanId":"EEE19b7ec3c1B174"}"#,
        ));
        let span = only_span(&upper);
        assert_eq!(
            span.trace_id,
            vec![
                0x5B, 0x8E, 0xFF, 0xF7, 0x98, 0x03, 0x81, 0x03, 0xD2, 0x69, 0xB6, 0x33, 0x81, 0x3F,
                0xC6, 0x0C
            ]
        );
        assert_eq!(
            span.span_id,
            vec![0xEE, 0xE1, 0x9B, 0x7E, 0xC3, 0xC1, 0xB1, 0x74]
        );
        assert_eq!(upper, lower);
        assert_eq!(upper, mixed);
    }

    #[test]
    fn id_length_is_not_validated_here() {
        let decoded = traces(&spans_request(r#"{"traceId":"abcd","spanId":""}"#));
        assert_eq!(decoded.rejected, 0);
        assert_eq!(only_span(&decoded).trace_id, vec![0xab, 0xcd]);
        assert!(only_span(&decoded).span_id.is_empty());
    }

    #[test]
    fn bad_hex_id_rejects_only_that_span() {
        let decoded = traces(&spans_request(
            r#"{"name":"a","traceId":"0102"},
               {"name":"b","traceId":"zz02"},
               {"name":"c","spanId":"0a0B"}"#,
        ));
        let names: Vec<_> = decoded.request.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(decoded.rejected, 1);
        let message = decoded.first_error.expect("first error");
        assert!(
            message.starts_with("resourceSpans[0].scopeSpans[0].spans[1].traceId: "),
            "{message}"
        );
        assert!(message.contains("\"zz02\""), "{message}");
    }

    #[test]
    fn odd_length_ids_reject_and_first_error_is_kept() {
        let decoded = traces(&spans_request(
            r#"{"name":"a","parentSpanId":"abc"},
               {"name":"b"},
               {"name":"c","links":[{"spanId":"0g"}]}"#,
        ));
        let spans = &decoded.request.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].name, "b");
        assert_eq!(decoded.rejected, 2);
        let message = decoded.first_error.expect("first error");
        assert!(
            message.starts_with("resourceSpans[0].scopeSpans[0].spans[0].parentSpanId: "),
            "{message}"
        );
        assert!(message.contains("odd number of hex digits"), "{message}");
    }

    #[test]
    fn bad_link_id_rejects_the_span() {
        let decoded = traces(&spans_request(
            r#"{"name":"a","links":[{"traceId":"00"},{"traceId":"not hex"}]},{"name":"b"}"#,
        ));
        assert_eq!(decoded.rejected, 1);
        assert_eq!(only_span(&decoded).name, "b");
        let message = decoded.first_error.expect("first error");
        assert!(
            message.starts_with("resourceSpans[0].scopeSpans[0].spans[0].links[1].traceId: "),
            "{message}"
        );
    }

    #[test]
    fn bad_log_id_rejects_the_log_record() {
        let decoded = logs(
            r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
                {"severityText":"keep"},
                {"severityText":"drop","spanId":"xyz1"}
            ]}]}]}"#,
        );
        let records = &decoded.request.resource_logs[0].scope_logs[0].log_records;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].severity_text, "keep");
        assert_eq!(decoded.rejected, 1);
        assert!(
            decoded.first_error.as_deref().is_some_and(
                |m| m.starts_with("resourceLogs[0].scopeLogs[0].logRecords[1].spanId: ")
            ),
            "{:?}",
            decoded.first_error
        );
    }

    #[test]
    fn bad_exemplar_id_rejects_the_data_point() {
        let decoded = metrics(
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
                {"name":"g","gauge":{"dataPoints":[
                    {"asInt":"1","exemplars":[{"asInt":"5","traceId":"0Q"}]},
                    {"asInt":"2","exemplars":[{"asDouble":1.5,"spanId":"0102030405060708"}]}
                ]}},
                {"name":"h","histogram":{"dataPoints":[
                    {"count":"1","exemplars":[{"spanId":"1"}]}
                ]}}
            ]}]}]}"#,
        );
        assert_eq!(decoded.rejected, 2);
        let points = gauge_points(&decoded);
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].value, Some(number_data_point::Value::AsInt(2)));
        assert_eq!(points[0].exemplars[0].span_id, vec![1, 2, 3, 4, 5, 6, 7, 8]);
        match metric_data(&decoded, 1) {
            Data::Histogram(h) => assert!(h.data_points.is_empty()),
            other => panic!("expected histogram, got {other:?}"),
        }
        let message = decoded.first_error.expect("first error");
        assert!(
            message.starts_with(
                "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].exemplars[0].traceId: "
            ),
            "{message}"
        );
    }

    #[test]
    fn structural_error_in_a_rejected_span_still_fails_the_request() {
        let message = trace_error(&spans_request(
            r#"{"traceId":"zz","startTimeUnixNano":"soon"}"#,
        ));
        assert!(message.contains("startTimeUnixNano"), "{message}");
    }

    #[test]
    fn id_of_wrong_json_type_is_structural() {
        let message = trace_error(&spans_request(r#"{"traceId":12}"#));
        assert_eq!(
            message,
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected a hex string, got 12"
        );
    }

    // -- numbers -------------------------------------------------------------

    #[test]
    fn uint64_above_i64_max_is_exact() {
        let as_string = traces(&spans_request(
            r#"{"startTimeUnixNano":"11651379494838206464"}"#,
        ));
        let as_number = traces(&spans_request(
            r#"{"startTimeUnixNano":11651379494838206464}"#,
        ));
        assert_eq!(
            only_span(&as_string).start_time_unix_nano,
            11_651_379_494_838_206_464
        );
        assert_eq!(
            only_span(&as_number).start_time_unix_nano,
            11_651_379_494_838_206_464
        );
        let max = traces(&spans_request(
            r#"{"endTimeUnixNano":"18446744073709551615"}"#,
        ));
        assert_eq!(only_span(&max).end_time_unix_nano, u64::MAX);
        let message = trace_error(&spans_request(
            r#"{"endTimeUnixNano":"18446744073709551616"}"#,
        ));
        assert!(message.contains("endTimeUnixNano"), "{message}");
    }

    #[test]
    fn integers_as_numbers_and_strings() {
        use any_value::Value as V;
        let json = spans_request(
            r#"{"startTimeUnixNano":1544712660000000000,"endTimeUnixNano":"1544712661000000000",
                "droppedAttributesCount":"3","droppedEventsCount":4,"droppedLinksCount":"5",
                "flags":"257","kind":"3",
                "attributes":[{"key":"n","value":{"intValue":7}},
                              {"key":"s","value":{"intValue":"-7"}},
                              {"key":"big","value":{"intValue":"-9223372036854775808"}}]}"#,
        );
        let decoded = traces(&json);
        let span = only_span(&decoded);
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(span.dropped_attributes_count, 3);
        assert_eq!(span.dropped_events_count, 4);
        assert_eq!(span.dropped_links_count, 5);
        assert_eq!(span.flags, 257);
        assert_eq!(span.kind, 3);
        assert_eq!(
            span.attributes,
            vec![
                kv("n", any(V::IntValue(7))),
                kv("s", any(V::IntValue(-7))),
                kv("big", any(V::IntValue(i64::MIN))),
            ]
        );
    }

    #[test]
    fn exact_exponent_integers_are_accepted() {
        let decoded = traces(&spans_request(
            r#"{"startTimeUnixNano":"1e3","endTimeUnixNano":2.0E3,"droppedAttributesCount":1e1}"#,
        ));
        let span = only_span(&decoded);
        assert_eq!(span.start_time_unix_nano, 1000);
        assert_eq!(span.end_time_unix_nano, 2000);
        assert_eq!(span.dropped_attributes_count, 10);
    }

    #[test]
    fn non_integers_and_negative_unsigned_are_rejected() {
        for bad in [
            r#""abc""#, r#""1.5""#, "1.5", "-1", r#""-1""#, r#""""#, r#"" 1""#, "true", "[]",
            "1e300",
        ] {
            let message = trace_error(&spans_request(&format!(r#"{{"startTimeUnixNano":{bad}}}"#)));
            assert!(
                message.starts_with(
                    "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: \
                     expected an unsigned 64-bit integer as a string or number, got "
                ),
                "{bad}: {message}"
            );
        }
        let message = trace_error(&spans_request(r#"{"startTimeUnixNano":"abc"}"#));
        assert_eq!(
            message,
            "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: \
             expected an unsigned 64-bit integer as a string or number, got \"abc\""
        );
        // 32-bit fields are range checked.
        let message = trace_error(&spans_request(r#"{"droppedLinksCount":4294967296}"#));
        assert!(message.contains("droppedLinksCount"), "{message}");
        let message = trace_error(&spans_request(
            r#"{"attributes":[{"key":"k","value":{"intValue":"9223372036854775808"}}]}"#,
        ));
        assert!(
            message.starts_with(
                "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue: "
            ),
            "{message}"
        );
    }

    #[test]
    fn doubles_accept_special_strings() {
        use any_value::Value as V;
        let nan = attribute_value(r#"{"doubleValue":"NaN"}"#);
        match nan.and_then(|v| v.value) {
            Some(V::DoubleValue(f)) => assert!(f.is_nan()),
            other => panic!("expected NaN, got {other:?}"),
        }
        assert_eq!(
            attribute_value(r#"{"doubleValue":"Infinity"}"#),
            any(V::DoubleValue(f64::INFINITY))
        );
        assert_eq!(
            attribute_value(r#"{"doubleValue":"-Infinity"}"#),
            any(V::DoubleValue(f64::NEG_INFINITY))
        );
        assert_eq!(
            attribute_value(r#"{"doubleValue":"1.5"}"#),
            any(V::DoubleValue(1.5))
        );
        assert_eq!(
            attribute_value(r#"{"doubleValue":2}"#),
            any(V::DoubleValue(2.0))
        );

        let decoded = metrics(
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"histogram":{"dataPoints":[
                {"sum":"Infinity","min":"-Infinity","max":"NaN","explicitBounds":[1,"2.5","Infinity"]}
            ]}}]}]}]}"#,
        );
        match metric_data(&decoded, 0) {
            Data::Histogram(h) => {
                let p = &h.data_points[0];
                assert_eq!(p.sum, Some(f64::INFINITY));
                assert_eq!(p.min, Some(f64::NEG_INFINITY));
                assert!(p.max.is_some_and(f64::is_nan));
                assert_eq!(p.explicit_bounds, vec![1.0, 2.5, f64::INFINITY]);
            }
            other => panic!("expected histogram, got {other:?}"),
        }

        for bad in [r#""inf""#, r#""nan""#, r#""1e400""#, r#""x""#, "true"] {
            let message = trace_error(&spans_request(&format!(
                r#"{{"attributes":[{{"key":"k","value":{{"doubleValue":{bad}}}}}]}}"#
            )));
            assert!(
                message.contains("attributes[0].value.doubleValue"),
                "{bad}: {message}"
            );
        }
    }

    // -- enums ---------------------------------------------------------------

    #[test]
    fn enums_accept_names_and_keep_unknown_integers() {
        let decoded = traces(&spans_request(
            r#"{"name":"a","kind":"SPAN_KIND_SERVER","status":{"code":"STATUS_CODE_ERROR"}},
               {"name":"b","kind":42,"status":{"code":7}}"#,
        ));
        let spans = &decoded.request.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans[0].kind, 2);
        assert_eq!(spans[0].status.as_ref().map(|s| s.code), Some(2));
        assert_eq!(spans[1].kind, 42);
        assert_eq!(spans[1].status.as_ref().map(|s| s.code), Some(7));

        let decoded = logs(
            r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
                {"severityNumber":"SEVERITY_NUMBER_INFO"},{"severityNumber":"SEVERITY_NUMBER_FATAL4"}
            ]}]}]}"#,
        );
        let records = &decoded.request.resource_logs[0].scope_logs[0].log_records;
        assert_eq!(records[0].severity_number, 9);
        assert_eq!(records[1].severity_number, 24);

        let decoded = metrics(
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
                {"sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA"}},
                {"histogram":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_CUMULATIVE"}},
                {"exponentialHistogram":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA"}}
            ]}]}]}"#,
        );
        match metric_data(&decoded, 0) {
            Data::Sum(s) => assert_eq!(s.aggregation_temporality, 1),
            other => panic!("expected sum, got {other:?}"),
        }
        match metric_data(&decoded, 1) {
            Data::Histogram(h) => assert_eq!(h.aggregation_temporality, 2),
            other => panic!("expected histogram, got {other:?}"),
        }
        match metric_data(&decoded, 2) {
            Data::ExponentialHistogram(h) => assert_eq!(h.aggregation_temporality, 1),
            other => panic!("expected exponential histogram, got {other:?}"),
        }

        let message = trace_error(&spans_request(r#"{"kind":"SPAN_KIND_SIDEWAYS"}"#));
        assert_eq!(
            message,
            "resourceSpans[0].scopeSpans[0].spans[0].kind: \
             expected an enum value as an integer or name, got \"SPAN_KIND_SIDEWAYS\""
        );
    }

    // -- nulls, duplicates, unknown fields, snake_case -----------------------

    #[test]
    fn null_means_absent() {
        let decoded = traces(
            r#"{"resourceSpans":[{"resource":null,"schemaUrl":null,"scopeSpans":[{"scope":null,
                "spans":[{"name":"s","attributes":null,"events":null,"links":null,"status":null,
                          "traceId":null,"startTimeUnixNano":null,"kind":null}]}]}]}"#,
        );
        let rs = &decoded.request.resource_spans[0];
        assert_eq!(rs.resource, None);
        assert_eq!(rs.scope_spans[0].scope, None);
        assert_eq!(
            only_span(&decoded),
            &Span {
                name: "s".into(),
                ..Default::default()
            }
        );
        assert_eq!(
            traces(r#"{"resourceSpans":null}"#).request,
            Default::default()
        );
        assert_eq!(traces("{}").request, Default::default());
    }

    #[test]
    fn attribute_value_absent_null_and_empty() {
        let decoded = traces(&spans_request(
            r#"{"attributes":[{"key":"absent"},{"key":"null","value":null},{"key":"empty","value":{}},
                              {"key":"nullmember","value":{"stringValue":null}},
                              {"key":"unknownmember","value":{"futureValue":1}}]}"#,
        ));
        assert_eq!(
            only_span(&decoded).attributes,
            vec![
                kv("absent", None),
                kv("null", None),
                kv("empty", Some(AnyValue { value: None })),
                kv("nullmember", Some(AnyValue { value: None })),
                kv("unknownmember", Some(AnyValue { value: None })),
            ]
        );
    }

    #[test]
    fn duplicate_attribute_keys_are_kept_in_order() {
        let decoded = traces(&spans_request(
            r#"{"attributes":[{"key":"k","value":{"stringValue":"1"}},
                              {"key":"other","value":{"stringValue":"x"}},
                              {"key":"k","value":{"stringValue":"2"}}]}"#,
        ));
        assert_eq!(
            only_span(&decoded).attributes,
            vec![kv_str("k", "1"), kv_str("other", "x"), kv_str("k", "2")]
        );
    }

    #[test]
    fn unknown_fields_are_ignored_everywhere() {
        let decoded = traces(
            r#"{"future":1,"resourceSpans":[{"x":[1,2],"resource":{"y":{},"attributes":[
                {"key":"a","z":true,"value":{"stringValue":"b","w":null}}]},
                "scopeSpans":[{"q":"r","scope":{"name":"n","extra":[]},
                "spans":[{"name":"s","unknown":{"deep":[{}]},"status":{"description":"d"},
                          "events":[{"name":"e","more":1}],"links":[{"spanId":"01","less":2}]}]}]}]}"#,
        );
        let rs = &decoded.request.resource_spans[0];
        assert_eq!(
            rs.resource.as_ref().map(|r| r.attributes.clone()),
            Some(vec![kv_str("a", "b")])
        );
        let span = only_span(&decoded);
        assert_eq!(span.name, "s");
        assert_eq!(span.events[0].name, "e");
        assert_eq!(span.links[0].span_id, vec![1]);
        assert_eq!(span.status, Some(Status::default()));
    }

    #[test]
    fn snake_case_names_are_accepted() {
        let snake = traces(
            r#"{"resource_spans":[{"resource":{"dropped_attributes_count":2,
                "entity_refs":[{"schema_url":"u","type":"service","id_keys":["service.name"],
                                "description_keys":["d"]}]},
                "schema_url":"rs","scope_spans":[{"schema_url":"ss","scope":{"dropped_attributes_count":1},
                "spans":[{"trace_id":"01","span_id":"02","parent_span_id":"03","trace_state":"t",
                          "start_time_unix_nano":"1","end_time_unix_nano":"2","dropped_attributes_count":3,
                          "dropped_events_count":4,"dropped_links_count":5,
                          "events":[{"time_unix_nano":"6","dropped_attributes_count":7}],
                          "links":[{"trace_id":"08","span_id":"09","trace_state":"l","dropped_attributes_count":10}],
                          "attributes":[{"key":"k","value":{"int_value":"11"}}]}]}]}]}"#,
        );
        let camel = traces(
            r#"{"resourceSpans":[{"resource":{"droppedAttributesCount":2,
                "entityRefs":[{"schemaUrl":"u","type":"service","idKeys":["service.name"],
                               "descriptionKeys":["d"]}]},
                "schemaUrl":"rs","scopeSpans":[{"schemaUrl":"ss","scope":{"droppedAttributesCount":1},
                "spans":[{"traceId":"01","spanId":"02","parentSpanId":"03","traceState":"t",
                          "startTimeUnixNano":"1","endTimeUnixNano":"2","droppedAttributesCount":3,
                          "droppedEventsCount":4,"droppedLinksCount":5,
                          "events":[{"timeUnixNano":"6","droppedAttributesCount":7}],
                          "links":[{"traceId":"08","spanId":"09","traceState":"l","droppedAttributesCount":10}],
                          "attributes":[{"key":"k","value":{"intValue":"11"}}]}]}]}]}"#,
        );
        assert_eq!(snake, camel);
        let rs = &camel.request.resource_spans[0];
        assert_eq!(
            rs.resource.as_ref().map(|r| r.entity_refs.clone()),
            Some(vec![EntityRef {
                schema_url: "u".into(),
                r#type: "service".into(),
                id_keys: vec!["service.name".into()],
                description_keys: vec!["d".into()],
            }])
        );
        let span = only_span(&camel);
        assert_eq!(span.links[0].dropped_attributes_count, 10);
        assert_eq!(span.events[0].time_unix_nano, 6);

        let snake_logs = logs(
            r#"{"resource_logs":[{"scope_logs":[{"log_records":[{"time_unix_nano":"1",
                "observed_time_unix_nano":"2","severity_number":3,"severity_text":"t",
                "event_name":"e","trace_id":"aa","span_id":"bb"}]}]}]}"#,
        );
        let record = &snake_logs.request.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(
            record,
            &LogRecord {
                time_unix_nano: 1,
                observed_time_unix_nano: 2,
                severity_number: 3,
                severity_text: "t".into(),
                event_name: "e".into(),
                trace_id: vec![0xaa],
                span_id: vec![0xbb],
                ..Default::default()
            }
        );

        let snake_metrics = metrics(
            r#"{"resource_metrics":[{"scope_metrics":[{"metrics":[
                {"sum":{"data_points":[{"as_int":"4","start_time_unix_nano":"1","time_unix_nano":"2"}],
                        "aggregation_temporality":2,"is_monotonic":true}},
                {"exponential_histogram":{"data_points":[{"zero_count":"3","zero_threshold":0.5,
                        "positive":{"bucket_counts":["1"]}}]}},
                {"summary":{"data_points":[{"quantile_values":[{"quantile":1,"value":2}]}]}}
            ]}]}]}"#,
        );
        match metric_data(&snake_metrics, 0) {
            Data::Sum(s) => {
                assert_eq!((s.aggregation_temporality, s.is_monotonic), (2, true));
                let p = &s.data_points[0];
                assert_eq!(p.value, Some(number_data_point::Value::AsInt(4)));
                assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (1, 2));
            }
            other => panic!("expected sum, got {other:?}"),
        }
        match metric_data(&snake_metrics, 1) {
            Data::ExponentialHistogram(h) => {
                let p = &h.data_points[0];
                assert_eq!((p.zero_count, p.zero_threshold), (3, 0.5));
                assert_eq!(
                    p.positive.as_ref().map(|b| b.bucket_counts.clone()),
                    Some(vec![1])
                );
            }
            other => panic!("expected exponential histogram, got {other:?}"),
        }
        match metric_data(&snake_metrics, 2) {
            Data::Summary(s) => assert_eq!(
                s.data_points[0].quantile_values,
                vec![ValueAtQuantile {
                    quantile: 1.0,
                    value: 2.0
                }]
            ),
            other => panic!("expected summary, got {other:?}"),
        }
    }

    // -- AnyValue ------------------------------------------------------------

    #[test]
    fn bytes_values_are_base64_in_any_flavour() {
        use any_value::Value as V;
        let cases = [
            (r#""Zm9v""#, b"foo".to_vec()),
            (r#""Zm9vYg==""#, b"foob".to_vec()),
            (r#""Zm9vYg""#, b"foob".to_vec()),
            (r#""+/8=""#, vec![0xfb, 0xff]),
            (r#""-_8=""#, vec![0xfb, 0xff]),
            (r#""-_8""#, vec![0xfb, 0xff]),
            (r#""""#, vec![]),
        ];
        for (json, expected) in cases {
            assert_eq!(
                attribute_value(&format!(r#"{{"bytesValue":{json}}}"#)),
                any(V::BytesValue(expected)),
                "{json}"
            );
        }
        let message = trace_error(&spans_request(
            r#"{"attributes":[{"key":"k","value":{"bytesValue":"*not base64*"}}]}"#,
        ));
        assert!(
            message.starts_with("resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.bytesValue: invalid base64"),
            "{message}"
        );
    }

    #[test]
    fn any_value_with_two_members_is_an_error() {
        let message = trace_error(&spans_request(
            r#"{"attributes":[{"key":"k","value":{"stringValue":"a","intValue":"1"}}]}"#,
        ));
        assert_eq!(
            message,
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value: \
             more than one member of a oneof is set"
        );
    }

    #[test]
    fn nested_values_report_their_path() {
        let message = trace_error(&spans_request(
            r#"{"attributes":[{"key":"k","value":{"arrayValue":{"values":[
                {"stringValue":"ok"},
                {"kvlistValue":{"values":[{"key":"inner","value":{"boolValue":"yes"}}]}}
            ]}}}]}"#,
        ));
        assert_eq!(
            message,
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.arrayValue.values[1]\
             .kvlistValue.values[0].value.boolValue: expected true or false, got \"yes\""
        );
    }

    #[test]
    fn deeply_nested_json_is_an_error_not_a_crash() {
        let depth = 10_000;
        let mut value = String::new();
        for _ in 0..depth {
            value.push_str(r#"{"arrayValue":{"values":["#);
        }
        for _ in 0..depth {
            value.push_str("]}}");
        }
        let json = spans_request(&format!(
            r#"{{"attributes":[{{"key":"k","value":{value}}}]}}"#
        ));
        let message = trace_error(&json);
        assert!(
            message.starts_with("invalid JSON at line 1 column "),
            "{message}"
        );
        assert!(message.contains("recursion limit"), "{message}");
    }

    #[test]
    fn own_recursion_is_bounded() {
        // Build a value deeper than MAX_ANY_VALUE_DEPTH without going through
        // the JSON parser (whose own limit would trip first).
        let mut value = serde_json::json!({"stringValue": "leaf"});
        for _ in 0..(MAX_ANY_VALUE_DEPTH + 5) {
            value = serde_json::json!({"arrayValue": {"values": [value]}});
        }
        let err = any_value(value, &Path::ROOT.field("value"), 0).expect_err("too deep");
        assert!(err.to_string().contains("nested deeper than 128"), "{err}");

        let mut shallow = serde_json::json!({"intValue": 1});
        for _ in 0..MAX_ANY_VALUE_DEPTH {
            shallow =
                serde_json::json!({"kvlistValue": {"values": [{"key": "k", "value": shallow}]}});
        }
        assert!(any_value(shallow, &Path::ROOT.field("value"), 0).is_ok());
    }

    // -- structural errors ---------------------------------------------------

    #[test]
    fn truncated_json_reports_line_and_column() {
        let err = decode_traces(b"{\n  \"resourceSpans\": [\n    {\"scopeSpans\": [")
            .expect_err("truncated");
        match &err {
            JsonError::Syntax { line, .. } => assert_eq!(*line, 3),
            other => panic!("expected a syntax error, got {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.starts_with("invalid JSON at line 3 column "),
            "{message}"
        );
        assert!(message.contains("EOF"), "{message}");
        assert!(!message.ends_with(" at line 3 column 19"), "{message}");
        assert!(decode_logs(b"").is_err());
        assert!(decode_metrics(b"{\"resourceMetrics\": [}").is_err());
    }

    #[test]
    fn wrong_json_types_name_the_path() {
        assert_eq!(
            trace_error(r#"{"resourceSpans":[{"scopeSpans":[{"spans":5}]}]}"#),
            "resourceSpans[0].scopeSpans[0].spans: expected an array, got 5"
        );
        assert_eq!(
            trace_error(r#"{"resourceSpans":{"scopeSpans":[]}}"#),
            "resourceSpans: expected an array, got an object"
        );
        assert_eq!(
            trace_error(r#"{"resourceSpans":[{"resource":[]}]}"#),
            "resourceSpans[0].resource: expected an object, got an array"
        );
        assert_eq!(
            trace_error(&spans_request(r#"{"name":7}"#)),
            "resourceSpans[0].scopeSpans[0].spans[0].name: expected a string, got 7"
        );
        assert_eq!(
            trace_error(&spans_request(r#"{"name":"a"}, null"#)),
            "resourceSpans[0].scopeSpans[0].spans[1]: expected an object, got null"
        );
        assert_eq!(
            trace_error("[]"),
            "request body: expected an object, got an array"
        );
        let err = decode_metrics(
            br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"sum":{"isMonotonic":"true"}}]}]}]}"#,
        )
        .expect_err("wrong type");
        assert_eq!(
            err.to_string(),
            "resourceMetrics[0].scopeMetrics[0].metrics[0].sum.isMonotonic: \
             expected true or false, got \"true\""
        );
        let err =
            decode_logs(br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":"text"}]}]}]}"#)
                .expect_err("wrong type");
        assert_eq!(
            err.to_string(),
            "resourceLogs[0].scopeLogs[0].logRecords[0].body: expected an object, got \"text\""
        );
    }

    #[test]
    fn long_strings_are_truncated_in_messages() {
        let long = "x".repeat(1000);
        let message = trace_error(&spans_request(&format!(r#"{{"kind":"{long}"}}"#)));
        assert!(message.len() < 300, "{message}");
        assert!(message.ends_with("..."), "{message}");
    }

    // -- metrics specifics ---------------------------------------------------

    #[test]
    fn metric_without_data_and_conflicting_data() {
        let decoded = metrics(
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","unit":"s"}]}]}]}"#,
        );
        let metric = &decoded.request.resource_metrics[0].scope_metrics[0].metrics[0];
        assert_eq!(metric.data, None);
        assert_eq!(metric.unit, "s");

        let err = decode_metrics(
            br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{},"sum":{}}]}]}]}"#,
        )
        .expect_err("two data members");
        assert_eq!(
            err.to_string(),
            "resourceMetrics[0].scopeMetrics[0].metrics[0]: more than one member of a oneof is set"
        );

        let err = decode_metrics(
            br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{"asInt":"1","asDouble":1}]}}]}]}]}"#,
        )
        .expect_err("two values");
        assert!(
            err.to_string()
                .ends_with("gauge.dataPoints[0]: more than one member of a oneof is set"),
            "{err}"
        );
    }

    #[test]
    fn histogram_optional_fields_and_exemplar_ints() {
        let decoded = metrics(
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"histogram":{"dataPoints":[
                {"count":3,"bucketCounts":[1,"2"],"explicitBounds":[],"flags":1,
                 "exemplars":[{"asInt":"-4","timeUnixNano":"9","filteredAttributes":[{"key":"f","value":{"boolValue":false}}]}]},
                {"count":"0","sum":0,"min":null}
            ]}}]}]}]}"#,
        );
        match metric_data(&decoded, 0) {
            Data::Histogram(h) => {
                let first = &h.data_points[0];
                assert_eq!(first.count, 3);
                assert_eq!((first.sum, first.min, first.max), (None, None, None));
                assert_eq!(first.bucket_counts, vec![1, 2]);
                assert!(first.explicit_bounds.is_empty());
                assert_eq!(first.flags, 1);
                assert_eq!(
                    first.exemplars,
                    vec![Exemplar {
                        filtered_attributes: vec![kv("f", any(any_value::Value::BoolValue(false)))],
                        time_unix_nano: 9,
                        value: Some(exemplar::Value::AsInt(-4)),
                        ..Default::default()
                    }]
                );
                let second = &h.data_points[1];
                assert_eq!(
                    (second.sum, second.min, second.max),
                    (Some(0.0), None, None)
                );
            }
            other => panic!("expected histogram, got {other:?}"),
        }
    }

    #[test]
    fn exponential_histogram_scale_and_offsets_may_be_negative() {
        let decoded = metrics(
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"exponentialHistogram":{"dataPoints":[
                {"scale":-3,"negative":{"offset":"-2","bucketCounts":["7"]},"flags":"1"}
            ]}}]}]}]}"#,
        );
        match metric_data(&decoded, 0) {
            Data::ExponentialHistogram(h) => {
                let p = &h.data_points[0];
                assert_eq!(p.scale, -3);
                assert_eq!(p.flags, 1);
                assert_eq!(
                    p.negative,
                    Some(Buckets {
                        offset: -2,
                        bucket_counts: vec![7]
                    })
                );
            }
            other => panic!("expected exponential histogram, got {other:?}"),
        }
    }

    // -- response ------------------------------------------------------------

    #[test]
    fn partial_success_response() {
        assert_eq!(
            encode_partial_success_response("rejectedSpans", 0, ""),
            b"{}"
        );
        assert_eq!(
            String::from_utf8(encode_partial_success_response(
                "rejectedSpans",
                3,
                "bad ids"
            ))
            .expect("utf-8"),
            r#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"bad ids"}}"#
        );
        assert_eq!(
            String::from_utf8(encode_partial_success_response("rejectedDataPoints", 2, ""))
                .expect("utf-8"),
            r#"{"partialSuccess":{"rejectedDataPoints":"2"}}"#
        );
        assert_eq!(
            String::from_utf8(encode_partial_success_response(
                "rejectedLogRecords",
                0,
                "say \"hi\"\n"
            ))
            .expect("utf-8"),
            r#"{"partialSuccess":{"rejectedLogRecords":"0","errorMessage":"say \"hi\"\n"}}"#
        );
        // The output is valid JSON that a proto3 JSON parser would read back.
        let body = encode_partial_success_response("rejectedSpans", u64::MAX, "x");
        let parsed: Json = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(
            parsed["partialSuccess"]["rejectedSpans"],
            Json::String("18446744073709551615".into())
        );
    }
}
