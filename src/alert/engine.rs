//! The alert lifecycle: signals in, transitions and notifications out.
//!
//! ```text
//!               active ≥ pending_for                 inactive, fired ≥ min_firing
//!  (none) ──► pending ───────────────────► firing ─────────────────────────────► resolved
//!               │ inactive                  │ ▲ not acknowledged within the severity's
//!               ▼                           │ │ response time: tier + 1, sent again
//!            inactive                       └─┘ (until L3, or until acknowledged)
//! ```
//!
//! One [`AlertEngine`] owns every alert of the process. Each call that changes something
//! ([`AlertEngine::evaluate`], [`AlertEngine::tick`], [`AlertEngine::ack`]) works on a copy of
//! the alerts and keeps it only after (1) the notifications it produced are fsynced in the
//! outbox and (2) the new state is saved (`alerts-state.json`, temporary file + fsync +
//! rename). A failure leaves the engine as it was, so the next call produces the same
//! notifications again: delivery is at least once, never lost. Because the state is saved
//! with its timestamps, a restart keeps firing alerts firing (no second "firing"), keeps
//! pending ones pending from when they started, and keeps tiers and acknowledgements.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::model::{
    self, ALERTNAME, ESCALATION, HANDLER, RESERVED_LABELS, SEVERITY, Severity, Signal, TIER, Tier,
    Transition, TransitionKind,
};
use super::outbox::{Notification, NotificationKind, Outbox, OutboxError};
use super::persist::{self, rfc3339, rfc3339_opt};
use super::sinks::{Sink, SinkKind};

const STATE_FILE: &str = "alerts-state.json";
const STATE_VERSION: u32 = 1;

/// The shortest id prefix [`AlertEngine::ack`] accepts.
const MIN_ID_PREFIX: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("signal {alertname:?}: {reason}")]
    InvalidSignal { alertname: String, reason: String },
    #[error("signals for alert {fingerprint} ({alertname}) arrived twice in one evaluation")]
    DuplicateSignal {
        alertname: String,
        fingerprint: String,
    },
    #[error("no pending or firing alert has the id {id:?}")]
    UnknownAlert { id: String },
    #[error("id {id:?} matches {count} alerts; give more of the fingerprint")]
    AmbiguousId { id: String, count: usize },
    #[error("alert {fingerprint} is still pending; only a firing alert can be acknowledged")]
    NotFiring { fingerprint: String },
    #[error("alert {fingerprint} was already acknowledged by {by} at {at}")]
    AlreadyAcknowledged {
        fingerprint: String,
        by: String,
        at: DateTime<Utc>,
    },
    #[error("an acknowledgement needs the name of who acknowledges")]
    MissingAcknowledger,
    #[error("cannot read alert state {path}: {source}")]
    ReadState { path: PathBuf, source: io::Error },
    #[error("alert state {path} is damaged ({message}); move it away to start without open alerts")]
    DamagedState { path: PathBuf, message: String },
    #[error("cannot save alert state {path}: {source}")]
    SaveState { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

/// Evaluation-independent settings (the `[alerts]` keys that shape the lifecycle).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSettings {
    /// A firing alert stays firing at least this long, however often its condition clears.
    pub min_firing: Duration,
    /// Firing alerts are sent to Alertmanager again this often.
    pub resend_interval: Duration,
    /// The pending period of signals that do not set their own.
    pub pending_for: Duration,
    /// Vigil's base URL (no trailing `/`), for `generatorURL`.
    pub external_url: Option<String>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            min_firing: Duration::from_secs(5 * 60),
            resend_interval: Duration::from_secs(60),
            pending_for: Duration::ZERO,
            external_url: None,
        }
    }
}

/// Whether an open alert waits out its pending period or fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Pending,
    Firing,
}

/// Who acknowledged an alert, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    #[serde(with = "rfc3339")]
    pub at: DateTime<Utc>,
    pub by: String,
}

