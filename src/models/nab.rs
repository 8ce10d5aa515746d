//! The Numenta Anomaly Benchmark (NAB), re-implemented: corpus loading, the scaled-sigmoid
//! scorer, the corpus-wide threshold sweep and score normalization, plus [`run_nab`], which
//! runs registered detectors over the 58 series and scores them.
//!
//! What this module guarantees, so that its numbers can be compared with NAB's published ones:
//!
//! - **Windows** come from `labels/combined_windows.json`. A window is entered on the row whose
//!   timestamp equals its start and left after the row whose timestamp equals its end; its
//!   width counts rows from the first row at the start timestamp to the first row at the end
//!   timestamp. Every window timestamp must exist in its data file (as NAB requires).
//! - **Probation**: the first `min(floor(0.15 * rows), 750)` rows of each file are not scored.
//!   A window that reaches past the probation still counts.
//! - **Row weights** use the scaled sigmoid `S(x) = 2 / (1 + e^(5x)) - 1` (and `-1` for
//!   `x >= 3`). Inside a window, a row at position `x = -(right - i + 1) / width` is worth
//!   `tpWeight * S(x) / S(-1)`, so a detection on the first row of a window earns exactly
//!   `tpWeight`. Outside, a row is worth `fpWeight * S(|i - right_prev| / (width_prev - 1))`
//!   after a window and `-fpWeight` before the first one.
//! - **Window credit**: a window is worth `-fnWeight` until detected, then the weight of its
//!   earliest detected row. Only that first detection counts; later ones in the window are free.
//! - **Threshold**: a row is a detection when its anomaly score is `>=` the threshold. The
//!   threshold of a detector and profile is the one that maximises the corpus total; every
//!   distinct anomaly score is tried (NAB's current "sweep" optimizer, which replaced its
//!   older hill-climbing search), and on ties the highest threshold wins.
//! - **Normalization**: `100 * (raw - null) / (perfect - null)`, where `null` is the raw score
//!   of a detector that never fires (computed through the same sweep) and `perfect` is
//!   `tpWeight` times the number of windows in the label file.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Deserialize;

#[cfg(test)]
use super::DEFAULT_ALERT_THRESHOLD;
use super::{AnyDetector, DEFAULT_DETECTOR, Detector, ModelError, new_detector_with};

/// Share of each file, in rows, that NAB treats as a probationary period.
const PROBATION_FRACTION: f64 = 0.15;
/// NAB caps the probationary period at this share of 5000 rows (750 rows).
const PROBATION_CAP_ROWS: f64 = 5000.0;
/// The sweep starts above every possible score, where nothing is detected.
const START_THRESHOLD: f64 = 1.1;
/// The three NAB application profiles, in the order the table reports them.
const PROFILE_NAMES: [&str; 3] = ["standard", "reward_low_FP_rate", "reward_low_FN_rate"];

/// Why the corpus, its labels, a results file or a run could not be used.
#[derive(Debug, thiserror::Error)]
pub enum NabError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {reason}")]
    Csv {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path} is not valid JSON of the expected shape: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{file}: window timestamp {timestamp} matches no row of the data file")]
    WindowTimestamp { file: String, timestamp: String },
    #[error("the label file names no data file; is {0} a NAB directory?")]
    EmptyCorpus(PathBuf),
    #[error("config/profiles.json has no profile {0:?}")]
    MissingProfile(String),
    #[error("{file}: {got} scores for {rows} rows")]
    ScoreCount {
        file: String,
        got: usize,
        rows: usize,
    },
    #[error("{file}: row {row}: anomaly score {score} is not a number in [0, 1]")]
    BadScore {
        file: String,
        row: usize,
        score: f64,
    },
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("a detector thread panicked")]
    WorkerPanicked,
}

