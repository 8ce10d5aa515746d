//! Incident scenarios: what can go wrong, when it does, and the ground truth about it.
//!
//! A scenario kind is one failure story ([`ScenarioKind`]). Planning turns kinds into
//! [`Incident`]s: a time window, a target chosen from the seed (a provider, a model, a
//! bot, the MCP server, the CI pipeline), a structured [`RootCause`] and the SLOs whose
//! burn-rate alerts the incident is sized to trip. During generation, [`Effects::at`]
//! tells each bot, minute by minute, how the incidents active then change its
//! behaviour; nothing else in the simulator knows about scenarios.
//!
//! | scenario | target (from the seed) | what fails | SLOs it pages |
//! | --- | --- | --- | --- |
//! | provider-timeouts | a provider | 85% of its requests time out / drop (no status) for 2.5–3.5 h | availability of each agent kind that sends ≥ 40% of its calls there; `genai-latency` too when ≥ 60% (slow failures count there) |
//! | rate-limit-storm | a provider | bursts (13 of every 20 min) of 90% 429 (Anthropic: also 529) for 1–2 h | availability, same rule |
//! | tool-loop | a bot | the bot repeats one failing tool call 12×/min for 1.5–3 h; context, tokens and cost grow | its kind's tool-success SLO |
//! | bad-tool-version | the shared MCP server | release 1.5.0 (then 1.6.0, …) fails every `tools/call` for 2.5–4 h; patch 1.5.1 fixes it | `tool-call-success` |
//! | flaky-ci | the `ci` pipeline | 90% of runs fail for 6–8 h | `ci-pass-rate` |
//! | git-credential-expiry | a bot | every push/pull/fetch/clone fails with an auth error (3 tries, then the turn gives up) for 3.5–4 h | its kind's git SLO; its tool-success SLO too when the bot does ≥ 60% of its kind's work |
//! | latency-creep | a provider's main model | latency ×1 → ×6 linearly over 6–7 h (precursor), then 85% of requests fail (529/503) for 45–75 min | availability (≥ 40% of calls) and latency (≥ 60%) of each kind using the model |
//! | bad-config | a bot | config revision `r(n+1)` points the API client at a dead proxy: every request is refused, the harness retries 8×/min, for 1–2 h; then reverted | its kind's availability SLO |
//! | quota-exhaustion | a provider | usage nears the organisation's rate limit: 429s rise from 0.2% to 0.8% of requests over 2 days ± 1 h (precursor), then the quota runs out and 80% of requests are rate limited for 1–2 h | availability, same rule as provider-timeouts |
//!
//! "Pages" means a page condition of the SLO (2% of budget in 1 h / 5 min, or 5% in
//! 6 h / 30 min; `ci-pass-rate`: 5% in 6 h / 30 min, 5 events) fires during the
//! incident. The shares and durations are sized so that with the default fleet this
//! holds with a margin: the crate's tests check it by re-evaluating the packs over
//! 28 simulated days. Fleets of other sizes follow the same rules, with less margin.
//!
//! The default schedule draws from every kind but quota-exhaustion, which is placed on
//! request (by time, or by kind: `--scenarios quota-exhaustion,latency-creep` schedules
//! only those kinds), so that the default schedule stays the one earlier versions made.
//!
//! Invariants: the default schedule never overlaps incidents, starts them on weekdays
//! in working hours (when there is traffic to fail) and only places incidents that end
//! before the run does; the same seed and span give the same schedule.

use std::fmt;
use std::str::FromStr;

use chrono::DateTime;

use super::clock::{DAY, HOUR, MINUTE, Rhythm};
use super::fleet::{AgentKind, Bot, Fleet, GEMINI_PRO, GPT_5_CODEX, MCP_BASE_VERSION, MCP_SERVER};
use super::fleet::{Model, Provider, SONNET};
use super::rng::Rng;

/// The failure stories the simulator can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScenarioKind {
    /// One provider's API calls time out or lose their connection.
    ProviderTimeouts,
    /// Bursts of 429 (rate limited) and 529 (overloaded) answers from one provider.
    RateLimitStorm,
    /// One bot is stuck repeating a failing tool call; tokens and cost climb.
    ToolLoop,
    /// A new release of the shared MCP tool server makes its tool calls fail.
    BadToolVersion,
    /// CI pipeline runs start failing far more often than usual.
    FlakyCi,
    /// One bot's git credential expires: its pushes, pulls and fetches fail.
    GitCredentialExpiry,
    /// One model's latency creeps up for hours, then the model has an outage.
    LatencyCreep,
    /// A bad configuration rollout to one bot makes all its model requests fail.
    BadConfig,
    /// Usage of one provider approaches the rate limit for two days, then exceeds it.
    QuotaExhaustion,
}

impl ScenarioKind {
    pub const ALL: [ScenarioKind; 9] = [
        ScenarioKind::ProviderTimeouts,
        ScenarioKind::RateLimitStorm,
        ScenarioKind::ToolLoop,
        ScenarioKind::BadToolVersion,
        ScenarioKind::FlakyCi,
        ScenarioKind::GitCredentialExpiry,
        ScenarioKind::LatencyCreep,
        ScenarioKind::BadConfig,
        ScenarioKind::QuotaExhaustion,
    ];

    /// Whether the default schedule draws this kind (module docs).
    pub fn in_default_schedule(self) -> bool {
        self != ScenarioKind::QuotaExhaustion
    }

    /// Whether the failure is preceded by a slow, visible precursor.
    pub fn has_precursor(self) -> bool {
        matches!(
            self,
            ScenarioKind::LatencyCreep | ScenarioKind::QuotaExhaustion
        )
    }

    /// Whole days between the first effect and the failure: scheduling checks that the
    /// failure, too, falls on a weekday.
    fn lead_days(self) -> i64 {
        if self == ScenarioKind::QuotaExhaustion {
            2
        } else {
            0
        }
    }

