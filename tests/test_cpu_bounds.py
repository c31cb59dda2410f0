"""The hang guards themselves (tests/cpu_bounds.py): a real hang fails, in this process
and in a child, and a child that waits without computing is not charged for it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_bounds import CpuHang, cpu_bound, run_bounded  # noqa: E402


def test_a_busy_loop_in_this_process_is_interrupted() -> None:
    with pytest.raises(CpuHang), cpu_bound(0.1, hang_factor=1):
        while True:
            pass


def test_work_over_the_bound_fails_and_work_under_it_passes() -> None:
    import time

    with pytest.raises(AssertionError, match="of CPU"), cpu_bound(0.05, hang_factor=100):
        start = time.process_time()
        while time.process_time() - start < 0.2:  # past the bound, before the interrupt
            pass
    with cpu_bound(1):
        sum(range(1000))


def test_a_child_that_never_stops_is_stopped_by_its_cpu_limit() -> None:
    with pytest.raises(AssertionError, match="stopped after 2 s of CPU"):
        run_bounded([sys.executable, "-c", "while True: pass"], cpu_seconds=1)


def test_a_child_that_sleeps_uses_no_cpu_bound() -> None:
    """Waiting (as a loaded machine makes a process wait) is not charged as work."""
    result = run_bounded([sys.executable, "-c", "import time; time.sleep(1.5); print('ok')"],
                         cpu_seconds=1, capture_output=True, text=True)
    assert result.stdout == "ok\n"
