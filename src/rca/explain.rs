//! From a burning SLO at a time to its ranked root causes, read from Vigil's own tables.
//!
//! ```text
//!  slo_status ──► incident window: from the first minute of the firing run to `at`
//!                 (15 min to 6 h; 1 h when the SLO is not firing), baseline: the same
//!                 length (at least 1 h) just before
//!  <SLO table> ──► events of the SLO's total filter in both windows, `bad` from its bad
//!                  (or not-good) filter, attributes + resource attributes as key=value
//!  spans ──────► of the traces the SLO's services take part in: caller → callee graph
//!                 between services, span errors and latency
//!  events ─────► per-service bad-event share per minute when the SLO's events come from
//!                 several services (from one, the share is the SLI itself, the symptom)
//!                                         └──► rca::analyze ──► Explanation
//! ```
//!
//! Attribute evidence needs row-level events: it is there for SLOs whose good/bad and total
//! sides are `table` sources over the same table counting rows; SLOs built on histogram
//! buckets or full queries get graph and metric evidence only (the explanation says so).
//! Keys with more than [`MAX_VALUES_PER_KEY`] distinct values (ids, timestamps), numeric
//! keys with more than [`MAX_MEASUREMENT_VALUES`] (durations, token counts) and values on
//! every event are not candidates. At most [`MAX_ROWS`] events and spans are read per window pair.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder,
};
use serde_json::Value;

use super::{Event, IncidentData, MetricSeries, Ranking, RcaConfig, Span, Window};
use crate::query::columns::{self, ColumnError};
use crate::query::{QueryEngine, QueryError};
use crate::slo::source::{MetricSource, timestamp_literal};
use crate::slo::spec::{RatioMetric, Slo};
use crate::store::Table;

/// Events or spans read per explanation, at most.
pub const MAX_ROWS: usize = 200_000;
/// An attribute key with more distinct values than this is an identifier, not a cause.
pub const MAX_VALUES_PER_KEY: usize = 50;
/// A numeric attribute key with more distinct values than this is a measurement.
pub const MAX_MEASUREMENT_VALUES: usize = 10;
/// Attribute keys never offered as causes: they restate the SLI or name a single request.
const IGNORED_KEYS: [&str; 3] = ["event.name", "event.timestamp", "attempt"];
/// Key suffixes of per-session and per-request identifiers, never offered as causes (a
/// session is a symptom of its bot, which is offered).
const IGNORED_SUFFIXES: [&str; 6] = [
    "session.id",
    "conversation.id",
    "prompt.id",
    "call_id",
    "trace_id",
    "span_id",
];
/// When several attribute values sit on exactly the same events, the evidence cannot tell
/// them apart: the one whose key comes first here stands for all (the others are listed
/// with it). Keys not listed come after, alphabetically.
const KEY_PREFERENCE: [&str; 15] = [
    "bot.id",
    "service.name",
    "service.version",
    "bot.config.revision",
    "model",
    "gen_ai.request.model",
    "gen_ai.provider.name",
    "tool_name",
    "gen_ai.tool.name",
    "mcp.method.name",
    "status_code",
    "http.response.status_code",
    "error.type",
    "host.name",
    "service.instance.id",
];

const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;

/// Why an explanation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RcaError {
    #[error("reading {what} failed: {source}")]
    Query {
        what: &'static str,
        #[source]
        source: QueryError,
    },
    #[error("reading {what}: {source}")]
    Column {
        what: &'static str,
        #[source]
        source: ColumnError,
    },
}

/// Runs `sql`; `what` names the rows in errors.
async fn batches(
    query: &QueryEngine,
    what: &'static str,
    sql: &str,
) -> Result<Vec<RecordBatch>, RcaError> {
    query
        .sql(sql)
        .await
        .map(|r| r.batches)
        .map_err(|source| RcaError::Query { what, source })
}

/// The error for a column of `what` that cannot be read.
fn column(what: &'static str) -> impl Fn(ColumnError) -> RcaError + Copy {
    move |source| RcaError::Column { what, source }
}

/// A ranking with the windows and inputs behind it.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub slo: String,
    /// Unix seconds the explanation is for.
    pub at: i64,
    pub incident: Window,
    pub baseline: Window,
    /// Whether the SLO was firing at `at` (the incident window starts where it began).
    pub firing: bool,
    pub events: usize,
    pub bad_events: usize,
    pub spans: usize,
    /// Why a kind of evidence is missing, when it is.
    pub notes: Vec<String>,
    pub ranking: Ranking,
}