    /// The scenario's name on the command line and in the labels file.
    pub fn name(self) -> &'static str {
        match self {
            ScenarioKind::ProviderTimeouts => "provider-timeouts",
            ScenarioKind::RateLimitStorm => "rate-limit-storm",
            ScenarioKind::ToolLoop => "tool-loop",
            ScenarioKind::BadToolVersion => "bad-tool-version",
            ScenarioKind::FlakyCi => "flaky-ci",
            ScenarioKind::GitCredentialExpiry => "git-credential-expiry",
            ScenarioKind::LatencyCreep => "latency-creep",
            ScenarioKind::BadConfig => "bad-config",
            ScenarioKind::QuotaExhaustion => "quota-exhaustion",
        }
    }

    /// Duration range in seconds: of the whole incident, or for a kind with a precursor of
    /// the failure that follows it.
    fn duration_range(self) -> (i64, i64) {
        match self {
            ScenarioKind::ProviderTimeouts => (150 * MINUTE, 210 * MINUTE),
            ScenarioKind::RateLimitStorm => (60 * MINUTE, 120 * MINUTE),
            ScenarioKind::ToolLoop => (90 * MINUTE, 180 * MINUTE),
            ScenarioKind::BadToolVersion => (150 * MINUTE, 240 * MINUTE),
            ScenarioKind::FlakyCi => (6 * HOUR, 8 * HOUR),
            ScenarioKind::GitCredentialExpiry => (210 * MINUTE, 240 * MINUTE),
            ScenarioKind::LatencyCreep => (45 * MINUTE, 75 * MINUTE),
            ScenarioKind::BadConfig | ScenarioKind::QuotaExhaustion => (60 * MINUTE, 120 * MINUTE),
        }
    }

    /// Local hours in which the default schedule starts this kind: long incidents
    /// start early so that they play out in working hours.
    fn start_window(self) -> (f64, f64) {
        match self {
            ScenarioKind::FlakyCi => (9.0, 10.0),
            ScenarioKind::LatencyCreep => (8.0, 9.0),
            ScenarioKind::QuotaExhaustion => (9.5, 12.0),
            ScenarioKind::GitCredentialExpiry | ScenarioKind::BadToolVersion => (9.0, 12.0),
            _ => (9.5, 13.0),
        }
    }
}

impl fmt::Display for ScenarioKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors in scenario names, placements and targets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    #[error(
        "unknown scenario {0:?}: expected one of provider-timeouts, rate-limit-storm, tool-loop, \
         bad-tool-version, flaky-ci, git-credential-expiry, latency-creep, bad-config, \
         quota-exhaustion"
    )]
    UnknownKind(String),
    #[error(
        "invalid scenario time {0:?}: expected an RFC 3339 time (2025-03-03T10:00:00Z) or an \
         offset before the end such as -2h, -90m or -1d"
    )]
    InvalidTime(String),
    #[error(
        "scenario list mixes placements and kinds at {0:?}: give either SCENARIO@TIME,… or \
         SCENARIO,… (scheduled from the seed)"
    )]
    Mixed(String),
    #[error("scenario {kind} needs {needs}, which a fleet of {bots} bots does not have")]
    NotApplicable {
        kind: ScenarioKind,
        needs: &'static str,
        bots: usize,
    },
}

impl FromStr for ScenarioKind {
    type Err = ScenarioError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ScenarioKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| ScenarioError::UnknownKind(s.to_string()))
    }
}

/// When an explicitly placed scenario starts (its first effect: for latency-creep, the
/// start of the creep).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Unix seconds.
    At(i64),
    /// Seconds before the end of the simulated span.
    BeforeEnd(i64),
}

/// A scenario placed by hand: `name@<RFC 3339 time>` or `name@-2h` (relative to the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub kind: ScenarioKind,
    pub when: When,
    /// Seconds the failure lasts instead of the kind's usual range (game days use short
    /// ones). For latency-creep this is the outage; the creep before it lasts six times
    /// as long, capped at its usual length.
    pub duration: Option<i64>,
}

impl FromStr for Placement {
    type Err = ScenarioError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, time) = s
            .split_once('@')
            .ok_or_else(|| ScenarioError::InvalidTime(s.to_string()))?;
        Ok(Placement {
            kind: name.trim().parse()?,
            when: parse_when(time.trim())?,
            duration: None,
        })
    }
}

fn parse_when(text: &str) -> Result<When, ScenarioError> {
    let invalid = || ScenarioError::InvalidTime(text.to_string());
    if let Some(offset) = text.strip_prefix('-') {
        return parse_duration(offset)
            .map(When::BeforeEnd)
            .ok_or_else(invalid);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| When::At(t.timestamp()))
        .map_err(|_| invalid())
}

/// `90m`, `2h`, `1.5d`, `45s` as seconds.
pub(crate) fn parse_duration(text: &str) -> Option<i64> {
    let unit = text.chars().last()?;
    let scale = match unit {
        's' => 1.0,
        'm' => MINUTE as f64,
        'h' => HOUR as f64,
        'd' => DAY as f64,
        _ => return None,
    };
    let value: f64 = text[..text.len() - 1].parse().ok()?;
    (value.is_finite() && value >= 0.0).then(|| (value * scale).round() as i64)
}

/// Which incidents a run injects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ScenarioSelection {
    /// Scheduled from the seed across the span.
    #[default]
    Default,
    /// No incidents: baseline telemetry only.
    None,
    /// Exactly these, where they are placed.
    List(Vec<Placement>),
    /// Scheduled from the seed like `Default`, drawing only from these kinds.
    Kinds(Vec<ScenarioKind>),
}

impl FromStr for ScenarioSelection {
    type Err = ScenarioError;

    /// `default`, `none`, a comma-separated list of placements (`SCENARIO@TIME`) or of
    /// scenario names (scheduled like the default, from those kinds only).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "default" => return Ok(ScenarioSelection::Default),
            "none" => return Ok(ScenarioSelection::None),
            _ => {}
        }
        let items: Vec<&str> = s.split(',').map(str::trim).collect();
        if items.iter().all(|i| i.contains('@')) {
            return items
                .into_iter()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .map(ScenarioSelection::List);
        }
        if let Some(mixed) = items.iter().find(|i| i.contains('@')) {
            return Err(ScenarioError::Mixed(mixed.to_string()));
        }
        let mut kinds: Vec<ScenarioKind> = items
            .into_iter()
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        kinds.sort();
        kinds.dedup();
        Ok(ScenarioSelection::Kinds(kinds))
    }
}

