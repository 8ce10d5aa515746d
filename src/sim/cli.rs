//! OpenAI Codex CLI and Gemini CLI telemetry: their OTLP log events, rendered from a
//! [`Work`] with the attribute names the Codex and Gemini CLI SLO packs read.
//!
//! - Codex logs `codex.api_request` once per HTTP attempt (retries included) with
//!   `attempt`, `duration_ms` (a string), `http.response.status_code` (absent without a
//!   response) and `error.message`; `codex.tool_result` carries `tool_name`, `call_id`,
//!   `arguments` (for the shell tool, the command), `duration_ms` and `success` as
//!   strings.
//! - Gemini CLI logs `gemini_cli.api_request` and then `gemini_cli.api_response` or,
//!   after its retries, one `gemini_cli.api_error`; `gemini_cli.tool_call` carries
//!   `function_name`, `function_args`, `duration_ms`, `success` (boolean) and `decision`.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};

use super::clock::rfc3339_millis;
use super::otlp::{self, boolean, int, string};
use super::unit::{BotOutput, Unit};
use super::work::{Action, Failure, ModelCall, Step, ToolRun, Work};

/// Instrumentation scope of Codex's events.
pub(crate) const CODEX_SCOPE: &str = "codex_otel";
/// Instrumentation scope of Gemini CLI's events.
pub(crate) const GEMINI_SCOPE: &str = "gemini-cli";

fn event(
    unit: &Unit,
    name: &str,
    offset_ms: f64,
    severity: SeverityNumber,
    common: &[KeyValue],
    attrs: Vec<KeyValue>,
) -> LogRecord {
    let time = unit.event_time(offset_ms);
    let mut attributes = vec![
        string("event.name", name),
        string("event.timestamp", rfc3339_millis(time)),
    ];
    attributes.extend_from_slice(common);
    attributes.extend(attrs);
    otlp::log_record(time, severity, name, attributes)
}

/// Renders one Codex turn into `out`.
pub(crate) fn render_codex(unit: &Unit, work: &Work, out: &mut BotOutput) {
    let model = unit.bot.main_model().name;
    let common = [
        string("conversation.id", unit.session.id.clone()),
        string("app.version", unit.bot.service_version),
        string("auth_mode", "ApiKey"),
        string("user.account_id", unit.bot.user_id.clone()),
        string("terminal.type", "non-interactive"),
        string("model", model),
        string("slug", model),
    ];
    let info = SeverityNumber::Info;
    if unit.first_in_session {
        let attrs = vec![
            string("provider_name", "openai"),
            string("reasoning_effort", "medium"),
            string("approval_policy", "never"),
            string("sandbox_policy", "workspace-write"),
        ];
        out.logs.push(event(
            unit,
            "codex.conversation_starts",
            0.0,
            info,
            &common,
            attrs,
        ));
    }
    let prompt = vec![string("prompt_length", work.prompt_length.to_string())];
    out.logs
        .push(event(unit, "codex.user_prompt", 0.0, info, &common, prompt));
    for (n, (end_ms, step)) in work.steps.iter().enumerate() {
        match step {
            Step::Model(call) => codex_call(unit, &common, *end_ms, call, out),
            Step::Tool(run) => codex_tool(unit, &common, *end_ms, run, n, out),
        }
    }
}

fn codex_call(
    unit: &Unit,
    common: &[KeyValue],
    end_ms: f64,
    call: &ModelCall,
    out: &mut BotOutput,
) {
    let mut attempt_end = end_ms - call.attempts.iter().map(|a| a.duration_ms).sum::<f64>();
    for (n, attempt) in call.attempts.iter().enumerate() {
        attempt_end += attempt.duration_ms;
        let mut attrs = vec![
            int("attempt", n as i64 + 1),
            string(
                "duration_ms",
                format!("{}", attempt.duration_ms.round() as i64),
            ),
        ];
        match attempt.failure {
            None => attrs.push(int("http.response.status_code", 200)),
            Some(failure) => {
                if let Some(code) = failure.status() {
                    attrs.push(int("http.response.status_code", i64::from(code)));
                }
                attrs.push(string("error.message", codex_error(failure)));
            }
        }
        let severity = if attempt.failure.is_some() {
            SeverityNumber::Warn
        } else {
            SeverityNumber::Info
        };
        out.logs.push(event(
            unit,
            "codex.api_request",
            attempt_end,
            severity,
            common,
            attrs,
        ));
    }
    if !call.failed() {
        let t = call.tokens;
        let attrs = vec![
            string("event.kind", "response.completed"),
            int("input_token_count", (t.input + t.cache_read) as i64),
            int("output_token_count", t.output as i64),
            int("cached_token_count", t.cache_read as i64),
            int("reasoning_token_count", (t.output / 3) as i64),
            int("tool_token_count", 0),
        ];
        out.logs.push(event(
            unit,
            "codex.sse_event",
            end_ms,
            SeverityNumber::Info,
            common,
            attrs,
        ));
    }
}

