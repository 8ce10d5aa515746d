//! Turning a [`Plan`] into telemetry, minute by minute.
//!
//! [`Generator`] is an unbounded iterator of per-minute [`Batches`] starting at the
//! plan's start: one OTLP export request per signal holding everything the fleet, the
//! MCP server and the CI runner emitted in that minute. It is pure and deterministic:
//! each bot's randomness in each minute comes from a stream named by (seed, bot,
//! minute), and the only state carried between minutes is what real agents carry
//! (sessions, CI runs in flight, cumulative histograms).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Metric, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::Plan;
use super::ci::{self, Ci};
use super::claude;
use super::cli;
use super::clock::{MINUTE, nanos};
use super::fleet::{AgentKind, Bot, CI_SERVICE};
use super::genai;
use super::otlp::{self, Histograms, string};
use super::rng::Rng;
use super::scenario::{Effects, config_revision, mcp_version};
use super::unit::{BotOutput, Push, Session, Unit};
use super::work::Planner;

/// Temporality of the `gen_ai.client.operation.duration` histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Temporality {
    /// Each point covers one minute (what Vigil's `genai-latency` SLO counts).
    #[default]
    Delta,
    /// Each point covers everything since the agent started (SDK default).
    Cumulative,
}

/// Records in a set of requests, by signal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub spans: u64,
    pub log_records: u64,
    pub data_points: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.spans + self.log_records + self.data_points
    }

    pub(crate) fn add(&mut self, other: Counts) {
        self.spans += other.spans;
        self.log_records += other.log_records;
        self.data_points += other.data_points;
    }
}

/// One export request per signal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batches {
    /// Unix seconds of the (first) minute the requests cover.
    pub minute: i64,
    pub traces: ExportTraceServiceRequest,
    pub logs: ExportLogsServiceRequest,
    pub metrics: ExportMetricsServiceRequest,
}

impl Batches {
    pub fn counts(&self) -> Counts {
        let spans = self
            .traces
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans);
        let logs = self.logs.resource_logs.iter().flat_map(|r| &r.scope_logs);
        let metrics = self
            .metrics
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics);
        Counts {
            spans: spans.map(|s| s.spans.len() as u64).sum(),
            log_records: logs.map(|s| s.log_records.len() as u64).sum(),
            data_points: metrics.flat_map(|s| &s.metrics).map(data_points).sum(),
        }
    }

    /// Appends `other`'s records (later minutes) to these requests.
    pub(crate) fn append(&mut self, other: Batches) {
        self.traces
            .resource_spans
            .extend(other.traces.resource_spans);
        self.logs.resource_logs.extend(other.logs.resource_logs);
        self.metrics
            .resource_metrics
            .extend(other.metrics.resource_metrics);
    }
}

fn data_points(metric: &Metric) -> u64 {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    match &metric.data {
        Some(Data::Sum(s)) => s.data_points.len() as u64,
        Some(Data::Gauge(g)) => g.data_points.len() as u64,
        Some(Data::Histogram(h)) => h.data_points.len() as u64,
        Some(Data::ExponentialHistogram(h)) => h.data_points.len() as u64,
        Some(Data::Summary(s)) => s.data_points.len() as u64,
        None => 0,
    }
}

/// Units of work per minute of a bot stuck in a tool loop.
const LOOP_PER_MINUTE: f64 = 12.0;
/// Units of work per minute of a bot whose harness restarts failing turns.
const RESTARTS_PER_MINUTE: f64 = 8.0;
/// A turn whose model call failed for good is run again (the bot's harness re-queues
/// the prompt) with this probability, at most this many times.
const RERUN_SHARE: f64 = 0.7;
const MAX_RERUNS: u32 = 2;
/// A session ends after this much idle time.
const SESSION_IDLE: i64 = 30 * MINUTE;

/// Labels of the random streams.
const STREAM_BOT: u64 = 1;
const STREAM_CI: u64 = 2;

/// What the generator keeps about one bot between minutes.
#[derive(Debug, Default)]
struct BotState {
    session: Option<Session>,
    loop_iterations: u64,
    /// Cumulative histogram streams since the start (cumulative temporality only).
    cumulative: Option<Histograms>,
}

impl BotState {
    /// The session for a unit of work at `t`, starting a new one when the last went
    /// idle or ran its course; true when it is new.
    fn session_at(&mut self, bot: &Bot, t: i64, rng: &mut Rng) -> (Session, bool) {
        let current = self
            .session
            .take()
            .filter(|s| t - s.last_active <= SESSION_IDLE && s.units_left > 0);
        let is_new = current.is_none();
        let mut session = current.unwrap_or_else(|| new_session(bot, t, rng));
        session.last_active = t;
        session.units_left -= 1;
        self.session = Some(session.clone());
        (session, is_new)
    }
}

