//! Forecasts of a regularly sampled series and the error-budget curve they imply.
//!
//! # Models
//!
//! - **Naive**: every future step equals the last observation.
//! - **Seasonal naive**: every future step equals the observation one season earlier.
//! - **Holt-Winters**, additive error, damped additive trend, additive season (ETS(A,Ad,A)).
//!   The smoothing parameters `alpha`, `beta`, `gamma` and the damping `phi` are chosen by a
//!   grid search that minimises the in-sample sum of squared one-step errors.
//! - **Seasonal decomposition + damped trend** (MSTL-like): a daily and, given at least two
//!   weeks of data, a weekly seasonal profile are taken out in turn, each as the per-phase
//!   *median* of the series minus the other profile and minus a moving average over one period
//!   (medians keep incidents from bending the profile); two passes. What remains is forecast by
//!   Holt's damped trend, grid-fitted like Holt-Winters, and the profiles are added back.
//!
//! # Model choice
//!
//! [`forecast`] holds back the last `horizon` steps (fewer if the series is short), fits every
//! candidate on what precedes them and measures its mean absolute error on them; it repeats
//! this for the block before (up to [`ForecastConfig::selection_folds`] blocks, as the history
//! allows) and keeps the candidate with the lowest mean error. The winner is refitted on the
//! whole series before it forecasts.
//!
//! # Prediction intervals
//!
//! Intervals are Gaussian around the point forecast. The one-step standard deviation `sigma`
//! is the root mean square of the in-sample one-step residuals; the `h`-step variance is
//! `sigma^2 * v(h)` where `v` is the model's own multiplier:
//!
//! - naive: `v(h) = h` (a random walk);
//! - seasonal naive: `v(h) = floor((h - 1) / m) + 1`;
//! - ETS(A,Ad,A): `v(h) = 1 + sum_{j=1}^{h-1} c_j^2`, with
//!   `c_j = alpha * (1 + beta * (phi + ... + phi^j)) + gamma * [j mod m == 0]`;
//! - decomposition: the same with `gamma = 0` for the damped trend on the seasonally adjusted
//!   series. The profiles are treated as known, so these intervals are somewhat too narrow.
//!
//! # Error budget
//!
//! [`forecast_budget`] turns a forecast of the error ratio into the remaining budget after each
//! step; see its documentation for the formula.

use serde::{Deserialize, Serialize};

/// Why a forecast or a budget curve could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    #[error(
        "series has {got} points; at least {need} are needed (two seasons of {season} steps \
         for Holt-Winters, one for seasonal naive, two for naive)"
    )]
    TooShort {
        got: usize,
        need: usize,
        season: usize,
    },
    #[error("value at step {index} is not a finite number ({value})")]
    NonFinite { index: usize, value: f64 },
    #[error("invalid forecast configuration: {0}")]
    Config(String),
    #[error("SLO objective {0} must lie strictly between 0 and 1")]
    Objective(f64),
    #[error("error budget left {0} must be a finite fraction no greater than 1")]
    BudgetLeft(f64),
    #[error("the SLO window must span at least one step")]
    EmptyWindow,
    #[error("forecast error ratio at step {index} is {value}; ratios must be finite")]
    BadRatio { index: usize, value: f64 },
}

/// A forecasting model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Naive,
    SeasonalNaive,
    HoltWinters,
    Decomposition,
}

impl ModelKind {
    /// All models, baselines first.
    pub const ALL: [ModelKind; 4] = [
        ModelKind::Naive,
        ModelKind::SeasonalNaive,
        ModelKind::HoltWinters,
        ModelKind::Decomposition,
    ];

    /// Stable lowercase name, as used in model cards and tables.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Naive => "naive",
            ModelKind::SeasonalNaive => "seasonal_naive",
            ModelKind::HoltWinters => "holt_winters",
            ModelKind::Decomposition => "decomposition",
        }
    }

    /// Fewest observations the model can be fitted on (with at least one in-sample residual).
    pub fn min_points(self, season: usize) -> usize {
        match self {
            ModelKind::Naive => 2,
            ModelKind::SeasonalNaive => season + 1,
            ModelKind::HoltWinters | ModelKind::Decomposition => 2 * season + 1,
        }
    }
}

