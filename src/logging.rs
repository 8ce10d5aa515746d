//! Helpers for logging events that can repeat thousands of times a second (a client
//! retrying bad requests, an overloaded buffer) without flooding the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Allows one log line per second and counts the ones it suppressed in between.
#[derive(Debug)]
pub struct RateLimit {
    last_second: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimit {
    pub const fn new() -> RateLimit {
        RateLimit {
            last_second: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// True when a line may be logged now; otherwise counts a suppressed one.
    pub fn allow(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last_second.load(Ordering::Relaxed);
        if now != last
            && self
                .last_second
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return true;
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Lines suppressed since the last call.
    pub fn take_suppressed(&self) -> u64 {
        self.suppressed.swap(0, Ordering::Relaxed)
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_second_and_the_rest_counted() {
        let limit = RateLimit::new();
        assert!(limit.allow());
        assert!(!limit.allow());
        assert!(!limit.allow());
        assert_eq!(limit.take_suppressed(), 2);
        assert_eq!(limit.take_suppressed(), 0);
    }
}
