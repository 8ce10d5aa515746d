//! `vigil gameday <scenario>`: chaos engineering for the monitoring itself.
//!
//! A game day injects one simulator scenario, live, into a running Vigil and watches that
//! Vigil's alerts answer it as they should:
//!
//! ```text
//!   plan the incident (starts this minute)  ──►  live fleet sends OTLP to --endpoint
//!        │                                                     │
//!        └── expected: the incident's affected SLOs            ▼
//!                                            Vigil: SLO job ─► alert engine ─► `alerts` table
//!   poll GET /api/v1/query on --api  ◄────────────────────────────────────────────┘
//!     every SLO paged (an `SLOErrorBudgetBurn` at SEV1 or SEV2) within --detect-within
//!     of the start? and all its pages resolved within --resolve-within of the end?
//!                                                                  ──►  PASS / FAIL
//! ```
//!
//! Only pages count: a ticket (SEV3/SEV4) that follows the page is expected and may stay
//! open for hours. With the default conditions the slow-burn page (5% of the budget in 6 h,
//! confirmed over 30 minutes) holds for about half an hour after a heavy failure ends,
//! hence the default `--resolve-within` of 45 minutes.
//!
//! Detection is read from the durable `alerts` table (one row per lifecycle step), so an
//! alert that fires and clears between two polls still counts. Detection time is measured
//! from the failure's start on the wall clock (the injection; for latency-creep, the outage
//! after the creep) to the alert's first `firing` row, both on the wall clock of this
//! machine and the server's. (The simulator works in whole minutes, so the failing
//! telemetry of the first minute is stamped from that minute's start.)
//!
//! The simulated fleet keeps busy weekday hours whatever the wall-clock time: the fleet's
//! time zone is chosen so that it is working time there, and on a weekend its activity is
//! scaled up to a weekday's, so there is traffic to fail. The telemetry it sends stays in
//! the store like any other; it carries the simulator's bot identities (`bot.id`
//! `sim-bot-…`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;

use crate::alert::sinks::{Auth, HttpClient, Method};
use crate::sim::{
    self, Incident, InjectConfig, Protocol, Rhythm, ScenarioKind, SimConfig, SimError, Summary,
};

/// What a game day injects and what it expects.
#[derive(Debug, Clone)]
pub struct GamedayOptions {
    pub scenario: ScenarioKind,
    /// OTLP endpoint of the Vigil under test (or of a Collector in front of it).
    pub endpoint: String,
    pub protocol: Protocol,
    /// Vigil's HTTP API, where `/api/v1/query` answers.
    pub api: String,
    /// How long the failure lasts.
    pub duration: Duration,
    /// Every affected SLO must fire within this long after the failure starts.
    pub detect_within: Duration,
    /// Every page of the affected SLOs must resolve within this long after it ends.
    pub resolve_within: Duration,
    pub bots: usize,
    pub seed: u64,
    /// Scales the fleet's work, as in `vigil simulate`.
    pub activity: f64,
    /// Where to write the injected incident's ground truth.
    pub labels: Option<PathBuf>,
    /// How often the `alerts` table is read.
    pub poll_interval: Duration,
}

impl GamedayOptions {
    pub fn new(scenario: ScenarioKind) -> GamedayOptions {
        GamedayOptions {
            scenario,
            endpoint: Protocol::Grpc.default_endpoint().to_string(),
            protocol: Protocol::Grpc,
            api: "http://127.0.0.1:4318".into(),
            duration: Duration::from_secs(10 * 60),
            detect_within: Duration::from_secs(10 * 60),
            resolve_within: Duration::from_secs(45 * 60),
            bots: 6,
            seed: 1,
            activity: 1.0,
            labels: None,
            poll_interval: Duration::from_secs(2),
        }
    }
}

/// Why a game day could not be run (as opposed to a game day that ran and failed).
#[derive(Debug, thiserror::Error)]
pub enum GamedayError {
    #[error("cannot reach Vigil's HTTP API at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("Vigil's query API answered {status} to the alerts query: {body}")]
    Query { status: u16, body: String },
    #[error("the query API's answer is not the expected JSON: {0}")]
    Answer(String),
    #[error(
        "scenario {scenario} expects no SLO alert with this fleet of {bots} bots; \
         try another scenario or more bots"
    )]
    NothingExpected { scenario: ScenarioKind, bots: usize },
    #[error(
        "a page of {slo} is already open (state {state}); a game day measures detection \
         from a quiet start, so resolve it or wait for it to clear first"
    )]
    AlreadyOpen { slo: String, state: String },
    #[error("invalid game day option: {0}")]
    Invalid(String),
    #[error("injection failed: {0}")]
    Injection(#[from] SimError),
    #[error("the injection task panicked or was cancelled: {0}")]
    Task(String),
}

