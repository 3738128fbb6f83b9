"""Turns: the ways of using several cores, one at a time in the guard beside one thread's code.

A step can use several cores two ways: the dataflow tasks, or the sequential code on every
core's BLAS threads. They are never in the guard together: OpenBLAS's threads spin for about
0.1 s after a call, and the workers after such a call ran 1.3x slower (the towers: 7.3 against
5.5 ms). So they take turns. A turn pins its way (``Guard.pin``): the guard runs it while it is
at most twice as slow as one thread for its first ``COLD`` (0.2) seconds, since on a shared host a
second core left idle is given to other work, and a way that needs it measures that in its first
calls (two-call probes of two BLAS threads after one thread's runs took 1.4-1.6 ms, their runs
0.6 ms, one thread 0.85 ms); then while at most ``HOLD`` (1.3) times as slow.
A turn ends with a note of how the way did against one thread: its ratio. At each probe, the
median of the way's timed calls since the probe before (at least ``WINDOW``, 5, or the way's own
probe; in a turn, after ``COLD``) over one thread's median is a sample (so a change of load moves
both), and the ratio is the least sample since the last note: what the way gives while the host
leaves it the cores. Whether the holder is pinned follows the median of the samples, what it
gives as the host goes (with a core busy the tasks' samples on 784-256-256-10 at batch 512 were
1.03-1.18 of one thread but one, 0.97, and pinned on that least one they ran at 1.08x).
(The guard's median of the last five calls, noted just after a pause, was 3 slow calls in 5; and
on 784-256-256-10 at batch 128 the host slowed every core's threads from 1.55 to 3.0 ms for the
last 0.6 s of their turn, one thread from 2.3 to 2.7, and a median of the turn's calls said
1.09, the tasks 0.68 a few seconds later.) A turn clearly behind the holder or one thread ends
early: its last ``SAMPLES`` (2) samples at least ``BEHIND`` (1.15) times the holder's ratio, or
than one thread's. (On 784-256-256-10 at batch 32 the tasks' turn, 0.97 of one thread against
the holder's 0.74, ran a whole second: a quarter of the benchmark's timed calls. With a core
busy, on 784-1024-1024-10 at batch 32, the tasks' turn at 1.14-1.18 of one thread, the holder
2.2, ran 1.7 s.) The seconds are the step's own, the
time of the guard's calls (``Guard.spent``). With two ways,
``A`` first (the schedule's guess)::

    0 s          A's turn
    >= 1 s       at a probe: A's ratio noted; B's turn
    >= 2 s       at a probe: B's ratio noted; the better of the two holds (a turn of its own if it
                 lost the first)
    every 4 s    the holder's ratio noted again: while its median sample beats one thread it is
                 pinned (``HOLD``), else the guard runs the faster
    + 4 s        the other's turn again, the holder's ratio noted as it gives way (if it was running);
                 the better holds. A way that does not win waits twice as long next time (4, 8,
                 16 ... 64 s), one that wins 4 s

The holder is pinned because a step that pauses (a loop's other work) finds the second core
given away when it comes back: on the towers, three calls on two BLAS threads after each pause
took 12-13 ms, against 7.5 ms in a run and 11 ms on one thread, and a median of five alone then
ran one thread for the next 8-20 calls. The turn of a way far slower than one thread costs only
its probes (``Guard.share``), and the turn of one up to twice as slow the difference for 0.2 s.
In return a ratio disturbed by the host (medians of five) is measured again within seconds, and
a change of load within a minute.
"""
from __future__ import annotations

import time
from typing import Callable, Dict, List, Optional

from .guard import COLD, middle

INF = float("inf")
HOLD = 1.3  # the holder, if it beat one thread, runs while its median is at most this times one thread's
# ``COLD``: the seconds at the start of a turn in which the way runs while at most twice one thread's
# time, then as the holder (a second core the host took comes back within 60 ms, measured)
BEHIND = 1.15  # a turn ends early once its last ``SAMPLES`` samples are this times the holder's ratio
SAMPLES = 2
WINDOW = 5  # the least timed calls of a way whose median, at a probe, is a sample of its ratio