/// Smoothing parameters of an ETS(A,Ad,A) model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HoltWintersParams {
    /// Level smoothing, in (0, 1).
    pub alpha: f64,
    /// Trend smoothing, in [0, 1).
    pub beta: f64,
    /// Seasonal smoothing, in [0, 1).
    pub gamma: f64,
    /// Trend damping, in (0, 1]; 1 is an undamped linear trend.
    pub phi: f64,
}

const ALPHAS: [f64; 7] = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9];
const BETAS: [f64; 4] = [0.0, 0.01, 0.05, 0.15];
const GAMMAS: [f64; 5] = [0.01, 0.05, 0.1, 0.2, 0.4];
const PHIS: [f64; 2] = [0.95, 1.0];
/// Damping for the trend of the decomposition model, which should flatten out over 48 h.
const DECOMPOSITION_PHIS: [f64; 2] = [0.9, 0.98];
/// Days in the weekly season of the decomposition model.
const DAYS_PER_WEEK: usize = 7;

/// What [`forecast`] should do.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastConfig {
    /// Steps per season (24 for hourly data with a daily season, 288 for 5-minute data).
    pub season: usize,
    /// Steps to forecast.
    pub horizon: usize,
    /// Coverage of the prediction intervals, each in (0, 1), e.g. `[0.8, 0.95]`.
    pub levels: Vec<f64>,
    /// Only the most recent `max_fit_steps` observations are used; older ones are ignored.
    pub max_fit_steps: usize,
    /// Models to choose from.
    pub candidates: Vec<ModelKind>,
    /// Lower bound applied to forecasts and interval bounds (0 for counts and ratios).
    pub floor: Option<f64>,
    /// Held-back blocks of `horizon` steps over which candidates are compared.
    pub selection_folds: usize,
}

impl ForecastConfig {
    /// All models, 80 % and 95 % intervals, at most 28 seasons of history, no floor, model
    /// choice over two held-back blocks.
    pub fn new(season: usize, horizon: usize) -> Self {
        Self {
            season,
            horizon,
            levels: vec![0.8, 0.95],
            max_fit_steps: 28 * season,
            candidates: ModelKind::ALL.to_vec(),
            floor: None,
            selection_folds: 2,
        }
    }

    fn validate(&self) -> Result<(), ForecastError> {
        if self.season < 2 {
            return Err(ForecastError::Config(format!(
                "season must be at least 2 steps, got {}",
                self.season
            )));
        }
        if self.horizon == 0 {
            return Err(ForecastError::Config(
                "horizon must be at least 1 step".into(),
            ));
        }
        if self.candidates.is_empty() {
            return Err(ForecastError::Config("no candidate model".into()));
        }
        if let Some(level) = self.levels.iter().find(|l| !(**l > 0.0 && **l < 1.0)) {
            return Err(ForecastError::Config(format!(
                "interval level {level} is not in (0, 1)"
            )));
        }
        if self.max_fit_steps < 2 {
            return Err(ForecastError::Config(
                "max_fit_steps must be at least 2".into(),
            ));
        }
        Ok(())
    }
}

/// Lower and upper bounds of a central prediction interval, one pair per forecast step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionInterval {
    pub level: f64,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

/// A candidate's error on the held-back steps during model choice.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    pub model: ModelKind,
    pub holdout_mae: f64,
}

/// The forecast of the chosen model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    pub model: ModelKind,
    /// Smoothing parameters when the chosen model is Holt-Winters (all four) or the
    /// decomposition (`gamma` is 0: the trend model on the seasonally adjusted series).
    pub holt_winters: Option<HoltWintersParams>,
    /// Point forecast for steps `1..=horizon` after the last observation.
    pub mean: Vec<f64>,
    pub intervals: Vec<PredictionInterval>,
    /// Root mean square of the in-sample one-step residuals.
    pub residual_sd: f64,
    /// Every candidate that could be scored, in the order of `ForecastConfig::candidates`.
    /// Empty when the series was too short to hold any steps back.
    pub selection: Vec<CandidateScore>,
}

impl Forecast {
    /// The interval of the given level, if it was requested.
    pub fn interval(&self, level: f64) -> Option<&PredictionInterval> {
        self.intervals
            .iter()
            .find(|i| (i.level - level).abs() < 1e-9)
    }
}

