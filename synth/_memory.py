"""Giving memory back to the operating system after a compilation-heavy phase.

Compiling a JAX program allocates a few hundred megabytes for a moment, on XLA's compiler threads.
glibc keeps what those threads freed in per-thread arenas instead of returning it, so a process that
compiles many programs (a GP run tunes dozens of policy shapes) holds its highest transient
allocations for good: a paper-budget GP run went from 750 MB during evolution to 1,075 MB after
the final polish, of which about a third was free memory still held (bench/gp_RESULTS.md, session 8).
`release()` asks glibc to return it; elsewhere (no glibc) it only collects garbage.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release() -> None:
    """Collect garbage, then return the free memory of every malloc arena to the system (glibc)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
