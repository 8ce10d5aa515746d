//! Times the SLO engine over 50 SLOs and 30 days, twice:
//!
//! 1. the budget arithmetic alone: 43 200 minute rollups per SLO loaded, one evaluation
//!    of all of them, and the incremental one-minute step;
//! 2. the whole job as `vigil serve` runs it: 30 days of Claude Code–shaped log events
//!    (`SLO_BENCH_EVENTS_PER_MINUTE`, default 10) in a store, the first step that rolls up
//!    every minute with SQL, then the step after each new minute of data (SQL rollup of
//!    the recent minutes + evaluation + `slo_status` rows).
//!
//! `cargo bench --bench slo`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use vigil::query::{QueryEngine, QueryLimits};
use vigil::slo::budget::{BudgetTracker, Budgeting, BurnCondition, Counts, TrackerConfig};
use vigil::slo::engine::SloEngine;
use vigil::slo::window::{SpecDuration, TimeWindow};
use vigil::store::{Signal, Store, StoreConfig, Table};

const T0: i64 = 1_704_067_200;
const MINUTES: i64 = 30 * 24 * 60;

fn main() {
    arithmetic();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    if let Err(e) = runtime.block_on(pipeline()) {
        eprintln!("pipeline benchmark failed: {e}");
        std::process::exit(1);
    }
}

fn arithmetic() {
    let Ok(duration) = SpecDuration::parse("30d") else {
        return;
    };
    let window = TimeWindow::Rolling {
        duration,
        secs: 30 * 86_400,
    };
    let started = Instant::now();
    let mut trackers: Vec<BudgetTracker> = (0..50)
        .map(|i| {
            let budgeting = if i % 5 == 0 {
                Budgeting::Timeslices {
                    target: 0.95,
                    slice_secs: 300,
                }
            } else {
                Budgeting::Occurrences
            };
            BudgetTracker::new(TrackerConfig {
                objective: 0.99,
                window: window.clone(),
                budgeting,
                conditions: BurnCondition::defaults(),
                min_events: 10,
            })
        })
        .collect();
    for (i, tracker) in trackers.iter_mut().enumerate() {
        for m in 0..MINUTES {
            let total = 100 + ((m + i as i64) % 17) as u64;
            let bad = u64::from((m * 7 + i as i64) % 101 == 0);
            if let Err(e) = tracker.record_minute(T0 + m * 60, Counts::from_bad(bad, total)) {
                eprintln!("{e}");
            }
        }
    }
    let load = started.elapsed();
    let end = T0 + MINUTES * 60;

    let started = Instant::now();
    let evaluated = trackers.iter().filter_map(|t| t.evaluate(end)).count();
    let full = started.elapsed();

    let rounds = 1_000;
    let started = Instant::now();
    for round in 0..rounds {
        let minute = end + round * 60;
        for tracker in &mut trackers {
            if let Err(e) = tracker.record_minute(minute, Counts::new(100, 100)) {
                eprintln!("{e}");
            }
        }
        let _ = trackers
            .iter()
            .filter_map(|t| t.evaluate(minute + 60))
            .count();
    }
    let step = started.elapsed() / rounds as u32;

    println!("50 SLOs × {MINUTES} minute rollups (10 on 5-minute timeslices)");
    println!("  load all rollups:                  {load:?}");
    println!("  evaluate all ({evaluated}):               {full:?}");
    println!("  one-minute step, record + evaluate: {step:?} (mean of {rounds})");
}

const MODELS: [&str; 5] = [
    "claude-sonnet-4-5",
    "claude-opus-4-1",
    "claude-haiku-4-5",
    "claude-sonnet-4",
    "claude-3-7-sonnet",
];

/// 50 SLOs over the logs table: availability and latency (10 thresholds) per model.
fn specs() -> String {
    let mut text = String::new();
    for i in 0..50 {
        let model = MODELS[i % MODELS.len()];
        let (bad, total) = if i < 25 {
            (
                "event_name = 'api_error' AND (attr_int(attributes, 'status_code') IS NULL \
                 OR attr_int(attributes, 'status_code') >= 500)"
                    .to_owned(),
                "event_name IN ('api_request', 'api_error')".to_owned(),
            )
        } else {
            (
                format!(
                    "event_name = 'api_request' AND attr_float(attributes, 'duration_ms') > {}",
                    2000 + 500 * (i % 10)
                ),
                "event_name = 'api_request'".to_owned(),
            )
        };
        text.push_str(&format!(
            r#"apiVersion: openslo/v1
kind: SLO
metadata:
  name: bench-{i}
spec:
  service: claude-code
  indicator:
    metadata:
      name: bench-{i}-sli
    spec:
      ratioMetric:
        counter: true
        bad:
          metricSource:
            type: Vigil
            spec:
              table: logs
              filter: "{bad} AND attr(attributes, 'model') = '{model}'"
        total:
          metricSource:
            type: Vigil
            spec:
              table: logs
              filter: "{total} AND attr(attributes, 'model') = '{model}'"
  timeWindow:
    - duration: 30d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.99
---
"#
        ));
    }
    text
}

