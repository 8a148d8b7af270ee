"""The admission gate: at most N running, at most Q waiting in arrival order, the rest refused."""

from __future__ import annotations

import asyncio

import pytest

from recalld.server.api.admission import Busy, Gate


async def test_runs_up_to_the_limit_then_queues_in_arrival_order_then_refuses() -> None:
    gate = Gate(running=2, queued=2)
    await gate.acquire()
    await gate.acquire()
    assert gate.running == 2
    order: list[int] = []

    async def waiter(i: int) -> None:
        await gate.acquire()
        order.append(i)

    tasks = [asyncio.create_task(waiter(i)) for i in (1, 2)]
    await asyncio.sleep(0)
    assert gate.queued == 2
    with pytest.raises(Busy):
        await gate.acquire()  # two running, two waiting: a fifth is refused at once
    gate.release()
    await asyncio.sleep(0)
    assert order == [1]
    gate.release()
    await asyncio.gather(*tasks)
    assert order == [1, 2]
    assert (gate.running, gate.queued) == (2, 0)
    gate.release()
    gate.release()
    assert gate.running == 0


async def test_a_newcomer_does_not_overtake_the_waiting_line() -> None:
    gate = Gate(running=1, queued=4)
    await gate.acquire()
    first = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    gate.release()  # the slot goes to the waiting call, not to whoever asks next
    late = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    assert first.done() and not late.done()
    gate.release()
    await late
    gate.release()
    assert gate.running == 0


async def test_a_cancelled_waiter_leaves_the_line_and_a_handed_slot_is_passed_on() -> None:
    gate = Gate(running=1, queued=4)
    await gate.acquire()
    a = asyncio.create_task(gate.acquire())
    b = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    a.cancel()  # gives up while waiting: the line shrinks
    await asyncio.sleep(0)
    assert gate.queued == 1
    gate.release()
    await b
    c = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    gate.release()  # hands the slot to c ...
    c.cancel()  # ... which is cancelled before it runs: the slot must not leak
    with pytest.raises(asyncio.CancelledError):
        await c
    assert (gate.running, gate.queued) == (0, 0)
    await asyncio.wait_for(gate.acquire(), 1)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        Gate(running=0, queued=1)
    with pytest.raises(ValueError):
        Gate(running=1, queued=-1)
