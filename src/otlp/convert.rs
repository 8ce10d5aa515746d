//! OTLP export requests → Arrow record batches, one per table.
//!
//! The conversion is total: every request that passed [`super::validate`] converts, and
//! every OTLP field lands in a column (see `store::schema` for the layout). Resource and
//! scope values are rendered once per resource or scope and repeated per row.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListArray,
    ListBuilder, RecordBatch, StringBuilder, StructArray, TimestampNanosecondBuilder,
    UInt32Builder, UInt64Builder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields};
use arrow::error::ArrowError;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, Metric, exemplar, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::attributes;
use crate::store::schema::{self, Table};

/// An OTLP timestamp as a timestamp column value: NULL when absent (0) or beyond `i64`.
pub fn timestamp(unix_nano: u64) -> Option<i64> {
    if unix_nano == 0 {
        None
    } else {
        i64::try_from(unix_nano).ok()
    }
}

/// Appends an id as lower-case hex. Ids are at most 16 bytes once validated; anything
/// longer (only reachable from hand-built messages) still converts, through a heap string.
fn append_hex(builder: &mut StringBuilder, id: &[u8]) {
    let mut buf = [0u8; 32];
    if let Some(out) = buf.get_mut(..id.len() * 2)
        && hex::encode_to_slice(id, out).is_ok()
        && let Ok(text) = std::str::from_utf8(out)
    {
        builder.append_value(text);
    } else {
        builder.append_value(hex::encode(id));
    }
}

/// An enum value by name, or its number when outside the enum.
fn enum_name(names: &'static [&'static str], value: i32) -> Cow<'static, str> {
    match usize::try_from(value).ok().and_then(|i| names.get(i)) {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(value.to_string()),
    }
}

fn span_kind(kind: i32) -> Cow<'static, str> {
    enum_name(
        &[
            "UNSPECIFIED",
            "INTERNAL",
            "SERVER",
            "CLIENT",
            "PRODUCER",
            "CONSUMER",
        ],
        kind,
    )
}

fn status_code(code: i32) -> Cow<'static, str> {
    enum_name(&["UNSET", "OK", "ERROR"], code)
}

fn temporality(value: i32) -> Cow<'static, str> {
    enum_name(&["unspecified", "delta", "cumulative"], value)
}

fn timestamp_builder(capacity: usize) -> TimestampNanosecondBuilder {
    TimestampNanosecondBuilder::with_capacity(capacity).with_data_type(schema::timestamp_type())
}

/// Resource and scope values, rendered once and repeated on every row beneath them.
#[derive(Debug, Default)]
struct Context {
    service_name: Option<String>,
    resource_attributes: String,
    resource_dropped: u32,
    resource_schema_url: String,
    scope_name: String,
    scope_version: String,
    scope_attributes: String,
    scope_dropped: u32,
    scope_schema_url: String,
    /// The resource's entity references as a JSON array; `None` when it has none.
    entity_refs: Option<String>,
}

impl Context {
    fn resource(resource: Option<&Resource>, schema_url: &str) -> Context {
        let attrs: &[KeyValue] = resource
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        let service_name = attrs
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .filter(|v| v.value.is_some())
            .map(attributes::value_as_text);
        Context {
            service_name,
            resource_attributes: attributes::to_json(attrs),
            resource_dropped: resource.map_or(0, |r| r.dropped_attributes_count),
            resource_schema_url: schema_url.to_owned(),
            entity_refs: resource.and_then(entity_refs_json),
            ..Context::default()
        }
    }

    fn set_scope(&mut self, scope: Option<&InstrumentationScope>, schema_url: &str) {
        let scope_attrs: &[KeyValue] = scope.map(|s| s.attributes.as_slice()).unwrap_or_default();
        self.scope_name = scope.map(|s| s.name.clone()).unwrap_or_default();
        self.scope_version = scope.map(|s| s.version.clone()).unwrap_or_default();
        attributes::write_object(&mut self.scope_attributes, scope_attrs);
        self.scope_dropped = scope.map_or(0, |s| s.dropped_attributes_count);
        self.scope_schema_url = schema_url.to_owned();
    }
}

