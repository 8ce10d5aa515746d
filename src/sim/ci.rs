//! The CI system: every successful push starts a run of the `ci` pipeline on the
//! CI runner, reported as CI/CD semantic-convention spans when the run ends.
//!
//! ```text
//! RUN ci                SERVER    cicd.pipeline.name, cicd.pipeline.run.id,
//! │                               cicd.pipeline.result, error.type on failure
//! ├── checkout          INTERNAL  cicd.pipeline.task.name, .task.run.id, .task.type
//! ├── build             INTERNAL
//! └── test              INTERNAL  (fails when the run fails)
//! ```
//!
//! Only the run span carries `cicd.pipeline.result`, so the CI pass-rate SLO counts
//! each run once. A run's result is decided when it starts, from the effects then
//! (a flaky-ci incident), and its spans are emitted in the minute it ends.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use super::otlp::{SpanSpec, string};
use super::rng::Rng;
use super::scenario::CI_PIPELINE;
use super::unit::Push;

/// Instrumentation scope of the CI spans.
pub(crate) const SCOPE: &str = "ci-runner";

/// A pipeline run that has started and not yet been emitted.
#[derive(Debug, Clone, PartialEq)]
struct Run {
    end_ns: u64,
    spans: Vec<Span>,
}

/// Runs in flight and the run-id counter.
#[derive(Debug, Default)]
pub(crate) struct Ci {
    pending: Vec<Run>,
    next_run_id: u64,
}

/// Baseline results other than success, with their shares.
const BASELINE: [(&str, f64); 5] = [
    ("failure", 0.035),
    ("error", 0.005),
    ("timeout", 0.003),
    ("cancellation", 0.02),
    ("skip", 0.01),
];

const TASKS: [(&str, &str, f64); 3] = [
    ("checkout", "build", 0.05),
    ("build", "build", 0.35),
    ("test", "test", 0.60),
];

impl Ci {
    pub(crate) fn new() -> Ci {
        Ci {
            pending: Vec::new(),
            next_run_id: 18_000,
        }
    }

    /// Starts a run for `push`; `failure_share` overrides the baseline while a flaky-ci
    /// incident is active.
    pub(crate) fn start(&mut self, push: &Push, failure_share: Option<f64>, rng: &mut Rng) {
        self.next_run_id += 1;
        let start = push.at_ns + (rng.range(5.0, 40.0) * 1e9) as u64;
        let duration_ns = (rng.lognormal(360.0, 0.3) * 1e9) as u64;
        let result = match failure_share {
            Some(share) if rng.chance(share) => "failure",
            Some(_) => "success",
            None => baseline_result(rng),
        };
        let end = match result {
            "timeout" => start + 1_800_000_000_000,
            "skip" => start + 2_000_000_000,
            _ => start + duration_ns,
        };
        let spans = run_spans(push, self.next_run_id, start, end, result, rng);
        self.pending.push(Run { end_ns: end, spans });
    }

    /// The spans of runs that ended before `until_ns`, oldest first.
    pub(crate) fn finished(&mut self, until_ns: u64) -> Vec<Span> {
        let (done, pending): (Vec<Run>, Vec<Run>) =
            self.pending.drain(..).partition(|r| r.end_ns < until_ns);
        self.pending = pending;
        let mut done = done;
        done.sort_by_key(|r| r.end_ns);
        done.into_iter().flat_map(|r| r.spans).collect()
    }
}

fn baseline_result(rng: &mut Rng) -> &'static str {
    let mut draw = rng.unit();
    for (result, share) in BASELINE {
        if draw < share {
            return result;
        }
        draw -= share;
    }
    "success"
}