impl Explanation {
    /// The best `n` candidates as one line each: `bot.id=bot-01 (0.82: attributes, metrics)`.
    pub fn top(&self, n: usize) -> Vec<String> {
        self.ranking
            .candidates
            .iter()
            .take(n)
            .map(|c| {
                let kinds: Vec<String> = c
                    .evidence
                    .iter()
                    .map(|e| format!("{:?}", e.kind).to_lowercase())
                    .collect();
                format!("{} ({:.2}: {})", c.subject, c.score, kinds.join(", "))
            })
            .collect()
    }

    /// The `root_causes` rows of the best `n` candidates, stamped `now` (Unix seconds).
    pub fn rows(&self, n: usize, now: i64) -> RecordBatch {
        let mut time = TimestampNanosecondBuilder::new().with_timezone("UTC");
        let mut slo = StringBuilder::new();
        let mut at = TimestampNanosecondBuilder::new().with_timezone("UTC");
        let mut rank = Int64Builder::new();
        let mut candidate = StringBuilder::new();
        let mut score = Float64Builder::new();
        let mut kinds = StringBuilder::new();
        let mut evidence = StringBuilder::new();
        for (i, c) in self.ranking.candidates.iter().take(n).enumerate() {
            time.append_value(now.saturating_mul(1_000_000_000));
            slo.append_value(&self.slo);
            at.append_value(self.at.saturating_mul(1_000_000_000));
            rank.append_value(i as i64 + 1);
            candidate.append_value(c.subject.to_string());
            score.append_value(c.score);
            let names: Vec<String> = c
                .evidence
                .iter()
                .map(|e| format!("{:?}", e.kind).to_lowercase())
                .collect();
            kinds.append_value(names.join(","));
            let texts: Vec<&str> = c.evidence.iter().map(|e| e.text.as_str()).collect();
            evidence.append_value(texts.join("; "));
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(time.finish()),
            Arc::new(slo.finish()),
            Arc::new(at.finish()),
            Arc::new(rank.finish()),
            Arc::new(candidate.finish()),
            Arc::new(score.finish()),
            Arc::new(kinds.finish()),
            Arc::new(evidence.finish()),
        ];
        // The columns are built to the table's schema above, in its order.
        RecordBatch::try_new(Table::RootCauses.schema(), columns)
            .unwrap_or_else(|_| RecordBatch::new_empty(Table::RootCauses.schema()))
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Root causes of {} at {}{}",
            self.slo,
            crate::sim::rfc3339(self.at),
            if self.firing {
                " (firing)"
            } else {
                " (not firing)"
            }
        )?;
        writeln!(
            f,
            "incident {} → {}, baseline {} → {}; {} events ({} bad), {} spans",
            crate::sim::rfc3339(self.incident.start),
            crate::sim::rfc3339(self.incident.end),
            crate::sim::rfc3339(self.baseline.start),
            crate::sim::rfc3339(self.baseline.end),
            self.events,
            self.bad_events,
            self.spans
        )?;
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        if self.ranking.candidates.is_empty() {
            return writeln!(f, "\nno candidate stands out");
        }
        writeln!(f)?;
        write!(f, "{}", self.ranking)
    }
}

