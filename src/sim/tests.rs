//! Behaviour of the simulator as a whole: determinism, ground truth matching the
//! telemetry, every shipped SLO getting data, and each scenario changing the telemetry
//! the way its root cause says, in its window only.

use std::collections::{BTreeMap, BTreeSet};

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};
use prost::Message;

use super::clock::{DAY, HOUR, MINUTE};
use super::slo_check::{Rollups, SLOS};
use super::*;

/// Saturday 2025-03-08 00:00 UTC: a span ending here covers a whole working week.
const END: i64 = 1_741_392_000;

fn config(seed: u64, days: f64, scenarios: ScenarioSelection) -> SimConfig {
    SimConfig {
        seed,
        days,
        end: Some(END),
        scenarios,
        ..SimConfig::default()
    }
}

fn placed(list: &[&str]) -> ScenarioSelection {
    ScenarioSelection::List(list.iter().map(|p| p.parse().unwrap()).collect())
}

fn encoded(plan: &Plan) -> Vec<u8> {
    let mut bytes = Vec::new();
    for b in plan.generator().take(plan.minutes() as usize) {
        bytes.extend(b.traces.encode_to_vec());
        bytes.extend(b.logs.encode_to_vec());
        bytes.extend(b.metrics.encode_to_vec());
        bytes.extend(serde_json::to_vec(&b.logs).unwrap());
    }
    bytes
}

fn rollups(plan: &Plan) -> Rollups {
    let mut rollups = Rollups::default();
    for b in plan.generator().take(plan.minutes() as usize) {
        rollups.record(&b);
    }
    rollups
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()
}

fn text(attrs: &[KeyValue], key: &str) -> Option<String> {
    match attr(attrs, key)? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        _ => None,
    }
}

#[test]
fn the_same_seed_gives_identical_bytes_and_another_seed_does_not() {
    let a = plan(&config(7, 0.25, ScenarioSelection::Default)).unwrap();
    let b = plan(&config(7, 0.25, ScenarioSelection::Default)).unwrap();
    let c = plan(&config(8, 0.25, ScenarioSelection::Default)).unwrap();
    let bytes = encoded(&a);
    assert!(bytes.len() > 100_000);
    assert_eq!(bytes, encoded(&b));
    assert_ne!(bytes, encoded(&c));
}

#[test]
fn the_labels_file_is_the_plan() {
    let plan = plan(&config(3, 7.0, ScenarioSelection::Default)).unwrap();
    assert!(plan.incidents.len() >= 2);
    let path = std::env::temp_dir().join(format!("sim-labels-{}.json", std::process::id()));
    write_labels(&plan, &path).unwrap();
    let read: Labels = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(read, labels(&plan));
    assert_eq!(read.incidents.len(), plan.incidents.len());
    for (label, incident) in read.incidents.iter().zip(&plan.incidents) {
        assert_eq!(label.scenario, incident.scenario.name());
        assert_eq!(label.start, rfc3339(incident.start));
        assert_eq!(label.end, rfc3339(incident.end));
        assert_eq!(label.precursor_start, incident.precursor_start.map(rfc3339));
        assert_eq!(label.root_cause, incident.root_cause);
        assert_eq!(label.affected_slos, incident.affected_slos);
    }
}

#[test]
fn every_slo_of_every_pack_gets_data_and_a_quiet_week_never_pages() {
    let plan = plan(&config(11, 5.0, ScenarioSelection::None)).unwrap();
    let rollups = rollups(&plan);
    let totals = rollups.totals();
    for slo in &SLOS {
        let (good, total) = totals.get(slo.name).copied().unwrap_or_default();
        assert!(total >= 100.0, "{} has {total} events", slo.name);
        assert!(
            good / total > 0.95 - 1e-9 || slo.name == "ci-pass-rate",
            "{}: {}",
            slo.name,
            good / total
        );
        let pages = rollups.pages(slo, plan.start, plan.end);
        assert!(
            pages.is_empty(),
            "{} pages without an incident at {:?}",
            slo.name,
            pages.first().map(|t| rfc3339(*t))
        );
    }
}

