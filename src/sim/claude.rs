//! Claude Code telemetry: OTLP log events (`api_request`, `api_error`, `tool_result`,
//! `tool_decision`, `user_prompt`) and delta counters (`claude_code.*`), rendered from
//! a [`Work`] as Claude Code exports them with `OTEL_LOG_TOOL_DETAILS=1`.
//!
//! `api_error` is sent once per request, after Claude Code's retries are exhausted;
//! `status_code` is absent when no response arrived. Versions before 2.0 send numeric
//! attributes as strings.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::SeverityNumber;

use super::clock::rfc3339_millis;
use super::otlp::{self, CounterInfo, Numbers, string};
use super::unit::{BotOutput, Unit};
use super::work::{Action, Failure, ModelCall, Step, ToolRun, Work};

/// Instrumentation scope of the log events.
pub(crate) const EVENT_SCOPE: &str = "com.anthropic.claude_code.events";
/// Instrumentation scope of the metrics.
pub(crate) const METRIC_SCOPE: &str = "com.anthropic.claude_code";

const TOKENS: CounterInfo = CounterInfo {
    name: "claude_code.token.usage",
    unit: "tokens",
    description: "Number of tokens used",
};
const COST: CounterInfo = CounterInfo {
    name: "claude_code.cost.usage",
    unit: "USD",
    description: "Cost of the Claude Code session",
};
const SESSIONS: CounterInfo = CounterInfo {
    name: "claude_code.session.count",
    unit: "",
    description: "Count of CLI sessions started",
};
const COMMITS: CounterInfo = CounterInfo {
    name: "claude_code.commit.count",
    unit: "",
    description: "Number of git commits created",
};
const PULL_REQUESTS: CounterInfo = CounterInfo {
    name: "claude_code.pull_request.count",
    unit: "",
    description: "Number of pull requests created",
};
const LINES: CounterInfo = CounterInfo {
    name: "claude_code.lines_of_code.count",
    unit: "",
    description: "Count of lines of code modified",
};

/// Every counter Claude Code exports, for units and descriptions.
pub(crate) const COUNTERS: [CounterInfo; 6] =
    [TOKENS, COST, SESSIONS, COMMITS, PULL_REQUESTS, LINES];

/// Renders one turn of Claude Code into `out`.
pub(crate) fn render(unit: &Unit, work: &Work, out: &mut BotOutput) {
    let numbers = Numbers {
        as_strings: unit.bot.numbers_as_strings,
    };
    if unit.first_in_session {
        out.counters.add(&SESSIONS, session_series(unit), 1.0);
    }
    let prompt = vec![numbers.int("prompt_length", work.prompt_length as i64)];
    out.logs.push(event(unit, "user_prompt", 0.0, prompt));
    for (end_ms, step) in &work.steps {
        match step {
            Step::Model(call) => model_call(unit, numbers, *end_ms, call, out),
            Step::Tool(run) => tool_run(unit, numbers, *end_ms, run, out),
        }
    }
    count_changes(unit, work, out);
}

fn model_call(unit: &Unit, numbers: Numbers, end_ms: f64, call: &ModelCall, out: &mut BotOutput) {
    let last = call.last();
    let mut attrs = vec![
        string("model", call.model.name),
        numbers.int("duration_ms", last.duration_ms.round() as i64),
    ];
    let Some(failure) = last.failure else {
        let t = call.tokens;
        attrs.extend([
            numbers.double("cost_usd", (call.cost_usd() * 1e6).round() / 1e6),
            numbers.int("input_tokens", t.input as i64),
            numbers.int("output_tokens", t.output as i64),
            numbers.int("cache_read_tokens", t.cache_read as i64),
            numbers.int("cache_creation_tokens", t.cache_creation as i64),
        ]);
        out.logs.push(event(unit, "api_request", end_ms, attrs));
        count_tokens(unit, call, out);
        return;
    };
    attrs.push(string("error", error_message(failure)));
    if let Some(code) = failure.status() {
        attrs.push(numbers.int("status_code", i64::from(code)));
    }
    attrs.push(numbers.int("attempt", call.attempts.len() as i64));
    out.logs.push(event(unit, "api_error", end_ms, attrs));
}

/// The `error` text Claude Code reports for a failed request.
fn error_message(failure: Failure) -> String {
    match failure {
        Failure::Timeout => "Request timed out.".into(),
        Failure::ConnectionReset | Failure::Refused => "Connection error.".into(),
        Failure::Status(429) => "429 rate_limit_error: Number of request tokens has exceeded \
                                 your per-minute rate limit"
            .into(),
        Failure::Status(529) => "529 overloaded_error: Overloaded".into(),
        Failure::Status(400) => "400 invalid_request_error: prompt is too long".into(),
        Failure::Status(code) => format!("{code} api_error: Internal server error"),
    }
}