/// `[{"type": …, "schema_url": …, "id_keys": […], "description_keys": […]}, …]`.
fn entity_refs_json(resource: &Resource) -> Option<String> {
    if resource.entity_refs.is_empty() {
        return None;
    }
    let refs: Vec<serde_json::Value> = resource
        .entity_refs
        .iter()
        .map(|e| {
            serde_json::json!({
                "type": e.r#type,
                "schema_url": e.schema_url,
                "id_keys": e.id_keys,
                "description_keys": e.description_keys,
            })
        })
        .collect();
    Some(serde_json::Value::Array(refs).to_string())
}

#[derive(Debug, Default)]
struct ContextColumns {
    service_name: StringBuilder,
    resource_attributes: StringBuilder,
    resource_dropped: UInt32Builder,
    resource_schema_url: StringBuilder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    scope_attributes: StringBuilder,
    scope_dropped: UInt32Builder,
    scope_schema_url: StringBuilder,
    entity_refs: StringBuilder,
}

impl ContextColumns {
    fn append(&mut self, c: &Context) {
        self.service_name.append_option(c.service_name.as_deref());
        self.resource_attributes
            .append_value(&c.resource_attributes);
        self.resource_dropped.append_value(c.resource_dropped);
        self.resource_schema_url
            .append_value(&c.resource_schema_url);
        self.scope_name.append_value(&c.scope_name);
        self.scope_version.append_value(&c.scope_version);
        self.scope_attributes.append_value(&c.scope_attributes);
        self.scope_dropped.append_value(c.scope_dropped);
        self.scope_schema_url.append_value(&c.scope_schema_url);
        self.entity_refs.append_option(c.entity_refs.as_deref());
    }

    fn finish_into(&mut self, columns: &mut Vec<ArrayRef>) {
        columns.push(Arc::new(self.service_name.finish()));
        columns.push(Arc::new(self.resource_attributes.finish()));
        columns.push(Arc::new(self.resource_dropped.finish()));
        columns.push(Arc::new(self.resource_schema_url.finish()));
        columns.push(Arc::new(self.scope_name.finish()));
        columns.push(Arc::new(self.scope_version.finish()));
        columns.push(Arc::new(self.scope_attributes.finish()));
        columns.push(Arc::new(self.scope_dropped.finish()));
        columns.push(Arc::new(self.scope_schema_url.finish()));
        columns.push(Arc::new(self.entity_refs.finish()));
    }
}

/// A `List<Struct<…>>` column built from child builders and offsets.
fn list_of_structs(fields: Fields, children: Vec<ArrayRef>, offsets: Vec<i32>) -> ArrayRef {
    let values = StructArray::new(fields.clone(), children, None);
    let item = Arc::new(Field::new("item", DataType::Struct(fields), true));
    Arc::new(ListArray::new(
        item,
        OffsetBuffer::new(offsets.into()),
        Arc::new(values),
        None,
    ))
}

/// Builds the batch and gives back the builders' spare capacity: a small export would
/// otherwise hold hundreds of kilobytes of empty buffer space while it sits in memory.
fn finish_batch(table: Table, mut columns: Vec<ArrayRef>) -> Result<RecordBatch, ArrowError> {
    for column in &mut columns {
        if let Some(array) = Arc::get_mut(column) {
            array.shrink_to_fit();
        }
    }
    RecordBatch::try_new(table.schema(), columns)
}

// ---------------------------------------------------------------------------------------
// Spans

#[derive(Debug, Default)]
struct EventColumns {
    offsets: Vec<i32>,
    time: TimestampNanosecondBuilder,
    name: StringBuilder,
    attributes: StringBuilder,
    dropped: UInt32Builder,
    time_unix_nano: UInt64Builder,
}

#[derive(Debug, Default)]
struct LinkColumns {
    offsets: Vec<i32>,
    trace_id: StringBuilder,
    span_id: StringBuilder,
    trace_state: StringBuilder,
    flags: UInt32Builder,
    attributes: StringBuilder,
    dropped: UInt32Builder,
}

