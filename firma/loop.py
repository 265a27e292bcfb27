"""Running pyHanko's asyncio-based work from synchronous code.

pyHanko's synchronous entry points call :func:`asyncio.run`, which refuses to start when the
calling thread already runs an event loop (an async web server, Playwright's sync API, a
notebook). :func:`outside_event_loop` moves such a call to a short-lived thread of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from functools import wraps
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def outside_event_loop(func: Callable[P, T]) -> Callable[P, T]:
    """Run ``func`` in the calling thread, or in a thread of its own when an event loop runs here."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        if not _loop_running():
            return func(*args, **kwargs)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="firma") as pool:
            return pool.submit(func, *args, **kwargs).result()

    return wrapper


def run(coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``coro_factory()`` to completion from synchronous code.

    A factory rather than a coroutine, so nothing is created (and left un-awaited) in a thread
    that cannot run it.
    """
    return outside_event_loop(lambda: asyncio.run(coro_factory()))()
