"""What one app instance holds: settings, the store, keys and rate limits, the models in service,
the scoring thread and the metrics; and the model lifecycle around them (start-up, polling the
champion aliases, reload)."""

from __future__ import annotations

import asyncio
import json
from contextlib import suppress

from fastapi.concurrency import run_in_threadpool

from riskmodel.api.errors import record_failures, refusal
from riskmodel.api.lifecycle import Loaded, ModelHolder
from riskmodel.api.limits import RateLimiter
from riskmodel.api.middleware import Metrics
from riskmodel.api.schemas import EXAMPLE_RECORD, MAX_RECORDS
from riskmodel.api.scoring import Scorer, score_columns, warm_up
from riskmodel.api.security import KeyRing
from riskmodel.config import Settings
from riskmodel.history import PanelHistory
from riskmodel.labels import MAIN_LABEL
from riskmodel.model import RelapseModel
from riskmodel.store import engine_for


def _resolver(uri: str) -> str:
    from riskmodel.deploy import resolve  # MLflow is imported only when needed

    return resolve(uri)


def _loader(alias_uri: str):
    """Load a pinned version (the deployed copy when there is one), and point the deployed
    alias the holder follows at it."""

    def load_version(uri: str):
        from riskmodel.deploy import load

        return load(uri, alias_uri)

    return load_version


ADDRESS_SHARE = 6
"""An address may try as many sign-ins as this many accounts (cadres behind one office NAT)."""


class Service:
    def __init__(
        self,
        settings: Settings,
        holder: ModelHolder | None = None,
        persistent_holder: ModelHolder | None = None,
    ):
        self.settings = settings
        self.engine = engine_for(settings.db_url)
        self.keys = KeyRing(self.engine, settings.key_cache_ttl_s, settings.key_cache_size)
        self.per_key = RateLimiter(settings.rate_per_key, settings.rate_burst_s)
        self.per_address = RateLimiter(settings.rate_per_address, settings.rate_burst_s)
        per_minute = settings.sign_in_per_minute / 60
        self.sign_in_per_name = RateLimiter(per_minute, burst_s=60)
        self.sign_in_per_address = RateLimiter(per_minute * ADDRESS_SHARE, burst_s=60)
        self.holder = holder or ModelHolder(
            settings.model_uri, _loader(settings.model_uri), _resolver, warm_up
        )
        self.persistent = persistent_holder or (
            ModelHolder(
                settings.persistent_model_uri,
                _loader(settings.persistent_model_uri),
                _resolver,
                warm_up,
                required=False,
            )
            if settings.persistent_model_uri
            else None
        )
        self.metrics = Metrics()
        self.scorer = Scorer(
            score_columns, record_failures, refusal, self.metrics.batch_records.observe
        )
        self.history: PanelHistory | None = None
        """Rows of the years before for households sent without theirs (settings.panel)."""
        self.size_advice = size_advice(settings.max_body_bytes)
        self._served: list = [
            None,
            None,
            None,
        ]  # main Loaded, persistent Loaded, (models, versions)

    def serving(self) -> Loaded | None:
        return self.holder.current

    def version_in_service(self) -> str | None:
        return self.holder.current.version if self.holder.current is not None else None

    def in_service(self) -> tuple[Loaded, tuple[dict[str, RelapseModel], dict[str, str]]] | None:
        """The models a request uses to its end (taken once, so a swap never mixes versions).
        The same object while nothing is swapped, so concurrent requests are scored together.
        None while no model is serving."""
        loaded = self.holder.current
        if loaded is None:
            return None
        extra = self.persistent.current if self.persistent else None
        if self._served[0] is not loaded or self._served[1] is not extra:
            models = {MAIN_LABEL: loaded.model}
            versions = {MAIN_LABEL: loaded.version}
            if extra is not None:
                models[extra.model.meta.label] = extra.model
                versions[extra.model.meta.label] = extra.version
            self._served[:] = [loaded, extra, (models, versions)]
        return loaded, self._served[2]

    def reload_persistent(self) -> tuple[str, str | None]:
        """Follow the persistent champion: absent until one is promoted, then like the main one."""
        if self.persistent is None:
            return "absent", None
        if self.persistent.current is None:
            self.persistent.load()
            return ("swapped" if self.persistent.current else "absent"), None
        return self.persistent.reload()

    def sync_model_metrics(self) -> None:
        metrics, holder = self.metrics, self.holder
        metrics.model.clear()
        if holder.current:
            metrics.model.labels(holder.current.version, holder.current.run_id).set(1)
        metrics.ready.set(1 if holder.current else 0)
        metrics.reload_failures.set(holder.reload_failures)
        metrics.reloads.set(holder.reloads)

    async def start(self) -> None:
        if self.settings.panel is not None and self.history is None:
            self.history = await run_in_threadpool(PanelHistory.read, self.settings.panel)
        if self.holder.current is None:
            await run_in_threadpool(self.holder.load)
        if self.persistent is not None and self.persistent.current is None:
            await run_in_threadpool(self.persistent.load)
        self.sync_model_metrics()

    async def poll(self) -> None:
        """Follow the champion aliases every `reload_interval_s` seconds."""
        while True:
            await asyncio.sleep(self.settings.reload_interval_s)
            with suppress(Exception):  # a failed reload is recorded by the holder
                await run_in_threadpool(self.holder.reload)
            with suppress(Exception):
                await run_in_threadpool(self.reload_persistent)
            self.sync_model_metrics()

    def close(self) -> None:
        self.scorer.close()
        self.engine.dispose()


def size_advice(max_body_bytes: int) -> str:
    """How many records fit in a request body, compact and pretty-printed."""
    one = {"records": [EXAMPLE_RECORD]}
    empty = len(json.dumps({"records": []}).encode())
    compact = len(json.dumps(one).encode()) - empty + 2
    pretty = len(json.dumps(one, indent=4).encode()) - empty
    return (
        f"a record takes about {compact:,} bytes as compact JSON and {pretty:,} pretty-printed: "
        f"send at most {min(MAX_RECORDS, max_body_bytes // compact):,} compact or "
        f"{min(MAX_RECORDS, max_body_bytes // pretty):,} pretty-printed records per request"
    )
