//! What a bot does, before any agent decides how to report it: units of work (a turn
//! of a coding CLI, a task of a GenAI agent) made of model calls and tool runs, with
//! their outcomes, durations and tokens, and the commits and pushes they produce.
//!
//! Scenario [`Effects`] act here and only here: a provider outage fails model calls, an
//! expired credential fails git operations, a broken MCP release fails shared tool
//! calls. The agent modules (`claude`, `cli`, `genai`) render a [`Work`] into their own
//! events and spans, so every agent kind fails the same way for the same cause.

use super::fleet::{AgentKind, Bot, Model, Provider};
use super::rng::Rng;
use super::scenario::{ApiCondition, Effects, FailureMode};

/// Why one model API attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The request timed out (no response).
    Timeout,
    /// The connection dropped mid-request (no response).
    ConnectionReset,
    /// The connection was refused (no response), as with a dead proxy.
    Refused,
    /// An HTTP error status.
    Status(u16),
}

impl Failure {
    pub(crate) fn status(self) -> Option<u16> {
        match self {
            Failure::Status(code) => Some(code),
            _ => None,
        }
    }

    /// Clients retry everything except client errors other than 408 and 429.
    fn retryable(self) -> bool {
        match self {
            Failure::Status(code) => code == 408 || code == 429 || code >= 500,
            _ => true,
        }
    }
}

/// One HTTP attempt of a model call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Attempt {
    pub(crate) duration_ms: f64,
    pub(crate) failure: Option<Failure>,
}

/// Token counts of one model call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Tokens {
    pub(crate) input: u64,
    pub(crate) output: u64,
    pub(crate) cache_read: u64,
    pub(crate) cache_creation: u64,
}

/// One model API call with all its attempts (retries included).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelCall {
    pub(crate) model: &'static Model,
    pub(crate) attempts: Vec<Attempt>,
    /// Zero when the call failed.
    pub(crate) tokens: Tokens,
}

impl ModelCall {
    pub(crate) fn last(&self) -> Attempt {
        self.attempts.last().copied().unwrap_or(Attempt {
            duration_ms: 0.0,
            failure: None,
        })
    }

    pub(crate) fn failed(&self) -> bool {
        self.last().failure.is_some()
    }

    /// USD cost of the call's tokens.
    pub(crate) fn cost_usd(&self) -> f64 {
        let t = self.tokens;
        let p = self.model.price;
        (t.input as f64 * p[0]
            + t.output as f64 * p[1]
            + t.cache_read as f64 * p[2]
            + t.cache_creation as f64 * p[3])
            / 1e6
    }
}

/// Git operations the bots run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GitOp {
    Clone,
    Fetch,
    Pull,
    Push,
    Commit,
}

impl GitOp {
    pub(crate) fn name(self) -> &'static str {
        match self {
            GitOp::Clone => "clone",
            GitOp::Fetch => "fetch",
            GitOp::Pull => "pull",
            GitOp::Push => "push",
            GitOp::Commit => "commit",
        }
    }

    /// Operations that talk to the remote (and need the credential).
    pub(crate) fn remote(self) -> bool {
        self != GitOp::Commit
    }
}

/// What a tool run does, independent of the agent's tool names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    Read {
        path: &'static str,
    },
    Edit {
        path: &'static str,
    },
    Write {
        path: &'static str,
    },
    Search {
        pattern: &'static str,
    },
    /// A shell command; `git` is set when it is a git operation.
    Shell {
        command: String,
        git: Option<GitOp>,
    },
    WebFetch {
        url: &'static str,
    },
    /// An MCP tool; `shared` tools run on the fleet's MCP server (the GenAI agents'),
    /// the others on a local stdio server of the CLI.
    Mcp {
        server: &'static str,
        tool: &'static str,
        shared: bool,
    },
}

/// One tool run and its outcome.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolRun {
    pub(crate) action: Action,
    pub(crate) duration_ms: f64,
    /// The error the tool reported, if it failed.
    pub(crate) error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Model(ModelCall),
    Tool(ToolRun),
}

/// A unit of work: steps at the millisecond offsets where they end (from the unit's
/// start), plus what it changed.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Work {
    pub(crate) prompt_length: u64,
    pub(crate) steps: Vec<(f64, Step)>,
    pub(crate) commits: u64,
    pub(crate) pull_requests: u64,
    pub(crate) lines_added: u64,
    pub(crate) lines_removed: u64,
    /// Offsets (ms) of successful pushes, which start CI runs.
    pub(crate) pushes: Vec<f64>,
    /// Milliseconds from the start to the end of the last step.
    pub(crate) duration_ms: f64,
}

