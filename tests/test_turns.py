"""The ways of several cores taking turns in the guard (``runtime/turns.py``), on a simulated clock:
each way's call advances it by the way's cost at that moment, so a load that changes is a cost that
changes with the clock."""
import pytest

from chainrule.runtime.guard import EVERY, Guard
from chainrule.runtime.turns import Turns

MS = 1e-3


class Sim:
    """A guard holding ``order[0]`` beside "sequential", with ``order`` taking turns, on a clock that each
    call advances by ``cost(way, now)`` seconds. ``calls``: ``(start, way)``; ``placed``: ``(when, way)``,
    each way of several cores put in the guard."""

    def __init__(self, cost, order):
        self.now, self.cost, self.calls, self.placed = 0.0, cost, [], []
        ways = {w: self._way(w) for w in order}
        self.guard = Guard({order[0]: ways[order[0]], "sequential": self._way("sequential")},
                           clock=lambda: self.now, every=EVERY, on_probe=lambda w: self.turns.on_probe(w))
        self.turns = Turns(self.guard, ways, clock=lambda: self.guard.spent)  # the step's own seconds

    def _way(self, name):
        def run():
            self.calls.append((self.now, name))
            self.now += self.cost(name, self.now)
        return run

    def until(self, seconds, pause=None):
        """Call the guard until ``seconds``; ``pause=(every, length)``: after each ``every`` seconds of
        calls, ``length`` seconds without any (a training loop's other work)."""
        resume = self.now + pause[0] if pause else float("inf")
        while self.now < seconds:
            if self.now >= resume:
                self.now += pause[1]
                resume = self.now + pause[0]
            if not self.placed or self.placed[-1][1] != self.turns.here:
                self.placed.append((self.now, self.turns.here))
            self.guard()
        return self

    def waits(self, way):
        """Seconds from the end of each turn of ``way`` (another way placed) to its next turn."""
        turns = self.placed
        return [b[0] - a[0] for a, b in zip(turns[1:], turns[2:]) if a[1] != way and b[1] == way]

    def spent(self, after=0.0):
        """Seconds spent in each way's calls that began at ``after`` or later."""
        out = {}
        for (start, w), (end, _) in zip(self.calls, self.calls[1:] + [(self.now, None)]):
            if start >= after:
                out[w] = out.get(w, 0.0) + end - start
        return out


def test_each_way_has_a_turn_and_the_better_against_one_thread_holds_though_it_went_second():
    cost = {"dataflow": 0.8 * MS, "threads": 0.6 * MS, "sequential": 1.0 * MS}
    sim = Sim(lambda w, now: cost[w], ["dataflow", "threads"]).until(60.0)
    t = sim.turns
    assert t.holder == "threads" and t.ratio["threads"] == pytest.approx(0.6)
    assert t.ratio["dataflow"] == pytest.approx(0.8) and "threads 0.60x" in str(t)
    # the first turn ends at the first probe after ``turn`` (1 s), the second too; the tasks are tried
    # again 4 s after they lost the holder's place, then 4, 8, 16 s after each turn they lost (at the
    # first probe after: one thread's probes come up to 2048 calls apart)
    assert [w for _, w in sim.placed][:3] == ["dataflow", "threads", "dataflow"]
    assert 1.0 <= sim.placed[1][0] < 2.5
    assert sim.waits("dataflow")[1:] == pytest.approx([4 + 0.75, 8 + 0.75, 16 + 0.75], abs=0.75)
    spent = sim.spent()
    assert spent["threads"] > 0.85 * 60 and spent["sequential"] < 0.03 * 60  # one thread only probed


def test_a_turn_the_host_disturbed_is_measured_again_seconds_later():
    """Every core's threads are slowed (2 ms, against one thread's 1 ms) by another job for the 3 s of
    their first turn: the tasks hold, and the threads win their next turn, 4 s later."""
    def cost(w, now):
        if w == "threads":
            return (2.0 if 1.0 <= now < 4.0 else 0.6) * MS
        return {"dataflow": 0.8, "sequential": 1.0}[w] * MS
    sim = Sim(cost, ["dataflow", "threads"]).until(14.0)
    assert [w for _, w in sim.placed][:4] == ["dataflow", "threads", "dataflow", "threads"]
    assert sim.waits("threads")[0] == pytest.approx(4 + 0.75, abs=0.75)
    assert sim.turns.holder == "threads" and sim.turns.ratio["threads"] == pytest.approx(0.6)
    (won, _), (next_turn, _) = sim.placed[3:5]  # from the threads' win to the tasks' next turn, 4 s later
    spent = sim.spent(after=won)
    assert next_turn - won > 4 and spent["threads"] > 0.98 * (next_turn - won)


