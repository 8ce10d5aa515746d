//! SQL functions DataFusion lacks: typed attribute access, time buckets, histogram
//! quantiles, counter increase and rate, duration helpers, and the handful of PostgreSQL
//! catalog functions that clients such as Grafana and psql call on connect.
//!
//! Every function is registered on the one session ([`register`]), so the HTTP API, the
//! CLI and the Postgres port see the same set. README lists them with examples.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Float64Array, Float64Builder, Int64Array,
    Int64Builder, ListArray, ListBuilder, StringBuilder, TimestampNanosecondBuilder,
};
use arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, IntervalMonthDayNano, IntervalUnit, TimeUnit,
    UInt64Type,
};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{
    Accumulator, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, Volatility, create_udaf,
};
use serde::de::{IgnoredAny, MapAccess, Visitor};

use super::settings;

/// Registers every function of this module on `ctx`.
pub(crate) fn register(ctx: &SessionContext) {
    for udf in scalar_functions() {
        ctx.register_udf(udf);
    }
    register_aggregates(ctx);
}

fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn u64_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::UInt64, true)))
}

fn f64_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Float64, true)))
}

fn text_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

type Body = fn(&[ArrayRef], usize) -> Result<ArrayRef>;

/// A scalar function given by its signature, result type and a body over whole arrays.
/// Functions are told apart by name: each name is registered once.
#[derive(Debug)]
struct Function {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    body: Body,
}

impl Function {
    fn udf(name: &'static str, signature: Signature, returns: DataType, body: Body) -> ScalarUDF {
        ScalarUDF::new_from_impl(Function {
            name,
            signature,
            returns,
            body,
        })
    }

    fn exact(name: &'static str, args: Vec<DataType>, returns: DataType, body: Body) -> ScalarUDF {
        Function::udf(
            name,
            Signature::exact(args, Volatility::Immutable),
            returns,
            body,
        )
    }
}

impl PartialEq for Function {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.signature == other.signature
    }
}

impl Eq for Function {}

impl std::hash::Hash for Function {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.signature.hash(state);
    }
}

impl ScalarUDFImpl for Function {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let out = (self.body)(&arrays, rows)?;
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

fn scalar_functions() -> Vec<ScalarUDF> {
    use DataType::{Boolean, Float64, Int32, Int64, Utf8};
    let any = |n| Signature::any(n, Volatility::Immutable);
    vec![
        Function::exact("attr", vec![Utf8, Utf8], Utf8, attr_text),
        Function::exact("attr_int", vec![Utf8, Utf8], Int64, attr_int),
        Function::exact("attr_float", vec![Utf8, Utf8], Float64, attr_float),
        Function::exact("attr_bool", vec![Utf8, Utf8], Boolean, attr_bool),
        Function::udf(
            "time_bucket",
            Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![
                        DataType::Interval(IntervalUnit::MonthDayNano),
                        utc(),
                    ]),
                    TypeSignature::Exact(vec![Utf8, utc()]),
                ],
                Volatility::Immutable,
            ),
            utc(),
            time_bucket,
        ),
        Function::exact(
            "histogram_count_le",
            vec![u64_list(), f64_list(), Float64],
            Float64,
            histogram_count_le_fn,
        ),
        Function::exact("duration_ms", vec![utc(), utc()], Float64, duration_ms),
        Function::exact("ns_to_ms", vec![Int64], Float64, ns_to_ms),
        Function::exact("format_duration", vec![Int64], Utf8, format_duration),
        // PostgreSQL catalog functions clients call.
        Function::exact("version", vec![], Utf8, |_, rows| {
            constant_text(&settings::version_string(), rows)
        }),
        Function::exact("current_database", vec![], Utf8, |_, rows| {
            constant_text(settings::DATABASE, rows)
        }),
        Function::exact("current_schema", vec![], Utf8, |_, rows| {
            constant_text(settings::SCHEMA, rows)
        }),
        Function::udf(
            "current_setting",
            Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![Utf8]),
                    TypeSignature::Exact(vec![Utf8, Boolean]),
                ],
                Volatility::Stable,
            ),
            Utf8,
            current_setting,
        ),
        Function::exact("pg_backend_pid", vec![], Int32, |_, rows| {
            let pid = std::process::id() as i32;
            Ok(Arc::new(arrow::array::Int32Array::from(vec![pid; rows])))
        }),
        Function::exact("quote_ident", vec![Utf8], Utf8, quote_ident_fn),
        Function::exact("parse_ident", vec![Utf8], text_list(), parse_ident_fn),
        // Bigint rather than PostgreSQL's integer, so generate_series accepts them.
        Function::udf("array_lower", any(2), Int64, |a, r| {
            array_bound(a, r, false)
        }),
        Function::udf("array_upper", any(2), Int64, |a, r| array_bound(a, r, true)),
        Function::udf("pg_table_is_visible", any(1), Boolean, |_, rows| {
            Ok(Arc::new(arrow::array::BooleanArray::from(vec![true; rows])))
        }),
        Function::udf("pg_get_userbyid", any(1), Utf8, |_, rows| {
            constant_text(settings::USER_NAME, rows)
        }),
        Function::udf("obj_description", any(2), Utf8, |_, rows| {
            Ok(arrow::array::new_null_array(&Utf8, rows))
        }),
        Function::udf("pg_encoding_to_char", any(1), Utf8, |_, rows| {
            constant_text("UTF8", rows)
        }),
        Function::exact("format_type", vec![Int64, Int32], Utf8, format_type_fn),
    ]
}

