//! Test helper: a re-implementation of the shipped SLO packs' filters and of Vigil's
//! page conditions over generated telemetry, so tests can check that every SLO gets
//! data and that each incident pages exactly the SLOs its labels name.
//!
//! It mirrors `pipelines/slo/*.yaml` (filters, objectives, `vigil.dev/alert-windows`,
//! `vigil.dev/min-events`) and `src/slo/budget.rs` (burn rate = error ratio ÷ (1 −
//! objective); a condition fires when both windows exceed fraction × 30 d ÷ long window
//! and each holds at least min-events). Only the page conditions are evaluated.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, metric};
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode};

use super::generate::Batches;

/// One SLO: name, objective, page conditions (budget fraction, long, short window in
/// minutes) and minimum events per window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SloDef {
    pub(crate) name: &'static str,
    pub(crate) objective: f64,
    pages: &'static [(f64, i64, i64)],
    min_events: u64,
}

const DEFAULT_PAGES: &[(f64, i64, i64)] = &[(0.02, 60, 5), (0.05, 360, 30)];

const fn slo(name: &'static str, objective: f64) -> SloDef {
    SloDef {
        name,
        objective,
        pages: DEFAULT_PAGES,
        min_events: 10,
    }
}

pub(crate) const SLOS: [SloDef; 17] = [
    slo("claude-code-availability", 0.99),
    slo("claude-code-tool-success", 0.95),
    slo("claude-code-api-latency", 0.95),
    slo("claude-code-git-operations", 0.98),
    slo("codex-availability", 0.99),
    slo("codex-tool-success", 0.95),
    slo("codex-api-latency", 0.95),
    slo("codex-git-operations", 0.98),
    slo("gemini-cli-availability", 0.99),
    slo("gemini-cli-tool-success", 0.95),
    slo("gemini-cli-api-latency", 0.95),
    slo("gemini-cli-git-operations", 0.98),
    slo("genai-availability", 0.99),
    slo("tool-call-success", 0.95),
    slo("genai-latency", 0.95),
    SloDef {
        name: "ci-pass-rate",
        objective: 0.90,
        pages: &[(0.05, 360, 30)],
        min_events: 5,
    },
    slo("git-operations", 0.98),
];

/// Good and total events per SLO and minute (Unix seconds of the minute).
#[derive(Debug, Default)]
pub(crate) struct Rollups {
    minutes: BTreeMap<(&'static str, i64), (f64, f64)>,
}

impl Rollups {
    fn add(&mut self, slo: &'static str, time_ns: u64, good: f64, total: f64) {
        let minute = (time_ns / 1_000_000_000) as i64 / 60 * 60;
        let entry = self.minutes.entry((slo, minute)).or_default();
        entry.0 += good;
        entry.1 += total;
    }

    fn event(&mut self, slo: &'static str, time_ns: u64, good: bool) {
        self.add(slo, time_ns, if good { 1.0 } else { 0.0 }, 1.0);
    }

    /// Total events per SLO over everything recorded.
    pub(crate) fn totals(&self) -> BTreeMap<&'static str, (f64, f64)> {
        let mut out: BTreeMap<&'static str, (f64, f64)> = BTreeMap::new();
        for ((slo, _), (good, total)) in &self.minutes {
            let entry = out.entry(slo).or_default();
            entry.0 += good;
            entry.1 += total;
        }
        out
    }

    /// Records every SLO event in `batches`.
    pub(crate) fn record(&mut self, batches: &Batches) {
        for r in &batches.logs.resource_logs {
            for record in r.scope_logs.iter().flat_map(|s| &s.log_records) {
                self.log(record.time_unix_nano, &record.attributes);
            }
        }
        for r in &batches.traces.resource_spans {
            for span in r.scope_spans.iter().flat_map(|s| &s.spans) {
                self.span(span);
            }
        }
        for r in &batches.metrics.resource_metrics {
            for m in r.scope_metrics.iter().flat_map(|s| &s.metrics) {
                let Some(metric::Data::Histogram(h)) = &m.data else {
                    continue;
                };
                if m.name != "gen_ai.client.operation.duration"
                    || h.aggregation_temporality != AggregationTemporality::Delta as i32
                {
                    continue;
                }
                for p in h.data_points.iter().filter(|p| !p.bucket_counts.is_empty()) {
                    let good = count_le(&p.bucket_counts, &p.explicit_bounds, 5.0);
                    self.add("genai-latency", p.time_unix_nano, good, p.count as f64);
                }
            }
        }
    }