fn codex_error(failure: Failure) -> String {
    match failure {
        Failure::Timeout => "request timed out".into(),
        Failure::ConnectionReset => "error sending request: connection reset by peer".into(),
        Failure::Refused => "error sending request: tcp connect error: Connection refused".into(),
        Failure::Status(429) => {
            "unexpected status 429 Too Many Requests: Rate limit reached".into()
        }
        Failure::Status(code) => format!("unexpected status {code}"),
    }
}

fn codex_tool(
    unit: &Unit,
    common: &[KeyValue],
    end_ms: f64,
    run: &ToolRun,
    index: usize,
    out: &mut BotOutput,
) {
    let call_id = format!("call_{}_{index}", &unit.session.id[..8]);
    let (tool_name, arguments, mcp_server) = codex_tool_call(&run.action);
    let decision = vec![
        string("tool_name", tool_name.clone()),
        string("call_id", call_id.clone()),
        string("decision", "approved"),
        string("source", "config"),
    ];
    let info = SeverityNumber::Info;
    out.logs.push(event(
        unit,
        "codex.tool_decision",
        end_ms - run.duration_ms,
        info,
        common,
        decision,
    ));
    let output = run.error.clone().unwrap_or_else(|| "ok".into());
    let mut attrs = vec![
        string("tool_name", tool_name),
        string("call_id", call_id),
        string("arguments", arguments),
        string("duration_ms", format!("{}", run.duration_ms.round() as i64)),
        string(
            "success",
            if run.error.is_none() { "true" } else { "false" },
        ),
        string("output", output),
    ];
    if let Some(server) = mcp_server {
        attrs.push(string("mcp_server", server));
    }
    out.logs.push(event(
        unit,
        "codex.tool_result",
        end_ms,
        info,
        common,
        attrs,
    ));
}

/// Codex's tool name, JSON arguments and MCP server for an action.
fn codex_tool_call(action: &Action) -> (String, String, Option<&'static str>) {
    let shell = |command: String| {
        let args =
            serde_json::json!({ "command": ["bash", "-lc", command], "workdir": "/work/repo" });
        ("shell".to_string(), args.to_string(), None)
    };
    match action {
        Action::Read { path } => shell(format!("sed -n '1,200p' {path}")),
        Action::Search { pattern } => shell(format!("rg -n '{pattern}'")),
        Action::Shell { command, .. } => shell(command.clone()),
        Action::Edit { path } | Action::Write { path } => {
            let patch = format!("*** Begin Patch\n*** Update File: {path}\n*** End Patch");
            (
                "apply_patch".into(),
                serde_json::json!({ "input": patch }).to_string(),
                None,
            )
        }
        Action::WebFetch { url } => (
            "web_search".into(),
            serde_json::json!({ "query": url }).to_string(),
            None,
        ),
        Action::Mcp { server, tool, .. } => (
            format!("{server}__{tool}"),
            serde_json::json!({}).to_string(),
            Some(*server),
        ),
    }
}

/// Renders one Gemini CLI turn into `out`.
pub(crate) fn render_gemini(unit: &Unit, work: &Work, out: &mut BotOutput) {
    // Gemini CLI numbers the prompts of a session: `<session id>########<n>`.
    let prompt_id = format!("{}########{}", unit.session.id, unit.session.units_left);
    let common = [
        string("session.id", unit.session.id.clone()),
        string("installation.id", unit.bot.instance_id.clone()),
        string("user.email", format!("{}@acme.example", unit.bot.id)),
        string("prompt_id", prompt_id),
    ];
    let info = SeverityNumber::Info;
    if unit.first_in_session {
        let attrs = vec![
            string("model", unit.bot.main_model().name),
            string("approval_mode", "yolo"),
            boolean("sandbox_enabled", false),
            string("mcp_servers", "context7,filesystem,sentry"),
        ];
        out.logs
            .push(event(unit, "gemini_cli.config", 0.0, info, &common, attrs));
    }
    let prompt = vec![
        int("prompt_length", work.prompt_length as i64),
        string("auth_type", "gemini-api-key"),
    ];
    out.logs.push(event(
        unit,
        "gemini_cli.user_prompt",
        0.0,
        info,
        &common,
        prompt,
    ));
    for (end_ms, step) in &work.steps {
        match step {
            Step::Model(call) => gemini_call(unit, &common, *end_ms, call, out),
            Step::Tool(run) => gemini_tool(unit, &common, *end_ms, run, out),
        }
    }
}

