//! `vigil demo`: Vigil's whole job in one command.
//!
//! 1. A Vigil with SLOs off receives `days` of a simulated fleet's history (with a few
//!    incidents) over OTLP/gRPC on loopback, exactly as real agents would send it.
//! 2. With that server stopped, `slo_status` is computed for the whole history (as `vigil
//!    slo backfill` does), and the report is printed: the SLO table, the incidents the
//!    burn-rate alerts caught with their severity, handler and time to detect, and the
//!    injected incidents with whether and how fast they were caught, the top root cause
//!    of each page (and whether the ground truth's cause is in the top three), and the
//!    prediction job's first run (budget forecasts; page probabilities need a week).
//! 3. Unless told to exit, the full server starts on the same data directory (the
//!    default ports) and serves until Ctrl-C, for SQL, psql and Grafana.

use std::fmt::Write;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::query::QueryEngine;
use crate::slo::engine::{SloEngine, SloIncident};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Serve(#[from] crate::server::ServeError),
    #[error("simulation failed: {0}")]
    Sim(#[from] crate::sim::SimError),
    #[error("the demo server rejected {0} simulated records")]
    Rejected(u64),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Query(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Slo(#[from] crate::slo::spec::SpecErrors),
    #[error(transparent)]
    Job(#[from] crate::slo::job::JobError),
    #[error("cannot create the data directory: {0}")]
    Dir(std::io::Error),
    #[error(
        "data directory {0} already holds data; vigil demo simulates a fresh history and needs \
         a new or empty directory (or leave out --data-dir)"
    )]
    NotEmpty(PathBuf),
}

/// What `vigil demo` was asked for.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The configuration of the server that keeps running; its `data_dir` receives the
    /// simulated history.
    pub config: Config,
    pub days: f64,
    pub bots: usize,
    pub seed: u64,
    /// Print the report and exit instead of serving.
    pub exit_after_report: bool,
}

/// Runs the demo; returns once the server stops (or after the report).
pub async fn run(options: DemoOptions) -> Result<(), DemoError> {
    let DemoOptions {
        config,
        days,
        bots,
        seed,
        exit_after_report,
    } = options;
    if std::fs::read_dir(&config.data_dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(DemoError::NotEmpty(config.data_dir.clone()));
    }
    std::fs::create_dir_all(&config.data_dir).map_err(DemoError::Dir)?;
    let now = crate::server::unix_now().div_euclid(60) * 60;
    eprintln!(
        "Simulating {days} days of a {bots}-bot fleet into {} …",
        config.data_dir.display()
    );
    let summary = load_history(&config, days, bots, seed, now, demo_scenarios(days)).await?;

    eprintln!("Computing SLO status for the whole history …");
    let report = evaluate(&config, now - (days * 86_400.0) as i64, now, &summary).await?;
    println!("{report}");

    if exit_after_report {
        return Ok(());
    }
    let server = bind_when_free(config).await?;
    let http = server
        .http_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let pg = server.pg_addr().map(|a| a.port().to_string());
    println!("Vigil is serving this data until Ctrl-C:");
    println!(
        "  curl -s http://{http}/api/v1/query -d \"SELECT slo, sli, budget_remaining, policy FROM slo_status WHERE time = (SELECT max(time) FROM slo_status)\""
    );
    if let Some(port) = pg {
        println!("  psql -h 127.0.0.1 -p {port} -U vigil vigil");
    }
    println!("  curl -s http://{http}/metrics   (Prometheus; Grafana files in grafana/)");
    server.run(crate::server::shutdown_signal()).await?;
    Ok(())
}

/// Four incidents spread over the history, the latest a few hours before its end.
fn demo_scenarios(days: f64) -> crate::sim::ScenarioSelection {
    let hours = days * 24.0;
    let at = |name: &str, fraction: f64| format!("{name}@-{}m", (hours * fraction * 60.0) as i64);
    let placements = [
        at("rate-limit-storm", 0.8),
        at("bad-config", 0.6),
        at("latency-creep", 0.35),
        at("flaky-ci", 0.1),
    ];
    match placements.iter().map(|p| p.parse()).collect() {
        Ok(list) => crate::sim::ScenarioSelection::List(list),
        Err(_) => crate::sim::ScenarioSelection::Default,
    }
}

/// Binds the server, waiting (up to 5 s) for the report's store to release the data
/// directory's lock: its WAL thread ends just after the last handle is dropped.
async fn bind_when_free(config: Config) -> Result<crate::server::Server, DemoError> {
    let mut attempts = 0;
    loop {
        match crate::server::Server::bind(config.clone()).await {
            Err(crate::server::ServeError::Store(crate::store::StoreError::Locked { .. }))
                if attempts < 50 =>
            {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            other => return Ok(other?),
        }
    }
}

/// Sends the simulated history to a Vigil on loopback ports with SLOs off, then stops it
/// (its final flush writes everything to Parquet).
pub(crate) async fn load_history(
    config: &Config,
    days: f64,
    bots: usize,
    seed: u64,
    now: i64,
    scenarios: crate::sim::ScenarioSelection,
) -> Result<crate::sim::Summary, DemoError> {
    let mut loading = config.clone();
    loading.server.grpc_listen = "127.0.0.1:0".into();
    loading.server.http_listen = "127.0.0.1:0".into();
    loading.postgres.enabled = false;
    loading.slo.enabled = false;
    let server = crate::server::Server::bind(loading).await?;
    let grpc = server
        .grpc_addr()
        .map(|a| format!("http://{a}"))
        .unwrap_or_default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let sim = crate::sim::SimConfig {
        endpoint: grpc,
        bots,
        days,
        end: Some(now),
        seed,
        scenarios,
        ..crate::sim::SimConfig::default()
    };
    let (_handle, sim_stop) = crate::sim::stop_pair();
    let mut bar: Option<crate::progress::Progress> = None;
    let result = crate::sim::run(sim, sim_stop, |p: &crate::sim::Progress| {
        let bar = bar.get_or_insert_with(|| {
            crate::progress::Progress::new("simulate", p.history_minutes.max(1))
        });
        bar.set(p.minutes_done, &format!("{} records", p.sent.total()));
    })
    .await;
    let _ = stop.send(());
    let _ = running.await;
    let summary = result?;
    if let Some(bar) = bar {
        bar.finish(&format!(
            "{} records, {} incidents",
            summary.sent.total(),
            summary.incidents.len()
        ));
    }
    if summary.rejected.total() > 0 {
        return Err(DemoError::Rejected(summary.rejected.total()));
    }
    Ok(summary)
}

/// Backfills `slo_status` over `[start, now)` and renders the report.
/// The data directory's store, once an earlier handle (the loading server's) has let go of
/// it, and a query engine over it.
pub(crate) async fn open_store(config: &Config) -> Result<(Store, QueryEngine), DemoError> {
    let store = Store::open_when_free(
        &config.data_dir,
        config.storage.store_config(),
        &crate::otlp::rows_from_wal,
        std::time::Duration::from_secs(10),
    )
    .await?;
    let query = QueryEngine::new(Arc::new(store.clone()), config.query.limits())?;
    Ok((store, query))
}

async fn evaluate(
    config: &Config,
    start: i64,
    now: i64,
    summary: &crate::sim::Summary,
) -> Result<String, DemoError> {
    let catalog = crate::slo::engine::load_catalog(config.slo.built_in_packs, &config.slo.dirs)?;
    let (store, query) = open_store(config).await?;
    let mut slos = SloEngine::new(query, &catalog);
    crate::slo::job::backfill(&mut slos, &store, start, now, &mut |_| {}).await?;
    let status = slos.status(&[now]);
    let found = slos.incidents(start, now);

    // Each paging incident with its first page and the root causes ranked then, as the
    // live job ranks them when the burn begins.
    let mut pages = Vec::new();
    for incident in found
        .iter()
        .filter(|i| i.incident.severity == crate::slo::budget::Severity::Page)
    {
        let Some((at, severity)) = first_page(&slos, incident) else {
            continue;
        };
        let mut causes = Vec::new();
        if let Some(spec) = slos.spec(&incident.slo)
            && let Ok(explanation) = crate::rca::explain(slos.query(), spec, at).await
        {
            store
                .append_derived(crate::store::Table::RootCauses, explanation.rows(10, now))
                .await?;
            causes = explanation
                .ranking
                .candidates
                .iter()
                .take(3)
                .map(|c| c.subject.to_string())
                .collect();
        }
        pages.push(Page {
            incident,
            at,
            severity,
            causes,
        });
    }
    let mut quiet = |_: &str, _: usize, _: usize| {};
    let predictions = crate::predict::job::run_once(
        &store,
        slos.query(),
        &catalog.slos,
        &config.predict,
        &crate::predict::job::models_dir(&config.data_dir),
        now,
        &mut quiet,
    )
    .await;
    let mut out = report(&status, &pages, summary);
    match predictions {
        Ok(run) => out.push_str(&prediction_report(&run)),
        Err(e) => {
            let _ = writeln!(out, "\nPredictions: the run failed: {e}");
        }
    }
    Ok(out)
}

/// The forecast part of the report: budgets forecast to run out, and why page
/// probabilities are (not) there.
fn prediction_report(run: &crate::predict::job::RunReport) -> String {
    let mut out = String::new();
    let output = &run.output;
    let budget_rows = output
        .predictions
        .iter()
        .filter(|r| r.kind == "budget")
        .count();
    let _ = writeln!(
        out,
        "\nPredictions (table predictions, model {}): {} rows, {} budget forecasts",
        output.model_version,
        output.predictions.len(),
        budget_rows
    );
    if output.warnings.is_empty() {
        let _ = writeln!(out, "  no SLO budget is forecast to run out within 48 h");
    }
    for w in &output.warnings {
        let _ = writeln!(out, "  warning: {}", w.summary);
    }
    if run.classifier_version.is_none() {
        let reason = output
            .notes
            .iter()
            .find(|n| n.contains("insufficient history"))
            .cloned()
            .unwrap_or_else(|| "not enough pages in the history".into());
        let _ = writeln!(out, "  page probabilities: none yet ({reason})");
    }
    out
}

/// A paging incident: its first page, that page's severity and the best three root causes
/// ranked then (empty when none could be ranked).
#[derive(Debug)]
struct Page<'a> {
    incident: &'a SloIncident,
    at: i64,
    severity: crate::alert::Severity,
    causes: Vec<String>,
}

fn report(
    status: &arrow::array::RecordBatch,
    pages: &[Page<'_>],
    summary: &crate::sim::Summary,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n== Vigil demo: {} records ({} spans, {} log records, {} metric points), {} injected incidents ==\n",
        summary.sent.total(),
        summary.sent.spans,
        summary.sent.log_records,
        summary.sent.data_points,
        summary.incidents.len()
    );
    let columns = [
        "slo",
        "target",
        "sli",
        "budget_remaining",
        "burn_1h",
        "burn_3d",
        "consumption",
        "policy",
        "firing",
    ];
    let indices: Vec<usize> = columns
        .iter()
        .filter_map(|c| status.schema().index_of(c).ok())
        .collect();
    let _ = writeln!(out, "SLOs now");
    if let Ok(table) = status.project(&indices)
        && let Ok(text) = arrow::util::pretty::pretty_format_batches(&[table])
    {
        let _ = writeln!(out, "{text}");
    }

    let _ = writeln!(
        out,
        "\nPages: incidents the burn-rate alerts raised for a human (SEV1/SEV2)"
    );
    let _ = writeln!(
        out,
        "{:<28} {:<9} {:<8} {:<17} {:>10} {:>12}  {:<11} top root cause",
        "slo", "severity", "handler", "paged (UTC)", "detected", "budget used", "post-mortem"
    );
    for page in pages {
        let (incident, first_firing, severity) = (page.incident, page.at, page.severity);
        let truth = summary
            .incidents
            .iter()
            .find(|t| explains(t, &incident.slo, first_firing));
        let detect = truth.map_or("-".to_owned(), |t| minutes(first_firing - t.start));
        let cause = page.causes.first().map_or("-", String::as_str);
        let _ = writeln!(
            out,
            "{:<28} {:<9} {:<8} {:<17} {:>10} {:>12}  {:<11} {cause}",
            incident.slo,
            severity.as_str(),
            severity.handler().as_str(),
            time(first_firing),
            detect,
            incident
                .incident
                .budget_consumed
                .map_or("-".to_owned(), |b| format!("{:.1}%", b * 100.0)),
            if incident.incident.postmortem_required {
                "required"
            } else {
                "-"
            }
        );
    }

    let _ = writeln!(out, "\nInjected incidents (ground truth)");
    for truth in &summary.incidents {
        let caught = pages
            .iter()
            .find(|p| explains(truth, &p.incident.slo, p.at));
        let verdict = match caught {
            Some(page) => format!(
                "paged by {} after {}{}",
                page.incident.slo,
                minutes(page.at - truth.start),
                match (
                    page.causes.is_empty(),
                    names_cause(&page.causes, &truth.root_cause)
                ) {
                    (true, _) => "",
                    (false, true) => "; root cause in the top 3",
                    (false, false) => "; root cause not in the top 3",
                }
            ),
            None => "not paged".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {} {:<22} {} — {verdict}",
            time(truth.start),
            truth.scenario.name(),
            truth.description
        );
    }
    out
}

/// Whether one of the ranked candidates names what the ground truth says broke: its bot,
/// model, tool, version, pipeline, service or provider.
fn names_cause(top: &[String], truth: &crate::sim::RootCause) -> bool {
    let values: Vec<&str> = [
        &truth.bot_id,
        &truth.model,
        &truth.tool,
        &truth.version,
        &truth.pipeline,
        &truth.service,
        &truth.provider,
    ]
    .into_iter()
    .flatten()
    .map(String::as_str)
    .collect();
    top.iter().any(|candidate| {
        values
            .iter()
            .any(|v| candidate.ends_with(&format!("={v}")) || candidate == v)
    })
}

/// An incident starts this long (the shortest confirmation window) before its first
/// firing evaluation.
const FIRING_LEAD: i64 = 300;

/// Whether the injected incident `truth` accounts for a page of `slo` at `at`: the SLO is
/// one it affects, and the page came between its start (less the confirmation lead) and
/// an hour after its end.
fn explains(truth: &crate::sim::Incident, slo: &str, at: i64) -> bool {
    truth.affected_slos.contains(&slo) && truth.start <= at + FIRING_LEAD && at <= truth.end + 3600
}

/// The first minute in `incident` at which its SLO pages, with the alert's severity.
fn first_page(slos: &SloEngine, incident: &SloIncident) -> Option<(i64, crate::alert::Severity)> {
    (incident.incident.start / 60..=incident.incident.end / 60)
        .map(|m| m * 60)
        .find_map(|at| {
            slos.burn_signals(at)
                .into_iter()
                .find(|s| s.labels.get("slo") == Some(&incident.slo))
                .filter(|s| s.severity.handler() == crate::alert::Handler::Human)
                .map(|s| (at, s.severity))
        })
}

fn time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn minutes(secs: i64) -> String {
    if secs < 0 {
        format!("-{} min", (-secs) / 60)
    } else {
        format!("{} min", secs / 60)
    }
}

/// The demo's data directory when none is given: a fresh one under the system's
/// temporary directory.
pub fn default_data_dir() -> PathBuf {
    std::env::temp_dir().join(format!("vigil-demo-{}", std::process::id()))
}
