//! Simulated time: minute arithmetic, RFC 3339 formatting and the fleet's daily and
//! weekly rhythm.
//!
//! All simulated times are Unix seconds (`i64`); record timestamps are Unix nanoseconds.
//! The rhythm is defined in the fleet's local time, a fixed UTC offset (no daylight
//! saving), so a run is reproducible whatever the machine's time zone.

use chrono::{DateTime, SecondsFormat};

pub(crate) const MINUTE: i64 = 60;
pub(crate) const HOUR: i64 = 3_600;
pub(crate) const DAY: i64 = 86_400;

/// The start of the minute `t` falls in.
pub(crate) fn floor_minute(t: i64) -> i64 {
    t.div_euclid(MINUTE) * MINUTE
}

/// Unix nanoseconds of `t` seconds plus `offset_ms` milliseconds (0 before 1970).
pub(crate) fn nanos(t: i64, offset_ms: f64) -> u64 {
    let ns = t as f64 * 1e9 + offset_ms * 1e6;
    if ns <= 0.0 { 0 } else { ns as u64 }
}

/// RFC 3339 in UTC with seconds, e.g. `2025-03-04T09:30:00Z`.
pub fn rfc3339(t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| t.to_string())
}

/// RFC 3339 in UTC with milliseconds, the form Claude Code's `event.timestamp` has.
pub(crate) fn rfc3339_millis(unix_nanos: u64) -> String {
    let secs = (unix_nanos / 1_000_000_000) as i64;
    let sub = (unix_nanos % 1_000_000_000) as u32;
    DateTime::from_timestamp(secs, sub)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Relative activity by local hour on a weekday (1.0 = the busiest hour). Bots follow
/// the people who give them work: quiet at night, a dip at lunch.
const WEEKDAY: [f64; 24] = [
    0.05, 0.04, 0.03, 0.03, 0.03, 0.05, 0.10, 0.30, 0.70, 0.95, 1.00, 1.00, //
    0.70, 0.90, 1.00, 1.00, 0.95, 0.80, 0.50, 0.30, 0.20, 0.15, 0.10, 0.07,
];

/// Weekend activity relative to the same hour on a weekday.
const WEEKEND_FACTOR: f64 = 0.15;

/// The fleet's local clock and its activity curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rhythm {
    utc_offset_secs: i64,
}

impl Rhythm {
    pub fn new(utc_offset_minutes: i32) -> Rhythm {
        Rhythm {
            utc_offset_secs: i64::from(utc_offset_minutes) * MINUTE,
        }
    }

    /// Hours since local midnight, fractional.
    pub(crate) fn local_hour(&self, t: i64) -> f64 {
        (t + self.utc_offset_secs).rem_euclid(DAY) as f64 / HOUR as f64
    }

    /// Local midnight at or before `t`, as Unix seconds.
    pub(crate) fn local_midnight(&self, t: i64) -> i64 {
        let local = t + self.utc_offset_secs;
        local.div_euclid(DAY) * DAY - self.utc_offset_secs
    }

    /// Monday to Friday in local time.
    pub(crate) fn is_weekday(&self, t: i64) -> bool {
        // 1970-01-01 was a Thursday: with Monday = 0 it is day 3.
        let weekday = ((t + self.utc_offset_secs).div_euclid(DAY) + 3).rem_euclid(7);
        weekday < 5
    }

    /// Activity at `t` between about 0.005 (weekend night) and 1.0 (weekday peak),
    /// interpolated between hours so rates change smoothly.
    pub(crate) fn intensity(&self, t: i64) -> f64 {
        let hour = self.local_hour(t);
        let h = hour.floor() as usize % 24;
        let frac = hour - hour.floor();
        let curve = WEEKDAY[h] * (1.0 - frac) + WEEKDAY[(h + 1) % 24] * frac;
        if self.is_weekday(t) {
            curve
        } else {
            curve * WEEKEND_FACTOR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekdays_follow_the_calendar() {
        // 2025-03-03 was a Monday, 2025-03-08 a Saturday.
        let monday_noon = 1_741_003_200;
        let rhythm = Rhythm::new(0);
        assert!(rhythm.is_weekday(monday_noon));
        assert!(!rhythm.is_weekday(monday_noon + 5 * DAY));
        assert!(rhythm.intensity(monday_noon + 5 * DAY) < rhythm.intensity(monday_noon));
    }

    #[test]
    fn the_offset_moves_the_local_day() {
        let rhythm = Rhythm::new(-5 * 60);
        // 03:00 UTC is 22:00 the day before at UTC-5.
        let t = 1_741_003_200 - 9 * HOUR;
        assert!((rhythm.local_hour(t) - 22.0).abs() < 1e-9);
        assert_eq!(rhythm.local_midnight(t), t - 22 * HOUR);
    }

    #[test]
    fn timestamps_format_as_rfc3339_utc() {
        assert_eq!(rfc3339(1_741_003_200), "2025-03-03T12:00:00Z");
        assert_eq!(
            rfc3339_millis(1_741_003_200_123_000_000),
            "2025-03-03T12:00:00.123Z"
        );
    }
}