/// Costs of one NAB application profile (`CostMatrix` in `config/profiles.json`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct CostMatrix {
    #[serde(rename = "tpWeight")]
    pub tp_weight: f64,
    #[serde(rename = "fpWeight")]
    pub fp_weight: f64,
    #[serde(rename = "fnWeight")]
    pub fn_weight: f64,
}

#[derive(Debug, Deserialize)]
struct ProfileEntry {
    #[serde(rename = "CostMatrix")]
    cost_matrix: CostMatrix,
}

/// One labelled anomaly window, by its first and last timestamp (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) start: i64,
    pub(crate) end: i64,
}

/// One data file of the corpus with its labels.
#[derive(Debug, Clone)]
pub(crate) struct NabFile {
    /// Path relative to `data/`, e.g. `realKnownCause/nyc_taxi.csv`.
    pub(crate) name: String,
    pub(crate) timestamps: Vec<i64>,
    pub(crate) values: Vec<f64>,
    pub(crate) windows: Vec<Window>,
}

impl NabFile {
    fn probation_rows(&self) -> f64 {
        let rows = self.timestamps.len() as f64;
        (PROBATION_FRACTION * rows)
            .floor()
            .min(PROBATION_FRACTION * PROBATION_CAP_ROWS)
    }
}

/// The NAB corpus: the labelled series and the scoring profiles.
#[derive(Debug, Clone)]
pub struct NabCorpus {
    pub(crate) files: Vec<NabFile>,
    profiles: Vec<(String, CostMatrix)>,
    /// Windows in the label file; `perfect` is this many true positives.
    label_windows: usize,
}

/// The score of one detector under one profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileScore {
    pub profile: String,
    /// The threshold the sweep chose; rows scoring at least this are detections.
    pub threshold: f64,
    /// Sum of the per-file scores at `threshold`.
    pub raw: f64,
    /// `100 * (raw - null) / (perfect - null)`, the number NAB publishes.
    pub normalized: f64,
    pub windows_detected: usize,
    pub windows_missed: usize,
    /// Detections outside every window (after probation).
    pub false_positives: usize,
    /// The same, file by file, in corpus order.
    pub files: Vec<FileScore>,
}

/// One file's share of a [`ProfileScore`].
#[derive(Debug, Clone, PartialEq)]
pub struct FileScore {
    pub file: String,
    pub raw: f64,
    pub windows: usize,
    pub windows_detected: usize,
    pub false_positives: usize,
}

/// One line of the NAB table.
#[derive(Debug, Clone, PartialEq)]
pub struct NabRow {
    pub detector: String,
    pub is_default: bool,
    pub standard: f64,
    pub reward_low_fp: f64,
    pub reward_low_fn: f64,
    /// Wall-clock seconds to run the detector over the corpus (not the scoring).
    pub run_seconds: f64,
    pub profiles: Vec<ProfileScore>,
}

/// Loads the corpus under `nab_dir`, runs each named detector over every series (two
/// threads) and scores it under the three profiles.
pub fn run_nab(nab_dir: &Path, detectors: &[&str]) -> Result<Vec<NabRow>, NabError> {
    let corpus = NabCorpus::load(nab_dir)?;
    detectors
        .iter()
        .map(|name| corpus.evaluate(name, None))
        .collect()
}

/// Formats rows as a fixed-width text table, the default detector marked `default`.
pub fn format_table(rows: &[NabRow]) -> String {
    let mut out = format!(
        "{:<22} {:>9} {:>14} {:>14} {:>9}\n",
        "detector", "standard", "reward_low_FP", "reward_low_FN", "run_s"
    );
    for row in rows {
        let name = if row.is_default {
            format!("{} (default)", row.detector)
        } else {
            row.detector.clone()
        };
        out.push_str(&format!(
            "{:<22} {:>9.2} {:>14.2} {:>14.2} {:>9.2}\n",
            name, row.standard, row.reward_low_fp, row.reward_low_fn, row.run_seconds
        ));
    }
    out
}