/// Converts a trace export into one `spans` batch (`None` when it holds no span).
pub fn spans(request: &ExportTraceServiceRequest) -> Result<Option<RecordBatch>, ArrowError> {
    let rows: usize = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    if rows == 0 {
        return Ok(None);
    }
    let mut start_time = timestamp_builder(rows);
    let mut end_time = timestamp_builder(rows);
    let mut duration = Int64Builder::with_capacity(rows);
    let mut trace_id = StringBuilder::with_capacity(rows, rows * 32);
    let mut span_id = StringBuilder::with_capacity(rows, rows * 16);
    let mut parent_span_id = StringBuilder::with_capacity(rows, rows * 16);
    let mut trace_state = StringBuilder::new();
    let mut flags = UInt32Builder::with_capacity(rows);
    let mut name = StringBuilder::new();
    let mut kind = StringBuilder::new();
    let mut status = StringBuilder::new();
    let mut status_message = StringBuilder::new();
    let mut attrs = StringBuilder::new();
    let mut dropped_attrs = UInt32Builder::with_capacity(rows);
    let mut events = EventColumns {
        offsets: vec![0],
        ..Default::default()
    };
    events.time = timestamp_builder(0);
    let mut dropped_events = UInt32Builder::with_capacity(rows);
    let mut links = LinkColumns {
        offsets: vec![0],
        ..Default::default()
    };
    let mut dropped_links = UInt32Builder::with_capacity(rows);
    let mut start_raw = UInt64Builder::with_capacity(rows);
    let mut end_raw = UInt64Builder::with_capacity(rows);
    let mut ctx_cols = ContextColumns::default();
    let mut json = String::new();

    for resource_spans in &request.resource_spans {
        let mut ctx =
            Context::resource(resource_spans.resource.as_ref(), &resource_spans.schema_url);
        for scope_spans in &resource_spans.scope_spans {
            ctx.set_scope(scope_spans.scope.as_ref(), &scope_spans.schema_url);
            for span in &scope_spans.spans {
                let start = timestamp(span.start_time_unix_nano);
                let end = timestamp(span.end_time_unix_nano);
                start_time.append_option(start);
                end_time.append_option(end);
                duration.append_option(match (start, end) {
                    (Some(s), Some(e)) => Some(e.saturating_sub(s)),
                    _ => None,
                });
                append_hex(&mut trace_id, &span.trace_id);
                append_hex(&mut span_id, &span.span_id);
                append_hex(&mut parent_span_id, &span.parent_span_id);
                trace_state.append_value(&span.trace_state);
                flags.append_value(span.flags);
                name.append_value(&span.name);
                kind.append_value(span_kind(span.kind));
                let (code, message) = span
                    .status
                    .as_ref()
                    .map_or((0, ""), |s| (s.code, s.message.as_str()));
                status.append_value(status_code(code));
                status_message.append_value(message);
                attributes::write_object(&mut json, &span.attributes);
                attrs.append_value(&json);
                dropped_attrs.append_value(span.dropped_attributes_count);

                for event in &span.events {
                    events.time.append_option(timestamp(event.time_unix_nano));
                    events.name.append_value(&event.name);
                    attributes::write_object(&mut json, &event.attributes);
                    events.attributes.append_value(&json);
                    events.dropped.append_value(event.dropped_attributes_count);
                    events.time_unix_nano.append_value(event.time_unix_nano);
                }
                events.offsets.push(events.name.len() as i32);
                dropped_events.append_value(span.dropped_events_count);

                for link in &span.links {
                    append_hex(&mut links.trace_id, &link.trace_id);
                    append_hex(&mut links.span_id, &link.span_id);
                    links.trace_state.append_value(&link.trace_state);
                    links.flags.append_value(link.flags);
                    attributes::write_object(&mut json, &link.attributes);
                    links.attributes.append_value(&json);
                    links.dropped.append_value(link.dropped_attributes_count);
                }
                links.offsets.push(links.trace_id.len() as i32);
                dropped_links.append_value(span.dropped_links_count);

                start_raw.append_value(span.start_time_unix_nano);
                end_raw.append_value(span.end_time_unix_nano);
                ctx_cols.append(&ctx);
            }
        }
    }

    let events_col = list_of_structs(
        schema::event_fields(),
        vec![
            Arc::new(events.time.finish()),
            Arc::new(events.name.finish()),
            Arc::new(events.attributes.finish()),
            Arc::new(events.dropped.finish()),
            Arc::new(events.time_unix_nano.finish()),
        ],
        events.offsets,
    );
    let links_col = list_of_structs(
        schema::link_fields(),
        vec![
            Arc::new(links.trace_id.finish()),
            Arc::new(links.span_id.finish()),
            Arc::new(links.trace_state.finish()),
            Arc::new(links.flags.finish()),
            Arc::new(links.attributes.finish()),
            Arc::new(links.dropped.finish()),
        ],
        links.offsets,
    );
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(start_time.finish()),
        Arc::new(end_time.finish()),
        Arc::new(duration.finish()),
        Arc::new(trace_id.finish()),
        Arc::new(span_id.finish()),
        Arc::new(parent_span_id.finish()),
        Arc::new(trace_state.finish()),
        Arc::new(flags.finish()),
        Arc::new(name.finish()),
        Arc::new(kind.finish()),
        Arc::new(status.finish()),
        Arc::new(status_message.finish()),
        Arc::new(attrs.finish()),
        Arc::new(dropped_attrs.finish()),
        events_col,
        Arc::new(dropped_events.finish()),
        links_col,
        Arc::new(dropped_links.finish()),
        Arc::new(start_raw.finish()),
        Arc::new(end_raw.finish()),
    ];
    ctx_cols.finish_into(&mut columns);
    finish_batch(Table::Spans, columns).map(Some)
}