fn constant_text(value: &str, rows: usize) -> Result<ArrayRef> {
    let mut b = StringBuilder::with_capacity(rows, rows * value.len());
    for _ in 0..rows {
        b.append_value(value);
    }
    Ok(Arc::new(b.finish()))
}

// ---------------------------------------------------------------------------------------
// Attributes

/// A scalar attribute value, as found in the stored JSON object.
#[derive(Debug, PartialEq)]
enum AttrValue {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Arrays, objects and anything else, kept as JSON text.
    Json(String),
}

/// Finds the first value stored under `key` in an attribute object, without building
/// the whole object. `None` when the key is absent, its value is `null`, or the text is
/// not a JSON object.
fn find_attribute(json: &str, key: &str) -> Option<AttrValue> {
    struct Find<'k>(&'k str);

    impl<'de> Visitor<'de> for Find<'_> {
        type Value = Option<AttrValue>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                // The first occurrence wins; the rest of the object is only skipped (the
                // parser insists on reading it to the end).
                if found.is_some() || k != self.0 {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                let value: serde_json::Value = map.next_value()?;
                found = Some(match value {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(AttrValue::Text(s)),
                    serde_json::Value::Bool(b) => Some(AttrValue::Bool(b)),
                    serde_json::Value::Number(n) => Some(match n.as_i64() {
                        Some(i) if !n.to_string().contains(['.', 'e', 'E']) => AttrValue::Int(i),
                        _ => AttrValue::Float(n.as_f64().unwrap_or(f64::NAN)),
                    }),
                    other => Some(AttrValue::Json(other.to_string())),
                });
            }
            Ok(found.flatten())
        }
    }

    let mut de = serde_json::Deserializer::from_str(json);
    serde::Deserializer::deserialize_map(&mut de, Find(key))
        .ok()
        .flatten()
}

/// Applies `f` to each (attributes, key) pair; NULL in, NULL out.
fn each_attribute<B>(
    args: &[ArrayRef],
    mut builder: B,
    mut f: impl FnMut(&mut B, Option<AttrValue>),
    null: impl Fn(&mut B),
) -> Result<B> {
    let objects = args[0].as_string::<i32>();
    let keys = args[1].as_string::<i32>();
    for i in 0..objects.len() {
        if objects.is_null(i) || keys.is_null(i) {
            null(&mut builder);
        } else {
            f(
                &mut builder,
                find_attribute(objects.value(i), keys.value(i)),
            );
        }
    }
    Ok(builder)
}

fn attr_text(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let b = each_attribute(
        args,
        StringBuilder::new(),
        |b, v| match v {
            Some(AttrValue::Text(s) | AttrValue::Json(s)) => b.append_value(s),
            Some(AttrValue::Int(i)) => b.append_value(i.to_string()),
            Some(AttrValue::Float(x)) => b.append_value(float_text(x)),
            Some(AttrValue::Bool(x)) => b.append_value(if x { "true" } else { "false" }),
            None => b.append_null(),
        },
        |b| b.append_null(),
    )?;
    Ok(Arc::new({ b }.finish()))
}

fn float_text(x: f64) -> String {
    let mut s = x.to_string();
    if x.is_finite() && !s.contains(['.', 'e', 'E']) {
        s.push_str(".0");
    }
    s
}