class Turns:
    """``ways`` (in turn order) take turns in ``guard`` beside its way ``base``; call ``on_probe`` after
    each of the guard's probes. ``turn``: the least seconds of a turn (a process's first calls are
    slower and vary more); ``wait``, ``longest``: the seconds before a way that did not win has its
    next turn, doubled each time up to ``longest``; ``clock``: the seconds these count (the dataflow
    executor's: ``Guard.spent``). ``print(turns)`` shows the ratios."""

    def __init__(self, guard, ways: Dict[str, Callable], base: str = "sequential", turn: float = 1.0,
                 wait: float = 4.0, longest: float = 64.0, clock: Callable[[], float] = time.perf_counter):
        self.guard, self.ways, self.base = guard, dict(ways), base
        self.turn, self.first_wait, self.longest, self.clock = turn, wait, longest, clock
        self.ratio: Dict[str, float] = {}  # each way's ratio to ``base`` at the end of its last turn
        self.typical: Dict[str, float] = {}  # and the median of its samples then (the holder's pin)
        self.due: Dict[str, float] = {}  # when each way that lost may have its next turn
        self.wait = {w: wait for w in self.ways}
        self.holder: Optional[str] = None  # once every way had a turn: the best ratio
        self.turns = 0  # turns ended
        self.began = clock()
        self.turning: Optional[str] = self.here  # the way whose turn it is (pinned, ``Guard.pin``)
        self.samples: List[float] = []  # ratios at the probes since the last note (``_sample``)
        self.warm = False  # is the turn past ``COLD``
        self.recheck = INF  # when the holder's ratio is noted again
        guard.pin(self.here)

    @property
    def here(self) -> Optional[str]:
        """The way in the guard now."""
        return next((w for w in self.guard.ways if w in self.ways), None)

    def on_probe(self, probed: str) -> None:
        here, now, med = self.here, self.clock(), self.guard.medians
        if here is None or INF in (med[here], med[self.base]):
            return
        turn = self.turning == here
        if turn and not self.warm and now - self.began >= COLD:  # a turn's first calls may be cold: not noted
            self.warm, self.guard.log = True, {here: []}
            self.samples.append(med[here] / med[self.base])  # its last few calls: warm by now
            if self.guard.within > HOLD:
                self.guard.pin(here, HOLD)  # warm by now: a way this much slower is slower
        if not turn or self.warm:
            self._sample(here, probed == here)
        r = self._ratio(here)
        if turn:
            if now - self.began < self.turn and not self._behind(here):  # too soon to tell
                return
            self.turning = None
            self.guard.pin(None)
            self._note(here, r)
            if here != self.holder:
                self._judge(here, r, now)
            else:
                self._hold(now)
            return
        if here == self.holder and now >= self.recheck:  # how it does now: pinned while it beats one thread
            self._note(here, r)
            self._hold(now)
        due = [w for w in self.ways if w != here and self.due.get(w, INF) <= now]
        if here == self.holder and due:  # the holder gives way to the next due
            if self.guard.current == here:  # its times are of a run, not of probes
                self._note(here, r)
            self._place(min(due, key=self.due.get))

    def _sample(self, way: str, probed: bool) -> None:
        """The median of ``way``'s timed calls since the last sample, over one thread's median, is a
        sample once there are ``WINDOW`` of them, or at a probe of ``way`` (slower than one thread, it
        runs only in probes)."""
        g = self.guard
        ts = g.log.get(way)
        if ts and (len(ts) >= WINDOW or probed):
            self.samples.append(middle(ts) / g.medians[self.base])
            g.log[way] = []

    def _ratio(self, way: str) -> float:
        """The least sample since the last note: what the way gives when the host leaves it the cores
        (or, with none yet, the median of its calls since the note, or of its last few, over one
        thread's median)."""
        if self.samples:
            return min(self.samples)
        g = self.guard
        ts = g.log.get(way, ())
        return (middle(ts) if ts and len(ts) >= len(g.times[way]) else g.medians[way]) / g.medians[self.base]

    def _note(self, way: str, r: float) -> None:
        """``way``'s ratio is ``r``, and its typical ratio the median of the samples (``r`` with none);
        its calls from now on make its next note."""
        self.typical[way] = middle(self.samples) if self.samples else r
        self.ratio[way], self.guard.log, self.samples = r, {way: []}, []

    def _behind(self, way: str) -> bool:
        """Is the turn of ``way`` clearly losing to the holder or to one thread (its last ``SAMPLES``
        ratios)?"""
        h, last = self.holder, self.samples[-SAMPLES:]
        best = min(1.0, self.ratio[h]) if h not in (None, way) else 1.0
        return len(last) == SAMPLES and min(last) >= BEHIND * best

    def _judge(self, way: str, r: float, now: float) -> None:
        """The turn of ``way`` (not the holder) ended with ratio ``r``: it holds if it did better."""
        self.turns += 1
        if self.holder is None or r < self.ratio[self.holder]:
            if self.holder is not None:
                self.due[self.holder] = now + self.wait[self.holder]
            self.holder, self.wait[way] = way, self.first_wait
        else:
            self.due[way] = now + self.wait[way]
            self.wait[way] = min(2 * self.wait[way], self.longest)
        untried = [w for w in self.ways if w not in self.ratio]
        self._place(untried[0] if untried else self.holder)

    def remove(self, way: str) -> None:
        """Never give ``way`` a turn again (every core's threads that gave other bits)."""
        if way not in self.ways:
            return
        for d in (self.ways, self.ratio, self.typical, self.due, self.wait):
            d.pop(way, None)
        if self.turning == way:
            self.turning = None
        if self.holder == way:
            self.holder = min(self.ratio, key=self.ratio.get) if self.ratio else None
        if way in self.guard.ways:
            untried: List[str] = [w for w in self.ways if w not in self.ratio]
            self._place(untried[0] if untried else self.holder)

    def _place(self, way: Optional[str]) -> None:
        """Put ``way`` in the guard in place of the way of several cores there (none: one thread alone),
        and begin its turn: pinned, unless it is the holder and did worse than one thread."""
        for w in [w for w in self.guard.ways if w != self.base and w != way]:
            self.guard.drop(w)
        if way is None:
            return
        if way not in self.guard.ways:
            self.guard.add(way, self.ways[way])
            self.began, self.samples, self.warm = self.clock(), [], False
            if way != self.holder or self.typical.get(way, 0.0) < 1.0:
                self.turning, self.guard.log = way, {}  # logged from ``COLD`` on
                self.guard.pin(way)
                return
            self.guard.log = {way: []}  # the holder, back without a turn: its calls make its next note
        self._hold(self.clock())

    def _hold(self, now: float) -> None:
        """Pin the holder (``HOLD``) if its typical ratio at its last note beat one thread, else not (see
        the module's docstring); note its ratio again in ``wait`` seconds."""
        h = self.holder
        if h is not None and h in self.guard.ways and self.typical.get(h, INF) < 1.0:
            self.guard.pin(h, HOLD)
        elif self.turning is None:
            self.guard.pin(None)
        self.recheck = now + self.first_wait

    def __str__(self):
        shown = ", ".join(f"{w} {self.ratio[w]:.2f}x (median {self.typical[w]:.2f}x)" for w in self.ways
                          if w in self.ratio)
        return f"turns ({self.turns} ended): ratios to {self.base} {shown or 'none yet'}; holder {self.holder}"
