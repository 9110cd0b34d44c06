"""Independent JAX jobs of one run, several at a time, and the caches of compiled programs they share.

A GP run tunes many small policies, each its own compiled program (generation 0's seeds, the
in-loop tuning, the final polish). One such program keeps about one core busy, and compiling it
keeps one core busy too, so on a machine with several cores they run side by side in threads (JAX
releases the interpreter lock while it compiles and runs). Each job is deterministic and the
results come back in the order of the jobs, so a run gives the same numbers as one job after the
other.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def map_jobs(fn: Callable[[T], R], jobs: Iterable[T], workers: int | None = None) -> list[R]:
    """`[fn(job) for job in jobs]`, `workers` (default: one per core) at a time."""
    jobs = list(jobs)
    n = min(len(jobs), workers or cores())
    if n <= 1:
        return [fn(job) for job in jobs]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(fn, jobs))


# Held while a job compiles a program: jobs run side by side, but compile one at a time, so the
# memory of a run stays that of one compilation.
COMPILING = threading.Lock()


class KeptCache:
    """The `size` entries used last (compiled programs: each holds memory), safe to use from the
    threads of `map_jobs`."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The entry of `key` (now the most recently used), or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> Any:
        """Keep `value` for `key` unless another thread kept one first; returns the kept one."""
        with self._lock:
            value = self._items.setdefault(key, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
