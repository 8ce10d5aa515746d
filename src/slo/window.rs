//! OpenSLO durations and SLO time windows.
//!
//! Owns the parsing of duration strings (`5m`, `1h`, `30d`, `4w`, `1M`, `1Q`, `1Y`) and the
//! mapping from an evaluation instant to the SLO period that contains it: a rolling window
//! ending at that instant, or the calendar period (day, week, month, quarter, year) in the
//! spec's time zone. Guarantees: no panics on any input; calendar periods are contiguous and
//! non-overlapping (each period's end is the next one's start); local start times that fall
//! into a daylight-saving gap move forward to the first valid local minute, and ambiguous ones
//! (the repeated hour in autumn) take the earlier instant. A start day past the end of a short
//! month is clamped to its last day (a calendar that starts on the 31st starts on Feb 28/29).

use std::fmt;

use chrono::{DateTime, Months, NaiveDateTime, TimeDelta, TimeZone};
use chrono_tz::Tz;

pub(crate) const MINUTE: i64 = 60;
pub(crate) const HOUR: i64 = 60 * MINUTE;
pub(crate) const DAY: i64 = 24 * HOUR;
pub(crate) const WEEK: i64 = 7 * DAY;

/// The unit of an OpenSLO duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUnit {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

/// An OpenSLO duration: a positive count and a unit, such as `30d` or `1M`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecDuration {
    pub count: u32,
    pub unit: DurationUnit,
}

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error(
        "'{0}' is not a duration: expected a positive whole number and a unit \
         (m, h, d, w, M, Q, Y), such as 30d"
    )]
    Malformed(String),
    #[error("'{0}': the count must be at least 1")]
    Zero(String),
}

impl SpecDuration {
    /// Parses `<count><unit>`; units are `m` minute, `h` hour, `d` day, `w` week, `M` month,
    /// `Q` quarter and `Y` year (case matters: `m` is minutes, `M` months).
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(DurationError::Empty);
        }
        let malformed = || DurationError::Malformed(text.to_owned());
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(malformed)?;
        let (digits, unit) = text.split_at(split);
        let count: u32 = digits.parse().map_err(|_| malformed())?;
        let unit = match unit {
            "m" => DurationUnit::Minute,
            "h" => DurationUnit::Hour,
            "d" => DurationUnit::Day,
            "w" => DurationUnit::Week,
            "M" => DurationUnit::Month,
            "Q" => DurationUnit::Quarter,
            "Y" => DurationUnit::Year,
            _ => return Err(malformed()),
        };
        if count == 0 {
            return Err(DurationError::Zero(text.to_owned()));
        }
        Ok(Self { count, unit })
    }

    /// Length in seconds for fixed units (m, h, d, w); `None` for M, Q and Y, whose length
    /// depends on the calendar.
    pub fn fixed_secs(&self) -> Option<i64> {
        let unit = match self.unit {
            DurationUnit::Minute => MINUTE,
            DurationUnit::Hour => HOUR,
            DurationUnit::Day => DAY,
            DurationUnit::Week => WEEK,
            DurationUnit::Month | DurationUnit::Quarter | DurationUnit::Year => return None,
        };
        Some(i64::from(self.count) * unit)
    }

    /// The longest this duration can be on a calendar, in seconds: a month counts as 31 days
    /// plus one hour (a daylight-saving change), a year as 366 days plus one hour.
    pub fn max_secs(&self) -> i64 {
        let count = i64::from(self.count);
        match self.unit {
            DurationUnit::Month => count * 31 * DAY + HOUR,
            DurationUnit::Quarter => count * 92 * DAY + HOUR,
            DurationUnit::Year => count * 366 * DAY + HOUR,
            DurationUnit::Day => count * DAY + HOUR,
            DurationUnit::Week => count * WEEK + HOUR,
            DurationUnit::Minute | DurationUnit::Hour => self.fixed_secs().unwrap_or(0),
        }
    }
}

impl fmt::Display for SpecDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.unit {
            DurationUnit::Minute => "m",
            DurationUnit::Hour => "h",
            DurationUnit::Day => "d",
            DurationUnit::Week => "w",
            DurationUnit::Month => "M",
            DurationUnit::Quarter => "Q",
            DurationUnit::Year => "Y",
        };
        write!(f, "{}{unit}", self.count)
    }
}

/// Formats a number of seconds the way SLO windows are written (`5m`, `6h`, `3d`).
pub fn format_secs(secs: i64) -> String {
    if secs != 0 && secs % DAY == 0 {
        format!("{}d", secs / DAY)
    } else if secs != 0 && secs % HOUR == 0 {
        format!("{}h", secs / HOUR)
    } else if secs % MINUTE == 0 {
        format!("{}m", secs / MINUTE)
    } else {
        format!("{secs}s")
    }
}