impl NabCorpus {
    /// Reads `data/`, `labels/combined_windows.json` and `config/profiles.json` under
    /// `nab_dir`. Files are kept in label-file order.
    pub fn load(nab_dir: &Path) -> Result<Self, NabError> {
        let labels_path = nab_dir.join("labels").join("combined_windows.json");
        let labels: BTreeMap<String, Vec<[String; 2]>> = read_json(&labels_path)?;
        if labels.is_empty() {
            return Err(NabError::EmptyCorpus(nab_dir.to_path_buf()));
        }
        let profiles_path = nab_dir.join("config").join("profiles.json");
        let raw_profiles: BTreeMap<String, ProfileEntry> = read_json(&profiles_path)?;
        let profiles = PROFILE_NAMES
            .iter()
            .map(|&name| {
                raw_profiles
                    .get(name)
                    .map(|p| (name.to_owned(), p.cost_matrix))
                    .ok_or_else(|| NabError::MissingProfile(name.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;

        let mut files = Vec::with_capacity(labels.len());
        let mut label_windows = 0;
        for (name, raw_windows) in &labels {
            let path = nab_dir.join("data").join(name);
            let table = read_csv(&path, &["timestamp", "value"])?;
            let mut windows = Vec::with_capacity(raw_windows.len());
            for [start, end] in raw_windows {
                let window = Window {
                    start: parse_label_time(name, start)?,
                    end: parse_label_time(name, end)?,
                };
                for (edge, text) in [(window.start, start), (window.end, end)] {
                    if !table.timestamps.contains(&edge) {
                        return Err(NabError::WindowTimestamp {
                            file: name.clone(),
                            timestamp: text.clone(),
                        });
                    }
                }
                windows.push(window);
            }
            label_windows += windows.len();
            files.push(NabFile {
                name: name.clone(),
                timestamps: table.timestamps,
                values: table.columns.into_iter().nth(1).unwrap_or_default(),
                windows,
            });
        }
        tracing::debug!(files = files.len(), label_windows, "loaded NAB corpus");
        Ok(Self {
            files,
            profiles,
            label_windows,
        })
    }

    /// Number of data files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Data file names (relative to `data/`), in corpus order.
    pub fn file_names(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|f| f.name.as_str())
    }

    /// Whether the corpus has no files (never true for a loaded corpus).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Reads a detector's published per-row scores from `results_dir/<detector>/...`, in NAB's
    /// layout (`<category>/<detector>_<file>.csv`, column `anomaly_score`).
    pub fn read_results(
        &self,
        results_dir: &Path,
        detector: &str,
    ) -> Result<Vec<Vec<f64>>, NabError> {
        self.files
            .iter()
            .map(|file| {
                let (category, base) = file.name.rsplit_once('/').unwrap_or(("", &file.name));
                let path = results_dir
                    .join(detector)
                    .join(category)
                    .join(format!("{detector}_{base}"));
                let table = read_csv(&path, &["timestamp", "anomaly_score"])?;
                if table.timestamps != file.timestamps {
                    return Err(NabError::Csv {
                        path,
                        line: 1,
                        reason: "timestamps differ from the data file".to_owned(),
                    });
                }
                Ok(table.columns.into_iter().nth(1).unwrap_or_default())
            })
            .collect()
    }

    /// Runs and scores one registered detector, with optional parameter overrides (see
    /// [`super::new_detector_with`]).
    pub fn evaluate(
        &self,
        name: &str,
        params: Option<&serde_json::Value>,
    ) -> Result<NabRow, NabError> {
        let started = Instant::now();
        let scores = self.run_detector(&|| new_detector_with(name, params))?;
        let run_seconds = started.elapsed().as_secs_f64();
        let profiles = self.score(&scores)?;
        let by = |p: &str| {
            profiles
                .iter()
                .find(|s| s.profile == p)
                .map_or(f64::NAN, |s| s.normalized)
        };
        tracing::info!(detector = name, run_seconds, "scored on NAB");
        Ok(NabRow {
            detector: name.to_owned(),
            is_default: name == DEFAULT_DETECTOR && params.is_none(),
            standard: by(PROFILE_NAMES[0]),
            reward_low_fp: by(PROFILE_NAMES[1]),
            reward_low_fn: by(PROFILE_NAMES[2]),
            run_seconds,
            profiles,
        })
    }

    /// Runs a detector over every file on two threads, a fresh one from `make` per file.
    pub fn run_detector(
        &self,
        make: &(dyn Fn() -> Result<AnyDetector, ModelError> + Sync),
    ) -> Result<Vec<Vec<f64>>, NabError> {
        // Build one up front so that a bad name or parameter fails before any work.
        make()?;
        let mut order: Vec<usize> = (0..self.files.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.files[i].values.len()));
        let mut results: Vec<Vec<f64>> = vec![Vec::new(); self.files.len()];
        let outcome = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..2)
                .map(|worker| {
                    let mine: Vec<usize> = order.iter().copied().skip(worker).step_by(2).collect();
                    scope.spawn(move || -> Result<Vec<(usize, Vec<f64>)>, NabError> {
                        mine.into_iter()
                            .map(|i| {
                                let file = &self.files[i];
                                let mut detector = make()?;
                                let scores = file
                                    .timestamps
                                    .iter()
                                    .zip(&file.values)
                                    .map(|(&t, &v)| detector.update(t, v))
                                    .collect();
                                Ok((i, scores))
                            })
                            .collect()
                    })
                })
                .collect();
            let mut done = Vec::new();
            for worker in workers {
                done.push(worker.join().map_err(|_| NabError::WorkerPanicked)?);
            }
            Ok::<_, NabError>(done)
        })?;
        for part in outcome {
            for (i, scores) in part? {
                results[i] = scores;
            }
        }
        Ok(results)
    }

    /// Scores per-row anomaly scores (one vector per file, in corpus order) under every
    /// profile: optimizes the threshold on the whole corpus, then normalizes.
    pub fn score(&self, scores: &[Vec<f64>]) -> Result<Vec<ProfileScore>, NabError> {
        self.check_scores(scores)?;
        let null_scores: Vec<Vec<f64>> = self
            .files
            .iter()
            .map(|f| vec![0.5; f.timestamps.len()])
            .collect();
        self.profiles
            .iter()
            .map(|(profile, cost)| {
                let null = self.score_profile(&null_scores, cost).raw;
                let perfect = self.label_windows as f64 * cost.tp_weight;
                let mut result = self.score_profile(scores, cost);
                result.profile = profile.clone();
                result.normalized = 100.0 * (result.raw - null) / (perfect - null);
                Ok(result)
            })
            .collect()
    }

    fn check_scores(&self, scores: &[Vec<f64>]) -> Result<(), NabError> {
        if scores.len() != self.files.len() {
            return Err(NabError::ScoreCount {
                file: "<corpus>".to_owned(),
                got: scores.len(),
                rows: self.files.len(),
            });
        }
        for (file, file_scores) in self.files.iter().zip(scores) {
            if file_scores.len() != file.timestamps.len() {
                return Err(NabError::ScoreCount {
                    file: file.name.clone(),
                    got: file_scores.len(),
                    rows: file.timestamps.len(),
                });
            }
            if let Some((row, &score)) = file_scores
                .iter()
                .enumerate()
                .find(|(_, s)| !(0.0..=1.0).contains(*s))
            {
                return Err(NabError::BadScore {
                    file: file.name.clone(),
                    row,
                    score,
                });
            }
        }
        Ok(())
    }

    /// Optimizes the threshold for one profile and scores every file at it (raw, unnormalized).
    fn score_profile(&self, scores: &[Vec<f64>], cost: &CostMatrix) -> ProfileScore {
        let mut per_file = Vec::with_capacity(self.files.len());
        let mut all_rows = Vec::new();
        let mut window_base = 0;
        for (file, file_scores) in self.files.iter().zip(scores) {
            let rows = sweep_rows(file, file_scores, cost, window_base);
            window_base += file.windows.len();
            all_rows.extend_from_slice(&rows);
            per_file.push(rows);
        }
        let curve = threshold_curve(&mut all_rows, window_base, cost.fn_weight);
        let threshold = best_threshold(&curve);

        let mut raw = 0.0;
        let mut tally = Tally::default();
        let mut files = Vec::with_capacity(per_file.len());
        for (file, mut rows) in self.files.iter().zip(per_file) {
            let file_raw = score_at(&mut rows, window_base, cost.fn_weight, threshold);
            raw += file_raw;
            let mut one = Tally::default();
            one.add(&rows, window_base, threshold);
            files.push(FileScore {
                file: file.name.clone(),
                raw: file_raw,
                windows: one.windows,
                windows_detected: one.detected,
                false_positives: one.false_positives,
            });
            tally.add(&rows, window_base, threshold);
        }
        ProfileScore {
            profile: String::new(),
            threshold,
            raw,
            normalized: f64::NAN,
            windows_detected: tally.detected,
            windows_missed: tally.windows - tally.detected,
            false_positives: tally.false_positives,
            files,
        }
    }
}