/// Pages of every SLO, as (SLO, minute) pairs.
fn all_pages(plan: &Plan, rollups: &Rollups) -> BTreeMap<&'static str, Vec<i64>> {
    SLOS.iter()
        .map(|slo| (slo.name, rollups.pages(slo, plan.start, plan.end)))
        .filter(|(_, pages)| !pages.is_empty())
        .collect()
}

/// Checks that each incident pages exactly its affected SLOs, and that nothing pages
/// outside incidents. An alert may clear up to `tail` after the cause is fixed; and
/// while an affected SLO's 6-hour window still holds the incident, a small blip in its
/// 30-minute window can page again, which is the incident's doing too.
fn assert_pages_match_labels(plan: &Plan) {
    let rollups = rollups(plan);
    let pages = all_pages(plan, &rollups);
    let tail = 45 * MINUTE;
    for incident in &plan.incidents {
        let window = incident.first_effect()..=incident.end + tail;
        let paged: BTreeSet<&str> = pages
            .iter()
            .filter(|(_, at)| at.iter().any(|t| window.contains(t)))
            .map(|(slo, _)| *slo)
            .collect();
        let expected: BTreeSet<&str> = incident.affected_slos.iter().copied().collect();
        assert_eq!(
            paged,
            expected,
            "seed {}: {} at {} ({:?})",
            plan.seed,
            incident.scenario,
            rfc3339(incident.start),
            incident.root_cause
        );
    }
    for (slo, at) in &pages {
        let unexplained = at.iter().filter(|t| {
            !plan.incidents.iter().any(|i| {
                (i.first_effect()..=i.end + tail).contains(*t)
                    || (i.affected_slos.contains(slo) && (i.end..=i.end + 6 * HOUR).contains(*t))
            })
        });
        // A page on a handful of events (a quiet weekend morning) is Vigil's
        // min-events policy at work, not an incident: only pages whose 6-hour window
        // held real traffic count as false alarms.
        for t in unexplained {
            let events = rollups.window_of(slo, t - 6 * HOUR, *t).1;
            if events < 100.0 {
                eprintln!(
                    "seed {}: {slo} pages on thin traffic ({events} events in 6 h) at {}",
                    plan.seed,
                    rfc3339(*t)
                );
                continue;
            }
            panic!(
                "seed {}: {slo} pages at {} outside every incident",
                plan.seed,
                rfc3339(*t)
            );
        }
    }
}

#[test]
fn every_scheduled_incident_pages_exactly_its_affected_slos() {
    let seeds: Vec<u64> = std::env::var("SIM_SEEDS")
        .map(|v| v.split(',').filter_map(|s| s.parse().ok()).collect())
        .unwrap_or_else(|_| vec![1, 2]);
    for seed in seeds {
        let plan = plan(&config(seed, 28.0, ScenarioSelection::Default)).unwrap();
        let kinds: BTreeSet<ScenarioKind> = plan.incidents.iter().map(|i| i.scenario).collect();
        let default_kinds = ScenarioKind::ALL.iter().filter(|k| k.in_default_schedule());
        assert_eq!(kinds.len(), default_kinds.count(), "seed {seed}");
        assert_pages_match_labels(&plan);
    }
}

/// Share of `event` records (among `of`) in a window, for the bots of one kind.
fn event_share(
    plan: &Plan,
    from: i64,
    to: i64,
    hit: impl Fn(&[KeyValue]) -> bool,
    of: impl Fn(&[KeyValue]) -> bool,
) -> f64 {
    let (mut hits, mut total) = (0u64, 0u64);
    for b in plan.generator().take(plan.minutes() as usize) {
        if b.minute < from || b.minute >= to {
            continue;
        }
        for r in b
            .logs
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
        {
            if of(&r.attributes) {
                total += 1;
                hits += u64::from(hit(&r.attributes));
            }
        }
    }
    hits as f64 / total.max(1) as f64
}