/// A half-open interval of unix seconds, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: i64,
    pub end: i64,
}

impl Period {
    pub fn len_secs(&self) -> i64 {
        self.end - self.start
    }
}

/// The SLO's compliance window.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeWindow {
    /// The last `secs` seconds, whatever the date.
    Rolling { duration: SpecDuration, secs: i64 },
    /// Calendar-aligned periods in a time zone.
    Calendar(CalendarWindow),
}

impl TimeWindow {
    /// The period an evaluation whose data ends (exclusively) at `end` belongs to. Rolling:
    /// `[end - duration, end)`. Calendar: the whole calendar period containing the last
    /// included second, `end - 1`; the caller counts data only up to `end`.
    pub fn period_ending_at(&self, end: i64) -> Option<Period> {
        match self {
            TimeWindow::Rolling { secs, .. } => Some(Period {
                start: end.checked_sub(*secs)?,
                end,
            }),
            TimeWindow::Calendar(calendar) => calendar.period_containing(end.checked_sub(1)?),
        }
    }

    /// The longest a period of this window can be, in seconds.
    pub fn max_period_secs(&self) -> i64 {
        match self {
            TimeWindow::Rolling { secs, .. } => *secs,
            TimeWindow::Calendar(calendar) => calendar.duration.max_secs(),
        }
    }

    /// The duration as written in the spec.
    pub fn duration(&self) -> SpecDuration {
        match self {
            TimeWindow::Rolling { duration, .. } => *duration,
            TimeWindow::Calendar(calendar) => calendar.duration,
        }
    }
}

/// Calendar periods of `duration` (d, w, M, Q or Y), the first starting at `start` local time
/// in `tz`; periods repeat forwards and backwards from there.
#[derive(Debug, Clone, PartialEq)]
pub struct CalendarWindow {
    pub duration: SpecDuration,
    pub start: NaiveDateTime,
    pub tz: Tz,
}

impl CalendarWindow {
    /// Builds a calendar window; `None` for units that are not calendar units (m, h).
    pub fn new(duration: SpecDuration, start: NaiveDateTime, tz: Tz) -> Option<Self> {
        match duration.unit {
            DurationUnit::Minute | DurationUnit::Hour => None,
            _ => Some(Self {
                duration,
                start,
                tz,
            }),
        }
    }

    /// The calendar period containing the instant `t` (unix seconds). `None` only when the
    /// dates overflow chrono's range.
    pub fn period_containing(&self, t: i64) -> Option<Period> {
        let local_t = DateTime::from_timestamp(t, 0)?
            .with_timezone(&self.tz)
            .naive_local();
        let mut k = self.estimate_index(local_t)?;
        // The estimate is off by at most one either way (DST, clamped month days); walk.
        for _ in 0..8 {
            if self.nth_start(k)? > t {
                k -= 1;
            } else if self.nth_start(k + 1)? <= t {
                k += 1;
            } else {
                return Some(Period {
                    start: self.nth_start(k)?,
                    end: self.nth_start(k + 1)?,
                });
            }
        }
        None
    }

    fn step_months(&self) -> Option<i64> {
        let per = match self.duration.unit {
            DurationUnit::Month => 1,
            DurationUnit::Quarter => 3,
            DurationUnit::Year => 12,
            _ => return None,
        };
        Some(per * i64::from(self.duration.count))
    }

    fn step_days(&self) -> i64 {
        let per = if self.duration.unit == DurationUnit::Week {
            7
        } else {
            1
        };
        per * i64::from(self.duration.count)
    }

    fn estimate_index(&self, local_t: NaiveDateTime) -> Option<i64> {
        use chrono::Datelike;
        match self.step_months() {
            Some(step) => {
                let months = |d: NaiveDateTime| i64::from(d.year()) * 12 + i64::from(d.month0());
                Some((months(local_t) - months(self.start)).div_euclid(step))
            }
            None => {
                let days = (local_t - self.start).num_days();
                Some(days.div_euclid(self.step_days()))
            }
        }
    }

    /// Local start of period `k` (period 0 starts at `start`).
    fn nth_start_local(&self, k: i64) -> Option<NaiveDateTime> {
        match self.step_months() {
            Some(step) => {
                let months = k.checked_mul(step)?;
                let magnitude = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
                if months >= 0 {
                    self.start.checked_add_months(magnitude)
                } else {
                    self.start.checked_sub_months(magnitude)
                }
            }
            None => {
                let days = TimeDelta::try_days(k.checked_mul(self.step_days())?)?;
                self.start.checked_add_signed(days)
            }
        }
    }