// ---------------------------------------------------------------------------------------
// Logs

/// The event name of a log record: the `event_name` field, else the `event.name`
/// attribute that SDKs and Claude Code set before the field existed.
fn event_name<'a>(field: &'a str, attrs: &'a [KeyValue]) -> Option<String> {
    if !field.is_empty() {
        return Some(field.to_owned());
    }
    attrs
        .iter()
        .find(|kv| kv.key == "event.name")
        .and_then(|kv| kv.value.as_ref())
        .filter(|v| v.value.is_some())
        .map(attributes::value_as_text)
}

/// Converts a logs export into one `logs` batch (`None` when it holds no record).
pub fn logs(request: &ExportLogsServiceRequest) -> Result<Option<RecordBatch>, ArrowError> {
    let rows: usize = request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum();
    if rows == 0 {
        return Ok(None);
    }
    let mut time = timestamp_builder(rows);
    let mut observed_time = timestamp_builder(rows);
    let mut severity_number = Int32Builder::with_capacity(rows);
    let mut severity_text = StringBuilder::new();
    let mut body = StringBuilder::new();
    let mut body_type = StringBuilder::new();
    let mut event = StringBuilder::new();
    let mut trace_id = StringBuilder::new();
    let mut span_id = StringBuilder::new();
    let mut flags = UInt32Builder::with_capacity(rows);
    let mut attrs = StringBuilder::new();
    let mut dropped_attrs = UInt32Builder::with_capacity(rows);
    let mut time_raw = UInt64Builder::with_capacity(rows);
    let mut observed_raw = UInt64Builder::with_capacity(rows);
    let mut ctx_cols = ContextColumns::default();
    let mut json = String::new();

    for resource_logs in &request.resource_logs {
        let mut ctx = Context::resource(resource_logs.resource.as_ref(), &resource_logs.schema_url);
        for scope_logs in &resource_logs.scope_logs {
            ctx.set_scope(scope_logs.scope.as_ref(), &scope_logs.schema_url);
            for record in &scope_logs.log_records {
                // OTLP: when a record has no timestamp, its observed time stands in.
                time.append_option(
                    timestamp(record.time_unix_nano)
                        .or_else(|| timestamp(record.observed_time_unix_nano)),
                );
                observed_time.append_option(timestamp(record.observed_time_unix_nano));
                severity_number.append_value(record.severity_number);
                severity_text.append_value(&record.severity_text);
                let body_value: Option<&AnyValue> =
                    record.body.as_ref().filter(|b| b.value.is_some());
                body.append_option(body_value.map(attributes::value_as_text));
                body_type.append_option(body_value.and_then(attributes::type_name));
                event.append_option(event_name(&record.event_name, &record.attributes));
                append_hex(&mut trace_id, &record.trace_id);
                append_hex(&mut span_id, &record.span_id);
                flags.append_value(record.flags);
                attributes::write_object(&mut json, &record.attributes);
                attrs.append_value(&json);
                dropped_attrs.append_value(record.dropped_attributes_count);
                time_raw.append_value(record.time_unix_nano);
                observed_raw.append_value(record.observed_time_unix_nano);
                ctx_cols.append(&ctx);
            }
        }
    }

    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(time.finish()),
        Arc::new(observed_time.finish()),
        Arc::new(severity_number.finish()),
        Arc::new(severity_text.finish()),
        Arc::new(body.finish()),
        Arc::new(body_type.finish()),
        Arc::new(event.finish()),
        Arc::new(trace_id.finish()),
        Arc::new(span_id.finish()),
        Arc::new(flags.finish()),
        Arc::new(attrs.finish()),
        Arc::new(dropped_attrs.finish()),
        Arc::new(time_raw.finish()),
        Arc::new(observed_raw.finish()),
    ];
    ctx_cols.finish_into(&mut columns);
    finish_batch(Table::Logs, columns).map(Some)
}

