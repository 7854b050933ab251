"""Independent per-position work of the key solvers, spread over the cores: within one pass every block
position is solved from data that pass does not change, so threads return exactly what one loop would (the heavy
calls, numpy's matrix products and scipy's linear assignment, release the GIL). The solvers run their matrix
products on one BLAS thread (:func:`one_blas_thread`), so that a key does not depend on how many cores the machine
has: a multi-threaded BLAS sums in another order (a least-squares fit differs in its last bits between one thread
and two), and near-ties can then go the other way."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

from threadpoolctl import threadpool_limits

from ppbench.errors import InputError

T = TypeVar("T")
R = TypeVar("R")

#: At most this many threads, however many cores: the passes are a few hundred positions long.
MAX_THREADS = 8


def solver_threads() -> int:
    """Threads for per-position work: ``PPBENCH_SOLVER_THREADS`` if set, else the cores this process may use."""
    setting = os.environ.get("PPBENCH_SOLVER_THREADS")
    if setting is not None:
        if not setting.strip().isdigit() or int(setting) < 1:
            raise InputError(f"PPBENCH_SOLVER_THREADS must be a positive whole number, got {setting!r}; unset it to "
                             "use every core")
        return int(setting)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_THREADS, cores))


def one_blas_thread() -> threadpool_limits:
    """A context in which numpy's and scipy's BLAS use one thread: the key solvers' matrix products give the same bits
    on any machine (with the same BLAS build), and per-position threads do not wait on each other's BLAS threads
    (measured: no gain at all from two solver threads without it, 1.5x on 2 cores with it)."""
    return threadpool_limits(limits=1, user_api="blas")


def map_positions(function: Callable[[T], R], items: Iterable[T], gil_bound: bool = False) -> list[R]:
    """``[function(i) for i in items]``, computed on :func:`solver_threads` threads, in order. ``gil_bound``: the work
    is many small numpy calls that hold the GIL, which threads only slow down; it runs in one loop instead."""
    items = list(items)
    threads = 1 if gil_bound else min(solver_threads(), len(items))
    with one_blas_thread():  # the same bits on one thread or many (and workers that do not wait on each other)
        if threads <= 1:
            return [function(i) for i in items]
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(function, items))
