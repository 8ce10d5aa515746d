//! Arrow types and values as PostgreSQL sees them: the type OID of each result column,
//! each value in text or binary format, and bound parameters back into DataFusion values.
//!
//! | Arrow                                   | PostgreSQL                  |
//! | --------------------------------------- | --------------------------- |
//! | Boolean                                 | boolean                     |
//! | Int8, Int16, UInt8                      | smallint                    |
//! | Int32, UInt16                           | integer                     |
//! | Int64, UInt32                           | bigint                      |
//! | UInt64, Decimal                         | numeric (exact)             |
//! | Float16, Float32 / Float64              | real / double precision     |
//! | Utf8 (all string types)                 | text                        |
//! | Binary (all binary types)               | bytea                       |
//! | Timestamp with / without time zone      | timestamptz / timestamp     |
//! | Date, Time                              | date, time                  |
//! | Interval, Duration                      | interval                    |
//! | List of any type above                  | that type's array           |
//! | Struct, Map, lists of those             | json                        |

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use datafusion::common::ScalarValue;
use pgwire::api::Type;
use pgwire::api::portal::Portal;
use pgwire::api::results::{DataRowEncoder, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use rust_decimal::Decimal;

/// The PostgreSQL type a column of `data_type` is sent as.
pub(crate) fn pg_type(data_type: &DataType) -> Type {
    match data_type {
        DataType::Null | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Type::TEXT,
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 => Type::INT8,
        DataType::UInt64 | DataType::Decimal128(..) => Type::NUMERIC,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => Type::BYTEA,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Time32(_) | DataType::Time64(_) => Type::TIME,
        DataType::Interval(_) | DataType::Duration(_) => Type::INTERVAL,
        DataType::Dictionary(_, value) => pg_type(value),
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            array_type(&pg_type(item.data_type()))
        }
        _ => Type::JSON,
    }
}

fn array_type(item: &Type) -> Type {
    match *item {
        Type::BOOL => Type::BOOL_ARRAY,
        Type::INT2 => Type::INT2_ARRAY,
        Type::INT4 => Type::INT4_ARRAY,
        Type::INT8 => Type::INT8_ARRAY,
        Type::NUMERIC => Type::NUMERIC_ARRAY,
        Type::FLOAT4 => Type::FLOAT4_ARRAY,
        Type::FLOAT8 => Type::FLOAT8_ARRAY,
        Type::TEXT => Type::TEXT_ARRAY,
        Type::BYTEA => Type::BYTEA_ARRAY,
        Type::TIMESTAMPTZ => Type::TIMESTAMPTZ_ARRAY,
        Type::TIMESTAMP => Type::TIMESTAMP_ARRAY,
        Type::DATE => Type::DATE_ARRAY,
        Type::TIME => Type::TIME_ARRAY,
        Type::INTERVAL => Type::INTERVAL_ARRAY,
        _ => Type::JSON,
    }
}

/// An exact PostgreSQL `numeric`: an integer and how many of its digits are decimals.
/// Covers every Decimal128 and UInt64 value (rust_decimal's 28 digits do not).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Numeric {
    negative: bool,
    /// The absolute value's decimal digits.
    digits: String,
    /// Digits after the decimal point.
    scale: u32,
}

impl Numeric {
    pub(crate) fn new(mantissa: i128, scale: i8) -> Numeric {
        let mut digits = mantissa.unsigned_abs().to_string();
        let scale = if scale < 0 {
            digits.extend(std::iter::repeat_n('0', scale.unsigned_abs() as usize));
            0
        } else {
            scale as u32
        };
        Numeric {
            negative: mantissa < 0,
            digits,
            scale,
        }
    }

    /// The integer and fraction digit strings, the integer part at least "0".
    fn parts(&self) -> (String, String) {
        let scale = self.scale as usize;
        let padded = if self.digits.len() <= scale {
            format!(
                "{}{}",
                "0".repeat(scale + 1 - self.digits.len()),
                self.digits
            )
        } else {
            self.digits.clone()
        };
        let (int, frac) = padded.split_at(padded.len() - scale);
        (int.to_owned(), frac.to_owned())
    }

