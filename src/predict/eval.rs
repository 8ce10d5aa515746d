//! `vigil eval predict`: the prediction job measured on a simulated fleet whose incidents
//! are known.
//!
//! 1. A fleet's history (`days`, the default schedule of incidents or a given one) goes over
//!    OTLP into a Vigil on loopback, as in `vigil demo`; `slo_status` is then computed for
//!    all of it, and the ground truth is written next to the data ([`GROUND_TRUTH_FILE`]),
//!    so that the directory can be evaluated again (after a change to the models) without
//!    simulating it anew.
//! 2. The job's inputs are read from those tables exactly as the nightly run reads them.
//! 3. A rolling-origin backtest (train on days 1..k, predict each hour of day k+1) scores
//!    page warnings against the simulator's ground truth, once against every incident and
//!    once against the incidents with a precursor (latency-creep: hours of slowly rising
//!    latency before the outage; quota-exhaustion: two days of rising rate limiting), where
//!    prediction is possible at all, and once against each scenario's incidents (for its
//!    recall). The warning threshold is tuned for the event-level F1 of each origin's
//!    training period (the probabilities are not calibrated, so a fixed 0.5 suits them
//!    badly). Error-ratio forecasts are scored by MASE against naive and seasonal-naive
//!    forecasts.
//!
//! The live anomaly detector does not run during the load, so the anomaly feature is 0
//! here; in production it is filled.

use std::fmt;
use std::path::PathBuf;

use super::backtest::EventScore;
use super::backtest_fleet::{FleetBacktestConfig, FleetReport, backtest_features};
use super::features::build_features;
use super::job::{PredictError, gather};
use crate::config::Config;
use crate::demo::DemoError;
use crate::sim::{ScenarioKind, ScenarioSelection};
use crate::slo::engine::SloEngine;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct FleetEvalOptions {
    /// An empty directory the simulated history is written to.
    pub data_dir: PathBuf,
    pub days: f64,
    pub bots: usize,
    pub seed: u64,
    pub scenarios: ScenarioSelection,
}

