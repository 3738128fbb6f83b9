"""A measured guard: run the dataflow program only while it is faster than the sequential code
(at one BLAS thread, or at every core's where that gives the same bits).

The schedule is a prediction for free cores. On a shared machine the other jobs decide how
much of the second core this process gets, and it changes from minute to minute; Linux
shares the cores between sessions (autogroup), so when they are all busy a second thread
gets this process no more CPU, and two workers that wait for each other only lose. Both
ways of running a bindings give the same bits (one BLAS thread, the same lines on the same
buffers), so the choice can follow the clock. ``Guard`` keeps the last ``window`` times of
each way, runs the one with the smaller median, and now and then probes the other::

    calls 1-12     each way in turn, two calls at a time, the second timed, until both are
                   timed three times (a way whose fastest call took 3x the other's median, once:
                   a way added later is timed once, as a probe)
    then           the fastest; each other way (two calls) after 8 (or as its time allows, below),
                   then after twice as many
                   each time it stays slower (16, 32 ... 2048), but at least every ``every``
                   seconds of calls (``EVERY``, 0.5, as the executor sets it), and never sooner than
                   keeps the probes within ``share`` (2%) of the time: a way 20x slower is timed
                   again after 1900 calls, one 300x slower after 30000; a probe faster than the
                   current way's median switches at once (the other way's older times were of
                   another load)

so a way however much slower costs about 2% at most (a two-thread BLAS with one core busy
with other work is 17-300x slower, measured), and a change of load is seen within 2048 calls,
or ``every`` seconds, of a way not much slower. (Counted in calls alone, that was 4 s of the
step's time on 784-256-256-10 at batch 128: on this host its two BLAS threads ran 1.3 ms, then
for 5-12 s at a time 2.2-2.3 ms, one thread 1.92 ms, and after such a stretch the probes were
2048 calls apart.) ``print(guard)`` shows the medians and the way it runs.

A pinned way (``pin``) runs while its median is within a bound of the others'. After a pause
(``pause``, 0.05 s from one call's end to the next one's start: a training loop's evaluation,
other work), the pinned way, if it was running, runs while at most twice as slow for ``cold``
(0.2) seconds of calls: the host gave the second core away meanwhile. On 784-256-256-10 at
batch 32, after 0.45 s of other work, the first three calls on two BLAS threads took 1.45, 1.22
and 1.24 ms, against 0.55 ms in a run and 0.68 ms on one thread; their median of five left the
pin's 1.3x, one thread ran, and two-call probes of the two threads, on a cold second core, took
1.3-1.4 ms for the next 6 s.
"""
from __future__ import annotations

import math
import time
from collections import deque
from typing import Callable, Dict, Optional, Sequence

COLD = 0.2  # seconds in which a way may be cold (after a pause, or at a turn's start, ``turns.py``)
TWICE = 2.0  # the bound a cold way runs within, and a pin's by default: twice the others' median
EVERY = 0.5  # the executor's guard probes a way not much slower at least every this many seconds of calls