    fn is_zero(&self) -> bool {
        self.digits.bytes().all(|b| b == b'0')
    }
}

impl std::fmt::Display for Numeric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (int, frac) = self.parts();
        let sign = if self.negative && !self.is_zero() {
            "-"
        } else {
            ""
        };
        if frac.is_empty() {
            write!(f, "{sign}{int}")
        } else {
            write!(f, "{sign}{int}.{frac}")
        }
    }
}

impl postgres_types::ToSql for Numeric {
    /// PostgreSQL's binary numeric: digit count, weight, sign, display scale, then base
    /// 10000 digits, most significant first, without leading or trailing zero groups.
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use bytes::BufMut;
        let (int, frac) = self.parts();
        let int = format!("{}{int}", "0".repeat((4 - int.len() % 4) % 4));
        let frac = format!("{frac}{}", "0".repeat((4 - frac.len() % 4) % 4));
        let groups: Vec<i16> = int
            .as_bytes()
            .chunks(4)
            .chain(frac.as_bytes().chunks(4))
            .map(|g| g.iter().fold(0i16, |n, d| n * 10 + (d - b'0') as i16))
            .collect();
        let mut weight = (int.len() / 4) as i16 - 1;
        let first = groups.iter().position(|g| *g != 0);
        let last = groups.iter().rposition(|g| *g != 0);
        let digits: &[i16] = match (first, last) {
            (Some(first), Some(last)) => {
                weight -= first as i16;
                &groups[first..=last]
            }
            _ => {
                weight = 0;
                &[]
            }
        };
        out.put_i16(digits.len() as i16);
        out.put_i16(weight);
        out.put_u16(if self.negative && !digits.is_empty() {
            0x4000
        } else {
            0
        });
        out.put_u16(self.scale as u16);
        for digit in digits {
            out.put_i16(*digit);
        }
        Ok(postgres_types::IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    postgres_types::to_sql_checked!();
}

impl pgwire::types::ToSqlText for Numeric {
    fn to_sql_text(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
        _format: &pgwire::types::format::FormatOptions,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.to_string().as_bytes());
        Ok(postgres_types::IsNull::No)
    }
}

/// Every value of a column converted once to what the encoder writes, so the per-row
/// loop only picks cells.
enum Column {
    Bool(Vec<Option<bool>>),
    I16(Vec<Option<i16>>),
    I32(Vec<Option<i32>>),
    I64(Vec<Option<i64>>),
    F32(Vec<Option<f32>>),
    F64(Vec<Option<f64>>),
    Numeric(Vec<Option<Numeric>>),
    Text(Vec<Option<String>>),
    Bytes(Vec<Option<Vec<u8>>>),
    TimestampTz(Vec<Option<DateTime<Utc>>>),
    Timestamp(Vec<Option<NaiveDateTime>>),
    Date(Vec<Option<NaiveDate>>),
    Time(Vec<Option<NaiveTime>>),
    Interval(Vec<Option<pg_interval::Interval>>),
    Array(Vec<Option<Column>>),
}

fn cells<T>(array: &dyn Array, mut get: impl FnMut(usize) -> Option<T>) -> Vec<Option<T>> {
    (0..array.len())
        .map(|i| if array.is_null(i) { None } else { get(i) })
        .collect()
}

