"""Work spread over a Dask distributed cluster: the split Monte Carlo of validation, and symctl's campaigns.

`Engine(workers, address)` is a client of a cluster. With `address` (``tcp://host:8786``, or the path
of the JSON file `dask scheduler --scheduler-file FILE` writes) it joins a running cluster, started
with Dask's own commands (`dask scheduler`, `dask worker ADDRESS --nthreads 1` on each machine);
without it, it starts a local cluster on this machine: `workers` processes (default: one per core),
one thread each, stopped when the engine closes. `engine.map(fn, items)` runs `fn(item)` on the
workers and returns the results in the order of `items`; an exception raised by a task is raised
here.

Each task starts with `pin_jax()`: before JAX's backend starts in the worker process, XLA is limited
to one thread per worker (unless the worker's environment sets `XLA_FLAGS` itself), so a worker uses
one core and N workers on N cores run N tasks side by side. `JAX_PLATFORMS` and the device
visibility (`CUDA_VISIBLE_DEVICES`) are the worker's environment's: start GPU workers with their
devices assigned, one worker per device.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from plants import UserInputError

# What a worker's XLA runs on unless its environment says otherwise: one thread.
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
CONNECT_TIMEOUT = 20  # seconds to reach a running cluster's scheduler


class ClusterError(UserInputError):
    """The cluster cannot be reached or started; the message names the address or the count."""


def pin_jax(x64: bool | None = None) -> None:
    """Prepare the worker's JAX for a task: one XLA thread (before the backend starts; the worker's
    own `XLA_FLAGS` win), and float64 when `x64` is true (False: float32; None: unchanged)."""
    env = worker_environment()
    if "XLA_FLAGS" in env:
        os.environ["XLA_FLAGS"] = env.pop("XLA_FLAGS")
    for var, value in env.items():
        os.environ.setdefault(var, value)
    if x64 is not None:
        import jax

        jax.config.update("jax_enable_x64", bool(x64))


def worker_environment() -> dict[str, str]:
    """The environment of a local cluster's worker processes: one thread for XLA and BLAS."""
    flags = os.environ.get("XLA_FLAGS", "")
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if "intra_op_parallelism_threads" not in flags and "xla_cpu_multi_thread_eigen" not in flags:
        env["XLA_FLAGS"] = f"{flags} {SINGLE_THREAD_XLA}".strip()
    return env


def _import_distributed():
    try:
        import distributed
    except ImportError:  # pragma: no cover - dev installs it
        raise ClusterError(
            "running on workers needs Dask distributed: pip install 'symctl[cluster]' (or dask[distributed])"
        ) from None
    return distributed


class Engine:
    """A client of a Dask cluster: a running one at `address`, or a local one of `workers` processes
    started here. Use as a context manager (or call `close`)."""

    def __init__(self, workers: int | None = None, address: str | None = None):
        if workers is not None and workers < 1:
            raise ClusterError(f"--workers {workers}: give 1 or more worker processes")
        distributed = _import_distributed()
        import logging

        for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.worker", "distributed.core"):
            logging.getLogger(name).setLevel(logging.ERROR)
        self.address = address
        self.cluster = None
        if address:
            kwargs = _connect_arguments(address)
            try:
                self.client = distributed.Client(**kwargs, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as err:
                raise ClusterError(
                    f"--address {address!r}: no Dask scheduler answered within {CONNECT_TIMEOUT} s ({err}); "
                    "start one with `dask scheduler`, or leave --address out for a local cluster"
                ) from None
            self.workers = workers or max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))
        else:
            from synth._parallel import cores

            n = workers or cores()
            self.cluster = distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=40,
                env=worker_environment(),
            )
            self.client = distributed.Client(self.cluster)
            self.workers = n

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], on_result: Callable[[int, Any], None] | None = None) -> list:
        """`[fn(item) for item in items]`, run on the workers; `on_result(index, result)` is called
        as each finishes (in the order they finish)."""
        distributed = _import_distributed()
        items = list(items)
        futures = self.client.map(fn, items, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        results: list = [None] * len(items)
        for future in distributed.as_completed(futures):
            i = index[future.key]
            results[i] = future.result()
            if on_result is not None:
                on_result(i, results[i])
        return results

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_SHARED: dict[tuple, Engine] = {}


def shared_engine(workers: int | None = None, address: str | None = None) -> Engine:
    """An engine kept for the rest of the process (closed when it exits), one per `(workers,
    address)`: the stages of a validation, and validations after it, use one cluster instead of
    starting a local one each time."""
    key = (workers, address)
    engine = _SHARED.get(key)
    if engine is None:
        import atexit

        engine = _SHARED[key] = Engine(workers, address)
        atexit.register(engine.close)
    return engine


def _connect_arguments(address: str) -> dict[str, str]:
    """`distributed.Client`'s arguments for an address or a scheduler file."""
    if "://" in address:
        return {"address": address}
    path = Path(address)
    if path.is_file():
        return {"scheduler_file": str(path)}
    raise ClusterError(
        f"--address {address!r}: give a scheduler address (tcp://host:8786) or the scheduler file "
        "of `dask scheduler --scheduler-file FILE`"
    )
