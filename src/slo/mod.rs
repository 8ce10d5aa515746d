//! Vigil's SLO engine core: OpenSLO specs in, error budgets and burn-rate alerts out.
//!
//! - [`spec`] loads and validates OpenSLO v1 YAML into a [`spec::Catalog`].
//! - [`source`] owns Vigil's `metricSource` (`type: Vigil`) and the per-minute SQL it becomes.
//! - [`window`] owns durations, rolling windows and calendar periods in a time zone.
//! - [`budget`] owns the arithmetic over per-minute `(good, total)` rollups.
//!
//! - [`engine`] runs [`source::MetricSource::rollup_sql`] for the good (or bad) and total
//!   sides through the query engine, feeds each minute to a [`budget::BudgetTracker`] built
//!   from [`spec::Slo::tracker_config`], and reads evaluations out as `slo_status` rows.
//! - [`job`] writes those rows through the store: on a schedule in `vigil serve`, and
//!   for a past range in `vigil slo backfill`.
//!
//! `spec`, `window` and `budget` touch neither storage nor the query engine.

pub mod alerting;
pub mod budget;
pub mod engine;
pub mod job;
pub mod source;
pub mod spec;
pub mod window;

#[cfg(test)]
mod tests;