/// Converts an Arrow column to cells of the PostgreSQL type [`pg_type`] gives it.
fn column(array: &ArrayRef) -> PgWireResult<Column> {
    use arrow::datatypes as t;
    let cast = |to: &DataType| {
        arrow::compute::cast(array, to).map_err(|e| PgWireError::ApiError(Box::new(e)))
    };
    Ok(match array.data_type() {
        DataType::Null => Column::Text(vec![None; array.len()]),
        DataType::Boolean => {
            let a = array.as_boolean();
            Column::Bool(cells(a, |i| Some(a.value(i))))
        }
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => {
            let c = cast(&DataType::Int16)?;
            let a = c.as_primitive::<t::Int16Type>();
            Column::I16(cells(a, |i| Some(a.value(i))))
        }
        DataType::Int32 | DataType::UInt16 => {
            let c = cast(&DataType::Int32)?;
            let a = c.as_primitive::<t::Int32Type>();
            Column::I32(cells(a, |i| Some(a.value(i))))
        }
        DataType::Int64 | DataType::UInt32 => {
            let c = cast(&DataType::Int64)?;
            let a = c.as_primitive::<t::Int64Type>();
            Column::I64(cells(a, |i| Some(a.value(i))))
        }
        DataType::UInt64 => {
            let a = array.as_primitive::<t::UInt64Type>();
            Column::Numeric(cells(a, |i| Some(Numeric::new(a.value(i) as i128, 0))))
        }
        DataType::Decimal128(_, scale) => {
            let a = array.as_primitive::<t::Decimal128Type>();
            Column::Numeric(cells(a, |i| Some(Numeric::new(a.value(i), *scale))))
        }
        DataType::Decimal256(..) => {
            // Beyond 38 digits: exact as text through its decimal rendering.
            let formatter =
                arrow::util::display::ArrayFormatter::try_new(array.as_ref(), &Default::default())
                    .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
            Column::Text(cells(array.as_ref(), |i| {
                Some(formatter.value(i).to_string())
            }))
        }
        DataType::Float16 | DataType::Float32 => {
            let c = cast(&DataType::Float32)?;
            let a = c.as_primitive::<t::Float32Type>();
            Column::F32(cells(a, |i| Some(a.value(i))))
        }
        DataType::Float64 => {
            let a = array.as_primitive::<t::Float64Type>();
            Column::F64(cells(a, |i| Some(a.value(i))))
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..)
            if pg_type(array.data_type()) == Type::TEXT =>
        {
            let c = cast(&DataType::Utf8)?;
            let a = c.as_string::<i32>();
            Column::Text(cells(a, |i| Some(a.value(i).to_owned())))
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            let c = cast(&DataType::Binary)?;
            let a = c.as_binary::<i32>();
            Column::Bytes(cells(a, |i| Some(a.value(i).to_vec())))
        }
        DataType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            Column::Bytes(cells(a, |i| Some(a.value(i).to_vec())))
        }
        DataType::Timestamp(_, zone) => {
            let c = cast(&DataType::Timestamp(TimeUnit::Microsecond, zone.clone()))?;
            let a = c.as_primitive::<t::TimestampMicrosecondType>();
            let at = |i: usize| DateTime::<Utc>::from_timestamp_micros(a.value(i));
            if zone.is_some() {
                Column::TimestampTz(cells(a, at))
            } else {
                Column::Timestamp(cells(a, |i| at(i).map(|d| d.naive_utc())))
            }
        }
        DataType::Date32 | DataType::Date64 => {
            let c = cast(&DataType::Date32)?;
            let a = c.as_primitive::<t::Date32Type>();
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
            Column::Date(cells(a, |i| {
                epoch.checked_add_signed(chrono::Duration::days(a.value(i) as i64))
            }))
        }
        DataType::Time32(_) | DataType::Time64(_) => {
            let c = cast(&DataType::Time64(TimeUnit::Microsecond))?;
            let a = c.as_primitive::<t::Time64MicrosecondType>();
            Column::Time(cells(a, |i| {
                let us = a.value(i);
                NaiveTime::from_num_seconds_from_midnight_opt(
                    (us / 1_000_000) as u32,
                    ((us % 1_000_000) * 1000) as u32,
                )
            }))
        }
        DataType::Interval(_) | DataType::Duration(_) => {
            let c = match array.data_type() {
                DataType::Duration(_) => {
                    let c = cast(&DataType::Duration(TimeUnit::Microsecond))?;
                    let a = c.as_primitive::<t::DurationMicrosecondType>();
                    return Ok(Column::Interval(cells(a, |i| {
                        Some(pg_interval::Interval::new(0, 0, a.value(i)))
                    })));
                }
                _ => cast(&DataType::Interval(IntervalUnit::MonthDayNano))?,
            };
            let a = c.as_primitive::<t::IntervalMonthDayNanoType>();
            Column::Interval(cells(a, |i| {
                let v = a.value(i);
                Some(pg_interval::Interval::new(
                    v.months,
                    v.days,
                    v.nanoseconds / 1000,
                ))
            }))
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)
            if pg_type(array.data_type()) != Type::JSON =>
        {
            let c = cast(&DataType::List(Arc::new(arrow::datatypes::Field::new(
                "item",
                list_item(array.data_type()),
                true,
            ))))?;
            let a = c.as_list::<i32>();
            let mut items = Vec::with_capacity(a.len());
            for i in 0..a.len() {
                items.push(if a.is_null(i) {
                    None
                } else {
                    Some(column(&a.value(i))?)
                });
            }
            Column::Array(items)
        }
        _ => Column::Text(json_text(array)?),
    })
}

