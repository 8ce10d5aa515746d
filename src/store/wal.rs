//! The write-ahead log: every acknowledged export is here, fsynced, before its ack.
//!
//! ```text
//! <data>/_wal/segment-<first seq, 20 digits>.wal   record* after an 8-byte magic
//! <data>/_wal/checkpoint                          highest seq whose rows are in Parquet
//!
//! record = len: u32 LE | crc32: u32 LE | seq: u64 LE | signal: u8 | payload: len bytes
//!          (crc over seq, signal and payload; payload = the export request as protobuf)
//! ```
//!
//! Invariants:
//! - seq grows across segments (a failed write leaves a gap); a segment's records start
//!   at or after the seq in its name.
//! - A record is complete and its CRC matches, or it is the torn tail of a write that was
//!   never acknowledged: readers stop at the first bad record of a segment.
//! - A failed write is cut back off the segment before anything else is written. If even
//!   that fails, writing moves to a new segment, and the bytes of the failed write stay
//!   behind in the old one: should they form complete records, a restart replays them
//!   although their senders were told the write failed (they retry, so such a request
//!   may be stored twice; acknowledged requests are never lost).
//! - The checkpoint only grows; it is written atomically (temporary file, fsync, rename,
//!   fsync of the directory) after the Parquet files it covers are durable.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use tracing::warn;

const MAGIC: &[u8; 8] = b"VIGILWAL";
const HEADER_LEN: usize = 4 + 4 + 8 + 1;
/// A record larger than this is corruption, not data (requests are capped far below).
const MAX_RECORD: usize = 1 << 30;

/// What a WAL record holds: an OTLP export of one signal, or derived rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces = 1,
    Metrics = 2,
    Logs = 3,
    /// Rows Vigil derived itself (SLO status and the like), encoded by `store::derived`.
    Derived = 4,
}

impl Signal {
    fn from_byte(b: u8) -> Option<Signal> {
        match b {
            1 => Some(Signal::Traces),
            2 => Some(Signal::Metrics),
            3 => Some(Signal::Logs),
            4 => Some(Signal::Derived),
            _ => None,
        }
    }
}

/// One record read back from the log.
#[derive(Debug)]
pub struct Entry<'a> {
    pub seq: u64,
    pub signal: Signal,
    pub payload: &'a [u8],
}

pub fn wal_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("_wal")
}

fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("segment-{first_seq:020}.wal"))
}

/// Segments in the log directory, oldest first, as `(first seq, path)`.
pub fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(segments),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(seq) = name
            .strip_prefix("segment-")
            .and_then(|n| n.strip_suffix(".wal"))
        else {
            continue;
        };
        if let Ok(seq) = seq.parse::<u64>() {
            segments.push((seq, path));
        }
    }
    segments.sort();
    Ok(segments)
}

/// Reads every complete record of one segment, stopping at a torn or corrupt tail.
pub fn read_segment(path: &Path, mut visit: impl FnMut(Entry<'_>)) -> io::Result<()> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
        if !data.is_empty() {
            warn!(path = %path.display(), "WAL segment has no valid header; skipped");
        }
        return Ok(());
    }
    let mut pos = MAGIC.len();
    while pos < data.len() {
        let Some(header) = data.get(pos..pos + HEADER_LEN) else {
            warn!(path = %path.display(), offset = pos, "torn WAL record header at segment end; ignored");
            break;
        };
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let body_start = pos + 8;
        let end = pos + HEADER_LEN + len;
        if len > MAX_RECORD || end > data.len() {
            warn!(path = %path.display(), offset = pos, "torn WAL record at segment end; ignored");
            break;
        }
        let body = &data[body_start..end];
        if crc32fast::hash(body) != crc {
            warn!(path = %path.display(), offset = pos, "WAL record fails its checksum; rest of segment ignored");
            break;
        }
        let mut seq_bytes = [0u8; 8];
        seq_bytes.copy_from_slice(&body[..8]);
        let seq = u64::from_le_bytes(seq_bytes);
        let Some(signal) = Signal::from_byte(body[8]) else {
            warn!(path = %path.display(), offset = pos, "WAL record of unknown signal; rest of segment ignored");
            break;
        };
        visit(Entry {
            seq,
            signal,
            payload: &body[9..],
        });
        pos = end;
    }
    Ok(())
}

