//! Vigil's SLO engine core: OpenSLO specs in, error budgets and burn-rate alerts out.
//!
//! - [`spec`] loads and validates OpenSLO v1 YAML into a [`spec::Catalog`].
//! - [`source`] owns Vigil's `metricSource` (`type: Vigil`) and the per-minute SQL it becomes.
//! - [`window`] owns durations, rolling windows and calendar periods in a time zone.
//! - [`budget`] owns the arithmetic over per-minute `(good, total)` rollups.
//!
//! Nothing here touches storage or the query engine: the caller runs
//! [`source::MetricSource::rollup_sql`] for the good (or bad) and total sides, feeds each minute
//! to a [`budget::BudgetTracker`] built from [`spec::Slo::tracker_config`], and evaluates.

pub mod budget;
pub mod engine;
pub mod source;
pub mod spec;
pub mod window;

#[cfg(test)]
mod tests;
