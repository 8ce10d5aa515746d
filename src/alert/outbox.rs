//! The outbox: every notification the engine produces, once per sink that should get it,
//! kept on disk until that sink has taken it.
//!
//! ```text
//!  engine ──enqueue (append + fsync)──► outbox.jsonl ──pending_for(sink)──► dispatcher
//!                                          ▲                                   │
//!                                          └──── complete / dead_letter ◄──────┘
//! ```
//!
//! The file is append-only JSON lines: `{"op":"add","id":…,"sink":…,"notification":…}` when a
//! delivery is queued, `{"op":"done","id":…}` when it was delivered (or given up on). Opening
//! the outbox replays the file; what was added and never done is pending again, so a restart
//! retries it. When nothing is pending the file is truncated; when many done records pile up
//! behind a pending one it is rewritten with only the pending deliveries (temporary file,
//! fsync, rename).
//!
//! Invariants:
//! - [`Outbox::enqueue`] returns only after the records are fsynced.
//! - Ids grow strictly, so id order is the order the engine produced notifications in,
//!   and each sink gets its deliveries in that order.
//! - A delivery is at least once: a crash between a send and its `done` record sends it
//!   again after the restart. Receivers (Alertmanager, Grafana via the remembered id) treat
//!   a repeat as an update.
//! - A torn last line (a crash in the middle of an append that was never acknowledged) is
//!   cut off on open; any other unreadable line is an error naming the file and line.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::persist::{self, rfc3339, rfc3339_opt};

const OUTBOX_FILE: &str = "outbox.jsonl";
const DEAD_LETTER_FILE: &str = "dead-letter.jsonl";

/// Rewrite the file once this many `done` records sit in it behind pending deliveries.
const COMPACT_AFTER_DONE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("cannot open outbox directory {path}: {source}")]
    Directory { path: PathBuf, source: io::Error },
    #[error("cannot read outbox {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "outbox {path} line {line} is damaged ({message}); move the file away to start with an empty outbox"
    )]
    Damaged {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cannot write outbox {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationKind {
    /// The alert started firing.
    Firing,
    /// The alert is still firing; Alertmanager needs to hear it again before `endsAt`.
    Resend,
    /// The alert moved up a tier and is sent again with the new `tier` label.
    Escalated,
    /// The alert ended.
    Resolved,
}

/// One message about one alert, as every sink needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub kind: NotificationKind,
    pub fingerprint: String,
    /// The label set as sent: identity labels plus `handler` and `tier`.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// When the alert started firing (`startsAt`).
    #[serde(with = "rfc3339")]
    pub starts_at: DateTime<Utc>,
    /// When the alert ended; set on [`NotificationKind::Resolved`] only. A firing alert's
    /// `endsAt` is stamped by the Alertmanager sink when it sends, so a delivery delayed by an
    /// outage still reaches Alertmanager as firing.
    #[serde(default, with = "rfc3339_opt")]
    pub ends_at: Option<DateTime<Utc>>,
    /// When the engine produced this notification.
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    pub generator_url: Option<String>,
    /// On [`NotificationKind::Escalated`]: the label set sent before (the previous tier),
    /// which Alertmanager must see end, since a different label set is a different alert
    /// there.
    #[serde(default)]
    pub replaces: Option<BTreeMap<String, String>>,
}

/// A notification queued for one sink.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: u64,
    pub sink: String,
    pub notification: Notification,
}

/// A line of the outbox file, as read back.
#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Record {
    Add {
        id: u64,
        sink: String,
        notification: Notification,
    },
    Done {
        id: u64,
    },
}

/// A line of the outbox file, as written.
#[derive(Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum RecordRef<'a> {
    Add {
        id: u64,
        sink: &'a str,
        notification: &'a Notification,
    },
    Done {
        id: u64,
    },
}

#[derive(Serialize)]
struct DeadLetter<'a> {
    #[serde(with = "rfc3339")]
    time: DateTime<Utc>,
    id: u64,
    sink: &'a str,
    reason: &'a str,
    notification: &'a Notification,
}

