"""A wall-time limit on a SimPy run that costs nothing per event: one watchdog thread per process.

``with time_limit(env, seconds): env.run()`` raises :class:`RunTimeout` once *seconds* of wall time have passed.
The watchdog thread, when a deadline passes, replaces the environment's ``step`` with one that raises; the run
loop (``while True: self.step()``) looks the method up on every event, so the run stops at its next event, in
whatever thread it runs.  A run that ends past its deadline before the watchdog woke raises too, on leaving the
block: a run past its limit is a failed run either way.

Before, the limit wrapped ``step`` in a closure that counted events and read the clock every 256 of them: a
Python call per event, 1-4 % of a flagship run.  Arming and disarming here is a lock and a dict entry.  The
thread is started on first use, again in a forked child (``os.register_at_fork``: a fork copies no thread and
may copy a held lock), and is a daemon: it never keeps a process alive.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class RunTimeout(Exception):
    """A run went past its wall-time limit; it is recorded as failed with this message."""


def _message(seconds: float, env: Any) -> str:
    return f"stopped after {seconds:g} s of wall time, the per-run limit (at simulated day {env.now:.0f})"


class _Watchdog:
    """Deadlines of the runs in progress in this process, and the thread that enforces them."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: dict[int, tuple[float, Any, float]] = {}  # token -> (deadline, env, seconds)
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None
        self._sleeping_until = math.inf  # when the thread next wakes by itself

    def arm(self, env: Any, seconds: float) -> int:
        deadline = time.monotonic() + seconds
        with self._cond:
            token = next(self._tokens)
            earlier = all(deadline < d for d, _e, _s in self._armed.values())
            self._armed[token] = (deadline, env, seconds)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="exportsim-run-watchdog", daemon=True)
                self._thread.start()
            elif earlier and self._sleeping_until > deadline:
                self._cond.notify()  # the thread sleeps past this deadline: wake it to sleep until this one
        return token

    def disarm(self, token: int) -> None:
        with self._cond:
            self._armed.pop(token, None)  # the thread finds out when it next wakes

    def _watch(self) -> None:
        with self._cond:
            while True:
                if not self._armed:
                    self._sleeping_until = math.inf
                    self._cond.wait()
                    continue
                token, (deadline, env, seconds) = min(self._armed.items(), key=lambda kv: kv[1][0])
                delay = deadline - time.monotonic()
                if delay > 0:
                    self._sleeping_until = deadline
                    self._cond.wait(min(delay, threading.TIMEOUT_MAX))
                    continue
                del self._armed[token]
                try:
                    env.step = _raiser(seconds, env)  # the run loop's next self.step() raises
                except Exception:  # noqa: BLE001 - an object whose step cannot be set must not end the watch
                    continue  # (its run is still failed on leaving its block)


def _raiser(seconds: float, env: Any):
    def step() -> None:
        raise RunTimeout(_message(seconds, env))

    return step


_WATCHDOG = _Watchdog()


def _fresh_after_fork() -> None:
    global _WATCHDOG
    _WATCHDOG = _Watchdog()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_after_fork)


@contextmanager
def time_limit(env: Any, seconds: float | None) -> Iterator[None]:
    """Raise :class:`RunTimeout` from the SimPy environment *env*'s run inside the block once *seconds* of wall time
    have passed (``None`` or infinity: no limit)."""
    if seconds is not None and math.isnan(seconds):
        raise ValueError("a run's time limit must be a number of seconds, not NaN")
    if seconds is None or seconds == math.inf:
        yield
        return
    start = time.monotonic()
    token = _WATCHDOG.arm(env, seconds)
    try:
        yield
    finally:
        _WATCHDOG.disarm(token)
    if time.monotonic() - start > seconds:  # ended past its limit before the watchdog stopped it
        raise RunTimeout(_message(seconds, env))


__all__ = ["RunTimeout", "time_limit"]
