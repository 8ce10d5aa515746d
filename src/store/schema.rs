//! Arrow schemas of the telemetry tables.
//!
//! These column names are a stable interface: dashboards, saved queries and the SLO packs
//! depend on them. Columns may be added (old Parquet files then read the new column as
//! NULL); none may be renamed or retyped.
//!
//! Conventions shared by every table:
//! - timestamps are `Timestamp(Nanosecond, "UTC")`; an OTLP timestamp of 0 (absent) or one
//!   beyond what a signed 64-bit nanosecond count can hold is NULL there, and the exact
//!   OTLP value is always kept in the matching `*_unix_nano` `UInt64` column;
//! - ids are lower-case hex text, the empty string when the sender left them empty;
//! - attribute sets are JSON objects as text, values typed as JSON allows (see
//!   `otlp::attributes` for the exact mapping), duplicate keys kept in order.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// The tables Vigil stores: telemetry as received, then results Vigil derives from it
/// (written back through the same WAL and Parquet path). The order is the WAL's and the
/// catalog's; new tables go at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Spans,
    Logs,
    Metrics,
    Histograms,
    ExpHistograms,
    Summaries,
    /// One row per SLO objective and evaluation (see `slo::engine`).
    SloStatus,
    /// One row per alert transition (see `alert::table`).
    Alerts,
    /// One row per anomalous point of a watched series (see `models::live`).
    Anomalies,
    /// One row per forecast value or incident probability of a prediction run (see
    /// `predict`).
    Predictions,
    /// One row per ranked root-cause candidate of a burning SLO (see `rca`).
    RootCauses,
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Table {
    pub const ALL: [Table; 11] = [
        Table::Spans,
        Table::Logs,
        Table::Metrics,
        Table::Histograms,
        Table::ExpHistograms,
        Table::Summaries,
        Table::SloStatus,
        Table::Alerts,
        Table::Anomalies,
        Table::Predictions,
        Table::RootCauses,
    ];

    /// The SQL name of the table, also its directory under the data directory.
    pub fn name(self) -> &'static str {
        match self {
            Table::Spans => "spans",
            Table::Logs => "logs",
            Table::Metrics => "metrics",
            Table::Histograms => "histograms",
            Table::ExpHistograms => "exp_histograms",
            Table::Summaries => "summaries",
            Table::SloStatus => "slo_status",
            Table::Alerts => "alerts",
            Table::Anomalies => "anomalies",
            Table::Predictions => "predictions",
            Table::RootCauses => "root_causes",
        }
    }

    /// Whether Vigil writes this table itself (its rows are not OTLP telemetry).
    pub fn is_derived(self) -> bool {
        matches!(
            self,
            Table::SloStatus
                | Table::Alerts
                | Table::Anomalies
                | Table::Predictions
                | Table::RootCauses
        )
    }

    /// The table of that SQL name.
    pub fn parse(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The column rows are partitioned (date/hour directories) and pruned by.
    pub fn time_column(self) -> &'static str {
        match self {
            Table::Spans => "start_time",
            _ => "time",
        }
    }

    pub fn schema(self) -> SchemaRef {
        static SCHEMAS: LazyLock<[SchemaRef; 11]> = LazyLock::new(|| {
            [
                spans_schema(),
                logs_schema(),
                metrics_schema(),
                histograms_schema(),
                exp_histograms_schema(),
                summaries_schema(),
                slo_status_schema(),
                alerts_schema(),
                anomalies_schema(),
                predictions_schema(),
                root_causes_schema(),
            ]
        });
        SCHEMAS[self.index()].clone()
    }
}

pub(crate) fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn ts(name: &str) -> Field {
    Field::new(name, timestamp_type(), true)
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn u32_col(name: &str) -> Field {
    Field::new(name, DataType::UInt32, true)
}

fn u64_col(name: &str) -> Field {
    Field::new(name, DataType::UInt64, true)
}

fn f64_col(name: &str) -> Field {
    Field::new(name, DataType::Float64, true)
}

fn list_of(name: &str, item: DataType) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", item, true))),
        true,
    )
}

