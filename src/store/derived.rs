//! WAL records of derived rows: results Vigil computes (SLO status and the like) are
//! written back through the same WAL, buffer and Parquet files as telemetry, so they are as
//! durable and as queryable.
//!
//! A record's payload is one byte naming the table (its position in [`Table::ALL`])
//! followed by the rows as an Arrow IPC stream. Replay decodes it here, without the OTLP
//! layer.

use arrow::array::RecordBatch;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;

use super::schema::Table;

/// Encodes `batch` as the payload of a [`super::Signal::Derived`] record.
pub fn encode(table: Table, batch: &RecordBatch) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let mut payload = vec![table.index() as u8];
    let mut writer = StreamWriter::try_new(&mut payload, &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    drop(writer);
    Ok(payload)
}

/// Decodes a [`super::Signal::Derived`] payload back into its table's rows.
pub fn decode(payload: &[u8]) -> Result<Vec<(Table, RecordBatch)>, String> {
    let (&index, ipc) = payload.split_first().ok_or("empty derived-rows record")?;
    let table = Table::ALL
        .get(index as usize)
        .copied()
        .filter(|t| t.is_derived())
        .ok_or_else(|| format!("derived-rows record names unknown table {index}"))?;
    let reader = StreamReader::try_new(ipc, None).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        // Rows written by an older version lack columns added since: read them as NULL.
        rows.push((table, conform(table, batch)?));
    }
    Ok(rows)
}

/// `batch` with `table`'s current columns, in order; a missing nullable column is NULL.
fn conform(table: Table, batch: RecordBatch) -> Result<RecordBatch, String> {
    let schema = table.schema();
    if batch.schema() == schema {
        return Ok(batch);
    }
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) => Ok(column.clone()),
            None if field.is_nullable() => Ok(arrow::array::new_null_array(
                field.data_type(),
                batch.num_rows(),
            )),
            None => Err(format!("{table} rows lack column {}", field.name())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, new_null_array};

    fn status_rows(n: usize) -> RecordBatch {
        let schema = Table::SloStatus.schema();
        let columns = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                arrow::datatypes::DataType::Utf8 => {
                    std::sync::Arc::new(arrow::array::StringArray::from(vec!["x"; n]))
                        as arrow::array::ArrayRef
                }
                arrow::datatypes::DataType::Float64 => {
                    std::sync::Arc::new(arrow::array::Float64Array::from(vec![0.5; n]))
                }
                arrow::datatypes::DataType::UInt64 => {
                    std::sync::Arc::new(arrow::array::UInt64Array::from(vec![7; n]))
                }
                other => {
                    let ts = arrow::array::TimestampNanosecondArray::from(vec![60_000_000_000; n])
                        .with_timezone("UTC");
                    assert_eq!(ts.data_type(), other);
                    std::sync::Arc::new(ts)
                }
            })
            .collect();
        RecordBatch::try_new(schema, columns).expect("rows match the schema")
    }

    #[test]
    fn rows_survive_the_round_trip() {
        let rows = status_rows(3);
        let payload = encode(Table::SloStatus, &rows).expect("encodes");
        let decoded = decode(&payload).expect("decodes");
        assert_eq!(decoded, vec![(Table::SloStatus, rows)]);
    }

    #[test]
    fn telemetry_tables_and_garbage_are_refused() {
        let rows = status_rows(1);
        let mut payload = encode(Table::SloStatus, &rows).expect("encodes");
        payload[0] = Table::Spans.index() as u8;
        assert!(decode(&payload).unwrap_err().contains("unknown table"));
        assert!(decode(&[]).is_err());
        assert!(decode(&[Table::SloStatus.index() as u8, 1, 2, 3]).is_err());
    }

    #[test]
    fn rows_without_a_newer_nullable_column_read_it_as_null() {
        let rows = status_rows(2);
        let schema = rows.schema();
        let keep: Vec<usize> = (0..schema.fields().len())
            .filter(|&i| schema.field(i).name() != "runbook_url")
            .collect();
        let older = rows.project(&keep).expect("projection");
        let payload = encode(Table::SloStatus, &older).expect("encodes");
        let (_, decoded) = decode(&payload).expect("decodes").remove(0);
        let runbook = decoded.column_by_name("runbook_url").expect("column");
        assert_eq!(
            runbook.to_data(),
            new_null_array(runbook.data_type(), 2).to_data()
        );
    }
}