// ---------------------------------------------------------------------------------------
// Metrics

/// Metric-level values repeated on each of the metric's data points.
#[derive(Debug, Default)]
struct MetricInfo {
    name: String,
    description: String,
    unit: String,
    metadata: String,
}

impl MetricInfo {
    fn of(metric: &Metric) -> MetricInfo {
        MetricInfo {
            name: metric.name.clone(),
            description: metric.description.clone(),
            unit: metric.unit.clone(),
            metadata: attributes::to_json(&metric.metadata),
        }
    }
}

#[derive(Debug)]
struct ExemplarColumns {
    offsets: Vec<i32>,
    time: TimestampNanosecondBuilder,
    value: Float64Builder,
    value_int: Int64Builder,
    trace_id: StringBuilder,
    span_id: StringBuilder,
    filtered_attributes: StringBuilder,
    time_unix_nano: UInt64Builder,
}

impl Default for ExemplarColumns {
    fn default() -> Self {
        ExemplarColumns {
            offsets: vec![0],
            time: timestamp_builder(0),
            value: Float64Builder::new(),
            value_int: Int64Builder::new(),
            trace_id: StringBuilder::new(),
            span_id: StringBuilder::new(),
            filtered_attributes: StringBuilder::new(),
            time_unix_nano: UInt64Builder::new(),
        }
    }
}

/// The columns every data point table starts with, and the resource/scope columns it
/// ends with. The kind-specific columns sit between them.
#[derive(Debug)]
struct PointColumns {
    time: TimestampNanosecondBuilder,
    start_time: TimestampNanosecondBuilder,
    metric_name: StringBuilder,
    description: StringBuilder,
    unit: StringBuilder,
    metadata: StringBuilder,
    attributes: StringBuilder,
    flags: UInt32Builder,
    exemplars: ExemplarColumns,
    time_raw: UInt64Builder,
    start_raw: UInt64Builder,
    ctx: ContextColumns,
    json: String,
}

impl Default for PointColumns {
    fn default() -> Self {
        PointColumns {
            time: timestamp_builder(0),
            start_time: timestamp_builder(0),
            metric_name: StringBuilder::new(),
            description: StringBuilder::new(),
            unit: StringBuilder::new(),
            metadata: StringBuilder::new(),
            attributes: StringBuilder::new(),
            flags: UInt32Builder::new(),
            exemplars: ExemplarColumns::default(),
            time_raw: UInt64Builder::new(),
            start_raw: UInt64Builder::new(),
            ctx: ContextColumns::default(),
            json: String::new(),
        }
    }
}

/// What every OTLP data point kind has in common.
struct Point<'a> {
    attributes: &'a [KeyValue],
    start_time_unix_nano: u64,
    time_unix_nano: u64,
    flags: u32,
    exemplars: &'a [Exemplar],
}

impl PointColumns {
    fn len(&self) -> usize {
        self.metric_name.len()
    }

    fn append(&mut self, metric: &MetricInfo, ctx: &Context, point: Point<'_>) {
        self.time.append_option(timestamp(point.time_unix_nano));
        self.start_time
            .append_option(timestamp(point.start_time_unix_nano));
        self.metric_name.append_value(&metric.name);
        self.description.append_value(&metric.description);
        self.unit.append_value(&metric.unit);
        self.metadata.append_value(&metric.metadata);
        attributes::write_object(&mut self.json, point.attributes);
        self.attributes.append_value(&self.json);
        self.flags.append_value(point.flags);
        let ex = &mut self.exemplars;
        for exemplar in point.exemplars {
            ex.time.append_option(timestamp(exemplar.time_unix_nano));
            match exemplar.value {
                Some(exemplar::Value::AsDouble(v)) => {
                    ex.value.append_value(v);
                    ex.value_int.append_null();
                }
                Some(exemplar::Value::AsInt(v)) => {
                    ex.value.append_value(v as f64);
                    ex.value_int.append_value(v);
                }
                None => {
                    ex.value.append_null();
                    ex.value_int.append_null();
                }
            }
            append_hex(&mut ex.trace_id, &exemplar.trace_id);
            append_hex(&mut ex.span_id, &exemplar.span_id);
            attributes::write_object(&mut self.json, &exemplar.filtered_attributes);
            ex.filtered_attributes.append_value(&self.json);
            ex.time_unix_nano.append_value(exemplar.time_unix_nano);
        }
        ex.offsets.push(ex.trace_id.len() as i32);
        self.time_raw.append_value(point.time_unix_nano);
        self.start_raw.append_value(point.start_time_unix_nano);
        self.ctx.append(ctx);
    }

