"""Where sweep points run: local worker processes, or a Dask cluster, behind one Executor.

Both are ``concurrent.futures.Executor``s, so the sweep and the walk-forward submit work and
collect results with the same code whichever is used:

- no scheduler: a ``ProcessPoolExecutor`` with ``workers`` processes (default: every core).
  Processes are *spawned*, not forked: Nautilus starts native threads on import, and forking a
  process that holds them can deadlock.
- ``scheduler="tcp://HOST:PORT"``: a ``distributed.Client`` to a running Dask scheduler, and its
  ``get_executor()``. Its workers must be able to import ``quant_scalper`` (the same package
  version) and read the catalog at the same path.

Each submitted call is one backtest, so the per-task overhead of either executor is noise.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

from quant_scalper.research.errors import SchedulerError

DEFAULT_CONNECT_TIMEOUT_S = 20.0


def default_workers() -> int:
    """Worker processes for a local sweep: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def open_executor(
    scheduler: str | None = None,
    workers: int | None = None,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
) -> Iterator[Executor]:
    """An Executor for backtest points: local processes, or Dask when ``scheduler`` is given.

    On exit pending work is cancelled and the processes (or the Dask client) are shut down.
    """
    if scheduler is None:
        pool = ProcessPoolExecutor(
            max_workers=workers or default_workers(),
            mp_context=multiprocessing.get_context("spawn"),
        )
        try:
            yield pool
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return
    client = _dask_client(scheduler, connect_timeout_s)
    try:
        executor = client.get_executor(pure=False)
        try:
            yield executor
        finally:
            executor.shutdown(wait=False)
    finally:
        client.close()


def run_all[T, R](
    executor: Executor,
    fn: Callable[[T], R],
    items: Iterable[T],
) -> Iterator[R]:
    """Submit ``fn(item)`` for every item and yield the results as they finish (any order).

    A dead worker process (or a lost Dask worker) raises ``SchedulerError``; results already
    yielded are the caller's to keep.
    """
    futures: list[Future[R]] = [executor.submit(fn, item) for item in items]
    try:
        for future in as_completed(futures):
            try:
                yield future.result()
            except BrokenProcessPool as exc:
                raise SchedulerError(
                    "a sweep worker process died (out of memory, or killed): finished points "
                    "are saved; run the sweep again to resume"
                ) from exc
    finally:
        for future in futures:
            future.cancel()


def _dask_client(scheduler: str, timeout_s: float) -> Any:
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise SchedulerError(
            "--scheduler needs Dask: pip install -e '.[dask]' (distributed) in this environment"
        ) from exc
    if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        raise SchedulerError(
            f"--scheduler {scheduler!r} is not a Dask address: use tcp://HOST:PORT"
        )
    try:
        return Client(scheduler, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise SchedulerError(
            f"cannot reach the Dask scheduler at {scheduler} within {timeout_s:.0f} s: "
            f"start one with `dask scheduler` and workers with `dask worker {scheduler}`, "
            "or drop --scheduler to run on local cores"
        ) from exc
