"""Scoring off the event loop: one dedicated thread, concurrent requests scored together.

Scoring is CPU-bound. One thread (rather than the default pool of 40) keeps GIL hand-offs to one
per batch; requests that arrive while a batch is scored wait in a queue and are scored as the next
batch in one call (per model), so a burst of single-household requests costs one hop, not many.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

BATCH_RECORDS = 256
"""Requests are merged until a batch holds this many records (a larger request goes alone)."""


def _serial_kernels() -> None:
    """The scoring thread explains on itself alone: numba's parallel pool (OpenMP workers that
    spin after each parallel region) would take the cores the event loop needs."""
    import numba

    numba.set_num_threads(1)


@dataclass
class _Job:
    context: tuple
    columns: dict[str, Sequence]
    n: int
    done: asyncio.Future


class Scorer:
    """`await scorer.score(columns, context)` gives `fn(columns, *context)`, computed in the
    thread; requests are merged when their context (the models in service) is the same object."""

    def __init__(self, fn: Callable[..., list[dict]]):
        self.fn = fn
        self._pending: list[_Job] = []
        self._draining = False
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(
            1, thread_name_prefix="riskmodel-score", initializer=_serial_kernels
        )
        self.batches = 0
        """Calls of `fn` so far (tests read it to see requests scored together)."""

    async def score(self, columns: dict[str, Sequence], context: tuple) -> list[dict]:
        loop = asyncio.get_running_loop()
        n = len(next(iter(columns.values())))
        job = _Job(context, columns, n, loop.create_future())
        self._pending.append(job)
        if not self._draining:
            self._draining = True
            self._task = loop.create_task(self._drain())  # referenced: not collected mid-run
        return await job.done

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, rest, size = [], [], 0
                context = self._pending[0].context
                for job in self._pending:
                    if job.context is context and (not batch or size + job.n <= BATCH_RECORDS):
                        batch.append(job)
                        size += job.n
                    else:
                        rest.append(job)
                self._pending = rest
                merged = {k: [v for j in batch for v in j.columns[k]] for k in batch[0].columns}
                try:
                    results = await loop.run_in_executor(self._executor, self.fn, merged, *context)
                except Exception as exc:  # every request of the batch gets the error
                    for job in batch:
                        if not job.done.done():
                            job.done.set_exception(exc)
                    continue
                finally:
                    self.batches += 1
                start = 0
                for job in batch:
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