/// What caused an incident, as structured ground truth.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct RootCause {
    /// `provider_timeouts`, `provider_rate_limit`, `agent_tool_loop`, `tool_server_release`,
    /// `flaky_pipeline`, `expired_git_credential`, `model_degradation`, `bad_config` or
    /// `provider_quota`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bot_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub previous_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pipeline: Option<String>,
}

/// What an incident acts on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Target {
    Provider(Provider),
    Model(&'static Model),
    Bot(usize),
    ToolServer,
    Pipeline,
}

/// One injected incident with its ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub scenario: ScenarioKind,
    /// Unix seconds: when the failure starts (after the precursor, if there is one).
    pub start: i64,
    /// Unix seconds: when the cause is fixed.
    pub end: i64,
    /// Unix seconds: when the precursor starts (latency-creep's slow rise, quota-exhaustion's
    /// rising rate limiting).
    pub precursor_start: Option<i64>,
    pub root_cause: RootCause,
    /// `metadata.name`s of the SLOs whose page conditions the incident trips.
    pub affected_slos: Vec<&'static str>,
    pub description: String,
    pub(crate) target: Target,
}

impl Incident {
    /// When the incident's first effect shows (the precursor's start if it has one).
    pub fn first_effect(&self) -> i64 {
        self.precursor_start.unwrap_or(self.start)
    }

    fn active(&self, t: i64) -> bool {
        self.first_effect() <= t && t < self.end
    }
}

/// SLO names by the agent kind whose telemetry they read.
struct SloNames {
    availability: &'static str,
    tool_success: &'static str,
    latency: &'static str,
    git: &'static str,
}

fn slos(kind: AgentKind) -> SloNames {
    match kind {
        AgentKind::ClaudeCode => SloNames {
            availability: "claude-code-availability",
            tool_success: "claude-code-tool-success",
            latency: "claude-code-api-latency",
            git: "claude-code-git-operations",
        },
        AgentKind::Codex => SloNames {
            availability: "codex-availability",
            tool_success: "codex-tool-success",
            latency: "codex-api-latency",
            git: "codex-git-operations",
        },
        AgentKind::GeminiCli => SloNames {
            availability: "gemini-cli-availability",
            tool_success: "gemini-cli-tool-success",
            latency: "gemini-cli-api-latency",
            git: "gemini-cli-git-operations",
        },
        AgentKind::GenAi => SloNames {
            availability: "genai-availability",
            tool_success: "tool-call-success",
            latency: "genai-latency",
            git: "git-operations",
        },
    }
}

/// The CI pipeline every push runs.
pub(crate) const CI_PIPELINE: &str = "ci";
const CI_PASS_RATE: &str = "ci-pass-rate";

/// An incident degrading some models pages an agent kind's availability SLO when at
/// least this share of that kind's model calls go to those models ...
const AVAILABILITY_SHARE: f64 = 0.4;
/// ... and its latency SLO when at least this share does (a latency SLO needs most of
/// its requests slow, an availability SLO only a few percent failing).
const LATENCY_SHARE: f64 = 0.6;

/// A bot doing at least this share of its kind's work dominates that kind's SLOs.
const DOMINANT_SHARE: f64 = 0.6;

/// The share of its kind's work that `bot` does.
fn work_share(fleet: &Fleet, bot: &Bot) -> f64 {
    let total: f64 = fleet
        .bots
        .iter()
        .filter(|b| b.kind == bot.kind)
        .map(|b| b.peak_per_hour)
        .sum();
    bot.peak_per_hour / total.max(f64::MIN_POSITIVE)
}

/// Agent kinds, in pack order, whose share of model calls going to models matching
/// `hit` is at least `min_share`.
fn kinds_calling(fleet: &Fleet, min_share: f64, hit: impl Fn(&Model) -> bool) -> Vec<AgentKind> {
    let order = [
        AgentKind::ClaudeCode,
        AgentKind::Codex,
        AgentKind::GeminiCli,
        AgentKind::GenAi,
    ];
    order
        .into_iter()
        .filter(|kind| {
            let (mut matching, mut total) = (0.0, 0.0);
            for bot in fleet.bots.iter().filter(|b| b.kind == *kind) {
                for (model, weight) in &bot.models {
                    total += bot.peak_per_hour * weight;
                    if hit(model) {
                        matching += bot.peak_per_hour * weight;
                    }
                }
            }
            total > 0.0 && matching / total >= min_share
        })
        .collect()
}

/// The model a latency-creep scenario degrades for `provider`: the one the CLI agents
/// of that provider mostly use.
fn creep_model(provider: Provider) -> &'static Model {
    match provider {
        Provider::Anthropic => &SONNET,
        Provider::OpenAi => &GPT_5_CODEX,
        Provider::Google => &GEMINI_PRO,
    }
}

fn provider_label(provider: Provider) -> &'static str {
    match provider {
        Provider::Anthropic => "Anthropic",
        Provider::OpenAi => "OpenAI",
        Provider::Google => "Google Gemini",
    }
}

/// Chooses a provider that some CLI agent of the fleet calls (Anthropic twice as
/// likely: most of a typical fleet runs Claude Code).
fn choose_provider(rng: &mut Rng, fleet: &Fleet) -> Provider {
    let mut options: Vec<(Provider, f64)> = Vec::new();
    for (kind, provider, weight) in [
        (AgentKind::ClaudeCode, Provider::Anthropic, 2.0),
        (AgentKind::Codex, Provider::OpenAi, 1.0),
        (AgentKind::GeminiCli, Provider::Google, 1.0),
    ] {
        if fleet.bots.iter().any(|b| b.kind == kind) {
            options.push((provider, weight));
        }
    }
    if options.is_empty() {
        return Provider::Anthropic;
    }
    rng.weighted(&options)
}

