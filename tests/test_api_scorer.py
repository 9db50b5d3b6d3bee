"""The scoring thread's batching: concurrent requests scored together, a lone client never kept
waiting."""

import asyncio
import time

from riskmodel.api import scoring
from riskmodel.api.scoring import Scorer


def _slow_identity(columns, *context):
    time.sleep(0.002)  # a batch's scoring time: requests arrive meanwhile
    return list(columns["hh_id"])


def _steady_load(clients: int, rounds: int) -> tuple[float, list[str], int]:
    """`clients` coroutines each sending `rounds` one-record requests, the next a moment after
    the last is answered (client c after 0.2 c ms: reading, parsing, validating): the mean
    records per batch, the answers, the batches that waited."""
    scorer = Scorer(_slow_identity)
    context = ("models",)
    sizes: list[int] = []
    run = scorer._run

    def counted(batch, ctx):
        sizes.append(sum(j.n for j in batch))
        return run(batch, ctx)

    scorer._run = counted

    async def client(c: int) -> list[str]:
        got = []
        for r in range(rounds):
            await asyncio.sleep(0.0002 * c)
            got += await scorer.score({"hh_id": [f"H{c}-{r}"]}, context)
        return got

    async def main():
        together = asyncio.gather(*(client(c) for c in range(clients)))
        return await asyncio.wait_for(together, 30)  # a wait that never ended fails here

    try:
        answers = asyncio.run(main())
    finally:
        scorer.close()
    steady = sizes[len(sizes) // 4 :]  # past the first cycles
    return sum(steady) / len(steady), [a for got in answers for a in got], scorer.waits


def test_a_steady_load_of_single_records_is_scored_in_full_batches(monkeypatch):
    """Eight clients posting one record each: without the wait, batches alternate between two
    halves of the clients; with it, a batch holds all eight; every answer is the client's own."""
    monkeypatch.setattr(scoring, "LINGER_S", 0.1)  # room for a loaded machine's stalls
    mean, answers, waits = _steady_load(8, 30)
    monkeypatch.setattr(scoring, "LINGER_S", 0.0)
    mean_without, _, _ = _steady_load(8, 30)

    assert mean >= 7.5, mean
    assert mean_without <= 6, mean_without
    assert waits > 0
    assert sorted(answers) == sorted(f"H{c}-{r}" for c in range(8) for r in range(30))


def test_a_lone_client_never_waits():
    """Requests one after another: each is scored alone at once."""
    mean, answers, waits = _steady_load(1, 20)
    assert mean == 1
    assert waits == 0
    assert answers == [f"H0-{r}" for r in range(20)]


def test_the_wait_ends_when_the_expected_records_do_not_come(monkeypatch):
    """Eight clients, then one: the lone survivor's first batch waits for the other seven
    (`LINGER_S`, then it is scored), and no later batch waits (the expectation follows what was
    in flight)."""
    monkeypatch.setattr(scoring, "LINGER_S", 0.05)
    scorer = Scorer(_slow_identity)

    async def main():
        await asyncio.gather(*(scorer.score({"hh_id": [f"H{c}"]}, ("m",)) for c in range(8)))
        waits = scorer.waits
        answers = [await scorer.score({"hh_id": [f"L{r}"]}, ("m",)) for r in range(10)]
        return scorer.waits - waits, answers

    try:
        waited, answers = asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        scorer.close()
    assert waited == 1
    assert answers == [[f"L{r}"] for r in range(10)]


def test_a_lone_client_sending_fewer_records_than_before_does_not_wait(monkeypatch):
    """The expectation counts requests, not records: 50 records, then 10, then one."""
    monkeypatch.setattr(scoring, "LINGER_S", 0.05)
    scorer = Scorer(_slow_identity)

    async def main():
        return [
            await scorer.score({"hh_id": [f"H{size}-{i}" for i in range(size)]}, ("m",))
            for size in (50, 10, 1, 1000, 1)
        ]

    try:
        answers = asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        scorer.close()
    assert scorer.waits == 0
    assert [len(a) for a in answers] == [50, 10, 1, 1000, 1]
