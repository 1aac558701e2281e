#!/usr/bin/env python3
"""A minimal OTLP logs and metrics receiver for the tests of the OTLP sink
and the OTLP metrics exporter.

Serves LogsService/Export over gRPC (--grpc PORT) and POST /v1/logs over
HTTP with protobuf bodies (--http PORT), decodes every request with the
official generated classes (PyPI opentelemetry-proto) and appends one JSON
line per log record to --out: the transport, resource attributes, scope,
time, severity, body and attributes (AnyValue as the plain value; arrays as
lists). Prints "ready" on stdout once both listeners are up.
"""
import argparse
import json
import sys
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc

LOCK = threading.Lock()


def value(v):
    """An AnyValue as a plain JSON value."""
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def attrs(kvs):
    return {kv.key: value(kv.value) for kv in kvs}


def record(out, transport, request, metadata):
    """Append the log records of one export request to `out`."""
    lines = []
    for rl in request.resource_logs:
        resource = attrs(rl.resource.attributes)
        for sl in rl.scope_logs:
            for lr in sl.log_records:
                lines.append(json.dumps({
                    "transport": transport,
                    "metadata": metadata,
                    "resource": resource,
                    "scope": {"name": sl.scope.name, "version": sl.scope.version},
                    "time_unix_nano": lr.time_unix_nano,
                    "observed_time_unix_nano": lr.observed_time_unix_nano,
                    "severity_number": lr.severity_number,
                    "severity_text": lr.severity_text,
                    "event_name": lr.event_name,
                    "body": value(lr.body),
                    "attributes": attrs(lr.attributes),
                }))
    with LOCK, open(out, "a", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")


def point_value(p):
    kind = p.WhichOneof("value")
    return getattr(p, kind) if kind else None


def record_metrics(out, transport, request, metadata):
    """Append the data points of one metrics export request to `out`."""
    lines = []
    for rm in request.resource_metrics:
        resource = attrs(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                data = getattr(m, kind)
                for p in data.data_points:
                    value = p.count if kind == "histogram" else point_value(p)
                    lines.append(json.dumps({
                        "kind": "metric",
                        "transport": transport,
                        "metadata": metadata,
                        "resource": resource,
                        "scope": {"name": sm.scope.name, "version": sm.scope.version},
                        "name": m.name,
                        "unit": m.unit,
                        "type": kind,
                        "monotonic": getattr(data, "is_monotonic", None),
                        "temporality": getattr(data, "aggregation_temporality", None),
                        "value": value,
                        "attributes": attrs(p.attributes),
                        "time_unix_nano": p.time_unix_nano,
                        "start_time_unix_nano": p.start_time_unix_nano,
                    }))
    with LOCK, open(out, "a", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")


class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, out):
        self.out = out

    def Export(self, request, context):
        md = {k: v for k, v in context.invocation_metadata() if not k.startswith(":")}
        record_metrics(self.out, "grpc", request, md)
        return metrics_service_pb2.ExportMetricsServiceResponse()


class Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, out):
        self.out = out

    def Export(self, request, context):
        md = {k: v for k, v in context.invocation_metadata() if not k.startswith(":")}
        record(self.out, "grpc", request, md)
        return logs_service_pb2.ExportLogsServiceResponse()


def http_handler(out):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            if self.path not in ("/v1/logs", "/v1/metrics"):
                self.send_error(404)
                return
            if self.headers.get("content-type") != "application/x-protobuf":
                self.send_error(415)
                return
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            metrics = self.path == "/v1/metrics"
            req = (metrics_service_pb2.ExportMetricsServiceRequest() if metrics
                   else logs_service_pb2.ExportLogsServiceRequest())
            try:
                req.ParseFromString(body)
            except Exception as e:  # a body the official classes cannot decode
                self.send_error(400, str(e))
                return
            md = {k.lower(): v for k, v in self.headers.items()}
            if metrics:
                record_metrics(out, "http", req, md)
                resp = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
            else:
                record(out, "http", req, md)
                resp = logs_service_pb2.ExportLogsServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(resp)))
            self.end_headers()
            self.wfile.write(resp)

        def log_message(self, *args):
            pass

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--grpc", type=int)
    ap.add_argument("--http", type=int)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    open(a.out, "a").close()
    if a.grpc:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(a.out), server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(a.out), server)
        server.add_insecure_port(f"127.0.0.1:{a.grpc}")
        server.start()
    if a.http:
        httpd = ThreadingHTTPServer(("127.0.0.1", a.http), http_handler(a.out))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
