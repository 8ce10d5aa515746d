//! Small builders for OTLP protobuf messages: attributes, resources, scopes, log
//! records, spans and metric data points. They keep the agent renderers readable and
//! make sure every record is complete (timestamps, ids, flags) the same way.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint, Sum, metric,
    number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span, status};

pub(crate) fn string(key: &str, value: impl Into<String>) -> KeyValue {
    any(key, any_value::Value::StringValue(value.into()))
}

pub(crate) fn int(key: &str, value: i64) -> KeyValue {
    any(key, any_value::Value::IntValue(value))
}

pub(crate) fn double(key: &str, value: f64) -> KeyValue {
    any(key, any_value::Value::DoubleValue(value))
}

pub(crate) fn boolean(key: &str, value: bool) -> KeyValue {
    any(key, any_value::Value::BoolValue(value))
}

fn any(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// Numeric attributes as a sender writes them: typed, or (older agent versions) as
/// decimal strings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Numbers {
    pub(crate) as_strings: bool,
}

impl Numbers {
    pub(crate) fn int(self, key: &str, value: i64) -> KeyValue {
        if self.as_strings {
            string(key, value.to_string())
        } else {
            int(key, value)
        }
    }

    pub(crate) fn double(self, key: &str, value: f64) -> KeyValue {
        if self.as_strings {
            string(key, format!("{value}"))
        } else {
            double(key, value)
        }
    }
}

pub(crate) fn resource(attributes: Vec<KeyValue>) -> Resource {
    Resource {
        attributes,
        ..Default::default()
    }
}

pub(crate) fn scope(name: &str, version: &str) -> InstrumentationScope {
    InstrumentationScope {
        name: name.to_string(),
        version: version.to_string(),
        ..Default::default()
    }
}

/// A log record at `time_unix_nano` (observed at the same instant).
pub(crate) fn log_record(
    time_unix_nano: u64,
    severity: SeverityNumber,
    body: &str,
    attributes: Vec<KeyValue>,
) -> LogRecord {
    let severity_text = match severity {
        SeverityNumber::Error => "ERROR",
        SeverityNumber::Warn => "WARN",
        _ => "INFO",
    };
    LogRecord {
        time_unix_nano,
        observed_time_unix_nano: time_unix_nano,
        severity_number: severity as i32,
        severity_text: severity_text.to_string(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.to_string())),
        }),
        attributes,
        ..Default::default()
    }
}

/// Everything a span needs; `finish` turns it into the protobuf message.
#[derive(Debug, Clone)]
pub(crate) struct SpanSpec {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) parent: Option<[u8; 8]>,
    pub(crate) name: String,
    pub(crate) kind: span::SpanKind,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) attributes: Vec<KeyValue>,
    /// `Some(message)`: status ERROR with that message; `None`: status UNSET.
    pub(crate) error: Option<String>,
}

impl SpanSpec {
    pub(crate) fn finish(self) -> Span {
        let status = match self.error {
            Some(message) => Status {
                code: status::StatusCode::Error as i32,
                message,
            },
            None => Status::default(),
        };
        Span {
            trace_id: self.trace_id.to_vec(),
            span_id: self.span_id.to_vec(),
            parent_span_id: self.parent.map(|p| p.to_vec()).unwrap_or_default(),
            // W3C sampled flag, as SDKs set it for recorded spans.
            flags: 0x101,
            name: self.name,
            kind: self.kind as i32,
            start_time_unix_nano: self.start,
            end_time_unix_nano: self.end.max(self.start),
            attributes: self.attributes,
            status: Some(status),
            ..Default::default()
        }
    }
}

/// Attribute set of one metric stream, kept sorted so output order is stable.
pub(crate) type Series = Vec<(&'static str, String)>;

/// Monotonic counters summed over one export interval, exported as delta Sums.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    values: BTreeMap<(&'static str, Series), f64>,
}

/// Name, unit and description of a counter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CounterInfo {
    pub(crate) name: &'static str,
    pub(crate) unit: &'static str,
    pub(crate) description: &'static str,
}