def test_the_ratio_follows_the_load_the_holder_gives_way_when_the_other_does_better():
    """The threads hold until one core is taken by another job at 20 s (each call then 3x one thread's):
    the guard runs one thread at once, and at the tasks' next turn the holder's fresh ratio loses."""
    def cost(w, now):
        busy = now >= 20.0
        return {"dataflow": 1.2 if busy else 0.8, "threads": 3.0 if busy else 0.6, "sequential": 1.0}[w] * MS
    sim = Sim(cost, ["dataflow", "threads"]).until(90.0)
    assert sim.turns.holder == "dataflow" and sim.turns.ratio["threads"] > 2.0
    late = sim.spent(after=60.0)
    assert late["sequential"] > 0.9 * 30  # the tasks (1.2x slower than one thread) hold, and are probed


def test_a_way_that_never_wins_waits_twice_as_long_each_time_up_to_a_minute():
    cost = {"dataflow": 0.5 * MS, "threads": 0.9 * MS, "sequential": 1.0 * MS}
    sim = Sim(lambda w, now: cost[w], ["dataflow", "threads"]).until(400.0)
    t = sim.turns
    waits = sim.waits("threads")  # to the first probe after the wait: up to 2048 calls later
    assert waits[:7] == pytest.approx([4.75, 8.75, 16.75, 32.75, 64.75, 64.75, 64.75], abs=0.75)
    assert t.wait["threads"] == 64.0 and t.holder == "dataflow"


def test_a_removed_way_leaves_the_guard_and_never_comes_back():
    cost = {"dataflow": 0.9 * MS, "threads": 0.6 * MS, "sequential": 1.0 * MS}
    sim = Sim(lambda w, now: cost[w], ["dataflow", "threads"]).until(5.0)
    t, guard = sim.turns, sim.guard
    assert t.holder == "threads" and set(guard.ways) == {"threads", "sequential"}
    t.remove("threads")  # as every core's threads that changed the bits
    assert set(guard.ways) == {"dataflow", "sequential"} and t.holder == "dataflow"
    assert set(sim.spent(after=5.0)) <= {"dataflow", "sequential"}
    sim.until(30.0)
    assert {w for start, w in sim.calls if start >= 5.0} == {"dataflow", "sequential"}
    t.remove("dataflow")
    assert set(guard.ways) == {"sequential"} and t.holder is None and "none yet" in str(t)


def _cold_second_core(cold, warm, others):
    """A cost: the first 20 calls of every core's threads ("threads") after 50 ms without one take ``cold``
    ms (the host gave the idle second core to other work), later ones ``warm``; the other ways ``others``."""
    last, left = [-1.0], [0]

    def cost(w, now):
        if w != "threads":
            return others[w] * MS
        left[0] = 20 if now - last[0] > 0.05 else left[0] - 1
        last[0] = now
        return (cold if left[0] > 0 else warm) * MS
    return cost


def test_a_way_whose_second_core_is_cold_after_one_thread_runs_is_measured_in_a_run_of_its_own():
    """The host gives a second core idle for 50 ms to other work: the first 20 calls of every core's threads
    after that take 1.5 ms, later ones 0.6 ms, against 0.85 ms for one thread. Two-call probes see only
    the cold calls; a turn pins the way, so the guard measures it warm, and it holds."""
    cost = _cold_second_core(1.5, 0.6, {"dataflow": 1.2, "sequential": 0.85})
    sim = Sim(cost, ["threads", "dataflow"]).until(30.0)
    assert sim.turns.holder == "threads" and sim.turns.ratio["threads"] == pytest.approx(0.6 / 0.85)
    spent = sim.spent(after=5.0)
    assert spent["threads"] > 0.85 * sum(spent.values())  # the rest: the tasks' turns, pinned


def test_a_pinned_way_runs_while_at_most_twice_as_slow_and_probes_go_on():
    now = [0.0]
    cost = {"a": 1.5, "b": 1.0}

    def way(name):
        def run():
            now[0] += cost[name]
        return run
    guard = Guard({"a": way("a"), "b": way("b")}, clock=lambda: now[0])
    guard.pin("a")
    for _ in range(400):
        guard()
    assert guard.current == "a" and guard.calls["b"] >= 6  # b is faster, and probed, but a is pinned
    cost["a"] = 2.5  # more than twice b's time: the fastest again
    for _ in range(20):
        guard()
    assert guard.current == "b"
    guard.drop("a")
    assert guard.pinned is None