/// Forecasts `config.horizon` steps after the last value of `values`, choosing the model by
/// held-out error (see the module documentation).
pub fn forecast(values: &[f64], config: &ForecastConfig) -> Result<Forecast, ForecastError> {
    config.validate()?;
    check_finite(values)?;
    let start = values.len().saturating_sub(config.max_fit_steps);
    let y = &values[start..];
    let m = config.season;

    let usable: Vec<ModelKind> = config
        .candidates
        .iter()
        .copied()
        .filter(|k| y.len() >= k.min_points(m))
        .collect();
    if usable.is_empty() {
        let need = config
            .candidates
            .iter()
            .map(|k| k.min_points(m))
            .min()
            .unwrap_or(2);
        return Err(ForecastError::TooShort {
            got: y.len(),
            need,
            season: m,
        });
    }

    let selection = select(y, m, config.horizon, config.selection_folds, &usable);
    let chosen = selection
        .iter()
        .min_by(|a, b| a.holdout_mae.total_cmp(&b.holdout_mae))
        .map(|c| c.model)
        .unwrap_or(usable[0]);

    let fitted = Fitted::fit(chosen, y, m).ok_or(ForecastError::TooShort {
        got: y.len(),
        need: chosen.min_points(m),
        season: m,
    })?;
    Ok(fitted.forecast(config, selection))
}

/// Fits one model on `values` (all of them) and forecasts with it, without model choice.
pub fn forecast_with(
    model: ModelKind,
    values: &[f64],
    config: &ForecastConfig,
) -> Result<Forecast, ForecastError> {
    config.validate()?;
    check_finite(values)?;
    let start = values.len().saturating_sub(config.max_fit_steps);
    let y = &values[start..];
    let fitted = Fitted::fit(model, y, config.season).ok_or(ForecastError::TooShort {
        got: y.len(),
        need: model.min_points(config.season),
        season: config.season,
    })?;
    Ok(fitted.forecast(config, Vec::new()))
}

fn check_finite(values: &[f64]) -> Result<(), ForecastError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(ForecastError::NonFinite {
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

/// Scores every usable candidate on up to `folds` consecutive held-back blocks of `horizon`
/// steps at the end of the series (shrunk so that the shortest candidate keeps its minimum
/// history before the earliest block); each candidate's score is its MAE averaged over the
/// blocks, and a candidate that cannot be fitted before every block is left out. Returns
/// nothing when no steps can be held back.
fn select(
    y: &[f64],
    m: usize,
    horizon: usize,
    folds: usize,
    usable: &[ModelKind],
) -> Vec<CandidateScore> {
    let min_need = usable.iter().map(|k| k.min_points(m)).min().unwrap_or(2);
    let spare = y.len().saturating_sub(min_need);
    let holdout = horizon.min(spare);
    if holdout == 0 {
        return Vec::new();
    }
    let folds = folds.clamp(1, (spare / holdout).max(1));
    usable
        .iter()
        .filter_map(|&model| {
            let mut total = 0.0;
            for fold in 0..folds {
                let end = y.len() - fold * holdout;
                let (train, test) = y[..end].split_at(end - holdout);
                let fitted = Fitted::fit(model, train, m)?;
                total += mean_abs_diff(test, &fitted.point(holdout));
            }
            Some(CandidateScore {
                model,
                holdout_mae: total / folds as f64,
            })
        })
        .collect()
}

pub(crate) fn mean_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return f64::NAN;
    }
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / n as f64
}

/// State of a Holt-Winters filter after the last observation.
#[derive(Debug, Clone)]
struct HwState {
    level: f64,
    trend: f64,
    /// Seasonal terms indexed by `t mod m`.
    seasonal: Vec<f64>,
    sse: f64,
    residuals: usize,
}

