"""Time a process spent stopped (``SIGSTOP``, ``kill -STOP``): not running, though its clock ran on.

A run's ``train_seconds`` is meant to say how long its training took. Measured on the wall clock it also
counts the minutes a user paused the trainer to free the cores (for a book build, say), which makes the
run, and every estimate scaled from it, look slower than it is. A stopped process cannot see its pause
begin, but a thread that only sleeps can see it afterwards: it asked to sleep ``tick`` seconds and woke
``gap`` seconds later. A scheduler delays a sleeping thread by milliseconds, so a wake later than
``tick + threshold`` means the process did not run for ``gap - tick`` of it (:func:`missed_seconds`).
A pause shorter than the threshold goes uncounted; a busy machine that starves the thread for longer than
the threshold would be counted as paused, which is why the threshold is seconds, not milliseconds.
"""

from __future__ import annotations

import threading
import time


def missed_seconds(gap: float, tick: float, threshold: float) -> float:
    """The seconds of ``gap`` (between two wakes of a thread that sleeps ``tick``) the process did not
    run: ``gap - tick`` when ``gap > tick + threshold``, else 0."""
    return gap - tick if gap > tick + threshold else 0.0


class PauseClock:
    """Counts the seconds the process was stopped while it was open (a context manager).

    ``paused`` is the total so far. A daemon thread wakes every ``tick`` seconds and adds
    :func:`missed_seconds` of each gap between wakes, read on the monotonic clock, and of the gap
    from its last wake to the clock's closing (a stop that ended just before).
    """

    def __init__(self, tick: float = 1.0, threshold: float = 5.0):
        self.tick, self.threshold = tick, threshold
        self.paused = 0.0
        self._last = None
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="rdvae-pause-clock", daemon=True)

    def observe(self, now: float) -> None:
        """Record a wake at ``now``: the gap since the previous wake adds its missed seconds."""
        if self._last is not None:
            self.paused += missed_seconds(now - self._last, self.tick, self.threshold)
        self._last = now

    def _watch(self) -> None:
        self.observe(time.monotonic())
        while not self._closed.wait(self.tick):
            self.observe(time.monotonic())
        self.observe(time.monotonic())

    def __enter__(self) -> PauseClock:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._closed.set()
        self._thread.join()
