"""Progress on long work: simulated time, ns/day and ETA on a terminal; quiet otherwise."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm


class Progress:
    """Reports steps of one stage at a time; engines call :meth:`stage` then :meth:`advance`."""

    def __init__(self, enabled: bool | None = None, prefix: str = ""):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.prefix = prefix
        self._bar: tqdm | None = None
        self._timestep_ps = 0.0
        self._t0 = 0.0
        self._steps = 0

    def stage(self, name: str, total_steps: int, timestep_ps: float, done_steps: int = 0) -> None:
        self.close()
        self._timestep_ps, self._t0, self._steps = timestep_ps, time.perf_counter(), 0
        if self.enabled:
            self._bar = tqdm(total=total_steps, initial=done_steps, desc=f"{self.prefix}{name}", unit="step",
                             dynamic_ncols=True, file=sys.stderr)

    def advance(self, steps: int) -> None:
        self._steps += steps
        if self._bar is None:
            return
        self._bar.update(steps)
        elapsed = time.perf_counter() - self._t0
        if elapsed > 0:
            ns_day = self._steps * self._timestep_ps * 1e-3 / elapsed * 86400
            self._bar.set_postfix_str(f"t={self._bar.n * self._timestep_ps:.3g} ps, {ns_day:.3g} ns/day", refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    @property
    def ns_per_day(self) -> float:
        elapsed = time.perf_counter() - self._t0
        return self._steps * self._timestep_ps * 1e-3 / elapsed * 86400 if elapsed > 0 else float("nan")
