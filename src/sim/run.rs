//! Running a plan against an endpoint: pacing simulated time against the wall clock,
//! batching, sending with bounded concurrency, live continuation, cancellation and the
//! summary.
//!
//! ```text
//! Generator (blocking thread) ──minutes──► pacing ──► batcher ──► N export tasks
//!                                          │ Max: no wait, merge minutes up to
//!                                          │      max_batch_records
//!                                          │ Factor(x): minute m due at
//!                                          │      wall start + (m end − start) / x
//!                                          │ live (past the end): when m has passed
//! ```
//!
//! The first failed export (after its retries) stops the run with that error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::clock::{MINUTE, floor_minute};
use super::export::{Delivery, ExportError, Exporter};
use super::generate::{Batches, Counts, Generator};
use super::scenario::{Incident, Placement, ScenarioSelection, When};
use super::{Plan, SimConfig, SimError, Speed, labels, plan};

/// Signals a run to stop; see [`stop_pair`].
#[derive(Debug)]
pub struct StopHandle(watch::Sender<bool>);

impl StopHandle {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// What a run watches for cancellation.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// A signal that never fires (batch runs that end by themselves).
    pub fn never() -> Stop {
        stop_pair().1
    }

    fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when stopped; never, once the handle is gone without stopping.
    async fn stopped(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A connected pair: stop the run with the handle.
pub fn stop_pair() -> (StopHandle, Stop) {
    let (tx, rx) = watch::channel(false);
    (StopHandle(tx), Stop(rx))
}

/// Where a run is, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Unix seconds: end of the last simulated minute handed to the exporter.
    pub simulated_to: i64,
    pub minutes_done: u64,
    /// Minutes of the span before `end` (live minutes come on top).
    pub history_minutes: u64,
    pub sent: Counts,
    pub rejected: Counts,
    pub live: bool,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub start: i64,
    /// Unix seconds: end of the last simulated minute sent.
    pub simulated_to: i64,
    pub minutes: u64,
    pub sent: Counts,
    pub rejected: Counts,
    pub requests: u64,
    pub retries: u64,
    pub incidents: Vec<Incident>,
    pub wall_time: Duration,
    /// Stopped through a [`Stop`] before the natural end.
    pub cancelled: bool,
}

impl Summary {
    /// Records sent per wall-clock second.
    pub fn records_per_second(&self) -> f64 {
        self.sent.total() as f64 / self.wall_time.as_secs_f64().max(1e-9)
    }
}

/// Generates `config`'s plan and sends it; see the module docs.
pub async fn run(
    config: SimConfig,
    stop: Stop,
    progress: impl FnMut(&Progress) + Send,
) -> Result<Summary, SimError> {
    let plan = plan(&config)?;
    execute(&config, plan, None, stop, progress).await
}

/// What a game-day injection needs: the fleet to simulate and the scenario to start.
#[derive(Debug, Clone)]
pub struct InjectConfig {
    /// Endpoint, protocol, fleet, seed and activity; `days`, `end`, `live`, `speed` and
    /// `scenarios` are set by [`inject`].
    pub base: SimConfig,
    pub scenario: super::ScenarioKind,
    /// How long the failure lasts; `None`: the scenario's usual length (hours).
    pub duration: Option<Duration>,
    /// Baseline telemetry kept flowing after the incident ends, so alerts can resolve.
    pub tail: Duration,
}

/// A planned game-day injection: the live fleet's configuration, its plan (one incident,
/// starting now) and when sending stops.
#[derive(Debug)]
pub struct Injection {
    pub config: SimConfig,
    pub plan: Plan,
    /// Unix seconds: the incident's end plus the tail.
    pub until: i64,
}

impl Injection {
    /// The incident being injected.
    pub fn incident(&self) -> Option<&Incident> {
        self.plan.incidents.first()
    }
}

/// Plans `config.scenario` to start at the current minute in a live fleet.
pub fn prepare_injection(config: InjectConfig) -> Result<Injection, SimError> {
    let now = floor_minute(chrono::Utc::now().timestamp());
    let sim = SimConfig {
        end: Some(now),
        days: 0.0,
        live: true,
        speed: Speed::Max,
        scenarios: ScenarioSelection::List(vec![Placement {
            kind: config.scenario,
            when: When::At(now),
            duration: config.duration.map(|d| d.as_secs() as i64),
        }]),
        ..config.base
    };
    let plan = plan(&sim)?;
    let incident_end = plan.incidents.iter().map(|i| i.end).max().unwrap_or(now);
    let until = incident_end + config.tail.as_secs() as i64;
    Ok(Injection {
        config: sim,
        plan,
        until,
    })
}

/// Sends a prepared injection until its incident has ended and the tail has passed (or
/// `stop` fires). Writes labels if the configuration names a file.
pub async fn run_injection(
    injection: Injection,
    stop: Stop,
    progress: impl FnMut(&Progress) + Send,
) -> Result<Summary, SimError> {
    let Injection {
        config,
        plan,
        until,
    } = injection;
    execute(&config, plan, Some(until), stop, progress).await
}

/// Starts `config.scenario` now in a live fleet and runs until the incident has ended
/// and `tail` has passed (or `stop` fires). Writes labels if `base.labels` is set.
pub async fn inject(
    config: InjectConfig,
    stop: Stop,
    progress: impl FnMut(&Progress) + Send,
) -> Result<Summary, SimError> {
    run_injection(prepare_injection(config)?, stop, progress).await
}

async fn execute(
    config: &SimConfig,
    plan: Plan,
    live_until: Option<i64>,
    mut stop: Stop,
    mut progress: impl FnMut(&Progress) + Send,
) -> Result<Summary, SimError> {
    if let Some(path) = &config.labels {
        labels::write(&plan, path)?;
    }
    let exporter = Exporter::new(&config.endpoint, config.protocol, config.compression)?;
    let plan = Arc::new(plan);
    let (tx, mut minutes) = mpsc::channel::<Batches>(32);
    let producer_plan = Arc::clone(&plan);
    let producer = tokio::task::spawn_blocking(move || {
        for batches in Generator::new(&producer_plan) {
            if tx.blocking_send(batches).is_err() {
                break;
            }
        }
    });
    let mut sender = Sender::new(exporter, config.concurrency.max(1));
    let pacer = Pacer::new(&plan, config.speed);
    let history_minutes = ((plan.end - plan.start) / MINUTE) as u64;
    let mut state = Progress {
        simulated_to: plan.start,
        minutes_done: 0,
        history_minutes,
        sent: Counts::default(),
        rejected: Counts::default(),
        live: false,
    };
    let mut pending: Option<Batches> = None;
    let mut cancelled = false;
    loop {
        let next = tokio::select! {
            next = minutes.recv() => next,
            () = stop.stopped() => None,
        };
        let Some(minute) = next else {
            cancelled = stop.is_set();
            break;
        };
        let live = minute.minute >= plan.end;
        if live && (!config.live || live_until.is_some_and(|u| minute.minute >= u)) {
            break;
        }
        if let Some(due) = pacer.due(minute.minute, live) {
            if let Some(batch) = pending.take() {
                sender.send(batch, &mut state).await?;
            }
            tokio::select! {
                () = tokio::time::sleep(due) => {}
                () = stop.stopped() => {
                    cancelled = true;
                    break;
                }
            }
        }
        let paced = live || config.speed != Speed::Max;
        let hour_changed = (minute.minute + MINUTE) % 3_600 == 0;
        state.simulated_to = minute.minute + MINUTE;
        state.minutes_done += 1;
        state.live = live;
        let batch = match pending.take() {
            Some(mut batch) => {
                batch.append(minute);
                batch
            }
            None => minute,
        };
        if paced || batch.counts().total() >= config.max_batch_records as u64 {
            sender.send(batch, &mut state).await?;
        } else {
            pending = Some(batch);
        }
        if paced || hour_changed {
            progress(&state);
        }
    }
    drop(minutes);
    if let Some(batch) = pending.take() {
        sender.send(batch, &mut state).await?;
    }
    sender.finish(&mut state).await?;
    progress(&state);
    producer
        .await
        .map_err(|e| ExportError::Task(e.to_string()))?;
    Ok(Summary {
        start: plan.start,
        simulated_to: state.simulated_to,
        minutes: state.minutes_done,
        sent: state.sent,
        rejected: state.rejected,
        requests: sender.requests,
        retries: sender.retries,
        incidents: plan.incidents.clone(),
        wall_time: pacer.wall_start.elapsed(),
        cancelled,
    })
}

/// When each simulated minute may be sent.
#[derive(Debug)]
struct Pacer {
    wall_start: Instant,
    start: i64,
    speed: Speed,
}

impl Pacer {
    fn new(plan: &Plan, speed: Speed) -> Pacer {
        Pacer {
            wall_start: Instant::now(),
            start: plan.start,
            speed,
        }
    }