/// One hour (or less) of Claude Code events, `per_minute` a minute from `start`.
fn events(start: i64, minutes: i64, per_minute: usize, seed: u64) -> ExportLogsServiceRequest {
    let mut records = Vec::new();
    for m in 0..minutes {
        for i in 0..per_minute {
            let n = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add((m as u64) << 16 | i as u64);
            let at =
                (start + m * 60) as u64 * 1_000_000_000 + (i as u64 * 997_000_000) % 60_000_000_000;
            let model = MODELS[(n % MODELS.len() as u64) as usize];
            let failed = n.is_multiple_of(97);
            let mut attributes = vec![
                common::kv("model", Value::StringValue(model.into())),
                common::kv("session.id", Value::StringValue(format!("s-{}", n % 50))),
            ];
            let name = if failed {
                attributes.push(common::kv("status_code", Value::IntValue(529)));
                "api_error"
            } else {
                let duration = 500 + (n >> 8) % 6000;
                attributes.push(common::kv("duration_ms", Value::IntValue(duration as i64)));
                "api_request"
            };
            attributes.push(common::kv("event.name", Value::StringValue(name.into())));
            records.push(LogRecord {
                time_unix_nano: at,
                observed_time_unix_nano: at,
                event_name: name.into(),
                attributes,
                ..Default::default()
            });
        }
    }
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![common::kv(
                    "service.name",
                    Value::StringValue("claude-code".into()),
                )],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn append(store: &Store, request: &ExportLogsServiceRequest) -> Result<(), String> {
    let payload = request.encode_to_vec();
    let rows = vigil::otlp::rows_from_wal(Signal::Logs, &payload)?;
    store
        .append(Signal::Logs, payload.into(), rows)
        .await
        .map_err(|e| e.to_string())
}

async fn pipeline() -> Result<(), String> {
    let per_minute = common::env_usize("SLO_BENCH_EVENTS_PER_MINUTE", 10);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = StoreConfig {
        wal_fsync: false,
        ..StoreConfig::default()
    };
    let store =
        Store::open(dir.path(), config, &vigil::otlp::rows_from_wal).map_err(|e| e.to_string())?;
    let end = vigil::server::unix_now().div_euclid(3600) * 3600;
    let start = end - 30 * 86_400;
    let started = Instant::now();
    for (n, hour) in (start..end).step_by(3600).enumerate() {
        append(&store, &events(hour, 60, per_minute, n as u64)).await?;
        if n % 24 == 23 {
            store.flush().await.map_err(|e| e.to_string())?;
        }
    }
    store.flush().await.map_err(|e| e.to_string())?;
    let rows = 30 * 1440 * per_minute;
    println!(
        "\n50 SLOs over {rows} stored log events (30 days, {per_minute} a minute): stored in {:?}",
        started.elapsed()
    );

    let catalog = vigil::slo::spec::load_str(&specs(), std::path::Path::new("bench.yaml"))
        .map_err(|e| e.to_string())?;
    let query = QueryEngine::new(Arc::new(store.clone()), QueryLimits::default())
        .map_err(|e| e.to_string())?;
    let mut slos = SloEngine::new(query, &catalog);
    // The history was stored before the engine started; the first step reads all of it.
    let _ = store.take_arrivals();
    let started = Instant::now();
    let first = slos.step(end, None).await;
    println!(
        "  first step (SQL rollups of 30 days + evaluation, {} rows): {:?}",
        first.num_rows(),
        started.elapsed()
    );

    let mut steps = Vec::new();
    for round in 0..10 {
        let minute = end + round * 60;
        append(
            &store,
            &events(minute, 1, per_minute, 10_000 + round as u64),
        )
        .await?;
        let started = Instant::now();
        let status = slos.step(minute + 60, store.take_arrivals()).await;
        store
            .append_derived(Table::SloStatus, status)
            .await
            .map_err(|e| e.to_string())?;
        steps.push(started.elapsed());
    }
    steps.sort();
    println!(
        "  incremental step after one new minute (rollup + evaluation + slo_status): median {:?}, max {:?} (10 steps)",
        steps[steps.len() / 2],
        steps.last().copied().unwrap_or(Duration::ZERO)
    );
    Ok(())
}