    /// Appends a row for a metric that carries no data at all (OTLP allows it).
    fn append_empty(&mut self, metric: &MetricInfo, ctx: &Context) {
        self.append(
            metric,
            ctx,
            Point {
                attributes: &[],
                start_time_unix_nano: 0,
                time_unix_nano: 0,
                flags: 0,
                exemplars: &[],
            },
        );
    }

    /// Builds the batch: common columns, then `kind_columns`, then resource/scope columns.
    fn finish(
        mut self,
        table: Table,
        kind_columns: Vec<ArrayRef>,
    ) -> Result<RecordBatch, ArrowError> {
        let ex = &mut self.exemplars;
        let exemplars = list_of_structs(
            schema::exemplar_fields(),
            vec![
                Arc::new(ex.time.finish()),
                Arc::new(ex.value.finish()),
                Arc::new(ex.value_int.finish()),
                Arc::new(ex.trace_id.finish()),
                Arc::new(ex.span_id.finish()),
                Arc::new(ex.filtered_attributes.finish()),
                Arc::new(ex.time_unix_nano.finish()),
            ],
            std::mem::take(&mut ex.offsets),
        );
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.start_time.finish()),
            Arc::new(self.metric_name.finish()),
            Arc::new(self.description.finish()),
            Arc::new(self.unit.finish()),
            Arc::new(self.metadata.finish()),
            Arc::new(self.attributes.finish()),
            Arc::new(self.flags.finish()),
            exemplars,
            Arc::new(self.time_raw.finish()),
            Arc::new(self.start_raw.finish()),
        ];
        columns.extend(kind_columns);
        self.ctx.finish_into(&mut columns);
        finish_batch(table, columns)
    }
}

#[derive(Debug, Default)]
struct NumberColumns {
    points: PointColumns,
    metric_type: StringBuilder,
    temporality: StringBuilder,
    is_monotonic: BooleanBuilder,
    value: Float64Builder,
    value_int: Int64Builder,
}

#[derive(Debug)]
struct HistogramColumns {
    points: PointColumns,
    temporality: StringBuilder,
    count: UInt64Builder,
    sum: Float64Builder,
    min: Float64Builder,
    max: Float64Builder,
    bucket_counts: ListBuilder<UInt64Builder>,
    explicit_bounds: ListBuilder<Float64Builder>,
}

#[derive(Debug)]
struct ExpHistogramColumns {
    points: PointColumns,
    temporality: StringBuilder,
    count: UInt64Builder,
    sum: Float64Builder,
    min: Float64Builder,
    max: Float64Builder,
    scale: Int32Builder,
    zero_count: UInt64Builder,
    zero_threshold: Float64Builder,
    positive_offset: Int32Builder,
    positive_counts: ListBuilder<UInt64Builder>,
    negative_offset: Int32Builder,
    negative_counts: ListBuilder<UInt64Builder>,
}

#[derive(Debug)]
struct SummaryColumns {
    points: PointColumns,
    count: UInt64Builder,
    sum: Float64Builder,
    quantiles: ListBuilder<Float64Builder>,
    quantile_values: ListBuilder<Float64Builder>,
}