    /// How long to wait before sending the minute starting at `minute`, if at all.
    fn due(&self, minute: i64, live: bool) -> Option<Duration> {
        let minute_end = minute + MINUTE;
        if live {
            let now = chrono::Utc::now();
            let wait_ms = minute_end * 1_000 - now.timestamp_millis();
            return (wait_ms > 0).then(|| Duration::from_millis(wait_ms as u64));
        }
        let Speed::Factor(factor) = self.speed else {
            return None;
        };
        let due = Duration::from_secs_f64((minute_end - self.start) as f64 / factor);
        due.checked_sub(self.wall_start.elapsed())
    }
}

/// Export tasks in flight, at most `concurrency`, and what they delivered.
struct Sender {
    exporter: Exporter,
    concurrency: usize,
    tasks: JoinSet<Result<Delivery, ExportError>>,
    requests: u64,
    retries: u64,
}

impl Sender {
    fn new(exporter: Exporter, concurrency: usize) -> Sender {
        Sender {
            exporter,
            concurrency,
            tasks: JoinSet::new(),
            requests: 0,
            retries: 0,
        }
    }

    async fn send(&mut self, batch: Batches, state: &mut Progress) -> Result<(), SimError> {
        while self.tasks.len() >= self.concurrency {
            self.collect_one(state).await?;
        }
        let exporter = self.exporter.clone();
        self.tasks
            .spawn(async move { exporter.export(batch).await });
        Ok(())
    }

    async fn collect_one(&mut self, state: &mut Progress) -> Result<(), SimError> {
        let Some(joined) = self.tasks.join_next().await else {
            return Ok(());
        };
        let delivery = joined.map_err(|e| ExportError::Task(e.to_string()))??;
        state.sent.add(delivery.sent);
        state.rejected.add(delivery.rejected);
        self.requests += delivery.requests;
        self.retries += delivery.retries;
        Ok(())
    }

    async fn finish(&mut self, state: &mut Progress) -> Result<(), SimError> {
        while !self.tasks.is_empty() {
            self.collect_one(state).await?;
        }
        Ok(())
    }
}