/// Runs ETS(A,Ad,A) over `y`. The first two seasons initialise the state: the level is the
/// first season's mean (placed at its centre), the trend the difference of the two seasons'
/// means divided by `m`, and the seasonal terms the first season's deviations from that
/// line. Filtering starts at `t = m`; `None` when `y` is shorter than two seasons.
fn hw_run(y: &[f64], m: usize, p: HoltWintersParams) -> Option<HwState> {
    if y.len() < 2 * m || m == 0 {
        return None;
    }
    let mean1 = y[..m].iter().sum::<f64>() / m as f64;
    let mean2 = y[m..2 * m].iter().sum::<f64>() / m as f64;
    let trend0 = (mean2 - mean1) / m as f64;
    let centre = (m as f64 - 1.0) / 2.0;
    let seasonal: Vec<f64> = (0..m)
        .map(|i| y[i] - (mean1 + (i as f64 - centre) * trend0))
        .collect();
    let mut state = HwState {
        level: mean1 + centre * trend0,
        trend: trend0,
        seasonal,
        sse: 0.0,
        residuals: 0,
    };
    for (t, &obs) in y.iter().enumerate().skip(m) {
        let i = t % m;
        let s = state.seasonal[i];
        let predicted = state.level + p.phi * state.trend + s;
        let error = obs - predicted;
        state.sse += error * error;
        state.residuals += 1;
        let level = p.alpha * (obs - s) + (1.0 - p.alpha) * (state.level + p.phi * state.trend);
        state.trend = p.beta * (level - state.level) + (1.0 - p.beta) * p.phi * state.trend;
        state.seasonal[i] = p.gamma * (obs - level) + (1.0 - p.gamma) * s;
        state.level = level;
    }
    Some(state)
}

/// Grid search over the smoothing parameters; ties keep the first (smallest) parameters.
fn hw_fit(y: &[f64], m: usize) -> Option<(HoltWintersParams, HwState)> {
    let mut best: Option<(HoltWintersParams, HwState)> = None;
    for &phi in &PHIS {
        for &alpha in &ALPHAS {
            for &beta in &BETAS {
                for &gamma in &GAMMAS {
                    // Keep the seasonal update admissible: gamma <= 1 - alpha.
                    if gamma > 1.0 - alpha {
                        continue;
                    }
                    let p = HoltWintersParams {
                        alpha,
                        beta,
                        gamma,
                        phi,
                    };
                    let state = hw_run(y, m, p)?;
                    if best.as_ref().is_none_or(|(_, b)| state.sse < b.sse) {
                        best = Some((p, state));
                    }
                }
            }
        }
    }
    best
}

#[derive(Debug, Clone)]
enum FittedModel {
    Naive {
        last: f64,
    },
    SeasonalNaive {
        last_season: Vec<f64>,
    },
    HoltWinters {
        params: HoltWintersParams,
        state: HwState,
        /// Number of observations filtered; the next step has index `n`.
        n: usize,
    },
    Decomposition {
        /// Damped trend on the seasonally adjusted series (`gamma = 0`).
        params: HoltWintersParams,
        level: f64,
        trend: f64,
        /// Profiles indexed by `t mod m` and `t mod 7m`; the weekly one may be empty.
        daily: Vec<f64>,
        weekly: Vec<f64>,
        n: usize,
    },
}

/// A model fitted on one series.
#[derive(Debug, Clone)]
struct Fitted {
    kind: ModelKind,
    model: FittedModel,
    season: usize,
    residual_sd: f64,
}

impl Fitted {
    fn fit(kind: ModelKind, y: &[f64], m: usize) -> Option<Self> {
        if y.len() < kind.min_points(m) {
            return None;
        }
        let (model, sse, count) = match kind {
            ModelKind::Naive => {
                let sse = y.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum::<f64>();
                let last = *y.last()?;
                (FittedModel::Naive { last }, sse, y.len() - 1)
            }
            ModelKind::SeasonalNaive => {
                let sse = (m..y.len()).map(|t| (y[t] - y[t - m]).powi(2)).sum::<f64>();
                let last_season = y[y.len() - m..].to_vec();
                (FittedModel::SeasonalNaive { last_season }, sse, y.len() - m)
            }
            ModelKind::HoltWinters => {
                let (params, state) = hw_fit(y, m)?;
                let (sse, count) = (state.sse, state.residuals);
                let n = y.len();
                (FittedModel::HoltWinters { params, state, n }, sse, count)
            }
            ModelKind::Decomposition => {
                let fit = decomposition_fit(y, m)?;
                (fit.model, fit.sse, fit.count)
            }
        };
        Some(Self {
            kind,
            model,
            season: m,
            residual_sd: (sse / count.max(1) as f64).sqrt(),
        })
    }

