"""Sends one trace across two services to Argus with the real OpenTelemetry Python SDK.

`frontend` exports over OTLP gRPC, `payments` over OTLP HTTP/protobuf, so one trace arrives
through both receivers. Also sends a log record inside the trace (OTLP logs, gRPC) and a
counter and a histogram (OTLP metrics, HTTP). Prints a JSON object with the ids it made.

usage: otlp_client.py GRPC_HOST:PORT HTTP_BASE_URL RUN_ID
"""

import json
import logging
import sys
import time

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

grpc_endpoint, http_base, run_id = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3]


def provider(service, exporter):
    p = TracerProvider(
        resource=Resource.create({"service.name": service, "host.name": "test-host"})
    )
    p.add_span_processor(SimpleSpanProcessor(exporter))
    return p


frontend = provider("frontend", GrpcSpanExporter(endpoint=grpc_endpoint, insecure=True))
payments = provider("payments", HttpSpanExporter(endpoint=f"{http_base}/v1/traces"))

logs = LoggerProvider(resource=Resource.create({"service.name": "frontend"}))
logs.add_log_record_processor(
    SimpleLogRecordProcessor(OTLPLogExporter(endpoint=grpc_endpoint, insecure=True))
)
logger = logging.getLogger("checkout")
logger.addHandler(LoggingHandler(logger_provider=logs))
logger.setLevel(logging.INFO)

front = frontend.get_tracer("shop.frontend", "1.2.3")
pay = payments.get_tracer("shop.payments")

with front.start_as_current_span(
    "GET /checkout", kind=SpanKind.SERVER, attributes={"http.route": "/checkout", "run": run_id}
) as root:
    root.add_event("cart loaded", {"items": 3})
    logger.info("checkout started for run %s", run_id)
    with front.start_as_current_span(
        "POST /pay", kind=SpanKind.CLIENT, attributes={"peer.service": "payments"}
    ) as client:
        time.sleep(0.02)
        ctx = trace.set_span_in_context(client)
        with pay.start_as_current_span(
            "POST /pay",
            context=ctx,
            kind=SpanKind.SERVER,
            attributes={"http.status_code": 200, "payment.amount": 12.5, "run": run_id},
        ):
            time.sleep(0.05)
        with pay.start_as_current_span(
            "charge card",
            context=ctx,
            kind=SpanKind.SERVER,
            attributes={"http.status_code": 502, "run": run_id},
        ) as failed:
            time.sleep(0.01)
            failed.set_status(Status(StatusCode.ERROR, "card declined"))
            failed.add_event("exception", {"exception.type": "CardDeclined"})

trace_id = format(root.get_span_context().trace_id, "032x")
frontend.force_flush()
payments.force_flush()
logs.force_flush()

reader = PeriodicExportingMetricReader(
    OTLPMetricExporter(endpoint=f"{http_base}/v1/metrics"), export_interval_millis=60_000
)
meters = MeterProvider(
    resource=Resource.create({"service.name": "frontend"}), metric_readers=[reader]
)
meter = meters.get_meter("shop.frontend")
meter.create_counter("orders", unit="1").add(7, {"run": run_id})
meter.create_histogram("checkout.duration", unit="s").record(0.3, {"run": run_id})
meters.force_flush()
meters.shutdown()

frontend.shutdown()
payments.shutdown()
logs.shutdown()
print(json.dumps({"trace_id": trace_id}))