fn list_item(data_type: &DataType) -> DataType {
    match data_type {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            f.data_type().clone()
        }
        other => other.clone(),
    }
}

/// Nested values (structs, maps, lists of them) as JSON text, one per row.
fn json_text(array: &ArrayRef) -> PgWireResult<Vec<Option<String>>> {
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("v", array.data_type().clone(), true),
    ]));
    let batch = RecordBatch::try_new(schema, vec![Arc::clone(array)])
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    let mut writer = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow::json::writer::LineDelimited>(Vec::new());
    writer
        .write(&batch)
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    writer
        .finish()
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    let text = String::from_utf8_lossy(&writer.into_inner()).into_owned();
    // Each line is {"v":VALUE}.
    let mut out = Vec::with_capacity(array.len());
    for (i, line) in text.lines().enumerate() {
        let value = line
            .strip_prefix("{\"v\":")
            .and_then(|l| l.strip_suffix('}'));
        out.push(if array.is_null(i) {
            None
        } else {
            value.map(str::to_owned)
        });
    }
    out.resize(array.len(), None);
    Ok(out)
}

fn encode_cell(encoder: &mut DataRowEncoder, column: &Column, row: usize) -> PgWireResult<()> {
    match column {
        Column::Bool(v) => encoder.encode_field(&v[row]),
        Column::I16(v) => encoder.encode_field(&v[row]),
        Column::I32(v) => encoder.encode_field(&v[row]),
        Column::I64(v) => encoder.encode_field(&v[row]),
        Column::F32(v) => encoder.encode_field(&v[row]),
        Column::F64(v) => encoder.encode_field(&v[row]),
        Column::Numeric(v) => encoder.encode_field(&v[row]),
        Column::Text(v) => encoder.encode_field(&v[row]),
        Column::Bytes(v) => encoder.encode_field(&v[row]),
        Column::TimestampTz(v) => encoder.encode_field(&v[row]),
        Column::Timestamp(v) => encoder.encode_field(&v[row]),
        Column::Date(v) => encoder.encode_field(&v[row]),
        Column::Time(v) => encoder.encode_field(&v[row]),
        Column::Interval(v) => encoder.encode_field(&v[row]),
        Column::Array(v) => match &v[row] {
            None => encoder.encode_field(&None::<Vec<Option<String>>>),
            Some(items) => encode_array(encoder, items),
        },
    }
}