def middle(xs: Sequence[float]) -> float:
    """The median of ``xs`` (the upper one of an even count; inf for none): the guard's statistic."""
    t = sorted(xs)
    return t[len(t) // 2] if t else float("inf")


class Guard:
    """Chooses, call by call, among functions computing the same thing: the fastest, by the clock.

    With more than two ways, each of the others has its own probe interval, and the one waiting
    longest past its interval is probed first. ``drop(way)`` removes a way for good, ``add`` adds
    one; ``on_probe(way)`` hears of each probe after the warm-up (``medians`` then holds its time)."""

    def __init__(self, ways: Dict[str, Callable], window: int = 5, warmup: int = 3, first: int = 8,
                 longest: int = 2048, share: float = 0.02, clock: Callable[[], float] = time.perf_counter,
                 on_probe: Optional[Callable[[str], None]] = None, slow: float = 3.0,
                 pause: float = 0.05, cold: float = COLD, every: Optional[float] = None):
        self.ways, self.clock, self.share, self.every = dict(ways), clock, share, every
        self.on_probe = on_probe  # called with the way of each probe, after the warm-up
        self.times = {w: deque(maxlen=window) for w in ways}
        self.warmup, self.first, self.longest, self.slow = warmup, first, longest, slow
        self.need = {w: warmup for w in ways}  # timed calls of each way before the guard is warm
        self.current = next(iter(ways))
        self.interval = {w: first for w in ways}  # calls of ``current`` between probes of each other way
        self.since = {w: 0 for w in ways}  # calls of ``current`` since each other way was last timed
        self.last, self.timed = None, False  # the previous call's way, and was it timed
        self.calls = {w: 0 for w in ways}
        self.spent = 0.0  # seconds of all its calls: the step's own clock (``turns.py``)
        self.pinned: Optional[str] = None  # runs while at most ``within`` times slower than another (``pin``)
        self.within = TWICE
        self.pause, self.cold = pause, cold  # a pause's length, and the seconds after it within twice
        self.ended: Optional[float] = None  # when the last call returned (the guard's clock)
        self.thawed = -math.inf  # ``spent`` until which the pinned way runs while at most twice as slow
        self.medians = {w: float("inf") for w in ways}  # kept as times are recorded: a call reads them
        self.log: Dict[str, list] = {}  # every timed call of these ways, for as long as a caller wants

    def median(self, way: str) -> float:
        return middle(self.times[way])

    def _record(self, way: str, dt: float, fresh: bool = False) -> None:
        if fresh:
            self.times[way].clear()
        self.times[way].append(dt)
        self.medians[way] = self.median(way)
        if way in self.log:
            self.log[way].append(dt)

    def pin(self, way: Optional[str], within: float = TWICE) -> None:
        """Run ``way`` from now on while its median is at most ``within`` times the others' (None: the
        fastest again), probing the others as before. A way of several cores probed after a long run on
        one core finds the second core taken by the host's other work, and measures that: on
        784-256-256-10 at batch 32, two-call probes of two BLAS threads took 1.4-1.6 ms, runs of them
        0.6 ms, one thread 0.85 ms (with a core busy, two BLAS threads were 3-300x slower)."""
        self.pinned, self.within = way, within

    def _best(self) -> str:
        med, p = self.medians, self.pinned
        within = max(self.within, TWICE) if self.spent < self.thawed else self.within  # after a pause
        if p in self.ways and all(med[p] <= within * med[w] for w in self.ways if w != p):
            return p
        return min(self.ways, key=lambda w: (med[w], w != self.current))

    def _warm(self) -> bool:
        return all(len(self.times[w]) >= self.need[w] for w in self.ways)

    def _known_slow(self) -> None:
        """A way whose fastest call took ``slow`` times another's median needs no more calls to be known
        slower (on a busy machine a call on every core's BLAS threads took 500 ms against 2.5 ms)."""
        for w in self.ways:
            others = [self.medians[o] for o in self.ways if o != w and self.times[o]]
            if self.times[w] and others and min(self.times[w]) > self.slow * min(others):
                self.need[w] = min(self.need[w], len(self.times[w]))

    def _spacing(self, way: str, dt: float) -> int:
        """Calls of ``current`` between probes of ``way`` (timed ``dt``) that keep two-call probes
        within ``share`` of the time."""
        cur = self.medians[self.current]
        return math.ceil(2 * (dt / cur - 1) / self.share) if 0 < cur < float("inf") else self.first

    def _often(self) -> int:
        """The most calls of ``current`` between probes: ``longest``, or fewer that last ``every`` seconds."""
        cur = self.medians[self.current]
        if self.every is None or not 0 < cur < float("inf"):
            return self.longest
        return min(self.longest, max(1, math.ceil(self.every / cur)))

    def _reset(self) -> None:
        for w in self.ways:
            self.since[w], self.interval[w] = 0, self.first

    def _next(self) -> str:
        if self.last is not None and not self.timed:  # the first call of a run: once more, timed
            return self.last
        if not self._warm():  # time every way a few times first, fewest samples first
            cold = [w for w in self.ways if len(self.times[w]) < self.need[w]]
            return min(cold, key=lambda w: (len(self.times[w]), w != self.current))
        due = [w for w in self.ways if w != self.current and self.since[w] >= self.interval[w]]
        return max(due, key=lambda w: self.since[w] - self.interval[w]) if due else self.current

    def add(self, way: str, fn: Callable) -> None:
        """A new way, timed a few times from the next call on."""
        self.ways[way], self.times[way] = fn, deque(maxlen=self.times[self.current].maxlen)
        self.interval[way], self.since[way], self.calls[way], self.medians[way] = self.first, 0, 0, float("inf")
        self.need[way] = 1  # timed once, as a probe

    def drop(self, way: str) -> None:
        """Never run ``way`` again (at least one way stays)."""
        if way not in self.ways or len(self.ways) == 1:
            return
        for d in (self.ways, self.times, self.interval, self.since, self.calls, self.medians, self.need):
            d.pop(way)
        self.log.pop(way, None)
        if self.last == way:
            self.last, self.timed = None, False
        if self.pinned == way:
            self.pinned = None
        if self.current == way:
            self.current = min(self.ways, key=self.medians.get)

    def __call__(self, *args):
        warm = self._warm()
        way = self._next()
        t0 = self.clock()
        if self.ended is not None and t0 - self.ended > self.pause and self.current == self.pinned:
            self.thawed = self.spent + self.cold
        out = self.ways[way](*args)
        self.ended = self.clock()
        dt = self.ended - t0
        self.spent += dt
        if way not in self.ways:  # the call dropped its own way
            return out
        # only the second call of a run is timed: the first after the other way wakes workers that
        # slept (slowly, on a virtual machine) and finds cold caches; a first call compiles
        self.timed, self.last = way == self.last, way
        self.calls[way] += 1
        if not self.timed:
            return out
        self._record(way, dt)
        med = self.medians
        best = self._best()
        if not warm:
            self._known_slow()
            self.current = best
            self._reset()
            if self._warm():  # the warm-up is over: each other way is probed as its time allows
                for w in self.ways:
                    if w != self.current:
                        self.interval[w] = max(self.first, self._spacing(w, med[w]))
        elif way != self.current:  # a probe of another way
            cur = med[self.current]
            if dt < cur and self.pinned != self.current:  # it won: switch at once (its older times were
                # of another load), probe soon
                self._record(way, dt, fresh=True)
                self.current = way
                self._reset()
            else:  # it lost: probe later, keeping two-call probes within ``share`` of the time
                self.interval[way] = max(min(2 * self.interval[way], self._often()), self._spacing(way, dt))
                self.since[way] = 0
                if best != self.current:
                    self.current = best
                    self._reset()
            if self.on_probe is not None:
                self.on_probe(way)
        else:
            for w in self.since:
                self.since[w] += 1
            if best != self.current:  # the current way became slower than another's last times
                self.current = best
                self._reset()
        return out

    def __str__(self):
        shown = ", ".join(f"{w} {self.median(w) * 1e3:.3f} ms" for w in self.ways)
        window = self.times[self.current].maxlen
        return f"measured (medians of the last {window} calls): {shown}; running {self.current}"