/// What happened to one expected SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct SloOutcome {
    pub slo: String,
    /// Unix seconds of the first page's `firing` row.
    pub fired_at: Option<f64>,
    /// Severity of that first page.
    pub severity: Option<String>,
    /// Unix seconds at which the last of its pages resolved, once all have.
    pub resolved_at: Option<f64>,
}

/// The result of a game day that ran to its end.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub incident: Incident,
    /// Unix seconds the failure began on the wall clock: the injection, or the planned
    /// start when that is later (latency-creep's outage). Detection is measured from here.
    pub failure_start: f64,
    pub detect_within: Duration,
    pub resolve_within: Duration,
    pub slos: Vec<SloOutcome>,
    pub sent_records: u64,
    pub rejected_records: u64,
    /// The run was stopped (Ctrl-C) before it could decide.
    pub interrupted: bool,
}

impl SloOutcome {
    /// Seconds from the failure's start (Unix seconds) to the first firing.
    pub fn detection(&self, failure_start: f64) -> Option<f64> {
        self.fired_at.map(|t| t - failure_start)
    }

    /// Seconds from the failure's end to the last resolution.
    pub fn resolution(&self, incident: &Incident) -> Option<f64> {
        self.resolved_at.map(|t| t - incident.end as f64)
    }

    fn detected_in_time(&self, failure_start: f64, within: Duration) -> bool {
        self.detection(failure_start)
            .is_some_and(|d| d <= within.as_secs_f64())
    }

    fn resolved_in_time(&self, incident: &Incident, within: Duration) -> bool {
        self.resolution(incident)
            .is_some_and(|r| r <= within.as_secs_f64())
    }

    fn passed(&self, outcome: &Outcome) -> bool {
        self.detected_in_time(outcome.failure_start, outcome.detect_within)
            && self.resolved_in_time(&outcome.incident, outcome.resolve_within)
    }
}

impl Outcome {
    /// Every expected SLO fired in time and resolved in time, and nothing was rejected.
    pub fn passed(&self) -> bool {
        !self.interrupted
            && self.rejected_records == 0
            && !self.slos.is_empty()
            && self.slos.iter().all(|s| s.passed(self))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let incident = &self.incident;
        writeln!(
            f,
            "Game day: {} — {}",
            incident.scenario, incident.description
        )?;
        writeln!(
            f,
            "failure {} → {} ({}); expected to page: {}",
            sim::rfc3339(self.failure_start as i64),
            sim::rfc3339(incident.end),
            span(incident.end as f64 - self.failure_start),
            incident.affected_slos.join(", ")
        )?;
        writeln!(
            f,
            "sent {} records, {} rejected\n",
            self.sent_records, self.rejected_records
        )?;
        writeln!(
            f,
            "{:<32} {:>9} {:>12} {:>18}  result",
            "SLO", "severity", "detected", "resolved"
        )?;
        for slo in &self.slos {
            let detected = match slo.detection(self.failure_start) {
                Some(d) => format!("after {}", span(d)),
                None => "never".into(),
            };
            let resolved = match slo.resolution(incident) {
                Some(r) => format!("{} after end", span(r)),
                None if slo.fired_at.is_some() => "still open".into(),
                None => "-".into(),
            };
            let verdict = if slo.passed(self) { "PASS" } else { "FAIL" };
            writeln!(
                f,
                "{:<32} {:>9} {:>12} {:>18}  {verdict}",
                slo.slo,
                slo.severity.as_deref().unwrap_or("-"),
                detected,
                resolved
            )?;
        }
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        write!(
            f,
            "\n{verdict}: each SLO must fire within {} of the failure's start and resolve within {} of its end",
            span(self.detect_within.as_secs_f64()),
            span(self.resolve_within.as_secs_f64())
        )?;
        if self.interrupted {
            write!(f, " (interrupted before the end)")?;
        }
        if self.rejected_records > 0 {
            write!(f, " ({} records were rejected)", self.rejected_records)?;
        }
        Ok(())
    }
}

/// `95` → `1m35s`; negative spans (an alert before the failure) get a `-`.
fn span(seconds: f64) -> String {
    let sign = if seconds < 0.0 { "-" } else { "" };
    let total = seconds.abs().round() as u64;
    match (total / 60, total % 60) {
        (0, s) => format!("{sign}{s}s"),
        (m, 0) => format!("{sign}{m}m"),
        (m, s) => format!("{sign}{m}m{s:02}s"),
    }
}

