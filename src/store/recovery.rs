//! Start-up checks that the checkpoint agrees with the files and the WAL, and repairs it
//! when it does not, always in the direction that loses nothing.
//!
//! In a healthy directory every Parquet file with a seq above the checkpoint comes from
//! an interrupted flush and its rows are all still in the WAL, and some file carries the
//! checkpoint's own seq. A checkpoint file that was lost, truncated or edited breaks
//! that, and trusting it would either delete committed files (checkpoint too low) or skip
//! WAL records that no file holds (checkpoint too high).

use std::collections::BTreeSet;

/// What the directory holds, as far as recovery cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The checkpoint as read from disk (0 when the file is missing).
    pub checkpoint: u64,
    /// Seq numbers in the names of committed-or-candidate Parquet files, all tables.
    pub file_seqs: BTreeSet<u64>,
    /// Lowest and highest seq of the readable WAL records, if any.
    pub wal: Option<(u64, u64)>,
}

/// The checkpoint to use, and why it differs from the one on disk (if it does).
pub fn reconcile(evidence: &Evidence) -> (u64, Option<String>) {
    let recorded = evidence.checkpoint;
    let mut checkpoint = recorded;
    let newest_file = evidence.file_seqs.last().copied().unwrap_or(0);

    // Too low: a file above the checkpoint whose rows the WAL no longer holds in full is
    // committed data, not an interrupted flush.
    let wal_covers = |from: u64, to: u64| {
        evidence
            .wal
            .is_some_and(|(lo, hi)| lo <= from + 1 && hi >= to)
    };
    if newest_file > checkpoint && !wal_covers(checkpoint, newest_file) {
        let below_wal = evidence
            .wal
            .map_or(newest_file, |(lo, _)| lo.saturating_sub(1));
        checkpoint = checkpoint.max(below_wal.min(newest_file));
        // Files the WAL still cannot rebuild must be kept as committed, too.
        if newest_file > checkpoint && !wal_covers(checkpoint, newest_file) {
            checkpoint = newest_file;
        }
    }
    if checkpoint != recorded {
        return (
            checkpoint,
            Some(format!(
                "checkpoint {recorded} is behind the Parquet files (newest seq {newest_file}) and the WAL \
                 does not hold their rows; using {checkpoint} so committed files are kept"
            )),
        );
    }

    // Too high: no file carries the checkpoint's seq, yet the WAL holds records at or
    // below it that would be skipped.
    if checkpoint > newest_file && evidence.wal.is_some_and(|(lo, _)| lo <= checkpoint) {
        let lowered = newest_file.max(evidence.wal.map_or(0, |(lo, _)| lo.saturating_sub(1)));
        if lowered < checkpoint {
            return (
                lowered,
                Some(format!(
                    "checkpoint {recorded} is ahead of every Parquet file (newest seq {newest_file}); \
                     using {lowered} so WAL records above it are replayed"
                )),
            );
        }
    }
    (checkpoint, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(checkpoint: u64, files: &[u64], wal: Option<(u64, u64)>) -> Evidence {
        Evidence {
            checkpoint,
            file_seqs: files.iter().copied().collect(),
            wal,
        }
    }

    #[test]
    fn a_healthy_directory_keeps_its_checkpoint() {
        // Flushes at 10 and 20 committed; records 21..=30 in the WAL.
        assert_eq!(
            reconcile(&evidence(20, &[10, 20], Some((21, 30)))),
            (20, None)
        );
        // Crash after the checkpoint was written but before old segments were deleted.
        assert_eq!(
            reconcile(&evidence(20, &[10, 20], Some((11, 30)))),
            (20, None)
        );
        // Interrupted flush at 30: its rows are all in the WAL, so its files may go.
        assert_eq!(
            reconcile(&evidence(20, &[10, 20, 30], Some((21, 30)))),
            (20, None)
        );
        assert_eq!(reconcile(&evidence(0, &[], None)), (0, None));
    }

    #[test]
    fn a_lost_checkpoint_is_raised_to_keep_committed_files() {
        // Checkpoint file deleted (reads as 0); WAL segments before 21 are gone.
        let (c, why) = reconcile(&evidence(0, &[10, 20], Some((21, 30))));
        assert_eq!(c, 20);
        assert!(why.unwrap().contains("behind"));
        // … and with an interrupted flush at 30 on top, that one is still replayable.
        assert_eq!(reconcile(&evidence(0, &[10, 20, 30], Some((21, 30)))).0, 20);
        // No WAL at all: every file is committed.
        assert_eq!(reconcile(&evidence(2, &[10, 20], None)).0, 20);
        // The WAL stops short of the newest file: keep it.
        assert_eq!(reconcile(&evidence(0, &[10, 20, 40], Some((21, 30)))).0, 40);
    }

    #[test]
    fn a_checkpoint_ahead_of_every_file_is_lowered_so_the_wal_replays() {
        let (c, why) = reconcile(&evidence(999, &[10, 20], Some((21, 30))));
        assert_eq!(c, 20);
        assert!(why.unwrap().contains("ahead"));
        // Files deleted by hand with the WAL already past them: nothing to replay, keep it.
        assert_eq!(reconcile(&evidence(20, &[], Some((21, 30)))), (20, None));
    }
}