/// Doubles stored as strings (`"NaN"`, and numbers that older SDKs sent as text).
fn parse_float_text(s: &str) -> Option<f64> {
    match s.trim() {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        t => t.parse::<f64>().ok(),
    }
}

fn attr_int(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let b = each_attribute(
        args,
        Int64Builder::new(),
        |b, v| {
            b.append_option(match v {
                Some(AttrValue::Int(i)) => Some(i),
                Some(AttrValue::Float(x)) if x.fract() == 0.0 && x.abs() < 9.2e18 => Some(x as i64),
                Some(AttrValue::Text(s)) => s.trim().parse::<i64>().ok(),
                _ => None,
            })
        },
        |b| b.append_null(),
    )?;
    Ok(Arc::new({ b }.finish()))
}

fn attr_float(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let b = each_attribute(
        args,
        Float64Builder::new(),
        |b, v| {
            b.append_option(match v {
                Some(AttrValue::Int(i)) => Some(i as f64),
                Some(AttrValue::Float(x)) => Some(x),
                Some(AttrValue::Text(s)) => parse_float_text(&s),
                _ => None,
            })
        },
        |b| b.append_null(),
    )?;
    Ok(Arc::new({ b }.finish()))
}

fn attr_bool(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let b = each_attribute(
        args,
        BooleanBuilder::new(),
        |b, v| {
            b.append_option(match v {
                Some(AttrValue::Bool(x)) => Some(x),
                Some(AttrValue::Text(s)) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => None,
                },
                _ => None,
            })
        },
        |b| b.append_null(),
    )?;
    Ok(Arc::new({ b }.finish()))
}

// ---------------------------------------------------------------------------------------
// Time

/// TimescaleDB's default origin for `time_bucket`: Monday 2000-01-03, so weekly buckets
/// start on Mondays. Buckets of a day or less line up with the Unix epoch as well.
const BUCKET_ORIGIN_NS: i64 = 946_857_600_000_000_000;

/// A bucket width written as text: `"300s"`, `"5m"`, `"1h"`, `"1d"`, `"1w"`, `"250ms"`,
/// or PostgreSQL interval words (`"5 minutes"`).
fn parse_width(text: &str) -> Result<i64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| DataFusionError::Execution(format!("time_bucket: invalid width {text:?}")))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" | "millisecond" | "milliseconds" => 1e6,
        "s" | "sec" | "secs" | "second" | "seconds" => 1e9,
        "m" | "min" | "mins" | "minute" | "minutes" => 60e9,
        "h" | "hour" | "hours" => 3600e9,
        "d" | "day" | "days" => 86_400e9,
        "w" | "week" | "weeks" => 604_800e9,
        other => {
            return exec_err!(
                "time_bucket: unknown unit {other:?} in {text:?} (use ms, s, m, h, d or w)"
            );
        }
    };
    Ok((n * scale) as i64)
}

fn interval_width(v: IntervalMonthDayNano) -> Result<i64> {
    if v.months != 0 {
        return exec_err!(
            "time_bucket: widths in months are not fixed; use date_trunc('month', time)"
        );
    }
    Ok(v.days as i64 * 86_400_000_000_000 + v.nanoseconds)
}

fn time_bucket(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let times = args[1].as_primitive::<arrow::datatypes::TimestampNanosecondType>();
    let mut out = TimestampNanosecondBuilder::with_capacity(times.len());
    for i in 0..times.len() {
        if times.is_null(i) || args[0].is_null(i) {
            out.append_null();
            continue;
        }
        let width = match args[0].data_type() {
            DataType::Utf8 => parse_width(args[0].as_string::<i32>().value(i))?,
            _ => interval_width(
                args[0]
                    .as_primitive::<arrow::datatypes::IntervalMonthDayNanoType>()
                    .value(i),
            )?,
        };
        if width <= 0 {
            return exec_err!("time_bucket: the width must be positive");
        }
        let t = times.value(i);
        let offset = (t as i128 - BUCKET_ORIGIN_NS as i128).div_euclid(width as i128);
        out.append_value((BUCKET_ORIGIN_NS as i128 + offset * width as i128) as i64);
    }
    Ok(Arc::new(out.finish().with_timezone("UTC")))
}

fn duration_ms(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let start = args[0].as_primitive::<arrow::datatypes::TimestampNanosecondType>();
    let end = args[1].as_primitive::<arrow::datatypes::TimestampNanosecondType>();
    let out: Float64Array = start
        .iter()
        .zip(end.iter())
        .map(|(s, e)| Some((e? as i128 - s? as i128) as f64 / 1e6))
        .collect();
    Ok(Arc::new(out))
}