/// Runs a game day: see the module docs. `stop` ends it early (the outcome then says it
/// was interrupted). `report` hears progress lines as they happen.
pub async fn run(
    options: GamedayOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut report: impl FnMut(&str) + Send,
) -> Result<Outcome, GamedayError> {
    if options.duration < Duration::from_secs(60) {
        return Err(GamedayError::Invalid(format!(
            "--duration {}s: a failure lasts at least 1m (the simulator works in minutes)",
            options.duration.as_secs()
        )));
    }
    if options.detect_within.is_zero() || options.resolve_within.is_zero() {
        return Err(GamedayError::Invalid(
            "--detect-within and --resolve-within must be longer than 0s".into(),
        ));
    }
    let api = QueryApi::new(&options.api);
    let (utc_offset_minutes, activity_boost) = busy_weekday(chrono::Utc::now().timestamp());
    let injection = sim::prepare_injection(InjectConfig {
        base: SimConfig {
            endpoint: options.endpoint.clone(),
            protocol: options.protocol,
            bots: options.bots,
            seed: options.seed,
            labels: options.labels.clone(),
            activity: options.activity * activity_boost,
            utc_offset_minutes,
            ..SimConfig::default()
        },
        scenario: options.scenario,
        duration: Some(options.duration),
        tail: options.resolve_within,
    })?;
    let incident = injection
        .incident()
        .cloned()
        .ok_or_else(|| GamedayError::Task("the plan holds no incident".into()))?;
    if incident.affected_slos.is_empty() {
        return Err(GamedayError::NothingExpected {
            scenario: options.scenario,
            bots: options.bots,
        });
    }
    let expected: Vec<String> = incident
        .affected_slos
        .iter()
        .map(|s| s.to_string())
        .collect();
    let since = incident.first_effect() - 60;
    if let Some((slo, state)) = api
        .clone()
        .open_alerts(expected.clone(), since - 24 * 3_600)
        .await?
    {
        return Err(GamedayError::AlreadyOpen { slo, state });
    }
    report(&format!(
        "injecting {} now: {}; expecting pages of {}",
        incident.scenario,
        incident.description,
        expected.join(", ")
    ));

    let failure_start = now_secs().max(incident.start as f64);
    let (stop_injection, injection_stop) = sim::stop_pair();
    let sender: JoinHandle<Result<Summary, SimError>> =
        tokio::spawn(sim::run_injection(injection, injection_stop, |_| {}));
    let detect_deadline = failure_start + options.detect_within.as_secs_f64();
    let resolve_deadline = incident.end as f64 + options.resolve_within.as_secs_f64();

    let mut slos: Vec<SloOutcome> = expected
        .iter()
        .map(|slo| SloOutcome {
            slo: slo.clone(),
            fired_at: None,
            severity: None,
            resolved_at: None,
        })
        .collect();
    let mut interrupted = false;
    loop {
        tokio::select! {
            () = tokio::time::sleep(options.poll_interval) => {}
            _ = stop.wait_for(|s| *s) => {
                interrupted = true;
                break;
            }
        }
        let rows = api.clone().alert_rows(expected.clone(), since).await?;
        for slo in &mut slos {
            let before = slo.clone();
            update(slo, &rows, incident.end as f64);
            if before.fired_at.is_none() && slo.fired_at.is_some() {
                report(&format!(
                    "{} fired ({}) {} after the failure started",
                    slo.slo,
                    slo.severity.as_deref().unwrap_or("?"),
                    span(slo.detection(failure_start).unwrap_or(0.0))
                ));
            }
            if before.resolved_at.is_none() && slo.resolved_at.is_some() {
                report(&format!(
                    "{} resolved {} after the failure ended",
                    slo.slo,
                    span(slo.resolution(&incident).unwrap_or(0.0))
                ));
            }
        }

        let now = now_secs();
        let all_resolved = slos.iter().all(|s| s.resolved_at.is_some());
        let missed_detection = now > detect_deadline && slos.iter().any(|s| s.fired_at.is_none());
        if all_resolved || missed_detection || now > resolve_deadline || sender.is_finished() {
            if sender.is_finished() && !all_resolved {
                // One last read: the final minutes were just sent.
                let rows = api.clone().alert_rows(expected.clone(), since).await?;
                for slo in &mut slos {
                    update(slo, &rows, incident.end as f64);
                }
            }
            break;
        }
    }

    stop_injection.stop();
    let summary = sender
        .await
        .map_err(|e| GamedayError::Task(e.to_string()))??;
    Ok(Outcome {
        incident,
        failure_start,
        detect_within: options.detect_within,
        resolve_within: options.resolve_within,
        slos,
        sent_records: summary.sent.total(),
        rejected_records: summary.rejected.total(),
        interrupted,
    })
}