fn new_session(bot: &Bot, t: i64, rng: &mut Rng) -> Session {
    const TOPICS: [&str; 5] = ["fix", "feat", "refactor", "deps", "docs"];
    Session {
        id: rng.uuid(),
        branch: format!("{}/{}-{}", bot.id, rng.pick(&TOPICS), rng.int_in(100, 999)),
        mcp_session_id: rng.hex(16),
        last_active: t,
        units_left: rng.int_in(5, 40) as u32,
    }
}

/// Per-minute telemetry of a plan; see the module docs.
#[derive(Debug)]
pub struct Generator<'p> {
    plan: &'p Plan,
    next_minute: i64,
    bots: Vec<BotState>,
    ci: Ci,
}

impl<'p> Generator<'p> {
    /// A generator positioned at the plan's start.
    pub fn new(plan: &'p Plan) -> Generator<'p> {
        let bots = plan
            .fleet
            .bots
            .iter()
            .map(|_| BotState {
                cumulative: (plan.histogram_temporality == Temporality::Cumulative)
                    .then(genai::histograms),
                ..BotState::default()
            })
            .collect();
        Generator {
            plan,
            next_minute: plan.start,
            bots,
            ci: Ci::new(),
        }
    }

    fn minute(&mut self, t: i64) -> Batches {
        let plan = self.plan;
        let mut batches = Batches {
            minute: t,
            ..Batches::default()
        };
        let mut mcp_spans = Vec::new();
        let mut pushes = Vec::new();
        for (bot, state) in plan.fleet.bots.iter().zip(&mut self.bots) {
            let mut rng = Rng::derive(plan.seed, &[STREAM_BOT, bot.index as u64, t as u64]);
            let effects = Effects::at(&plan.incidents, Some(bot), t);
            let mut out = bot_minute(plan, bot, state, &effects, t, &mut rng);
            mcp_spans.append(&mut out.mcp_spans);
            pushes.append(&mut out.pushes);
            add_bot_output(&mut batches, plan, bot, state, out, t);
        }
        if !mcp_spans.is_empty() {
            let resource =
                genai::mcp_resource(&plan.fleet.mcp_instance_id, mcp_version(&plan.incidents, t));
            batches.traces.resource_spans.push(resource_spans(
                resource,
                genai::MCP_SCOPE,
                "1",
                mcp_spans,
            ));
        }
        self.ci_minute(&pushes, t, &mut batches);
        batches
    }

    fn ci_minute(&mut self, pushes: &[Push], t: i64, batches: &mut Batches) {
        let plan = self.plan;
        let failure_share = Effects::at(&plan.incidents, None, t).ci_failure_share;
        let mut rng = Rng::derive(plan.seed, &[STREAM_CI, t as u64]);
        for push in pushes {
            self.ci.start(push, failure_share, &mut rng);
        }
        let spans = self.ci.finished(nanos(t + MINUTE, 0.0));
        if !spans.is_empty() {
            let resource = vec![
                string("service.name", CI_SERVICE),
                string("service.version", "2.328.0"),
                string("service.instance.id", plan.fleet.ci_instance_id.clone()),
                string("host.name", "ci-runner-01.fleet.internal"),
                string("deployment.environment.name", "production"),
            ];
            batches.traces.resource_spans.push(resource_spans(
                resource,
                ci::SCOPE,
                "2.328.0",
                spans,
            ));
        }
    }
}

impl Iterator for Generator<'_> {
    type Item = Batches;

    fn next(&mut self) -> Option<Batches> {
        let t = self.next_minute;
        self.next_minute += MINUTE;
        Some(self.minute(t))
    }
}

