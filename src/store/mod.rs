//! The embedded store: WAL, in-memory Arrow buffer, Parquet files, and the flush between.
//!
//! ```text
//!  append(signal, payload, batches)
//!     │  (memory check: over the limit → StoreError::Overloaded, nothing written)
//!     ▼
//!  WAL thread ── group: write all records, one fsync ──► rows into the active buffer ──► ack
//!     │                                                          │
//!     │ rotate (flush asks)                                      ▼
//!     └──────────────────────────────────────────►  active → flushing (seq S)
//!                                                                │  flusher task
//!                                                                ▼
//!                         Parquet files part-S-*.parquet ─► checkpoint = S ─► drop flushing,
//!                                                                            delete segments ≤ S
//! ```
//!
//! Invariants:
//! - An append is acknowledged only after its WAL record is fsynced (when `wal_fsync` is
//!   on) and its rows are visible in the buffer.
//! - The buffer holds exactly the rows of WAL records with seq > checkpoint: the WAL
//!   thread inserts rows in seq order and rotation happens between groups.
//! - A reader sees every committed file (seq ≤ checkpoint) plus buffered rows, never a row
//!   twice: the checkpoint advance and the drop of the flushed buffer happen under one lock.
//! - On open, files of an interrupted flush (seq > checkpoint) and `.tmp` files are
//!   deleted and the WAL is replayed from the checkpoint, so replay never duplicates.

pub mod derived;
pub mod flush;
pub mod layout;
pub mod recovery;
pub mod schema;
pub mod wal;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use tokio::sync::oneshot;
use tracing::{debug, error, info, warn};

pub use layout::DataFile;
pub use schema::Table;
pub use wal::Signal;

/// Turns a WAL payload back into rows; provided by the OTLP layer so the store does not
/// depend on the wire format.
pub type Decoder = dyn Fn(Signal, &[u8]) -> Result<Vec<(Table, RecordBatch)>, String> + Send + Sync;

/// Store settings (the `[storage]` section of `vigil.toml`).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Flush when the buffer has held rows this long.
    pub flush_interval: Duration,
    /// Flush when the buffer holds this many bytes of Arrow data.
    pub flush_bytes: usize,
    /// Refuse appends (clients retry) while buffered plus in-flight bytes exceed this.
    pub max_buffer_bytes: usize,
    /// fsync the WAL before acknowledging. Off trades durability on power loss for speed.
    pub wal_fsync: bool,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
}

impl StoreConfig {
    /// Buffered bytes that trigger a flush: `flush_bytes`, but never more than half the
    /// buffer limit, so the buffer is written out well before receivers must refuse data.
    pub fn flush_threshold(&self) -> usize {
        self.flush_bytes.min(self.max_buffer_bytes / 2).max(1)
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            flush_interval: Duration::from_secs(60),
            flush_bytes: 128 << 20,
            max_buffer_bytes: 1 << 30,
            wal_fsync: true,
            row_group_rows: 128 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "ingest buffer is full ({buffered} bytes buffered, limit {limit}); retry after the next flush"
    )]
    Overloaded { buffered: usize, limit: usize },
    #[error("write-ahead log write failed: {0}")]
    Wal(std::io::Error),
    #[error("the store is shutting down")]
    Closed,
    #[error("cannot open data directory {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "data directory {path} is in use by another vigil serve (lock held on {lock}); stop it or pick another --data-dir"
    )]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("cannot replay WAL record {seq}: {message}")]
    Replay { seq: u64, message: String },
    #[error("cannot encode {table} rows for the write-ahead log: {message}")]
    Encode { table: Table, message: String },
}

static OVERLOAD_LOG: crate::logging::RateLimit = crate::logging::RateLimit::new();

/// Rows per table, oldest first.
#[derive(Debug, Default)]
struct Buffers {
    tables: [Vec<RecordBatch>; Table::ALL.len()],
    bytes: usize,
    since: Option<Instant>,
}

impl Buffers {
    /// Adds one export's batches, whose Arrow size the caller has already measured.
    fn extend(&mut self, batches: Vec<(Table, RecordBatch)>, bytes: usize) {
        for (table, batch) in batches {
            self.tables[table.index()].push(batch);
        }
        self.bytes += bytes;
        self.since.get_or_insert_with(Instant::now);
    }

