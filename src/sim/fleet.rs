//! The simulated fleet: which bots exist, what kind of agent each one is, and the
//! identity it reports (resource attributes), all derived from the seed.
//!
//! Kinds are mixed so that every shipped SLO pack gets data: the first four bots are a
//! Claude Code bot, a Codex CLI bot, a Gemini CLI bot and a GenAI-span-instrumented agent;
//! further bots cycle through more of each. Smaller fleets keep a Claude Code bot and a
//! GenAI agent. A bot's index fixes its kind; the seed fixes everything else (ids, hosts,
//! models, pace), so adding bots never changes the bots already there.

use super::rng::Rng;

/// The model API vendors the bots call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    Anthropic,
    OpenAi,
    Google,
}

impl Provider {
    /// The `gen_ai.provider.name` value.
    pub fn semconv_name(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAi => "openai",
            Provider::Google => "gcp.gemini",
        }
    }

    /// The API host, as `server.address`.
    pub(crate) fn server_address(self) -> &'static str {
        match self {
            Provider::Anthropic => "api.anthropic.com",
            Provider::OpenAi => "api.openai.com",
            Provider::Google => "generativelanguage.googleapis.com",
        }
    }
}

/// A model, its vendor, its typical latency and its price.
#[derive(Debug, PartialEq)]
pub struct Model {
    pub name: &'static str,
    pub provider: Provider,
    /// Median request latency in seconds in normal operation.
    pub(crate) median_latency_s: f64,
    /// USD per million tokens: input, output, cache read, cache creation.
    pub(crate) price: [f64; 4],
}

pub(crate) const SONNET: Model = Model {
    name: "claude-sonnet-4-5",
    provider: Provider::Anthropic,
    median_latency_s: 2.0,
    price: [3.0, 15.0, 0.30, 3.75],
};
pub(crate) const OPUS: Model = Model {
    name: "claude-opus-4-1",
    provider: Provider::Anthropic,
    median_latency_s: 2.6,
    price: [15.0, 75.0, 1.50, 18.75],
};
pub(crate) const HAIKU: Model = Model {
    name: "claude-haiku-4-5",
    provider: Provider::Anthropic,
    median_latency_s: 1.0,
    price: [1.0, 5.0, 0.10, 1.25],
};
pub(crate) const GPT_5_CODEX: Model = Model {
    name: "gpt-5-codex",
    provider: Provider::OpenAi,
    median_latency_s: 1.3,
    price: [1.25, 10.0, 0.125, 0.0],
};
pub(crate) const GPT_5_MINI: Model = Model {
    name: "gpt-5-mini",
    provider: Provider::OpenAi,
    median_latency_s: 1.1,
    price: [0.25, 2.0, 0.025, 0.0],
};
pub(crate) const GEMINI_PRO: Model = Model {
    name: "gemini-2.5-pro",
    provider: Provider::Google,
    median_latency_s: 2.2,
    price: [1.25, 10.0, 0.31, 0.0],
};
pub(crate) const GEMINI_FLASH: Model = Model {
    name: "gemini-2.5-flash",
    provider: Provider::Google,
    median_latency_s: 1.0,
    price: [0.30, 2.5, 0.075, 0.0],
};

/// What kind of agent a bot is, which decides the telemetry it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentKind {
    /// Claude Code: log events and delta counters, no spans.
    ClaudeCode,
    /// OpenAI Codex CLI: `codex.*` log events.
    Codex,
    /// Gemini CLI: `gemini_cli.*` log events.
    GeminiCli,
    /// An agent instrumented with the OpenTelemetry GenAI conventions: spans and the
    /// operation-duration histogram.
    GenAi,
}

impl AgentKind {
    pub fn name(self) -> &'static str {
        match self {
            AgentKind::ClaudeCode => "claude-code",
            AgentKind::Codex => "codex",
            AgentKind::GeminiCli => "gemini-cli",
            AgentKind::GenAi => "genai-agent",
        }
    }
}

