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
//!    page warnings against the simulator's ground truth: against every incident, and
//!    where a precursor exists, and against each scenario's incidents (for its recall).
//!    "Where a precursor exists" is per band: the incidents whose precursor
//!    (latency-creep: 6–7 h of slowly rising latency; quota-exhaustion: two days of rising
//!    rate limiting) began at least [`PRECURSOR_VISIBLE_SECS`] before the band's latest
//!    warning (`start - min_lead`), so that a row inside the band saw a complete hour of
//!    it. Recall there counts those incidents alone; precision does not change, since a
//!    warning that some incident followed was not a false alarm. Each origin warns at the
//!    threshold its model learned on its training period, as the nightly job does
//!    ([`crate::predict::threshold`]). Error-ratio forecasts are scored by MASE against
//!    naive and seasonal-naive forecasts.
//!
//! The live anomaly detector does not run during the load, so the anomaly feature is 0
//! here; in production it is filled.

use std::fmt;
use std::path::PathBuf;

use super::backtest::{EventScore, LeadBand, wilson_interval};
use super::backtest_fleet::{
    FleetReport, Warnings, backtest_features, pooled_score, score_warnings,
};
use super::features::{SloFeatures, build_features};
use super::job::{PredictError, gather};
use super::pipeline::PipelineConfig;
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
    /// Unix seconds: when the history ends (rounded down to the hour).
    pub end: i64,
}

/// The end of the simulated history unless another is given: a fixed time, so that the
/// same options give the same fleet whenever they run.
pub const DEFAULT_FLEET_END: &str = "2026-12-01T00:00:00Z";

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
    #[error(
        "{0} holds data but no ground truth: an earlier evaluation stopped before it \
         finished (or the directory is not one); remove it or choose an empty directory"
    )]
    Unfinished(PathBuf),
}

/// The backtests, with what was simulated.
#[derive(Debug, Clone)]
pub struct FleetEval {
    pub days: f64,
    pub records: u64,
    /// Each labelled incident in time order: scenario, start, affected SLOs and first
    /// effect (the precursor's start for kinds with one, else the start).
    pub incidents: Vec<(ScenarioKind, i64, Vec<String>, i64)>,
    pub all: FleetReport,
    /// Per band, scores where a precursor exists (module docs): recall over the incidents
    /// whose precursor was visible, precision as in `all`. Empty without page scores.
    pub with_precursor: Vec<EventScore>,
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
                .filter(|(k, _, _, _)| k.has_precursor())
                .count()
        )?;
        writeln!(f, "\n== Against every labelled incident ==")?;
        write!(f, "{}", self.all)?;
        if !self.with_precursor.is_empty() {
            writeln!(
                f,
                "\n== Where a precursor exists ==\n\
                 (recall over the incidents whose precursor began at least 2 h before the \
                 band's latest warning;\n precision as above: a warning that any incident \
                 followed is a true alarm; [95% Wilson intervals])"
            )?;
            write_precursor_table(f, &self.with_precursor)?;
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

/// The scores where a precursor exists of several fleets, summed band by band: recall over
/// all their incidents, precision over all their warning episodes. A fleet has a handful of
/// incidents a band can see, too few for a ratio to say much (its Wilson interval shows
/// how little); pooled over fleets simulated from other seeds, the counts grow.
#[derive(Debug, Clone)]
pub struct PooledFleets {
    /// The seeds of the fleets pooled.
    pub seeds: Vec<u64>,
    /// The seeds of fleets left out: they had no page scores (the classifier could not be
    /// evaluated on them), so their incidents are not in the sums.
    pub without_scores: Vec<u64>,
    pub with_precursor: Vec<EventScore>,
}

impl PooledFleets {
    /// Pools `(seed, evaluation)` pairs; `None` when none of them has page scores.
    pub fn new(fleets: &[(u64, FleetEval)]) -> Option<Self> {
        let (scored, unscored): (Vec<_>, Vec<_>) = fleets
            .iter()
            .partition(|(_, eval)| !eval.with_precursor.is_empty());
        let first = &scored.first()?.1.with_precursor;
        let with_precursor = first
            .iter()
            .enumerate()
            .map(|(i, score)| {
                let per_fleet: Vec<EventScore> = scored
                    .iter()
                    .map(|(_, eval)| eval.with_precursor[i].clone())
                    .collect();
                pooled_score(&per_fleet, &score.band)
            })
            .collect();
        Some(Self {
            seeds: scored.iter().map(|(seed, _)| *seed).collect(),
            without_scores: unscored.iter().map(|(seed, _)| *seed).collect(),
            with_precursor,
        })
    }
}

impl fmt::Display for PooledFleets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seeds = |seeds: &[u64]| {
            seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            f,
            "== Where a precursor exists, pooled over {} fleets (seeds {}) ==",
            self.seeds.len(),
            seeds(&self.seeds)
        )?;
        if !self.without_scores.is_empty() {
            writeln!(
                f,
                "(not pooled: seeds {}, without page scores; their incidents are not counted)",
                seeds(&self.without_scores)
            )?;
        }
        write_precursor_table(f, &self.with_precursor)
    }
}