impl Counters {
    pub(crate) fn add(&mut self, info: &CounterInfo, mut series: Series, value: f64) {
        series.sort();
        *self.values.entry((info.name, series)).or_default() += value;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// One delta Sum per counter over `[start, end)`, in name order.
    pub(crate) fn into_metrics(
        self,
        catalogue: &[CounterInfo],
        start: u64,
        end: u64,
    ) -> Vec<Metric> {
        let mut by_name: BTreeMap<&'static str, Vec<NumberDataPoint>> = BTreeMap::new();
        for ((name, series), value) in self.values {
            by_name.entry(name).or_default().push(NumberDataPoint {
                attributes: series.into_iter().map(|(k, v)| string(k, v)).collect(),
                start_time_unix_nano: start,
                time_unix_nano: end,
                value: Some(number_data_point::Value::AsDouble(value)),
                ..Default::default()
            });
        }
        by_name
            .into_iter()
            .map(|(name, data_points)| {
                let info = catalogue.iter().find(|c| c.name == name);
                Metric {
                    name: name.to_string(),
                    unit: info.map(|c| c.unit).unwrap_or_default().to_string(),
                    description: info.map(|c| c.description).unwrap_or_default().to_string(),
                    data: Some(metric::Data::Sum(Sum {
                        data_points,
                        aggregation_temporality: AggregationTemporality::Delta as i32,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }
            })
            .collect()
    }
}

/// Explicit-bucket histogram streams (one per attribute set).
#[derive(Debug, Clone, Default)]
pub(crate) struct Histograms {
    bounds: &'static [f64],
    streams: BTreeMap<Series, Buckets>,
}

#[derive(Debug, Clone)]
struct Buckets {
    counts: Vec<u64>,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Histograms {
    pub(crate) fn new(bounds: &'static [f64]) -> Histograms {
        Histograms {
            bounds,
            streams: BTreeMap::new(),
        }
    }

    pub(crate) fn record(&mut self, mut series: Series, value: f64) {
        series.sort();
        let buckets = self.streams.entry(series).or_insert_with(|| Buckets {
            counts: vec![0; self.bounds.len() + 1],
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        });
        // OTLP buckets are upper-inclusive: bucket i holds (bounds[i-1], bounds[i]].
        let index = self.bounds.partition_point(|b| *b < value);
        buckets.counts[index] += 1;
        buckets.count += 1;
        buckets.sum += value;
        buckets.min = buckets.min.min(value);
        buckets.max = buckets.max.max(value);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Adds `other`'s observations (same bounds) to these streams.
    pub(crate) fn merge(&mut self, other: &Histograms) {
        for (series, b) in &other.streams {
            match self.streams.get_mut(series) {
                Some(mine) => {
                    for (m, o) in mine.counts.iter_mut().zip(&b.counts) {
                        *m += o;
                    }
                    mine.count += b.count;
                    mine.sum += b.sum;
                    mine.min = mine.min.min(b.min);
                    mine.max = mine.max.max(b.max);
                }
                None => {
                    self.streams.insert(series.clone(), b.clone());
                }
            }
        }
    }

    /// The streams as one histogram metric with points over `[start, end)`.
    pub(crate) fn to_metric(
        &self,
        info: &CounterInfo,
        temporality: AggregationTemporality,
        start: u64,
        end: u64,
    ) -> Metric {
        let data_points = self
            .streams
            .iter()
            .map(|(series, b)| HistogramDataPoint {
                attributes: series.iter().map(|(k, v)| string(k, v.clone())).collect(),
                start_time_unix_nano: start,
                time_unix_nano: end,
                count: b.count,
                sum: Some(b.sum),
                bucket_counts: b.counts.clone(),
                explicit_bounds: self.bounds.to_vec(),
                min: Some(b.min),
                max: Some(b.max),
                ..Default::default()
            })
            .collect();
        Metric {
            name: info.name.to_string(),
            unit: info.unit.to_string(),
            description: info.description.to_string(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points,
                aggregation_temporality: temporality as i32,
            })),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_upper_inclusive() {
        static BOUNDS: [f64; 2] = [1.0, 2.0];
        let mut h = Histograms::new(&BOUNDS);
        for v in [0.5, 1.0, 1.5, 2.0, 9.0] {
            h.record(vec![("k", "v".into())], v);
        }
        let info = CounterInfo {
            name: "m",
            unit: "s",
            description: "",
        };
        let metric = h.to_metric(&info, AggregationTemporality::Delta, 1, 2);
        let Some(metric::Data::Histogram(hist)) = metric.data else {
            panic!("a histogram");
        };
        assert_eq!(hist.data_points[0].bucket_counts, vec![2, 2, 1]);
        assert_eq!(hist.data_points[0].count, 5);
        assert_eq!(hist.data_points[0].max, Some(9.0));
    }

    #[test]
    fn old_versions_send_numbers_as_strings() {
        let kv = Numbers { as_strings: true }.int("duration_ms", 42);
        assert_eq!(
            kv.value.and_then(|v| v.value),
            Some(any_value::Value::StringValue("42".into()))
        );
    }
}