/// Builds the incident of `kind` whose first effect is at `first`. `forced`: the failure's
/// length in seconds instead of one drawn from the kind's range (at least a minute; a
/// latency creep then lasts six times that before the outage, at most its usual length).
fn build(
    kind: ScenarioKind,
    first: i64,
    forced: Option<i64>,
    rng: &mut Rng,
    fleet: &Fleet,
    history: &[Incident],
) -> Result<Incident, ScenarioError> {
    let (lo, hi) = kind.duration_range();
    let drawn = rng.int_in(lo / MINUTE, hi / MINUTE) * MINUTE;
    let forced = forced.map(|d| (d / MINUTE).max(1) * MINUTE);
    let duration = forced.unwrap_or(drawn);
    let mut incident = Incident {
        scenario: kind,
        start: first,
        end: first + duration,
        precursor_start: None,
        root_cause: RootCause::default(),
        affected_slos: Vec::new(),
        description: String::new(),
        target: Target::Pipeline,
    };
    match kind {
        ScenarioKind::ProviderTimeouts | ScenarioKind::RateLimitStorm => {
            let provider = choose_provider(rng, fleet);
            let storm = kind == ScenarioKind::RateLimitStorm;
            incident.target = Target::Provider(provider);
            incident.root_cause = RootCause {
                kind: if storm {
                    "provider_rate_limit"
                } else {
                    "provider_timeouts"
                }
                .into(),
                provider: Some(provider.semconv_name().into()),
                ..RootCause::default()
            };
            incident.affected_slos =
                kinds_calling(fleet, AVAILABILITY_SHARE, |m| m.provider == provider)
                    .into_iter()
                    .map(|k| slos(k).availability)
                    .collect();
            // Timed-out operations are slow ones, and only the GenAI latency SLI (the
            // duration histogram) counts failed operations.
            if !storm
                && kinds_calling(fleet, LATENCY_SHARE, |m| m.provider == provider)
                    .contains(&AgentKind::GenAi)
            {
                incident.affected_slos.push(slos(AgentKind::GenAi).latency);
            }
            incident.description = if storm {
                format!(
                    "{} answers bursts of 429 rate-limit and overload errors; requests that \
                     exhaust their retries fail",
                    provider_label(provider)
                )
            } else {
                format!(
                    "{} API requests time out or lose their connection for every bot calling it",
                    provider_label(provider)
                )
            };
        }
        ScenarioKind::QuotaExhaustion => {
            let provider = choose_provider(rng, fleet);
            let lead = QUOTA_LEAD + rng.int_in(-60, 60) * MINUTE;
            let lead = forced.map_or(lead, |d| lead.min(24 * d));
            incident.precursor_start = Some(first);
            incident.start = first + lead;
            incident.end = incident.start + duration;
            incident.target = Target::Provider(provider);
            incident.root_cause = RootCause {
                kind: "provider_quota".into(),
                provider: Some(provider.semconv_name().into()),
                ..RootCause::default()
            };
            incident.affected_slos =
                kinds_calling(fleet, AVAILABILITY_SHARE, |m| m.provider == provider)
                    .into_iter()
                    .map(|k| slos(k).availability)
                    .collect();
            incident.description = format!(
                "the fleet's use of {} nears the organisation's rate limit: for {} h a rising \
                 share of requests is rate limited, then the quota runs out and most requests \
                 get 429",
                provider_label(provider),
                lead / HOUR
            );
        }
        ScenarioKind::LatencyCreep => {
            let model = creep_model(choose_provider(rng, fleet));
            let creep = rng.int_in(360, 420) * MINUTE;
            let creep = forced.map_or(creep, |d| creep.min(6 * d));
            incident.precursor_start = Some(first);
            incident.start = first + creep;
            incident.end = incident.start + duration;
            incident.target = Target::Model(model);
            incident.root_cause = RootCause {
                kind: "model_degradation".into(),
                provider: Some(model.provider.semconv_name().into()),
                model: Some(model.name.into()),
                ..RootCause::default()
            };
            let slow = kinds_calling(fleet, LATENCY_SHARE, |m| m.name == model.name);
            incident.affected_slos =
                kinds_calling(fleet, AVAILABILITY_SHARE, |m| m.name == model.name)
                    .into_iter()
                    .flat_map(|k| {
                        let names = slos(k);
                        let latency = slow.contains(&k).then_some(names.latency);
                        std::iter::once(names.availability).chain(latency)
                    })
                    .collect();
            incident.description = format!(
                "{} latency rises slowly for {} min (the precursor), then the model is \
                 overloaded and most requests to it fail",
                model.name,
                creep / MINUTE
            );
        }
        ScenarioKind::ToolLoop | ScenarioKind::BadConfig | ScenarioKind::GitCredentialExpiry => {
            let bot = &fleet.bots[rng.index(fleet.bots.len())];
            incident.target = Target::Bot(bot.index);
            let names = slos(bot.kind);
            let (cause, slo, text) = match kind {
                ScenarioKind::ToolLoop => (
                    "agent_tool_loop",
                    names.tool_success,
                    format!(
                        "{} is stuck repeating a failing {} call; its token use and cost climb",
                        bot.id,
                        loop_tool(bot.kind)
                    ),
                ),
                ScenarioKind::BadConfig => (
                    "bad_config",
                    names.availability,
                    format!(
                        "a configuration rollout points {}'s model API client at a dead proxy: \
                         every request fails to connect until the rollout is reverted",
                        bot.id
                    ),
                ),
                _ => (
                    "expired_git_credential",
                    names.git,
                    format!(
                        "{}'s git credential expired: its pushes, pulls and fetches fail with \
                         authentication errors until the credential is rotated",
                        bot.id
                    ),
                ),
            };
            incident.root_cause = RootCause {
                kind: cause.into(),
                bot_id: Some(bot.id.clone()),
                service: Some(bot.service_name.into()),
                ..RootCause::default()
            };
            if kind == ScenarioKind::ToolLoop {
                incident.root_cause.tool = Some(loop_tool(bot.kind).into());
            }
            if kind == ScenarioKind::BadConfig {
                let before = config_revision(history, bot.index, first);
                incident.root_cause.version = Some(format!("r{}", before + 1));
                incident.root_cause.previous_version = Some(format!("r{before}"));
            }
            incident.affected_slos = vec![slo];
            // A CLI's failing git commands are failed tool runs too: when the bot does
            // most of its kind's work, they page the tool-success SLO as well.
            if kind == ScenarioKind::GitCredentialExpiry
                && bot.kind != AgentKind::GenAi
                && work_share(fleet, bot) >= DOMINANT_SHARE
            {
                incident.affected_slos.push(names.tool_success);
            }
            incident.description = text;
        }
        ScenarioKind::BadToolVersion => {
            if !fleet.bots.iter().any(|b| b.kind == AgentKind::GenAi) {
                return Err(ScenarioError::NotApplicable {
                    kind,
                    needs: "a GenAI agent calling the MCP tool server",
                    bots: fleet.bots.len(),
                });
            }
            incident.target = Target::ToolServer;
            let releases = history
                .iter()
                .filter(|i| i.scenario == ScenarioKind::BadToolVersion && i.start <= first)
                .count() as u32;
            incident.root_cause = RootCause {
                kind: "tool_server_release".into(),
                service: Some(MCP_SERVER.into()),
                version: Some(mcp_release(releases + 1, false)),
                previous_version: Some(mcp_version(history, first)),
                ..RootCause::default()
            };
            incident.affected_slos = vec![slos(AgentKind::GenAi).tool_success];
            incident.description = format!(
                "{MCP_SERVER} {} is released and its tools/call requests fail; the agents retry \
                 them until the release is fixed",
                mcp_release(releases + 1, false)
            );
        }
        ScenarioKind::FlakyCi => {
            incident.root_cause = RootCause {
                kind: "flaky_pipeline".into(),
                service: Some(super::fleet::CI_SERVICE.into()),
                pipeline: Some(CI_PIPELINE.into()),
                ..RootCause::default()
            };
            incident.affected_slos = vec![CI_PASS_RATE];
            incident.description =
                "a flaky test makes most runs of the ci pipeline fail, on every repository".into();
        }
    }
    incident.affected_slos.dedup();
    Ok(incident)
}

