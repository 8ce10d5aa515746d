//! Telemetry of agents instrumented with the OpenTelemetry GenAI semantic conventions:
//! one trace per task, rendered from a [`Work`].
//!
//! ```text
//! invoke_agent {agent}            INTERNAL  gen_ai.operation.name=invoke_agent
//! ├── git fetch / git clone       CLIENT    vcs.repository.url.full, vcs.ref.head.name
//! ├── chat {model}                CLIENT    gen_ai.operation.name=chat, provider, models,
//! │                                         usage tokens; error.type + ERROR on failure
//! ├── execute_tool {tool}         INTERNAL  gen_ai.operation.name=execute_tool
//! ├── tools/call {tool}           CLIENT    mcp.method.name=tools/call, gen_ai.tool.name,
//! │   └── tools/call {tool}       SERVER    (on the MCP server's own resource)
//! └── git push                    CLIENT
//! ```
//!
//! Every chat call is also observed in the `gen_ai.client.operation.duration` histogram
//! (seconds, the semantic conventions' bucket boundaries).

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use super::otlp::{self, CounterInfo, Histograms, SpanSpec, int, string};
use super::rng::Rng;
use super::unit::{BotOutput, Unit};
use super::work::{Action, Failure, GitOp, ModelCall, Step, ToolRun, Work};

/// Instrumentation scope of the agents' spans and metrics.
pub(crate) const SCOPE: &str = "agent-runtime";
/// Instrumentation scope of the MCP server's spans.
pub(crate) const MCP_SCOPE: &str = "mcp-server";

pub(crate) const OPERATION_DURATION: CounterInfo = CounterInfo {
    name: "gen_ai.client.operation.duration",
    unit: "s",
    description: "GenAI operation duration",
};

/// Bucket boundaries the GenAI semantic conventions recommend for operation duration.
pub(crate) static DURATION_BOUNDS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// Renders one task of a GenAI agent into `out`: spans, MCP server spans and
/// histogram observations.
pub(crate) fn render(unit: &Unit, work: &Work, rng: &mut Rng, out: &mut BotOutput) {
    let trace_id: [u8; 16] = rng.id();
    let root_id: [u8; 8] = rng.id();
    let agent = unit.bot.service_name;
    let model = unit.bot.main_model();
    let mut task = Task {
        unit,
        trace_id,
        root_id,
        rng,
        out,
    };
    for (end_ms, step) in &work.steps {
        match step {
            Step::Model(call) => task.chat(*end_ms, call),
            Step::Tool(run) => task.tool(*end_ms, run),
        }
    }
    let failed = work
        .steps
        .iter()
        .any(|(_, s)| matches!(s, Step::Model(c) if c.failed()));
    let root = SpanSpec {
        trace_id,
        span_id: root_id,
        parent: None,
        name: format!("invoke_agent {agent}"),
        kind: SpanKind::Internal,
        start: unit.span_time(0.0),
        end: unit.span_time(work.duration_ms + 5.0),
        attributes: vec![
            string("gen_ai.operation.name", "invoke_agent"),
            string("gen_ai.agent.name", agent),
            string("gen_ai.agent.id", unit.bot.id.clone()),
            string("gen_ai.provider.name", model.provider.semconv_name()),
            string("gen_ai.request.model", model.name),
            string("gen_ai.conversation.id", unit.session.id.clone()),
        ],
        error: failed.then(|| "model request failed".to_string()),
    };
    task.out.spans.push(root.finish());
}

/// One task's trace under construction.
struct Task<'a, 'u> {
    unit: &'a Unit<'u>,
    trace_id: [u8; 16],
    root_id: [u8; 8],
    rng: &'a mut Rng,
    out: &'a mut BotOutput,
}

impl Task<'_, '_> {
    fn child(&mut self, name: String, kind: SpanKind, start_ms: f64, end_ms: f64) -> SpanSpec {
        SpanSpec {
            trace_id: self.trace_id,
            span_id: self.rng.id(),
            parent: Some(self.root_id),
            name,
            kind,
            start: self.unit.span_time(start_ms),
            end: self.unit.span_time(end_ms),
            attributes: Vec::new(),
            error: None,
        }
    }

    /// A `chat` span covering all attempts (the SDK retries inside the call), and its
    /// histogram observation.
    fn chat(&mut self, end_ms: f64, call: &ModelCall) {
        let total: f64 = call.attempts.iter().map(|a| a.duration_ms).sum();
        let model = call.model;
        let mut span = self.child(
            format!("chat {}", model.name),
            SpanKind::Client,
            end_ms - total,
            end_ms,
        );
        let mut series: otlp::Series = vec![
            ("gen_ai.operation.name", "chat".into()),
            ("gen_ai.provider.name", model.provider.semconv_name().into()),
            ("gen_ai.request.model", model.name.into()),
            ("server.address", model.provider.server_address().into()),
        ];
        span.attributes = series.iter().map(|(k, v)| string(k, v.clone())).collect();
        match call.last().failure {
            None => {
                span.attributes.extend([
                    string("gen_ai.response.model", model.name),
                    int(
                        "gen_ai.usage.input_tokens",
                        (call.tokens.input + call.tokens.cache_read) as i64,
                    ),
                    int("gen_ai.usage.output_tokens", call.tokens.output as i64),
                    string("gen_ai.response.id", format!("msg_{}", self.rng.hex(12))),
                ]);
                series.push(("gen_ai.response.model", model.name.into()));
            }
            Some(failure) => {
                let error_type = error_type(failure);
                if let Some(code) = failure.status() {
                    span.attributes
                        .push(int("http.response.status_code", i64::from(code)));
                }
                span.attributes
                    .push(string("error.type", error_type.clone()));
                span.error = Some(error_message(failure));
                series.push(("error.type", error_type));
            }
        }
        self.out.spans.push(span.finish());
        if let Some(histograms) = self.out.histograms.as_mut() {
            histograms.record(series, total / 1000.0);
        }
    }

