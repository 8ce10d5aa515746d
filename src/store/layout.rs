//! Where Parquet files live and how their names are read back.
//!
//! ```text
//! <data>/<table>/date=YYYY-MM-DD/hour=HH/part-<seq, 20 digits>-<n>.parquet
//! ```
//!
//! Rows are placed by the hour of the table's time column (UTC). Rows whose time is NULL
//! go to `date=__HIVE_DEFAULT_PARTITION__/hour=__HIVE_DEFAULT_PARTITION__`, the name Hive
//! engines use for a NULL partition value. `seq` is the last WAL seq the writing flush
//! covered: a file is part of the store only once the WAL checkpoint has reached its seq.
//! Files being written carry a `.tmp` suffix and are never read.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate};

use super::schema::Table;

pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";
const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

/// A committed or candidate Parquet file of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    pub path: PathBuf,
    pub size: u64,
    /// Last WAL seq the flush that wrote it covered.
    pub seq: u64,
    /// Hours since the Unix epoch of its partition; `None` for the NULL partition.
    pub hour: Option<i64>,
}

/// The hour bucket (hours since the epoch) of a timestamp in nanoseconds.
pub fn hour_of(nanos: i64) -> i64 {
    nanos.div_euclid(NANOS_PER_HOUR)
}

/// The partition directory of an hour bucket, relative to the table directory.
pub fn partition_dir(hour: Option<i64>) -> PathBuf {
    match hour.and_then(|h| DateTime::from_timestamp(h * 3600, 0)) {
        Some(t) => PathBuf::from(format!("date={}", t.format("%Y-%m-%d")))
            .join(format!("hour={}", t.format("%H"))),
        None => {
            PathBuf::from(format!("date={NULL_PARTITION}")).join(format!("hour={NULL_PARTITION}"))
        }
    }
}

pub fn file_name(seq: u64, n: usize) -> String {
    format!("part-{seq:020}-{n}.parquet")
}

fn parse_seq(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    rest.split('-').next()?.parse().ok()
}

fn parse_partition(date_dir: &str, hour_dir: &str) -> Option<Option<i64>> {
    let date = date_dir.strip_prefix("date=")?;
    let hour = hour_dir.strip_prefix("hour=")?;
    if date == NULL_PARTITION && hour == NULL_PARTITION {
        return Some(None);
    }
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let hour: i64 = hour.parse().ok().filter(|h| (0..24).contains(h))?;
    let midnight = day.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
    Some(Some(midnight.div_euclid(3600) + hour))
}

/// Every Parquet file under a table directory, with `.tmp` leftovers listed separately.
pub fn scan_table(data_dir: &Path, table: Table) -> io::Result<(Vec<DataFile>, Vec<PathBuf>)> {
    let mut files = Vec::new();
    let mut leftovers = Vec::new();
    let table_dir = data_dir.join(table.name());
    for date in read_dir_or_empty(&table_dir)? {
        let Some(date_name) = file_name_of(&date) else {
            continue;
        };
        for hour in read_dir_or_empty(&date)? {
            let Some(hour_name) = file_name_of(&hour) else {
                continue;
            };
            let Some(partition) = parse_partition(&date_name, &hour_name) else {
                continue;
            };
            for file in read_dir_or_empty(&hour)? {
                let Some(name) = file_name_of(&file) else {
                    continue;
                };
                if name.ends_with(".tmp") {
                    leftovers.push(file);
                    continue;
                }
                let Some(seq) = parse_seq(&name) else {
                    continue;
                };
                let size = match fs::metadata(&file) {
                    Ok(meta) => meta.len(),
                    // Removed since the directory was read: no longer part of the table.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                files.push(DataFile {
                    path: file,
                    size,
                    seq,
                    hour: partition,
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((files, leftovers))
}

fn file_name_of(path: &Path) -> Option<String> {
    path.file_name()?.to_str().map(str::to_owned)
}

fn read_dir_or_empty(dir: &Path) -> io::Result<Vec<PathBuf>> {
    match fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.map(|e| e.path())).collect(),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory =>
        {
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dirs_round_trip() {
        // 2018-12-13T14:51:00Z, the start time of the OTLP trace.json example.
        let hour = hour_of(1_544_712_660_000_000_000);
        assert_eq!(
            partition_dir(Some(hour)),
            PathBuf::from("date=2018-12-13/hour=14")
        );
        assert_eq!(
            parse_partition("date=2018-12-13", "hour=14"),
            Some(Some(hour))
        );
        assert_eq!(
            parse_partition(
                &format!("date={NULL_PARTITION}"),
                &format!("hour={NULL_PARTITION}")
            ),
            Some(None)
        );
        assert_eq!(parse_partition("date=2018-12-13", "hour=24"), None);
    }

    #[test]
    fn hours_before_the_epoch_round_down() {
        assert_eq!(hour_of(-1), -1);
        assert_eq!(
            partition_dir(Some(-1)),
            PathBuf::from("date=1969-12-31/hour=23")
        );
    }

    #[test]
    fn file_names_carry_the_flush_seq() {
        assert_eq!(parse_seq(&file_name(17, 3)), Some(17));
        assert_eq!(parse_seq("part-x.parquet"), None);
    }
}