/// One row per band: incidents, predicted, recall, episodes, true ones and precision, each
/// ratio with its 95% Wilson interval.
fn write_precursor_table(f: &mut fmt::Formatter<'_>, scores: &[EventScore]) -> fmt::Result {
    writeln!(
        f,
        "{:<6} {:>9} {:>9} {:>20} {:>9} {:>5} {:>20}",
        "band", "incidents", "predicted", "recall", "episodes", "true", "precision"
    )?;
    for s in scores {
        let true_alarms = s.episodes - s.false_alarms;
        writeln!(
            f,
            "{:<6} {:>9} {:>9} {:>20} {:>9} {:>5} {:>20}",
            s.band.name,
            s.incidents,
            s.predicted,
            ratio_with_interval(s.predicted, s.incidents),
            s.episodes,
            true_alarms,
            ratio_with_interval(true_alarms, s.episodes)
        )?;
    }
    Ok(())
}

/// `0.80 [0.49, 0.94]`: the ratio and its 95% Wilson interval; `-` without trials.
fn ratio_with_interval(successes: usize, trials: usize) -> String {
    match wilson_interval(successes, trials) {
        Some((lo, hi)) => format!("{:.2} [{lo:.2}, {hi:.2}]", successes as f64 / trials as f64),
        None => "-".into(),
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
    /// Each incident's first effect (its precursor's start, or its start), in the same
    /// order. Absent from files written before it existed.
    #[serde(default)]
    first_effects: Vec<i64>,
}

/// A precursor counts for a band when it began at least this long before the band's latest
/// warning: the service features of a row describe the last complete hour before it.
pub const PRECURSOR_VISIBLE_SECS: i64 = 2 * 3_600;

/// The ground-truth file in an evaluated data directory.
pub const GROUND_TRUTH_FILE: &str = "eval-ground-truth.json";

/// A labelled incident: scenario, start, affected SLOs and first effect.
type Incident = (ScenarioKind, i64, Vec<String>, i64);

/// `(slo, start)` of every SLO the kept incidents affect, as the backtest scores them.
fn incident_pairs(incidents: &[Incident], keep: impl Fn(&Incident) -> bool) -> Vec<(String, i64)> {
    incidents
        .iter()
        .filter(|i| keep(i))
        .flat_map(|(_, start, slos, _)| slos.iter().map(|s| (s.clone(), *start)))
        .collect()
}

/// The scores where a precursor exists (module docs), one per band of `overall` (the scores
/// of `warnings` against every incident): recall over the incidents whose precursor was
/// visible for that band, precision copied from `overall`.
fn where_precursor_exists(
    fleet: &[SloFeatures],
    warnings: &Warnings,
    overall: &[EventScore],
    incidents: &[Incident],
) -> Vec<EventScore> {
    let bands: Vec<LeadBand> = overall.iter().map(|s| s.band.clone()).collect();
    overall
        .iter()
        .enumerate()
        .map(|(i, overall)| {
            let band = &overall.band;
            let visible = incident_pairs(incidents, |(kind, start, _, first)| {
                kind.has_precursor() && first + PRECURSOR_VISIBLE_SECS <= start - band.min_lead_secs
            });
            let mut score = if visible.is_empty() {
                EventScore {
                    incidents: 0,
                    predicted: 0,
                    recall: None,
                    lead_times_secs: Vec::new(),
                    ..overall.clone()
                }
            } else {
                score_warnings(fleet, warnings, &visible, &bands)
                    .0
                    .scores
                    .swap_remove(i)
            };
            score.episodes = overall.episodes;
            score.false_alarms = overall.false_alarms;
            score.precision = overall.precision;
            score
        })
        .collect()
}

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
    // Without its ground truth a directory that holds anything is a simulation that
    // stopped part way (or not ours): simulating into it would add a second history.
    let holds_something = || {
        std::fs::read_dir(&config.data_dir)
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(false)
    };
    if reused.is_none() && holds_something() {
        return Err(FleetEvalError::Unfinished(config.data_dir.clone()));
    }
    let catalog = crate::slo::engine::load_catalog(true, &[]).map_err(DemoError::from)?;
    let simulated = match reused {
        Some(simulated) => {
            eprintln!(
                "reusing the {} simulated days in {} (seed, bots, scenarios and end as they were)",
                simulated.days,
                config.data_dir.display()
            );
            simulated
        }
        None => simulate(&options, &config, &catalog).await?,
    };
    if simulated.first_effects.len() != simulated.incidents.len() {
        return Err(FleetEvalError::GroundTruth(
            truth_path,
            "it has no precursor starts (written by an older Vigil): simulate into a new \
             directory"
                .into(),
        ));
    }
    let incidents = simulated
        .incidents
        .iter()
        .zip(&simulated.first_effects)
        .map(|((kind, start, slos), first)| {
            let kind = kind
                .parse::<ScenarioKind>()
                .map_err(|e| FleetEvalError::GroundTruth(truth_path.clone(), e.to_string()))?;
            Ok((kind, *start, slos.clone(), *first))
        })
        .collect::<Result<Vec<_>, FleetEvalError>>()?;
    let now = simulated.now;
    let start = now - (simulated.days * 86_400.0) as i64;
    let (_store, query) = crate::demo::open_store(&config).await?;
    let inputs = gather(&query, &catalog.slos, now, now - start).await?;
    // Warn as the nightly job does by default.
    let config = PipelineConfig::default().backtest_config();
    let fleet = build_features(&inputs);
    let all = tokio::task::block_in_place(|| {
        backtest_features(&fleet, &incident_pairs(&incidents, |_| true), &config)
    });
    // The warnings do not depend on the incidents scored: only re-score them.
    // (An empty list would mean "score against the page starts": no scores then.)
    let rescored = |keep: &dyn Fn(&Incident) -> bool| -> Option<Vec<EventScore>> {
        let chosen = incident_pairs(&incidents, keep);
        let warnings = all.warnings.as_ref()?;
        (!chosen.is_empty()).then(|| {
            score_warnings(&fleet, warnings, &chosen, &config.bands)
                .0
                .scores
        })
    };
    let with_precursor = match (&all.pages, &all.warnings) {
        (Some(pages), Some(warnings)) => {
            where_precursor_exists(&fleet, warnings, &pages.scores, &incidents)
        }
        _ => Vec::new(),
    };
    let mut kinds: Vec<ScenarioKind> = incidents.iter().map(|i| i.0).collect();
    kinds.sort();
    kinds.dedup();
    let by_scenario = kinds
        .into_iter()
        .filter_map(|kind| Some((kind, rescored(&|i| i.0 == kind)?)))
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
    let now = options.end.div_euclid(3_600) * 3_600;
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
    let mut incidents: Vec<_> = summary.incidents.iter().collect();
    incidents.sort_by_key(|i| i.start);
    let simulated = Simulated {
        days: options.days,
        records: summary.sent.total(),
        now,
        incidents: incidents
            .iter()
            .map(|i| {
                let slos = i.affected_slos.iter().map(|s| s.to_string()).collect();
                (i.scenario.name().to_owned(), i.start, slos)
            })
            .collect(),
        first_effects: incidents.iter().map(|i| i.first_effect()).collect(),
    };
    let path = config.data_dir.join(GROUND_TRUTH_FILE);
    let json = serde_json::to_vec_pretty(&simulated).expect("plain data serialises");
    std::fs::write(&path, json).map_err(|e| FleetEvalError::GroundTruth(path, e.to_string()))?;
    Ok(simulated)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600;

    #[test]
    fn recall_where_a_precursor_exists_counts_the_incidents_it_was_visible_for() {
        // One SLO; warnings of the 6 h model at 55 h, of the 48 h model at 20 h.
        // Incidents:
        // - quota-exhaustion at 40 h, precursor from - 8 h: visible in every band
        //   (- 6 h <= 40 h - 6 h); the 48 h warning came 20 h ahead: predicted.
        // - latency-creep at 60 h, precursor from 53.5 h: 55.5 h is after 60 h - 6 h, so not
        //   in the 48 h band, but before 60 h - 1 h (6 h band: predicted, 5 h ahead).
        // - provider-timeouts at 30 h: no precursor, never counted.
        let fleet = [SloFeatures {
            slo: "a".into(),
            rows: Vec::new(),
            observed: Vec::new(),
            paging: Vec::new(),
            after_page: Vec::new(),
            error_ratio: Vec::new(),
            page_starts: Vec::new(),
            budget: None,
        }];
        let warnings = Warnings {
            firing: vec![vec![Vec::new(), vec![55 * H], vec![20 * H]]],
            first_origin: 0,
            last: 200 * H,
            origins: 8,
            days_without_model: Vec::new(),
        };
        let overall: Vec<EventScore> = LeadBand::defaults()
            .into_iter()
            .map(|band| EventScore {
                band,
                incidents: 3,
                predicted: 1,
                recall: Some(1.0 / 3.0),
                episodes: 4,
                false_alarms: 2,
                precision: Some(0.5),
                lead_times_secs: Vec::new(),
            })
            .collect();
        let slos = vec!["a".to_owned()];
        let incidents: Vec<Incident> = vec![
            (ScenarioKind::ProviderTimeouts, 30 * H, slos.clone(), 30 * H),
            (ScenarioKind::QuotaExhaustion, 40 * H, slos.clone(), -8 * H),
            (ScenarioKind::LatencyCreep, 60 * H, slos, 53 * H + H / 2),
        ];
        let scores = where_precursor_exists(&fleet, &warnings, &overall, &incidents);
        let counts: Vec<(usize, usize)> =
            scores.iter().map(|s| (s.incidents, s.predicted)).collect();
        assert_eq!(counts, vec![(2, 0), (2, 1), (1, 1)]);
        assert_eq!(scores[2].lead_times_secs, vec![20 * H]);
        // Precision is the overall one.
        assert!(
            scores
                .iter()
                .all(|s| s.precision == Some(0.5) && s.episodes == 4)
        );
    }

    #[tokio::test]
    async fn a_directory_with_data_but_no_ground_truth_is_refused_untouched() {
        // What a simulation that stopped part way leaves: data, no ground truth.
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("fleet");
        std::fs::create_dir_all(dir.join("spans")).unwrap();
        let options = FleetEvalOptions {
            data_dir: dir.clone(),
            days: 1.0,
            bots: 1,
            seed: 1,
            scenarios: ScenarioSelection::default(),
            end: 1_780_000_000,
        };
        let error = evaluate_fleet(options).await.unwrap_err();
        assert!(
            matches!(&error, FleetEvalError::Unfinished(d) if *d == dir),
            "{error}"
        );
        assert!(error.to_string().contains("no ground truth"), "{error}");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "nothing was added");
    }

    #[test]
    fn fleets_pool_their_counts_band_by_band() {
        // 48 h where a precursor exists: 6 of 7 incidents and 9 true of 14 episodes on one
        // fleet, 5 of 8 and 9 of 10 on another: 11 of 15 and 18 of 24 pooled. A third
        // fleet without page scores is left out and named.
        let band = LeadBand::new("48 h", 6 * H, 48 * H);
        let score = |incidents, predicted, episodes, false_alarms| EventScore {
            band: band.clone(),
            incidents,
            predicted,
            recall: Some(predicted as f64 / incidents as f64),
            episodes,
            false_alarms,
            precision: Some((episodes - false_alarms) as f64 / episodes as f64),
            lead_times_secs: vec![H; predicted],
        };
        let fleet = |with_precursor| FleetEval {
            days: 56.0,
            records: 0,
            incidents: Vec::new(),
            all: FleetReport {
                threshold: 0.5,
                tuned_threshold: true,
                precursor_level: None,
                pages: None,
                slos: Vec::new(),
                notes: Vec::new(),
                warnings: None,
            },
            with_precursor,
            by_scenario: Vec::new(),
        };
        let fleets = [
            (2, fleet(vec![score(7, 6, 14, 5)])),
            (4, fleet(vec![score(8, 5, 10, 1)])),
            (9, fleet(Vec::new())),
        ];
        let pooled = PooledFleets::new(&fleets).expect("two fleets have scores");
        assert_eq!(pooled.seeds, vec![2, 4]);
        assert_eq!(pooled.without_scores, vec![9]);
        let s = &pooled.with_precursor[0];
        assert_eq!(
            (s.incidents, s.predicted, s.episodes, s.false_alarms),
            (15, 11, 24, 6)
        );
        // 11/15 = 0.733 and 18/24 = 0.75, with Wilson intervals [0.48, 0.89] and
        // [0.55, 0.88] (z = 1.96: centres 0.6858 and 0.7155, half-widths 0.2053 and 0.1645).
        let table = pooled.to_string();
        assert!(table.contains("seeds 2, 4"), "{table}");
        assert!(
            table.contains("not pooled: seeds 9, without page scores"),
            "{table}"
        );
        assert!(table.contains("0.73 [0.48, 0.89]"), "{table}");
        assert!(table.contains("0.75 [0.55, 0.88]"), "{table}");

        assert!(PooledFleets::new(&fleets[2..]).is_none());
    }
}