fn run_spans(
    push: &Push,
    run_id: u64,
    start: u64,
    end: u64,
    result: &str,
    rng: &mut Rng,
) -> Vec<Span> {
    let trace_id: [u8; 16] = rng.id();
    let run_span_id: [u8; 8] = rng.id();
    let revision = rng.hex(20);
    let mut attributes: Vec<KeyValue> = vec![
        string("cicd.pipeline.name", CI_PIPELINE),
        string("cicd.pipeline.run.id", run_id.to_string()),
        string("cicd.pipeline.action.name", "RUN"),
        string("cicd.pipeline.result", result),
        string(
            "cicd.pipeline.run.url.full",
            format!("{}/actions/runs/{run_id}", push.repo),
        ),
        string("vcs.repository.url.full", push.repo),
        string("vcs.ref.head.name", push.branch.clone()),
        string("vcs.ref.head.revision", revision),
        string("enduser.id", push.bot_id.clone()),
    ];
    let failed = matches!(result, "failure" | "error" | "timeout");
    let error_type = match result {
        "failure" => Some("test_failure"),
        "error" => Some("runner_error"),
        "timeout" => Some("timeout"),
        _ => None,
    };
    if let Some(error_type) = error_type {
        attributes.push(string("error.type", error_type));
    }
    let mut spans = Vec::with_capacity(TASKS.len() + 1);
    if !matches!(result, "skip" | "cancellation") {
        spans.extend(task_spans(
            trace_id,
            run_span_id,
            run_id,
            start,
            end,
            failed,
            rng,
        ));
    }
    let run = SpanSpec {
        trace_id,
        span_id: run_span_id,
        parent: None,
        name: format!("RUN {CI_PIPELINE}"),
        kind: SpanKind::Server,
        start,
        end,
        attributes,
        error: failed.then(|| format!("pipeline {result}")),
    };
    spans.push(run.finish());
    spans
}

/// Task spans splitting `[start, end)`; the last task fails when the run does.
fn task_spans(
    trace_id: [u8; 16],
    parent: [u8; 8],
    run_id: u64,
    start: u64,
    end: u64,
    failed: bool,
    rng: &mut Rng,
) -> Vec<Span> {
    let mut at = start;
    let length = end.saturating_sub(start) as f64;
    TASKS
        .iter()
        .enumerate()
        .map(|(n, (name, kind, share))| {
            let task_end = if n + 1 == TASKS.len() {
                end
            } else {
                at + (length * share) as u64
            };
            let fails = failed && n + 1 == TASKS.len();
            let spec = SpanSpec {
                trace_id,
                span_id: rng.id(),
                parent: Some(parent),
                name: (*name).to_string(),
                kind: SpanKind::Internal,
                start: at,
                end: task_end,
                attributes: vec![
                    string("cicd.pipeline.task.name", *name),
                    string("cicd.pipeline.task.run.id", format!("{run_id}-{}", n + 1)),
                    string("cicd.pipeline.task.type", *kind),
                    string(
                        "cicd.pipeline.task.run.result",
                        if fails { "failure" } else { "success" },
                    ),
                ],
                error: fails.then(|| "task failed".to_string()),
            };
            at = task_end;
            spec.finish()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push() -> Push {
        Push {
            at_ns: 1_000_000_000_000,
            repo: "https://github.com/acme/web-app",
            branch: "bot-01/fix".into(),
            bot_id: "bot-01".into(),
        }
    }

    #[test]
    fn runs_are_emitted_once_they_end_and_only_the_run_span_has_a_result() {
        let mut ci = Ci::new();
        let mut rng = Rng::derive(1, &[]);
        ci.start(&push(), Some(1.0), &mut rng);
        assert!(ci.finished(1_000_000_000_000).is_empty());
        let spans = ci.finished(u64::MAX);
        assert_eq!(spans.len(), 4);
        let with_result: Vec<&Span> = spans
            .iter()
            .filter(|s| {
                s.attributes
                    .iter()
                    .any(|kv| kv.key == "cicd.pipeline.result")
            })
            .collect();
        assert_eq!(with_result.len(), 1);
        assert_eq!(with_result[0].name, "RUN ci");
        assert!(ci.finished(u64::MAX).is_empty());
    }
}