fn ns_to_ms(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let ns = args[0].as_primitive::<Int64Type>();
    let out: Float64Array = ns.iter().map(|v| Some(v? as f64 / 1e6)).collect();
    Ok(Arc::new(out))
}

/// `1.5s`, `250ms`, `2m3.5s`, `1h2m`: the largest units that apply, like Go's durations.
fn duration_text(ns: i64) -> String {
    let negative = ns < 0;
    let ns = ns.unsigned_abs();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if ns < 1_000 {
        let _ = write!(out, "{ns}ns");
    } else if ns < 1_000_000 {
        let _ = write!(out, "{}µs", trim_float(ns as f64 / 1e3));
    } else if ns < 1_000_000_000 {
        let _ = write!(out, "{}ms", trim_float(ns as f64 / 1e6));
    } else {
        let secs_total = ns / 1_000_000_000;
        let (h, m) = (secs_total / 3600, (secs_total % 3600) / 60);
        let s = (ns % 60_000_000_000) as f64 / 1e9;
        if h > 0 {
            let _ = write!(out, "{h}h");
        }
        if h > 0 || m > 0 {
            let _ = write!(out, "{m}m");
        }
        let _ = write!(out, "{}s", trim_float(s));
    }
    out
}

fn trim_float(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn format_duration(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let ns = args[0].as_primitive::<Int64Type>();
    let mut b = StringBuilder::new();
    for v in ns.iter() {
        b.append_option(v.map(duration_text));
    }
    Ok(Arc::new(b.finish()))
}

// ---------------------------------------------------------------------------------------
// PostgreSQL compatibility

fn current_setting(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let names = args[0].as_string::<i32>();
    // current_setting(name, missing_ok): NULL instead of an error for unknown names.
    let missing_ok = args.get(1).map(|a| a.as_boolean());
    let mut b = StringBuilder::new();
    for (i, name) in names.iter().enumerate() {
        match name {
            None => b.append_null(),
            Some(name) => match settings::default_setting(name) {
                Some(value) => b.append_value(value),
                None if missing_ok.is_some_and(|m| m.is_valid(i) && m.value(i)) => b.append_null(),
                None => {
                    return exec_err!("unrecognized configuration parameter \"{name}\"");
                }
            },
        }
    }
    Ok(Arc::new(b.finish()))
}

/// Words PostgreSQL reserves, which `quote_ident` must quote even when lowercase.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];

/// PostgreSQL's `quote_ident`: quotes unless the name is a plain lowercase identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && !RESERVED.contains(&name);
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn quote_ident_fn(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let names = args[0].as_string::<i32>();
    let mut b = StringBuilder::new();
    for name in names.iter() {
        b.append_option(name.map(quote_ident));
    }
    Ok(Arc::new(b.finish()))
}

/// PostgreSQL's `parse_ident`: splits a qualified name at dots outside double quotes;
/// unquoted parts are folded to lowercase.
fn parse_ident(text: &str) -> Result<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    Some('"') => break,
                    Some(c) => part.push(c),
                    None => return exec_err!("string is not a valid identifier: \"{text}\""),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                part.push(c.to_ascii_lowercase());
                chars.next();
            }
            part = part.trim().to_owned();
        }
        if part.is_empty() {
            return exec_err!("string is not a valid identifier: \"{text}\"");
        }
        parts.push(part);
        match chars.next() {
            None => return Ok(parts),
            Some('.') => {}
            Some(_) => return exec_err!("string is not a valid identifier: \"{text}\""),
        }
    }
}

fn parse_ident_fn(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let names = args[0].as_string::<i32>();
    let mut b = ListBuilder::new(StringBuilder::new());
    for name in names.iter() {
        match name {
            None => b.append_null(),
            Some(name) => {
                for part in parse_ident(name)? {
                    b.values().append_value(part);
                }
                b.append(true);
            }
        }
    }
    Ok(Arc::new(b.finish()))
}