def test_the_holder_runs_through_the_slow_calls_after_a_pause_while_it_beats_one_thread():
    """A training loop pauses every 0.3 s (other work); the first three calls on every core's threads after a
    pause take 12.5 ms (the second core given away, OpenBLAS's threads asleep), against 7.5 ms in a run and
    11 ms on one thread. The threads hold (their turn went second), pinned: one thread is only probed, where
    a median of five would switch to it after each pause's slow calls."""
    block, cold = [-1], [0]

    def cost(w, now):
        if w != "threads":
            return {"dataflow": 9.0, "sequential": 11.0}[w] * MS
        if int(now / 0.3) != block[0]:
            block[0], cold[0] = int(now / 0.3), 3
        cold[0] -= 1
        return (12.5 if cold[0] >= 0 else 7.5) * MS
    sim = Sim(cost, ["dataflow", "threads"]).until(60.0)
    t = sim.turns
    assert t.holder == "threads" and t.ratio["threads"] < 1.0 and sim.guard.pinned == "threads"
    spent = sim.spent(after=10.0)  # one thread: its probes, 5% of the time (unpinned: 34%)
    assert spent["sequential"] < 0.1 * sum(spent.values())


def test_a_held_way_that_falls_behind_one_thread_is_unpinned_at_its_next_check():
    """The threads hold, pinned, at 0.6 ms against one thread's 1 ms; from 20 s they take 1.2 ms (within the
    pin's 1.3x): at the next check of the holder's ratio, within ``wait`` (4 s), the pin goes, and one thread
    runs; the tasks (1.5 ms) never win."""
    def cost(w, now):
        return {"dataflow": 1.5, "threads": 1.2 if now >= 20.0 else 0.6, "sequential": 1.0}[w] * MS
    sim = Sim(cost, ["dataflow", "threads"]).until(40.0)
    assert sim.turns.holder == "threads" and sim.turns.ratio["threads"] == pytest.approx(1.2)
    assert sim.guard.pinned != "threads"  # (the tasks may be in a turn of theirs, pinned)
    late = sim.spent(after=26.0)
    assert late["sequential"] > 0.9 * sum(late.values())


def test_a_turn_of_a_way_much_slower_than_one_thread_runs_it_only_while_it_may_be_cold():
    """The tasks take 1.8 ms against one thread's 1 ms: within twice, so their turn runs them for its
    first ``COLD`` seconds (a second core may come back that long), then one thread, the tasks probed."""
    from chainrule.runtime.turns import COLD
    cost = {"threads": 0.6 * MS, "dataflow": 1.8 * MS, "sequential": 1.0 * MS}
    sim = Sim(lambda w, now: cost[w], ["threads", "dataflow"]).until(4.0)
    (start, _), (end, _) = [p for p in sim.placed if p[1] == "dataflow"][0], sim.placed[2]
    ran = sum(b - a for (a, w), (b, _) in zip(sim.calls, sim.calls[1:]) if w == "dataflow" and start <= a < end)
    assert COLD <= ran < COLD + 0.15  # unbounded: the whole turn, 1 s
    assert end - start < 0.5  # and the turn ends early, far behind the holder (``BEHIND``)
    assert sim.turns.holder == "threads" and sim.turns.ratio["dataflow"] == pytest.approx(1.8)


def _turn_spans(sim, way):
    """(start, end) of each turn of ``way``: from its placing to the next."""
    return [(a[0], b[0]) for a, b in zip(sim.placed, sim.placed[1:] + [(sim.now, None)]) if a[1] == way]


def test_a_turn_clearly_behind_the_holder_ends_early_and_one_close_to_it_runs_its_second():
    """The threads hold at 0.6 of one thread. Tasks at 0.75 (1.25x the holder's ratio) lose their turns
    in under a second (before: 1.6 s, 25% slower, each time); tasks at 0.65 (1.08x) run theirs."""
    from chainrule.runtime.turns import BEHIND
    for tasks, short in ((0.75, True), (0.65, False)):
        cost = {"threads": 0.6 * MS, "dataflow": tasks * MS, "sequential": 1.0 * MS}
        sim = Sim(lambda w, now, cost=cost: cost[w], ["threads", "dataflow"]).until(30.0)
        assert sim.turns.holder == "threads" and (tasks / 0.6 >= BEHIND) == short
        spans = _turn_spans(sim, "dataflow")
        assert len(spans) >= 3
        assert all((end - start < 1.0) == short for start, end in spans[:-1]), spans



def test_a_turns_ratio_is_the_median_of_its_calls_not_of_the_last_five():
    """Another job slows every core's threads to 1.6 ms (one thread: 1 ms) for the last 0.25 s of their
    first turn: the guard's median of the last five calls says 1.6, the turn's calls 0.6, and the threads
    hold."""
    def cost(w, now):
        if w == "threads":
            return (1.6 if 0.9 <= now < 1.15 else 0.6) * MS
        return {"dataflow": 0.8, "sequential": 1.0}[w] * MS
    sim = Sim(cost, ["threads", "dataflow"]).until(1.2)
    assert sim.placed[-1][1] == "dataflow" and sim.turns.ratio["threads"] == pytest.approx(0.6)
    assert max(sim.guard.times["sequential"]) == pytest.approx(1.0 * MS)
    sim.until(4.0)
    assert sim.turns.holder == "threads"