/// The role of a GenAI agent: its `service.name`, models (with their shares of its
/// requests) and whether it pushes commits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Role {
    pub(crate) name: &'static str,
    pub(crate) models: &'static [(&'static Model, f64)],
    pub(crate) pushes: bool,
}

// The first two agents run mostly on one model, so that an incident on that model or
// its provider clearly pages the GenAI SLOs and one elsewhere clearly does not.
const REVIEW: Role = Role {
    name: "review-agent",
    models: &[(&SONNET, 1.0)],
    pushes: false,
};
const TRIAGE: Role = Role {
    name: "triage-agent",
    models: &[(&SONNET, 0.85), (&GPT_5_MINI, 0.15)],
    pushes: true,
};
const DOCS: Role = Role {
    name: "docs-agent",
    models: &[(&GEMINI_FLASH, 1.0)],
    pushes: true,
};
const RELEASE: Role = Role {
    name: "release-agent",
    models: &[(&HAIKU, 1.0)],
    pushes: true,
};

/// The repositories the fleet works on.
pub(crate) const REPOS: [&str; 4] = [
    "https://github.com/acme/payments-api",
    "https://github.com/acme/web-app",
    "https://github.com/acme/infra-tools",
    "https://github.com/acme/docs-site",
];

/// One bot: its identity and the parameters of its behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct Bot {
    /// Position in the fleet, 0-based; `id` is `bot-{index+1:02}`.
    pub index: usize,
    /// `bot.id`, e.g. `bot-01`.
    pub id: String,
    pub kind: AgentKind,
    pub service_name: &'static str,
    pub service_version: &'static str,
    pub instance_id: String,
    pub host_name: String,
    /// `user.id` (Claude Code) / account id of the person the bot works for.
    pub user_id: String,
    /// Models with their share of this bot's requests; the first is the main model.
    pub(crate) models: Vec<(&'static Model, f64)>,
    /// GenAI agents only.
    pub(crate) role: Option<Role>,
    /// Older Claude Code versions send numeric attributes as strings.
    pub(crate) numbers_as_strings: bool,
    /// The repository the bot works on (`vcs.repository.url.full`).
    pub(crate) repo: &'static str,
    /// Units of work (turns or tasks) per hour at the busiest hour, before `activity`.
    pub(crate) peak_per_hour: f64,
}

impl Bot {
    /// The bot's main model.
    pub fn main_model(&self) -> &'static Model {
        self.models[0].0
    }

    /// Whether the bot pushes commits (and so triggers CI).
    pub(crate) fn pushes(&self) -> bool {
        self.role.is_none_or(|r| r.pushes)
    }
}

/// The shared MCP tool server the GenAI agents call.
pub(crate) const MCP_SERVER: &str = "github-mcp-server";
/// Its version before any scenario upgrades it.
pub(crate) const MCP_BASE_VERSION: (u32, u32, u32) = (1, 4, 2);
/// The CI system that runs pipelines on every push.
pub(crate) const CI_SERVICE: &str = "ci-runner";

/// All bots plus the organisation they belong to.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    pub bots: Vec<Bot>,
    pub organization_id: String,
    /// `service.instance.id` of the MCP server and of the CI runner.
    pub(crate) mcp_instance_id: String,
    pub(crate) ci_instance_id: String,
}

/// The kind (and GenAI role) of the bot at `index` in a fleet of `size`.
fn slot(index: usize, size: usize) -> (AgentKind, Option<Role>) {
    use AgentKind::*;
    if size < 4 {
        return match index {
            1 => (GenAi, Some(REVIEW)),
            _ => (ClaudeCode, None),
        };
    }
    const FIRST: [(AgentKind, Option<Role>); 4] = [
        (ClaudeCode, None),
        (Codex, None),
        (GeminiCli, None),
        (GenAi, Some(REVIEW)),
    ];
    const CYCLE: [(AgentKind, Option<Role>); 8] = [
        (ClaudeCode, None),
        (GenAi, Some(TRIAGE)),
        (ClaudeCode, None),
        (GenAi, Some(DOCS)),
        (Codex, None),
        (ClaudeCode, None),
        (GeminiCli, None),
        (GenAi, Some(RELEASE)),
    ];
    match FIRST.get(index) {
        Some(first) => *first,
        None => CYCLE[(index - FIRST.len()) % CYCLE.len()],
    }
}