/// The batches a metrics export converts into, one per data point table that got rows.
pub fn metrics(
    request: &ExportMetricsServiceRequest,
) -> Result<Vec<(Table, RecordBatch)>, ArrowError> {
    let mut numbers = NumberColumns::default();
    let mut histograms = HistogramColumns {
        points: PointColumns::default(),
        temporality: StringBuilder::new(),
        count: UInt64Builder::new(),
        sum: Float64Builder::new(),
        min: Float64Builder::new(),
        max: Float64Builder::new(),
        bucket_counts: ListBuilder::new(UInt64Builder::new()),
        explicit_bounds: ListBuilder::new(Float64Builder::new()),
    };
    let mut exp = ExpHistogramColumns {
        points: PointColumns::default(),
        temporality: StringBuilder::new(),
        count: UInt64Builder::new(),
        sum: Float64Builder::new(),
        min: Float64Builder::new(),
        max: Float64Builder::new(),
        scale: Int32Builder::new(),
        zero_count: UInt64Builder::new(),
        zero_threshold: Float64Builder::new(),
        positive_offset: Int32Builder::new(),
        positive_counts: ListBuilder::new(UInt64Builder::new()),
        negative_offset: Int32Builder::new(),
        negative_counts: ListBuilder::new(UInt64Builder::new()),
    };
    let mut summaries = SummaryColumns {
        points: PointColumns::default(),
        count: UInt64Builder::new(),
        sum: Float64Builder::new(),
        quantiles: ListBuilder::new(Float64Builder::new()),
        quantile_values: ListBuilder::new(Float64Builder::new()),
    };

    for resource_metrics in &request.resource_metrics {
        let mut ctx = Context::resource(
            resource_metrics.resource.as_ref(),
            &resource_metrics.schema_url,
        );
        for scope_metrics in &resource_metrics.scope_metrics {
            ctx.set_scope(scope_metrics.scope.as_ref(), &scope_metrics.schema_url);
            for metric in &scope_metrics.metrics {
                let info = MetricInfo::of(metric);
                match &metric.data {
                    Some(metric::Data::Gauge(gauge)) => {
                        for p in &gauge.data_points {
                            numbers.append(&info, &ctx, p, "gauge", None, None);
                        }
                    }
                    Some(metric::Data::Sum(sum)) => {
                        for p in &sum.data_points {
                            numbers.append(
                                &info,
                                &ctx,
                                p,
                                "sum",
                                Some(sum.aggregation_temporality),
                                Some(sum.is_monotonic),
                            );
                        }
                    }
                    Some(metric::Data::Histogram(h)) => {
                        for p in &h.data_points {
                            histograms.points.append(
                                &info,
                                &ctx,
                                Point {
                                    attributes: &p.attributes,
                                    start_time_unix_nano: p.start_time_unix_nano,
                                    time_unix_nano: p.time_unix_nano,
                                    flags: p.flags,
                                    exemplars: &p.exemplars,
                                },
                            );
                            histograms
                                .temporality
                                .append_value(temporality(h.aggregation_temporality));
                            histograms.count.append_value(p.count);
                            histograms.sum.append_option(p.sum);
                            histograms.min.append_option(p.min);
                            histograms.max.append_option(p.max);
                            histograms
                                .bucket_counts
                                .values()
                                .append_slice(&p.bucket_counts);
                            histograms.bucket_counts.append(true);
                            histograms
                                .explicit_bounds
                                .values()
                                .append_slice(&p.explicit_bounds);
                            histograms.explicit_bounds.append(true);
                        }
                    }
                    Some(metric::Data::ExponentialHistogram(h)) => {
                        for p in &h.data_points {
                            exp.points.append(
                                &info,
                                &ctx,
                                Point {
                                    attributes: &p.attributes,
                                    start_time_unix_nano: p.start_time_unix_nano,
                                    time_unix_nano: p.time_unix_nano,
                                    flags: p.flags,
                                    exemplars: &p.exemplars,
                                },
                            );
                            exp.temporality
                                .append_value(temporality(h.aggregation_temporality));
                            exp.count.append_value(p.count);
                            exp.sum.append_option(p.sum);
                            exp.min.append_option(p.min);
                            exp.max.append_option(p.max);
                            exp.scale.append_value(p.scale);
                            exp.zero_count.append_value(p.zero_count);
                            exp.zero_threshold.append_value(p.zero_threshold);
                            append_buckets(
                                &mut exp.positive_offset,
                                &mut exp.positive_counts,
                                p.positive.as_ref(),
                            );
                            append_buckets(
                                &mut exp.negative_offset,
                                &mut exp.negative_counts,
                                p.negative.as_ref(),
                            );
                        }
                    }
                    Some(metric::Data::Summary(s)) => {
                        for p in &s.data_points {
                            summaries.points.append(
                                &info,
                                &ctx,
                                Point {
                                    attributes: &p.attributes,
                                    start_time_unix_nano: p.start_time_unix_nano,
                                    time_unix_nano: p.time_unix_nano,
                                    flags: p.flags,
                                    exemplars: &[],
                                },
                            );
                            summaries.count.append_value(p.count);
                            summaries.sum.append_value(p.sum);
                            for q in &p.quantile_values {
                                summaries.quantiles.values().append_value(q.quantile);
                                summaries.quantile_values.values().append_value(q.value);
                            }
                            summaries.quantiles.append(true);
                            summaries.quantile_values.append(true);
                        }
                    }
                    None => {
                        numbers.points.append_empty(&info, &ctx);
                        numbers.metric_type.append_value("empty");
                        numbers.temporality.append_null();
                        numbers.is_monotonic.append_null();
                        numbers.value.append_null();
                        numbers.value_int.append_null();
                    }
                }
            }
        }
    }

    let mut out = Vec::new();
    if numbers.points.len() > 0 {
        let mut n = numbers;
        let kind: Vec<ArrayRef> = vec![
            Arc::new(n.metric_type.finish()),
            Arc::new(n.temporality.finish()),
            Arc::new(n.is_monotonic.finish()),
            Arc::new(n.value.finish()),
            Arc::new(n.value_int.finish()),
        ];
        out.push((Table::Metrics, n.points.finish(Table::Metrics, kind)?));
    }
    if histograms.points.len() > 0 {
        let mut h = histograms;
        let kind: Vec<ArrayRef> = vec![
            Arc::new(h.temporality.finish()),
            Arc::new(h.count.finish()),
            Arc::new(h.sum.finish()),
            Arc::new(h.min.finish()),
            Arc::new(h.max.finish()),
            Arc::new(h.bucket_counts.finish()),
            Arc::new(h.explicit_bounds.finish()),
        ];
        out.push((Table::Histograms, h.points.finish(Table::Histograms, kind)?));
    }
    if exp.points.len() > 0 {
        let mut e = exp;
        let kind: Vec<ArrayRef> = vec![
            Arc::new(e.temporality.finish()),
            Arc::new(e.count.finish()),
            Arc::new(e.sum.finish()),
            Arc::new(e.min.finish()),
            Arc::new(e.max.finish()),
            Arc::new(e.scale.finish()),
            Arc::new(e.zero_count.finish()),
            Arc::new(e.zero_threshold.finish()),
            Arc::new(e.positive_offset.finish()),
            Arc::new(e.positive_counts.finish()),
            Arc::new(e.negative_offset.finish()),
            Arc::new(e.negative_counts.finish()),
        ];
        out.push((
            Table::ExpHistograms,
            e.points.finish(Table::ExpHistograms, kind)?,
        ));
    }
    if summaries.points.len() > 0 {
        let mut s = summaries;
        let kind: Vec<ArrayRef> = vec![
            Arc::new(s.count.finish()),
            Arc::new(s.sum.finish()),
            Arc::new(s.quantiles.finish()),
            Arc::new(s.quantile_values.finish()),
        ];
        out.push((Table::Summaries, s.points.finish(Table::Summaries, kind)?));
    }
    Ok(out)
}