/// Ranks the root causes of `slo` burning at `at` (Unix seconds).
pub async fn explain(query: &QueryEngine, slo: &Slo, at: i64) -> Result<Explanation, RcaError> {
    let at = at.div_euclid(MINUTE) * MINUTE;
    let (incident_start, firing) = incident_start(query, &slo.name, at).await?;
    let incident = Window {
        start: incident_start,
        end: at + MINUTE,
    };
    let length = (incident.end - incident.start).max(HOUR);
    let baseline = Window {
        start: incident.start - length,
        end: incident.start,
    };

    let mut notes = Vec::new();
    let events = match event_query(slo, baseline.start, incident.end) {
        Some(sql) => read_events(query, &sql, incident.start).await?,
        None => {
            notes.push(
                "the SLI is not counted from table rows (histogram or query source), so \
                 there is no attribute evidence"
                    .to_string(),
            );
            Vec::new()
        }
    };
    // The traces the SLO's services take part in; other services' spans are unrelated.
    let mut services: BTreeSet<String> = events.iter().filter_map(|e| e.service.clone()).collect();
    if services.is_empty()
        && let Some(service) = &slo.service
    {
        services.insert(service.clone());
    }
    let spans = read_spans(query, baseline.start, incident.end, &services).await?;
    if events.len() >= MAX_ROWS || spans.len() >= MAX_ROWS {
        notes.push(format!(
            "only the first {MAX_ROWS} events or spans were read; the ranking may miss rarer causes"
        ));
    }
    let series = if services.len() > 1 {
        service_series(&events, slo.service.as_deref())
    } else {
        // One service: its bad share is the SLI itself.
        Vec::new()
    };
    let mut event_list: Vec<Event> = events.iter().map(|e| e.event.clone()).collect();
    let aliases = merge_aliases(&mut event_list);
    let data = IncidentData {
        target: slo.service.as_deref(),
        baseline,
        incident,
        events: &event_list,
        spans: &spans,
        edges: &[],
        series: &series,
    };
    let mut ranking = super::analyze(&data, &RcaConfig::default());
    for candidate in &mut ranking.candidates {
        if let Some(same) = aliases.get(&candidate.subject.to_string()) {
            for evidence in &mut candidate.evidence {
                if evidence.kind == super::EvidenceKind::Attributes {
                    evidence.text = format!(
                        "{}; on exactly the same events: {}",
                        evidence.text,
                        same.join(", ")
                    );
                }
            }
        }
    }
    Ok(Explanation {
        slo: slo.name.clone(),
        at,
        incident,
        baseline,
        firing,
        events: event_list.len(),
        bad_events: event_list.iter().filter(|e| e.bad).count(),
        spans: spans.len(),
        notes,
        ranking,
    })
}

/// Where the incident around `at` began: the minute after the last quiet `slo_status` row
/// of `slo` (within 6 h), at least 15 minutes back; or 1 h back when `slo` is not firing
/// at `at`. Also whether it fires at `at`.
async fn incident_start(query: &QueryEngine, slo: &str, at: i64) -> Result<(i64, bool), RcaError> {
    let name = slo.replace('\'', "''");
    let sql = format!(
        "SELECT time, firing FROM slo_status WHERE slo = '{name}' \
         AND time > {} AND time <= {} ORDER BY time",
        timestamp_literal(at - 6 * HOUR),
        timestamp_literal(at)
    );
    const WHAT: &str = "slo_status";
    // Latest state per minute (several objectives: firing if any fires).
    let mut minutes: BTreeMap<i64, bool> = BTreeMap::new();
    for batch in &batches(query, WHAT, &sql).await? {
        let times = columns::seconds(batch, "time").map_err(column(WHAT))?;
        let firing = columns::strings(batch, "firing").map_err(column(WHAT))?;
        for (t, f) in times.into_iter().zip(firing) {
            if let Some(t) = t {
                *minutes.entry(t).or_default() |= f.is_some();
            }
        }
    }
    let firing_now = minutes.get(&at).copied().unwrap_or(false);
    if !firing_now {
        return Ok((at - HOUR, false));
    }
    let last_quiet = minutes
        .iter()
        .rev()
        .find(|(_, firing)| !**firing)
        .map(|(t, _)| *t);
    let start = match last_quiet {
        Some(t) => t + MINUTE,
        None => at - 6 * HOUR,
    };
    Ok((start.min(at - 15 * MINUTE), true))
}

/// The SQL reading the SLO's events over `[from, to)` with their badness, or `None` when
/// its sides are not row counts over one table.
fn event_query(slo: &Slo, from: i64, to: i64) -> Option<String> {
    let (bad, total) = match &slo.indicator.ratio {
        RatioMetric::BadTotal { bad, total } => (row_filter(bad)?, row_filter(total)?),
        RatioMetric::GoodTotal { good, total } => {
            let (table, time_column, filter) = row_filter(good)?;
            (
                (
                    table,
                    time_column,
                    format!("NOT coalesce(({filter}), false)"),
                ),
                row_filter(total)?,
            )
        }
    };
    let (table, time_column, total_filter) = total;
    if bad.0 != table || bad.1 != time_column {
        return None;
    }
    let bad_filter = match &slo.indicator.ratio {
        RatioMetric::BadTotal { .. } => format!("coalesce(({}), false)", bad.2),
        RatioMetric::GoodTotal { .. } => bad.2,
    };
    Some(format!(
        "SELECT CAST(CAST({time_column} AS BIGINT) / 1000000000 AS BIGINT) AS t, \
         ({bad_filter}) AS bad, service_name, attributes, resource_attributes \
         FROM {table} \
         WHERE {time_column} >= {} AND {time_column} < {} AND ({total_filter}) \
         LIMIT {MAX_ROWS}",
        timestamp_literal(from),
        timestamp_literal(to),
    ))
}

