"""Sends traces, metrics and logs to an OTLP endpoint with the official Python SDK.

Usage: send_with_sdk.py --protocol grpc|http --endpoint URL --service NAME

What it sends (the Rust test checks these exact figures through `vigil sql`):
- 10 spans named "work-<i>" under one root span "root" (11 spans, one trace), each with
  attributes str/int/float/bool/list; "work-3" has status ERROR and an event "retry".
- a counter "py.requests" added 1+2+3+4+5 (=15) with attribute route=/x,
  a histogram "py.latency" recording 0.5, 1.5 and 7 (count 3, sum 9),
  an up-down counter "py.inflight" added +4 then -1 (=3).
- 3 log records through the logging bridge: INFO "hello 0/1/2" with attribute n=i.
Exits non-zero if any export fails.
"""

import argparse
import logging
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.trace import Status, StatusCode


def exporters(protocol, endpoint):
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return (
            OTLPSpanExporter(endpoint=endpoint, insecure=True),
            OTLPMetricExporter(endpoint=endpoint, insecure=True),
            OTLPLogExporter(endpoint=endpoint, insecure=True),
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return (
        OTLPSpanExporter(endpoint=endpoint + "/v1/traces"),
        OTLPMetricExporter(endpoint=endpoint + "/v1/metrics"),
        OTLPLogExporter(endpoint=endpoint + "/v1/logs"),
    )


class CheckedExporter:
    """Wraps an exporter and remembers whether every export succeeded."""

    def __init__(self, inner):
        self.inner = inner
        self.failures = 0

    def export(self, *args, **kwargs):
        result = self.inner.export(*args, **kwargs)
        if getattr(result, "name", "SUCCESS") != "SUCCESS":
            self.failures += 1
        return result

    def __getattr__(self, name):
        return getattr(self.inner, name)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--protocol", choices=["grpc", "http"], required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--service", required=True)
    args = parser.parse_args()

    resource = Resource.create({"service.name": args.service, "bot.id": "bot-7"})
    span_exporter, metric_exporter, log_exporter = exporters(args.protocol, args.endpoint)
    span_exporter = CheckedExporter(span_exporter)
    log_exporter = CheckedExporter(log_exporter)

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    tracer = tracer_provider.get_tracer("vigil.test", "1.2.3")
    with tracer.start_as_current_span("root"):
        for i in range(10):
            with tracer.start_as_current_span(f"work-{i}") as span:
                span.set_attribute("str.attr", f"value-{i}")
                span.set_attribute("int.attr", i)
                span.set_attribute("float.attr", i + 0.5)
                span.set_attribute("bool.attr", i % 2 == 0)
                span.set_attribute("list.attr", ["a", "b"])
                if i == 3:
                    span.add_event("retry", {"attempt": 2})
                    span.set_status(Status(StatusCode.ERROR, "tool failed"))
    tracer_provider.shutdown()

    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=3_600_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = meter_provider.get_meter("vigil.test")
    counter = meter.create_counter("py.requests", unit="1", description="requests handled")
    for n in range(1, 6):
        counter.add(n, {"route": "/x"})
    histogram = meter.create_histogram("py.latency", unit="s")
    for v in (0.5, 1.5, 7):
        histogram.record(v)
    inflight = meter.create_up_down_counter("py.inflight")
    inflight.add(4)
    inflight.add(-1)
    metrics_ok = meter_provider.force_flush(timeout_millis=10_000)
    meter_provider.shutdown()

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    log = logging.getLogger("vigil.test.logs")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(handler)
    for i in range(3):
        log.info("hello %d", i, extra={"n": i})
    logger_provider.shutdown()

    failures = span_exporter.failures + log_exporter.failures + (0 if metrics_ok else 1)
    if failures:
        print(f"{failures} exports failed", file=sys.stderr)
        sys.exit(1)
    print("sent")


if __name__ == "__main__":
    main()