impl Work {
    /// Whether a model call failed for good (which ends the unit of work).
    pub(crate) fn failed(&self) -> bool {
        self.steps
            .iter()
            .any(|(_, step)| matches!(step, Step::Model(call) if call.failed()))
    }

    /// Whether the last step is a remote git operation that failed even after its
    /// retries: the agent cannot sync its work and gives up on the unit.
    fn gave_up_on_git(&self) -> bool {
        matches!(
            self.steps.last(),
            Some((_, Step::Tool(ToolRun {
                action: Action::Shell { git: Some(op), .. },
                error: Some(_),
                ..
            }))) if op.remote()
        )
    }

    fn push_step(&mut self, step: Step, gap_ms: f64) {
        let duration = match &step {
            Step::Model(call) => call.attempts.iter().map(|a| a.duration_ms).sum::<f64>(),
            Step::Tool(run) => run.duration_ms,
        };
        let start = self.duration_ms + gap_ms;
        self.duration_ms = start + duration;
        self.steps.push((self.duration_ms, step));
    }
}

/// How many attempts a client makes before giving up, by agent kind: Claude Code
/// retries 10 times, Codex 4, Gemini CLI 3, the GenAI agents' SDKs 2.
fn max_attempts(kind: AgentKind) -> usize {
    match kind {
        AgentKind::ClaudeCode => 11,
        AgentKind::Codex => 5,
        AgentKind::GeminiCli => 4,
        AgentKind::GenAi => 3,
    }
}

const SRC_FILES: [&str; 8] = [
    "src/lib.rs",
    "src/api/handlers.rs",
    "src/ledger/mod.rs",
    "src/ledger/posting.rs",
    "web/src/components/Checkout.tsx",
    "tests/integration_test.rs",
    "README.md",
    "deploy/values.yaml",
];
const PATTERNS: [&str; 5] = [
    "fn settle",
    "TODO",
    "retry_policy",
    "useCheckout",
    "struct Ledger",
];
const URLS: [&str; 3] = [
    "https://docs.rs/tokio/latest/tokio/",
    "https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/429",
    "https://opentelemetry.io/docs/specs/semconv/gen-ai/",
];
const COMMANDS: [&str; 6] = [
    "cargo test --workspace",
    "npm run build",
    "git status",
    "git diff --stat",
    "ls -la src",
    "cargo clippy --all-targets",
];
/// Tools on the fleet's shared MCP server.
pub(crate) const SHARED_MCP_TOOLS: [&str; 4] = [
    "get_file_contents",
    "list_pull_requests",
    "add_issue_comment",
    "search_issues",
];
/// Tools on the CLIs' local MCP servers: (server, tool).
const LOCAL_MCP_TOOLS: [(&str, &str); 3] = [
    ("context7", "get-library-docs"),
    ("filesystem", "read_text_file"),
    ("sentry", "search_issues"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActionKind {
    Read,
    Edit,
    Write,
    Search,
    Shell,
    WebFetch,
    Mcp,
}

/// The mix of tools an agent kind uses.
fn tool_mix(kind: AgentKind) -> &'static [(ActionKind, f64)] {
    use ActionKind::*;
    match kind {
        AgentKind::GenAi => &[(Read, 0.15), (Search, 0.10), (Shell, 0.15), (Mcp, 0.60)],
        _ => &[
            (Read, 0.30),
            (Edit, 0.20),
            (Write, 0.05),
            (Search, 0.15),
            (Shell, 0.20),
            (WebFetch, 0.04),
            (Mcp, 0.06),
        ],
    }
}

/// Plans units of work for one bot in one minute, under that minute's effects.
#[derive(Debug)]
pub(crate) struct Planner<'a> {
    pub(crate) bot: &'a Bot,
    pub(crate) effects: &'a Effects,
    pub(crate) rng: &'a mut Rng,
    /// Branch the bot is working on (`vcs.ref.head.name`).
    pub(crate) branch: &'a str,
}

/// Baseline shares of model calls: failing for good with a client error (400, not
/// retried), failing for good after every retry (a short provider hiccup), and failing
/// once before a retry succeeds.
const BASELINE_CLIENT_ERROR: f64 = 0.002;
const BASELINE_HARD_FAILURE: f64 = 0.0001;
const BASELINE_TRANSIENT: f64 = 0.003;

