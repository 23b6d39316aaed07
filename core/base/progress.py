"""Progress on long work: a bar on a terminal, a plain line every so often in a log, nothing when asked for quiet.

:class:`Progress` reports one stage of one batch (simulated time, ns/day, ETA); :class:`StudyMonitor` reports the
whole study from its run directories (runs done, running and failed, simulated time, ETA), whichever process or
cluster worker is running them.
"""

from __future__ import annotations

import os
import sys
import time

from tqdm import tqdm

LINE_EVERY_S = 30.0


def _terminal_width() -> int:
    """Columns of the terminal stderr is, 0 when it is none or reports none (a pseudo-terminal of 0 × 0 columns,
    where a bar would render blank): lines are written instead."""
    if not sys.stderr.isatty():
        return 0
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except OSError:
        return 0


def clock(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "?"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class Progress:
    """Reports steps of one stage at a time; engines' stage driver calls :meth:`stage` then :meth:`advance`.

    ``enabled``: None (default) draws a bar when stderr is a terminal and writes a line every ``every_s`` seconds
    otherwise; False is quiet.
    """

    def __init__(self, enabled: bool | None = None, prefix: str = "", every_s: float = LINE_EVERY_S):
        self.mode = "off" if enabled is False else ("bar" if _terminal_width() > 0 else "lines")
        self.prefix = prefix
        self.every_s = every_s
        self._bar: tqdm | None = None
        self._name = ""
        self._timestep_ps = 0.0
        self._t0 = self._last_line = 0.0
        self._steps = self._done = self._total = 0

    def stage(self, name: str, total_steps: int, timestep_ps: float, done_steps: int = 0) -> None:
        self.close()
        self._name, self._timestep_ps, self._total, self._done = name, timestep_ps, total_steps, done_steps
        self._t0 = self._last_line = time.perf_counter()
        self._steps = 0
        if self.mode == "lines":
            resumed = f", resumed at step {done_steps}" if done_steps else ""
            print(f"{self.prefix}{name}: {total_steps} steps ({total_steps * timestep_ps:.4g} ps){resumed}",
                  file=sys.stderr, flush=True)
        if self.mode == "bar":
            self._bar = tqdm(total=total_steps, initial=done_steps, desc=f"{self.prefix}{name}", unit="step",
                             dynamic_ncols=True, file=sys.stderr)

    def note(self, message: str) -> None:
        """One line now (not in quiet mode): what the run is doing where no step is counted (building the system,
        starting the engine, minimising), so that nothing is silent for long."""
        if self.mode != "off":
            self.close()
            print(f"{self.prefix}{message}", file=sys.stderr, flush=True)

    def advance(self, steps: int) -> None:
        self._steps += steps
        self._done += steps
        if self._bar is not None:
            self._bar.update(steps)
            self._bar.set_postfix_str(f"t={self._bar.n * self._timestep_ps:.3g} ps, {self.ns_per_day:.3g} ns/day",
                                      refresh=False)
        elif self.mode == "lines" and time.perf_counter() - self._last_line >= self.every_s:
            self._last_line = time.perf_counter()
            rate = self._steps / max(self._last_line - self._t0, 1e-9)
            print(f"{self.prefix}{self._name}: {self._done}/{self._total} steps "
                  f"({100 * self._done / max(self._total, 1):.0f} %), t={self._done * self._timestep_ps:.4g} ps, "
                  f"{self.ns_per_day:.3g} ns/day, stage ETA {clock((self._total - self._done) / rate)}",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    @property
    def ns_per_day(self) -> float:
        elapsed = time.perf_counter() - self._t0
        return self._steps * self._timestep_ps * 1e-3 / elapsed * 86400 if elapsed > 0 else float("nan")