/// One scorable (post-probation) row: its anomaly score, what detecting it is worth, and the
/// corpus-wide id of the window it lies in.
#[derive(Debug, Clone, Copy)]
struct SweepRow {
    score: f64,
    weight: f64,
    window: Option<usize>,
}

/// NAB's scaled sigmoid of a position relative to a window's right edge.
fn scaled_sigmoid(position: f64) -> f64 {
    if position >= 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * position).exp()) - 1.0
    }
}

/// Weighs every row of a file and drops the probationary ones. Window ids start at
/// `window_base`, in the file's window order.
fn sweep_rows(
    file: &NabFile,
    scores: &[f64],
    cost: &CostMatrix,
    window_base: usize,
) -> Vec<SweepRow> {
    let first_index = |t: i64| file.timestamps.iter().position(|&x| x == t).unwrap_or(0) as i64;
    let max_tp = scaled_sigmoid(-1.0);
    let probation = file.probation_rows();
    let mut pending = 0;
    // (window id, right edge index, width, end timestamp)
    let mut current: Option<(usize, i64, f64, i64)> = None;
    // (index of the row that closed the window, width)
    let mut previous: Option<(i64, f64)> = None;
    let mut rows = Vec::with_capacity(file.timestamps.len());
    for (i, (&t, &score)) in file.timestamps.iter().zip(scores).enumerate() {
        let i = i as i64;
        if let Some(window) = file.windows.get(pending)
            && t == window.start
        {
            let right = first_index(window.end);
            let width = (right - first_index(window.start) + 1) as f64;
            current = Some((window_base + pending, right, width, window.end));
            pending += 1;
        }
        let (weight, window) = match current {
            Some((id, right, width, _)) => {
                let position = -((right - i + 1) as f64) / width;
                (scaled_sigmoid(position) * cost.tp_weight / max_tp, Some(id))
            }
            None => {
                let position = match previous {
                    None => 3.0,
                    Some((right, width)) => (right - i).abs() as f64 / (width - 1.0),
                };
                (scaled_sigmoid(position) * cost.fp_weight, None)
            }
        };
        if i as f64 >= probation {
            rows.push(SweepRow {
                score,
                weight,
                window,
            });
        }
        if let Some((_, _, width, end)) = current
            && t == end
        {
            previous = Some((i, width));
            current = None;
        }
    }
    rows
}