/// Resource and scope columns, shared by every table, in this order.
fn context_fields() -> Vec<Field> {
    vec![
        text("service_name"),
        text("resource_attributes"),
        u32_col("resource_dropped_attributes_count"),
        text("resource_schema_url"),
        text("scope_name"),
        text("scope_version"),
        text("scope_attributes"),
        u32_col("scope_dropped_attributes_count"),
        text("scope_schema_url"),
        text("resource_entity_refs"),
    ]
}

pub(crate) fn event_fields() -> Fields {
    Fields::from(vec![
        ts("time"),
        text("name"),
        text("attributes"),
        u32_col("dropped_attributes_count"),
        u64_col("time_unix_nano"),
    ])
}

pub(crate) fn link_fields() -> Fields {
    Fields::from(vec![
        text("trace_id"),
        text("span_id"),
        text("trace_state"),
        u32_col("flags"),
        text("attributes"),
        u32_col("dropped_attributes_count"),
    ])
}

pub(crate) fn exemplar_fields() -> Fields {
    Fields::from(vec![
        ts("time"),
        f64_col("value"),
        Field::new("value_int", DataType::Int64, true),
        text("trace_id"),
        text("span_id"),
        text("filtered_attributes"),
        u64_col("time_unix_nano"),
    ])
}

fn spans_schema() -> SchemaRef {
    let mut fields = vec![
        ts("start_time"),
        ts("end_time"),
        Field::new("duration_ns", DataType::Int64, true),
        text("trace_id"),
        text("span_id"),
        text("parent_span_id"),
        text("trace_state"),
        u32_col("flags"),
        text("name"),
        text("kind"),
        text("status_code"),
        text("status_message"),
        text("attributes"),
        u32_col("dropped_attributes_count"),
        list_of("events", DataType::Struct(event_fields())),
        u32_col("dropped_events_count"),
        list_of("links", DataType::Struct(link_fields())),
        u32_col("dropped_links_count"),
        u64_col("start_time_unix_nano"),
        u64_col("end_time_unix_nano"),
    ];
    fields.extend(context_fields());
    Arc::new(Schema::new(fields))
}

fn logs_schema() -> SchemaRef {
    let mut fields = vec![
        ts("time"),
        ts("observed_time"),
        Field::new("severity_number", DataType::Int32, true),
        text("severity_text"),
        text("body"),
        text("body_type"),
        text("event_name"),
        text("trace_id"),
        text("span_id"),
        u32_col("flags"),
        text("attributes"),
        u32_col("dropped_attributes_count"),
        u64_col("time_unix_nano"),
        u64_col("observed_time_unix_nano"),
    ];
    fields.extend(context_fields());
    Arc::new(Schema::new(fields))
}

/// Columns every metric data point table starts with.
fn point_fields() -> Vec<Field> {
    vec![
        ts("time"),
        ts("start_time"),
        text("metric_name"),
        text("metric_description"),
        text("unit"),
        text("metric_metadata"),
        text("attributes"),
        u32_col("flags"),
        list_of("exemplars", DataType::Struct(exemplar_fields())),
        u64_col("time_unix_nano"),
        u64_col("start_time_unix_nano"),
    ]
}

fn point_schema(kind_fields: Vec<Field>) -> SchemaRef {
    let mut fields = point_fields();
    fields.extend(kind_fields);
    fields.extend(context_fields());
    Arc::new(Schema::new(fields))
}

fn metrics_schema() -> SchemaRef {
    point_schema(vec![
        text("metric_type"),
        text("temporality"),
        Field::new("is_monotonic", DataType::Boolean, true),
        f64_col("value"),
        Field::new("value_int", DataType::Int64, true),
    ])
}

fn histograms_schema() -> SchemaRef {
    point_schema(vec![
        text("temporality"),
        u64_col("count"),
        f64_col("sum"),
        f64_col("min"),
        f64_col("max"),
        list_of("bucket_counts", DataType::UInt64),
        list_of("explicit_bounds", DataType::Float64),
    ])
}

