//! Reading query results by column name into plain Rust values, whatever Arrow type the
//! column has underneath (a count may come back as Int64 or UInt64, a time as any
//! timestamp unit): each reader casts first, then copies out, keeping NULLs as `None`.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampSecondType};

/// A column that is missing or cannot be read as the type asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ColumnError {
    #[error("the query returned no column {0:?}")]
    Missing(String),
    #[error("column {name:?} cannot be read as {wanted}: {message}")]
    Type {
        name: String,
        wanted: &'static str,
        message: String,
    },
}

fn cast(
    batch: &RecordBatch,
    name: &str,
    to: &DataType,
) -> Result<arrow::array::ArrayRef, ColumnError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| ColumnError::Missing(name.to_string()))?;
    arrow::compute::cast(column, to).map_err(|e| ColumnError::Type {
        name: name.to_string(),
        wanted: match to {
            DataType::Utf8 => "text",
            DataType::Float64 => "a number",
            DataType::Int64 => "an integer",
            DataType::Boolean => "a boolean",
            _ => "a timestamp",
        },
        message: e.to_string(),
    })
}

/// Text values (numbers and booleans are written out).
pub fn strings(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>, ColumnError> {
    let array = cast(batch, name, &DataType::Utf8)?;
    let array = array.as_string::<i32>();
    Ok((0..array.len())
        .map(|i| (!array.is_null(i)).then(|| array.value(i).to_string()))
        .collect())
}

pub fn floats(batch: &RecordBatch, name: &str) -> Result<Vec<Option<f64>>, ColumnError> {
    let array = cast(batch, name, &DataType::Float64)?;
    let array = array.as_primitive::<Float64Type>();
    Ok((0..array.len())
        .map(|i| (!array.is_null(i)).then(|| array.value(i)))
        .collect())
}

pub fn ints(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>, ColumnError> {
    let array = cast(batch, name, &DataType::Int64)?;
    let array = array.as_primitive::<Int64Type>();
    Ok((0..array.len())
        .map(|i| (!array.is_null(i)).then(|| array.value(i)))
        .collect())
}

pub fn bools(batch: &RecordBatch, name: &str) -> Result<Vec<Option<bool>>, ColumnError> {
    let array = cast(batch, name, &DataType::Boolean)?;
    let array = array.as_boolean();
    Ok((0..array.len())
        .map(|i| (!array.is_null(i)).then(|| array.value(i)))
        .collect())
}

/// Timestamps as Unix seconds (rounded down).
pub fn seconds(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>, ColumnError> {
    let array = cast(batch, name, &DataType::Timestamp(TimeUnit::Second, None))?;
    let array = array.as_primitive::<TimestampSecondType>();
    Ok((0..array.len())
        .map(|i| (!array.is_null(i)).then(|| array.value(i)))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{StringArray, TimestampNanosecondArray, UInt64Array};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn columns_are_cast_and_nulls_kept() {
        let schema = Schema::new(vec![
            Field::new("n", DataType::UInt64, true),
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                true,
            ),
            Field::new("s", DataType::Utf8, true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(UInt64Array::from(vec![Some(3), None])),
                Arc::new(
                    TimestampNanosecondArray::from(vec![Some(61_500_000_000), None])
                        .with_timezone("UTC"),
                ),
                Arc::new(StringArray::from(vec![Some("x"), None])),
            ],
        )
        .unwrap();
        assert_eq!(ints(&batch, "n").unwrap(), vec![Some(3), None]);
        assert_eq!(floats(&batch, "n").unwrap(), vec![Some(3.0), None]);
        assert_eq!(seconds(&batch, "t").unwrap(), vec![Some(61), None]);
        assert_eq!(strings(&batch, "s").unwrap(), vec![Some("x".into()), None]);
        assert_eq!(
            ints(&batch, "missing").unwrap_err(),
            ColumnError::Missing("missing".into())
        );
    }
}