    fn log(&mut self, t: u64, attrs: &[KeyValue]) {
        let event = text(attrs, "event.name").unwrap_or_default();
        match event.as_str() {
            "api_request" | "api_error" => {
                let status = int(attrs, "status_code");
                let bad = event == "api_error" && status.is_none_or(|s| s >= 500 || s == 429);
                self.event("claude-code-availability", t, !bad);
                if event == "api_request"
                    && let Some(d) = float(attrs, "duration_ms")
                {
                    self.event("claude-code-api-latency", t, d <= 5000.0);
                }
            }
            "tool_result" => {
                let decision = text(attrs, "decision_type").or_else(|| text(attrs, "decision"));
                if decision.as_deref() == Some("reject") {
                    return;
                }
                let success = boolean(attrs, "success") == Some(true);
                self.event("claude-code-tool-success", t, success);
                let params = text(attrs, "tool_parameters").unwrap_or_default();
                if text(attrs, "tool_name").as_deref() == Some("Bash") && git_remote(&params) {
                    self.event("claude-code-git-operations", t, success);
                }
            }
            "codex.api_request" => {
                let status = int(attrs, "http.response.status_code");
                let bad = status.unwrap_or(0) >= 500
                    || status == Some(429)
                    || (status.is_none() && text(attrs, "error.message").is_some());
                self.event("codex-availability", t, !bad);
                if let (Some(s), Some(d)) = (status, float(attrs, "duration_ms"))
                    && (200..=299).contains(&s)
                {
                    self.event("codex-api-latency", t, d <= 5000.0);
                }
            }
            "codex.tool_result" => {
                let success = boolean(attrs, "success") == Some(true);
                self.event("codex-tool-success", t, success);
                let shell = matches!(
                    text(attrs, "tool_name").as_deref(),
                    Some("shell" | "local_shell" | "exec_command" | "shell_command")
                );
                if shell && git_remote(&text(attrs, "arguments").unwrap_or_default()) {
                    self.event("codex-git-operations", t, success);
                }
            }
            "gemini_cli.api_response" | "gemini_cli.api_error" => {
                let status = int(attrs, "status_code");
                let bad =
                    event == "gemini_cli.api_error" && status.is_none_or(|s| s >= 500 || s == 429);
                self.event("gemini-cli-availability", t, !bad);
                if event == "gemini_cli.api_response"
                    && let Some(d) = float(attrs, "duration_ms")
                {
                    self.event("gemini-cli-api-latency", t, d <= 5000.0);
                }
            }
            "gemini_cli.tool_call" => {
                if text(attrs, "decision").as_deref() == Some("reject") {
                    return;
                }
                let success = boolean(attrs, "success") == Some(true);
                self.event("gemini-cli-tool-success", t, success);
                let args = text(attrs, "function_args").unwrap_or_default();
                if text(attrs, "function_name").as_deref() == Some("run_shell_command")
                    && git_remote(&args)
                {
                    self.event("gemini-cli-git-operations", t, success);
                }
            }
            _ => {}
        }
    }

    fn span(&mut self, span: &Span) {
        let attrs = &span.attributes;
        let error = span
            .status
            .as_ref()
            .is_some_and(|s| s.code == StatusCode::Error as i32);
        let t = span.start_time_unix_nano;
        let operation = text(attrs, "gen_ai.operation.name");
        let error_type = text(attrs, "error.type");
        if matches!(
            operation.as_deref(),
            Some("chat" | "text_completion" | "generate_content" | "embeddings")
        ) {
            let status = int(attrs, "http.response.status_code");
            let bad = error
                && (error_type.as_deref().is_none_or(availability_error_type)
                    || status.unwrap_or(0) >= 500
                    || status == Some(429));
            self.event("genai-availability", t, !bad);
        }
        let mcp = text(attrs, "mcp.method.name");
        let tool_call = (mcp.as_deref() == Some("tools/call")
            && span.kind == SpanKind::Client as i32)
            || (operation.as_deref() == Some("execute_tool") && mcp.is_none());
        if tool_call {
            self.event("tool-call-success", t, !(error || error_type.is_some()));
        }
        if let Some(result) = text(attrs, "cicd.pipeline.result")
            && result != "cancellation"
            && result != "skip"
        {
            self.event("ci-pass-rate", span.end_time_unix_nano, result == "success");
        }
        if span.name.starts_with("git ") {
            self.event("git-operations", t, !error);
        }
    }

    /// Good and total events of `slo` in `[from, to)`.
    pub(crate) fn window_of(&self, slo: &'static str, from: i64, to: i64) -> (f64, f64) {
        self.minutes
            .range((slo, from)..(slo, to))
            .fold((0.0, 0.0), |a, (_, (g, t))| (a.0 + g, a.1 + t))
    }

