//! Per-record checks that OTLP's wire format cannot express, applied to every request
//! whatever its encoding. A record that fails is removed from the request and counted,
//! so the rest of the request is still stored and the sender gets an OTLP partial
//! success naming the first problem.
//!
//! What is checked: id lengths (trace ids 16 bytes, span ids 8 bytes, or empty, which
//! OTLP allows and Vigil stores as the empty string) on spans, span links, log records and
//! exemplars.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{Exemplar, metric};

/// Records removed from a request and the first reason.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rejections {
    pub count: u64,
    pub first_error: Option<String>,
}

impl Rejections {
    pub fn add(&mut self, count: u64, message: impl FnOnce() -> String) {
        if count == 0 {
            return;
        }
        self.count += count;
        if self.first_error.is_none() {
            self.first_error = Some(message());
        }
    }

    pub fn merge(&mut self, other: Rejections) {
        if let Some(message) = other.first_error {
            self.add(other.count, || message);
        }
    }

    pub fn message(&self) -> String {
        match &self.first_error {
            Some(first) if self.count > 1 => {
                format!("{} records rejected; first: {first}", self.count)
            }
            Some(first) => first.clone(),
            None => String::new(),
        }
    }
}

/// Checks an id's length; on failure, names the field (built only then) and the problem.
fn check_id(id: &[u8], len: usize, field: impl FnOnce() -> String) -> Result<(), String> {
    if id.is_empty() || id.len() == len {
        Ok(())
    } else {
        Err(format!(
            "{} must be {len} bytes ({} hex digits) or empty, got {} bytes",
            field(),
            len * 2,
            id.len()
        ))
    }
}

/// Removes spans with malformed ids (their own or a link's).
pub fn traces(request: &mut ExportTraceServiceRequest) -> Rejections {
    let mut rejected = Rejections::default();
    for (r, resource_spans) in request.resource_spans.iter_mut().enumerate() {
        for (s, scope_spans) in resource_spans.scope_spans.iter_mut().enumerate() {
            let mut index = 0;
            scope_spans.spans.retain(|span| {
                let i = index;
                index += 1;
                let problem = check_id(&span.trace_id, 16, || "traceId".into())
                    .and_then(|_| check_id(&span.span_id, 8, || "spanId".into()))
                    .and_then(|_| check_id(&span.parent_span_id, 8, || "parentSpanId".into()))
                    .and_then(|_| {
                        span.links.iter().enumerate().try_for_each(|(l, link)| {
                            check_id(&link.trace_id, 16, || format!("links[{l}].traceId")).and_then(
                                |_| check_id(&link.span_id, 8, || format!("links[{l}].spanId")),
                            )
                        })
                    });
                match problem {
                    Ok(()) => true,
                    Err(message) => {
                        rejected.add(1, || {
                            format!("resourceSpans[{r}].scopeSpans[{s}].spans[{i}].{message}")
                        });
                        false
                    }
                }
            });
        }
    }
    rejected
}

/// Removes log records with malformed ids.
pub fn logs(request: &mut ExportLogsServiceRequest) -> Rejections {
    let mut rejected = Rejections::default();
    for (r, resource_logs) in request.resource_logs.iter_mut().enumerate() {
        for (s, scope_logs) in resource_logs.scope_logs.iter_mut().enumerate() {
            let mut index = 0;
            scope_logs.log_records.retain(|record| {
                let i = index;
                index += 1;
                let problem = check_id(&record.trace_id, 16, || "traceId".into())
                    .and_then(|_| check_id(&record.span_id, 8, || "spanId".into()));
                match problem {
                    Ok(()) => true,
                    Err(message) => {
                        rejected.add(1, || {
                            format!("resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}].{message}")
                        });
                        false
                    }
                }
            });
        }
    }
    rejected
}

fn check_exemplars(exemplars: &[Exemplar]) -> Result<(), String> {
    exemplars.iter().enumerate().try_for_each(|(e, exemplar)| {
        check_id(&exemplar.trace_id, 16, || format!("exemplars[{e}].traceId"))
            .and_then(|_| check_id(&exemplar.span_id, 8, || format!("exemplars[{e}].spanId")))
    })
}

/// Removes data points whose exemplars carry malformed ids.
pub fn metrics(request: &mut ExportMetricsServiceRequest) -> Rejections {
    let mut rejected = Rejections::default();
    for (r, resource_metrics) in request.resource_metrics.iter_mut().enumerate() {
        for (s, scope_metrics) in resource_metrics.scope_metrics.iter_mut().enumerate() {
            for (m, metric) in scope_metrics.metrics.iter_mut().enumerate() {
                let path = || format!("resourceMetrics[{r}].scopeMetrics[{s}].metrics[{m}]");
                macro_rules! retain_points {
                    ($points:expr, $kind:literal) => {{
                        let mut index = 0;
                        $points.retain(|p| {
                            let i = index;
                            index += 1;
                            match check_exemplars(&p.exemplars) {
                                Ok(()) => true,
                                Err(message) => {
                                    rejected.add(1, || {
                                        format!("{}.{}.dataPoints[{i}].{message}", path(), $kind)
                                    });
                                    false
                                }
                            }
                        });
                    }};
                }
                match &mut metric.data {
                    Some(metric::Data::Gauge(g)) => retain_points!(g.data_points, "gauge"),
                    Some(metric::Data::Sum(g)) => retain_points!(g.data_points, "sum"),
                    Some(metric::Data::Histogram(g)) => retain_points!(g.data_points, "histogram"),
                    Some(metric::Data::ExponentialHistogram(g)) => {
                        retain_points!(g.data_points, "exponentialHistogram")
                    }
                    Some(metric::Data::Summary(_)) | None => {}
                }
            }
        }
    }
    rejected
}

/// Number of spans in a request.
pub fn span_count(request: &ExportTraceServiceRequest) -> u64 {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum()
}

/// Number of log records in a request.
pub fn log_count(request: &ExportLogsServiceRequest) -> u64 {
    request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len() as u64)
        .sum()
}

/// Number of data points in a request, counting a metric without data as one.
pub fn point_count(request: &ExportMetricsServiceRequest) -> u64 {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(metric_point_count)
        .sum()
}

/// Number of data points (rows) of one metric; a metric without data is one row.
pub fn metric_point_count(m: &opentelemetry_proto::tonic::metrics::v1::Metric) -> u64 {
    match &m.data {
        Some(metric::Data::Gauge(g)) => g.data_points.len() as u64,
        Some(metric::Data::Sum(g)) => g.data_points.len() as u64,
        Some(metric::Data::Histogram(g)) => g.data_points.len() as u64,
        Some(metric::Data::ExponentialHistogram(g)) => g.data_points.len() as u64,
        Some(metric::Data::Summary(g)) => g.data_points.len() as u64,
        None => 1,
    }
}