impl NumberColumns {
    fn append(
        &mut self,
        info: &MetricInfo,
        ctx: &Context,
        p: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint,
        metric_type: &str,
        aggregation_temporality: Option<i32>,
        is_monotonic: Option<bool>,
    ) {
        self.points.append(
            info,
            ctx,
            Point {
                attributes: &p.attributes,
                start_time_unix_nano: p.start_time_unix_nano,
                time_unix_nano: p.time_unix_nano,
                flags: p.flags,
                exemplars: &p.exemplars,
            },
        );
        self.metric_type.append_value(metric_type);
        self.temporality
            .append_option(aggregation_temporality.map(temporality));
        self.is_monotonic.append_option(is_monotonic);
        match p.value {
            Some(number_data_point::Value::AsDouble(v)) => {
                self.value.append_value(v);
                self.value_int.append_null();
            }
            Some(number_data_point::Value::AsInt(v)) => {
                self.value.append_value(v as f64);
                self.value_int.append_value(v);
            }
            None => {
                self.value.append_null();
                self.value_int.append_null();
            }
        }
    }
}

fn append_buckets(
    offset: &mut Int32Builder,
    counts: &mut ListBuilder<UInt64Builder>,
    buckets: Option<
        &opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets,
    >,
) {
    match buckets {
        Some(b) => {
            offset.append_value(b.offset);
            counts.values().append_slice(&b.bucket_counts);
            counts.append(true);
        }
        None => {
            offset.append_null();
            counts.append(false);
        }
    }
}