#[test]
fn a_rate_limit_storm_raises_429_and_529_errors_in_its_window_only() {
    let plan = plan(&config(
        4,
        1.0,
        placed(&["rate-limit-storm@2025-03-07T10:00:00Z"]),
    ))
    .unwrap();
    let incident = &plan.incidents[0];
    let claude = |a: &[KeyValue]| {
        matches!(
            text(a, "event.name").as_deref(),
            Some("api_request" | "api_error")
        )
    };
    let throttled = |a: &[KeyValue]| {
        text(a, "event.name").as_deref() == Some("api_error")
            && matches!(text(a, "status_code").as_deref(), Some("429" | "529"))
    };
    let provider = incident.root_cause.provider.as_deref();
    let during = event_share(&plan, incident.start, incident.end, throttled, claude);
    let before = event_share(
        &plan,
        incident.start - 3 * HOUR,
        incident.start,
        throttled,
        claude,
    );
    let after = event_share(
        &plan,
        incident.end,
        incident.end + 3 * HOUR,
        throttled,
        claude,
    );
    if provider == Some("anthropic") {
        assert!(during > 0.3, "{during}");
    }
    assert!(before < 0.02 && after < 0.02, "{before} {after}");
}

#[test]
fn a_tool_loop_repeats_one_failing_tool_and_drives_cost_up() {
    let plan = plan(&config(5, 1.0, placed(&["tool-loop@2025-03-07T10:00:00Z"]))).unwrap();
    let incident = &plan.incidents[0];
    let bot_id = incident.root_cause.bot_id.clone().unwrap();
    let tool = incident.root_cause.tool.clone().unwrap();
    let mut failing_tool = 0;
    let mut calls_in = 0;
    let mut calls_before = 0;
    for b in plan.generator().take(plan.minutes() as usize) {
        let in_window = (incident.start..incident.end).contains(&b.minute);
        let before = (incident.start - 2 * HOUR..incident.start).contains(&b.minute);
        for r in &b.logs.resource_logs {
            let bot = r
                .resource
                .as_ref()
                .and_then(|r| text(&r.attributes, "bot.id"));
            if bot.as_deref() != Some(bot_id.as_str()) {
                continue;
            }
            for rec in r.scope_logs.iter().flat_map(|s| &s.log_records) {
                let a = &rec.attributes;
                let name = text(a, "event.name").unwrap_or_default();
                let tool_name = text(a, "tool_name").or_else(|| text(a, "function_name"));
                if in_window && tool_name.as_deref() == Some(tool.as_str()) && name.contains("tool")
                {
                    failing_tool += 1;
                }
                if name.ends_with("api_request") || name == "gemini_cli.api_response" {
                    calls_in += u32::from(in_window);
                    calls_before += u32::from(before);
                }
            }
        }
        for r in &b.traces.resource_spans {
            let bot = r
                .resource
                .as_ref()
                .and_then(|r| text(&r.attributes, "bot.id"));
            if bot.as_deref() == Some(bot_id.as_str()) && in_window {
                failing_tool += r
                    .scope_spans
                    .iter()
                    .flat_map(|s| &s.spans)
                    .filter(|s| s.name == format!("execute_tool {tool}"))
                    .count();
                calls_in += r
                    .scope_spans
                    .iter()
                    .flat_map(|s| &s.spans)
                    .filter(|s| s.name.starts_with("chat "))
                    .count() as u32;
            }
        }
    }
    let minutes = ((incident.end - incident.start) / MINUTE) as usize;
    assert!(
        failing_tool > minutes * 8,
        "{failing_tool} loop calls in {minutes} minutes"
    );
    assert!(
        calls_in > calls_before * 2,
        "{calls_in} model calls in the loop, {calls_before} before"
    );
}

#[test]
fn a_bad_tool_release_shows_in_the_mcp_servers_version() {
    let plan = plan(&config(
        6,
        1.0,
        placed(&["bad-tool-version@2025-03-07T10:00:00Z"]),
    ))
    .unwrap();
    let incident = &plan.incidents[0];
    let mut versions = BTreeSet::new();
    for b in plan.generator().take(plan.minutes() as usize) {
        for r in &b.traces.resource_spans {
            let attrs = r
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or_default();
            if text(attrs, "service.name").as_deref() == Some("github-mcp-server") {
                let version = text(attrs, "service.version").unwrap();
                let active = (incident.start..incident.end).contains(&b.minute);
                assert_eq!(
                    active,
                    version == "1.5.0",
                    "{version} at {}",
                    rfc3339(b.minute)
                );
                versions.insert(version);
            }
        }
    }
    assert_eq!(
        versions,
        BTreeSet::from(["1.4.2".into(), "1.5.0".into(), "1.5.1".into()])
    );
    assert_eq!(incident.root_cause.version.as_deref(), Some("1.5.0"));
    assert_eq!(
        incident.root_cause.previous_version.as_deref(),
        Some("1.4.2")
    );
}