fn encode_array(encoder: &mut DataRowEncoder, items: &Column) -> PgWireResult<()> {
    match items {
        Column::Bool(v) => encoder.encode_field(v),
        Column::I16(v) => encoder.encode_field(v),
        Column::I32(v) => encoder.encode_field(v),
        Column::I64(v) => encoder.encode_field(v),
        Column::F32(v) => encoder.encode_field(v),
        Column::F64(v) => encoder.encode_field(v),
        Column::Numeric(v) => encoder.encode_field(v),
        Column::Text(v) => encoder.encode_field(v),
        Column::Bytes(v) => encoder.encode_field(v),
        Column::TimestampTz(v) => encoder.encode_field(v),
        Column::Timestamp(v) => encoder.encode_field(v),
        Column::Date(v) => encoder.encode_field(v),
        Column::Time(v) => encoder.encode_field(v),
        Column::Interval(v) => encoder.encode_field(v),
        // Arrays of arrays are sent as JSON (pg_type gives them no array type).
        Column::Array(_) => encoder.encode_field(&None::<String>),
    }
}

/// Encodes every row of `batch` in the formats `fields` ask for.
pub(crate) fn encode_batch(
    batch: &RecordBatch,
    fields: &Arc<Vec<FieldInfo>>,
) -> PgWireResult<Vec<DataRow>> {
    let columns = batch
        .columns()
        .iter()
        .map(column)
        .collect::<PgWireResult<Vec<_>>>()?;
    let mut encoder = DataRowEncoder::new(Arc::clone(fields));
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for column in &columns {
            encode_cell(&mut encoder, column, row)?;
        }
        rows.push(encoder.take_row());
    }
    Ok(rows)
}

/// The type a parameter is read as: what the client declared, else what DataFusion
/// inferred from the query, else text.
pub(crate) fn parameter_type(declared: Option<&Type>, inferred: Option<&DataType>) -> Type {
    match declared {
        Some(t) if *t != Type::UNKNOWN => t.clone(),
        _ => inferred.map(pg_type).unwrap_or(Type::TEXT),
    }
}

fn out_of_range(idx: usize) -> PgWireError {
    PgWireError::UserError(Box::new(pgwire::error::ErrorInfo::new(
        "ERROR".to_owned(),
        "22008".to_owned(),
        format!(
            "parameter ${}: timestamp out of range (Vigil's timestamps span 1677-09-21 to 2262-04-11)",
            idx + 1
        ),
    )))
}