    /// Point forecasts for steps `1..=horizon`.
    fn point(&self, horizon: usize) -> Vec<f64> {
        let m = self.season;
        match &self.model {
            FittedModel::Naive { last } => vec![*last; horizon],
            FittedModel::SeasonalNaive { last_season } => {
                (1..=horizon).map(|h| last_season[(h - 1) % m]).collect()
            }
            FittedModel::HoltWinters { params, state, n } => {
                let mut damp_sum = 0.0;
                let mut phi_pow = 1.0;
                (1..=horizon)
                    .map(|h| {
                        phi_pow *= params.phi;
                        damp_sum += phi_pow;
                        state.level + damp_sum * state.trend + state.seasonal[(n + h - 1) % m]
                    })
                    .collect()
            }
            FittedModel::Decomposition {
                params,
                level,
                trend,
                daily,
                weekly,
                n,
            } => {
                let mut damp_sum = 0.0;
                let mut phi_pow = 1.0;
                (1..=horizon)
                    .map(|h| {
                        phi_pow *= params.phi;
                        damp_sum += phi_pow;
                        let t = n + h - 1;
                        let week = if weekly.is_empty() {
                            0.0
                        } else {
                            weekly[t % weekly.len()]
                        };
                        level + damp_sum * trend + daily[t % m] + week
                    })
                    .collect()
            }
        }
    }

    /// `v(h)` for `h = 1..=horizon`: the h-step forecast variance in units of `sigma^2`.
    fn variance_multipliers(&self, horizon: usize) -> Vec<f64> {
        let m = self.season;
        match &self.model {
            FittedModel::Naive { .. } => (1..=horizon).map(|h| h as f64).collect(),
            FittedModel::SeasonalNaive { .. } => {
                (1..=horizon).map(|h| ((h - 1) / m + 1) as f64).collect()
            }
            FittedModel::HoltWinters { params, .. } | FittedModel::Decomposition { params, .. } => {
                let mut out = Vec::with_capacity(horizon);
                let mut total = 1.0;
                let mut damp_sum = 0.0;
                let mut phi_pow = 1.0;
                for h in 1..=horizon {
                    out.push(total);
                    // Add c_h^2 for the next step.
                    phi_pow *= params.phi;
                    damp_sum += phi_pow;
                    let seasonal = if h % m == 0 { params.gamma } else { 0.0 };
                    let c = params.alpha * (1.0 + params.beta * damp_sum) + seasonal;
                    total += c * c;
                }
                out
            }
        }
    }

    fn forecast(&self, config: &ForecastConfig, selection: Vec<CandidateScore>) -> Forecast {
        let floor = |v: f64| config.floor.map_or(v, |f| v.max(f));
        let point = self.point(config.horizon);
        let multipliers = self.variance_multipliers(config.horizon);
        let intervals = config
            .levels
            .iter()
            .map(|&level| {
                let z = normal_quantile(0.5 + level / 2.0);
                let half: Vec<f64> = multipliers
                    .iter()
                    .map(|v| z * self.residual_sd * v.sqrt())
                    .collect();
                PredictionInterval {
                    level,
                    lower: point.iter().zip(&half).map(|(p, h)| floor(p - h)).collect(),
                    upper: point.iter().zip(&half).map(|(p, h)| floor(p + h)).collect(),
                }
            })
            .collect();
        let holt_winters = match &self.model {
            FittedModel::HoltWinters { params, .. } | FittedModel::Decomposition { params, .. } => {
                Some(*params)
            }
            _ => None,
        };
        Forecast {
            model: self.kind,
            holt_winters,
            mean: point.into_iter().map(floor).collect(),
            intervals,
            residual_sd: self.residual_sd,
            selection,
        }
    }
}

struct DecompositionFit {
    model: FittedModel,
    sse: f64,
    count: usize,
}

