//! Forecasting and failure prediction for SLO signals.
//!
//! This module owns everything that looks *forward* from the series Vigil already stores:
//!
//! ```text
//!  hourly / 5-minute aggregates ──► forecast ──► point forecast + intervals
//!         (error ratio, traffic…)        │
//!                                        └──► forecast_budget ──► budget curve, exhaustion time
//!
//!  per-step FeatureRow table ──► classify ──► P(page within 1 h / 6 h / 48 h)
//!  + page start times                 │       or InsufficientHistory, never a guess
//!                                     ▼
//!                                 backtest ──► event recall / precision per lead band, MASE
//!                                     │
//!                                     ▼
//!                                   card ──► versioned model files + JSON cards, atomic `current`
//!
//!  NAB corpus ──► nab_eval ──► lead times on machine_temperature, MASE on taxi / AWS series
//!
//!  Vigil's plain rows (PipelineInputs) ──► features ──► hourly FeatureRows, page starts,
//!                                              │          error-ratio series per SLO
//!                                              ├──► pipeline::run ──► predictions rows, warnings,
//!                                              │      │               pooled classifier, cards
//!                                              │      ├──► threshold ──► each horizon's learned
//!                                              │      │                  warning probability
//!                                              │      └──► precursor ──► the 48 h warning: rate
//!                                              │                         limiting spreading
//!                                              └──► backtest_fleet ──► rolling-origin FleetReport
//! ```
//!
//! Guarantees shared by the submodules:
//!
//! - Nothing here reads the clock except [`card`] (for `created_at`); every other function is
//!   a pure function of its inputs, so results are reproducible.
//! - Training only ever sees data from before the point it is evaluated on: labels whose
//!   outcome window reaches past the training cut-off are dropped, not guessed.
//! - Input-derived values are validated and reported through each module's error enum; no
//!   `unwrap` on data.

pub mod backtest;
pub mod backtest_fleet;
pub mod card;
pub mod classify;
pub mod eval;
pub mod features;
pub mod forecast;
pub mod job;
pub mod nab_eval;
pub mod pipeline;
pub mod precursor;
pub mod threshold;
