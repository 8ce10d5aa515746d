//! The `vigil` command line: parse arguments, load config, call the library.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use vigil::config::{Config, HumanDuration, LogFormat};
use vigil::query::QueryEngine;
use vigil::query::format::{self, Format};
use vigil::store::ReadOnlyStore;

// Ingest allocates and frees many small strings per span (protobuf decoding); mimalloc
// handles that pattern with far less overhead than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "vigil",
    version,
    about = "Reliability back office for fleets of AI agents"
)]
struct Cli {
    /// Log output format (overrides [log] format in the config).
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Receive OTLP (gRPC and HTTP), store it, and answer SQL over HTTP and the Postgres
    /// protocol.
    Serve {
        /// Config file (vigil.toml); every key is optional.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (default ./vigil-data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// OTLP/gRPC listen address (default 127.0.0.1:4317).
        #[arg(long)]
        grpc_listen: Option<String>,
        /// HTTP listen address for OTLP/HTTP and the query API (default 127.0.0.1:4318).
        #[arg(long)]
        http_listen: Option<String>,
        /// Postgres protocol listen address (default 127.0.0.1:5433).
        #[arg(long)]
        pg_listen: Option<String>,
    },
    /// Run one read-only SQL query against a data directory, with or without a server.
    Sql {
        /// The query, e.g. "SELECT count(*) FROM spans".
        query: String,
        #[command(flatten)]
        reader: ReaderArgs,
    },
    /// Evaluate Vigil's models on public benchmarks.
    Eval {
        #[command(subcommand)]
        command: EvalCommand,
    },
    /// Service level objectives (OpenSLO v1 YAML).
    Slo {
        #[command(subcommand)]
        command: SloCommand,
    },
    /// Vigil's whole job in one command: simulate a fleet's recent history with incidents,
    /// evaluate SLOs and alerts, print a report, then keep serving the data.
    Demo {
        /// Config file (vigil.toml) for the server that keeps running.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (default: a new one under the system's temporary directory).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Days of history to simulate.
        #[arg(long, default_value_t = 2.0)]
        days: f64,
        /// Bots in the fleet.
        #[arg(long, default_value_t = 6)]
        bots: usize,
        /// Same seed, same fleet and incidents.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print the report and exit instead of serving.
        #[arg(long)]
        exit_after_report: bool,
    },
    /// Send a simulated fleet of AI agents' telemetry over OTLP, with incidents and their
    /// ground truth, to Vigil or any OTLP endpoint (an OpenTelemetry Collector).
    Simulate {
        /// Where to send: http://HOST:PORT (gRPC), or the base URL for OTLP/HTTP.
        #[arg(long)]
        endpoint: Option<String>,
        /// grpc, http/protobuf or http/json.
        #[arg(long, default_value = "grpc")]
        protocol: vigil::sim::Protocol,
        /// Gzip-compress requests.
        #[arg(long)]
        gzip: bool,
        /// Bots in the fleet (with 4 or more, every agent kind is present).
        #[arg(long, default_value_t = 6)]
        bots: usize,
        /// Days of history, ending now (fractions allowed).
        #[arg(long, default_value_t = 1.0)]
        days: f64,
        /// `max` (as fast as the endpoint takes), or simulated seconds per second (`1` is
        /// real time, `60` a minute a second).
        #[arg(long, default_value = "max")]
        speed: vigil::sim::Speed,
        /// Same seed, same telemetry and incidents.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// `default` (scheduled from the seed), `none`, a comma-separated list of
        /// SCENARIO@TIME, TIME being RFC 3339 or relative to the end like `-2h`, or of
        /// SCENARIO names (scheduled from the seed, only those). Scenarios:
        /// provider-timeouts, rate-limit-storm, tool-loop, bad-tool-version, flaky-ci,
        /// git-credential-expiry, latency-creep, bad-config, quota-exhaustion (the last is
        /// never in `default`).
        #[arg(long, default_value = "default")]
        scenarios: String,
        /// Write the injected incidents' ground truth (JSON) here.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// After the history, go on in real time until Ctrl-C.
        #[arg(long)]
        live: bool,
    },
    /// Game day: inject one incident scenario, live, into a running Vigil and check that
    /// the SLOs it hits page in time and resolve after; exits non-zero when they do not.
    Gameday {
        /// provider-timeouts, rate-limit-storm, tool-loop, bad-tool-version, flaky-ci,
        /// git-credential-expiry, latency-creep or bad-config.
        scenario: vigil::sim::ScenarioKind,
        /// Vigil's OTLP endpoint: http://HOST:PORT (gRPC), or the base URL for OTLP/HTTP
        /// (default: the protocol's local port, http://127.0.0.1:4317 for gRPC).
        #[arg(long)]
        endpoint: Option<String>,
        /// grpc, http/protobuf or http/json.
        #[arg(long, default_value = "grpc")]
        protocol: vigil::sim::Protocol,
        /// Vigil's HTTP API (where /api/v1/query answers).
        #[arg(long, default_value = "http://127.0.0.1:4318")]
        api: String,
        /// How long the failure lasts.
        #[arg(long, value_parser = HumanDuration::parse, default_value = "10m")]
        duration: HumanDuration,
        /// Each affected SLO must fire within this long after the failure starts.
        #[arg(long, value_parser = HumanDuration::parse, default_value = "10m")]
        detect_within: HumanDuration,
        /// Its pages must resolve within this long after the failure ends (the default
        /// slow-burn page holds about 30 minutes after a heavy failure).
        #[arg(long, value_parser = HumanDuration::parse, default_value = "45m")]
        resolve_within: HumanDuration,
        /// Bots in the simulated fleet.
        #[arg(long, default_value_t = 6)]
        bots: usize,
        /// Same seed, same fleet and incident target.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Scales how much work every bot does.
        #[arg(long, default_value_t = 1.0)]
        activity: f64,
        /// Write the injected incident's ground truth (JSON) here.
        #[arg(long)]
        labels: Option<PathBuf>,
    },
    /// Run the prediction job once: forecast every SLO's error budget and SLI 48 h ahead,
    /// the probability of a page within 1 h, 6 h and 48 h, and key metrics for capacity;
    /// write the table predictions and save the models. No server may run on the data
    /// directory (`vigil serve` runs the same job on `[predict] schedule`).
    Predict {
        /// Config file (vigil.toml): data_dir, [storage], [query], [slo] and [predict].
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (default ./vigil-data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Rank the likely root causes of an SLO's burn at a time, with the evidence for each.
    Rca {
        /// The SLO (metadata.name).
        #[arg(long)]
        slo: String,
        /// When: RFC 3339 (2026-12-05T10:30:00Z), `now`, or an offset back like 30m or 2h.
        #[arg(long, default_value = "now")]
        at: String,
        /// Candidates to print (at least 1).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
        top: u16,
        #[command(flatten)]
        reader: ReaderArgs,
    },
    /// Anomalies the live detectors found in the watched series, newest first.
    Anomalies {
        /// How far back to look, e.g. 24h.
        #[arg(long, value_parser = HumanDuration::parse, default_value = "24h")]
        since: HumanDuration,
        #[command(flatten)]
        reader: ReaderArgs,
    },
    /// Alerts Vigil raised: the open ones, or lifecycle figures with `stats`.
    Alerts {
        #[command(subcommand)]
        command: Option<AlertsCommand>,
        #[command(flatten)]
        reader: ReaderArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AlertsCommand {
    /// Alerts fired, MTTA, MTTR and the share bots handled, per severity.
    Stats {
        /// How far back to look, e.g. 30d.
        #[arg(long, value_parser = HumanDuration::parse, default_value = "30d")]
        since: HumanDuration,
        #[command(flatten)]
        reader: ReaderArgs,
    },
}

#[derive(Debug, Subcommand)]
enum EvalCommand {
    /// Run every anomaly detector over the Numenta Anomaly Benchmark and print its scores.
    Nab {
        /// The NAB corpus (data/, labels/, config/); the repository ships one in data/nab.
        #[arg(long, default_value = "data/nab")]
        nab_dir: PathBuf,
        /// Only these detectors (comma-separated), e.g. ensemble,seasonal_mad.
        #[arg(long, value_delimiter = ',')]
        detectors: Vec<String>,
    },
    /// Backtest the prediction job: forecast error (MASE) and warning lead time on NAB
    /// series, and page prediction recall/precision at 1 h, 6 h and 48 h on a simulated
    /// fleet with labelled incidents.
    Predict {
        /// The NAB corpus; the repository ships one in data/nab.
        #[arg(long, default_value = "data/nab")]
        nab_dir: PathBuf,
        /// Days of simulated fleet history (0: skip the fleet backtest).
        #[arg(long, default_value_t = 28.0)]
        fleet_days: f64,
        /// Bots in the simulated fleet.
        #[arg(long, default_value_t = 6)]
        bots: usize,
        /// The fleet's seed, or several, comma-separated: one fleet each, each in
        /// `<data-dir>/seed-<N>`, and the figures where a precursor exists also pooled
        /// over them (a fleet has too few incidents for a ratio to say much).
        #[arg(long, value_delimiter = ',', default_value = "1")]
        seed: Vec<u64>,
        /// The fleet's incidents: `default` (scheduled from the seed), SCENARIO@TIME,… or
        /// SCENARIO,… as in `vigil simulate`; `latency-creep,quota-exhaustion` tests
        /// prediction where every incident has a precursor.
        #[arg(long, default_value = "default")]
        scenarios: String,
        /// Where the simulated fleet's data goes (default: a temporary directory). A
        /// directory an earlier `eval predict` filled is evaluated again without simulating.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// When the simulated history ends: RFC 3339, rounded down to the hour, or `now`.
        /// Seed, days, bots, scenarios and end together fix the fleet, so the default
        /// gives the same figures on every run and every day.
        #[arg(long, default_value = vigil::predict::eval::DEFAULT_FLEET_END)]
        end: String,
    },
    /// Rank the root causes of every PetShop incident and print top-1/top-3 accuracy per
    /// traffic scenario and target metric, with baselines computed in the same run.
    Rca {
        /// The PetShop dataset (one directory per traffic scenario); shipped in data/petshop.
        #[arg(long, default_value = "data/petshop")]
        petshop_dir: PathBuf,
        /// Only these scenarios (comma-separated), e.g. low_traffic,high_traffic.
        #[arg(long, value_delimiter = ',')]
        scenarios: Vec<String>,
        /// Leave out the scenario's issue-free period as extra baseline history.
        #[arg(long)]
        no_normal_period: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SloCommand {
    /// Evaluate every SLO now over a data directory and print the status table.
    Status {
        #[command(flatten)]
        reader: ReaderArgs,
    },
    /// Recompute slo_status for a past range: deletes its rows from the first hour of the
    /// range on and evaluates every minute again. No server may run on the data directory.
    Backfill {
        /// How far back to recompute, e.g. 30d or 12h.
        #[arg(long, value_parser = HumanDuration::parse)]
        since: HumanDuration,
        /// Config file (vigil.toml): data_dir, [storage], [query] and [slo] are used.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (default ./vigil-data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// List incidents (contiguous periods with a burn-rate condition firing) of every SLO,
    /// with the budget each consumed and whether it needs a post-mortem.
    Incidents {
        /// How far back to look, e.g. 7d.
        #[arg(long, value_parser = HumanDuration::parse, default_value = "30d")]
        since: HumanDuration,
        #[command(flatten)]
        reader: ReaderArgs,
    },
    /// Check OpenSLO files or directories without running anything; exits 1 on errors.
    Validate {
        /// Files or directories (*.yaml, *.yml, searched recursively).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

/// What the commands that read a data directory (with or without a server on it) take.
#[derive(Debug, clap::Args)]
struct ReaderArgs {
    /// Config file (vigil.toml): data_dir, [query] and [slo] are used.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory to read (default ./vigil-data); a server may be running on it.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// The configuration and a query engine over the data directory `args` name.
fn open_reader(
    args: &ReaderArgs,
    log_format: Option<LogFormat>,
) -> anyhow::Result<(Config, QueryEngine)> {
    let mut config = load_config(args.config.as_ref())?;
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    // Warnings only: the output goes to stdout and should stay clean.
    config.log.level = "warn".into();
    init_logging(&config, log_format);
    let store = ReadOnlyStore::open(&config.data_dir, &vigil::otlp::rows_from_wal)
        .with_context(|| format!("cannot read data directory {}", config.data_dir.display()))?;
    let engine = QueryEngine::new(Arc::new(store), config.query.limits())?;
    Ok((config, engine))
}

fn print_result(result: &vigil::query::QueryResult, format: Format) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    format::write(result, format, &mut out)?;
    out.flush()?;
    Ok(())
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(path) => Ok(Config::load(path)?),
        None => Ok(Config::default()),
    }
}

fn init_logging(config: &Config, format: Option<LogFormat>) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIGIL_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none());
    match format.unwrap_or(config.log.format) {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line per cause, each said once (library errors already name their cause).
            let mut message = e.to_string();
            for cause in e.chain().skip(1) {
                let text = cause.to_string();
                if !message.contains(&text) {
                    message = format!("{message}: {text}");
                }
            }
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve {
            config,
            data_dir,
            grpc_listen,
            http_listen,
            pg_listen,
        } => {
            let mut config = load_config(config.as_ref())?;
            if let Some(dir) = data_dir {
                config.data_dir = dir;
            }
            if let Some(addr) = grpc_listen {
                config.server.grpc_listen = addr;
            }
            if let Some(addr) = http_listen {
                config.server.http_listen = addr;
            }
            if let Some(addr) = pg_listen {
                config.postgres.listen = addr;
            }
            config
                .validate()
                .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
            init_logging(&config, cli.log_format);
            // shutdown_signal() listens from the call on, so it is called inside the runtime.
            runtime.block_on(async {
                vigil::server::serve(config, vigil::server::shutdown_signal()).await
            })?;
        }
        Command::Alerts { command, reader } => {
            let (sql, reader) = match command {
                None => (vigil::alert::table::OPEN_ALERTS_SQL.to_owned(), reader),
                Some(AlertsCommand::Stats { since, reader }) => {
                    (vigil::alert::table::stats_sql(since.0.as_secs()), reader)
                }
            };
            let (_, engine) = open_reader(&reader, cli.log_format)?;
            let result = runtime.block_on(engine.sql(&sql))?;
            print_result(&result, reader.format)?;
        }
        Command::Demo {
            config,
            data_dir,
            days,
            bots,
            seed,
            exit_after_report,
        } => {
            let mut config = load_config(config.as_ref())?;
            config.data_dir = data_dir.unwrap_or_else(vigil::demo::default_data_dir);
            config
                .validate()
                .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
            // The report goes to stdout; keep the logs to warnings.
            config.log.level = "warn".into();
            init_logging(&config, cli.log_format);
            runtime.block_on(vigil::demo::run(vigil::demo::DemoOptions {
                config,
                days,
                bots,
                seed,
                exit_after_report,
            }))?;
        }
        Command::Simulate {
            endpoint,
            protocol,
            gzip,
            bots,
            days,
            speed,
            seed,
            scenarios,
            labels,
            live,
        } => {
            init_logging(&load_config(None)?, cli.log_format);
            let scenarios = parse_scenarios(&scenarios)?;
            let config = vigil::sim::SimConfig {
                endpoint: endpoint.unwrap_or_else(|| protocol.default_endpoint().to_string()),
                protocol,
                compression: if gzip {
                    vigil::sim::Compression::Gzip
                } else {
                    vigil::sim::Compression::None
                },
                bots,
                days,
                speed,
                seed,
                scenarios,
                labels,
                live,
                ..vigil::sim::SimConfig::default()
            };
            let summary = runtime.block_on(simulate(config))?;
            eprintln!(
                "sent {} records ({} spans, {} log records, {} data points), {} rejected, {} incidents, in {:.1} s ({:.0} records/s){}",
                summary.sent.total(),
                summary.sent.spans,
                summary.sent.log_records,
                summary.sent.data_points,
                summary.rejected.total(),
                summary.incidents.len(),
                summary.wall_time.as_secs_f64(),
                summary.records_per_second(),
                if summary.cancelled { " (stopped)" } else { "" }
            );
            if summary.rejected.total() > 0 {
                anyhow::bail!("the endpoint rejected {} records", summary.rejected.total());
            }
        }
        Command::Gameday {
            scenario,
            endpoint,
            protocol,
            api,
            duration,
            detect_within,
            resolve_within,
            bots,
            seed,
            activity,
            labels,
        } => {
            init_logging(&load_config(None)?, cli.log_format);
            let options = vigil::gameday::GamedayOptions {
                endpoint: endpoint.unwrap_or_else(|| protocol.default_endpoint().to_string()),
                protocol,
                api,
                duration: duration.0,
                detect_within: detect_within.0,
                resolve_within: resolve_within.0,
                bots,
                seed,
                activity,
                labels,
                ..vigil::gameday::GamedayOptions::new(scenario)
            };
            let outcome = runtime.block_on(gameday(options))?;
            println!("{outcome}");
            if !outcome.passed() {
                anyhow::bail!("game day {scenario} failed");
            }
        }
        Command::Predict { config, data_dir } => {
            let mut config = load_config(config.as_ref())?;
            if let Some(dir) = data_dir {
                config.data_dir = dir;
            }
            init_logging(&config, cli.log_format);
            runtime.block_on(predict(&config))?;
        }
        Command::Rca {
            slo,
            at,
            top,
            reader,
        } => {
            let (config, engine) = open_reader(&reader, cli.log_format)?;
            let catalog =
                vigil::slo::engine::load_catalog(config.slo.built_in_packs, &config.slo.dirs)?;
            let Some(spec) = catalog.slo(&slo) else {
                let names: Vec<&str> = catalog.slos.iter().map(|s| s.name.as_str()).collect();
                anyhow::bail!("no SLO named {slo:?}; loaded: {}", names.join(", "));
            };
            let at = parse_at(&at)?;
            let explanation = runtime.block_on(vigil::rca::explain(&engine, spec, at))?;
            if reader.format == Format::Table {
                let mut shown = explanation.clone();
                shown.ranking.candidates.truncate(usize::from(top));
                print!("{shown}");
            } else {
                let batch = explanation.rows(usize::from(top), vigil::server::unix_now());
                let result = vigil::query::QueryResult {
                    schema: batch.schema(),
                    batches: vec![batch],
                };
                print_result(&result, reader.format)?;
            }
        }
        Command::Anomalies { since, reader } => {
            let (_, engine) = open_reader(&reader, cli.log_format)?;
            let sql = format!(
                "SELECT time, series, value, expected, lower, upper, score, detector FROM anomalies \
                 WHERE time >= now() - INTERVAL '{} seconds' ORDER BY time DESC, score DESC",
                since.0.as_secs()
            );
            let result = runtime.block_on(engine.sql(&sql))?;
            print_result(&result, reader.format)?;
        }
        Command::Sql { query, reader } => {
            let (_, engine) = open_reader(&reader, cli.log_format)?;
            let result = runtime.block_on(engine.sql(&query))?;
            print_result(&result, reader.format)?;
        }
        Command::Slo {
            command: SloCommand::Status { reader },
        } => {
            let (config, engine) = open_reader(&reader, cli.log_format)?;
            let catalog =
                vigil::slo::engine::load_catalog(config.slo.built_in_packs, &config.slo.dirs)?;
            let mut slos = vigil::slo::engine::SloEngine::new(engine, &catalog);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs() as i64;
            let batch = runtime.block_on(slos.step(now, None));
            let columns = [
                "slo",
                "target",
                "sli",
                "good",
                "total",
                "budget_remaining",
                "burn_1h",
                "burn_6h",
                "burn_3d",
                "consumption",
                "policy",
                "firing",
            ];
            let indices: Vec<usize> = columns
                .iter()
                .filter_map(|c| batch.schema().index_of(c).ok())
                .collect();
            let batch = batch.project(&indices)?;
            let result = vigil::query::QueryResult {
                schema: batch.schema(),
                batches: vec![batch],
            };
            print_result(&result, reader.format)?;
        }
        Command::Slo {
            command:
                SloCommand::Backfill {
                    since,
                    config,
                    data_dir,
                },
        } => {
            let mut config = load_config(config.as_ref())?;
            if let Some(dir) = data_dir {
                config.data_dir = dir;
            }
            init_logging(&config, cli.log_format);
            runtime.block_on(slo_backfill(&config, since.0))?;
        }
        Command::Slo {
            command: SloCommand::Incidents { since, reader },
        } => {
            let (config, engine) = open_reader(&reader, cli.log_format)?;
            let catalog =
                vigil::slo::engine::load_catalog(config.slo.built_in_packs, &config.slo.dirs)?;
            let mut slos = vigil::slo::engine::SloEngine::new(engine, &catalog);
            let now = vigil::server::unix_now();
            runtime.block_on(slos.catch_up(now.div_euclid(60) * 60, None));
            let found = slos.incidents(now - since.0.as_secs() as i64, now);
            let batch = vigil::slo::engine::incidents_batch(&found);
            let result = vigil::query::QueryResult {
                schema: batch.schema(),
                batches: vec![batch],
            };
            print_result(&result, reader.format)?;
        }
        Command::Slo {
            command: SloCommand::Validate { paths },
        } => {
            let report = vigil::slo::spec::validate(&paths);
            println!("{report}");
            if !report.is_ok() {
                anyhow::bail!("invalid SLO specs");
            }
        }
        Command::Eval {
            command: EvalCommand::Nab { nab_dir, detectors },
        } => {
            let names: Vec<&str> = if detectors.is_empty() {
                vigil::models::DETECTOR_NAMES.to_vec()
            } else {
                detectors.iter().map(String::as_str).collect()
            };
            let rows = vigil::models::nab::run_nab(&nab_dir, &names).with_context(|| {
                format!("cannot evaluate on the NAB corpus in {}", nab_dir.display())
            })?;
            print!("{}", vigil::models::nab::format_table(&rows));
        }
        Command::Eval {
            command:
                EvalCommand::Predict {
                    nab_dir,
                    fleet_days,
                    bots,
                    seed,
                    scenarios,
                    data_dir,
                    end,
                },
        } => {
            init_logging(&load_config(None)?, cli.log_format);
            let scenarios = parse_scenarios(&scenarios)?;
            let end = parse_fleet_end(&end)?;
            if let Some(twice) = seed
                .iter()
                .enumerate()
                .find_map(|(i, s)| seed[..i].contains(s).then_some(s))
            {
                anyhow::bail!(
                    "--seed {twice} is given twice: each seed is one fleet, and pooling the \
                     same fleet twice would count its incidents twice"
                );
            }
            eprintln!("NAB: forecasts and lead times …");
            let report = vigil::predict::nab_eval::evaluate_nab(&nab_dir).with_context(|| {
                format!("cannot evaluate on the NAB corpus in {}", nab_dir.display())
            })?;
            println!("{report}");
            if fleet_days > 0.0 {
                let temp;
                let dir = match data_dir {
                    Some(dir) => dir,
                    None => {
                        temp = TempDir::new("vigil-eval-predict")?;
                        temp.path.clone()
                    }
                };
                let mut fleets = Vec::with_capacity(seed.len());
                for &seed_n in &seed {
                    let fleet_dir = if seed.len() > 1 {
                        dir.join(format!("seed-{seed_n}"))
                    } else {
                        dir.clone()
                    };
                    eprintln!(
                        "Fleet (seed {seed_n}): simulating {fleet_days} days into {} …",
                        fleet_dir.display()
                    );
                    let eval = runtime.block_on(vigil::predict::eval::evaluate_fleet(
                        vigil::predict::eval::FleetEvalOptions {
                            data_dir: fleet_dir,
                            days: fleet_days,
                            bots,
                            seed: seed_n,
                            scenarios: scenarios.clone(),
                            end,
                        },
                    ))?;
                    if seed.len() > 1 {
                        println!("=== Fleet of seed {seed_n} ===");
                    }
                    println!("{eval}");
                    fleets.push((seed_n, eval));
                }
                if fleets.len() > 1 {
                    match vigil::predict::eval::PooledFleets::new(&fleets) {
                        Some(pooled) => println!("{pooled}"),
                        None => println!("No fleet has page scores: nothing to pool."),
                    }
                }
            }
        }
        Command::Eval {
            command:
                EvalCommand::Rca {
                    petshop_dir,
                    scenarios,
                    no_normal_period,
                },
        } => {
            if let Some(missing) = scenarios.iter().find(|s| !petshop_dir.join(s).is_dir()) {
                anyhow::bail!(
                    "no PetShop scenario {missing:?} in {} (expected low_traffic, \
                     high_traffic, temporal_traffic1 or temporal_traffic2)",
                    petshop_dir.display()
                );
            }
            let options = vigil::rca::EvalOptions {
                scenarios,
                use_normal_period: !no_normal_period,
                ..vigil::rca::EvalOptions::default()
            };
            let report = vigil::rca::evaluate(&petshop_dir, &options).with_context(|| {
                format!(
                    "cannot evaluate on the PetShop dataset in {}",
                    petshop_dir.display()
                )
            })?;
            print!("{report}");
        }
    }
    Ok(())
}

/// `--scenarios`: `default`, `none`, a comma-separated list of SCENARIO@TIME or of
/// SCENARIO names (scheduled from the seed, those kinds only).
fn parse_scenarios(text: &str) -> anyhow::Result<vigil::sim::ScenarioSelection> {
    text.parse().context("invalid --scenarios")
}

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(prefix: &str) -> anyhow::Result<TempDir> {
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            vigil::server::unix_now()
        ));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TempDir { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `vigil predict`: one run of the prediction job with a progress bar per stage, then a
/// summary per SLO.
async fn predict(config: &Config) -> anyhow::Result<()> {
    if !config.data_dir.is_dir() {
        anyhow::bail!(
            "no data directory {}: vigil predict reads the history a server wrote there",
            config.data_dir.display()
        );
    }
    let catalog = vigil::slo::engine::load_catalog(config.slo.built_in_packs, &config.slo.dirs)?;
    let store = vigil::store::Store::open(
        &config.data_dir,
        config.storage.store_config(),
        &vigil::otlp::rows_from_wal,
    )
    .with_context(|| format!("cannot open data directory {}", config.data_dir.display()))?;
    let engine = QueryEngine::new(Arc::new(store.clone()), config.query.limits())?;
    let now = vigil::server::unix_now();
    let models = vigil::predict::job::models_dir(&config.data_dir);
    let mut bar: Option<(String, vigil::progress::Progress)> = None;
    let mut progress = |stage: &str, done: usize, total: usize| {
        if bar.as_ref().is_none_or(|(name, _)| name != stage) {
            if let Some((name, old)) = bar.take() {
                old.finish(&format!("{name} done"));
            }
            bar = Some((
                stage.to_string(),
                vigil::progress::Progress::new(stage, total.max(1) as u64),
            ));
        }
        if let Some((_, b)) = bar.as_mut() {
            b.set(done as u64, "");
        }
    };
    let report = vigil::predict::job::run_once(
        &store,
        &engine,
        &catalog.slos,
        &config.predict,
        &models,
        now,
        &mut progress,
    )
    .await?;
    if let Some((name, b)) = bar.take() {
        b.finish(&format!("{name} done"));
    }
    print!("{}", vigil::predict::job::summary(&report));
    Ok(())
}

/// `--at`: RFC 3339, `now`, or a duration back from now (`30m`, `2h`), as Unix seconds.
fn parse_at(text: &str) -> anyhow::Result<i64> {
    parse_time("--at", text, true)
}

/// `eval predict --end`: RFC 3339 or `now`, as Unix seconds (the evaluation rounds it down
/// to the hour).
fn parse_fleet_end(text: &str) -> anyhow::Result<i64> {
    parse_time("--end", text, false)
}

/// A time option (`flag` names it in errors): `now`, RFC 3339, or with `back_from_now` a
/// duration back from now, as Unix seconds within the range of stored timestamps.
fn parse_time(flag: &str, text: &str, back_from_now: bool) -> anyhow::Result<i64> {
    let now = vigil::server::unix_now();
    let back = || HumanDuration::parse(text.trim_start_matches('-')).ok();
    let t = if text == "now" {
        now
    } else if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        t.timestamp()
    } else if let Some(back) = back_from_now.then(back).flatten() {
        now.saturating_sub(back.0.as_secs().min(i64::MAX as u64) as i64)
    } else {
        anyhow::bail!(
            "invalid {flag} {text:?}: expected an RFC 3339 time (2026-12-05T10:30:00Z){}",
            if back_from_now {
                ", `now`, or a duration back from now such as 30m or 2h"
            } else {
                " or `now`"
            }
        );
    };
    // Telemetry timestamps are nanoseconds in 64 bits: 1970 to 2262.
    if !(0..=9_200_000_000).contains(&t) {
        anyhow::bail!("{flag} {text:?} is outside 1970–2262, the range of stored timestamps");
    }
    Ok(t)
}

/// `vigil slo backfill`: recomputes slo_status over the last `since` with a progress bar.
async fn slo_backfill(config: &Config, since: std::time::Duration) -> anyhow::Result<()> {
    let catalog = vigil::slo::engine::load_catalog(config.slo.built_in_packs, &config.slo.dirs)?;
    let store = vigil::store::Store::open(
        &config.data_dir,
        config.storage.store_config(),
        &vigil::otlp::rows_from_wal,
    )
    .with_context(|| format!("cannot open data directory {}", config.data_dir.display()))?;
    let engine = QueryEngine::new(Arc::new(store.clone()), config.query.limits())?;
    let mut slos = vigil::slo::engine::SloEngine::new(engine, &catalog);
    let now = vigil::server::unix_now();
    let from = (now - since.as_secs() as i64).div_euclid(3600) * 3600;
    let minutes = ((now - from) / 60).max(1) as u64;
    let mut bar = vigil::progress::Progress::new("slo backfill", minutes);
    let (_, rows) = vigil::slo::job::backfill(&mut slos, &store, from, now, &mut |done| {
        let at = chrono::DateTime::from_timestamp(done, 0).unwrap_or_default();
        bar.set(
            ((done - from) / 60).max(0) as u64,
            &at.format("%Y-%m-%d %H:%M").to_string(),
        );
    })
    .await?;
    bar.finish(&format!(
        "{rows} slo_status rows for {} objectives since {}",
        slos.objectives(),
        chrono::DateTime::from_timestamp(from, 0)
            .unwrap_or_default()
            .to_rfc3339()
    ));
    Ok(())
}

/// `vigil simulate`: runs the simulation with a progress bar; Ctrl-C stops it cleanly.
async fn gameday(
    options: vigil::gameday::GamedayOptions,
) -> anyhow::Result<vigil::gameday::Outcome> {
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop_tx.send_replace(true);
        }
    });
    let outcome = vigil::gameday::run(options, stop, |line: &str| {
        eprintln!("[{}] {line}", chrono::Utc::now().format("%H:%M:%S"));
    })
    .await?;
    Ok(outcome)
}

async fn simulate(config: vigil::sim::SimConfig) -> anyhow::Result<vigil::sim::Summary> {
    let (handle, stop) = vigil::sim::stop_pair();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            handle.stop();
        }
    });
    let mut bar: Option<vigil::progress::Progress> = None;
    let summary = vigil::sim::run(config, stop, |p: &vigil::sim::Progress| {
        let bar = bar.get_or_insert_with(|| {
            vigil::progress::Progress::new("simulate", p.history_minutes.max(1))
        });
        bar.set(
            p.minutes_done,
            &format!(
                "{} · {} records sent{}",
                vigil::sim::rfc3339(p.simulated_to),
                p.sent.total(),
                if p.live { " · live" } else { "" }
            ),
        );
    })
    .await?;
    if let Some(bar) = bar {
        bar.finish(&format!("{} minutes simulated", summary.minutes));
    }
    Ok(summary)
}