/// Fits the decomposition model (module docs). Needs two days; uses a weekly profile only
/// with two weeks.
fn decomposition_fit(y: &[f64], m: usize) -> Option<DecompositionFit> {
    if y.len() < 2 * m + 1 {
        return None;
    }
    let week = DAYS_PER_WEEK * m;
    let use_weekly = y.len() >= 2 * week;
    let mut daily = vec![0.0; m];
    let mut weekly = if use_weekly {
        vec![0.0; week]
    } else {
        Vec::new()
    };
    for _ in 0..2 {
        let without_weekly: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(t, v)| v - weekly.get(t % week.max(1)).copied().unwrap_or(0.0))
            .collect();
        daily = seasonal_profile(&without_weekly, m);
        if use_weekly {
            let without_daily: Vec<f64> = y
                .iter()
                .enumerate()
                .map(|(t, v)| v - daily[t % m])
                .collect();
            weekly = seasonal_profile(&without_daily, week);
        }
    }
    let adjusted: Vec<f64> = y
        .iter()
        .enumerate()
        .map(|(t, v)| {
            let w = if use_weekly { weekly[t % week] } else { 0.0 };
            v - daily[t % m] - w
        })
        .collect();

    let (params, level, trend, sse) = holt_fit(&adjusted)?;
    Some(DecompositionFit {
        model: FittedModel::Decomposition {
            params,
            level,
            trend,
            daily,
            weekly,
            n: y.len(),
        },
        sse,
        count: y.len() - 1,
    })
}

/// Per-phase median of `z` minus its moving average over one period, centred to mean 0.
/// The moving-average window always spans a full period: near the ends it is shifted inside
/// the series instead of truncated, so a periodic component averages out exactly.
fn seasonal_profile(z: &[f64], period: usize) -> Vec<f64> {
    let n = z.len();
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0.0);
    for v in z {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + v);
    }
    let mut by_phase: Vec<Vec<f64>> = vec![Vec::new(); period];
    for (t, v) in z.iter().enumerate() {
        let start = t.saturating_sub(period / 2).min(n - period);
        let trend = (prefix[start + period] - prefix[start]) / period as f64;
        by_phase[t % period].push(v - trend);
    }
    let mut profile: Vec<f64> = by_phase.iter_mut().map(|v| median(v)).collect();
    let mean = profile.iter().sum::<f64>() / period as f64;
    profile.iter_mut().for_each(|p| *p -= mean);
    profile
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Holt's damped trend by grid search on one-step SSE; starts from the first value with no
/// trend. Returns the parameters, final level and trend, and the SSE.
fn holt_fit(y: &[f64]) -> Option<(HoltWintersParams, f64, f64, f64)> {
    let first = *y.first()?;
    let mut best: Option<(HoltWintersParams, f64, f64, f64)> = None;
    for &phi in &DECOMPOSITION_PHIS {
        for &alpha in &ALPHAS {
            for &beta in &BETAS {
                let (mut level, mut trend, mut sse) = (first, 0.0, 0.0);
                for &obs in &y[1..] {
                    let error = obs - (level + phi * trend);
                    sse += error * error;
                    let next = alpha * obs + (1.0 - alpha) * (level + phi * trend);
                    trend = beta * (next - level) + (1.0 - beta) * phi * trend;
                    level = next;
                }
                if best.as_ref().is_none_or(|b| sse < b.3) {
                    let params = HoltWintersParams {
                        alpha,
                        beta,
                        gamma: 0.0,
                        phi,
                    };
                    best = Some((params, level, trend, sse));
                }
            }
        }
    }
    best
}

/// Quantile function of the standard normal distribution (Acklam's rational approximation,
/// relative error below 1.2e-9), for `p` in (0, 1).
pub(crate) fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    const LOW: f64 = 0.02425;
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The error budget over the forecast horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetForecast {
    /// Fraction of the window's budget left after each forecast step (negative once overspent).
    pub remaining: Vec<f64>,
    /// Steps after now at which the budget reaches zero, interpolated linearly within the step;
    /// `None` when it lasts the whole horizon.
    pub exhausted_after_steps: Option<f64>,
}

impl BudgetForecast {
    /// [`Self::exhausted_after_steps`] in seconds for a step of `step_secs`.
    pub fn exhausted_after_secs(&self, step_secs: i64) -> Option<f64> {
        self.exhausted_after_steps.map(|s| s * step_secs as f64)
    }
}