impl Planner<'_> {
    /// A normal unit of work: a prompt, model calls alternating with tool runs, maybe a
    /// commit, a push and a pull request.
    pub(crate) fn turn(&mut self) -> Work {
        let mut work = Work {
            prompt_length: self.rng.lognormal(180.0, 0.9).round().max(1.0) as u64,
            ..Work::default()
        };
        // GenAI agents' tasks take more model round trips than an interactive turn.
        let stop = if self.bot.kind == AgentKind::GenAi {
            0.2
        } else {
            0.3
        };
        let steps = 1 + self.geometric(stop, 10);
        let sync_first = self.rng.chance(0.5);
        for i in 0..steps {
            if !self.model_step(&mut work, i) {
                return work;
            }
            if i + 1 == steps {
                break;
            }
            let run = if i == 0 && sync_first {
                let op = if self.bot.kind == AgentKind::GenAi && self.rng.chance(0.2) {
                    GitOp::Clone
                } else if self.rng.chance(0.5) {
                    GitOp::Fetch
                } else {
                    GitOp::Pull
                };
                self.git(op)
            } else {
                self.random_tool()
            };
            self.tool_step(&mut work, run, i);
            if work.gave_up_on_git() {
                return work;
            }
        }
        self.maybe_commit(&mut work, steps);
        work
    }

    /// One round of a tool loop: a model call whose context keeps growing, then the
    /// same failing tool call again.
    pub(crate) fn loop_iteration(&mut self, iteration: u64) -> Work {
        let mut work = Work::default();
        let model = self.bot.main_model();
        let mut call = self.call(model, 1);
        call.tokens.cache_read += iteration * 2_500;
        call.tokens.input += iteration * 40;
        let failed = call.failed();
        work.push_step(Step::Model(call), 0.0);
        if failed {
            return work;
        }
        let action = match self.bot.kind {
            AgentKind::GenAi => Action::Shell {
                command: "pytest -x tests/test_settlement.py".into(),
                git: None,
            },
            _ => Action::Edit {
                path: "src/ledger/posting.rs",
            },
        };
        let error = match self.bot.kind {
            AgentKind::ClaudeCode => "String to replace not found in file.",
            AgentKind::Codex => "error: patch failed: src/ledger/posting.rs:88",
            AgentKind::GeminiCli => "Failed to edit, 0 occurrences found for old_string",
            AgentKind::GenAi => "1 failed: test_settlement_rounding",
        };
        let run = ToolRun {
            action,
            duration_ms: self.rng.lognormal(900.0, 0.3),
            error: Some(error.to_string()),
        };
        work.push_step(Step::Tool(run), self.rng.range(20.0, 80.0));
        work
    }

    /// Geometric count of extra steps with stop probability `p`, at most `cap`.
    fn geometric(&mut self, p: f64, cap: usize) -> usize {
        let mut n = 0;
        while n < cap && !self.rng.chance(p) {
            n += 1;
        }
        n
    }

    fn choose_model(&mut self) -> &'static Model {
        self.rng.weighted(&self.bot.models)
    }

    /// Adds a model call; false when it failed for good (the unit of work ends).
    fn model_step(&mut self, work: &mut Work, index: usize) -> bool {
        let model = self.choose_model();
        let call = self.call(model, index);
        let failed = call.failed();
        let gap = self.rng.range(5.0, 60.0);
        work.push_step(Step::Model(call), gap);
        !failed
    }

    /// Adds a tool run; a failed remote git operation or shared MCP call is retried
    /// up to twice, as agents do.
    fn tool_step(&mut self, work: &mut Work, run: ToolRun, index: usize) {
        let retry = match &run.action {
            Action::Shell { git: Some(op), .. } if op.remote() => Some(*op),
            _ => None,
        };
        let shared_mcp = matches!(run.action, Action::Mcp { shared: true, .. });
        let mut failed = run.error.is_some();
        let gap = self.rng.range(10.0, 120.0);
        work.push_step(Step::Tool(run), gap);
        for _ in 0..2 {
            if !failed {
                break;
            }
            let again = match (retry, shared_mcp) {
                (Some(op), _) => {
                    if !self.model_step(work, index + 1) {
                        return;
                    }
                    self.git(op)
                }
                (None, true) => self.shared_mcp(),
                _ => break,
            };
            failed = again.error.is_some();
            let gap = self.rng.range(200.0, 1500.0);
            work.push_step(Step::Tool(again), gap);
        }
    }

    fn maybe_commit(&mut self, work: &mut Work, steps: usize) {
        if !self.bot.pushes() || !self.rng.chance(0.3) {
            return;
        }
        if !self.model_step(work, steps) {
            return;
        }
        let commit = self.git(GitOp::Commit);
        let committed = commit.error.is_none();
        self.tool_step(work, commit, steps);
        if !committed {
            return;
        }
        work.commits += 1;
        work.lines_added += self.rng.lognormal(25.0, 1.0).round() as u64 + 1;
        work.lines_removed += self.rng.lognormal(8.0, 1.0).round() as u64;
        if !self.rng.chance(0.75) || !self.model_step(work, steps + 1) {
            return;
        }
        let before = work.steps.len();
        let push = self.git(GitOp::Push);
        self.tool_step(work, push, steps + 1);
        let pushed = work.steps[before..]
            .iter()
            .rev()
            .find_map(|(at, step)| match step {
                Step::Tool(run) if run.error.is_none() => Some(*at),
                _ => None,
            });
        if let Some(at) = pushed {
            work.pushes.push(at);
            if self.rng.chance(0.2) {
                let pr = ToolRun {
                    action: Action::Shell {
                        command: format!("gh pr create --fill --head {}", self.branch),
                        git: None,
                    },
                    duration_ms: self.rng.lognormal(1800.0, 0.3),
                    error: None,
                };
                work.push_step(Step::Tool(pr), self.rng.range(50.0, 300.0));
                work.pull_requests += 1;
            }
        }
    }

    /// Samples a model call under the current effects.
    fn call(&mut self, model: &'static Model, index: usize) -> ModelCall {
        let condition = self.effects.api(model);
        let attempts = self.attempts(model, condition);
        let tokens = if attempts.last().is_some_and(|a| a.failure.is_none()) {
            self.tokens(index)
        } else {
            Tokens::default()
        };
        ModelCall {
            model,
            attempts,
            tokens,
        }
    }

    fn attempts(&mut self, model: &Model, condition: ApiCondition) -> Vec<Attempt> {
        let incident_failure = condition
            .failure
            .and_then(|(share, mode)| self.rng.chance(share).then_some(mode));
        let failure = match incident_failure {
            Some(mode) => Some(self.incident_failure(mode, model.provider)),
            None if self.rng.chance(BASELINE_CLIENT_ERROR) => Some(Failure::Status(400)),
            None => self
                .rng
                .chance(BASELINE_HARD_FAILURE)
                .then(|| self.baseline_failure(model.provider)),
        };
        if let Some(failure) = failure {
            let tries = if failure.retryable() {
                max_attempts(self.bot.kind)
            } else {
                1
            };
            return (0..tries)
                .map(|_| Attempt {
                    duration_ms: self.failure_duration(failure),
                    failure: Some(failure),
                })
                .collect();
        }
        let mut attempts = Vec::with_capacity(2);
        let transient = BASELINE_TRANSIENT + condition.failure.map_or(0.0, |(s, _)| s / 2.0);
        if self.rng.chance(transient) {
            let failure = match condition.failure {
                Some((_, mode)) => self.incident_failure(mode, model.provider),
                None => self.baseline_failure(model.provider),
            };
            if failure.retryable() {
                attempts.push(Attempt {
                    duration_ms: self.failure_duration(failure),
                    failure: Some(failure),
                });
            }
        }
        attempts.push(Attempt {
            duration_ms: self.success_duration(model, condition.latency_factor),
            failure: None,
        });
        attempts
    }

    fn incident_failure(&mut self, mode: FailureMode, provider: Provider) -> Failure {
        match mode {
            FailureMode::Timeout => {
                if self.rng.chance(0.8) {
                    Failure::Timeout
                } else {
                    Failure::ConnectionReset
                }
            }
            FailureMode::RateLimited => match provider {
                Provider::Anthropic if self.rng.chance(0.3) => Failure::Status(529),
                _ => Failure::Status(429),
            },
            FailureMode::Overloaded => {
                let code = match provider {
                    Provider::Anthropic => self.rng.weighted(&[(529, 0.7), (500, 0.3)]),
                    _ => self.rng.weighted(&[(503, 0.7), (500, 0.3)]),
                };
                Failure::Status(code)
            }
            FailureMode::Refused => Failure::Refused,
        }
    }

    /// A retryable failure outside incidents.
    fn baseline_failure(&mut self, provider: Provider) -> Failure {
        let overloaded = if provider == Provider::Anthropic {
            529
        } else {
            503
        };
        self.rng.weighted(&[
            (Failure::Status(overloaded), 0.40),
            (Failure::Status(500), 0.25),
            (Failure::Status(429), 0.20),
            (Failure::Timeout, 0.15),
        ])
    }

    fn failure_duration(&mut self, failure: Failure) -> f64 {
        match failure {
            Failure::Timeout => self.rng.range(8_000.0, 30_000.0),
            Failure::ConnectionReset => self.rng.range(1_000.0, 10_000.0),
            Failure::Refused => self.rng.range(3.0, 40.0),
            Failure::Status(_) => self.rng.lognormal(350.0, 0.5),
        }
    }

    /// Latency of a successful attempt: log-normal around the model's median, with a
    /// small tail of long generations.
    fn success_duration(&mut self, model: &Model, factor: f64) -> f64 {
        let long = if self.rng.chance(0.015) { 3.0 } else { 1.0 };
        self.rng
            .lognormal(model.median_latency_s * 1000.0 * factor * long, 0.35)
    }

    fn tokens(&mut self, index: usize) -> Tokens {
        let context = self.rng.lognormal(18_000.0, 0.6) + index as f64 * 3_000.0;
        Tokens {
            input: self.rng.lognormal(400.0, 1.0).round() as u64 + 1,
            output: self.rng.lognormal(350.0, 0.8).round() as u64 + 1,
            cache_read: context.round() as u64,
            cache_creation: if index == 0 {
                self.rng.lognormal(1_500.0, 0.9)
            } else {
                self.rng.lognormal(300.0, 1.0)
            }
            .round() as u64,
        }
    }

    fn random_tool(&mut self) -> ToolRun {
        let kind = self.rng.weighted(tool_mix(self.bot.kind));
        let (action, duration_ms, fail_share, error) = match kind {
            ActionKind::Read => (
                Action::Read {
                    path: self.rng.pick(&SRC_FILES),
                },
                self.rng.lognormal(40.0, 0.6),
                0.01,
                "File does not exist.",
            ),
            ActionKind::Edit => (
                Action::Edit {
                    path: self.rng.pick(&SRC_FILES),
                },
                self.rng.lognormal(120.0, 0.5),
                0.04,
                "String to replace not found in file.",
            ),
            ActionKind::Write => (
                Action::Write {
                    path: self.rng.pick(&SRC_FILES),
                },
                self.rng.lognormal(80.0, 0.5),
                0.01,
                "EACCES: permission denied",
            ),
            ActionKind::Search => (
                Action::Search {
                    pattern: self.rng.pick(&PATTERNS),
                },
                self.rng.lognormal(150.0, 0.6),
                0.005,
                "rg: regex parse error",
            ),
            ActionKind::Shell => {
                let command = if self.bot.kind == AgentKind::GenAi {
                    "pytest -q"
                } else {
                    self.rng.pick(&COMMANDS)
                };
                (
                    Action::Shell {
                        command: command.to_string(),
                        git: None,
                    },
                    self.rng.lognormal(4_000.0, 1.0),
                    0.04,
                    "Exit code 1",
                )
            }
            ActionKind::WebFetch => (
                Action::WebFetch {
                    url: self.rng.pick(&URLS),
                },
                self.rng.lognormal(900.0, 0.6),
                0.05,
                "Request failed with status code 404",
            ),
            ActionKind::Mcp if self.bot.kind == AgentKind::GenAi => return self.shared_mcp(),
            ActionKind::Mcp => {
                let (server, tool) = self.rng.pick(&LOCAL_MCP_TOOLS);
                (
                    Action::Mcp {
                        server,
                        tool,
                        shared: false,
                    },
                    self.rng.lognormal(600.0, 0.6),
                    0.02,
                    "MCP error -32603: Internal error",
                )
            }
        };
        ToolRun {
            action,
            duration_ms,
            error: self.rng.chance(fail_share).then(|| error.to_string()),
        }
    }

    /// A call to the fleet's shared MCP server, failing when its release is broken.
    fn shared_mcp(&mut self) -> ToolRun {
        let tool = self.rng.pick(&SHARED_MCP_TOOLS);
        let error = if self.effects.mcp_broken {
            Some(format!(
                "MCP error -32602: Invalid arguments for tool {tool}: unknown field \"ref\""
            ))
        } else {
            self.rng
                .chance(0.015)
                .then(|| "MCP error -32603: upstream API returned 502".to_string())
        };
        ToolRun {
            action: Action::Mcp {
                server: super::fleet::MCP_SERVER,
                tool,
                shared: true,
            },
            duration_ms: self.rng.lognormal(450.0, 0.5),
            error,
        }
    }

    /// A git operation on the bot's repository and branch.
    fn git(&mut self, op: GitOp) -> ToolRun {
        let repo = self.bot.repo;
        let command = match op {
            GitOp::Clone => format!("git clone {repo}.git"),
            GitOp::Fetch => "git fetch origin".to_string(),
            GitOp::Pull => "git pull --rebase origin main".to_string(),
            GitOp::Push => format!("git push origin {}", self.branch),
            GitOp::Commit => "git commit -am \"Fix settlement rounding\"".to_string(),
        };
        let error = if op.remote() && self.effects.git_auth_failing {
            Some(format!(
                "remote: Invalid username or token. Password authentication is not supported \
                 for Git operations.\nfatal: Authentication failed for '{repo}.git/'"
            ))
        } else {
            let share = match op {
                GitOp::Commit => 0.0,
                GitOp::Push => 0.01,
                _ => 0.003,
            };
            self.rng.chance(share).then(|| match op {
                GitOp::Push => format!(
                    "! [rejected] {0} -> {0} (fetch first)\nerror: failed to push some refs",
                    self.branch
                ),
                _ => "fatal: unable to access remote: Could not resolve host".to_string(),
            })
        };
        ToolRun {
            action: Action::Shell {
                command,
                git: Some(op),
            },
            duration_ms: match op {
                GitOp::Commit => self.rng.lognormal(150.0, 0.4),
                GitOp::Clone => self.rng.lognormal(6_000.0, 0.5),
                _ => self.rng.lognormal(1_200.0, 0.5),
            },
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::fleet;

    fn turns(kind_index: usize, effects: &Effects, n: usize) -> Vec<Work> {
        let fleet = fleet::build(3, 6);
        let bot = &fleet.bots[kind_index];
        let mut rng = Rng::derive(3, &[]);
        (0..n)
            .map(|_| {
                Planner {
                    bot,
                    effects,
                    rng: &mut rng,
                    branch: "bot-01/fix",
                }
                .turn()
            })
            .collect()
    }

    fn model_calls(work: &[Work]) -> impl Iterator<Item = &ModelCall> {
        work.iter()
            .flat_map(|w| &w.steps)
            .filter_map(|(_, s)| match s {
                Step::Model(call) => Some(call),
                Step::Tool(_) => None,
            })
    }

    #[test]
    fn baseline_turns_rarely_fail_and_are_mostly_fast() {
        let work = turns(0, &Effects::default(), 2_000);
        let calls: Vec<&ModelCall> = model_calls(&work).collect();
        let failed = calls.iter().filter(|c| c.failed()).count() as f64 / calls.len() as f64;
        assert!(failed < 0.01, "{failed}");
        let slow = calls
            .iter()
            .filter(|c| !c.failed() && c.last().duration_ms > 5_000.0)
            .count() as f64
            / calls.len() as f64;
        assert!(slow < 0.03, "{slow}");
        assert!(work.iter().any(|w| !w.pushes.is_empty()));
    }

    #[test]
    fn steps_are_in_time_order() {
        for work in turns(0, &Effects::default(), 200) {
            assert!(work.steps.windows(2).all(|w| w[0].0 <= w[1].0));
            assert_eq!(work.steps.last().map(|s| s.0), Some(work.duration_ms));
        }
    }

    #[test]
    fn an_expired_credential_fails_every_remote_git_operation() {
        let mut effects = Effects::default();
        effects.git_auth_failing = true;
        let work = turns(0, &effects, 500);
        let git: Vec<&ToolRun> = work
            .iter()
            .flat_map(|w| &w.steps)
            .filter_map(|(_, s)| match s {
                Step::Tool(
                    run @ ToolRun {
                        action: Action::Shell { git: Some(op), .. },
                        ..
                    },
                ) if op.remote() => Some(run),
                _ => None,
            })
            .collect();
        assert!(git.len() > 100);
        assert!(git.iter().all(|r| r.error.is_some()));
        assert!(work.iter().all(|w| w.pushes.is_empty()));
    }
}