    fn is_empty(&self) -> bool {
        self.tables.iter().all(Vec::is_empty)
    }
}

#[derive(Debug, Default)]
struct State {
    active: Buffers,
    /// Rows being written to Parquet, with the last WAL seq they cover.
    flushing: Option<(u64, Buffers)>,
    checkpoint: u64,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    config: StoreConfig,
    state: Mutex<State>,
    /// Bytes of appends accepted but not yet in the buffer.
    in_flight: AtomicUsize,
    /// Earliest and latest event time (unix seconds) of rows acknowledged since
    /// [`Store::take_arrivals`] last ran: what derived tables must recompute.
    arrivals: Mutex<Option<(i64, i64)>>,
    /// Held open for the store's lifetime: an exclusive lock on `<data>/_wal/LOCK`, so a
    /// second server cannot write the same WAL and checkpoint.
    _lock: std::fs::File,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What a table looks like at one instant: buffered rows plus committed files.
#[derive(Debug, Clone, Default)]
pub struct TableSnapshot {
    pub batches: Vec<RecordBatch>,
    pub files: Vec<DataFile>,
}

/// Anything that can present tables as a snapshot: the live store or a read-only view.
pub trait TableSource: Send + Sync + std::fmt::Debug {
    fn snapshot(&self, table: Table) -> std::io::Result<TableSnapshot>;
}

/// An append staged in the current WAL group: its rows, their size, and whom to answer.
struct Pending {
    batches: Vec<(Table, RecordBatch)>,
    bytes: usize,
    ack: oneshot::Sender<Result<(), StoreError>>,
}

enum Command {
    Append {
        signal: Signal,
        payload: bytes::Bytes,
        batches: Vec<(Table, RecordBatch)>,
        bytes: usize,
        ack: oneshot::Sender<Result<(), StoreError>>,
    },
    Rotate {
        reply: oneshot::Sender<Result<Option<u64>, StoreError>>,
    },
}

/// The live store, shared by receivers, queries and the flusher.
#[derive(Debug, Clone)]
pub struct Store {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Append { signal, bytes, .. } => write!(f, "Append({signal:?}, {bytes} bytes)"),
            Command::Rotate { .. } => write!(f, "Rotate"),
        }
    }
}