/// Running NAB score while the threshold is lowered one row at a time.
struct Sweep {
    fp: f64,
    /// Credit of each window id; NaN for windows with no scorable row.
    credit: Vec<f64>,
    /// Window ids in the order they are first met, which is the order NAB sums them in.
    order: Vec<usize>,
}

impl Sweep {
    /// `rows` must already be sorted by descending anomaly score.
    fn new(rows: &[SweepRow], windows: usize, fn_weight: f64) -> Self {
        let mut credit = vec![f64::NAN; windows];
        let mut order = Vec::new();
        for row in rows {
            if let Some(w) = row.window
                && credit[w].is_nan()
            {
                credit[w] = -fn_weight;
                order.push(w);
            }
        }
        Self {
            fp: 0.0,
            credit,
            order,
        }
    }

    fn detect(&mut self, row: &SweepRow) {
        match row.window {
            None => self.fp += row.weight,
            Some(w) => self.credit[w] = self.credit[w].max(row.weight),
        }
    }

    fn total(&self) -> f64 {
        self.order
            .iter()
            .fold(self.fp, |sum, &w| sum + self.credit[w])
    }
}

fn sort_descending(rows: &mut [SweepRow]) {
    // Stable, like NAB's sort, so rows with equal scores keep file order.
    rows.sort_by(|a, b| b.score.total_cmp(&a.score));
}