#[test]
fn a_bad_config_is_visible_as_a_new_revision_of_one_bot() {
    let plan = plan(&config(
        9,
        1.0,
        placed(&["bad-config@2025-03-07T10:00:00Z"]),
    ))
    .unwrap();
    let incident = &plan.incidents[0];
    let target = incident.root_cause.bot_id.clone().unwrap();
    for b in plan.generator().take(plan.minutes() as usize) {
        let resources = b
            .logs
            .resource_logs
            .iter()
            .filter_map(|r| r.resource.as_ref())
            .chain(
                b.traces
                    .resource_spans
                    .iter()
                    .filter_map(|r| r.resource.as_ref()),
            );
        for resource in resources {
            let Some(bot) = text(&resource.attributes, "bot.id") else {
                continue;
            };
            let revision = text(&resource.attributes, "bot.config.revision").unwrap();
            let expected = if bot != target || b.minute < incident.start {
                "r40"
            } else if b.minute < incident.end {
                "r41"
            } else {
                "r42"
            };
            assert_eq!(revision, expected, "{bot} at {}", rfc3339(b.minute));
        }
    }
}

#[test]
fn latency_creep_slows_the_model_before_the_outage() {
    let plan = plan(&config(
        12,
        1.0,
        placed(&["latency-creep@2025-03-07T08:30:00Z"]),
    ))
    .unwrap();
    let incident = &plan.incidents[0];
    let creep = incident.precursor_start.unwrap();
    assert!(creep < incident.start && incident.start < incident.end);
    let model = incident.root_cause.model.clone().unwrap();
    let median = |from: i64, to: i64| {
        let mut d: Vec<f64> = Vec::new();
        for b in plan.generator().take(plan.minutes() as usize) {
            if !(from..to).contains(&b.minute) {
                continue;
            }
            for r in b
                .logs
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
            {
                let ok = matches!(
                    text(&r.attributes, "event.name").as_deref(),
                    Some("api_request" | "gemini_cli.api_response")
                ) || (text(&r.attributes, "event.name").as_deref()
                    == Some("codex.api_request")
                    && text(&r.attributes, "http.response.status_code").as_deref() == Some("200"));
                if ok && text(&r.attributes, "model").as_deref() == Some(model.as_str()) {
                    d.extend(
                        text(&r.attributes, "duration_ms").and_then(|v| v.parse::<f64>().ok()),
                    );
                }
            }
        }
        d.sort_by(f64::total_cmp);
        d.get(d.len() / 2).copied().unwrap_or(0.0)
    };
    let before = median(creep - 2 * HOUR, creep);
    let early = median(creep, creep + HOUR);
    let late = median(incident.start - HOUR, incident.start);
    assert!(
        before > 0.0 && early < before * 1.6 && late > before * 3.0,
        "{before} {early} {late}"
    );
}

#[test]
fn quota_exhaustion_pages_only_after_its_precursor() {
    // First effect Wednesday 10:00 UTC; the quota runs out about Friday 10:00.
    let plan = plan(&config(
        4,
        4.0,
        placed(&["quota-exhaustion@2025-03-05T10:00:00Z"]),
    ))
    .unwrap();
    let incident = &plan.incidents[0];
    assert!(incident.start - incident.first_effect() >= 47 * HOUR);
    assert_pages_match_labels(&plan);
    let rollups = rollups(&plan);
    for slo in &SLOS {
        let early = rollups.pages(slo, incident.first_effect(), incident.start - MINUTE);
        assert!(early.is_empty(), "{} pages during the precursor", slo.name);
    }
    // The precursor shows: the affected SLO's error ratio in its last 6 h is well above
    // the day before the first effect, and stays far from paging (6 h: burn 6).
    let slo = SLOS
        .iter()
        .find(|s| s.name == incident.affected_slos[0])
        .unwrap();
    let ratio = |from: i64, to: i64| {
        let (good, total) = rollups.window_of(slo.name, from, to);
        (total - good) / total
    };
    let before = ratio(incident.first_effect() - DAY, incident.first_effect());
    let late = ratio(incident.start - 6 * HOUR, incident.start);
    let budget = 1.0 - slo.objective;
    assert!(
        late > before + 0.005 && late / budget < 4.0,
        "{}: {before} then {late}",
        slo.name
    );
}