/// One lifecycle row of the `alerts` table.
#[derive(Debug, Clone, PartialEq)]
struct AlertRow {
    time: f64,
    fingerprint: String,
    slo: String,
    state: String,
    severity: String,
}

/// Folds the rows of `outcome.slo` into it: the first firing, and — once every page of
/// the SLO seen so far has `resolved` as its latest state, after the failure's end — the
/// time the last one resolved.
fn update(outcome: &mut SloOutcome, rows: &[AlertRow], failure_end: f64) {
    let mine: Vec<&AlertRow> = rows.iter().filter(|r| r.slo == outcome.slo).collect();
    if outcome.fired_at.is_none()
        && let Some(first) = mine.iter().find(|r| r.state == "firing")
    {
        outcome.fired_at = Some(first.time);
        outcome.severity = Some(first.severity.clone());
    }
    if outcome.fired_at.is_none() {
        return;
    }
    let mut latest: BTreeMap<&str, &AlertRow> = BTreeMap::new();
    for row in &mine {
        latest.insert(&row.fingerprint, row);
    }
    let all_resolved = latest.values().all(|r| r.state == "resolved");
    let last = latest.values().map(|r| r.time).fold(f64::MIN, f64::max);
    outcome.resolved_at = (all_resolved && last >= failure_end).then_some(last);
}

/// The game day's one call to Vigil's HTTP API: SQL over `/api/v1/query`, through the
/// alert sinks' JSON client.
#[derive(Debug, Clone)]
struct QueryApi {
    base: String,
    http: HttpClient,
}

impl QueryApi {
    fn new(base: &str) -> QueryApi {
        QueryApi {
            base: base.trim_end_matches('/').to_string(),
            http: HttpClient::new(Duration::from_secs(30)),
        }
    }

    fn rows(&self, sql: &str) -> Result<Vec<Value>, GamedayError> {
        let body = serde_json::json!({ "sql": sql }).to_string();
        let reply = self
            .http
            .send_json(
                Method::Post,
                &format!("{}/api/v1/query", self.base),
                &Auth::None,
                body.as_bytes(),
            )
            .map_err(|e| GamedayError::Unreachable {
                url: self.base.clone(),
                message: e.to_string(),
            })?;
        if reply.status != 200 {
            return Err(GamedayError::Query {
                status: reply.status,
                body: reply.body,
            });
        }
        let answer: Value =
            serde_json::from_str(&reply.body).map_err(|e| GamedayError::Answer(e.to_string()))?;
        match answer.get("rows") {
            Some(Value::Array(rows)) => Ok(rows.clone()),
            _ => Err(GamedayError::Answer("no `rows` array".into())),
        }
    }

    /// Lifecycle rows of the pages (burn alerts at SEV1 or SEV2) of `slos` since `since`
    /// (Unix seconds), oldest first.
    async fn alert_rows(
        self,
        slos: Vec<String>,
        since: i64,
    ) -> Result<Vec<AlertRow>, GamedayError> {
        tokio::task::spawn_blocking(move || self.alert_rows_blocking(&slos, since))
            .await
            .map_err(|e| GamedayError::Task(e.to_string()))?
    }

