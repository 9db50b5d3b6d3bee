"""Pure ASGI middleware: per-address rate limit, request-body limit, Prometheus metrics by route."""

from __future__ import annotations

import json
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from riskmodel.api.limits import RateLimiter, retry_after


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
        self.batch_records = Histogram(
            "riskmodel_scoring_batch_records",
            "records per scoring call (concurrent requests are scored together)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
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
        monitor = ["model", "version", "year"]
        self.monitor_psi = Gauge(
            "riskmodel_monitor_psi_max",
            "largest feature PSI of the latest monitored batch",
            monitor,
            registry=self.registry,
        )
        self.monitor_auc = Gauge(
            "riskmodel_monitor_estimated_auc",
            "ROC-AUC estimated before labels for the latest monitored batch",
            monitor,
            registry=self.registry,
        )
        self.monitor_alarm = Gauge(
            "riskmodel_monitor_alarm",
            "1 when the latest monitored batch raised the alarm",
            monitor,
            registry=self.registry,
        )

    def sync_monitoring(self, latest: list[dict]) -> None:
        """The gauges from the store's latest monitoring row per model."""
        for gauge in (self.monitor_psi, self.monitor_auc, self.monitor_alarm):
            gauge.clear()
        for row in latest:
            key = (row["model_name"], row["model_version"], str(row["year"]))
            self.monitor_psi.labels(*key).set(row["psi_max"])
            if row["estimated_auc"] is not None:
                self.monitor_auc.labels(*key).set(row["estimated_auc"])
            self.monitor_alarm.labels(*key).set(1 if row["alarm"] else 0)


async def _send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] = ()
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


MAX_SERIES = 1_000
"""Label sets whose series are kept at hand (routes x methods x statuses: a few dozen)."""


class GuardAndMeasure:
    """Per-address rate limit (429 with Retry-After), request bodies over `max_body` bytes refused
    with 413 (declared or chunked), and requests counted and timed by route."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        max_body: int,
        limiter: RateLimiter | None = None,
        advice: str = "",
    ):
        self.app, self.metrics, self.max_body = app, metrics, max_body
        self.limiter, self.advice = limiter, advice
        self._series: dict[tuple, tuple] = {}
        """(route template, method, status) -> its counter and latency histogram."""

    def _too_big(self, size: int | None) -> bytes:
        got = f"of {size:,} bytes " if size is not None else ""
        detail = f"request body {got}is larger than the limit of {self.max_body:,} bytes"
        if size is not None:
            detail += f": split it into at least {-(-size // self.max_body)} requests"
        return json.dumps({"detail": detail + (f"; {self.advice}" if self.advice else "")}).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]
        if self.limiter is not None:
            client = scope.get("client")
            wait = self.limiter.take(client[0] if client else "unknown")
            if wait > 0:
                body = b'{"detail":"too many requests from this address; retry later"}'
                await _send_json(send, 429, body, [(b"retry-after", retry_after(wait).encode())])
                self._observe(scope, 429, start)
                return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _send_json(send, 413, self._too_big(int(length)))
            self._observe(scope, 413, start)
            return
        if length is None and scope.get("method") in ("POST", "PUT", "PATCH"):
            # chunked (or unsized) body: read it here, within the limit, and hand it on whole
            chunks, size, more = [], 0, True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                more = message.get("more_body", False)
                if size > self.max_body:
                    await _send_json(send, 413, self._too_big(None))
                    self._observe(scope, 413, start)
                    return
            receive = replay_body(b"".join(chunks), receive)

        async def tracked(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        finally:
            self._observe(scope, status[0], start)

    def _observe(self, scope: Scope, status: int, start: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", "unmatched")
        key = (template, scope.get("method", ""), status)
        series = self._series.get(key)
        if series is None:  # prometheus_client's labels() costs more than the counting
            series = (
                self.metrics.requests.labels(template, key[1], str(status)),
                self.metrics.latency.labels(template),
            )
            if len(self._series) < MAX_SERIES:
                self._series[key] = series
        series[0].inc()
        series[1].observe(time.perf_counter() - start)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the app `body`, already read, then what the client sends next."""
    sent = [False]

    async def replay() -> Message:
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