/// A `table` source counting rows: its table, time column and filter.
fn row_filter(source: &MetricSource) -> Option<(Table, String, String)> {
    match source {
        MetricSource::Table {
            table,
            filter,
            time_column,
            value: None,
        } => Some((*table, time_column.clone(), filter.clone())),
        _ => None,
    }
}

/// One event with its time and service, for the per-service series.
#[derive(Debug, Clone)]
struct TimedEvent {
    time: i64,
    service: Option<String>,
    event: Event,
}

async fn read_events(
    query: &QueryEngine,
    sql: &str,
    incident_start: i64,
) -> Result<Vec<TimedEvent>, RcaError> {
    const WHAT: &str = "the SLO's events";
    let column = column(WHAT);
    let mut events = Vec::new();
    for batch in &batches(query, WHAT, sql).await? {
        let times = columns::ints(batch, "t").map_err(column)?;
        let bad = columns::bools(batch, "bad").map_err(column)?;
        let services = columns::strings(batch, "service_name").map_err(column)?;
        let attributes = columns::strings(batch, "attributes").map_err(column)?;
        let resource = columns::strings(batch, "resource_attributes").map_err(column)?;
        for row in 0..batch.num_rows() {
            let Some(time) = times[row] else { continue };
            let mut pairs = Vec::new();
            for json in [&resource[row], &attributes[row]].into_iter().flatten() {
                flatten(json, &mut pairs);
            }
            if let Some(service) = &services[row]
                && !pairs.iter().any(|(k, _)| k == "service.name")
            {
                pairs.push(("service.name".to_string(), service.clone()));
            }
            events.push(TimedEvent {
                time,
                service: services[row].clone(),
                event: Event {
                    attributes: pairs,
                    bad: bad[row].unwrap_or(false),
                    in_incident: time >= incident_start,
                },
            });
        }
    }
    drop_identifiers(&mut events);
    Ok(events)
}

/// The scalar members of a JSON object as `(key, value)` text pairs.
fn flatten(json: &str, out: &mut Vec<(String, String)>) {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(json) else {
        return;
    };
    for (key, value) in map {
        if IGNORED_KEYS.contains(&key.as_str()) || IGNORED_SUFFIXES.iter().any(|s| key.ends_with(s))
        {
            continue;
        }
        let text = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        out.push((key, text));
    }
}

/// Keeps one `key=value` of each group that sits on exactly the same events (see
/// [`KEY_PREFERENCE`]) and returns, per kept `key=value`, the others of its group.
fn merge_aliases(events: &mut [Event]) -> BTreeMap<String, Vec<String>> {
    let mut carriers: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        for (k, v) in &e.attributes {
            carriers.entry((k.clone(), v.clone())).or_default().push(i);
        }
    }
    let mut groups: BTreeMap<Vec<usize>, Vec<(String, String)>> = BTreeMap::new();
    for (pair, indices) in carriers {
        groups.entry(indices).or_default().push(pair);
    }
    let rank = |key: &str| {
        KEY_PREFERENCE
            .iter()
            .position(|k| *k == key)
            .unwrap_or(KEY_PREFERENCE.len())
    };
    let mut aliases = BTreeMap::new();
    let mut dropped: BTreeSet<(String, String)> = BTreeSet::new();
    for (_, mut pairs) in groups {
        if pairs.len() < 2 {
            continue;
        }
        pairs.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then_with(|| a.cmp(b)));
        let kept = format!("{}={}", pairs[0].0, pairs[0].1);
        let others: Vec<String> = pairs[1..].iter().map(|(k, v)| format!("{k}={v}")).collect();
        dropped.extend(pairs.into_iter().skip(1));
        aliases.insert(kept, others);
    }
    if !dropped.is_empty() {
        for e in events.iter_mut() {
            e.attributes
                .retain(|(k, v)| !dropped.contains(&(k.clone(), v.clone())));
        }
    }
    aliases
}