/// The corpus score at every distinct threshold, from above the highest score downwards.
fn threshold_curve(rows: &mut [SweepRow], windows: usize, fn_weight: f64) -> Vec<(f64, f64)> {
    sort_descending(rows);
    let mut sweep = Sweep::new(rows, windows, fn_weight);
    let mut curve = Vec::new();
    let mut threshold = START_THRESHOLD;
    for row in rows.iter() {
        if row.score != threshold {
            curve.push((threshold, sweep.total()));
            threshold = row.score;
        }
        sweep.detect(row);
    }
    curve.push((threshold, sweep.total()));
    curve
}

/// The threshold of the highest score; the highest threshold among equal scores.
fn best_threshold(curve: &[(f64, f64)]) -> f64 {
    let mut best = (START_THRESHOLD, f64::NEG_INFINITY);
    for &(threshold, score) in curve {
        if score > best.1 {
            best = (threshold, score);
        }
    }
    best.0
}

/// A file's score at a threshold chosen on the whole corpus: its score with every row at or
/// above the threshold detected.
fn score_at(rows: &mut [SweepRow], windows: usize, fn_weight: f64, threshold: f64) -> f64 {
    sort_descending(rows);
    let mut sweep = Sweep::new(rows, windows, fn_weight);
    for row in rows.iter().take_while(|r| r.score >= threshold) {
        sweep.detect(row);
    }
    sweep.total()
}

#[derive(Debug, Default)]
struct Tally {
    windows: usize,
    detected: usize,
    false_positives: usize,
}

