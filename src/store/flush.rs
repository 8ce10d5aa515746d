//! Writing buffered rows to Parquet: split by hour, sort, write atomically.
//!
//! Each table's rows are sorted once by (hour of the table's time column, `service_name`,
//! time) and cut into one file per hour, so within a file rows run by service then time
//! and row group and page statistics prune both kinds of filter. Files are written as
//! `<name>.tmp`, fsynced, renamed and the directory fsynced.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, TimestampNanosecondArray};
use arrow::compute::{self, SortColumn, SortOptions};
use arrow::datatypes::Int64Type;
use arrow::error::ArrowError;
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::layout;
use super::schema::Table;
use super::wal::sync_dir;

#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode Parquet for {path}: {source}")]
    Parquet { path: PathBuf, source: ParquetError },
    #[error("cannot prepare rows of table {table}: {source}")]
    Arrow {
        table: &'static str,
        source: ArrowError,
    },
}

/// Writes `batches` of `table` as Parquet files named for flush `seq`; returns their paths.
pub fn write_table(
    data_dir: &Path,
    table: Table,
    batches: &[RecordBatch],
    seq: u64,
    row_group_rows: usize,
) -> Result<Vec<PathBuf>, FlushError> {
    let arrow_err = |source| FlushError::Arrow {
        table: table.name(),
        source,
    };
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows == 0 {
        return Ok(Vec::new());
    }
    let mut written = Vec::new();
    for chunk in chunks(batches, CHUNK_BYTES) {
        let all = compute::concat_batches(&table.schema(), chunk).map_err(arrow_err)?;
        let (sorted, hours) = sort_by_hour_service_time(&all, table).map_err(arrow_err)?;
        for (hour, start, len) in hour_runs(&hours) {
            let dir = data_dir
                .join(table.name())
                .join(layout::partition_dir(hour));
            let path = dir.join(layout::file_name(seq, written.len()));
            write_file(
                &dir,
                &path,
                &sorted.slice(start, len),
                table,
                row_group_rows,
            )?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Most bytes of buffered batches merged into one array before writing. Arrow string
/// columns address at most 2 GiB, so a large buffer is written as several files per hour.
const CHUNK_BYTES: usize = 512 << 20;

/// Consecutive runs of `batches` of at most `limit` bytes each (a larger batch alone).
fn chunks(batches: &[RecordBatch], limit: usize) -> Vec<&[RecordBatch]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, batch) in batches.iter().enumerate() {
        let size = batch.get_array_memory_size();
        if i > start && bytes + size > limit {
            out.push(&batches[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < batches.len() {
        out.push(&batches[start..]);
    }
    out
}

fn time_column(batch: &RecordBatch, table: Table) -> Option<&TimestampNanosecondArray> {
    batch
        .column_by_name(table.time_column())?
        .as_any()
        .downcast_ref::<TimestampNanosecondArray>()
}

/// Columns files are sorted by: service, then time.
fn sort_columns(table: Table) -> [&'static str; 2] {
    ["service_name", table.time_column()]
}

/// The hour bucket of each row's time (NULL where the time is).
fn hours(batch: &RecordBatch, table: Table) -> Int64Array {
    match time_column(batch, table) {
        Some(times) => times.iter().map(|t| t.map(layout::hour_of)).collect(),
        None => Int64Array::new_null(batch.num_rows()),
    }
}

/// Sorts rows by hour bucket, then service, then time, in one pass: each hour's rows end
/// up contiguous and in file order (rows without a time first). Returns the sorted rows
/// and their hour buckets. The common flush covers a single hour; it sorts by service and
/// time only, which is markedly cheaper.
fn sort_by_hour_service_time(
    batch: &RecordBatch,
    table: Table,
) -> Result<(RecordBatch, Int64Array), ArrowError> {
    let hours = hours(batch, table);
    let single_hour = hours.null_count() == hours.len()
        || (hours.null_count() == 0 && compute::min(&hours) == compute::max(&hours));
    let options = Some(SortOptions {
        descending: false,
        nulls_first: true,
    });
    let mut keys = Vec::new();
    if !single_hour {
        keys.push(SortColumn {
            values: Arc::new(hours.clone()),
            options,
        });
    }
    for name in sort_columns(table) {
        if let Some(values) = batch.column_by_name(name) {
            keys.push(SortColumn {
                values: Arc::clone(values),
                options,
            });
        }
    }
    let indices = compute::lexsort_to_indices(&keys, None)?;
    let sorted = compute::take_record_batch(batch, &indices)?;
    let sorted_hours = if single_hour {
        hours
    } else {
        compute::take(&hours, &indices, None)?
            .as_primitive::<Int64Type>()
            .clone()
    };
    Ok((sorted, sorted_hours))
}

/// Runs of equal hour in sorted hour buckets, as `(hour, start row, row count)`.
fn hour_runs(hours: &Int64Array) -> Vec<(Option<i64>, usize, usize)> {
    let mut runs: Vec<(Option<i64>, usize, usize)> = Vec::new();
    for (i, hour) in hours.iter().enumerate() {
        match runs.last_mut() {
            Some((last, _, len)) if *last == hour => *len += 1,
            _ => runs.push((hour, i, 1)),
        }
    }
    runs
}

fn writer_properties(table: Table, row_group_rows: usize) -> WriterProperties {
    let schema = table.schema();
    let sorting: Vec<SortingColumn> = sort_columns(table)
        .iter()
        .filter_map(|name| schema.index_of(name).ok())
        .map(|i| SortingColumn {
            column_idx: i as i32,
            descending: false,
            nulls_first: true,
        })
        .collect();
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(sorting))
        .set_created_by(format!("vigil {}", env!("CARGO_PKG_VERSION")));
    // Statistics cost a comparison per value and per page, so they are kept only where
    // queries filter: times, numbers and the short names people select by. JSON text
    // (every value starts with `{"`) and random ids prune nothing; ids are looked up by
    // equality, which statistics over random hex cannot narrow. Per-row JSON and ids are
    // nearly unique, so a dictionary only costs hashing there.
    let Ok(descriptor) = ArrowSchemaConverter::new().convert(&schema) else {
        return builder.build();
    };
    for column in descriptor.columns() {
        let path = column.path().clone();
        let parts = path.parts();
        let (top, leaf) = (parts[0].as_str(), parts[parts.len() - 1].as_str());
        let is_text = column.physical_type() == parquet::basic::Type::BYTE_ARRAY;
        let filtered_text = matches!(
            top,
            "service_name"
                | "name"
                | "kind"
                | "status_code"
                | "metric_name"
                | "metric_type"
                | "event_name"
                | "severity_text"
                | "scope_name"
                | "unit"
                | "temporality"
        );
        if parts.len() > 1 || (is_text && !filtered_text) {
            builder = builder.set_column_statistics_enabled(path.clone(), EnabledStatistics::None);
        }
        let unique_text = matches!(
            top,
            "attributes" | "body" | "trace_id" | "span_id" | "parent_span_id"
        );
        if unique_text || (parts.len() > 1 && leaf.ends_with("attributes")) {
            builder = builder.set_column_dictionary_enabled(path, false);
        }
    }
    builder.build()
}

/// Creates `dir` and any missing parents, fsyncing each new directory's parent so the
/// new entries survive a power loss along with the files written into them.
fn create_dir_durably(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_durably(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => Ok(()),
    }
}

fn write_file(
    dir: &Path,
    path: &Path,
    batch: &RecordBatch,
    table: Table,
    row_group_rows: usize,
) -> Result<(), FlushError> {
    let io_err = |source| FlushError::Io {
        path: path.to_owned(),
        source,
    };
    let pq_err = |source| FlushError::Parquet {
        path: path.to_owned(),
        source,
    };
    create_dir_durably(dir).map_err(io_err)?;
    let tmp = path.with_extension("parquet.tmp");
    let file = File::create(&tmp).map_err(io_err)?;
    let mut writer = ArrowWriter::try_new(
        file,
        batch.schema(),
        Some(writer_properties(table, row_group_rows)),
    )
    .map_err(pq_err)?;
    writer.write(batch).map_err(pq_err)?;
    let file = writer.into_inner().map_err(pq_err)?;
    file.sync_all().map_err(io_err)?;
    fs::rename(&tmp, path).map_err(io_err)?;
    sync_dir(dir).map_err(io_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(rows: usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1i64; rows]))]).unwrap()
    }

    #[test]
    fn hour_runs_split_sorted_buckets_with_null_first() {
        let hours = Int64Array::from(vec![None, None, Some(5), Some(5), Some(7)]);
        assert_eq!(
            hour_runs(&hours),
            vec![(None, 0, 2), (Some(5), 2, 2), (Some(7), 4, 1)]
        );
        assert!(hour_runs(&Int64Array::from(Vec::<i64>::new())).is_empty());
    }

    #[test]
    fn chunks_stay_under_the_limit_and_keep_every_batch_in_order() {
        let batches: Vec<RecordBatch> = (0..10).map(|_| batch(1000)).collect();
        let size = batches[0].get_array_memory_size();
        let chunks = chunks(&batches, size * 3);
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [3, 3, 3, 1]
        );
        // A batch larger than the limit is a chunk of its own, never dropped.
        assert_eq!(super::chunks(&batches[..2], 1).len(), 2);
        assert!(super::chunks(&[], 10).is_empty());
    }
}
