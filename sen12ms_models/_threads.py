"""One worker thread feeding a bounded queue: prefetching iterators and calls with a deadline.

``prefetch`` runs a generator ahead of its consumer (scene mapping reads windows while the
model runs); ``call_within`` waits for one call no longer than a deadline (a download that
stalls). Both hand the worker's exception to the caller, where it is raised.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TypeVar, cast

T = TypeVar("T")


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_END = object()


class DeadlineExceeded(Exception):
    """``call_within`` gave up waiting."""


def _start(
    produce: Callable[[], Generator[T, None, None]], depth: int, name: str
) -> tuple[queue.Queue[object], threading.Event, threading.Thread]:
    """Start a daemon thread putting ``produce()``'s items, then an end marker, into a queue."""
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            with contextlib.closing(produce()) as iterator:
                for item in iterator:
                    if not put(item):
                        return
        except BaseException as error:  # handed to the consumer, which raises it
            put(_Failed(error))
            return
        put(_END)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return items, stop, thread


def _unwrap(item: object) -> object:
    if isinstance(item, _Failed):
        raise item.error
    return item


def prefetch(
    produce: Callable[[], Generator[T, None, None]], depth: int = 2, name: str = "sen12ms-prefetch"
) -> Generator[T, None, None]:
    """Yield ``produce()``'s items, computed in a thread up to ``depth`` items ahead.

    When the consumer stops early (an error, ``close()``), the thread is told to stop and
    joined, so no reader outlives the loop.
    """
    items, stop, thread = _start(produce, depth, name)
    try:
        while (item := items.get()) is not _END:
            yield cast(T, _unwrap(item))
    finally:
        stop.set()
        thread.join()


def call_within(seconds: float, call: Callable[[], T], name: str = "sen12ms-call") -> T:
    """Return ``call()``, run in a daemon thread, or raise ``DeadlineExceeded`` after ``seconds``.

    Python cannot cancel a thread: an abandoned call goes on in the background until it ends
    by itself; its result is dropped.
    """

    def produce() -> Generator[T, None, None]:
        yield call()

    items, stop, _ = _start(produce, 1, name)
    try:
        item = items.get(timeout=seconds)
    except queue.Empty:
        raise DeadlineExceeded from None
    finally:
        stop.set()
    return cast(T, _unwrap(item))