impl Tally {
    fn add(&mut self, rows: &[SweepRow], windows: usize, threshold: f64) {
        let mut seen = vec![false; windows];
        let mut hit = vec![false; windows];
        for row in rows {
            match row.window {
                Some(w) => {
                    seen[w] = true;
                    hit[w] |= row.score >= threshold;
                }
                None => self.false_positives += usize::from(row.score >= threshold),
            }
        }
        self.windows += seen.iter().filter(|&&s| s).count();
        self.detected += hit.iter().filter(|&&h| h).count();
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, NabError> {
    let text = fs::read_to_string(path).map_err(|source| NabError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| NabError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// A CSV's `timestamp` column (parsed) and the requested columns (first one is `timestamp`,
/// kept as NaN placeholders so indices match `wanted`).
struct Table {
    timestamps: Vec<i64>,
    columns: Vec<Vec<f64>>,
}

fn read_csv(path: &Path, wanted: &[&str]) -> Result<Table, NabError> {
    let text = fs::read_to_string(path).map_err(|source| NabError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let csv_error = |line: usize, reason: String| NabError::Csv {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| csv_error(1, "empty file".to_owned()))?
        .split(',')
        .map(str::trim)
        .collect();
    let indices = wanted
        .iter()
        .map(|name| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| csv_error(1, format!("no column {name:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut table = Table {
        timestamps: Vec::new(),
        columns: vec![Vec::new(); wanted.len()],
    };
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let line_no = n + 2;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        for (slot, (&index, name)) in indices.iter().zip(wanted).enumerate() {
            let field = fields
                .get(index)
                .ok_or_else(|| csv_error(line_no, format!("missing column {name:?}")))?;
            if *name == "timestamp" {
                let t = parse_time(field)
                    .ok_or_else(|| csv_error(line_no, format!("bad timestamp {field:?}")))?;
                table.timestamps.push(t);
                table.columns[slot].push(f64::NAN);
            } else {
                let v: f64 = field
                    .parse()
                    .map_err(|_| csv_error(line_no, format!("bad number {field:?} in {name}")))?;
                table.columns[slot].push(v);
            }
        }
    }
    Ok(table)
}

/// Parses NAB's `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC) into unix seconds.
fn parse_time(text: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

fn parse_label_time(file: &str, text: &str) -> Result<i64, NabError> {
    parse_time(text).ok_or_else(|| NabError::WindowTimestamp {
        file: file.to_owned(),
        timestamp: text.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The corpus: `$NAB_DIR`, else the copy in the repository's `data/nab`.
    pub(crate) fn corpus_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("NAB_DIR") {
            return Some(PathBuf::from(dir));
        }
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/nab"))
    }

    fn file(timestamps: Vec<i64>, windows: Vec<Window>) -> NabFile {
        let values = vec![0.0; timestamps.len()];
        NabFile {
            name: "test/file.csv".to_owned(),
            timestamps,
            values,
            windows,
        }
    }

    const STANDARD: CostMatrix = CostMatrix {
        tp_weight: 1.0,
        fp_weight: 0.11,
        fn_weight: 1.0,
    };

    #[test]
    fn scaled_sigmoid_matches_nab_landmarks() {
        assert!((scaled_sigmoid(-1.0) - 0.98661).abs() < 1e-5);
        assert!((scaled_sigmoid(-0.5) - 0.84828).abs() < 1e-5);
        assert_eq!(scaled_sigmoid(0.0), 0.0);
        assert!((scaled_sigmoid(1.0) + 0.98661).abs() < 1e-5);
        assert_eq!(scaled_sigmoid(3.0), -1.0);
    }

    #[test]
    fn probation_is_fifteen_percent_capped_at_750_rows() {
        assert_eq!(file((0..1000).collect(), vec![]).probation_rows(), 150.0);
        assert_eq!(file((0..4033).collect(), vec![]).probation_rows(), 604.0);
        assert_eq!(file((0..22695).collect(), vec![]).probation_rows(), 750.0);
    }

    #[test]
    fn first_row_of_a_window_earns_exactly_the_tp_weight() {
        let f = file((0..100).collect(), vec![Window { start: 50, end: 59 }]);
        let mut scores = vec![0.0; 100];
        scores[50] = 1.0;
        scores[55] = 1.0; // a second detection in the same window is free
        let mut rows = sweep_rows(&f, &scores, &STANDARD, 0);
        assert_eq!(rows.len(), 85);
        let score = score_at(&mut rows, 1, 1.0, 0.5);
        assert!((score - 1.0).abs() < 1e-12, "{score}");
    }

    #[test]
    fn missed_window_costs_fn_weight_and_early_fp_costs_fp_weight() {
        let f = file((0..100).collect(), vec![Window { start: 50, end: 59 }]);
        let mut scores = vec![0.0; 100];
        scores[10] = 1.0; // probation: ignored
        scores[20] = 1.0; // before any window: -fpWeight
        let mut rows = sweep_rows(&f, &scores, &STANDARD, 0);
        let score = score_at(&mut rows, 1, 1.0, 0.5);
        assert!((score - (-1.0 - 0.11)).abs() < 1e-12, "{score}");
    }

    #[test]
    fn false_positive_right_after_a_window_is_nearly_free() {
        let f = file((0..100).collect(), vec![Window { start: 50, end: 59 }]);
        let mut scores = vec![0.0; 100];
        scores[60] = 1.0;
        scores[99] = 1.0;
        let rows = sweep_rows(&f, &scores, &STANDARD, 0);
        let after = rows.iter().find(|r| r.score == 1.0).map(|r| r.weight);
        // One row past the end: position 1/9 of the width.
        let expected = scaled_sigmoid(1.0 / 9.0) * 0.11;
        assert_eq!(after, Some(expected));
        assert!(expected > -0.03);
    }

    #[test]
    fn sweep_prefers_the_highest_threshold_among_equal_scores() {
        let curve = vec![(1.1, -2.0), (0.9, 1.0), (0.8, 1.0), (0.1, -5.0)];
        assert_eq!(best_threshold(&curve), 0.9);
    }

    #[test]
    fn default_detector_flags_every_ec2_request_latency_failure_window() {
        let Some(dir) = corpus_dir() else { return };
        let corpus = NabCorpus::load(&dir).expect("corpus loads");
        let file = corpus
            .files
            .iter()
            .find(|f| f.name == "realKnownCause/ec2_request_latency_system_failure.csv")
            .expect("file in corpus");
        let mut detector = new_detector_with(DEFAULT_DETECTOR, None).expect("default exists");
        let scores: Vec<f64> = file
            .timestamps
            .iter()
            .zip(&file.values)
            .map(|(&t, &v)| detector.update(t, v))
            .collect();
        for window in &file.windows {
            let flagged = file.timestamps.iter().zip(&scores).any(|(&t, &s)| {
                (window.start..=window.end).contains(&t) && s >= DEFAULT_ALERT_THRESHOLD
            });
            assert!(flagged, "window {window:?} not flagged");
        }
    }

    /// Runs the default detector over the whole corpus: minutes in a debug build, two seconds
    /// in release, so it is opt-in: `cargo test --release -- --ignored`.
    #[test]
    #[ignore = "full NAB run; use cargo test --release -- --ignored"]
    fn default_alert_threshold_is_the_one_the_nab_sweep_chooses() {
        let Some(dir) = corpus_dir() else { return };
        let corpus = NabCorpus::load(&dir).expect("corpus loads");
        let row = corpus.evaluate(DEFAULT_DETECTOR, None).expect("runs");
        let standard = &row.profiles[0];
        assert_eq!(standard.profile, "standard");
        assert!(
            (standard.threshold - DEFAULT_ALERT_THRESHOLD).abs() < 1e-3,
            "sweep chose {}",
            standard.threshold
        );
        assert!(
            row.standard > 60.0,
            "default scores {:.2} on NAB standard",
            row.standard
        );
    }

    #[test]
    fn windowed_gaussian_results_reproduce_published_nab_scores() {
        let Some(dir) = corpus_dir() else { return };
        let corpus = NabCorpus::load(&dir).expect("corpus loads");
        assert_eq!(corpus.len(), 58);
        let scores = corpus
            .read_results(&dir.join("results"), "windowedGaussian")
            .expect("results load");
        let got = corpus.score(&scores).expect("scores");
        let published = [
            ("standard", 39.65),
            ("reward_low_FP_rate", 20.87),
            ("reward_low_FN_rate", 47.41),
        ];
        for (profile, want) in published {
            let p = got.iter().find(|p| p.profile == profile).expect("profile");
            assert!(
                (p.normalized - want).abs() < 0.005,
                "{profile}: got {:.4}, published {want}",
                p.normalized
            );
        }
    }
}