/// Removes what cannot be a cause: keys with more than [`MAX_VALUES_PER_KEY`] distinct
/// values (identifiers), numeric keys with more than [`MAX_MEASUREMENT_VALUES`] (durations,
/// token counts: measurements, not causes) and values carried by every event (they cannot
/// tell failures apart).
fn drop_identifiers(events: &mut [TimedEvent]) {
    let mut values: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    let mut carriers: HashMap<(&str, &str), usize> = HashMap::new();
    for e in events.iter() {
        for (k, v) in &e.event.attributes {
            let set = values.entry(k.as_str()).or_default();
            if set.len() <= MAX_VALUES_PER_KEY {
                set.insert(v.as_str());
            }
            *carriers.entry((k.as_str(), v.as_str())).or_default() += 1;
        }
    }
    let noisy: BTreeSet<String> = values
        .into_iter()
        .filter(|(_, set)| {
            set.len() > MAX_VALUES_PER_KEY
                || (set.len() > MAX_MEASUREMENT_VALUES
                    && set.iter().all(|v| v.parse::<f64>().is_ok()))
        })
        .map(|(k, _)| k.to_string())
        .collect();
    let everywhere: BTreeSet<(String, String)> = carriers
        .into_iter()
        .filter(|(_, n)| *n == events.len())
        .map(|((k, v), _)| (k.to_string(), v.to_string()))
        .collect();
    if noisy.is_empty() && everywhere.is_empty() {
        return;
    }
    for e in events.iter_mut() {
        e.event
            .attributes
            .retain(|(k, v)| !noisy.contains(k) && !everywhere.contains(&(k.clone(), v.clone())));
    }
}

/// Per service other than the SLO's own (whose bad share is the SLI itself, the symptom),
/// the share of bad events per minute (minutes without events are missing).
fn service_series(events: &[TimedEvent], own: Option<&str>) -> Vec<MetricSeries> {
    let mut counts: BTreeMap<&str, BTreeMap<i64, (u64, u64)>> = BTreeMap::new();
    for e in events {
        let Some(service) = &e.service else { continue };
        if Some(service.as_str()) == own {
            continue;
        }
        let slot = counts
            .entry(service.as_str())
            .or_default()
            .entry(e.time.div_euclid(MINUTE) * MINUTE)
            .or_default();
        slot.1 += 1;
        if e.event.bad {
            slot.0 += 1;
        }
    }
    counts
        .into_iter()
        .map(|(service, minutes)| MetricSeries {
            component: service.to_string(),
            metric: "bad_event_share".to_string(),
            direction: super::Direction::HigherIsWorse,
            min_scale: 0.01,
            points: minutes
                .into_iter()
                .map(|(t, (bad, total))| (t, Some(bad as f64 / total as f64)))
                .collect(),
        })
        .collect()
}

