//! Query results as text: an aligned table, CSV, or JSON rows.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use arrow::error::ArrowError;
use arrow::json::writer::{JsonArray, WriterBuilder};

use super::QueryResult;

/// Output formats of `vigil sql --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// Writes `result` in `format` to `out`.
pub fn write(result: &QueryResult, format: Format, out: &mut dyn Write) -> Result<(), ArrowError> {
    match format {
        Format::Table => {
            let table = arrow::util::pretty::pretty_format_batches(&result.batches)?;
            if result.batches.iter().all(|b| b.num_rows() == 0) {
                let names: Vec<&str> = result
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                writeln!(out, "{}", names.join(" | "))?;
                writeln!(out, "(0 rows)")?;
            } else {
                writeln!(out, "{table}")?;
            }
        }
        Format::Csv => {
            if result.batches.is_empty() {
                let names: Vec<&str> = result
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                writeln!(out, "{}", names.join(","))?;
            }
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            for batch in &result.batches {
                writer.write(&nested_as_text(batch)?)?;
            }
        }
        Format::Json => {
            out.write_all(&json_rows(result)?)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// The rows as a JSON array of objects, NULLs written as `null`.
pub fn json_rows(result: &QueryResult) -> Result<Vec<u8>, ArrowError> {
    let mut writer = WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, JsonArray>(Vec::new());
    let batches: Vec<&RecordBatch> = result.batches.iter().collect();
    writer.write_batches(&batches)?;
    writer.finish()?;
    let bytes = writer.into_inner();
    Ok(if bytes.is_empty() {
        b"[]".to_vec()
    } else {
        bytes
    })
}

/// CSV has no lists or structs: such columns are written as their display text
/// (`[1, 2]`, `{name: x}`), the same text the table format shows.
fn nested_as_text(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let nested = |t: &DataType| {
        matches!(
            t,
            DataType::List(_) | DataType::LargeList(_) | DataType::Struct(_) | DataType::Map(_, _)
        )
    };
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| nested(f.data_type()))
    {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if nested(field.data_type()) {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            let text: StringArray = (0..column.len())
                .map(|i| column.is_valid(i).then(|| formatter.value(i).to_string()))
                .collect();
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(text));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(Arc::clone(column));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}