/// Reads bound parameter `idx` of `portal` as a DataFusion value.
pub(crate) fn parameter<S: Clone>(
    portal: &Portal<S>,
    idx: usize,
    pg: &Type,
) -> PgWireResult<ScalarValue> {
    Ok(match *pg {
        Type::BOOL => ScalarValue::Boolean(portal.parameter::<bool>(idx, pg)?),
        Type::INT2 => ScalarValue::Int16(portal.parameter::<i16>(idx, pg)?),
        Type::INT4 => ScalarValue::Int32(portal.parameter::<i32>(idx, pg)?),
        Type::INT8 => ScalarValue::Int64(portal.parameter::<i64>(idx, pg)?),
        Type::FLOAT4 => ScalarValue::Float32(portal.parameter::<f32>(idx, pg)?),
        Type::FLOAT8 => ScalarValue::Float64(portal.parameter::<f64>(idx, pg)?),
        Type::NUMERIC => match portal.parameter::<Decimal>(idx, pg)? {
            // Exact, at the scale the client sent.
            Some(d) => ScalarValue::Decimal128(Some(d.mantissa()), 38, d.scale() as i8),
            None => ScalarValue::Decimal128(None, 38, 0),
        },
        Type::BYTEA => ScalarValue::Binary(portal.parameter::<Vec<u8>>(idx, pg)?),
        Type::TIMESTAMPTZ => {
            let t = portal.parameter::<DateTime<FixedOffset>>(idx, pg)?;
            let nanos = t
                .map(|t| t.timestamp_nanos_opt().ok_or_else(|| out_of_range(idx)))
                .transpose()?;
            ScalarValue::TimestampNanosecond(nanos, Some("UTC".into()))
        }
        Type::TIMESTAMP => {
            let t = portal.parameter::<NaiveDateTime>(idx, pg)?;
            let nanos = t
                .map(|t| {
                    t.and_utc()
                        .timestamp_nanos_opt()
                        .ok_or_else(|| out_of_range(idx))
                })
                .transpose()?;
            ScalarValue::TimestampNanosecond(nanos, None)
        }
        Type::DATE => {
            let d = portal.parameter::<NaiveDate>(idx, pg)?;
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
            ScalarValue::Date32(d.map(|d| (d - epoch).num_days() as i32))
        }
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => {
            ScalarValue::Utf8(portal.parameter::<String>(idx, &Type::TEXT)?)
        }
        ref other => {
            return Err(PgWireError::UserError(Box::new(
                pgwire::error::ErrorInfo::new(
                    "ERROR".to_owned(),
                    "42804".to_owned(),
                    format!(
                        "parameter ${} has type {}, which Vigil does not accept; send it as text",
                        idx + 1,
                        other.name()
                    ),
                ),
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Field;

    #[test]
    fn vigil_column_types_have_postgres_types() {
        let utc = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        assert_eq!(pg_type(&utc), Type::TIMESTAMPTZ);
        assert_eq!(pg_type(&DataType::UInt64), Type::NUMERIC);
        assert_eq!(pg_type(&DataType::UInt32), Type::INT8);
        let floats = DataType::List(Arc::new(Field::new("item", DataType::Float64, true)));
        assert_eq!(pg_type(&floats), Type::FLOAT8_ARRAY);
        let structs = DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(vec![Field::new("a", DataType::Int32, true)].into()),
            true,
        )));
        assert_eq!(pg_type(&structs), Type::JSON);
    }

    #[test]
    fn numerics_are_exact_in_text_and_binary() {
        use postgres_types::ToSql;
        // Text as PostgreSQL prints numeric(38, 10) and numeric values.
        assert_eq!(
            Numeric::new(100_000_000_000_000_000_000_000_000_000, 10).to_string(),
            "10000000000000000000.0000000000"
        );
        assert_eq!(Numeric::new(-5, 3).to_string(), "-0.005");
        assert_eq!(Numeric::new(0, 2).to_string(), "0.00");
        assert_eq!(Numeric::new(12, -2).to_string(), "1200");
        assert_eq!(
            Numeric::new(u64::MAX as i128, 0).to_string(),
            "18446744073709551615"
        );
        // Binary: 12345.678 is digits [1, 2345, 6780], weight 1, scale 3 (the layout of
        // PostgreSQL's numeric_send).
        let words = |n: Numeric| {
            let mut out = bytes::BytesMut::new();
            n.to_sql(&Type::NUMERIC, &mut out).unwrap();
            out.chunks(2)
                .map(|w| u16::from_be_bytes([w[0], w[1]]))
                .collect::<Vec<u16>>()
        };
        assert_eq!(
            words(Numeric::new(12_345_678, 3)),
            vec![3, 1, 0, 3, 1, 2345, 6780]
        );
        // -0.0005 is one digit, 5, at weight -1 (5 × 10000^-1), negative.
        assert_eq!(words(Numeric::new(-5, 4)), vec![1, 0xffff, 0x4000, 4, 5]);
        // Zero has no digits.
        assert_eq!(words(Numeric::new(0, 2)), vec![0, 0, 0, 2]);
    }

    #[test]
    fn nested_values_become_json_text_per_row() {
        let a: ArrayRef = Arc::new(arrow::array::StructArray::from(vec![(
            Arc::new(Field::new("a", DataType::Int32, true)),
            Arc::new(arrow::array::Int32Array::from(vec![Some(1), None])) as ArrayRef,
        )]));
        let text = json_text(&a).unwrap();
        assert_eq!(text[0].as_deref(), Some("{\"a\":1}"));
        assert_eq!(text[1].as_deref(), Some("{\"a\":null}"));
    }
}