#[derive(Debug)]
struct Inner {
    file: File,
    pending: BTreeMap<u64, Delivery>,
    next_id: u64,
    /// `done` records in the file since it was last emptied or rewritten.
    done_in_file: usize,
}

/// The on-disk queue of deliveries; shared by the engine (which adds) and the dispatcher
/// (which completes).
#[derive(Debug)]
pub struct Outbox {
    path: PathBuf,
    dead_letter_path: PathBuf,
    inner: Mutex<Inner>,
    /// Bumped on every enqueue, so sink tasks wake up.
    changed: watch::Sender<u64>,
}

impl Outbox {
    /// Opens (or creates) the outbox in `dir` and replays it.
    pub fn open(dir: &Path) -> Result<Outbox, OutboxError> {
        std::fs::create_dir_all(dir).map_err(|source| OutboxError::Directory {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(OUTBOX_FILE);
        let (pending, next_id, done_in_file, valid_len) = replay(&path)?;

        let write_err = |source| OutboxError::Write {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(write_err)?;
        if file.metadata().map_err(write_err)?.len() > valid_len {
            warn!(path = %path.display(), "outbox ends in a torn record; cutting it off");
            file.set_len(valid_len).map_err(write_err)?;
            file.sync_all().map_err(write_err)?;
        }
        if !pending.is_empty() {
            info!(path = %path.display(), pending = pending.len(), "outbox has undelivered notifications; retrying them");
        }

        Ok(Outbox {
            dead_letter_path: dir.join(DEAD_LETTER_FILE),
            path,
            inner: Mutex::new(Inner {
                file,
                pending,
                next_id,
                done_in_file,
            }),
            changed: watch::Sender::new(0),
        })
    }

    /// Queues one delivery per `(sink, notification)` and returns once they are on disk.
    pub fn enqueue(&self, items: Vec<(String, Notification)>) -> Result<(), OutboxError> {
        if items.is_empty() {
            return Ok(());
        }
        let mut inner = self.lock();
        let first_id = inner.next_id;
        let deliveries: Vec<Delivery> = items
            .into_iter()
            .zip(first_id..)
            .map(|((sink, notification), id)| Delivery {
                id,
                sink,
                notification,
            })
            .collect();
        let mut lines = Vec::new();
        for d in &deliveries {
            let record = RecordRef::Add {
                id: d.id,
                sink: &d.sink,
                notification: &d.notification,
            };
            self.append_line(&mut lines, &record)?;
        }

        self.write_synced(&mut inner.file, &lines)?;
        inner.next_id = first_id + deliveries.len() as u64;
        for delivery in deliveries {
            inner.pending.insert(delivery.id, delivery);
        }
        drop(inner);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        Ok(())
    }

    /// The deliveries still owed to `sink`, oldest first.
    pub fn pending_for(&self, sink: &str) -> Vec<Delivery> {
        self.lock()
            .pending
            .values()
            .filter(|d| d.sink == sink)
            .cloned()
            .collect()
    }

    /// Every delivery still owed, oldest first.
    pub fn pending(&self) -> Vec<Delivery> {
        self.lock().pending.values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.lock().pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks a delivery as delivered.
    pub fn complete(&self, id: u64) -> Result<(), OutboxError> {
        let mut inner = self.lock();
        if inner.pending.remove(&id).is_none() {
            return Ok(());
        }
        if inner.pending.is_empty() {
            return self.truncate(&mut inner);
        }

        let mut line = Vec::new();
        self.append_line(&mut line, &RecordRef::Done { id })?;
        self.write_synced(&mut inner.file, &line)?;
        inner.done_in_file += 1;
        if inner.done_in_file >= COMPACT_AFTER_DONE {
            self.rewrite(&mut inner)?;
        }
        Ok(())
    }

    /// Gives up on a delivery that can never succeed: it is copied, with `reason`, to
    /// `dead-letter.jsonl` beside the outbox for a person to look at, then completed.
    pub fn dead_letter(&self, id: u64, reason: &str) -> Result<(), OutboxError> {
        let Some(delivery) = self.lock().pending.get(&id).cloned() else {
            return Ok(());
        };
        error!(
            sink = %delivery.sink,
            fingerprint = %delivery.notification.fingerprint,
            kind = ?delivery.notification.kind,
            %reason,
            path = %self.dead_letter_path.display(),
            "giving up on a notification; kept in the dead-letter file"
        );
        let mut line = Vec::new();
        self.append_line(
            &mut line,
            &DeadLetter {
                time: Utc::now(),
                id,
                sink: &delivery.sink,
                reason,
                notification: &delivery.notification,
            },
        )?;
        let write_err = |source| OutboxError::Write {
            path: self.dead_letter_path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.dead_letter_path)
            .map_err(write_err)?;
        file.write_all(&line).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
        self.complete(id)
    }

    /// A receiver that changes whenever deliveries are enqueued.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every mutation writes the file before it touches the map, so a panic elsewhere
        // while the lock was held cannot leave the two disagreeing.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append_line<T: Serialize>(&self, buf: &mut Vec<u8>, record: &T) -> Result<(), OutboxError> {
        serde_json::to_writer(&mut *buf, record).map_err(|e| OutboxError::Write {
            path: self.path.clone(),
            source: io::Error::other(e),
        })?;
        buf.push(b'\n');
        Ok(())
    }

    fn write_synced(&self, file: &mut File, bytes: &[u8]) -> Result<(), OutboxError> {
        file.write_all(bytes)
            .and_then(|()| file.sync_data())
            .map_err(|source| OutboxError::Write {
                path: self.path.clone(),
                source,
            })
    }

    fn truncate(&self, inner: &mut Inner) -> Result<(), OutboxError> {
        inner
            .file
            .set_len(0)
            .and_then(|()| inner.file.sync_all())
            .map_err(|source| OutboxError::Write {
                path: self.path.clone(),
                source,
            })?;
        inner.done_in_file = 0;
        Ok(())
    }

    /// Replaces the file by one holding only the pending deliveries.
    fn rewrite(&self, inner: &mut Inner) -> Result<(), OutboxError> {
        let mut bytes = Vec::new();
        for delivery in inner.pending.values() {
            let record = RecordRef::Add {
                id: delivery.id,
                sink: &delivery.sink,
                notification: &delivery.notification,
            };
            self.append_line(&mut bytes, &record)?;
        }
        let write_err = |source| OutboxError::Write {
            path: self.path.clone(),
            source,
        };
        persist::write_atomically(&self.path, &bytes).map_err(write_err)?;
        inner.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(write_err)?;
        inner.done_in_file = 0;
        Ok(())
    }
}

type Replayed = (BTreeMap<u64, Delivery>, u64, usize, u64);

/// Reads the outbox file: the pending deliveries, the next id, the number of `done`
/// records, and the length of the intact part of the file.
fn replay(path: &Path) -> Result<Replayed, OutboxError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((BTreeMap::new(), 1, 0, 0)),
        Err(source) => {
            return Err(OutboxError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };

    let mut pending = BTreeMap::new();
    let mut next_id = 1;
    let mut done = 0;
    let mut valid_len = 0u64;
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|source| OutboxError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        if read == 0 {
            break;
        }
        number += 1;
        let complete = line.last() == Some(&b'\n');
        match serde_json::from_slice::<Record>(&line) {
            Ok(_) | Err(_) if !complete => break,
            Ok(Record::Add {
                id,
                sink,
                notification,
            }) => {
                next_id = next_id.max(id + 1);
                pending.insert(
                    id,
                    Delivery {
                        id,
                        sink,
                        notification,
                    },
                );
            }
            Ok(Record::Done { id }) => {
                pending.remove(&id);
                done += 1;
            }
            Err(e) => {
                return Err(OutboxError::Damaged {
                    path: path.to_path_buf(),
                    line: number,
                    message: e.to_string(),
                });
            }
        }
        valid_len += read as u64;
    }
    Ok((pending, next_id, done, valid_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(fingerprint: &str) -> Notification {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Notification {
            kind: NotificationKind::Firing,
            fingerprint: fingerprint.into(),
            labels: BTreeMap::from([("alertname".into(), "Burn".into())]),
            annotations: BTreeMap::new(),
            starts_at: t,
            ends_at: None,
            created_at: t,
            generator_url: None,
            replaces: None,
        }
    }

    #[test]
    fn undelivered_items_survive_reopen_and_delivered_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        outbox
            .enqueue(vec![
                ("am".into(), notification("a")),
                ("am".into(), notification("b")),
                ("grafana".into(), notification("a")),
            ])
            .unwrap();
        let first = outbox.pending_for("am")[0].id;
        outbox.complete(first).unwrap();
        drop(outbox);

        let outbox = Outbox::open(dir.path()).unwrap();
        let pending = outbox.pending();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].notification.fingerprint, "b");
        assert_eq!(pending[1].sink, "grafana");

        outbox
            .enqueue(vec![("am".into(), notification("c"))])
            .unwrap();
        let ids: Vec<u64> = outbox.pending().iter().map(|d| d.id).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids keep growing after reopen: {ids:?}"
        );
    }

