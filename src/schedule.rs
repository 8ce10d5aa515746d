//! Cron schedules: when a periodic job (the nightly prediction run) is due.
//!
//! The five fields of crontab(5), in UTC: minute (0–59), hour (0–23), day of month
//! (1–31), month (1–12) and day of week (0–7, 0 and 7 both Sunday). Each field is `*`,
//! a number, a range `a-b`, any of those with a step (`*/15`, `8-18/2`), or a comma list
//! of them; days of the week and months may be names (`MON-FRI`, `jan`). As in cron, when
//! both day fields are restricted a day matches either.
//! `@hourly`, `@daily` (= `@midnight`) and `@weekly` are accepted too.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_restricted: bool,
    weekdays_restricted: bool,
}

/// Why a cron expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron schedule {text:?}: {reason}")]
pub struct ScheduleError {
    text: String,
    reason: String,
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Schedule, ScheduleError> {
        let error = |reason: String| ScheduleError {
            text: text.to_string(),
            reason,
        };
        let expanded = match text.trim() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(error(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            )));
        }
        let field = |n: usize, name: &str, lo: u32, hi: u32, names: &[&str]| {
            parse_field(fields[n], lo, hi, names)
                .map_err(|reason| error(format!("{name}: {reason}")))
        };
        let mut weekdays = field(4, "day of week", 0, 7, &WEEKDAYS)?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        Ok(Schedule {
            text: text.trim().to_string(),
            minutes: field(0, "minute", 0, 59, &[])?,
            hours: field(1, "hour", 0, 23, &[])?,
            days: field(2, "day of month", 1, 31, &[])?,
            months: field(3, "month", 1, 12, &MONTHS)?,
            weekdays,
            days_restricted: fields[2] != "*",
            weekdays_restricted: fields[4] != "*",
        })
    }
}

/// Day-of-week names, Sunday first (value 0), as crontab(5) accepts them.
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
/// Month names, January first (value 1).
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// One field as a bit set of the values it allows; `names` spell its values from `lo` on
/// (any case).
fn parse_field(text: &str, lo: u32, hi: u32, names: &[&str]) -> Result<u64, String> {
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .map_err(|_| format!("step {step:?} is not a number"))?;
                if step == 0 {
                    return Err("a step must be at least 1".into());
                }
                (range, step)
            }
            None => (part, 1),
        };
        let number = |s: &str| -> Result<u32, String> {
            let named = names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(s))
                .map(|i| lo + i as u32);
            let value: u32 = match named {
                Some(value) => value,
                None => s
                    .parse()
                    .map_err(|_| format!("{s:?} is not a number or a name"))?,
            };
            if value < lo || value > hi {
                return Err(format!("{value} is outside {lo}-{hi}"));
            }
            Ok(value)
        };
        let (from, to) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (number(a)?, number(b)?);
            if a > b {
                return Err(format!("range {a}-{b} runs backwards"));
            }
            (a, b)
        } else {
            let a = number(range)?;
            // `5/15` means from 5 to the end in steps of 15, as in Vixie cron.
            (a, if step > 1 { hi } else { a })
        };
        let mut value = from;
        while value <= to {
            bits |= 1 << value;
            value += step;
        }
    }
    Ok(bits)
}