/// Builds a fleet of `size` bots from `seed`.
pub(crate) fn build(seed: u64, size: usize) -> Fleet {
    let mut rng = Rng::derive(seed, &[0xF1EE7]);
    let organization_id = rng.uuid();
    let mcp_instance_id = rng.uuid();
    let ci_instance_id = rng.uuid();
    let mut claude_seen = 0;
    let bots = (0..size)
        .map(|index| {
            let (kind, role) = slot(index, size);
            let legacy = kind == AgentKind::ClaudeCode && {
                claude_seen += 1;
                claude_seen % 2 == 0
            };
            bot(seed, index, kind, role, legacy)
        })
        .collect();
    Fleet {
        bots,
        organization_id,
        mcp_instance_id,
        ci_instance_id,
    }
}

fn bot(seed: u64, index: usize, kind: AgentKind, role: Option<Role>, legacy: bool) -> Bot {
    let mut rng = Rng::derive(seed, &[0xB07, index as u64]);
    let (service_name, service_version, models, peak): (_, _, Vec<(&'static Model, f64)>, _) =
        match (kind, role) {
            (AgentKind::ClaudeCode, _) => (
                "claude-code",
                if legacy { "1.0.38" } else { "2.0.14" },
                vec![(&SONNET, 0.70), (&HAIKU, 0.20), (&OPUS, 0.10)],
                30.0,
            ),
            (AgentKind::Codex, _) => ("codex_cli_rs", "0.46.0", vec![(&GPT_5_CODEX, 1.0)], 36.0),
            (AgentKind::GeminiCli, _) => (
                "gemini-cli",
                "0.9.0",
                vec![(&GEMINI_PRO, 0.8), (&GEMINI_FLASH, 0.2)],
                30.0,
            ),
            (AgentKind::GenAi, role) => {
                let role = role.unwrap_or(REVIEW);
                (role.name, "1.12.3", role.models.to_vec(), 24.0)
            }
        };
    let id = format!("bot-{:02}", index + 1);
    Bot {
        index,
        host_name: format!("agent-host-{:02}.fleet.internal", index + 1),
        instance_id: rng.uuid(),
        user_id: rng.hex(32),
        id,
        kind,
        service_name,
        service_version,
        models,
        role,
        numbers_as_strings: legacy,
        repo: REPOS[index % REPOS.len()],
        peak_per_hour: peak * rng.range(0.85, 1.15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_bots_cover_every_agent_kind() {
        let fleet = build(1, 4);
        let kinds: Vec<AgentKind> = fleet.bots.iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            [
                AgentKind::ClaudeCode,
                AgentKind::Codex,
                AgentKind::GeminiCli,
                AgentKind::GenAi
            ]
        );
    }

    #[test]
    fn small_fleets_keep_claude_code_and_a_genai_agent() {
        let fleet = build(1, 2);
        assert_eq!(fleet.bots[0].kind, AgentKind::ClaudeCode);
        assert_eq!(fleet.bots[1].kind, AgentKind::GenAi);
    }

    #[test]
    fn adding_bots_keeps_existing_identities() {
        let six = build(9, 6);
        let ten = build(9, 10);
        for (a, b) in six.bots.iter().zip(&ten.bots) {
            assert_eq!(a.id, b.id);
            assert_eq!(a.instance_id, b.instance_id);
            assert_eq!(a.service_name, b.service_name);
        }
        assert_eq!(six.bots[5].id, "bot-06");
    }

    #[test]
    fn every_second_claude_code_bot_runs_an_old_version() {
        let fleet = build(1, 6);
        let claude: Vec<&Bot> = fleet
            .bots
            .iter()
            .filter(|b| b.kind == AgentKind::ClaudeCode)
            .collect();
        assert_eq!(claude.len(), 2);
        assert!(!claude[0].numbers_as_strings);
        assert!(claude[1].numbers_as_strings);
        assert_eq!(claude[1].service_version, "1.0.38");
    }
}