/// Spans in `[from, to)` of the traces that `services` take part in.
async fn read_spans(
    query: &QueryEngine,
    from: i64,
    to: i64,
    services: &BTreeSet<String>,
) -> Result<Vec<Span>, RcaError> {
    if services.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = services
        .iter()
        .map(|s| format!("'{}'", s.replace('\'', "''")))
        .collect();
    let range = format!(
        "start_time >= {} AND start_time < {}",
        timestamp_literal(from),
        timestamp_literal(to)
    );
    let sql = format!(
        "SELECT trace_id, span_id, parent_span_id, service_name, name, \
         status_code = 'ERROR' AS error, CAST(duration_ns AS DOUBLE) / 1e6 AS ms, \
         CAST(CAST(start_time AS BIGINT) / 1000000000 AS BIGINT) AS t \
         FROM spans WHERE {range} AND trace_id IN \
           (SELECT DISTINCT trace_id FROM spans WHERE {range} AND service_name IN ({})) \
         LIMIT {MAX_ROWS}",
        names.join(", ")
    );
    let column = column("spans");
    let mut spans = Vec::new();
    for batch in &batches(query, "spans", &sql).await? {
        let trace = columns::strings(batch, "trace_id").map_err(column)?;
        let span = columns::strings(batch, "span_id").map_err(column)?;
        let parent = columns::strings(batch, "parent_span_id").map_err(column)?;
        let service = columns::strings(batch, "service_name").map_err(column)?;
        let name = columns::strings(batch, "name").map_err(column)?;
        let error = columns::bools(batch, "error").map_err(column)?;
        let ms = columns::floats(batch, "ms").map_err(column)?;
        let t = columns::ints(batch, "t").map_err(column)?;
        for row in 0..batch.num_rows() {
            let (Some(trace_id), Some(span_id), Some(start)) =
                (trace[row].clone(), span[row].clone(), t[row])
            else {
                continue;
            };
            spans.push(Span {
                trace_id,
                span_id,
                parent_span_id: parent[row].clone().filter(|p| !p.is_empty()),
                service: service[row].clone().unwrap_or_else(|| "unknown".into()),
                operation: name[row].clone().unwrap_or_default(),
                error: error[row].unwrap_or(false),
                duration_ms: ms[row].unwrap_or(0.0),
                start,
            });
        }
    }
    Ok(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattening_keeps_scalars_and_skips_ignored_keys() {
        let mut pairs = Vec::new();
        flatten(
            r#"{"model":"m1","status_code":529,"ok":false,"nested":{"a":1},"event.name":"x"}"#,
            &mut pairs,
        );
        pairs.sort();
        assert_eq!(
            pairs,
            vec![
                ("model".to_string(), "m1".to_string()),
                ("ok".to_string(), "false".to_string()),
                ("status_code".to_string(), "529".to_string()),
            ]
        );
        flatten("not json", &mut pairs);
        assert_eq!(pairs.len(), 3);
    }

    #[test]
    fn values_on_the_same_events_merge_into_the_preferred_key() {
        let event = |bot: &str, host: &str, model: &str| Event {
            attributes: vec![
                ("host.name".into(), host.into()),
                ("bot.id".into(), bot.into()),
                ("model".into(), model.into()),
            ],
            bad: false,
            in_incident: true,
        };
        let mut events = vec![
            event("bot-1", "h1", "m"),
            event("bot-1", "h1", "m"),
            event("bot-2", "h2", "m"),
        ];
        let aliases = merge_aliases(&mut events);
        assert_eq!(aliases["bot.id=bot-1"], vec!["host.name=h1".to_string()]);
        assert_eq!(aliases["bot.id=bot-2"], vec!["host.name=h2".to_string()]);
        assert_eq!(
            aliases.len(),
            2,
            "model=m is on every event, alone in its group"
        );
        assert!(
            events
                .iter()
                .all(|e| e.attributes.iter().all(|(k, _)| k != "host.name"))
        );
    }

    #[test]
    fn identifier_keys_are_dropped() {
        let mut events: Vec<TimedEvent> = (0..(MAX_VALUES_PER_KEY + 5))
            .map(|i| TimedEvent {
                time: i as i64,
                service: None,
                event: Event {
                    attributes: vec![
                        ("session.id".into(), format!("s{i}")),
                        ("bot.id".into(), format!("bot-{}", i % 3)),
                    ],
                    bad: false,
                    in_incident: true,
                },
            })
            .collect();
        drop_identifiers(&mut events);
        assert!(
            events
                .iter()
                .all(|e| e.event.attributes.len() == 1 && e.event.attributes[0].0 == "bot.id")
        );

        // Durations are measurements; a value on every event tells nothing apart.
        let mut events: Vec<TimedEvent> = (0..20)
            .map(|i| TimedEvent {
                time: i as i64,
                service: None,
                event: Event {
                    attributes: vec![
                        ("duration_ms".into(), format!("{}", 10 + i)),
                        ("service.name".into(), "agent".into()),
                        (
                            "status_code".into(),
                            if i % 2 == 0 { "200" } else { "529" }.into(),
                        ),
                    ],
                    bad: i % 2 == 1,
                    in_incident: true,
                },
            })
            .collect();
        drop_identifiers(&mut events);
        assert!(
            events
                .iter()
                .all(|e| e.event.attributes.len() == 1 && e.event.attributes[0].0 == "status_code")
        );
    }
}