fn tool_run(unit: &Unit, numbers: Numbers, end_ms: f64, run: &ToolRun, out: &mut BotOutput) {
    let name = tool_name(&run.action);
    let start_ms = end_ms - run.duration_ms;
    let legacy = unit.bot.numbers_as_strings;
    let decision = vec![
        string("tool_name", name.clone()),
        string("decision", "accept"),
        string("source", "config"),
    ];
    out.logs
        .push(event(unit, "tool_decision", start_ms, decision));
    let mut attrs = vec![
        string("tool_name", name),
        string(
            "success",
            if run.error.is_none() { "true" } else { "false" },
        ),
        numbers.int("duration_ms", run.duration_ms.round() as i64),
        // Claude Code 2.x renamed decision/source to decision_type/decision_source.
        string(if legacy { "decision" } else { "decision_type" }, "accept"),
        string(if legacy { "source" } else { "decision_source" }, "config"),
    ];
    if let Some(error) = &run.error {
        attrs.push(string("error", error.clone()));
    }
    if let Some(parameters) = tool_parameters(&run.action) {
        attrs.push(string("tool_parameters", parameters));
    }
    out.logs.push(event(unit, "tool_result", end_ms, attrs));
}

fn tool_name(action: &Action) -> String {
    match action {
        Action::Read { .. } => "Read".into(),
        Action::Edit { .. } => "Edit".into(),
        Action::Write { .. } => "Write".into(),
        Action::Search { .. } => "Grep".into(),
        Action::Shell { .. } => "Bash".into(),
        Action::WebFetch { .. } => "WebFetch".into(),
        Action::Mcp { server, tool, .. } => format!("mcp__{server}__{tool}"),
    }
}

/// `tool_parameters`: the Bash command or the MCP server and tool, as a JSON string.
fn tool_parameters(action: &Action) -> Option<String> {
    let value = match action {
        Action::Shell { command, .. } => serde_json::json!({ "bash_command": command }),
        Action::Mcp { server, tool, .. } => serde_json::json!({
            "mcp_server_name": server,
            "mcp_tool_name": tool,
        }),
        _ => return None,
    };
    Some(value.to_string())
}

/// A Claude Code event: body `claude_code.<name>`, `event.name` and the standard
/// attributes first.
fn event(
    unit: &Unit,
    name: &str,
    offset_ms: f64,
    attrs: Vec<KeyValue>,
) -> opentelemetry_proto::tonic::logs::v1::LogRecord {
    let time = unit.event_time(offset_ms);
    let mut attributes = vec![
        string("event.name", name),
        string("event.timestamp", rfc3339_millis(time)),
        string("session.id", unit.session.id.clone()),
        string("user.id", unit.bot.user_id.clone()),
        string("organization.id", unit.organization_id),
        string("terminal.type", "non-interactive"),
    ];
    attributes.extend(attrs);
    let severity = if name == "api_error" {
        SeverityNumber::Error
    } else {
        SeverityNumber::Info
    };
    otlp::log_record(time, severity, &format!("claude_code.{name}"), attributes)
}

/// Metric attributes every Claude Code counter carries.
fn session_series(unit: &Unit) -> otlp::Series {
    vec![
        ("session.id", unit.session.id.clone()),
        ("user.id", unit.bot.user_id.clone()),
        ("organization.id", unit.organization_id.to_string()),
    ]
}

fn count_tokens(unit: &Unit, call: &ModelCall, out: &mut BotOutput) {
    let t = call.tokens;
    for (kind, value) in [
        ("input", t.input),
        ("output", t.output),
        ("cacheRead", t.cache_read),
        ("cacheCreation", t.cache_creation),
    ] {
        let mut series = session_series(unit);
        series.extend([
            ("model", call.model.name.to_string()),
            ("type", kind.to_string()),
        ]);
        out.counters.add(&TOKENS, series, value as f64);
    }
    let mut series = session_series(unit);
    series.push(("model", call.model.name.to_string()));
    out.counters.add(&COST, series, call.cost_usd());
}

fn count_changes(unit: &Unit, work: &Work, out: &mut BotOutput) {
    if work.commits > 0 {
        out.counters
            .add(&COMMITS, session_series(unit), work.commits as f64);
    }
    if work.pull_requests > 0 {
        out.counters.add(
            &PULL_REQUESTS,
            session_series(unit),
            work.pull_requests as f64,
        );
    }
    for (kind, lines) in [("added", work.lines_added), ("removed", work.lines_removed)] {
        if lines > 0 {
            let mut series = session_series(unit);
            series.push(("type", kind.to_string()));
            out.counters.add(&LINES, series, lines as f64);
        }
    }
}