/// Everything one bot does in the minute starting at `t`.
fn bot_minute(
    plan: &Plan,
    bot: &Bot,
    state: &mut BotState,
    effects: &Effects,
    t: i64,
    rng: &mut Rng,
) -> BotOutput {
    let mut out = BotOutput {
        histograms: (bot.kind == AgentKind::GenAi).then(genai::histograms),
        ..BotOutput::default()
    };
    let rate = if effects.tool_loop {
        LOOP_PER_MINUTE
    } else if effects.bad_config {
        RESTARTS_PER_MINUTE
    } else {
        bot.peak_per_hour / 60.0 * plan.activity * plan.rhythm.intensity(t)
    };
    if !effects.tool_loop {
        state.loop_iterations = 0;
    }
    let mut offsets: Vec<f64> = (0..rng.poisson(rate))
        .map(|_| rng.range(0.0, 60_000.0))
        .collect();
    offsets.sort_by(f64::total_cmp);
    let mut queue: std::collections::VecDeque<(f64, u32)> =
        offsets.into_iter().map(|o| (o, 0)).collect();
    while let Some((offset, reruns)) = queue.pop_front() {
        let (session, first_in_session) = state.session_at(bot, t, rng);
        let mut planner = Planner {
            bot,
            effects,
            rng,
            branch: &session.branch,
        };
        let work = if effects.tool_loop {
            state.loop_iterations += 1;
            planner.loop_iteration(state.loop_iterations)
        } else {
            planner.turn()
        };
        let start_ms = offset.min((60_000.0 - work.duration_ms).max(0.0));
        let unit = Unit {
            bot,
            session: &session,
            first_in_session,
            organization_id: &plan.fleet.organization_id,
            start_ns: nanos(t, start_ms),
            limit_ns: nanos(t + MINUTE, 0.0),
        };
        match bot.kind {
            AgentKind::ClaudeCode => claude::render(&unit, &work, &mut out),
            AgentKind::Codex => cli::render_codex(&unit, &work, &mut out),
            AgentKind::GeminiCli => cli::render_gemini(&unit, &work, &mut out),
            AgentKind::GenAi => genai::render(&unit, &work, rng, &mut out),
        }
        if work.failed() && reruns < MAX_RERUNS && rng.chance(RERUN_SHARE) {
            let again = start_ms + work.duration_ms + rng.range(2_000.0, 10_000.0);
            if again < 60_000.0 {
                let at = queue.partition_point(|(o, _)| *o <= again);
                queue.insert(at, (again, reruns + 1));
            }
        }
        out.pushes.extend(work.pushes.iter().map(|at| Push {
            at_ns: unit.span_time(*at),
            repo: bot.repo,
            branch: session.branch.clone(),
            bot_id: bot.id.clone(),
        }));
    }
    out
}

/// The resource attributes of a bot at `t`.
fn bot_resource(plan: &Plan, bot: &Bot, t: i64) -> Vec<KeyValue> {
    let revision = config_revision(&plan.incidents, bot.index, t);
    vec![
        string("service.name", bot.service_name),
        string("service.version", bot.service_version),
        string("service.instance.id", bot.instance_id.clone()),
        string("host.name", bot.host_name.clone()),
        string("host.arch", "amd64"),
        string("os.type", "linux"),
        string("deployment.environment.name", "production"),
        string("bot.id", bot.id.clone()),
        string("bot.kind", bot.kind.name()),
        string("bot.config.revision", format!("r{revision}")),
    ]
}

fn add_bot_output(
    batches: &mut Batches,
    plan: &Plan,
    bot: &Bot,
    state: &mut BotState,
    out: BotOutput,
    t: i64,
) {
    let resource = bot_resource(plan, bot, t);
    let version = bot.service_version;
    if !out.spans.is_empty() {
        batches.traces.resource_spans.push(resource_spans(
            resource.clone(),
            genai::SCOPE,
            version,
            out.spans,
        ));
    }
    if !out.logs.is_empty() {
        let scope = match bot.kind {
            AgentKind::ClaudeCode => claude::EVENT_SCOPE,
            AgentKind::Codex => cli::CODEX_SCOPE,
            _ => cli::GEMINI_SCOPE,
        };
        batches.logs.resource_logs.push(ResourceLogs {
            resource: Some(otlp::resource(resource.clone())),
            scope_logs: vec![ScopeLogs {
                scope: Some(otlp::scope(scope, version)),
                log_records: out.logs,
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    let (start, end) = (nanos(t, 0.0), nanos(t + MINUTE, 0.0));
    let mut metrics = Vec::new();
    let mut scope = genai::SCOPE;
    if !out.counters.is_empty() {
        metrics = out.counters.into_metrics(&claude::COUNTERS, start, end);
        scope = claude::METRIC_SCOPE;
    }
    if let Some(minute) = out.histograms {
        let info = &genai::OPERATION_DURATION;
        match state.cumulative.as_mut() {
            Some(cumulative) => {
                cumulative.merge(&minute);
                if !cumulative.is_empty() {
                    let since = nanos(plan.start, 0.0);
                    metrics.push(cumulative.to_metric(
                        info,
                        AggregationTemporality::Cumulative,
                        since,
                        end,
                    ));
                }
            }
            None if !minute.is_empty() => {
                metrics.push(minute.to_metric(info, AggregationTemporality::Delta, start, end));
            }
            None => {}
        }
    }
    if !metrics.is_empty() {
        batches.metrics.resource_metrics.push(ResourceMetrics {
            resource: Some(otlp::resource(resource)),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(otlp::scope(scope, version)),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        });
    }
}

fn resource_spans(
    resource: Vec<KeyValue>,
    scope: &str,
    version: &str,
    spans: Vec<Span>,
) -> ResourceSpans {
    ResourceSpans {
        resource: Some(otlp::resource(resource)),
        scope_spans: vec![ScopeSpans {
            scope: Some(otlp::scope(scope, version)),
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}
