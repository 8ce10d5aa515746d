//! The rendering context shared by the agent modules: the session a unit of work
//! belongs to, where in time it is stamped, and the per-bot output it is rendered into.

use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::fleet::Bot;
use super::otlp::{Counters, Histograms};

/// A bot's working session (Claude Code `session.id`, Codex `conversation.id`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Session {
    pub(crate) id: String,
    /// The branch the session works on.
    pub(crate) branch: String,
    /// MCP session with the shared tool server (GenAI agents).
    pub(crate) mcp_session_id: String,
    /// Unix seconds of the session's last unit of work.
    pub(crate) last_active: i64,
    /// Units of work before the bot starts a new session.
    pub(crate) units_left: u32,
}

/// One unit of work being rendered.
#[derive(Debug)]
pub(crate) struct Unit<'a> {
    pub(crate) bot: &'a Bot,
    pub(crate) session: &'a Session,
    /// The session starts with this unit (agents announce it).
    pub(crate) first_in_session: bool,
    pub(crate) organization_id: &'a str,
    /// Unix nanoseconds at which the unit starts.
    pub(crate) start_ns: u64,
    /// Log events are stamped before this instant (the end of the minute being
    /// generated), so a minute's batch holds only that minute's events.
    pub(crate) limit_ns: u64,
}

impl Unit<'_> {
    /// Timestamp of a log event `offset_ms` after the unit's start.
    pub(crate) fn event_time(&self, offset_ms: f64) -> u64 {
        self.span_time(offset_ms)
            .min(self.limit_ns.saturating_sub(1_000_000))
    }

    /// Timestamp of a span boundary `offset_ms` after the unit's start (not clamped:
    /// a span that ends after the minute is still sent with the minute it started in).
    pub(crate) fn span_time(&self, offset_ms: f64) -> u64 {
        self.start_ns + (offset_ms.max(0.0) * 1e6) as u64
    }
}

/// A successful push, which starts a CI pipeline run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Push {
    pub(crate) at_ns: u64,
    pub(crate) repo: &'static str,
    pub(crate) branch: String,
    pub(crate) bot_id: String,
}

/// What one bot produced in one minute.
#[derive(Debug, Default)]
pub(crate) struct BotOutput {
    pub(crate) logs: Vec<LogRecord>,
    pub(crate) spans: Vec<Span>,
    /// Server-side spans of the shared MCP server for this bot's calls.
    pub(crate) mcp_spans: Vec<Span>,
    pub(crate) counters: Counters,
    /// Delta histogram observations of this minute.
    pub(crate) histograms: Option<Histograms>,
    pub(crate) pushes: Vec<Push>,
}