/// The tool a stuck bot keeps calling, by agent kind.
pub(crate) fn loop_tool(kind: AgentKind) -> &'static str {
    match kind {
        AgentKind::ClaudeCode => "Edit",
        AgentKind::Codex => "apply_patch",
        AgentKind::GeminiCli => "replace",
        AgentKind::GenAi => "run_tests",
    }
}

/// The MCP server version of the `n`th release a scenario made (1-based); `fixed` is the
/// patch release that repairs it.
fn mcp_release(n: u32, fixed: bool) -> String {
    let (major, minor, _) = MCP_BASE_VERSION;
    format!("{major}.{}.{}", minor + n, u32::from(fixed))
}

/// The MCP server's `service.version` at `t`: the base version, then each bad release
/// while its incident lasts and its fixed patch release afterwards.
pub(crate) fn mcp_version(incidents: &[Incident], t: i64) -> String {
    let releases: Vec<&Incident> = incidents
        .iter()
        .filter(|i| i.scenario == ScenarioKind::BadToolVersion && i.start <= t)
        .collect();
    match releases.last() {
        None => {
            let (major, minor, patch) = MCP_BASE_VERSION;
            format!("{major}.{minor}.{patch}")
        }
        Some(last) => mcp_release(releases.len() as u32, t >= last.end),
    }
}

/// A bot's configuration revision at `t` (`bot.config.revision`): each bad-config
/// incident rolls out one bad revision and its revert is another.
pub(crate) fn config_revision(incidents: &[Incident], bot: usize, t: i64) -> u32 {
    const BASE: u32 = 40;
    incidents
        .iter()
        .filter(|i| {
            i.scenario == ScenarioKind::BadConfig && i.target == Target::Bot(bot) && i.start <= t
        })
        .map(|i| if t >= i.end { 2 } else { 1 })
        .sum::<u32>()
        + BASE
}

/// Why the model API fails while an incident lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureMode {
    /// Timeouts and dropped connections: no HTTP status.
    Timeout,
    /// 429 (and Anthropic's 529 overload).
    RateLimited,
    /// The provider is overloaded: 529 / 503 / 500.
    Overloaded,
    /// Connection refused by a dead proxy, immediately.
    Refused,
}

/// How calls to one provider or model behave while incidents are active.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ApiEffect {
    provider: Provider,
    /// `None`: every model of the provider.
    model: Option<&'static str>,
    /// Bot-specific effects (bad config) apply to every provider.
    any_provider: bool,
    latency_factor: f64,
    failure_share: f64,
    failure: FailureMode,
}

/// The state of a model API for one call: latency multiplier and the share of requests
/// that fail for good (after retries), with how.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ApiCondition {
    pub(crate) latency_factor: f64,
    pub(crate) failure: Option<(f64, FailureMode)>,
}

/// Everything active incidents change for one bot (or the CI runner) in one minute.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Effects {
    api: Vec<ApiEffect>,
    /// The bot is stuck in a tool loop.
    pub(crate) tool_loop: bool,
    /// The bot's git credential has expired.
    pub(crate) git_auth_failing: bool,
    /// The bot's configuration breaks its model API client.
    pub(crate) bad_config: bool,
    /// The MCP server's current release fails tool calls.
    pub(crate) mcp_broken: bool,
    /// Share of CI runs failing, when a flaky-ci incident is active.
    pub(crate) ci_failure_share: Option<f64>,
}

/// Share of requests failing during a provider-timeouts incident.
const TIMEOUT_SHARE: f64 = 0.85;
/// Rate-limit storms come in bursts: `BURST_ON` minutes of every `BURST_CYCLE`.
const BURST_CYCLE: i64 = 20;
const BURST_ON: i64 = 13;
const BURST_SHARE: f64 = 0.9;
const BETWEEN_BURSTS_SHARE: f64 = 0.1;
/// Latency multiplier reached at the end of a latency creep.
const CREEP_FACTOR: f64 = 6.0;
const OUTAGE_SHARE: f64 = 0.85;
const CI_FAILURE_SHARE: f64 = 0.9;
/// Quota exhaustion: the precursor lasts about this long …
const QUOTA_LEAD: i64 = 2 * DAY;
/// … while the share of rate-limited requests rises linearly between these (Codex logs
/// every attempt, and a rate-limited request fails all five of its attempts, so at 0.8% of
/// requests its availability SLO sees about 4.4% failed attempts: a burn under the 6 h
/// page's 6) …
const QUOTA_PRECURSOR_SHARE: (f64, f64) = (0.002, 0.008);
/// … and then this share is rate limited until the quota resets.
const QUOTA_SHARE: f64 = 0.8;