    #[test]
    fn file_is_emptied_once_everything_is_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        outbox
            .enqueue(vec![("am".into(), notification("a"))])
            .unwrap();
        for d in outbox.pending() {
            outbox.complete(d.id).unwrap();
        }
        assert_eq!(std::fs::metadata(outbox.path()).unwrap().len(), 0);
        assert!(outbox.is_empty());
    }

    #[test]
    fn many_done_records_behind_a_pending_one_are_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        outbox
            .enqueue(vec![("stuck".into(), notification("keep"))])
            .unwrap();
        for _ in 0..COMPACT_AFTER_DONE {
            outbox
                .enqueue(vec![("am".into(), notification("x"))])
                .unwrap();
            let id = outbox.pending_for("am")[0].id;
            outbox.complete(id).unwrap();
        }
        let text = std::fs::read_to_string(outbox.path()).unwrap();
        assert_eq!(text.lines().count(), 1, "only the pending delivery is left");
        drop(outbox);
        let outbox = Outbox::open(dir.path()).unwrap();
        assert_eq!(outbox.pending()[0].notification.fingerprint, "keep");
    }

    #[test]
    fn torn_last_line_is_cut_off_and_damage_elsewhere_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        outbox
            .enqueue(vec![("am".into(), notification("a"))])
            .unwrap();
        let path = outbox.path().to_path_buf();
        drop(outbox);

        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"op":"add","id":2,"si"#).unwrap();
        drop(file);
        let outbox = Outbox::open(dir.path()).unwrap();
        assert_eq!(outbox.len(), 1);
        drop(outbox);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n'), "torn tail removed");

        std::fs::write(&path, format!("garbage\n{text}")).unwrap();
        let err = Outbox::open(dir.path()).unwrap_err();
        assert!(matches!(err, OutboxError::Damaged { line: 1, .. }), "{err}");
    }

    #[test]
    fn dead_lettered_delivery_is_kept_aside_and_no_longer_pending() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        outbox
            .enqueue(vec![("am".into(), notification("a"))])
            .unwrap();
        let id = outbox.pending()[0].id;
        outbox.dead_letter(id, "HTTP 400: bad labels").unwrap();
        assert!(outbox.is_empty());
        let dead = std::fs::read_to_string(dir.path().join(DEAD_LETTER_FILE)).unwrap();
        assert!(dead.contains("HTTP 400: bad labels") && dead.contains("\"fingerprint\":\"a\""));
    }
}