/// Projects an SLO's error budget forward along a forecast of its error ratio.
///
/// With objective `o`, an SLO window of `W` steps and a forecast error ratio `r_k` for step `k`
/// (clamped to `[0, 1]`), the burn rate is `b_k = r_k / (1 - o)` and step `k` spends `b_k / W`
/// of the window's whole budget (traffic is taken as even across the window). So
///
/// ```text
/// remaining_k = budget_left - sum_{j <= k} r_j / ((1 - o) * W)
/// ```
///
/// and for a constant ratio `r` the budget runs out after `budget_left * (1 - o) * W / r` steps.
/// Budget already spent (`budget_left <= 0`) is reported as exhausted after 0 steps.
pub fn forecast_budget(
    budget_left: f64,
    objective: f64,
    window_steps: usize,
    error_ratio: &[f64],
) -> Result<BudgetForecast, ForecastError> {
    if !(objective > 0.0 && objective < 1.0) {
        return Err(ForecastError::Objective(objective));
    }
    if !budget_left.is_finite() || budget_left > 1.0 {
        return Err(ForecastError::BudgetLeft(budget_left));
    }
    if window_steps == 0 {
        return Err(ForecastError::EmptyWindow);
    }
    if let Some(index) = error_ratio.iter().position(|r| !r.is_finite()) {
        return Err(ForecastError::BadRatio {
            index,
            value: error_ratio[index],
        });
    }

    let per_step = 1.0 / ((1.0 - objective) * window_steps as f64);
    let mut remaining = Vec::with_capacity(error_ratio.len());
    let mut left = budget_left;
    let mut exhausted = (budget_left <= 0.0).then_some(0.0);
    for (k, ratio) in error_ratio.iter().enumerate() {
        let spend = ratio.clamp(0.0, 1.0) * per_step;
        if exhausted.is_none() && spend > 0.0 && left - spend <= 0.0 {
            exhausted = Some(k as f64 + left / spend);
        }
        left -= spend;
        remaining.push(left);
    }
    Ok(BudgetForecast {
        remaining,
        exhausted_after_steps: exhausted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seasonal(n: usize, m: usize) -> Vec<f64> {
        (0..n)
            .map(|t| 10.0 + 3.0 * (2.0 * std::f64::consts::PI * (t % m) as f64 / m as f64).sin())
            .collect()
    }

    #[test]
    fn holt_winters_forecasts_a_pure_seasonal_series_nearly_exactly() {
        let m = 24;
        let y = seasonal(10 * m, m);
        let truth = seasonal(12 * m, m);
        let f =
            forecast_with(ModelKind::HoltWinters, &y, &ForecastConfig::new(m, 48)).expect("fits");
        for (h, v) in f.mean.iter().enumerate() {
            assert!((v - truth[10 * m + h]).abs() < 1e-6, "step {h}: {v}");
        }
        assert!(f.residual_sd < 1e-9);
    }

    #[test]
    fn holt_winters_continues_a_linear_trend() {
        let m = 24;
        let y: Vec<f64> = (0..6 * m).map(|t| 5.0 + 0.5 * t as f64).collect();
        let f =
            forecast_with(ModelKind::HoltWinters, &y, &ForecastConfig::new(m, 48)).expect("fits");
        // A perfect fit has zero residuals, so the undamped trend (phi = 1) wins ties only if
        // it is exact; either way the first steps must follow the line closely.
        for (h, v) in f.mean.iter().enumerate() {
            let expected = 5.0 + 0.5 * (6 * m + h) as f64;
            assert!((v - expected).abs() < 1e-6, "step {h}: {v} vs {expected}");
        }
    }

    #[test]
    fn model_choice_prefers_seasonal_models_on_a_seasonal_series() {
        let m = 24;
        let y = seasonal(8 * m, m);
        let f = forecast(&y, &ForecastConfig::new(m, 24)).expect("fits");
        assert_ne!(f.model, ModelKind::Naive);
        assert_eq!(f.selection.len(), 4);
    }

    #[test]
    fn decomposition_forecasts_a_daily_plus_weekly_pattern_that_holt_winters_cannot() {
        // Hourly: a daily sine plus a weekend drop of 5 (days 5 and 6 of each week).
        let m = 24;
        let value = |t: usize| {
            let weekend = if (t / m) % 7 >= 5 { -5.0 } else { 0.0 };
            20.0 + 3.0 * (std::f64::consts::TAU * (t % m) as f64 / m as f64).sin() + weekend
        };
        let y: Vec<f64> = (0..21 * m).map(value).collect();
        let truth: Vec<f64> = (21 * m..23 * m).map(value).collect();
        let config = ForecastConfig::new(m, 2 * m);
        let decomposed = forecast_with(ModelKind::Decomposition, &y, &config).expect("fits");
        let hw = forecast_with(ModelKind::HoltWinters, &y, &config).expect("fits");
        let decomposed_mae = mean_abs_diff(&truth, &decomposed.mean);
        let hw_mae = mean_abs_diff(&truth, &hw.mean);
        assert!(decomposed_mae < 0.05, "decomposition MAE {decomposed_mae}");
        assert!(hw_mae > 10.0 * decomposed_mae, "HW {hw_mae}");
    }

    #[test]
    fn seasonal_profile_ignores_a_single_incident_spike() {
        // Four days of a flat 0/1 alternation with one huge spike: the median profile keeps
        // the pattern.
        let mut z: Vec<f64> = (0..8).map(|t| (t % 2) as f64).collect();
        z[3] = 100.0;
        let profile = seasonal_profile(&z, 2);
        assert!((profile[1] - profile[0] - 1.0).abs() < 1e-9, "{profile:?}");
    }

    #[test]
    fn naive_interval_widens_with_the_square_root_of_the_horizon() {
        // Steps alternate +1, -1: one-step residuals are all of size 1, so sigma = 1.
        let y: Vec<f64> = (0..50).map(|t| (t % 2) as f64).collect();
        let f = forecast_with(ModelKind::Naive, &y, &ForecastConfig::new(2, 4)).expect("fits");
        let i95 = f.interval(0.95).expect("requested");
        // Last value is 1; the 95 % half-width at h = 4 is 1.959964 * sqrt(4).
        assert!((i95.upper[3] - (1.0 + 1.959964 * 2.0)).abs() < 1e-4);
        assert!((i95.lower[0] - (1.0 - 1.959964)).abs() < 1e-4);
    }

    #[test]
    fn too_short_series_is_rejected_with_the_needed_length() {
        let err = forecast(&[1.0], &ForecastConfig::new(24, 48)).unwrap_err();
        assert_eq!(
            err,
            ForecastError::TooShort {
                got: 1,
                need: 2,
                season: 24
            }
        );
    }

    #[test]
    fn non_finite_input_is_rejected() {
        let err = forecast(&[1.0, f64::NAN, 2.0], &ForecastConfig::new(2, 1)).unwrap_err();
        assert!(matches!(err, ForecastError::NonFinite { index: 1, .. }));
    }

    #[test]
    fn budget_on_a_constant_error_ratio_runs_out_when_the_formula_says() {
        // Objective 99.9 %, 30-day window of hourly steps (W = 720), half the budget left,
        // error ratio 1 %: burn rate 0.01 / 0.001 = 10, so each hour spends 10 / 720 of the
        // budget and 0.5 lasts 0.5 * 720 / 10 = 36 hours.
        let ratio = vec![0.01; 48];
        let b = forecast_budget(0.5, 0.999, 720, &ratio).expect("valid");
        let steps = b.exhausted_after_steps.expect("within 48 h");
        assert!((steps - 36.0).abs() < 1e-9, "{steps}");
        assert_eq!(
            b.exhausted_after_secs(3600).map(|s| s.round()),
            Some(129_600.0)
        );
        assert!((b.remaining[0] - (0.5 - 10.0 / 720.0)).abs() < 1e-12);
    }

    #[test]
    fn budget_that_outlasts_the_horizon_has_no_exhaustion_time() {
        // Burn rate 0.002 / 0.001 = 2: 0.5 * 720 / 2 = 180 hours, beyond 48.
        let b = forecast_budget(0.5, 0.999, 720, &[0.002; 48]).expect("valid");
        assert_eq!(b.exhausted_after_steps, None);
        assert!((b.remaining[47] - (0.5 - 48.0 * 2.0 / 720.0)).abs() < 1e-12);
    }

    #[test]
    fn spent_budget_is_exhausted_now_and_bad_objective_is_rejected() {
        let b = forecast_budget(-0.1, 0.99, 10, &[0.0; 3]).expect("valid");
        assert_eq!(b.exhausted_after_steps, Some(0.0));
        assert_eq!(
            forecast_budget(0.5, 1.0, 10, &[0.0]).unwrap_err(),
            ForecastError::Objective(1.0)
        );
    }

    #[test]
    fn normal_quantile_matches_table_values() {
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-6);
        assert!((normal_quantile(0.9) - 1.281552).abs() < 1e-6);
        assert!((normal_quantile(0.005) + 2.575829).abs() < 1e-6);
    }
}
