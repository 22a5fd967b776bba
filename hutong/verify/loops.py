"""A coroutine run to completion on the calling thread's own event loop, kept for the thread's next call.

Why: pyHanko's synchronous entry points (``validate_pdf_signature``, ``validate_pdf_timestamp``,
``PdfSigner.sign_pdf``) wrap their coroutine in ``asyncio.run``, which makes an event loop for the one call and
tears it down after it (a selector and its self-pipe made, async generators and the default executor shut down, the
loop closed). Kept instead, a VerifyPdf's CPU on the service's own path went from 5.3 to 5.0 ms and a B-B seal's
from 5.4 to 5.1 ms (``python -m bench.cpu_seal``; cProfile had put the loop's cost at 0.8 ms). The node calls the
coroutines (``async_validate_pdf_signature``, ``PdfSigner.async_sign_pdf``) through ``run`` instead; a server thread
serves call after call, and its loop serves them all.

What ``asyncio.run`` also did and this does not: it cancelled tasks a call left behind, between calls. The
coroutines run here leave none, and they open no network session to release (the node's validation contexts
never fetch: ``allow_fetching=False``; its timestamps come from its own TSA key in the HSM). Like
``asyncio.run``, ``run`` refuses to start inside a running event loop (the HTTP edge's handlers run it in their
thread pool, not on the edge's loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _Runner:
    """This thread's runner; its loop is closed when the thread ends (its thread-local storage is cleared)."""

    def __init__(self) -> None:
        self.runner = asyncio.Runner()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # the interpreter may be shutting down
            self.runner.close()


class _ThisThread(threading.local):
    runner: _Runner | None = None


_THIS_THREAD = _ThisThread()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``coro``'s result (or its exception), run on this thread's event loop."""
    held = _THIS_THREAD.runner
    if held is None:
        held = _THIS_THREAD.runner = _Runner()
    return held.runner.run(coro)
