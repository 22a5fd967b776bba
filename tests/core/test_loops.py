"""``hutong.verify.loops.run``: pyHanko's coroutines on the calling thread's own event loop, kept between calls
(instead of an event loop made and torn down by ``asyncio.run`` for every validation and every seal)."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest

from hutong.verify import loops


async def _loop_and(value: int) -> tuple[asyncio.AbstractEventLoop, int]:
    await asyncio.sleep(0)
    return asyncio.get_running_loop(), value * 2


def _in_thread() -> asyncio.AbstractEventLoop:
    found: list[asyncio.AbstractEventLoop] = []
    thread = threading.Thread(target=lambda: found.append(loops.run(_loop_and(1))[0]))
    thread.start()
    thread.join()
    return found[0]


def test_a_thread_keeps_its_loop_between_calls_and_gets_results_and_errors() -> None:
    first, doubled = loops.run(_loop_and(21))
    second, _ = loops.run(_loop_and(1))
    assert doubled == 42
    assert first is second and not first.is_closed()  # one loop for the thread's calls

    async def fails() -> None:
        raise ValueError("the coroutine's own error")

    with pytest.raises(ValueError, match="the coroutine's own error"):
        loops.run(fails())
    assert loops.run(_loop_and(2))[0] is first  # an error does not cost the thread its loop


def test_each_thread_has_its_own_loop_closed_when_the_thread_ends() -> None:
    other = _in_thread()
    assert other is not loops.run(_loop_and(1))[0]
    gc.collect()
    assert other.is_closed()


def test_it_refuses_to_run_inside_a_running_loop_as_asyncio_run_does() -> None:
    async def nested() -> None:
        coro = _loop_and(1)
        try:
            with pytest.raises(RuntimeError):
                loops.run(coro)
        finally:
            coro.close()

    asyncio.run(nested())