impl Schedule {
    fn day_matches(&self, t: &DateTime<Utc>) -> bool {
        let day = self.days & (1 << t.day()) != 0;
        let weekday = self.weekdays & (1 << t.weekday().num_days_from_sunday()) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => day || weekday,
            (true, false) => day,
            (false, true) => weekday,
            (false, false) => true,
        }
    }

    /// The first whole minute strictly after `after` that the schedule allows; `None` when
    /// none comes within five years (`0 0 31 2 *`).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = after.timestamp().div_euclid(60) * 60 + 60;
        let mut t = Utc.timestamp_opt(start, 0).single()?;
        let limit = t + Duration::days(5 * 366);
        while t < limit {
            if self.months & (1 << t.month()) == 0 || !self.day_matches(&t) {
                let next_day = t.date_naive().succ_opt()?.and_hms_opt(0, 0, 0)?;
                t = Utc.from_utc_datetime(&next_day);
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = Utc
                    .with_ymd_and_hms(t.year(), t.month(), t.day(), t.hour(), 0, 0)
                    .single()?
                    + Duration::hours(1);
                continue;
            }
            if self.minutes & (1 << t.minute()) != 0 {
                return Some(t);
            }
            t += Duration::minutes(1);
        }
        None
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn next(schedule: &str, after: &str) -> String {
        let schedule: Schedule = schedule.parse().unwrap();
        schedule
            .next_after(at(after))
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    #[test]
    fn nightly_runs_at_three_the_next_day_once_past() {
        assert_eq!(
            next("0 3 * * *", "2026-12-05T02:59:30Z"),
            "2026-12-05T03:00:00Z"
        );
        assert_eq!(
            next("0 3 * * *", "2026-12-05T03:00:00Z"),
            "2026-12-06T03:00:00Z"
        );
        assert_eq!(
            next("@daily", "2026-12-31T23:10:00Z"),
            "2027-01-01T00:00:00Z"
        );
    }

    #[test]
    fn steps_ranges_and_lists_expand_as_cron_does() {
        assert_eq!(
            next("*/15 * * * *", "2026-12-05T10:07:00Z"),
            "2026-12-05T10:15:00Z"
        );
        assert_eq!(
            next("5,50 8-18/2 * * *", "2026-12-05T09:00:00Z"),
            "2026-12-05T10:05:00Z"
        );
        assert_eq!(
            next("5,50 8-18/2 * * *", "2026-12-05T18:51:00Z"),
            "2026-12-06T08:05:00Z"
        );
    }

    #[test]
    fn weekdays_count_sunday_as_zero_and_seven() {
        // 2026-12-05 is a Saturday.
        assert_eq!(
            next("0 9 * * 1-5", "2026-12-05T12:00:00Z"),
            "2026-12-07T09:00:00Z"
        );
        assert_eq!(
            next("0 9 * * 7", "2026-12-05T12:00:00Z"),
            "2026-12-06T09:00:00Z"
        );
        assert_eq!(
            next("0 9 * * 0", "2026-12-05T12:00:00Z"),
            "2026-12-06T09:00:00Z"
        );
    }

    #[test]
    fn day_and_month_names_work_in_any_case() {
        // 2026-12-05 is a Saturday.
        assert_eq!(
            next("*/15 9 * * MON-fri", "2026-12-05T12:00:00Z"),
            "2026-12-07T09:00:00Z"
        );
        assert_eq!(
            next("0 0 1 jan *", "2026-12-05T12:00:00Z"),
            "2027-01-01T00:00:00Z"
        );
    }

    #[test]
    fn restricted_day_fields_match_either_day() {
        // The 1st of the month or any Monday: Monday 2026-12-07 comes before 2027-01-01.
        assert_eq!(
            next("0 0 1 * 1", "2026-12-05T00:00:00Z"),
            "2026-12-07T00:00:00Z"
        );
    }

    #[test]
    fn impossible_dates_have_no_next_time() {
        let schedule: Schedule = "0 0 31 2 *".parse().unwrap();
        assert_eq!(schedule.next_after(at("2026-12-05T00:00:00Z")), None);
    }

    #[test]
    fn malformed_schedules_say_which_field_is_wrong() {
        for (text, needle) in [
            ("0 3 * *", "expected 5 fields"),
            ("61 3 * * *", "minute: 61 is outside 0-59"),
            (
                "0 3 * * mo",
                "day of week: \"mo\" is not a number or a name",
            ),
            ("*/0 * * * *", "minute: a step must be at least 1"),
            ("0 5-2 * * *", "hour: range 5-2 runs backwards"),
        ] {
            let error = text.parse::<Schedule>().unwrap_err().to_string();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }
}
