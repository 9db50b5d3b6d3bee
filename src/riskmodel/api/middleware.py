"""Pure ASGI middleware: request-body limit and Prometheus metrics by route template."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "riskmodel_requests_total",
            "HTTP requests",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "riskmodel_request_seconds",
            "request latency",
            ["route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5),
            registry=self.registry,
        )
        self.model = Gauge(
            "riskmodel_model_info",
            "model in service",
            ["version", "run_id"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "riskmodel_model_ready", "1 when a warmed model is serving", registry=self.registry
        )
        self.reload_failures = Gauge(
            "riskmodel_reload_failures_total",
            "failed model reloads since start",
            registry=self.registry,
        )
        self.reloads = Gauge(
            "riskmodel_reloads_total", "successful model swaps since start", registry=self.registry
        )


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class GuardAndMeasure:
    """Refuse bodies over `max_body` bytes with 413; count and time requests by route."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body: int):
        self.app, self.metrics, self.max_body = app, metrics, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]
        too_big = b'{"detail":"request body larger than %d bytes"}' % self.max_body
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _send_json(send, 413, too_big)
            self._observe(scope, 413, start)
            return
        seen = [0]

        async def limited() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > self.max_body:
                    raise _TooLarge
            return message

        async def tracked(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, limited, tracked)
        except _TooLarge:
            status[0] = 413
            await _send_json(send, 413, too_big)
        finally:
            self._observe(scope, status[0], start)

    def _observe(self, scope: Scope, status: int, start: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", "unmatched")
        self.metrics.requests.labels(template, scope.get("method", ""), str(status)).inc()
        self.metrics.latency.labels(template).observe(time.perf_counter() - start)


class _TooLarge(Exception):
    pass