/// `array_lower` / `array_upper` for one-dimensional arrays: 1 and the length, or NULL
/// for an empty array or another dimension.
fn array_bound(args: &[ArrayRef], rows: usize, upper: bool) -> Result<ArrayRef> {
    let lengths: Vec<Option<usize>> = match args[0].data_type() {
        DataType::List(_) => {
            let list = args[0].as_list::<i32>();
            (0..list.len())
                .map(|i| (!list.is_null(i)).then(|| list.value_length(i) as usize))
                .collect()
        }
        DataType::LargeList(_) => {
            let list = args[0].as_list::<i64>();
            (0..list.len())
                .map(|i| (!list.is_null(i)).then(|| list.value_length(i) as usize))
                .collect()
        }
        DataType::Null => vec![None; rows],
        other => return plan_err!("array_lower/array_upper expect an array, not {other}"),
    };
    let dims = arrow::compute::cast(&args[1], &DataType::Int64)?;
    let dims = dims.as_primitive::<Int64Type>();
    let mut b = Int64Builder::with_capacity(lengths.len());
    for (i, len) in lengths.into_iter().enumerate() {
        match (len, dims.is_valid(i).then(|| dims.value(i))) {
            (Some(n), Some(1)) if n > 0 => b.append_value(if upper { n as i64 } else { 1 }),
            _ => b.append_null(),
        }
    }
    Ok(Arc::new(b.finish()))
}

fn format_type_fn(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let oids = args[0].as_primitive::<Int64Type>();
    let mut b = StringBuilder::new();
    for oid in oids.iter() {
        b.append_option(oid.map(|o| settings::type_name_for_oid(o).unwrap_or("???")));
    }
    Ok(Arc::new(b.finish()))
}

/// `histogram_count_le(bucket_counts, explicit_bounds, threshold)`: how many of a histogram
/// point's observations are at or below `threshold`, which latency SLOs over the
/// `histograms` table count as good events.
///
/// OTLP explicit buckets: bucket `i` holds observations in `(bounds[i-1], bounds[i]]`, the
/// first bucket is unbounded below and the last (`bounds.len()`) unbounded above. The result
/// is the number of observations at or below `threshold`: every bucket whose upper bound is
/// `<= threshold` counts fully; the one bucket that straddles the threshold counts in
/// proportion `(threshold - lower) / (upper - lower)` (linear interpolation, as quantile
/// estimation does) when both its bounds are finite, and not at all when it is unbounded.
/// `None` (SQL NULL) when `counts.len() != bounds.len() + 1` (including a point without
/// buckets), when the bounds are not strictly increasing, or when any value is NaN.
pub(crate) fn histogram_count_le(counts: &[u64], bounds: &[f64], threshold: f64) -> Option<f64> {
    let well_formed = counts.len() == bounds.len() + 1
        && !threshold.is_nan()
        && bounds.iter().all(|b| !b.is_nan())
        && bounds.windows(2).all(|w| w[0] < w[1]);
    if !well_formed {
        return None;
    }
    let mut total = 0.0;
    for (i, &count) in counts.iter().enumerate() {
        let lower = if i == 0 {
            f64::NEG_INFINITY
        } else {
            bounds[i - 1]
        };
        let upper = bounds.get(i).copied().unwrap_or(f64::INFINITY);
        if upper <= threshold {
            total += count as f64;
        } else if lower < threshold && lower.is_finite() && upper.is_finite() {
            total += count as f64 * (threshold - lower) / (upper - lower);
        }
    }
    Some(total)
}

fn histogram_count_le_fn(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let counts = args[0].as_list::<i32>();
    let bounds = args[1].as_list::<i32>();
    let thresholds = args[2].as_primitive::<Float64Type>();
    let mut out = Float64Builder::with_capacity(counts.len());
    for i in 0..counts.len() {
        if counts.is_null(i) || bounds.is_null(i) || thresholds.is_null(i) {
            out.append_null();
            continue;
        }
        out.append_option(histogram_count_le(
            &list_values::<UInt64Type>(counts, i),
            &list_values::<Float64Type>(bounds, i),
            thresholds.value(i),
        ));
    }
    Ok(Arc::new(out.finish()))
}

// ---------------------------------------------------------------------------------------
// Aggregates

fn register_aggregates(ctx: &SessionContext) {
    ctx.register_udaf(create_udaf(
        "histogram_quantile",
        vec![DataType::Float64, u64_list(), f64_list()],
        Arc::new(DataType::Float64),
        Volatility::Immutable,
        Arc::new(|_| Ok(Box::<HistogramQuantile>::default())),
        Arc::new(vec![DataType::Float64, u64_list(), f64_list()]),
    ));
    for (name, per_second) in [("increase", false), ("rate", true)] {
        ctx.register_udaf(create_udaf(
            name,
            vec![DataType::Float64, utc()],
            Arc::new(DataType::Float64),
            Volatility::Immutable,
            Arc::new(move |_| Ok(Box::new(CounterIncrease::new(per_second)))),
            Arc::new(vec![
                DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
                DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            ]),
        ));
    }
}