def test_a_turn_the_host_slowed_for_most_of_it_is_noted_at_its_best():
    """From 0.3 s of their first turn (just after ``COLD``) to 1.5 s the host takes the second core: every core's threads take 1.25 ms
    instead of 0.6, one thread 1.1 instead of 1.0. A median of the turn's calls says 1.1x one thread and the
    tasks (0.8) would hold; the least sample says 0.6, what the threads give with the cores, and they hold
    (on 784-256-256-10 at batch 128, such a turn held the tasks, 1.1x slower, for the benchmark's run)."""
    def cost(w, now):
        slow = 0.3 <= now < 1.5
        return {"threads": 1.25 if slow else 0.6, "sequential": 1.1 if slow else 1.0, "dataflow": 0.8}[w] * MS
    sim = Sim(cost, ["threads", "dataflow"]).until(4.0)
    assert sim.turns.ratio["threads"] == pytest.approx(0.6) and sim.turns.holder == "threads"


def test_the_running_holder_runs_through_its_cold_calls_after_a_pause_while_at_most_twice_as_slow():
    """Every 0.25 s of calls a training loop pauses 0.45 s (other work). After a pause the host has given
    the second core away: the first 20 calls of every core's threads take 1.3 ms, later ones 0.55 ms,
    against 0.68 ms on one thread (784-256-256-10 at batch 32). Their median of five leaves the holder's
    pin (1.3x); pinned within twice for ``cold`` (0.2 s) after a pause, they run warm again: 98% of the
    time. (Before, one thread ran, two-call probes of the threads found a cold second core, and the
    tasks came to hold: one thread ran 95% of the time.)"""
    cost = _cold_second_core(1.3, 0.55, {"dataflow": 0.9, "sequential": 0.68})
    sim = Sim(cost, ["threads", "dataflow"]).until(60.0, pause=(0.25, 0.45))
    assert sim.turns.holder == "threads" and sim.turns.typical["threads"] < 1.0
    spent = sim.spent(after=20.0)
    assert spent["sequential"] < 0.1 * sum(spent.values())


def test_a_holder_whose_least_sample_beat_one_thread_by_chance_is_not_pinned():
    """With one core busy the tasks take 1.08 ms against one thread's 1.0 ms, but 0.9 ms for a quarter of
    each second (every core's threads: 3 ms). Their least sample says 0.9, the median 1.08: the tasks
    hold (they beat the threads) but are not pinned, and one thread runs. (Pinned on the least sample,
    the tasks ran at 1.08x 61% of the time, as on 784-256-256-10 at batch 512 with a core busy.)"""
    def cost(w, now):
        return {"threads": 3.0, "dataflow": 0.9 if now % 1.0 < 0.25 else 1.08, "sequential": 1.0}[w] * MS
    sim = Sim(cost, ["dataflow", "threads"]).until(40.0)
    t = sim.turns
    assert t.holder == "dataflow" and t.typical["dataflow"] >= 1.0, (t.ratio, t.typical)
    assert "dataflow 0.90x (median 1.08x)" in str(t)  # the least sample, and the median
    spent = sim.spent(after=10.0)
    assert spent["sequential"] > 0.7 * sum(spent.values()), spent


def test_a_turn_clearly_behind_one_thread_ends_early_though_the_holder_is_further_behind():
    """With a core busy every core's threads take 2.2 ms and the tasks 1.18 ms, against one thread's 1 ms
    (784-1024-1024-10 at batch 32). The threads go first; the tasks' turn, pinned within 1.3x, runs them
    0.63 s (after ``COLD``, two samples), where it ran them 1.23 s (1.7 s measured): in 30 s the tasks
    run 0.7 s, their probes included, where they ran 1.3 s. They hold, unpinned, and one thread runs."""
    cost = {"threads": 2.2 * MS, "dataflow": 1.18 * MS, "sequential": 1.0 * MS}
    sim = Sim(lambda w, now: cost[w], ["threads", "dataflow"]).until(30.0)
    start, end = _turn_spans(sim, "dataflow")[0]
    first = sum(b - a for (a, w), (b, _) in zip(sim.calls, sim.calls[1:]) if w == "dataflow" and start <= a < end)
    spent = sim.spent()
    assert sim.turns.holder == "dataflow" and sim.guard.pinned is None
    assert first < 0.8 and spent["dataflow"] < 0.9 and spent["sequential"] > 0.95 * sum(spent.values()), (first, spent)