impl Effects {
    /// The effects at `t` for `bot` (`None`: fleet-wide only, as the CI runner sees them).
    pub(crate) fn at(incidents: &[Incident], bot: Option<&Bot>, t: i64) -> Effects {
        let mut effects = Effects::default();
        for incident in incidents.iter().filter(|i| i.active(t)) {
            effects.add(incident, bot, t);
        }
        effects
    }

    fn add(&mut self, incident: &Incident, bot: Option<&Bot>, t: i64) {
        let this_bot = |index: usize| bot.is_some_and(|b| b.index == index);
        match (incident.scenario, incident.target) {
            (ScenarioKind::ProviderTimeouts, Target::Provider(provider)) => {
                self.api.push(ApiEffect::failing(
                    provider,
                    TIMEOUT_SHARE,
                    FailureMode::Timeout,
                ));
            }
            (ScenarioKind::RateLimitStorm, Target::Provider(provider)) => {
                let minute = (t - incident.start).div_euclid(MINUTE);
                let share = if minute % BURST_CYCLE < BURST_ON {
                    BURST_SHARE
                } else {
                    BETWEEN_BURSTS_SHARE
                };
                self.api.push(ApiEffect::failing(
                    provider,
                    share,
                    FailureMode::RateLimited,
                ));
            }
            (ScenarioKind::LatencyCreep, Target::Model(model)) => {
                self.api.push(creep_effect(incident, model, t));
            }
            (ScenarioKind::QuotaExhaustion, Target::Provider(provider)) => {
                let share = if t < incident.start {
                    let x = (t - incident.first_effect()) as f64
                        / (incident.start - incident.first_effect()).max(1) as f64;
                    let (from, to) = QUOTA_PRECURSOR_SHARE;
                    from + (to - from) * x
                } else {
                    QUOTA_SHARE
                };
                self.api.push(ApiEffect::failing(
                    provider,
                    share,
                    FailureMode::RateLimited,
                ));
            }
            (ScenarioKind::ToolLoop, Target::Bot(index)) => self.tool_loop |= this_bot(index),
            (ScenarioKind::GitCredentialExpiry, Target::Bot(index)) => {
                self.git_auth_failing |= this_bot(index);
            }
            (ScenarioKind::BadConfig, Target::Bot(index)) if this_bot(index) => {
                self.bad_config = true;
                let mut effect = ApiEffect::failing(Provider::Anthropic, 1.0, FailureMode::Refused);
                effect.any_provider = true;
                self.api.push(effect);
            }
            (ScenarioKind::BadToolVersion, _) => self.mcp_broken = true,
            (ScenarioKind::FlakyCi, _) => self.ci_failure_share = Some(CI_FAILURE_SHARE),
            _ => {}
        }
    }

    /// How calls to `model` behave now.
    pub(crate) fn api(&self, model: &Model) -> ApiCondition {
        let mut condition = ApiCondition {
            latency_factor: 1.0,
            failure: None,
        };
        for effect in self.api.iter().filter(|e| e.applies_to(model)) {
            condition.latency_factor *= effect.latency_factor;
            if effect.failure_share > condition.failure.map_or(0.0, |(share, _)| share) {
                condition.failure = Some((effect.failure_share, effect.failure));
            }
        }
        condition
    }
}

impl ApiEffect {
    fn failing(provider: Provider, share: f64, failure: FailureMode) -> ApiEffect {
        ApiEffect {
            provider,
            model: None,
            any_provider: false,
            latency_factor: 1.0,
            failure_share: share,
            failure,
        }
    }

    fn applies_to(&self, model: &Model) -> bool {
        self.any_provider
            || (self.provider == model.provider && self.model.is_none_or(|m| m == model.name))
    }
}

/// Latency creep: the multiplier grows linearly from 1 to [`CREEP_FACTOR`] over the
/// precursor, then the outage fails most requests and the rest stay slow.
fn creep_effect(incident: &Incident, model: &'static Model, t: i64) -> ApiEffect {
    let creep_start = incident.first_effect();
    let (latency_factor, failure_share) = if t < incident.start {
        let x = (t - creep_start) as f64 / (incident.start - creep_start).max(1) as f64;
        (1.0 + (CREEP_FACTOR - 1.0) * x, 0.0)
    } else {
        (CREEP_FACTOR, OUTAGE_SHARE)
    };
    ApiEffect {
        provider: model.provider,
        model: Some(model.name),
        any_provider: false,
        latency_factor,
        failure_share,
        failure: FailureMode::Overloaded,
    }
}

/// The simulated span of a run and what scheduling needs to know about it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunSpan {
    pub(crate) start: i64,
    pub(crate) end: i64,
    /// Live runs go on past `end`, so incidents are not cut there.
    pub(crate) live: bool,
}

/// Plans the incidents of a run.
pub(crate) fn schedule(
    seed: u64,
    fleet: &Fleet,
    rhythm: Rhythm,
    span: RunSpan,
    selection: &ScenarioSelection,
) -> Result<Vec<Incident>, ScenarioError> {
    let mut incidents = match selection {
        ScenarioSelection::None => Vec::new(),
        ScenarioSelection::Default => {
            let kinds: Vec<ScenarioKind> = ScenarioKind::ALL
                .into_iter()
                .filter(|k| k.in_default_schedule())
                .collect();
            default_schedule(seed, fleet, rhythm, span, &kinds)
        }
        ScenarioSelection::Kinds(kinds) => default_schedule(seed, fleet, rhythm, span, kinds),
        ScenarioSelection::List(placements) => placed(seed, fleet, span, placements)?,
    };
    if !span.live {
        for incident in &mut incidents {
            incident.end = incident.end.min(span.end);
        }
    }
    Ok(incidents)
}

