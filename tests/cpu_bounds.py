"""Hang guards that bound CPU time, not the wall clock.

A guard against unbounded work (a power tower, an exponential formula, a hostile file)
must fail when backcheck does too much work and must not fail when the machine is busy
with other jobs: on a loaded 2-core machine the wall clock of a 1-second job can be ten
times longer, its CPU time hardly moves. So:

* in this process, :func:`cpu_bound` measures ``time.process_time`` around the block and
  asserts the bound; a CPU profiling timer (``ITIMER_PROF``, which counts this process's
  CPU seconds only) interrupts a real hang after a multiple of the bound, so the test fails
  instead of running forever;
* in a child process, :func:`run_bounded` sets ``RLIMIT_CPU`` in the child (the kernel
  stops it with SIGXCPU after that many CPU seconds), measures the CPU it used from
  ``getrusage(RUSAGE_CHILDREN)``, and asserts the bound; the wall-clock timeout is only a
  last resort for a child that sleeps forever, and is generous.
"""

from __future__ import annotations

import contextlib
import math
import resource
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

#: a child that sleeps rather than computes is stopped after this many wall seconds at least
WALL_FLOOR = 300


class CpuHang(BaseException):
    """Raised in this process when a block used far more CPU than its bound (a
    BaseException, so no ``except Exception`` in the code under test swallows it)."""


@contextlib.contextmanager
def cpu_bound(seconds: float, *, hang_factor: float = 4.0) -> Iterator[None]:
    """Assert the block uses under ``seconds`` of this process's CPU time; interrupt it
    after ``hang_factor`` times that (plus 5 s)."""
    def stop(signum: int, frame: Any) -> None:
        raise CpuHang(f"still running after {limit:.0f} s of CPU (bound {seconds} s)")

    limit = seconds * hang_factor + 5
    previous = signal.signal(signal.SIGPROF, stop)
    signal.setitimer(signal.ITIMER_PROF, limit)
    start = time.process_time()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
    used = time.process_time() - start
    assert used < seconds, f"took {used:.2f} s of CPU (bound {seconds} s)"


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_bounded(args: list[str], *, cpu_seconds: float, **kwargs: Any
                ) -> subprocess.CompletedProcess:
    """``subprocess.run(args, **kwargs)`` in a child that the kernel stops after
    ``cpu_seconds`` of CPU (rounded up, plus one); asserts it used less than
    ``cpu_seconds``. A fresh interpreter's imports count too: give bounds with room."""
    limit = math.ceil(cpu_seconds) + 1

    def limit_cpu() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 2))

    kwargs.setdefault("timeout", max(WALL_FLOOR, 20 * limit))
    before = children_cpu()
    completed = subprocess.run(args, preexec_fn=limit_cpu, **kwargs)
    used = children_cpu() - before
    assert completed.returncode not in (-signal.SIGXCPU, -signal.SIGKILL), (
        f"stopped after {limit} s of CPU (bound {cpu_seconds} s): a hang or unbounded work")
    assert used < cpu_seconds, f"took {used:.2f} s of CPU (bound {cpu_seconds} s)"
    return completed
