"""Independent JAX jobs of one run, several at a time.

A GP run tunes many small policies, each its own compiled program (generation 0's seeds, the
in-loop tuning, the final polish). One such program keeps about one core busy, and compiling it
keeps one core busy too, so on a machine with several cores they run side by side in threads (JAX
releases the interpreter lock while it compiles and runs). Each job is deterministic and the
results come back in the order of the jobs, so a run gives the same numbers as one job after the
other.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TypeVar

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