/// `histogram_quantile(q, bucket_counts, explicit_bounds)`: adds the bucket counts of the
/// group's rows (which must share their bounds) and estimates the q-quantile by linear
/// interpolation inside the bucket that holds it, as Prometheus does. The first bucket
/// starts at 0 (or at its upper bound when that is negative); a quantile that falls in
/// the overflow bucket is the largest finite bound.
#[derive(Debug, Default)]
struct HistogramQuantile {
    q: Option<f64>,
    counts: Vec<u64>,
    bounds: Vec<f64>,
}

impl HistogramQuantile {
    fn add(&mut self, q: Option<f64>, counts: &[u64], bounds: &[f64]) -> Result<()> {
        if self.q.is_none() {
            self.q = q;
        }
        if counts.is_empty() {
            return Ok(());
        }
        if counts.len() != bounds.len() + 1 {
            return exec_err!(
                "histogram_quantile: a row has {} bucket counts for {} bounds (expected one more count than bounds)",
                counts.len(),
                bounds.len()
            );
        }
        if self.counts.is_empty() {
            self.counts = counts.to_vec();
            self.bounds = bounds.to_vec();
            return Ok(());
        }
        if self.bounds != bounds {
            return exec_err!(
                "histogram_quantile: rows in one group have different bucket bounds; group by explicit_bounds too"
            );
        }
        for (total, c) in self.counts.iter_mut().zip(counts) {
            *total = total.saturating_add(*c);
        }
        Ok(())
    }

    fn quantile(&self) -> Option<f64> {
        let q = self.q?;
        let total: u64 = self.counts.iter().sum();
        if total == 0 || q.is_nan() {
            return None;
        }
        if q < 0.0 {
            return Some(f64::NEG_INFINITY);
        }
        if q > 1.0 {
            return Some(f64::INFINITY);
        }
        let rank = q * total as f64;
        let mut seen = 0u64;
        for (i, &count) in self.counts.iter().enumerate() {
            if count > 0 && (seen + count) as f64 >= rank {
                if i == self.bounds.len() {
                    return self.bounds.last().copied();
                }
                let upper = self.bounds[i];
                let lower = if i == 0 {
                    if upper <= 0.0 { upper } else { 0.0 }
                } else {
                    self.bounds[i - 1]
                };
                let within = (rank - seen as f64) / count as f64;
                return Some(lower + (upper - lower) * within);
            }
            seen += count;
        }
        self.bounds.last().copied()
    }
}

fn list_values<T: arrow::datatypes::ArrowPrimitiveType>(
    list: &ListArray,
    i: usize,
) -> Vec<T::Native> {
    if list.is_null(i) {
        return Vec::new();
    }
    let values = list.value(i);
    values.as_primitive::<T>().values().to_vec()
}

impl Accumulator for HistogramQuantile {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let q = values[0].as_primitive::<Float64Type>();
        let counts = values[1].as_list::<i32>();
        let bounds = values[2].as_list::<i32>();
        for i in 0..counts.len() {
            self.add(
                q.is_valid(i).then(|| q.value(i)),
                &list_values::<UInt64Type>(counts, i),
                &list_values::<Float64Type>(bounds, i),
            )?;
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.update_batch(states)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Float64(self.q),
            ScalarValue::List(ScalarValue::new_list_nullable(
                &self
                    .counts
                    .iter()
                    .map(|c| ScalarValue::UInt64(Some(*c)))
                    .collect::<Vec<_>>(),
                &DataType::UInt64,
            )),
            ScalarValue::List(ScalarValue::new_list_nullable(
                &self
                    .bounds
                    .iter()
                    .map(|b| ScalarValue::Float64(Some(*b)))
                    .collect::<Vec<_>>(),
                &DataType::Float64,
            )),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.quantile()))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.counts.capacity() * 8 + self.bounds.capacity() * 8
    }
}

/// `increase(value, time)` and `rate(value, time)` over the samples of a cumulative
/// counter: the samples are ordered by time and their rises added up; a fall means the
/// counter restarted, and the sample after it counts from zero (as in Prometheus, without
/// extrapolating to the edges of the window). `rate` divides by the seconds between the
/// first and the last sample. Fewer than two samples give NULL.
#[derive(Debug)]
struct CounterIncrease {
    per_second: bool,
    samples: Vec<(i64, f64)>,
}