fn placed(
    seed: u64,
    fleet: &Fleet,
    span: RunSpan,
    placements: &[Placement],
) -> Result<Vec<Incident>, ScenarioError> {
    let mut sorted: Vec<(i64, ScenarioKind, Option<i64>)> = placements
        .iter()
        .map(|p| {
            let at = match p.when {
                When::At(t) => t,
                When::BeforeEnd(secs) => span.end - secs,
            };
            (at, p.kind, p.duration)
        })
        .collect();
    sorted.sort();
    let mut incidents = Vec::with_capacity(sorted.len());
    for (n, (at, kind, duration)) in sorted.into_iter().enumerate() {
        let mut rng = Rng::derive(seed, &[0x91ACE, n as u64]);
        let incident = build(kind, at, duration, &mut rng, fleet, &incidents)?;
        incidents.push(incident);
    }
    Ok(incidents)
}

/// Quiet time before the first scheduled incident, so SLO windows see a baseline.
const WARM_UP: i64 = 6 * HOUR;
/// Quiet time after an incident: enough for every alert window to clear.
const COOL_DOWN: (i64, i64) = (8 * HOUR, 36 * HOUR);
/// Scheduling looks at most this far ahead for a working-hours slot.
const SLOT_SEARCH_DAYS: i64 = 14;

/// Schedules incidents of `kinds` (each in turn, in a shuffled order) across the span.
fn default_schedule(
    seed: u64,
    fleet: &Fleet,
    rhythm: Rhythm,
    span: RunSpan,
    kinds: &[ScenarioKind],
) -> Vec<Incident> {
    let mut rng = Rng::derive(seed, &[0x5C4ED]);
    let applicable: Vec<ScenarioKind> = kinds
        .iter()
        .copied()
        .filter(|k| {
            *k != ScenarioKind::BadToolVersion
                || fleet.bots.iter().any(|b| b.kind == AgentKind::GenAi)
        })
        .collect();
    let mut incidents: Vec<Incident> = Vec::new();
    let mut queue: Vec<ScenarioKind> = Vec::new();
    let mut cursor = span.start + WARM_UP.min((span.end - span.start) / 4);
    while cursor < span.end {
        if queue.is_empty() {
            queue = shuffled(&applicable, &mut rng);
        }
        let Some((position, incident)) = queue.iter().enumerate().find_map(|(i, kind)| {
            let mut attempt = rng.clone();
            let start = next_slot(rhythm, cursor, *kind, &mut attempt)?;
            let incident = build(*kind, start, None, &mut attempt, fleet, &incidents).ok()?;
            (incident.end + 30 * MINUTE <= span.end).then_some((i, incident))
        }) else {
            break;
        };
        rng.u64();
        queue.remove(position);
        cursor = incident.end + rng.int_in(COOL_DOWN.0, COOL_DOWN.1);
        incidents.push(incident);
    }
    incidents
}

fn shuffled(kinds: &[ScenarioKind], rng: &mut Rng) -> Vec<ScenarioKind> {
    let mut out = kinds.to_vec();
    for i in (1..out.len()).rev() {
        let j = rng.int_in(0, i as i64) as usize;
        out.swap(i, j);
    }
    out
}