impl Store {
    /// Opens (creating if needed) the store in `dir`: cleans up an interrupted flush,
    /// replays the WAL past the checkpoint and starts the WAL thread. The flusher is
    /// started separately with [`Store::run_flusher`].
    /// [`Store::open`], waiting up to `wait` while the directory is locked: a store closed
    /// in this process (a server that just stopped) lets go of the lock only when its WAL
    /// thread ends, after its last handle is dropped.
    pub async fn open_when_free(
        dir: &Path,
        config: StoreConfig,
        decode: &Decoder,
        wait: std::time::Duration,
    ) -> Result<Store, StoreError> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            match Store::open(dir, config.clone(), decode) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    pub fn open(dir: &Path, config: StoreConfig, decode: &Decoder) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: dir.to_owned(),
            source,
        };
        let wal_dir = wal::wal_dir(dir);
        std::fs::create_dir_all(&wal_dir).map_err(open_err)?;
        let lock = lock_data_dir(dir, &wal_dir)?;
        let checkpoint = checked_checkpoint(dir, &wal_dir, true).map_err(open_err)?;
        remove_uncommitted_files(dir, checkpoint).map_err(open_err)?;
        quarantine_damaged_files(dir).map_err(open_err)?;

        let mut state = State {
            checkpoint,
            ..State::default()
        };
        let (last_seq, replayed) = replay(&wal_dir, checkpoint, decode, &mut state.active)?;
        if replayed > 0 {
            info!(
                records = replayed,
                rows_bytes = state.active.bytes,
                checkpoint,
                "replayed write-ahead log"
            );
        }
        let writer = wal::WalWriter::open(&wal_dir, last_seq.max(checkpoint) + 1, config.wal_fsync)
            .map_err(open_err)?;

        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            config,
            state: Mutex::new(state),
            in_flight: AtomicUsize::new(0),
            arrivals: Mutex::new(None),
            _lock: lock,
        });
        let (commands, receiver) = mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("vigil-wal".into())
            .spawn(move || wal_thread(thread_shared, writer, receiver))
            .map_err(open_err)?;
        Ok(Store { shared, commands })
    }

    /// The most rows (in bytes) one append may bring: half the buffer, so a single
    /// request can always be taken once the buffer has been flushed.
    /// Also at most 1 GiB, so no Arrow string column can reach its 2 GiB offset limit.
    pub fn max_request_row_bytes(&self) -> usize {
        (self.shared.config.max_buffer_bytes / 2).min(1 << 30)
    }

    /// Refuses appends early, before a request is decoded, while the buffer is full.
    pub fn check_capacity(&self) -> Result<(), StoreError> {
        let buffered = self.buffered_bytes();
        if buffered >= self.shared.config.max_buffer_bytes {
            return Err(self.overloaded(buffered));
        }
        Ok(())
    }

    fn overloaded(&self, buffered: usize) -> StoreError {
        let limit = self.shared.config.max_buffer_bytes;
        if OVERLOAD_LOG.allow() {
            warn!(
                buffered,
                limit,
                refused_since_last_log = OVERLOAD_LOG.take_suppressed(),
                "ingest buffer full: refusing exports with 503 / UNAVAILABLE until a flush frees memory"
            );
        }
        StoreError::Overloaded { buffered, limit }
    }

    /// Bytes buffered, being flushed, or accepted and on their way into the buffer.
    pub fn buffered_bytes(&self) -> usize {
        let state = self.shared.lock();
        state.active.bytes
            + state.flushing.as_ref().map_or(0, |f| f.1.bytes)
            + self.shared.in_flight.load(Ordering::Relaxed)
    }

    /// The span of event times (unix seconds) of rows acknowledged since the last call.
    pub fn take_arrivals(&self) -> Option<(i64, i64)> {
        self.shared
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Makes rows Vigil derived durable and visible in `table`, like an export.
    pub async fn append_derived(&self, table: Table, rows: RecordBatch) -> Result<(), StoreError> {
        if rows.num_rows() == 0 {
            return Ok(());
        }
        let payload = derived::encode(table, &rows).map_err(|e| StoreError::Encode {
            table,
            message: e.to_string(),
        })?;
        self.append(Signal::Derived, payload.into(), vec![(table, rows)])
            .await
    }

    /// Makes an export durable and visible. `payload` is the request as protobuf, written
    /// to the WAL; `batches` are its rows. Returns once the WAL write is fsynced.
    pub async fn append(
        &self,
        signal: Signal,
        payload: bytes::Bytes,
        batches: Vec<(Table, RecordBatch)>,
    ) -> Result<(), StoreError> {
        if batches.is_empty() {
            return Ok(());
        }
        let bytes: usize = batches.iter().map(|(_, b)| b.get_array_memory_size()).sum();
        let limit = self.shared.config.max_buffer_bytes;
        // Reserve first, then check: concurrent appends cannot all pass the same check.
        self.shared.in_flight.fetch_add(bytes, Ordering::Relaxed);
        let buffered = self.buffered_bytes();
        if buffered > limit {
            self.shared.in_flight.fetch_sub(bytes, Ordering::Relaxed);
            return Err(self.overloaded(buffered - bytes));
        }
        let span = event_time_span(&batches);
        let (ack, done) = oneshot::channel();
        if self
            .commands
            .send(Command::Append {
                signal,
                payload,
                batches,
                bytes,
                ack,
            })
            .is_err()
        {
            self.shared.in_flight.fetch_sub(bytes, Ordering::Relaxed);
            return Err(StoreError::Closed);
        }
        let result = done.await.unwrap_or(Err(StoreError::Closed));
        if result.is_ok()
            && let Some((first, last)) = span
        {
            let mut arrivals = self
                .shared
                .arrivals
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *arrivals = Some(match *arrivals {
                Some((a, b)) => (a.min(first), b.max(last)),
                None => (first, last),
            });
        }
        result
    }

    /// Writes everything buffered to Parquet now. Returns the checkpoint reached, or
    /// `None` when there was nothing to write.
    pub async fn flush(&self) -> Result<Option<u64>, FlushFailure> {
        // Finish a flush that failed earlier before starting a new one.
        if self.shared.lock().flushing.is_some() {
            self.write_flushing().await?;
        }
        let (reply, seq) = oneshot::channel();
        self.commands
            .send(Command::Rotate { reply })
            .map_err(|_| FlushFailure::Closed)?;
        match seq.await.map_err(|_| FlushFailure::Closed)? {
            Ok(Some(_)) => self.write_flushing().await,
            Ok(None) => Ok(None),
            Err(e) => Err(FlushFailure::Wal(e)),
        }
    }

    /// Writes the `flushing` buffer, advances the checkpoint, drops the buffer and the
    /// WAL segments it covered.
    async fn write_flushing(&self) -> Result<Option<u64>, FlushFailure> {
        let started = Instant::now();
        let (seq, tables) = {
            let state = self.shared.lock();
            let Some((seq, buffers)) = &state.flushing else {
                return Ok(None);
            };
            (*seq, buffers.tables.clone())
        };
        let shared = Arc::clone(&self.shared);
        let written = tokio::task::spawn_blocking(move || {
            let mut files = 0;
            let mut rows = 0;
            for table in Table::ALL {
                let batches = &tables[table.index()];
                rows += batches.iter().map(RecordBatch::num_rows).sum::<usize>();
                files += flush::write_table(
                    &shared.dir,
                    table,
                    batches,
                    seq,
                    shared.config.row_group_rows,
                )?
                .len();
            }
            let wal_dir = wal::wal_dir(&shared.dir);
            wal::write_checkpoint(&wal_dir, seq).map_err(|source| flush::FlushError::Io {
                path: wal_dir,
                source,
            })?;
            Ok::<_, flush::FlushError>((files, rows))
        })
        .await
        .map_err(|e| FlushFailure::Task(e.to_string()))?;
        let (files, rows) = written.map_err(FlushFailure::Write)?;

        let bytes = {
            let mut state = self.shared.lock();
            state.checkpoint = seq;
            state.flushing.take().map_or(0, |f| f.1.bytes)
        };
        delete_segments_through(&wal::wal_dir(&self.shared.dir), seq);
        crate::metrics::FLUSHES.record(started.elapsed());
        crate::metrics::FLUSHED_ROWS.add(rows as u64);
        info!(
            seq,
            rows,
            files,
            bytes,
            ms = started.elapsed().as_millis() as u64,
            "flushed buffer to Parquet"
        );
        Ok(Some(seq))
    }

    /// Deletes the committed rows of derived `table` from the hour of `from_nanos` on,
    /// after flushing, so they can be recomputed. The caller must be the only writer of
    /// that table meanwhile (rows it appends concurrently may be lost). Returns the number
    /// of files removed.
    pub async fn truncate_derived(
        &self,
        table: Table,
        from_nanos: i64,
    ) -> Result<usize, TruncateError> {
        if !table.is_derived() {
            return Err(TruncateError::Telemetry(table));
        }
        self.flush().await?;
        let from_hour = layout::hour_of(from_nanos);
        let (files, _) = layout::scan_table(&self.shared.dir, table).map_err(TruncateError::Io)?;
        let mut removed = 0;
        for file in files
            .iter()
            .filter(|f| f.hour.is_some_and(|h| h >= from_hour))
        {
            std::fs::remove_file(&file.path).map_err(TruncateError::Io)?;
            removed += 1;
        }
        Ok(removed)
    }

    fn should_flush(&self) -> bool {
        let state = self.shared.lock();
        if state.flushing.is_some() {
            return true;
        }
        let active = &state.active;
        !active.is_empty()
            && (active.bytes >= self.shared.config.flush_threshold()
                || active
                    .since
                    .is_some_and(|t| t.elapsed() >= self.shared.config.flush_interval))
    }

    /// Flushes whenever the buffer passes its size or age threshold, until `stop` fires;
    /// then flushes what is left.
    pub async fn run_flusher(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failures = 0u32;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            if !self.should_flush() {
                continue;
            }
            match self.flush().await {
                Ok(_) => failures = 0,
                Err(e) => {
                    failures += 1;
                    error!(error = %e, failures, "flush failed; rows stay buffered and in the WAL, will retry");
                    // Back off so a full disk is not hammered.
                    tokio::time::sleep(Duration::from_secs(u64::from(failures.min(5)))).await;
                }
            }
        }
        match self.flush().await {
            Ok(Some(seq)) => info!(checkpoint = seq, "final flush done"),
            Ok(None) => info!("final flush: nothing buffered"),
            Err(e) => {
                error!(error = %e, "final flush failed; rows remain in the WAL and will be replayed")
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TruncateError {
    #[error("{0} holds telemetry, which Vigil never deletes to recompute")]
    Telemetry(Table),
    #[error("cannot flush before truncating: {0}")]
    Flush(#[from] FlushFailure),
    #[error("cannot remove derived rows: {0}")]
    Io(std::io::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum FlushFailure {
    #[error(transparent)]
    Write(#[from] flush::FlushError),
    #[error("WAL rotation failed: {0}")]
    Wal(StoreError),
    #[error("flush task failed: {0}")]
    Task(String),
    #[error("the store is shutting down")]
    Closed,
}

impl TableSource for Store {
    fn snapshot(&self, table: Table) -> std::io::Result<TableSnapshot> {
        let (mut batches, checkpoint) = {
            let state = self.shared.lock();
            let mut batches = Vec::new();
            if let Some((_, flushing)) = &state.flushing {
                batches.extend(flushing.tables[table.index()].iter().cloned());
            }
            batches.extend(state.active.tables[table.index()].iter().cloned());
            (batches, state.checkpoint)
        };
        let (mut files, _) = layout::scan_table(&self.shared.dir, table)?;
        files.retain(|f| f.seq <= checkpoint);
        batches.retain(|b| b.num_rows() > 0);
        Ok(TableSnapshot { batches, files })
    }
}

fn wal_thread(shared: Arc<Shared>, mut writer: wal::WalWriter, commands: mpsc::Receiver<Command>) {
    const MAX_GROUP: usize = 4096;
    let mut group: Vec<Pending> = Vec::new();
    while let Ok(first) = commands.recv() {
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Append {
                    signal,
                    payload,
                    batches,
                    bytes,
                    ack,
                } => {
                    writer.append(signal, &payload);
                    group.push(Pending {
                        batches,
                        bytes,
                        ack,
                    });
                }
                Command::Rotate { reply } => {
                    commit_group(&shared, &mut writer, &mut group);
                    let _ = reply.send(rotate(&shared, &mut writer));
                }
            }
            if group.len() < MAX_GROUP {
                next = commands.try_recv().ok();
            }
        }
        commit_group(&shared, &mut writer, &mut group);
    }
    debug!("WAL thread stopped");
}

/// Makes the staged group durable, moves its rows into the buffer and acknowledges it.
fn commit_group(shared: &Shared, writer: &mut wal::WalWriter, group: &mut Vec<Pending>) {
    if group.is_empty() {
        return;
    }
    let result = writer.commit();
    let total: usize = group.iter().map(|g| g.bytes).sum();
    match result {
        Ok(()) => {
            {
                let mut state = shared.lock();
                for pending in group.iter_mut() {
                    state
                        .active
                        .extend(std::mem::take(&mut pending.batches), pending.bytes);
                }
            }
            shared.in_flight.fetch_sub(total, Ordering::Relaxed);
            for pending in group.drain(..) {
                let _ = pending.ack.send(Ok(()));
            }
        }
        Err(e) => {
            error!(error = %e, requests = group.len(), "WAL write failed; requests answered with an error");
            shared.in_flight.fetch_sub(total, Ordering::Relaxed);
            for pending in group.drain(..) {
                let _ = pending.ack.send(Err(StoreError::Wal(std::io::Error::new(
                    e.kind(),
                    e.to_string(),
                ))));
            }
        }
    }
}

/// Closes the WAL segment and moves the active buffer to `flushing`. `None` when there is
/// nothing to flush.
fn rotate(shared: &Shared, writer: &mut wal::WalWriter) -> Result<Option<u64>, StoreError> {
    {
        let state = shared.lock();
        if state.active.is_empty() || state.flushing.is_some() {
            return Ok(None);
        }
    }
    // Disk work outside the lock; only this thread adds to `active`, so it still holds
    // exactly the records up to `seq` when taken below.
    writer.rotate().map_err(StoreError::Wal)?;
    let seq = writer.last_seq();
    let mut state = shared.lock();
    let active = std::mem::take(&mut state.active);
    state.flushing = Some((seq, active));
    Ok(Some(seq))
}

/// Takes the data directory's exclusive lock, or says who holds it.
fn lock_data_dir(dir: &Path, wal_dir: &Path) -> Result<std::fs::File, StoreError> {
    let path = wal_dir.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: dir.to_owned(),
            lock: path,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Open { path, source }),
    }
}

/// The checkpoint, reconciled with the files and the WAL (see [`recovery`]). The live
/// store (`repair`) writes a corrected checkpoint back; readers only use it.
fn checked_checkpoint(dir: &Path, wal_dir: &Path, repair: bool) -> std::io::Result<u64> {
    let checkpoint = wal::read_checkpoint(wal_dir)?;
    let mut file_seqs = std::collections::BTreeSet::new();
    for table in Table::ALL {
        file_seqs.extend(layout::scan_table(dir, table)?.0.iter().map(|f| f.seq));
    }
    let mut range: Option<(u64, u64)> = None;
    for (_, path) in wal::list_segments(wal_dir)? {
        wal::read_segment(&path, |entry| {
            range = Some(range.map_or((entry.seq, entry.seq), |(lo, hi)| {
                (lo.min(entry.seq), hi.max(entry.seq))
            }));
        })?;
    }
    let (reconciled, reason) = recovery::reconcile(&recovery::Evidence {
        checkpoint,
        file_seqs,
        wal: range,
    });
    if let Some(reason) = reason {
        if repair {
            warn!(recorded = checkpoint, using = reconciled, "{reason}");
            wal::write_checkpoint(wal_dir, reconciled)?;
        } else {
            // A flush racing this read looks the same for an instant; the caller re-reads.
            debug!(
                recorded = checkpoint,
                using = reconciled,
                "{reason} (read-only: not written back)"
            );
        }
    }
    Ok(reconciled)
}

/// Moves Parquet files that cannot be read (no Parquet magic at both ends, as after a
/// truncation or a stray copy) to `<data>/_quarantine/`, so one damaged file does not make
/// its whole table unqueryable. Their rows are lost to queries and an error says so.
fn quarantine_damaged_files(dir: &Path) -> std::io::Result<()> {
    for table in Table::ALL {
        for file in layout::scan_table(dir, table)?.0 {
            if parquet_looks_whole(&file.path)? {
                continue;
            }
            let relative = file.path.strip_prefix(dir).unwrap_or(&file.path);
            let target = dir.join("_quarantine").join(relative);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::rename(&file.path, &target)?;
            error!(
                path = %file.path.display(),
                moved_to = %target.display(),
                bytes = file.size,
                "Parquet file is damaged (not a complete Parquet file); moved aside, its rows are not queryable"
            );
        }
    }
    Ok(())
}

fn parquet_looks_whole(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len < 12 {
        return Ok(false);
    }
    let mut head = [0u8; 4];
    let mut tail = [0u8; 4];
    file.read_exact(&mut head)?;
    file.seek(SeekFrom::End(-4))?;
    file.read_exact(&mut tail)?;
    Ok(&head == b"PAR1" && &tail == b"PAR1")
}

fn remove_uncommitted_files(dir: &Path, checkpoint: u64) -> std::io::Result<()> {
    for table in Table::ALL {
        let (files, leftovers) = layout::scan_table(dir, table)?;
        for path in leftovers {
            warn!(path = %path.display(), "removing temporary file of an interrupted flush");
            std::fs::remove_file(&path)?;
        }
        for file in files.into_iter().filter(|f| f.seq > checkpoint) {
            warn!(path = %file.path.display(), "removing file of an interrupted flush; its rows are replayed from the WAL");
            std::fs::remove_file(&file.path)?;
        }
    }
    Ok(())
}

/// Reads WAL records past `checkpoint` into `into`; returns the last seq seen and the
/// number of records replayed.
fn replay(
    wal_dir: &Path,
    checkpoint: u64,
    decode: &Decoder,
    into: &mut Buffers,
) -> Result<(u64, usize), StoreError> {
    let open_err = |source| StoreError::Open {
        path: wal_dir.to_owned(),
        source,
    };
    let mut last_seq = 0;
    let mut replayed = 0;
    let mut failure = None;
    for (_, path) in wal::list_segments(wal_dir).map_err(open_err)? {
        wal::read_segment(&path, |entry| {
            last_seq = last_seq.max(entry.seq);
            if entry.seq <= checkpoint || failure.is_some() {
                return;
            }
            let rows = match entry.signal {
                Signal::Derived => derived::decode(entry.payload),
                signal => decode(signal, entry.payload),
            };
            match rows {
                Ok(batches) => {
                    replayed += 1;
                    let bytes = batches.iter().map(|(_, b)| b.get_array_memory_size()).sum();
                    into.extend(batches, bytes);
                }
                Err(message) => {
                    failure = Some(StoreError::Replay {
                        seq: entry.seq,
                        message,
                    })
                }
            }
        })
        .map_err(open_err)?;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok((last_seq, replayed)),
    }
}

fn delete_segments_through(wal_dir: &Path, seq: u64) {
    let segments = match wal::list_segments(wal_dir) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot list WAL segments to delete");
            return;
        }
    };
    for (first_seq, path) in segments {
        // Segments starting at or below `seq` hold only records ≤ seq: the writer rotated
        // right after `seq`, so the live segment starts at seq + 1.
        if first_seq <= seq
            && let Err(e) = std::fs::remove_file(&path)
        {
            warn!(error = %e, path = %path.display(), "cannot delete flushed WAL segment");
        }
    }
}

/// A consistent read-only view of a data directory, for `vigil sql` whether or not a
/// server is running on it: committed files plus the WAL past the checkpoint.
#[derive(Debug)]
pub struct ReadOnlyStore {
    dir: PathBuf,
    checkpoint: u64,
    buffers: Buffers,
}

impl ReadOnlyStore {
    pub fn open(dir: &Path, decode: &Decoder) -> Result<ReadOnlyStore, StoreError> {
        let open_err = |source| StoreError::Open {
            path: dir.to_owned(),
            source,
        };
        if !dir.is_dir() {
            return Err(open_err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such data directory",
            )));
        }
        let wal_dir = wal::wal_dir(dir);
        // A server may flush while we read: the checkpoint moving or a segment vanishing
        // means the view is torn, so read again.
        for attempt in 0.. {
            let recorded = wal::read_checkpoint(&wal_dir).map_err(open_err)?;
            let mut buffers = Buffers::default();
            // A segment vanishing mid-read (a flush just finished) shows up as NotFound from
            // either step: read again.
            let result = checked_checkpoint(dir, &wal_dir, false)
                .map_err(open_err)
                .and_then(|checkpoint| {
                    replay(&wal_dir, checkpoint, decode, &mut buffers).map(|_| checkpoint)
                });
            let after = wal::read_checkpoint(&wal_dir).map_err(open_err)?;
            match result {
                Ok(checkpoint) if after == recorded => {
                    return Ok(ReadOnlyStore {
                        dir: dir.to_owned(),
                        checkpoint,
                        buffers,
                    });
                }
                Err(StoreError::Open { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && attempt < 20 => {}
                Ok(_) if attempt < 20 => {}
                Ok(_) => {
                    return Err(open_err(std::io::Error::other(
                        "data directory keeps changing while being read",
                    )));
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns")
    }
}

impl TableSource for ReadOnlyStore {
    fn snapshot(&self, table: Table) -> std::io::Result<TableSnapshot> {
        let (mut files, _) = layout::scan_table(&self.dir, table)?;
        files.retain(|f| f.seq <= self.checkpoint);
        Ok(TableSnapshot {
            batches: self.buffers.tables[table.index()].clone(),
            files,
        })
    }
}

/// Earliest and latest event time (unix seconds) among `batches`' time columns.
fn event_time_span(batches: &[(Table, RecordBatch)]) -> Option<(i64, i64)> {
    use arrow::array::AsArray;
    let mut span: Option<(i64, i64)> = None;
    for (table, batch) in batches.iter().filter(|(t, _)| !t.is_derived()) {
        let Some(column) = batch.column_by_name(table.time_column()) else {
            continue;
        };
        let Some(times) = column.as_primitive_opt::<arrow::datatypes::TimestampNanosecondType>()
        else {
            continue;
        };
        if let (Some(min), Some(max)) = (arrow::compute::min(times), arrow::compute::max(times)) {
            let (min, max) = (min.div_euclid(1_000_000_000), max.div_euclid(1_000_000_000));
            span = Some(match span {
                Some((a, b)) => (a.min(min), b.max(max)),
                None => (min, max),
            });
        }
    }
    span
}
