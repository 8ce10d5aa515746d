//! The alert vocabulary: what the caller sends ([`Signal`]), what an alert is known by
//! (its label set and [`fingerprint`]), who handles it ([`Severity`], [`Handler`],
//! [`Tier`]) and what every lifecycle step leaves behind ([`Transition`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Label the engine sets from [`Signal::alertname`]; part of the identity.
pub const ALERTNAME: &str = "alertname";
/// Label the engine sets from [`Signal::severity`]; part of the identity.
pub const SEVERITY: &str = "severity";
/// Label the engine sets from the severity's [`Handler`]; derived, so not part of the identity.
pub const HANDLER: &str = "handler";
/// Label the engine sets from the alert's current [`Tier`]; changes on escalation, so not part
/// of the identity.
pub const TIER: &str = "tier";
/// Annotation the engine adds when it escalates an alert, saying from which tier to which
/// and why.
pub const ESCALATION: &str = "escalation";

/// Labels the caller must leave to the engine.
pub const RESERVED_LABELS: [&str; 4] = [ALERTNAME, SEVERITY, HANDLER, TIER];

/// Incident severity. Label values are lower case, `sev1` … `sev4`, as Prometheus label
/// values usually are; parsing accepts any case (`SEV1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Service down: respond within 15 minutes, a human handles it.
    Sev1,
    /// Degraded: respond within 1 hour, a human handles it.
    Sev2,
    /// Minor: respond within 4 hours, the ops bot handles it.
    Sev3,
    /// Low: respond within 24 hours, the ops bot handles it.
    Sev4,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Sev1,
        Severity::Sev2,
        Severity::Sev3,
        Severity::Sev4,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Sev1 => "sev1",
            Severity::Sev2 => "sev2",
            Severity::Sev3 => "sev3",
            Severity::Sev4 => "sev4",
        }
    }

    /// How long an alert of this severity may stay unacknowledged before it escalates.
    pub fn response_time(self) -> Duration {
        let minutes = match self {
            Severity::Sev1 => 15,
            Severity::Sev2 => 60,
            Severity::Sev3 => 4 * 60,
            Severity::Sev4 => 24 * 60,
        };
        Duration::from_secs(minutes * 60)
    }

    pub fn handler(self) -> Handler {
        match self {
            Severity::Sev1 | Severity::Sev2 => Handler::Human,
            Severity::Sev3 | Severity::Sev4 => Handler::OpsBot,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| format!("unknown severity {text:?}: expected sev1, sev2, sev3 or sev4"))
    }
}

/// Who is expected to respond first, by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Handler {
    #[serde(rename = "human")]
    Human,
    #[serde(rename = "ops-bot")]
    OpsBot,
}

impl Handler {
    pub fn as_str(self) -> &'static str {
        match self {
            Handler::Human => "human",
            Handler::OpsBot => "ops-bot",
        }
    }

    /// The tier an alert starts at: the ops bot's alerts at L1 so bots try first, a human's
    /// at L3, since L3 is the human tier and a SEV1/SEV2 must reach a person at once.
    pub fn initial_tier(self) -> Tier {
        match self {
            Handler::Human => Tier::L3,
            Handler::OpsBot => Tier::L1,
        }
    }
}

impl fmt::Display for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Escalation tier, bot first: L1 the ops bot, L2 the bot team, L3 a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tier {
    L1,
    L2,
    L3,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::L1 => "L1",
            Tier::L2 => "L2",
            Tier::L3 => "L3",
        }
    }

    /// The tier above this one; `None` at L3.
    pub fn next(self) -> Option<Tier> {
        match self {
            Tier::L1 => Some(Tier::L2),
            Tier::L2 => Some(Tier::L3),
            Tier::L3 => None,
        }
    }

    /// Whether a bot (the ops bot or the bot team) handles alerts at this tier.
    pub fn is_bot(self) -> bool {
        self != Tier::L3
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One condition as the caller sees it at one evaluation, active or not.
///
/// The caller sends a signal for every condition it tracks at every evaluation; an alert
/// whose signal stops arriving is treated as inactive. Label and annotation names must be
/// Prometheus label names (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`); labels with an
/// empty value are left out, as Prometheus treats them as absent. Values that are not finite
/// are left out too: a missing key means "no data".
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub alertname: String,
    /// Identity labels, typically `slo`, `service` and the SLO's own labels.
    pub labels: BTreeMap<String, String>,
    /// `summary`, `description`, `runbook_url`, burn figures as text, root causes, …
    pub annotations: BTreeMap<String, String>,
    pub severity: Severity,
    pub active: bool,
    /// Figures behind the condition (burn rates, budget left); stored with each transition.
    pub values: BTreeMap<String, f64>,
    /// How long the condition must hold before the alert fires (Prometheus' `for`); `None`
    /// takes the configured default.
    pub pending_for: Option<Duration>,
    /// Link back to what raised the alert; a path starting with `/` is joined to the
    /// configured `external_url`, and `None` links to the alert itself there.
    pub generator_url: Option<String>,
}

impl Signal {
    pub fn new(alertname: impl Into<String>, severity: Severity, active: bool) -> Signal {
        Signal {
            alertname: alertname.into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            severity,
            active,
            values: BTreeMap::new(),
            pending_for: None,
            generator_url: None,
        }
    }

    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Signal {
        self.labels.insert(name.into(), value.into());
        self
    }

    pub fn annotation(mut self, name: impl Into<String>, value: impl Into<String>) -> Signal {
        self.annotations.insert(name.into(), value.into());
        self
    }

    pub fn value(mut self, name: impl Into<String>, value: f64) -> Signal {
        self.values.insert(name.into(), value);
        self
    }

    pub fn pending_for(mut self, pending_for: Duration) -> Signal {
        self.pending_for = Some(pending_for);
        self
    }