    /// Minutes (Unix seconds of the evaluation instant) at which `slo`'s page
    /// conditions fire, evaluated at every minute boundary from `from` to `to`.
    pub(crate) fn pages(&self, slo: &SloDef, from: i64, to: i64) -> Vec<i64> {
        let series: BTreeMap<i64, (f64, f64)> = self
            .minutes
            .range((slo.name, i64::MIN)..=(slo.name, i64::MAX))
            .map(|((_, m), v)| (*m, *v))
            .collect();
        let window = |end: i64, minutes: i64| {
            series
                .range(end - minutes * 60..end)
                .fold((0.0, 0.0), |acc, (_, (g, t))| (acc.0 + g, acc.1 + t))
        };
        let budget = 1.0 - slo.objective;
        let burning = |(good, total): (f64, f64), threshold: f64| {
            total >= slo.min_events as f64 && (total - good) / total / budget > threshold
        };
        (from / 60..=to / 60)
            .map(|m| m * 60)
            .filter(|end| {
                slo.pages.iter().any(|(fraction, long, short)| {
                    let threshold = fraction * 30.0 * 24.0 * 60.0 / *long as f64;
                    burning(window(*end, *long), threshold)
                        && burning(window(*end, *short), threshold)
                })
            })
            .collect()
    }
}

/// The default pack's availability classes of `error.type`:
/// `^(5[0-9][0-9]|429)$|timeout|connect|unavailable|overload`, case-insensitive.
fn availability_error_type(error_type: &str) -> bool {
    let lower = error_type.to_ascii_lowercase();
    let status = lower.len() == 3
        && (lower == "429"
            || (lower.starts_with('5') && lower.chars().all(|c| c.is_ascii_digit())));
    status
        || ["timeout", "connect", "unavailable", "overload"]
            .iter()
            .any(|w| lower.contains(w))
}

/// The packs' `\bgit\b[^|;&]*?\b(push|pull|fetch|clone)\b`: a `git` word followed, before
/// any `|`, `;` or `&`, by one of the remote operations as a word.
fn git_remote(command: &str) -> bool {
    command.split(['|', ';', '&']).any(|segment| {
        let words: Vec<&str> = segment
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        words.iter().position(|w| *w == "git").is_some_and(|at| {
            words[at + 1..]
                .iter()
                .any(|w| matches!(*w, "push" | "pull" | "fetch" | "clone"))
        })
    })
}

/// `histogram_count_le`: observations at or below `threshold`, interpolating linearly
/// inside the bucket that straddles it.
fn count_le(counts: &[u64], bounds: &[f64], threshold: f64) -> f64 {
    let mut good = 0.0;
    let mut lower = 0.0;
    for (i, count) in counts.iter().enumerate() {
        let upper = bounds.get(i).copied().unwrap_or(f64::INFINITY);
        if upper <= threshold {
            good += *count as f64;
        } else {
            if threshold > lower && upper.is_finite() {
                good += *count as f64 * (threshold - lower) / (upper - lower);
            }
            break;
        }
        lower = upper;
    }
    good
}

fn value<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()
}

fn text(attrs: &[KeyValue], key: &str) -> Option<String> {
    match value(attrs, key)? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

fn float(attrs: &[KeyValue], key: &str) -> Option<f64> {
    match value(attrs, key)? {
        Value::IntValue(i) => Some(*i as f64),
        Value::DoubleValue(d) => Some(*d),
        Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn int(attrs: &[KeyValue], key: &str) -> Option<i64> {
    float(attrs, key).map(|f| f as i64)
}

fn boolean(attrs: &[KeyValue], key: &str) -> Option<bool> {
    match value(attrs, key)? {
        Value::BoolValue(b) => Some(*b),
        Value::StringValue(s) => match s.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_git_pattern_matches_like_the_packs_regex() {
        assert!(git_remote(r#"{"bash_command":"git push origin main"}"#));
        assert!(git_remote("git -C repo fetch origin"));
        assert!(!git_remote("git status && echo push"));
        assert!(!git_remote("git commit -m 'pushing'"));
        assert!(!git_remote("gitx push"));
    }

    #[test]
    fn count_le_interpolates_in_the_straddling_bucket() {
        // 10 observations in (2.56, 5.12]: 5 s is (5 - 2.56) / 2.56 of the way.
        let bounds = [2.56, 5.12];
        let good = count_le(&[4, 10, 1], &bounds, 5.0);
        assert!((good - (4.0 + 10.0 * (5.0 - 2.56) / 2.56)).abs() < 1e-9);
    }

    #[test]
    fn availability_error_types_follow_the_default_pack() {
        for bad in [
            "429",
            "503",
            "timeout",
            "connection_error",
            "overloaded_error",
        ] {
            assert!(availability_error_type(bad), "{bad}");
        }
        for fine in ["400", "401", "tool_error", "5000"] {
            assert!(!availability_error_type(fine), "{fine}");
        }
    }
}