impl CounterIncrease {
    fn new(per_second: bool) -> Self {
        CounterIncrease {
            per_second,
            samples: Vec::new(),
        }
    }

    fn add(&mut self, values: &Float64Array, times: &Int64Array) {
        for i in 0..values.len() {
            if values.is_valid(i) && times.is_valid(i) && !values.value(i).is_nan() {
                self.samples.push((times.value(i), values.value(i)));
            }
        }
    }

    fn result(&mut self) -> Option<f64> {
        if self.samples.len() < 2 {
            return None;
        }
        self.samples.sort_by_key(|s| s.0);
        let mut total = 0.0;
        for pair in self.samples.windows(2) {
            let (prev, next) = (pair[0].1, pair[1].1);
            total += if next >= prev { next - prev } else { next };
        }
        if !self.per_second {
            return Some(total);
        }
        let span_ns = self.samples[self.samples.len() - 1].0 - self.samples[0].0;
        (span_ns > 0).then(|| total / (span_ns as f64 / 1e9))
    }
}

impl Accumulator for CounterIncrease {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let times = arrow::compute::cast(&values[1], &DataType::Int64)?;
        self.add(
            values[0].as_primitive::<Float64Type>(),
            times.as_primitive::<Int64Type>(),
        );
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let values = states[0].as_list::<i32>();
        let times = states[1].as_list::<i32>();
        for i in 0..values.len() {
            if values.is_null(i) || times.is_null(i) {
                continue;
            }
            let v = values.value(i);
            let t = times.value(i);
            self.add(
                v.as_primitive::<Float64Type>(),
                t.as_primitive::<Int64Type>(),
            );
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values: Vec<ScalarValue> = self
            .samples
            .iter()
            .map(|s| ScalarValue::Float64(Some(s.1)))
            .collect();
        let times: Vec<ScalarValue> = self
            .samples
            .iter()
            .map(|s| ScalarValue::Int64(Some(s.0)))
            .collect();
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Float64)),
            ScalarValue::List(ScalarValue::new_list_nullable(&times, &DataType::Int64)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.result()))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.samples.capacity() * 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_found_by_exact_key_first_occurrence_wins() {
        let json = r#"{"gen_ai.request.model":"claude","n":3,"n":4,"x":1.5,"ok":true,"a":[1]}"#;
        assert_eq!(
            find_attribute(json, "gen_ai.request.model"),
            Some(AttrValue::Text("claude".into()))
        );
        assert_eq!(find_attribute(json, "n"), Some(AttrValue::Int(3)));
        assert_eq!(find_attribute(json, "x"), Some(AttrValue::Float(1.5)));
        assert_eq!(find_attribute(json, "ok"), Some(AttrValue::Bool(true)));
        assert_eq!(
            find_attribute(json, "a"),
            Some(AttrValue::Json("[1]".into()))
        );
        assert_eq!(find_attribute(json, "gen_ai"), None);
        assert_eq!(find_attribute("not json", "n"), None);
        assert_eq!(
            find_attribute(r#"{"f":2.0}"#, "f"),
            Some(AttrValue::Float(2.0))
        );
    }

    #[test]
    fn numbers_sent_as_strings_read_as_numbers() {
        assert_eq!(parse_float_text(" 12.5 "), Some(12.5));
        assert!(parse_float_text("NaN").unwrap().is_nan());
        assert_eq!(parse_float_text("twelve"), None);
    }

    #[test]
    fn time_bucket_widths_parse_in_grafana_and_postgres_spellings() {
        assert_eq!(parse_width("300s").unwrap(), 300_000_000_000);
        assert_eq!(parse_width("5m").unwrap(), 300_000_000_000);
        assert_eq!(parse_width("5 minutes").unwrap(), 300_000_000_000);
        assert_eq!(parse_width("1w").unwrap(), 604_800_000_000_000);
        assert!(parse_width("5 fortnights").is_err());
    }

    #[test]
    fn durations_read_like_go_durations() {
        assert_eq!(duration_text(999), "999ns");
        assert_eq!(duration_text(250_000_000), "250ms");
        assert_eq!(duration_text(1_500_000_000), "1.5s");
        assert_eq!(duration_text(123_500_000_000), "2m3.5s");
        assert_eq!(duration_text(3_720_000_000_000), "1h2m0s");
        assert_eq!(duration_text(-2_000_000_000), "-2s");
    }

    #[test]
    fn quote_ident_matches_postgres() {
        // Expected values from PostgreSQL 15's quote_ident.
        assert_eq!(quote_ident("spans"), "spans");
        assert_eq!(quote_ident("Spans"), "\"Spans\"");
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("a-b"), "\"a-b\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("_x1$"), "_x1$");
    }

    #[test]
    fn parse_ident_matches_postgres() {
        assert_eq!(
            parse_ident("public.Spans").unwrap(),
            vec!["public", "spans"]
        );
        assert_eq!(
            parse_ident("\"My.Schema\".t").unwrap(),
            vec!["My.Schema", "t"]
        );
        assert_eq!(parse_ident("spans").unwrap(), vec!["spans"]);
        assert!(parse_ident("a..b").is_err());
        assert!(parse_ident("\"open").is_err());
    }

    #[test]
    fn histogram_quantile_interpolates_like_prometheus() {
        // Buckets (-inf,1] (1,2] (2,4] (4,+inf) with counts 10, 20, 10, 0: the median
        // (rank 20) lies halfway through (1,2]; the 0.95 quantile (rank 38) is 80%
        // through (2,4]. Hand-computed with Prometheus's bucketQuantile rules.
        let mut h = HistogramQuantile::default();
        h.add(Some(0.5), &[10, 20, 10, 0], &[1.0, 2.0, 4.0])
            .unwrap();
        assert_eq!(h.quantile(), Some(1.5));
        h.q = Some(0.95);
        assert!((h.quantile().unwrap() - 3.6).abs() < 1e-9);
        h.q = Some(0.1);
        assert!((h.quantile().unwrap() - 0.4).abs() < 1e-9);
        // A second row with the same bounds adds to the first.
        h.add(None, &[0, 0, 0, 40], &[1.0, 2.0, 4.0]).unwrap();
        h.q = Some(0.99);
        assert_eq!(h.quantile(), Some(4.0));
        assert!(h.add(None, &[1, 1], &[9.0]).is_err());
        assert!(h.add(None, &[1, 1, 1], &[9.0]).is_err());
    }

    #[test]
    fn histogram_count_le_adds_buckets_up_to_the_threshold_and_interpolates_the_straddler() {
        // GenAI duration buckets around 5 s: (.., 2.56], (2.56, 5.12], (5.12, +inf).
        let bounds = [1.28, 2.56, 5.12];
        let counts = [10, 20, 30, 40];
        // 10 + 20 fully, plus 30 × (5 − 2.56) / (5.12 − 2.56) = 30 × 0.953125 = 28.59375.
        assert_eq!(histogram_count_le(&counts, &bounds, 5.0), Some(58.59375));
        // On a bound the bucket ending there counts fully and nothing is interpolated.
        assert_eq!(histogram_count_le(&counts, &bounds, 5.12), Some(60.0));
        // Inside the first bucket (unbounded below): nothing can be claimed.
        assert_eq!(histogram_count_le(&counts, &bounds, 1.0), Some(0.0));
        // Above the last bound the overflow bucket is never counted.
        assert_eq!(histogram_count_le(&counts, &bounds, 100.0), Some(60.0));
        // Malformed points are NULL.
        assert_eq!(histogram_count_le(&[5], &[], 1.0), Some(0.0));
        assert_eq!(histogram_count_le(&[], &[], 1.0), None);
        assert_eq!(histogram_count_le(&[1, 2], &[1.0, 2.0], 1.0), None);
        assert_eq!(histogram_count_le(&[1, 2, 3], &[2.0, 1.0], 1.5), None);
        assert_eq!(histogram_count_le(&counts, &bounds, f64::NAN), None);
    }

    #[test]
    fn counter_increase_survives_resets() {
        // 10 → 15 → 20, restart, 3 → 8: increase = 5 + 5 + 3 + 5 = 18 over 40 s.
        let mut c = CounterIncrease::new(false);
        let s = 1_000_000_000;
        c.samples = vec![
            (0, 10.0),
            (10 * s, 15.0),
            (20 * s, 20.0),
            (30 * s, 3.0),
            (40 * s, 8.0),
        ];
        assert_eq!(c.result(), Some(18.0));
        c.per_second = true;
        assert_eq!(c.result(), Some(18.0 / 40.0));
        c.samples.truncate(1);
        assert_eq!(c.result(), None);
    }
}