#[derive(Debug, thiserror::Error)]
pub enum FleetEvalError {
    #[error(transparent)]
    Load(#[from] DemoError),
    #[error(transparent)]
    Predict(#[from] PredictError),
    #[error("cannot open the simulated data: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot query the simulated data: {0}")]
    Query(#[from] datafusion::error::DataFusionError),
    #[error("cannot compute slo_status: {0}")]
    Job(#[from] crate::slo::job::JobError),
    #[error("ground truth {0}: {1}")]
    GroundTruth(PathBuf, String),
}

/// The backtests, with what was simulated.
#[derive(Debug, Clone)]
pub struct FleetEval {
    pub days: f64,
    pub records: u64,
    /// Scenario of each labelled incident, in time order.
    pub incidents: Vec<(ScenarioKind, i64, Vec<String>)>,
    pub all: FleetReport,
    /// `None` when no incident had a precursor.
    pub with_precursor: Option<FleetReport>,
    /// Per scenario, the scores against its incidents alone (recall is what they tell:
    /// warnings before other scenarios' incidents count as false alarms there).
    pub by_scenario: Vec<(ScenarioKind, Vec<EventScore>)>,
}

impl fmt::Display for FleetEval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Simulated fleet: {} days, {} records, {} incidents ({} with a precursor)",
            self.days,
            self.records,
            self.incidents.len(),
            self.incidents
                .iter()
                .filter(|(k, _, _)| k.has_precursor())
                .count()
        )?;
        writeln!(f, "\n== Against every labelled incident ==")?;
        write!(f, "{}", self.all)?;
        writeln!(
            f,
            "\n== Against incidents with a precursor (latency-creep, quota-exhaustion) ==\n\
             (warnings before other incidents count as false alarms here)"
        )?;
        match &self.with_precursor {
            Some(report) => write!(f, "{report}")?,
            None => writeln!(f, "no incident had a precursor")?,
        }
        if let Some((_, first)) = self.by_scenario.first() {
            writeln!(
                f,
                "\n== Recall by scenario (incident pages predicted / all) =="
            )?;
            write!(f, "{:<24}", "scenario")?;
            for score in first {
                write!(f, " {:>12}", score.band.name)?;
            }
            writeln!(f)?;
            for (kind, scores) in &self.by_scenario {
                write!(f, "{:<24}", kind.name())?;
                for s in scores {
                    let cell = format!("{}/{}", s.predicted, s.incidents);
                    write!(f, " {cell:>12}")?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

/// What a simulation left in its data directory for later evaluations to reuse: the history
/// and its ground truth.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Simulated {
    days: f64,
    records: u64,
    /// Unix seconds: the end of the history.
    now: i64,
    /// `(scenario, start, affected SLOs)`, in time order.
    incidents: Vec<(String, i64, Vec<String>)>,
}

/// The ground-truth file in an evaluated data directory.
pub const GROUND_TRUTH_FILE: &str = "eval-ground-truth.json";

/// Runs the evaluation; see the module docs. A data directory that an earlier evaluation
/// filled (it holds [`GROUND_TRUTH_FILE`]) is evaluated again as it is, without simulating.
pub async fn evaluate_fleet(options: FleetEvalOptions) -> Result<FleetEval, FleetEvalError> {
    let config = Config {
        data_dir: options.data_dir.clone(),
        ..Config::default()
    };
    let truth_path = config.data_dir.join(GROUND_TRUTH_FILE);
    let reused: Option<Simulated> = match std::fs::read(&truth_path) {
        Ok(bytes) => Some(
            serde_json::from_slice(&bytes)
                .map_err(|e| FleetEvalError::GroundTruth(truth_path.clone(), e.to_string()))?,
        ),
        Err(_) => None,
    };
    let catalog = crate::slo::engine::load_catalog(true, &[]).map_err(DemoError::from)?;
    let simulated = match reused {
        Some(simulated) => {
            eprintln!(
                "reusing the {} simulated days in {} (seed, bots and scenarios as they were)",
                simulated.days,
                config.data_dir.display()
            );
            simulated
        }
        None => simulate(&options, &config, &catalog).await?,
    };
    let now = simulated.now;
    let start = now - (simulated.days * 86_400.0) as i64;
    let (_store, query) = crate::demo::open_store(&config).await?;
    let inputs = gather(&query, &catalog.slos, now, now - start).await?;
    let incidents = simulated
        .incidents
        .iter()
        .map(|(kind, start, slos)| {
            let kind = kind
                .parse::<ScenarioKind>()
                .map_err(|e| FleetEvalError::GroundTruth(truth_path.clone(), e.to_string()))?;
            Ok((kind, *start, slos.clone()))
        })
        .collect::<Result<Vec<_>, FleetEvalError>>()?;
    let pairs = |keep: &dyn Fn(ScenarioKind) -> bool| -> Vec<(String, i64)> {
        incidents
            .iter()
            .filter(|(k, _, _)| keep(*k))
            .flat_map(|(_, start, slos)| slos.iter().map(|s| (s.clone(), *start)))
            .collect()
    };
    let config = FleetBacktestConfig {
        tune_threshold: true,
        ..FleetBacktestConfig::default()
    };
    let fleet = build_features(&inputs);
    let all = tokio::task::block_in_place(|| backtest_features(&fleet, &pairs(&|_| true), &config));
    // The warnings do not depend on the incidents scored: only re-score them.
    // (An empty list would mean "score against the page starts": no report then.)
    let rescored = |keep: &dyn Fn(ScenarioKind) -> bool| {
        let chosen = pairs(keep);
        (!chosen.is_empty()).then(|| {
            let mut report = all.clone();
            report.rescore(&fleet, &chosen, &config.bands);
            report
        })
    };
    let with_precursor = rescored(&|k| k.has_precursor());
    let mut kinds: Vec<ScenarioKind> = incidents.iter().map(|(k, _, _)| *k).collect();
    kinds.sort();
    kinds.dedup();
    let by_scenario = kinds
        .into_iter()
        .filter_map(|kind| {
            let report = rescored(&|k| k == kind)?;
            Some((kind, report.pages?.scores))
        })
        .collect();
    Ok(FleetEval {
        days: simulated.days,
        records: simulated.records,
        incidents,
        all,
        with_precursor,
        by_scenario,
    })
}

/// Simulates the history into the (empty) data directory, computes its `slo_status` and
/// writes the ground truth next to it.
async fn simulate(
    options: &FleetEvalOptions,
    config: &Config,
    catalog: &crate::slo::spec::Catalog,
) -> Result<Simulated, FleetEvalError> {
    std::fs::create_dir_all(&config.data_dir).map_err(DemoError::Dir)?;
    let now = crate::server::unix_now().div_euclid(3_600) * 3_600;
    let summary = crate::demo::load_history(
        config,
        options.days,
        options.bots,
        options.seed,
        now,
        options.scenarios.clone(),
    )
    .await?;
    let start = now - (options.days * 86_400.0) as i64;
    let (store, query) = crate::demo::open_store(config).await?;
    let mut slos = SloEngine::new(query, catalog);
    let minutes = ((now - start) / 60).max(1) as u64;
    let mut bar = crate::progress::Progress::new("slo_status", minutes);
    crate::slo::job::backfill(&mut slos, &store, start, now, &mut |done| {
        bar.set(((done - start) / 60).max(0) as u64, "");
    })
    .await?;
    bar.finish("slo_status computed");
    let mut incidents: Vec<(String, i64, Vec<String>)> = summary
        .incidents
        .iter()
        .map(|i| {
            let slos = i.affected_slos.iter().map(|s| s.to_string()).collect();
            (i.scenario.name().to_owned(), i.start, slos)
        })
        .collect();
    incidents.sort_by_key(|(_, start, _)| *start);
    let simulated = Simulated {
        days: options.days,
        records: summary.sent.total(),
        now,
        incidents,
    };
    let path = config.data_dir.join(GROUND_TRUTH_FILE);
    let json = serde_json::to_vec_pretty(&simulated).expect("plain data serialises");
    std::fs::write(&path, json).map_err(|e| FleetEvalError::GroundTruth(path, e.to_string()))?;
    Ok(simulated)
}
