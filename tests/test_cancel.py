"""raise_if_cancelled: a cancellation that a library swallowed still ends the loop."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from lanprobe.cancel import raise_if_cancelled


async def test_a_swallowed_cancellation_ends_the_loop_at_its_next_step() -> None:
    steps: list[int] = []

    async def campaign() -> None:
        for i in range(3):
            # What 3.11's wait_for does when the call finishes just as the cancel arrives.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(10 if i == 0 else 0)
            steps.append(i)
            raise_if_cancelled()

    task = asyncio.create_task(campaign())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps == [0]  # without the check all three steps ran


async def test_nothing_is_raised_without_a_cancellation() -> None:
    async def step() -> str:
        await asyncio.sleep(0)
        raise_if_cancelled()
        return "done"

    assert await asyncio.create_task(step()) == "done"
    raise_if_cancelled()  # the test's own task was never cancelled
