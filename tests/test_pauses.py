"""The pause clock: a gap between a sleeping thread's wakes longer than its tick plus the threshold
counts as time the process was stopped; a real SIGSTOP of a process is measured to within a tick."""

import subprocess
import sys
import time

import pytest

from rdvae.pauses import PauseClock, missed_seconds


def test_only_a_gap_beyond_the_threshold_is_missed_time():
    assert missed_seconds(1.0, tick=1.0, threshold=5.0) == 0.0
    assert missed_seconds(5.9, tick=1.0, threshold=5.0) == 0.0  # a slow wake, not a pause
    assert missed_seconds(61.0, tick=1.0, threshold=5.0) == 60.0


def test_the_clock_adds_the_missed_time_of_each_gap():
    clock = PauseClock(tick=1.0, threshold=5.0)
    for now in (100.0, 101.0, 102.1, 132.1, 133.1, 134.0, 154.0):  # stopped ~29 s, then ~19 s
        clock.observe(now)
    assert clock.paused == pytest.approx(29.0 + 19.0)


CHILD = """
import sys, time
from rdvae.pauses import PauseClock
with PauseClock(tick=0.1, threshold=1.0) as clock:
    print("ready", flush=True)
    sys.stdin.readline()  # the parent stops and continues this process, then writes a line
    time.sleep(0.5)  # the clock's thread wakes from the stop and counts it
print(f"{clock.paused:.3f}", flush=True)
"""


def test_a_stopped_process_measures_its_stop():
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "ready"
    child.send_signal(subprocess.signal.SIGSTOP)
    time.sleep(3.0)
    child.send_signal(subprocess.signal.SIGCONT)
    out, _ = child.communicate("go\n", timeout=30)
    assert child.returncode == 0
    assert 2.7 <= float(out) <= 3.5  # the 3 s stop, less up to one tick, plus scheduling delays