/// An open (pending or firing) alert, as the engine keeps and saves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub fingerprint: String,
    /// The caller's name for the evaluation that tracks this alert (see
    /// [`AlertEngine::evaluate`]).
    pub source: String,
    pub alertname: String,
    /// Identity labels: the caller's labels plus `alertname` and `severity`.
    pub labels: BTreeMap<String, String>,
    /// The latest annotations the caller sent.
    pub annotations: BTreeMap<String, String>,
    /// The latest values the caller sent.
    pub values: BTreeMap<String, f64>,
    pub severity: Severity,
    pub pending_for: Duration,
    pub generator_url: Option<String>,
    pub state: AlertState,
    /// When the condition became true.
    #[serde(with = "rfc3339")]
    pub active_since: DateTime<Utc>,
    /// When the alert fired (`startsAt`).
    #[serde(with = "rfc3339_opt")]
    pub fired_at: Option<DateTime<Utc>>,
    pub tier: Tier,
    /// When the alert reached its current tier; escalation counts from here.
    #[serde(with = "rfc3339_opt")]
    pub tier_since: Option<DateTime<Utc>>,
    /// The escalation note sent as the `escalation` annotation, after the first escalation.
    pub escalation: Option<String>,
    pub acknowledged: Option<Acknowledgement>,
    /// When the alert was last sent to the sinks (fired, escalated or re-sent).
    #[serde(with = "rfc3339_opt")]
    pub last_sent: Option<DateTime<Utc>>,
}