    pub fn generator_url(mut self, url: impl Into<String>) -> Signal {
        self.generator_url = Some(url.into());
        self
    }
}

/// What happened to an alert; the `state` column of the `alerts` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransitionKind {
    /// The condition became true; the alert waits for its pending period.
    Pending,
    /// The condition cleared before the pending period was over; the alert never fired.
    Inactive,
    /// The alert fired and was sent to every sink.
    Firing,
    /// Nobody acknowledged the alert within its response time; it moved up one tier and
    /// was sent again.
    Escalated,
    /// Someone took the alert; escalation stops.
    Acknowledged,
    /// The condition cleared (and the minimum firing time was over); the alert ended.
    Resolved,
}

impl TransitionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionKind::Pending => "pending",
            TransitionKind::Inactive => "inactive",
            TransitionKind::Firing => "firing",
            TransitionKind::Escalated => "escalated",
            TransitionKind::Acknowledged => "acknowledged",
            TransitionKind::Resolved => "resolved",
        }
    }
}

impl fmt::Display for TransitionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One lifecycle step of one alert: a row of the `alerts` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub time: DateTime<Utc>,
    pub fingerprint: String,
    pub alertname: String,
    pub state: TransitionKind,
    pub severity: Severity,
    pub handler: Handler,
    pub tier: Tier,
    /// The label set as sent: identity labels plus `handler` and `tier`.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub values: BTreeMap<String, f64>,
    /// When the alert started firing (`startsAt`); for `pending` and `inactive` rows, when
    /// the condition became true.
    pub started_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
}

/// The identity of an alert: a stable 64-bit hash of its identity label set, as 16
/// lower-case hex digits.
///
/// The hash is 64-bit FNV-1a over the labels in byte order of their names, each name and
/// each value followed by the byte `0xff` (which never occurs in UTF-8). This is the
/// algorithm Prometheus and Alertmanager use for a label set's fingerprint, so the value is
/// fixed across restarts, platforms and Rust versions, and can be checked against
/// Alertmanager's own (`tests/alertmanager.rs` does).
///
/// The identity label set is the caller's labels plus `alertname` and `severity`. `handler`
/// follows from the severity and `tier` changes when an alert escalates, so neither is part
/// of it: an escalated alert is the same alert.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    const SEPARATOR: u8 = 0xff;

    let mut hash = OFFSET;
    let mut add = |byte: u8| {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(PRIME);
    };
    for (name, value) in labels {
        name.bytes().for_each(&mut add);
        add(SEPARATOR);
        value.bytes().for_each(&mut add);
        add(SEPARATOR);
    }
    format!("{hash:016x}")
}

/// Whether `name` is a Prometheus label name that a user may set: `[a-zA-Z_][a-zA-Z0-9_]*`,
/// not starting with `__` (reserved for internal use).
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && !name.starts_with("__")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fingerprint_of_empty_set_is_the_fnv_offset_basis() {
        // FNV-1a 64 of no input is its offset basis, published as 14695981039346656037.
        assert_eq!(
            fingerprint(&BTreeMap::new()),
            format!("{:016x}", 14695981039346656037u64)
        );
    }

    #[test]
    fn fingerprint_matches_fnv1a_reference_vector() {
        // The FNV reference vectors give FNV-1a 64("a") = 0xaf63dc4c8601ec8c; a label set
        // {a=""} hashes "a", 0xff, 0xff, so check the single-byte step through a name with
        // the separator bytes folded in by hand.
        let mut hash: u64 = 0xaf63_dc4c_8601_ec8c;
        for _ in 0..2 {
            hash ^= 0xff;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        assert_eq!(fingerprint(&labels(&[("a", "")])), format!("{hash:016x}"));
    }

    #[test]
    fn fingerprint_depends_on_every_name_and_value() {
        let base = labels(&[
            ("alertname", "Burn"),
            ("severity", "sev2"),
            ("slo", "availability"),
        ]);
        let other_value = labels(&[
            ("alertname", "Burn"),
            ("severity", "sev1"),
            ("slo", "availability"),
        ]);
        let moved_boundary = labels(&[
            ("alertname", "Burn"),
            ("severity", "sev2"),
            ("sloa", "vailability"),
        ]);
        assert_ne!(fingerprint(&base), fingerprint(&other_value));
        assert_ne!(fingerprint(&base), fingerprint(&moved_boundary));
        assert_eq!(fingerprint(&base).len(), 16);
    }

    #[test]
    fn severities_map_to_response_time_and_handler() {
        assert_eq!(Severity::Sev1.response_time(), Duration::from_secs(15 * 60));
        assert_eq!(Severity::Sev2.response_time(), Duration::from_secs(3600));
        assert_eq!(
            Severity::Sev3.response_time(),
            Duration::from_secs(4 * 3600)
        );
        assert_eq!(
            Severity::Sev4.response_time(),
            Duration::from_secs(24 * 3600)
        );
        assert_eq!(Severity::Sev1.handler(), Handler::Human);
        assert_eq!(Severity::Sev2.handler(), Handler::Human);
        assert_eq!(Severity::Sev3.handler(), Handler::OpsBot);
        assert_eq!(Severity::Sev4.handler(), Handler::OpsBot);
        assert_eq!("SEV3".parse::<Severity>(), Ok(Severity::Sev3));
        assert!("sev5".parse::<Severity>().is_err());
    }

    #[test]
    fn label_names_follow_prometheus_rules() {
        assert!(is_valid_label_name("slo"));
        assert!(is_valid_label_name("_x1"));
        assert!(!is_valid_label_name("1x"));
        assert!(!is_valid_label_name("service.name"));
        assert!(!is_valid_label_name("__name__"));
        assert!(!is_valid_label_name(""));
    }
}
