"""Scoring off the event loop: one dedicated thread, concurrent requests scored together; what
the API answers for a record (`score_columns`), and the warm-up that exercises it.

Scoring is CPU-bound. One thread (rather than the default pool of 40) keeps GIL hand-offs to one
per batch; requests that arrive while a batch is scored wait in a queue and are scored as the next
batch in one call (per model), so a burst of single-household requests costs one hop, not many.
The record checks run there too, once per batch: on numpy columns they cost about as much for
eight records as for one.

Under a steady load of concurrent single-record requests, batches would alternate between two
halves of the clients (one half scored while the other's requests are read); a batch therefore
waits a moment (`LINGER_S`) for as many requests as were in flight during the batch before. A
lone client never waits: at most one request was in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from riskmodel.api.schemas import EXAMPLE_RECORD, criteria_list, interval_of, unusual_item
from riskmodel.criteria import CRITERIA, LINE
from riskmodel.labels import MAIN_LABEL
from riskmodel.model import RelapseModel
from riskmodel.records import as_arrays
from riskmodel.score import assess

BATCH_RECORDS = 512
"""Requests are merged until a batch holds this many records (a larger request goes alone).
Each batch has a fixed cost (about 1 ms: the checks, the criteria, two explanation calls), so
eight 50-record requests scored together cost less than two batches of four: 4.6 against 5.1
ms of CPU a request in process; under wrk at 8 connections 10,750 against 9,380 households/s,
p99 43.6 against 50.1 ms. Single-record requests seldom merge past 32."""

LINGER_S = 0.002
"""The longest a batch waits for the requests it expects (the clients of the batch before, sending
their next requests). Eight connections posting one record each, under wrk: batches of 4.0
records on average without the wait (1, 2 or 3 alternating with 7, 6 or 5), 8.0 with it, and
1,917 against 2,936 requests/s (p99 5.6 against 4.0 ms): the batch's fixed cost is paid half as
often, and the event loop reads requests while it waits."""

Failure = tuple[int, str, str]
"""(row within the request, field, rule)."""


def _serial_kernels() -> None:
    """The scoring thread computes on itself alone: numba's parallel pool (OpenMP workers that
    spin after each parallel region) and OpenBLAS's threads (which spin after each product: a
    50-record request cost 12.2 ms of CPU in 6.9 ms of wall, 6.5 ms with one BLAS thread) would
    take the cores the event loop and the clients need. The BLAS limit is the process's: the
    server does no other linear algebra."""
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(1)
    threadpool_limits(1, user_api="blas")


@dataclass
class Rows:
    """One request's records as tuples of their `names` values (the route's `record_fields`):
    the batch transposes every request's rows at once, where merging columns built per
    request cost more than the checks."""

    names: list[str]
    rows: list[tuple]
    monitor_line: list | None = None
    """Each record's monitoring line when any was sent: checked against, never scored."""

    def __len__(self) -> int:
        return len(self.rows)

    def columns(self, with_line: bool) -> dict[str, list]:
        out = dict(zip(self.names, map(list, zip(*self.rows, strict=True)), strict=True))
        if with_line and self.monitor_line is not None:
            out[LINE] = self.monitor_line
        return out


Columns = dict[str, Sequence] | Rows


@dataclass
class _Job:
    context: tuple
    columns: Columns
    n: int
    done: asyncio.Future
    checked: bool = False
    """Check the records before scoring (False: built by the library, nothing to check)."""


def _merge(parts: list[Columns], with_line: bool = False) -> dict[str, list]:
    """Columns of several requests end to end (with each `Rows`' monitoring line when
    `with_line`); a column one of them lacks is None there."""
    first = parts[0]
    if isinstance(first, Rows) and all(
        isinstance(p, Rows) and p.names is first.names for p in parts
    ):  # one model's fields: the batch's columns in one transposition
        lines = None
        if with_line and any(p.monitor_line is not None for p in parts):
            lines = [v for p in parts for v in (p.monitor_line or [None] * len(p))]
        return Rows(first.names, [r for p in parts for r in p.rows], lines).columns(with_line)
    dicts = [p.columns(with_line) if isinstance(p, Rows) else p for p in parts]
    sizes = [len(p) if isinstance(p, Rows) else len(next(iter(p.values()))) for p in parts]
    names = dict.fromkeys(k for p in dicts for k in p)
    return {
        k: [v for p, n in zip(dicts, sizes, strict=True) for v in p.get(k, [None] * n)]
        for k in names
    }