fn gemini_call(
    unit: &Unit,
    common: &[KeyValue],
    end_ms: f64,
    call: &ModelCall,
    out: &mut BotOutput,
) {
    let total: f64 = call.attempts.iter().map(|a| a.duration_ms).sum();
    let request = vec![string("model", call.model.name)];
    let info = SeverityNumber::Info;
    out.logs.push(event(
        unit,
        "gemini_cli.api_request",
        end_ms - total,
        info,
        common,
        request,
    ));
    let last = call.last();
    let mut attrs = vec![
        string("model", call.model.name),
        int("duration_ms", last.duration_ms.round() as i64),
        string("auth_type", "gemini-api-key"),
    ];
    let Some(failure) = last.failure else {
        let t = call.tokens;
        attrs.extend([
            int("status_code", 200),
            int("input_token_count", t.input as i64),
            int("output_token_count", t.output as i64),
            int("cached_content_token_count", t.cache_read as i64),
            int("thoughts_token_count", (t.output / 2) as i64),
            int("tool_token_count", 0),
            int(
                "total_token_count",
                (t.input + t.output + t.cache_read) as i64,
            ),
        ]);
        out.logs.push(event(
            unit,
            "gemini_cli.api_response",
            end_ms,
            info,
            common,
            attrs,
        ));
        return;
    };
    let (error, error_type) = gemini_error(failure);
    attrs.extend([string("error", error), string("error_type", error_type)]);
    if let Some(code) = failure.status() {
        // Gemini CLI sends the status as a number or, from some code paths, a string.
        attrs.push(string("status_code", code.to_string()));
    }
    out.logs.push(event(
        unit,
        "gemini_cli.api_error",
        end_ms,
        SeverityNumber::Error,
        common,
        attrs,
    ));
}

fn gemini_error(failure: Failure) -> (String, &'static str) {
    match failure {
        Failure::Timeout => ("Request timed out after 30000ms".into(), "ETIMEDOUT"),
        Failure::ConnectionReset => ("fetch failed: socket hang up".into(), "ECONNRESET"),
        Failure::Refused => ("fetch failed: connect ECONNREFUSED".into(), "ECONNREFUSED"),
        Failure::Status(429) => (
            "Quota exceeded for quota metric 'Generate Content API requests per minute'".into(),
            "RESOURCE_EXHAUSTED",
        ),
        Failure::Status(400) => (
            "Request contains an invalid argument.".into(),
            "INVALID_ARGUMENT",
        ),
        Failure::Status(code) => (
            format!("The model is overloaded. Please try again later. ({code})"),
            "UNAVAILABLE",
        ),
    }
}

fn gemini_tool(unit: &Unit, common: &[KeyValue], end_ms: f64, run: &ToolRun, out: &mut BotOutput) {
    let (name, args, mcp_server) = gemini_function(&run.action);
    let mut attrs = vec![
        string("function_name", name),
        string("function_args", args),
        int("duration_ms", run.duration_ms.round() as i64),
        boolean("success", run.error.is_none()),
        string("decision", "auto_accept"),
        string(
            "tool_type",
            if mcp_server.is_some() {
                "mcp"
            } else {
                "native"
            },
        ),
    ];
    if let Some(server) = mcp_server {
        attrs.push(string("mcp_server_name", server));
    }
    if let Some(error) = &run.error {
        attrs.extend([
            string("error", error.clone()),
            string("error_type", "tool_execution_error"),
        ]);
    }
    out.logs.push(event(
        unit,
        "gemini_cli.tool_call",
        end_ms,
        SeverityNumber::Info,
        common,
        attrs,
    ));
}

/// Gemini CLI's function name, JSON arguments and MCP server for an action.
fn gemini_function(action: &Action) -> (String, String, Option<&'static str>) {
    let (name, args, server) = match action {
        Action::Read { path } => (
            "read_file",
            serde_json::json!({ "absolute_path": path }),
            None,
        ),
        Action::Edit { path } => ("replace", serde_json::json!({ "file_path": path }), None),
        Action::Write { path } => ("write_file", serde_json::json!({ "file_path": path }), None),
        Action::Search { pattern } => (
            "search_file_content",
            serde_json::json!({ "pattern": pattern }),
            None,
        ),
        Action::Shell { command, .. } => (
            "run_shell_command",
            serde_json::json!({ "command": command }),
            None,
        ),
        Action::WebFetch { url } => ("web_fetch", serde_json::json!({ "prompt": url }), None),
        Action::Mcp { server, tool, .. } => (*tool, serde_json::json!({}), Some(*server)),
    };
    (name.to_string(), args.to_string(), server)
}