/// Reads the checkpoint: the highest seq whose rows are durable in Parquet (0 if none).
/// An unreadable checkpoint reads as 0 with a warning: start-up reconciliation (see
/// `store::recovery`) then raises it to what the files and the WAL show.
pub fn read_checkpoint(dir: &Path) -> io::Result<u64> {
    let path = dir.join("checkpoint");
    match fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().parse::<u64>().unwrap_or_else(|e| {
            warn!(path = %path.display(), error = %e, "WAL checkpoint is unreadable; reconstructing it");
            0
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Writes the checkpoint atomically and durably.
pub fn write_checkpoint(dir: &Path, seq: u64) -> io::Result<()> {
    let tmp = dir.join("checkpoint.tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(format!("{seq}\n").as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join("checkpoint"))?;
    sync_dir(dir)
}

/// Makes a directory entry (a create, rename or delete within it) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Appends records to the current segment. Not thread-safe: one writer thread owns it.
#[derive(Debug)]
pub struct WalWriter {
    dir: PathBuf,
    file: File,
    next_seq: u64,
    pending: Vec<u8>,
    fsync: bool,
    /// Bytes of the current segment known to be complete records (plus the header).
    durable_len: u64,
    /// A failed write could not be cut back off the segment: nothing may be appended
    /// behind it until the segment is repaired or replaced.
    damaged: bool,
}

impl WalWriter {
    /// Starts a new segment whose first record will get `next_seq`.
    pub fn open(dir: &Path, next_seq: u64, fsync: bool) -> io::Result<WalWriter> {
        fs::create_dir_all(dir)?;
        let file = Self::create_segment(dir, next_seq)?;
        Ok(WalWriter {
            dir: dir.to_owned(),
            file,
            next_seq,
            pending: Vec::with_capacity(1 << 20),
            fsync,
            durable_len: MAGIC.len() as u64,
            damaged: false,
        })
    }

    fn create_segment(dir: &Path, first_seq: u64) -> io::Result<File> {
        // A segment of this name can only exist if it holds no complete record (else
        // `next_seq` would be past it), so starting it afresh loses nothing.
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(segment_path(dir, first_seq))?;
        file.write_all(MAGIC)?;
        file.sync_all()?;
        sync_dir(dir)?;
        Ok(file)
    }

    /// Seq of the last record appended (0 before the first record ever).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Stages a record; it is durable only after [`WalWriter::commit`].
    /// Payloads are capped by `server.max_request_size` (at most 512 MiB), far below
    /// what the 32-bit length field and the reader's [`MAX_RECORD`] accept.
    pub fn append(&mut self, signal: Signal, payload: &[u8]) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&seq.to_le_bytes());
        hasher.update(&[signal as u8]);
        hasher.update(payload);
        self.pending
            .extend_from_slice(&(payload.len() as u32).to_le_bytes());
        self.pending
            .extend_from_slice(&hasher.finalize().to_le_bytes());
        self.pending.extend_from_slice(&seq.to_le_bytes());
        self.pending.push(signal as u8);
        self.pending.extend_from_slice(payload);
        crate::metrics::WAL_BYTES.add((HEADER_LEN + payload.len()) as u64);
        seq
    }

    /// Writes the staged records and fsyncs: one fsync for the whole group. On failure
    /// the staged records are dropped (their senders get the error) and the segment is cut
    /// back to its last complete record, so later records never sit behind a torn one.
    pub fn commit(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let result = self.write_durably(&pending);
        self.pending = pending;
        self.pending.clear();
        if result.is_err() {
            self.damaged = true;
            // Best effort now; the next commit retries before writing anything.
            let _ = self.repair();
        }
        result
    }

    fn write_durably(&mut self, records: &[u8]) -> io::Result<()> {
        if self.damaged {
            self.repair()?;
        }
        self.file.write_all(records)?;
        if self.fsync {
            self.file.sync_data()?;
        }
        self.durable_len += records.len() as u64;
        Ok(())
    }

    /// Cuts the segment back to its complete records, or failing that starts a new one.
    fn repair(&mut self) -> io::Result<()> {
        let truncated = self
            .file
            .set_len(self.durable_len)
            .and_then(|()| self.file.seek(SeekFrom::Start(self.durable_len)).map(drop))
            .and_then(|()| {
                if self.fsync {
                    self.file.sync_data()
                } else {
                    Ok(())
                }
            });
        if truncated.is_err() {
            self.start_segment()?;
        }
        self.damaged = false;
        Ok(())
    }

    /// Closes the current segment and starts the next one at `last_seq() + 1`.
    pub fn rotate(&mut self) -> io::Result<()> {
        self.commit()?;
        self.start_segment()
    }

    fn start_segment(&mut self) -> io::Result<()> {
        self.file = Self::create_segment(&self.dir, self.next_seq)?;
        self.durable_len = MAGIC.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(dir: &Path) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        for (_, path) in list_segments(dir).unwrap() {
            read_segment(&path, |e| out.push((e.seq, e.payload.to_vec()))).unwrap();
        }
        out
    }

    #[test]
    fn records_survive_reopen_in_order_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = WalWriter::open(dir.path(), 1, true).unwrap();
        assert_eq!(wal.append(Signal::Traces, b"one"), 1);
        wal.commit().unwrap();
        wal.rotate().unwrap();
        assert_eq!(wal.append(Signal::Logs, b"two"), 2);
        assert_eq!(wal.append(Signal::Metrics, b""), 3);
        wal.commit().unwrap();
        drop(wal);
        assert_eq!(
            read_all(dir.path()),
            vec![(1, b"one".to_vec()), (2, b"two".to_vec()), (3, Vec::new())]
        );
        assert_eq!(
            list_segments(dir.path())
                .unwrap()
                .iter()
                .map(|s| s.0)
                .collect::<Vec<_>>(),
            [1, 2]
        );
    }

    #[test]
    fn a_torn_tail_is_ignored_and_earlier_records_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = WalWriter::open(dir.path(), 7, true).unwrap();
        wal.append(Signal::Traces, b"kept");
        wal.append(Signal::Traces, b"torn away");
        wal.commit().unwrap();
        drop(wal);
        let path = list_segments(dir.path()).unwrap()[0].1.clone();
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        assert_eq!(read_all(dir.path()), vec![(7, b"kept".to_vec())]);
    }

    #[test]
    fn a_flipped_bit_stops_reading_at_the_bad_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = WalWriter::open(dir.path(), 1, false).unwrap();
        wal.append(Signal::Traces, b"good");
        wal.append(Signal::Traces, b"flipped");
        wal.commit().unwrap();
        drop(wal);
        let path = list_segments(dir.path()).unwrap()[0].1.clone();
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        fs::write(&path, bytes).unwrap();
        assert_eq!(read_all(dir.path()), vec![(1, b"good".to_vec())]);
    }

    #[test]
    fn a_failed_write_is_cut_off_before_the_next_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = WalWriter::open(dir.path(), 1, true).unwrap();
        wal.append(Signal::Traces, b"before");
        wal.commit().unwrap();
        // What a write interrupted by a full disk leaves: part of a record, then failure.
        wal.file.write_all(b"\x10\x00\x00\x00half a rec").unwrap();
        wal.damaged = true;
        wal.append(Signal::Traces, b"after");
        wal.commit().unwrap();
        drop(wal);
        assert_eq!(
            read_all(dir.path()),
            vec![(1, b"before".to_vec()), (2, b"after".to_vec())]
        );
    }

    #[test]
    fn checkpoint_round_trips_and_defaults_to_zero() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_checkpoint(dir.path()).unwrap(), 0);
        write_checkpoint(dir.path(), 42).unwrap();
        assert_eq!(read_checkpoint(dir.path()).unwrap(), 42);
    }
}