class Scorer:
    """`await scorer.score(columns, context)` gives `fn(columns, *context)`, computed in the
    thread; requests are merged when their context (the models in service) is the same object.
    With `checked`, `check(columns)` runs first on the batch's checked columns, and a request
    with failures gets `refuse(its failures)` raised instead of scores (the others are scored).
    `on_batch(records)` is told the size of every batch (the service's metrics)."""

    def __init__(
        self,
        fn: Callable[..., list[dict]],
        check: Callable[[dict[str, Sequence]], list[Failure]] | None = None,
        refuse: Callable[[list[Failure]], Exception] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ):
        self.fn, self.check, self.refuse, self.on_batch = fn, check, refuse, on_batch
        self._pending: list[_Job] = []
        self._draining = False
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(
            1, thread_name_prefix="riskmodel-score", initializer=_serial_kernels
        )
        self.batches = 0
        """Calls of `fn` so far (tests read it to see requests scored together)."""
        self.waits = 0
        """Batches that waited for more requests (tests read it)."""
        self._pending_n = 0
        """Records of the pending requests."""
        self._in_flight = 0
        """Requests submitted and not yet answered."""
        self._peak = 0
        """The most requests in flight since the last batch was formed: what the next waits
        for."""
        self._arrived: asyncio.Future | None = None

    async def score(self, columns: Columns, context: tuple, checked: bool = False) -> list[dict]:
        loop = asyncio.get_running_loop()
        n = len(columns) if isinstance(columns, Rows) else len(next(iter(columns.values())))
        job = _Job(context, columns, n, loop.create_future(), checked)
        self._pending.append(job)
        self._pending_n += n
        self._in_flight += 1
        self._peak = max(self._peak, self._in_flight)
        if self._arrived is not None:
            _wake(self._arrived)
        if not self._draining:
            self._draining = True
            self._task = loop.create_task(self._drain())  # referenced: not collected mid-run
        try:
            return await job.done
        finally:
            self._in_flight -= 1

    async def _gather(self) -> None:
        """Wait, at most `LINGER_S`, until as many requests are pending as were in flight since
        the last batch was formed, or a batch's worth of records."""
        expected, self._peak = self._peak, self._in_flight
        loop = asyncio.get_running_loop()
        deadline, waited = loop.time() + LINGER_S, False
        while len(self._pending) < expected and self._pending_n < BATCH_RECORDS:
            left = deadline - loop.time()
            if left <= 0:
                return
            if not waited:
                self.waits, waited = self.waits + 1, True
            self._arrived = arrived = loop.create_future()  # `score` wakes it
            timer = loop.call_later(left, _wake, arrived)
            try:
                await arrived
            finally:
                timer.cancel()
                self._arrived = None

    def _run(self, batch: list[_Job], context: tuple) -> tuple[dict[int, list[Failure]], list]:
        """In the thread: check the batch's records, score those of requests that passed."""
        refused: dict[int, list[Failure]] = {}
        to_check = [j for j in batch if j.checked]
        arrays, line = None, False
        if to_check and self.check is not None:
            starts, start = [], 0
            for job in to_check:
                starts.append(start)
                start += job.n
            merged = _merge([j.columns for j in to_check], with_line=True)
            line = LINE in merged
            arrays = as_arrays(merged)
            failures = self.check(arrays)
            for row, field, rule in failures:
                k = max(i for i, s in enumerate(starts) if s <= row)
                refused.setdefault(id(to_check[k]), []).append((row - starts[k], field, rule))
        passed = [j for j in batch if id(j) not in refused]
        results = []
        if passed:
            # the checked columns are the scored ones when every request was checked and none
            # refused (less the monitoring line, which is never scored): converted once
            if arrays is None or refused or len(to_check) < len(batch):
                arrays = as_arrays(_merge([j.columns for j in passed]))
            elif line:
                arrays = {k: v for k, v in arrays.items() if k != LINE}
            results = self.fn(arrays, *context)
        return refused, results

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                await self._gather()
                batch, rest, size = [], [], 0
                context = self._pending[0].context
                for job in self._pending:
                    if job.context is context and (not batch or size + job.n <= BATCH_RECORDS):
                        batch.append(job)
                        size += job.n
                    else:
                        rest.append(job)
                self._pending = rest
                self._pending_n -= size
                try:
                    refused, results = await loop.run_in_executor(
                        self._executor, self._run, batch, context
                    )
                except Exception as exc:  # every request of the batch gets the error
                    for job in batch:
                        if not job.done.done():
                            job.done.set_exception(exc)
                    continue
                finally:
                    self.batches += 1
                    if self.on_batch is not None:
                        self.on_batch(size)
                start = 0
                for job in batch:
                    if id(job) in refused:
                        if not job.done.done():
                            job.done.set_exception(self.refuse(refused[id(job)]))
                        continue
                    if not job.done.done():
                        job.done.set_result(results[start : start + job.n])
                    start += job.n
        finally:
            self._draining = False

    async def call(self, fn: Callable, *args):
        """Run other CPU-bound work (building records from facts) on the same thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _wake(arrived: asyncio.Future) -> None:
    if not arrived.done():
        arrived.set_result(None)


def score_columns(
    columns: dict[str, Sequence], models: Mapping[str, RelapseModel], versions: Mapping[str, str]
) -> list[dict]:
    """Status, criteria met, the population's probability and tier, rule flags, reasons and
    protective factors for records given column-wise."""
    a = assess(columns, models)
    items = a.explanations.items()
    # numpy columns as lists once: indexing an array per record and field costs more than the
    # record's own answer
    met = [(k, a.criteria[k].tolist()) for k in CRITERIA if k in a.criteria]
    flags = [(k, v.tolist()) for k, v in a.flags.items()]
    status, label_, tier = a.status.tolist(), a.label.tolist(), a.tier.tolist()
    prob, low, high = (
        a.probability.tolist(),
        a.probability_low.tolist(),
        a.probability_high.tolist(),
    )
    unusual = a.unusual.tolist()
    hh, year = columns["hh_id"], columns["year"]
    village, township = columns["village_id"], columns["township_id"]
    out = []
    for i, item in enumerate(items):
        label = label_[i]
        out.append(
            {
                "hh_id": hh[i],
                "year": int(year[i]),
                "village_id": village[i],
                "township_id": township[i],
                "status": status[i],
                "label": label,
                "probability": None if label is None else prob[i],
                "tier": None if label is None else tier[i],
                "probability_interval": interval_of(low[i], high[i]),
                "criteria": criteria_list(",".join(k for k, v in met if v[i])),
                "rule_flags": {k: bool(v[i]) for k, v in flags},
                "reasons": item["reasons"],
                "protective": item["protective"],
                "dimensions": item["dimensions"],
                "unusual": unusual_item(unusual[i], a.unusual_zh[i], a.unusual_en[i]),
                "model_version": versions[label or MAIN_LABEL],
            }
        )
    return out


def warm_up(model: RelapseModel) -> None:
    """Exercise the whole scoring path (single rows and batches) before serving, on a record of
    the population the model serves."""
    label = model.meta.label
    record = {**EXAMPLE_RECORD, **WARM_RECORD, "is_monitored": label != MAIN_LABEL}
    for n in (1, 300):
        cols = {k: [v] * n for k, v in record.items()}
        scored = score_columns(cols, {label: model}, {label: ""})
        if not all(s["label"] == label and np.isfinite(s["probability"]) for s in scored):
            raise ValueError("warm-up produced no finite probability")


WARM_RECORD = {"income_to_line": 1.6, "oop_medical": 2000.0, "oop_to_income": 0.06}
"""Changes to the example record so that it meets no criterion (the example itself does)."""