    fn tool(&mut self, end_ms: f64, run: &ToolRun) {
        let start_ms = end_ms - run.duration_ms;
        match &run.action {
            Action::Shell { git: Some(op), .. } => self.git(*op, start_ms, end_ms, run),
            Action::Mcp {
                tool, shared: true, ..
            } => self.mcp(tool, start_ms, end_ms, run),
            action => self.execute_tool(tool_name(action), start_ms, end_ms, run),
        }
    }

    fn execute_tool(&mut self, tool: &str, start_ms: f64, end_ms: f64, run: &ToolRun) {
        let mut span = self.child(
            format!("execute_tool {tool}"),
            SpanKind::Internal,
            start_ms,
            end_ms,
        );
        span.attributes = vec![
            string("gen_ai.operation.name", "execute_tool"),
            string("gen_ai.tool.name", tool),
            string("gen_ai.tool.type", "function"),
            string("gen_ai.tool.call.id", format!("toolu_{}", self.rng.hex(8))),
        ];
        if let Some(error) = &run.error {
            span.attributes.push(string("error.type", "tool_error"));
            span.error = Some(error.clone());
        }
        self.out.spans.push(span.finish());
    }

    /// An MCP `tools/call` client span and the server's span under it.
    fn mcp(&mut self, tool: &str, start_ms: f64, end_ms: f64, run: &ToolRun) {
        let name = format!("tools/call {tool}");
        let request_id = self.rng.int_in(1, 1_000_000);
        let attributes = vec![
            string("mcp.method.name", "tools/call"),
            string("gen_ai.tool.name", tool),
            string("gen_ai.operation.name", "execute_tool"),
            string("mcp.session.id", self.unit.session.mcp_session_id.clone()),
            string("mcp.protocol.version", "2025-06-18"),
            string("jsonrpc.request.id", request_id.to_string()),
            string("network.transport", "tcp"),
        ];
        let mut client = self.child(name.clone(), SpanKind::Client, start_ms, end_ms);
        client.attributes = attributes.clone();
        let mut server = SpanSpec {
            span_id: self.rng.id(),
            parent: Some(client.span_id),
            kind: SpanKind::Server,
            start: self.unit.span_time(start_ms + 3.0),
            end: self.unit.span_time(end_ms - 3.0),
            ..client.clone()
        };
        server.attributes = attributes;
        if let Some(error) = &run.error {
            for span in [&mut client, &mut server] {
                span.attributes.push(string("error.type", "tool_error"));
                span.error = Some(error.clone());
            }
        }
        self.out.spans.push(client.finish());
        self.out.mcp_spans.push(server.finish());
    }

    fn git(&mut self, op: GitOp, start_ms: f64, end_ms: f64, run: &ToolRun) {
        let kind = if op.remote() {
            SpanKind::Client
        } else {
            SpanKind::Internal
        };
        let mut span = self.child(format!("git {}", op.name()), kind, start_ms, end_ms);
        let repo = self.unit.bot.repo;
        span.attributes = vec![
            string("vcs.repository.url.full", repo),
            string(
                "vcs.repository.name",
                repo.rsplit('/').next().unwrap_or(repo),
            ),
            string("vcs.ref.head.name", self.unit.session.branch.clone()),
            string("vcs.ref.head.type", "branch"),
            string("vcs.provider.name", "github"),
        ];
        if let Some(error) = &run.error {
            let error_type = if error.contains("Authentication failed") {
                "authentication_failed"
            } else {
                "git_error"
            };
            span.attributes.push(string("error.type", error_type));
            span.error = Some(error.lines().last().unwrap_or(error).to_string());
        }
        self.out.spans.push(span.finish());
    }
}

/// Local tools of the GenAI agents.
fn tool_name(action: &Action) -> &'static str {
    match action {
        Action::Read { .. } => "read_file",
        Action::Search { .. } => "search_code",
        Action::Edit { .. } | Action::Write { .. } => "apply_patch",
        Action::WebFetch { .. } => "web_fetch",
        Action::Shell { .. } => "run_tests",
        Action::Mcp { tool, .. } => tool,
    }
}

/// `error.type` as the instrumentations write it: the status code, or a transport
/// error class.
fn error_type(failure: Failure) -> String {
    match failure {
        Failure::Timeout => "timeout".into(),
        Failure::ConnectionReset | Failure::Refused => "connection_error".into(),
        Failure::Status(529) => "overloaded_error".into(),
        Failure::Status(code) => code.to_string(),
    }
}

fn error_message(failure: Failure) -> String {
    match failure {
        Failure::Timeout => "Request timed out".into(),
        Failure::ConnectionReset => "Connection reset by peer".into(),
        Failure::Refused => "Connection refused".into(),
        Failure::Status(code) => format!("HTTP {code}"),
    }
}

/// A new histogram accumulator with the semantic conventions' boundaries.
pub(crate) fn histograms() -> Histograms {
    Histograms::new(&DURATION_BOUNDS)
}

/// The MCP server's resource-level attributes (besides `service.version`).
pub(crate) fn mcp_resource(instance_id: &str, version: String) -> Vec<KeyValue> {
    vec![
        string("service.name", super::fleet::MCP_SERVER),
        string("service.version", version),
        string("service.instance.id", instance_id),
        string("host.name", "mcp-01.fleet.internal"),
        string("deployment.environment.name", "production"),
    ]
}