    fn nth_start(&self, k: i64) -> Option<i64> {
        resolve_local(&self.tz, self.nth_start_local(k)?)
    }
}

/// The instant of a local wall-clock time: the earlier one when the time occurs twice, the
/// first valid minute after it when it falls into a gap.
pub(crate) fn resolve_local(tz: &Tz, local: NaiveDateTime) -> Option<i64> {
    let mut probe = local;
    for _ in 0..=24 * 60 {
        if let Some(instant) = tz.from_local_datetime(&probe).earliest() {
            return Some(instant.timestamp());
        }
        probe = probe.checked_add_signed(TimeDelta::minutes(1))?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn local(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|date| date.and_hms_opt(h, 0, 0))
            .expect("valid test date")
    }

    fn utc(y: i32, m: u32, d: u32, h: u32) -> i64 {
        local(y, m, d, h).and_utc().timestamp()
    }

    fn calendar(text: &str, start: NaiveDateTime, tz: Tz) -> CalendarWindow {
        let duration = SpecDuration::parse(text).expect("valid duration");
        CalendarWindow::new(duration, start, tz).expect("calendar unit")
    }

    #[test]
    fn durations_parse_every_openslo_unit_and_reject_garbage() {
        assert_eq!(
            SpecDuration::parse("30d").map(|d| d.fixed_secs()),
            Ok(Some(30 * DAY))
        );
        assert_eq!(
            SpecDuration::parse("4w").map(|d| d.fixed_secs()),
            Ok(Some(28 * DAY))
        );
        assert_eq!(
            SpecDuration::parse("5m").map(|d| d.fixed_secs()),
            Ok(Some(300))
        );
        assert_eq!(
            SpecDuration::parse("1h").map(|d| d.fixed_secs()),
            Ok(Some(HOUR))
        );
        assert_eq!(SpecDuration::parse("1M").map(|d| d.fixed_secs()), Ok(None));
        assert_eq!(
            SpecDuration::parse("1M").map(|d| d.unit),
            Ok(DurationUnit::Month)
        );
        assert!(matches!(
            SpecDuration::parse("0d"),
            Err(DurationError::Zero(_))
        ));
        assert!(matches!(
            SpecDuration::parse("d"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            SpecDuration::parse("30"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            SpecDuration::parse("1.5h"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            SpecDuration::parse("30 days"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(SpecDuration::parse(""), Err(DurationError::Empty)));
        assert!(matches!(
            SpecDuration::parse("99999999999d"),
            Err(DurationError::Malformed(_))
        ));
    }

    #[test]
    fn rolling_window_ends_at_the_evaluation_instant() {
        let window = TimeWindow::Rolling {
            duration: SpecDuration::parse("30d").expect("valid"),
            secs: 30 * DAY,
        };
        let end = utc(2024, 3, 31, 0);
        assert_eq!(
            window.period_ending_at(end),
            Some(Period {
                start: end - 30 * DAY,
                end
            })
        );
    }

    #[test]
    fn berlin_month_starts_at_local_midnight_across_a_month_boundary() {
        let cal = calendar("1M", local(2024, 1, 1, 0), chrono_tz::Europe::Berlin);
        // 2024-01-31 23:30 UTC is already 2024-02-01 00:30 in Berlin (CET, UTC+1).
        let period = cal
            .period_containing(utc(2024, 1, 31, 23) + 30 * 60)
            .expect("in range");
        assert_eq!(period.start, utc(2024, 1, 31, 23)); // Feb 1 00:00 CET
        assert_eq!(period.end, utc(2024, 2, 29, 23)); // Mar 1 00:00 CET
        assert_eq!(period.len_secs(), 29 * DAY); // leap February
        // One hour earlier (22:30 UTC = 23:30 CET on Jan 31) is still January.
        let january = cal
            .period_containing(utc(2024, 1, 31, 22) + 30 * 60)
            .expect("in range");
        assert_eq!(january.start, utc(2023, 12, 31, 23));
        assert_eq!(january.end, period.start);
    }

    #[test]
    fn berlin_march_is_one_hour_short_and_october_one_hour_long() {
        let cal = calendar("1M", local(2024, 1, 1, 0), chrono_tz::Europe::Berlin);
        // March 2024: starts CET (UTC+1), ends CEST (UTC+2) after the 31 March change.
        let march = cal
            .period_containing(utc(2024, 3, 15, 12))
            .expect("in range");
        assert_eq!(march.start, utc(2024, 2, 29, 23));
        assert_eq!(march.end, utc(2024, 3, 31, 22));
        assert_eq!(march.len_secs(), 31 * DAY - HOUR);
        let october = cal
            .period_containing(utc(2024, 10, 15, 12))
            .expect("in range");
        assert_eq!(october.start, utc(2024, 9, 30, 22));
        assert_eq!(october.end, utc(2024, 10, 31, 23));
        assert_eq!(october.len_secs(), 31 * DAY + HOUR);
    }

    #[test]
    fn calendar_week_in_new_york_spans_the_spring_forward() {
        // Weeks starting Monday 00:00 local; 2024-03-10 is the US spring-forward Sunday.
        let cal = calendar("1w", local(2024, 1, 1, 0), chrono_tz::America::New_York);
        let week = cal
            .period_containing(utc(2024, 3, 7, 12))
            .expect("in range");
        assert_eq!(week.start, utc(2024, 3, 4, 5)); // Mon 00:00 EST = 05:00 UTC
        assert_eq!(week.end, utc(2024, 3, 11, 4)); // Mon 00:00 EDT = 04:00 UTC
        assert_eq!(week.len_secs(), WEEK - HOUR);
    }

    #[test]
    fn a_start_inside_the_dst_gap_moves_to_the_first_valid_minute() {
        // 02:30 on 2024-03-31 does not exist in Berlin; 03:00 CEST (01:00 UTC) does.
        let tz = chrono_tz::Europe::Berlin;
        let gap = local(2024, 3, 31, 2) + TimeDelta::minutes(30);
        assert_eq!(resolve_local(&tz, gap), Some(utc(2024, 3, 31, 1)));
        // 02:30 on 2024-10-27 happens twice; the earlier (CEST, 00:30 UTC) wins.
        let twice = local(2024, 10, 27, 2) + TimeDelta::minutes(30);
        assert_eq!(
            resolve_local(&tz, twice),
            Some(utc(2024, 10, 27, 0) + 30 * 60)
        );
    }

    #[test]
    fn calendar_periods_before_the_start_time_repeat_backwards() {
        let cal = calendar("1M", local(2024, 6, 1, 0), chrono_tz::UTC);
        let period = cal
            .period_containing(utc(2023, 12, 25, 0))
            .expect("in range");
        assert_eq!(period.start, utc(2023, 12, 1, 0));
        assert_eq!(period.end, utc(2024, 1, 1, 0));
    }

    #[test]
    fn a_start_on_the_31st_clamps_to_short_months() {
        let cal = calendar("1M", local(2024, 1, 31, 0), chrono_tz::UTC);
        let period = cal.period_containing(utc(2024, 3, 1, 0)).expect("in range");
        assert_eq!(period.start, utc(2024, 2, 29, 0));
        assert_eq!(period.end, utc(2024, 3, 31, 0));
    }

    #[test]
    fn quarters_and_years_are_calendar_units() {
        let quarter = calendar("1Q", local(2024, 1, 1, 0), chrono_tz::UTC);
        let q2 = quarter
            .period_containing(utc(2024, 5, 5, 0))
            .expect("in range");
        assert_eq!((q2.start, q2.end), (utc(2024, 4, 1, 0), utc(2024, 7, 1, 0)));
        let year = calendar("1Y", local(2024, 1, 1, 0), chrono_tz::UTC);
        let y = year
            .period_containing(utc(2025, 5, 5, 0))
            .expect("in range");
        assert_eq!((y.start, y.end), (utc(2025, 1, 1, 0), utc(2026, 1, 1, 0)));
        assert!(
            CalendarWindow::new(
                SpecDuration::parse("1h").expect("ok"),
                local(2024, 1, 1, 0),
                chrono_tz::UTC
            )
            .is_none()
        );
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        let cal = calendar("1M", local(2024, 1, 1, 0), chrono_tz::Europe::Berlin);
        assert_eq!(cal.period_containing(i64::MAX), None);
        let _ = cal.period_containing(i64::MIN);
        let window = TimeWindow::Rolling {
            duration: SpecDuration::parse("30d").expect("ok"),
            secs: 30 * DAY,
        };
        assert_eq!(window.period_ending_at(i64::MIN), None);
    }

    #[test]
    fn seconds_format_as_the_largest_whole_unit() {
        assert_eq!(format_secs(300), "5m");
        assert_eq!(format_secs(6 * HOUR), "6h");
        assert_eq!(format_secs(3 * DAY), "3d");
        assert_eq!(format_secs(90 * MINUTE), "90m");
    }
}