    fn alert_rows_blocking(
        &self,
        slos: &[String],
        since: i64,
    ) -> Result<Vec<AlertRow>, GamedayError> {
        let names: BTreeSet<String> = slos
            .iter()
            .map(|s| format!("'{}'", s.replace('\'', "''")))
            .collect();
        let sql = format!(
            "SELECT CAST(CAST(time AS BIGINT) AS DOUBLE) / 1e9 AS t, \
               fingerprint, slo, state, severity \
             FROM alerts \
             WHERE alertname = 'SLOErrorBudgetBurn' AND severity IN ('sev1', 'sev2') \
               AND time >= to_timestamp({since}) AND slo IN ({}) \
             ORDER BY time, state",
            names.into_iter().collect::<Vec<_>>().join(", ")
        );
        let rows = self.rows(&sql)?;
        rows.iter()
            .map(|row| {
                let text = |key: &str| {
                    row.get(key)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| GamedayError::Answer(format!("row without `{key}`")))
                };
                Ok(AlertRow {
                    time: row
                        .get("t")
                        .and_then(Value::as_f64)
                        .ok_or_else(|| GamedayError::Answer("row without `t`".into()))?,
                    fingerprint: text("fingerprint")?,
                    slo: text("slo")?,
                    state: text("state")?,
                    severity: text("severity")?,
                })
            })
            .collect()
    }

    /// The first expected SLO with a page whose latest state since `since` is not
    /// `resolved`.
    async fn open_alerts(
        self,
        slos: Vec<String>,
        since: i64,
    ) -> Result<Option<(String, String)>, GamedayError> {
        let rows = self.alert_rows(slos, since).await?;
        let mut latest: BTreeMap<String, AlertRow> = BTreeMap::new();
        for row in rows {
            latest.insert(row.fingerprint.clone(), row);
        }
        Ok(latest
            .into_values()
            .find(|r| r.state != "resolved")
            .map(|r| (r.slo, r.state)))
    }
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A fleet time zone (minutes east of UTC, within ±14 h) in which `now` is as busy as it
/// can be, and the factor that lifts that hour's activity to a weekday's late morning
/// (more than 1 only when no zone has a working weekday hour now).
fn busy_weekday(now: i64) -> (i32, f64) {
    let late_morning = Rhythm::new(0).intensity(4 * 86_400 + 11 * 3_600); // a Monday, 11:00
    let (offset, intensity) = (-28..=28)
        .map(|half_hours| {
            let minutes = half_hours * 30;
            (minutes, Rhythm::new(minutes).intensity(now))
        })
        .fold((0, f64::MIN), |best, candidate| {
            if candidate.1 > best.1 {
                candidate
            } else {
                best
            }
        });
    (offset, (late_morning / intensity.max(1e-6)).max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(time: f64, fingerprint: &str, state: &str) -> AlertRow {
        AlertRow {
            time,
            fingerprint: fingerprint.into(),
            slo: "a".into(),
            state: state.into(),
            severity: "sev2".into(),
        }
    }

    fn empty() -> SloOutcome {
        SloOutcome {
            slo: "a".into(),
            fired_at: None,
            severity: None,
            resolved_at: None,
        }
    }

    #[test]
    fn detection_is_the_first_firing_and_resolution_waits_for_every_alert() {
        let mut outcome = empty();
        let rows = vec![
            row(100.0, "x", "pending"),
            row(130.0, "x", "firing"),
            row(160.0, "y", "firing"),
            row(400.0, "x", "resolved"),
        ];
        update(&mut outcome, &rows, 300.0);
        assert_eq!(outcome.fired_at, Some(130.0));
        assert_eq!(outcome.resolved_at, None, "y is still firing");

        let mut rows = rows;
        rows.push(row(460.0, "y", "resolved"));
        update(&mut outcome, &rows, 300.0);
        assert_eq!(outcome.fired_at, Some(130.0));
        assert_eq!(outcome.resolved_at, Some(460.0));
    }

    #[test]
    fn a_resolution_before_the_failure_ends_does_not_count() {
        let mut outcome = empty();
        let rows = vec![row(130.0, "x", "firing"), row(200.0, "x", "resolved")];
        update(&mut outcome, &rows, 300.0);
        assert_eq!(outcome.fired_at, Some(130.0));
        assert_eq!(outcome.resolved_at, None);
    }

    #[test]
    fn the_busy_zone_is_a_weekday_working_hour() {
        // 2026-12-05 03:00 UTC is a Saturday night: no zone within ±14 h has a weekday
        // working hour except Friday evening west of UTC, so activity is lifted.
        let saturday_3am = 1_796_439_600;
        let (offset, boost) = busy_weekday(saturday_3am);
        assert!((-840..=840).contains(&offset));
        assert!(boost >= 1.0);
        let rhythm = Rhythm::new(offset);
        let lifted = rhythm.intensity(saturday_3am) * boost;
        let late_morning = Rhythm::new(0).intensity(4 * 86_400 + 11 * 3_600);
        assert!((lifted - late_morning).abs() < 1e-9 || lifted > late_morning);

        // Wednesday 2026-12-02 12:00 UTC: already busy at UTC, nothing to lift.
        let wednesday_noon = 1_796_212_800;
        let (_, boost) = busy_weekday(wednesday_noon);
        assert!((boost - 1.0).abs() < 1e-9);
    }

    #[test]
    fn spans_read_as_minutes_and_seconds() {
        assert_eq!(span(95.0), "1m35s");
        assert_eq!(span(120.0), "2m");
        assert_eq!(span(42.4), "42s");
        assert_eq!(span(-30.0), "-30s");
    }
}