#[test]
fn otlp_json_follows_the_specs_encoding() {
    let plan = plan(&config(2, 0.1, ScenarioSelection::None)).unwrap();
    let batches = plan.generator().take(plan.minutes() as usize).find(|b| {
        let c = b.counts();
        c.spans > 0 && c.log_records > 0 && c.data_points > 0
    });
    let Some(b) = batches else {
        panic!("a minute with every signal")
    };
    let traces = serde_json::to_value(&b.traces).unwrap();
    let span = &traces["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    let trace_id = span["traceId"].as_str().unwrap();
    assert_eq!(trace_id.len(), 32);
    assert!(
        trace_id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(span["spanId"].as_str().unwrap().len(), 16);
    assert!(
        span["kind"].is_u64(),
        "enums are integers: {}",
        span["kind"]
    );
    assert!(span["startTimeUnixNano"].is_string() || span["startTimeUnixNano"].is_u64());
    let key = &traces["resourceSpans"][0]["resource"]["attributes"][0];
    assert_eq!(key["key"], "service.name");
    assert!(key["value"]["stringValue"].is_string());
    let metrics = serde_json::to_value(&b.metrics).unwrap();
    let text = metrics.to_string();
    for snake in [
        "time_unix_nano",
        "data_points",
        "aggregation_temporality",
        "bucket_counts",
    ] {
        assert!(!text.contains(snake), "{snake} is not camelCase");
    }
    assert!(text.contains("\"aggregationTemporality\":1"), "delta is 1");
    let logs = serde_json::to_value(&b.logs).unwrap();
    let record = &logs["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert!(record["body"]["stringValue"].is_string());
    assert!(record["timeUnixNano"].is_string() || record["timeUnixNano"].is_u64());
    // Round trip through the JSON decoder gives back the same messages.
    let back: opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest =
        serde_json::from_value(logs).unwrap();
    assert_eq!(back, b.logs);
}

#[test]
fn cumulative_histograms_start_at_the_plan_start_and_never_decrease() {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    let mut c = config(2, 0.2, ScenarioSelection::None);
    c.histogram_temporality = Temporality::Cumulative;
    let plan = plan(&c).unwrap();
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    let start_ns = plan.start as u64 * 1_000_000_000;
    for b in plan.generator().take(plan.minutes() as usize) {
        for r in &b.metrics.resource_metrics {
            let bot = r
                .resource
                .as_ref()
                .and_then(|r| text(&r.attributes, "bot.id"))
                .unwrap_or_default();
            for m in r.scope_metrics.iter().flat_map(|s| &s.metrics) {
                let Some(Data::Histogram(h)) = &m.data else {
                    continue;
                };
                assert_eq!(h.aggregation_temporality, 2);
                for p in &h.data_points {
                    assert_eq!(p.start_time_unix_nano, start_ns);
                    let key = format!("{bot}{:?}", p.attributes);
                    let previous = last.insert(key, p.count).unwrap_or(0);
                    assert!(p.count >= previous);
                }
            }
        }
    }
    assert!(!last.is_empty());
}

#[test]
fn a_day_has_a_rhythm_and_bots_send_a_few_thousand_records_per_weekday() {
    let plan = plan(&config(1, 1.0, ScenarioSelection::None)).unwrap();
    let mut by_hour = [0u64; 24];
    let mut total = 0;
    for b in plan.generator().take(plan.minutes() as usize) {
        let n = b.counts().total();
        by_hour[((b.minute % DAY) / HOUR) as usize] += n;
        total += n;
    }
    let per_bot = total / plan.fleet.bots.len() as u64;
    assert!(
        (2_000..15_000).contains(&per_bot),
        "{per_bot} records per bot"
    );
    assert!(by_hour[11] > 10 * by_hour[3], "{by_hour:?}");
}