/// A minute-aligned first effect for `kind` in the first weekday window (its local start
/// hours) ending after `after`, uniformly within the part of it that is after `after`. The
/// day `kind.lead_days()` later must be a weekday too.
fn next_slot(rhythm: Rhythm, after: i64, kind: ScenarioKind, rng: &mut Rng) -> Option<i64> {
    let window = kind.start_window();
    let midnight = rhythm.local_midnight(after);
    (0..SLOT_SEARCH_DAYS).find_map(|day| {
        let day_start = midnight + day * DAY;
        let lo = day_start + (window.0 * HOUR as f64) as i64;
        let hi = day_start + (window.1 * HOUR as f64) as i64;
        let noon = day_start + 12 * HOUR;
        let weekdays = rhythm.is_weekday(noon) && rhythm.is_weekday(noon + kind.lead_days() * DAY);
        if !weekdays || hi <= after {
            return None;
        }
        let from = lo.max(after);
        Some(super::clock::floor_minute(from + rng.int_in(0, hi - from)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::fleet;

    /// Friday 2025-03-07 00:00 UTC.
    const END: i64 = 1_741_305_600;

    /// Incidents placed by hand over the last `days` before [`END`] (seed 5, UTC).
    fn place(
        fleet: &Fleet,
        days: i64,
        placements: Vec<Placement>,
    ) -> Result<Vec<Incident>, ScenarioError> {
        schedule(
            5,
            fleet,
            Rhythm::new(0),
            span(days),
            &ScenarioSelection::List(placements),
        )
    }

    fn span(days: i64) -> RunSpan {
        RunSpan {
            start: END - days * DAY,
            end: END,
            live: false,
        }
    }

    #[test]
    fn placements_parse_absolute_and_relative_times() {
        let p: Placement = "tool-loop@-90m".parse().unwrap();
        assert_eq!(p.kind, ScenarioKind::ToolLoop);
        assert_eq!(p.when, When::BeforeEnd(5_400));
        let p: Placement = "flaky-ci@2025-03-03T10:00:00+01:00".parse().unwrap();
        assert_eq!(p.when, When::At(1_740_992_400));
        assert!(matches!(
            "nope@-1h".parse::<Placement>(),
            Err(ScenarioError::UnknownKind(_))
        ));
        assert!(matches!(
            "flaky-ci@yesterday".parse::<Placement>(),
            Err(ScenarioError::InvalidTime(_))
        ));
    }

    #[test]
    fn the_default_schedule_is_deterministic_and_never_overlaps() {
        let fleet = fleet::build(5, 6);
        let rhythm = Rhythm::new(0);
        let a = schedule(5, &fleet, rhythm, span(28), &ScenarioSelection::Default).unwrap();
        let b = schedule(5, &fleet, rhythm, span(28), &ScenarioSelection::Default).unwrap();
        assert_eq!(a, b);
        assert!(a.len() >= 8, "{} incidents in 28 days", a.len());
        for pair in a.windows(2) {
            assert!(pair[0].end + COOL_DOWN.0 <= pair[1].first_effect());
        }
        for incident in &a {
            assert!(rhythm.is_weekday(incident.first_effect()));
            assert!(incident.end <= END);
            assert!(!incident.affected_slos.is_empty());
        }
        let kinds: std::collections::BTreeSet<_> = a.iter().map(|i| i.scenario).collect();
        let default_kinds = ScenarioKind::ALL.iter().filter(|k| k.in_default_schedule());
        assert_eq!(kinds.len(), default_kinds.count());
    }

    #[test]
    fn a_schedule_of_chosen_kinds_draws_only_those_and_fails_on_weekdays() {
        let fleet = fleet::build(5, 6);
        let rhythm = Rhythm::new(0);
        let selection: ScenarioSelection = "quota-exhaustion, latency-creep".parse().unwrap();
        let incidents = schedule(5, &fleet, rhythm, span(28), &selection).unwrap();
        assert!(incidents.len() >= 6, "{} incidents", incidents.len());
        let kinds: std::collections::BTreeSet<_> = incidents.iter().map(|i| i.scenario).collect();
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            [ScenarioKind::LatencyCreep, ScenarioKind::QuotaExhaustion]
        );
        for incident in &incidents {
            assert!(rhythm.is_weekday(incident.start), "{incident:?}");
            assert!(incident.scenario.has_precursor());
            let lead = incident.start - incident.first_effect();
            if incident.scenario == ScenarioKind::QuotaExhaustion {
                assert!((2 * DAY - HOUR..=2 * DAY + HOUR).contains(&lead), "{lead}");
            }
        }
    }

    #[test]
    fn selections_parse_as_placements_or_kinds_but_not_both() {
        assert_eq!(
            "default".parse::<ScenarioSelection>(),
            Ok(ScenarioSelection::Default)
        );
        assert_eq!(
            "none".parse::<ScenarioSelection>(),
            Ok(ScenarioSelection::None)
        );
        assert!(matches!(
            "tool-loop@-2h,flaky-ci@-1d".parse::<ScenarioSelection>(),
            Ok(ScenarioSelection::List(list)) if list.len() == 2
        ));
        assert_eq!(
            "flaky-ci,tool-loop,flaky-ci".parse::<ScenarioSelection>(),
            Ok(ScenarioSelection::Kinds(vec![
                ScenarioKind::ToolLoop,
                ScenarioKind::FlakyCi
            ]))
        );
        assert!(matches!(
            "flaky-ci,tool-loop@-2h".parse::<ScenarioSelection>(),
            Err(ScenarioError::Mixed(item)) if item == "tool-loop@-2h"
        ));
        assert!(matches!(
            "flaky".parse::<ScenarioSelection>(),
            Err(ScenarioError::UnknownKind(_))
        ));
    }

    #[test]
    fn quota_exhaustion_rate_limits_a_rising_share_then_most_requests() {
        let fleet = fleet::build(5, 6);
        let placements = vec!["quota-exhaustion@-3d".parse().unwrap()];
        let incidents = place(&fleet, 3, placements).unwrap();
        let incident = &incidents[0];
        let Target::Provider(provider) = incident.target else {
            panic!("quota exhaustion targets a provider");
        };
        let model = creep_model(provider);
        let share = |t: i64| {
            Effects::at(&incidents, None, t)
                .api(model)
                .failure
                .map(|(s, mode)| (s, mode == FailureMode::RateLimited))
        };
        let first = incident.first_effect();
        assert_eq!(share(first - MINUTE), None);
        assert_eq!(share(first), Some((QUOTA_PRECURSOR_SHARE.0, true)));
        let (mid, _) = share((first + incident.start) / 2).unwrap();
        // Half way between 0.2% and 0.8%.
        assert!((mid - 0.005).abs() < 1e-3, "{mid}");
        assert_eq!(share(incident.start), Some((QUOTA_SHARE, true)));
        assert_eq!(share(incident.end), None);
        assert!(!incident.affected_slos.is_empty());
    }

    #[test]
    fn mcp_versions_and_config_revisions_follow_the_incidents() {
        let fleet = fleet::build(5, 6);
        let placements = vec![
            "bad-tool-version@-20h".parse().unwrap(),
            "bad-tool-version@-5h".parse().unwrap(),
        ];
        let incidents = place(&fleet, 1, placements).unwrap();
        assert_eq!(mcp_version(&incidents, END - 21 * HOUR), "1.4.2");
        assert_eq!(mcp_version(&incidents, END - 20 * HOUR), "1.5.0");
        assert_eq!(mcp_version(&incidents, END - 6 * HOUR), "1.5.1");
        assert_eq!(mcp_version(&incidents, END - 5 * HOUR), "1.6.0");
        assert_eq!(
            incidents[1].root_cause.previous_version.as_deref(),
            Some("1.5.1")
        );
        assert_eq!(config_revision(&incidents, 0, END), 40);
    }

    #[test]
    fn bad_tool_version_needs_a_genai_agent() {
        let fleet = fleet::build(5, 1);
        let placements = vec!["bad-tool-version@-2h".parse().unwrap()];
        let result = place(&fleet, 1, placements);
        assert!(matches!(result, Err(ScenarioError::NotApplicable { .. })));
    }

    #[test]
    fn rate_limit_storms_come_in_bursts() {
        let fleet = fleet::build(5, 6);
        let placements = vec!["rate-limit-storm@-3h".parse().unwrap()];
        let incidents = place(&fleet, 1, placements).unwrap();
        let Target::Provider(provider) = incidents[0].target else {
            panic!("a storm targets a provider");
        };
        let model = match provider {
            Provider::Anthropic => &SONNET,
            Provider::OpenAi => &GPT_5_CODEX,
            Provider::Google => &GEMINI_PRO,
        };
        let share = |minute: i64| {
            Effects::at(&incidents, None, incidents[0].start + minute * MINUTE)
                .api(model)
                .failure
                .map(|(s, _)| s)
        };
        assert_eq!(share(0), Some(BURST_SHARE));
        assert_eq!(share(BURST_ON), Some(BETWEEN_BURSTS_SHARE));
        assert_eq!(share(BURST_CYCLE), Some(BURST_SHARE));
        assert_eq!(share(-1), None);
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90m"), Some(5_400));
        assert_eq!(parse_duration("1.5d"), Some(129_600));
        assert_eq!(parse_duration("2x"), None);
        assert_eq!(parse_duration("-2h"), None);
    }
}
