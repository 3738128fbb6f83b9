"""Stop a long run cleanly on SIGINT / SIGTERM: finish the current step, save, exit.

    with StopOnSignal() as stop:
        for batch in ...:
            step(batch)
            if stop:                    # a signal arrived: the step above is complete
                save_checkpoint(); return stop.exit_code   # 130 for SIGINT, 143 for SIGTERM

The handler only records the signal, so a step is never cut in half and the
checkpoint written afterwards is consistent. A second signal restores the
previous handlers' behaviour (Ctrl-C twice still stops a stuck run at once);
since checkpoints are written atomically, that cannot corrupt one either.
A signal that the process was started ignoring (``nohup``, ``&`` in a script)
stays ignored. Outside the main thread nothing is installed.

Before and after the loop (loading data, compiling, plotting) there is no step
to finish: ``TerminateRaises`` turns SIGTERM into a ``Terminated`` exception,
as Python turns SIGINT into ``KeyboardInterrupt``, so the command unwinds
(every file is written atomically, so none is left half-written) and exits 143
with a message instead of being killed silently::

    try:
        with TerminateRaises():
            ...                         # start-up, the loop (inside StopOnSignal), plotting
    except Terminated as t:
        print("terminated by SIGTERM"); return t.exit_code      # 143
"""
from __future__ import annotations

import signal
import threading
from typing import Optional

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal:
    """A context manager whose truth value says whether SIGINT or SIGTERM arrived."""

    def __init__(self, signals=SIGNALS):
        self.signals = tuple(signals)
        self.signum: Optional[int] = None
        self._previous = {}

    def __bool__(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as shells report a process stopped by that signal."""
        return 128 + int(self.signum) if self.signum is not None else 0

    def _handle(self, signum, frame):
        if self.signum is None:
            self.signum = signum
            return
        self._restore()  # second signal: behave as if we had never been installed
        signal.raise_signal(signum)

    def _restore(self):
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in self.signals:
                old = signal.getsignal(s)
                if old is not signal.SIG_IGN:
                    self._previous[s] = signal.SIG_DFL if old is None else old
                    signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc):
        self._restore()
        return False


class Terminated(BaseException):
    """SIGTERM arrived outside a ``StopOnSignal`` block (a BaseException, like KeyboardInterrupt,
    so that no ``except Exception`` swallows it)."""
    exit_code = 128 + int(signal.SIGTERM)


class TerminateRaises:
    """A context manager in which SIGTERM raises ``Terminated`` (unless the process ignores it)."""

    def __init__(self):
        self._previous = None

    @staticmethod
    def _raise(signum, frame):
        raise Terminated()

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            old = signal.getsignal(signal.SIGTERM)
            if old is not signal.SIG_IGN:
                self._previous = signal.SIG_DFL if old is None else old
                signal.signal(signal.SIGTERM, self._raise)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None
        return False