impl Alert {
    /// The label set as sent: identity labels plus `handler` and `tier`.
    pub fn sent_labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        labels.insert(HANDLER.into(), self.severity.handler().as_str().into());
        labels.insert(TIER.into(), self.tier.as_str().into());
        labels
    }

    /// The annotations as sent: the caller's plus the escalation note.
    pub fn sent_annotations(&self) -> BTreeMap<String, String> {
        let mut annotations = self.annotations.clone();
        if let Some(note) = &self.escalation {
            annotations.insert(ESCALATION.into(), note.clone());
        }
        annotations
    }

    fn transition(&self, state: TransitionKind, time: DateTime<Utc>) -> Transition {
        Transition {
            time,
            fingerprint: self.fingerprint.clone(),
            alertname: self.alertname.clone(),
            state,
            severity: self.severity,
            handler: self.severity.handler(),
            tier: self.tier,
            labels: self.sent_labels(),
            annotations: self.sent_annotations(),
            values: self.values.clone(),
            started_at: self.fired_at.unwrap_or(self.active_since),
            acknowledged_at: self.acknowledged.as_ref().map(|a| a.at),
            acknowledged_by: self.acknowledged.as_ref().map(|a| a.by.clone()),
        }
    }

    fn notification(&self, kind: NotificationKind, now: DateTime<Utc>) -> Notification {
        Notification {
            kind,
            fingerprint: self.fingerprint.clone(),
            labels: self.sent_labels(),
            annotations: self.sent_annotations(),
            starts_at: self.fired_at.unwrap_or(now),
            ends_at: (kind == NotificationKind::Resolved).then_some(now),
            created_at: now,
            generator_url: self.generator_url.clone(),
            replaces: None,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct SavedState {
    version: u32,
    alerts: Vec<Alert>,
}

/// Where a kind of notification goes.
#[derive(Debug, Clone)]
struct Route {
    sink: String,
    kind: SinkKind,
}

/// What one call produced, before it is committed.
#[derive(Debug, Default)]
struct Changes {
    transitions: Vec<Transition>,
    notifications: Vec<Notification>,
    /// Something that must be saved changed, even if nothing was produced (a re-send time).
    touched: bool,
}

impl Changes {
    fn record(&mut self, alert: &Alert, kind: TransitionKind, now: DateTime<Utc>) {
        self.transitions.push(alert.transition(kind, now));
        self.touched = true;
    }

    fn notify(&mut self, notification: Notification) {
        self.notifications.push(notification);
        self.touched = true;
    }
}

/// A signal checked and given its identity.
#[derive(Debug)]
struct Prepared {
    fingerprint: String,
    labels: BTreeMap<String, String>,
    signal: Signal,
}

/// The alert engine: see the module documentation.
#[derive(Debug)]
pub struct AlertEngine {
    settings: EngineSettings,
    alerts: BTreeMap<String, Alert>,
    state_path: PathBuf,
    outbox: Arc<Outbox>,
    routes: Vec<Route>,
}

impl AlertEngine {
    /// Opens the engine over `dir` (created if missing): restores the saved alerts and
    /// opens the outbox. `sinks` decide where notifications are queued; pass the same list
    /// to [`super::Dispatcher::start`].
    pub fn open(
        dir: &Path,
        settings: EngineSettings,
        sinks: &[Sink],
    ) -> Result<AlertEngine, AlertError> {
        // TODO: nothing locks `dir`; two processes on one directory would interleave the
        // outbox and overwrite each other's state. Take a lock file as the store does.
        let outbox = Arc::new(Outbox::open(dir)?);
        let state_path = dir.join(STATE_FILE);
        let alerts = load_state(&state_path)?;
        if !alerts.is_empty() {
            let firing = alerts
                .values()
                .filter(|a| a.state == AlertState::Firing)
                .count();
            info!(path = %state_path.display(), open = alerts.len(), firing, "alert state restored");
        }
        let routes = sinks
            .iter()
            .map(|s| Route {
                sink: s.name().to_string(),
                kind: s.kind(),
            })
            .collect();
        Ok(AlertEngine {
            settings,
            alerts,
            state_path,
            outbox,
            routes,
        })
    }

    /// The outbox notifications are queued in; hand it to [`super::Dispatcher::start`].
    pub fn outbox(&self) -> Arc<Outbox> {
        self.outbox.clone()
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// The open (pending or firing) alerts, by fingerprint.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values()
    }

    /// One evaluation of one source: `signals` holds every condition `source` tracks, active
    /// or not. Alerts of `source` that have no signal here are treated as inactive; alerts of
    /// other sources are left alone, so the SLO job and the anomaly detector can evaluate at
    /// their own pace. Afterwards, escalations and re-sends that are due are made for all
    /// alerts (as [`AlertEngine::tick`] does).
    ///
    /// Signals are checked first; an invalid one fails the call before anything changes.
    /// Returns the transitions, for the `alerts` table. Blocks on two fsyncs.
    pub fn evaluate(
        &mut self,
        source: &str,
        signals: Vec<Signal>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Transition>, AlertError> {
        let prepared = prepare(signals)?;
        let mut alerts = self.alerts.clone();
        let mut changes = Changes::default();

        let mut seen = BTreeSet::new();
        for p in prepared {
            seen.insert(p.fingerprint.clone());
            self.apply(&mut alerts, source, p, now, &mut changes);
        }
        let silent: Vec<String> = alerts
            .values()
            .filter(|a| a.source == source && !seen.contains(&a.fingerprint))
            .map(|a| a.fingerprint.clone())
            .collect();
        for fingerprint in silent {
            self.clear(&mut alerts, &fingerprint, now, &mut changes);
        }

        self.escalate_and_resend(&mut alerts, now, &mut changes);
        self.commit(alerts, changes)
    }

    /// Time-driven work only: escalations and Alertmanager re-sends that are due. Call it
    /// at least every `resend_interval` when evaluations are rarer than that.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Result<Vec<Transition>, AlertError> {
        let mut alerts = self.alerts.clone();
        let mut changes = Changes::default();
        self.escalate_and_resend(&mut alerts, now, &mut changes);
        self.commit(alerts, changes)
    }

    /// Records that `by` took the firing alert `id` (its fingerprint, or a unique prefix of
    /// at least 4 characters); it escalates no further.
    pub fn ack(
        &mut self,
        id: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Transition, AlertError> {
        let by = by.trim();
        if by.is_empty() {
            return Err(AlertError::MissingAcknowledger);
        }
        let fingerprint = self.resolve_id(id)?;
        let mut alerts = self.alerts.clone();
        let Some(alert) = alerts.get_mut(&fingerprint) else {
            return Err(AlertError::UnknownAlert { id: id.to_string() });
        };
        if alert.state != AlertState::Firing {
            return Err(AlertError::NotFiring { fingerprint });
        }
        if let Some(ack) = &alert.acknowledged {
            return Err(AlertError::AlreadyAcknowledged {
                fingerprint,
                by: ack.by.clone(),
                at: ack.at,
            });
        }

        alert.acknowledged = Some(Acknowledgement {
            at: now,
            by: by.to_string(),
        });
        let transition = alert.transition(TransitionKind::Acknowledged, now);
        info!(%fingerprint, alertname = %alert.alertname, tier = %alert.tier, "alert acknowledged");
        let changes = Changes {
            transitions: vec![transition.clone()],
            notifications: Vec::new(),
            touched: true,
        };
        self.commit(alerts, changes)?;
        Ok(transition)
    }

    fn resolve_id(&self, id: &str) -> Result<String, AlertError> {
        let id = id.trim().to_ascii_lowercase();
        if self.alerts.contains_key(&id) {
            return Ok(id);
        }
        if id.len() < MIN_ID_PREFIX {
            return Err(AlertError::UnknownAlert { id });
        }
        let matches: Vec<&String> = self
            .alerts
            .keys()
            .filter(|fp| fp.starts_with(&id))
            .collect();
        match matches.as_slice() {
            [only] => Ok((*only).clone()),
            [] => Err(AlertError::UnknownAlert { id }),
            many => Err(AlertError::AmbiguousId {
                count: many.len(),
                id,
            }),
        }
    }

    fn apply(
        &self,
        alerts: &mut BTreeMap<String, Alert>,
        source: &str,
        p: Prepared,
        now: DateTime<Utc>,
        changes: &mut Changes,
    ) {
        let pending_for = p.signal.pending_for.unwrap_or(self.settings.pending_for);
        let generator_url = self.generator_url(p.signal.generator_url.as_deref(), &p.fingerprint);
        let Some(alert) = alerts.get_mut(&p.fingerprint) else {
            if !p.signal.active {
                return;
            }
            let mut alert = Alert {
                fingerprint: p.fingerprint.clone(),
                source: source.to_string(),
                alertname: p.signal.alertname,
                labels: p.labels,
                annotations: p.signal.annotations,
                values: p.signal.values,
                severity: p.signal.severity,
                pending_for,
                generator_url,
                state: AlertState::Pending,
                active_since: now,
                fired_at: None,
                tier: p.signal.severity.handler().initial_tier(),
                tier_since: None,
                escalation: None,
                acknowledged: None,
                last_sent: None,
            };
            if pending_for.is_zero() {
                self.fire(&mut alert, now, changes);
            } else {
                changes.record(&alert, TransitionKind::Pending, now);
            }
            alerts.insert(p.fingerprint, alert);
            return;
        };

        if alert.annotations != p.signal.annotations
            || alert.values != p.signal.values
            || alert.generator_url != generator_url
            || alert.pending_for != pending_for
            || alert.source != source
        {
            alert.annotations = p.signal.annotations;
            alert.values = p.signal.values;
            alert.generator_url = generator_url;
            alert.pending_for = pending_for;
            alert.source = source.to_string();
            changes.touched = true;
        }

        if !p.signal.active {
            self.clear(alerts, &p.fingerprint, now, changes);
            return;
        }
        if alert.state == AlertState::Pending
            && elapsed(alert.active_since, now) >= alert.pending_for
        {
            self.fire(alert, now, changes);
        }
    }

    /// The condition of an open alert is false: a pending alert goes away, a firing one
    /// resolves once it has fired for `min_firing`.
    fn clear(
        &self,
        alerts: &mut BTreeMap<String, Alert>,
        fingerprint: &str,
        now: DateTime<Utc>,
        changes: &mut Changes,
    ) {
        let Some(alert) = alerts.get(fingerprint) else {
            return;
        };
        match (alert.state, alert.fired_at) {
            (AlertState::Firing, Some(fired)) if elapsed(fired, now) < self.settings.min_firing => {
            }
            (AlertState::Pending, _) => {
                changes.record(alert, TransitionKind::Inactive, now);
                alerts.remove(fingerprint);
            }
            (AlertState::Firing, _) => {
                changes.record(alert, TransitionKind::Resolved, now);
                changes.notify(alert.notification(NotificationKind::Resolved, now));
                info!(%fingerprint, alertname = %alert.alertname, "alert resolved");
                alerts.remove(fingerprint);
            }
        }
    }

    fn fire(&self, alert: &mut Alert, now: DateTime<Utc>, changes: &mut Changes) {
        alert.state = AlertState::Firing;
        alert.fired_at = Some(now);
        alert.tier_since = Some(now);
        alert.last_sent = Some(now);
        changes.record(alert, TransitionKind::Firing, now);
        changes.notify(alert.notification(NotificationKind::Firing, now));
        info!(fingerprint = %alert.fingerprint, alertname = %alert.alertname, severity = %alert.severity, tier = %alert.tier, "alert firing");
    }

    fn escalate_and_resend(
        &self,
        alerts: &mut BTreeMap<String, Alert>,
        now: DateTime<Utc>,
        changes: &mut Changes,
    ) {
        for alert in alerts.values_mut() {
            if alert.state != AlertState::Firing {
                continue;
            }
            if self.escalate(alert, now, changes) {
                continue;
            }
            let due = alert
                .last_sent
                .is_none_or(|sent| elapsed(sent, now) >= self.settings.resend_interval);
            if due {
                alert.last_sent = Some(now);
                changes.notify(alert.notification(NotificationKind::Resend, now));
            }
        }
    }

    /// Moves an unacknowledged alert up one tier when its response time has passed since
    /// it reached the current one. True when it did.
    fn escalate(&self, alert: &mut Alert, now: DateTime<Utc>, changes: &mut Changes) -> bool {
        let Some(next) = alert.tier.next() else {
            return false;
        };
        let response_time = alert.severity.response_time();
        let since = alert.tier_since.or(alert.fired_at).unwrap_or(now);
        if alert.acknowledged.is_some() || elapsed(since, now) < response_time {
            return false;
        }

        // TODO: an alert owed several escalations (after a long stop) moves one tier here and
        // waits a full response time for the next, so a person may be reached later than due.
        let previous_labels = alert.sent_labels();
        let previous = alert.tier;
        alert.tier = next;
        alert.tier_since = Some(now);
        alert.last_sent = Some(now);
        alert.escalation = Some(format!(
            "escalated from {previous} to {next}: not acknowledged within {} ({} response time)",
            describe(response_time),
            alert.severity.as_str().to_ascii_uppercase(),
        ));
        changes.record(alert, TransitionKind::Escalated, now);
        let mut notification = alert.notification(NotificationKind::Escalated, now);
        notification.replaces = Some(previous_labels);
        changes.notify(notification);
        warn!(fingerprint = %alert.fingerprint, alertname = %alert.alertname, from = %previous, to = %next, "alert escalated: not acknowledged in time");
        true
    }

    /// Queues the notifications, saves the state, and only then adopts `alerts`.
    fn commit(
        &mut self,
        alerts: BTreeMap<String, Alert>,
        changes: Changes,
    ) -> Result<Vec<Transition>, AlertError> {
        if !changes.touched {
            return Ok(changes.transitions);
        }
        let deliveries: Vec<(String, Notification)> = changes
            .notifications
            .iter()
            .flat_map(|n| {
                self.routes
                    .iter()
                    .filter(|r| r.kind.accepts(n.kind))
                    .map(|r| (r.sink.clone(), n.clone()))
            })
            .collect();
        self.outbox.enqueue(deliveries)?;
        save_state(&self.state_path, &alerts)?;
        self.alerts = alerts;
        Ok(changes.transitions)
    }

    fn generator_url(&self, given: Option<&str>, fingerprint: &str) -> Option<String> {
        let base = self.settings.external_url.as_deref();
        match (given, base) {
            (Some(path), Some(base)) if path.starts_with('/') => Some(format!("{base}{path}")),
            (Some(url), _) => Some(url.to_string()),
            (None, Some(base)) => Some(format!("{base}/alerts/{fingerprint}")),
            (None, None) => None,
        }
    }
}

/// Checks every signal and computes its identity; fails on the first bad one.
fn prepare(signals: Vec<Signal>) -> Result<Vec<Prepared>, AlertError> {
    let mut seen = BTreeSet::new();
    let mut prepared = Vec::with_capacity(signals.len());
    for mut signal in signals {
        let bad = |reason: String| AlertError::InvalidSignal {
            alertname: signal.alertname.clone(),
            reason,
        };
        if signal.alertname.trim().is_empty() {
            return Err(bad("alertname is empty".into()));
        }
        for name in signal.labels.keys() {
            if RESERVED_LABELS.contains(&name.as_str()) {
                return Err(bad(format!(
                    "label {name:?} is set by the engine; use the signal's fields"
                )));
            }
            if !model::is_valid_label_name(name) {
                return Err(bad(format!(
                    "label name {name:?} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)"
                )));
            }
        }
        if let Some(name) = signal
            .annotations
            .keys()
            .find(|n| !model::is_valid_label_name(n))
        {
            return Err(bad(format!(
                "annotation name {name:?} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)"
            )));
        }

        signal.values.retain(|_, v| v.is_finite());
        let mut labels: BTreeMap<String, String> = signal
            .labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.insert(ALERTNAME.into(), signal.alertname.clone());
        labels.insert(SEVERITY.into(), signal.severity.as_str().into());
        let fingerprint = model::fingerprint(&labels);
        if !seen.insert(fingerprint.clone()) {
            return Err(AlertError::DuplicateSignal {
                alertname: signal.alertname,
                fingerprint,
            });
        }
        prepared.push(Prepared {
            fingerprint,
            labels,
            signal,
        });
    }
    Ok(prepared)
}

/// Time from `since` to `now`, zero if `now` is earlier (a clock step back).
fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - since).to_std().unwrap_or(Duration::ZERO)
}

/// `15m`, `4h`, `24h`: a response time as people write it.
fn describe(d: Duration) -> String {
    let minutes = d.as_secs() / 60;
    if minutes.is_multiple_of(60) {
        format!("{}h", minutes / 60)
    } else {
        format!("{minutes}m")
    }
}

fn load_state(path: &Path) -> Result<BTreeMap<String, Alert>, AlertError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(AlertError::ReadState {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let damaged = |message: String| AlertError::DamagedState {
        path: path.to_path_buf(),
        message,
    };
    let saved: SavedState = serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
    if saved.version != STATE_VERSION {
        return Err(damaged(format!(
            "version {} is not the supported {STATE_VERSION}",
            saved.version
        )));
    }
    let mut alerts = BTreeMap::new();
    for alert in saved.alerts {
        if model::fingerprint(&alert.labels) != alert.fingerprint {
            return Err(damaged(format!(
                "alert {} does not match its labels",
                alert.fingerprint
            )));
        }
        alerts.insert(alert.fingerprint.clone(), alert);
    }
    Ok(alerts)
}

fn save_state(path: &Path, alerts: &BTreeMap<String, Alert>) -> Result<(), AlertError> {
    let save_err = |source| AlertError::SaveState {
        path: path.to_path_buf(),
        source,
    };
    let saved = SavedState {
        version: STATE_VERSION,
        alerts: alerts.values().cloned().collect(),
    };
    let bytes = serde_json::to_vec_pretty(&saved).map_err(|e| save_err(io::Error::other(e)))?;
    persist::write_atomically(path, &bytes).map_err(save_err)
}