fn exp_histograms_schema() -> SchemaRef {
    point_schema(vec![
        text("temporality"),
        u64_col("count"),
        f64_col("sum"),
        f64_col("min"),
        f64_col("max"),
        Field::new("scale", DataType::Int32, true),
        u64_col("zero_count"),
        f64_col("zero_threshold"),
        Field::new("positive_offset", DataType::Int32, true),
        list_of("positive_bucket_counts", DataType::UInt64),
        Field::new("negative_offset", DataType::Int32, true),
        list_of("negative_bucket_counts", DataType::UInt64),
    ])
}

fn summaries_schema() -> SchemaRef {
    point_schema(vec![
        u64_col("count"),
        f64_col("sum"),
        list_of("quantiles", DataType::Float64),
        list_of("quantile_values", DataType::Float64),
    ])
}

/// The burn-rate windows `slo_status` has a `burn_<window>` column for, besides the SLO
/// period (`burn_period`).
pub const SLO_BURN_WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

fn slo_status_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("time", timestamp_type(), false),
        Field::new("slo", DataType::Utf8, false),
        text("objective"),
        text("service"),
        Field::new("target", DataType::Float64, false),
        Field::new("good", DataType::UInt64, false),
        Field::new("total", DataType::UInt64, false),
        f64_col("sli"),
        f64_col("error_ratio"),
        f64_col("budget_remaining"),
        f64_col("consumed_24h"),
        text("consumption"),
        Field::new("policy", DataType::Utf8, false),
    ];
    for window in SLO_BURN_WINDOWS {
        fields.push(f64_col(&format!("burn_{window}")));
    }
    fields.push(f64_col("burn_period"));
    fields.push(text("firing"));
    fields.push(text("runbook_url"));
    Arc::new(Schema::new(fields))
}

/// The columns of `alerts`, described in `alert::table`.
fn alerts_schema() -> SchemaRef {
    let ts = |name: &str, nullable| {
        Field::new(
            name,
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            nullable,
        )
    };
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        ts("time", false),
        text("fingerprint", false),
        text("alertname", false),
        text("state", false),
        text("severity", false),
        text("handler", false),
        text("tier", false),
        text("slo", true),
        text("service", true),
        text("labels", false),
        text("annotations", false),
        text("values", false),
        ts("started_at", false),
        ts("acknowledged_at", true),
        text("acknowledged_by", true),
    ]))
}

/// The columns of `predictions`: what a prediction run said about one SLO or series at
/// one horizon. `kind` is `budget` (error budget left, with `exhausts_at`), `sli`,
/// `page` (probability of a page-level burn within the horizon) or `series` (a key
/// metric's forecast, for capacity planning).
fn predictions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("time", timestamp_type(), false),
        Field::new("target", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("horizon_hours", DataType::Float64, false),
        Field::new("for_time", timestamp_type(), false),
        f64_col("forecast"),
        f64_col("lower"),
        f64_col("upper"),
        f64_col("probability"),
        Field::new("exhausts_at", timestamp_type(), true),
        Field::new("model", DataType::Utf8, false),
        Field::new("model_version", DataType::Utf8, false),
    ]))
}

/// The columns of `root_causes`: one ranked candidate for a burning SLO at `at`, with the
/// kinds of evidence behind it and what they say.
fn root_causes_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("time", timestamp_type(), false),
        Field::new("slo", DataType::Utf8, false),
        Field::new("at", timestamp_type(), false),
        Field::new("rank", DataType::Int64, false),
        Field::new("candidate", DataType::Utf8, false),
        Field::new("score", DataType::Float64, false),
        Field::new("evidence_kinds", DataType::Utf8, false),
        Field::new("evidence", DataType::Utf8, false),
    ]))
}

/// The columns of `anomalies`: the point, what was expected (median of the series' last
/// hour) with its band, the score and the detector.
fn anomalies_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("time", timestamp_type(), false),
        Field::new("series", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
        f64_col("expected"),
        f64_col("lower"),
        f64_col("upper"),
        Field::new("score", DataType::Float64, false),
        Field::new("detector", DataType::Utf8, false),
    ]))
}
