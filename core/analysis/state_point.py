"""The state point a production run actually reached, measured from its trajectory.

A run is labelled with the temperature it was asked for; what its numbers belong to is the temperature it had.
This module measures that from the stored production: the mean kinetic temperature (from the stored velocities,
3N − 3 degrees of freedom, else the engine's instantaneous temperature) with a correlation-aware standard error,
its drift across the production, the mean potential energy and the density, and flags a run that missed its target
or was still drifting.

Only the linear frames are used: the log-spaced frames after each of them are a few steps apart and would weight the
start of every interval. Standard errors account for the series' correlation through its integrated autocorrelation
time with Sokal's automatic window (A. Sokal, Monte Carlo Methods in Statistical Mechanics, 1997), the equivalent of
block averaging at the right block length, which a short series cannot locate reliably.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from meltdyn.analysis.estimates import Estimate
from meltdyn.base import elements
from meltdyn.base.units import BOLTZMANN_EV_K, KJ_MOL_TO_EV, U_A2_PS2_TO_EV
from meltdyn.trajectory.h5md import H5MDReader

STATE_POINT = "state_point"
"""The summary.json entry that holds a run's measured state point."""

WINDOW_C = 5.0
"""Sokal's window constant: sum the autocorrelation over at least this many autocorrelation times."""

MIN_TIMES = 20.0
"""A series shorter than this many autocorrelation times gives an error bar that is itself uncertain (flagged)."""

MISS_SIGMAS = 3.0
"""A mean temperature this many standard errors from its target (and MISS_FRACTION of it) missed the target; at
3σ a run that did reach it is flagged about 0.3 % of the time."""

MISS_FRACTION = 0.01
"""Below 1 % of the target a miss is not worth a flag even when the error bar resolves it (a long run's error
bar resolves almost anything)."""

U_PER_A3_TO_G_CM3 = 1.66053906660
"""A density in u/Å³ in g/cm³."""

FRAME_CHUNK = 256
"""Frames of velocities read at a time: a production's velocities may not fit in memory at once."""


def integrated_time(x: np.ndarray) -> tuple[float, bool]:
    """The integrated autocorrelation time of a series, in samples, and whether the series is long enough for it.

    τ = 1 + 2 Σ_{t ≤ M} ρ(t), the window M chosen by Sokal's rule (the smallest M ≥ :data:`WINDOW_C` τ(M)), the
    autocorrelation ρ from a zero-padded FFT, then corrected for the series' own mean: subtracting it lowers every
    autocovariance by about σ²τ/n, so the windowed sum reads τ̂ ≈ τ (1 − (2M + 1)/n) / (1 − τ/n), and
    τ = τ̂ / (1 − (2M + 1)/n + τ̂/n). Uncorrected, the estimate is 30 % low at n = 10 τ and 20 % at 20 τ (the error
    of a 10 ps production at a Langevin friction of 1/ps); corrected, within a few per cent from n = 20 τ. A
    series shorter than :data:`MIN_TIMES` τ, or one where no window satisfies the rule or the correction has no
    solution, gives an estimate that is itself unreliable: False (then at most the whole series is one sample).
    """
    n = len(x)
    y = x - x.mean()
    f = np.fft.rfft(y, n=2 * n)
    acf = np.fft.irfft(f.real**2 + f.imag**2, n=2 * n)[:n]
    if not acf[0] > 0:
        return 1.0, True  # a constant series: no fluctuation to correlate
    rho = acf / acf[0]
    taus = 2 * np.cumsum(rho) - 1  # τ(M) for M = 0, 1, ...
    window = np.flatnonzero(np.arange(n) >= WINDOW_C * taus)
    if len(window) == 0:
        return float(n), False
    raw = float(max(taus[window[0]], 1.0))
    denominator = 1 - (2 * window[0] + 1) / n + raw / n
    if denominator <= raw / n:  # the correction puts τ at the series' length or beyond
        return float(n), False
    tau = raw / denominator
    return tau, n >= MIN_TIMES * tau


def block_standard_error(x: np.ndarray) -> tuple[float, bool]:
    """The standard error of the mean of a correlated series, σ √(τ/n) with τ its integrated autocorrelation time
    (:func:`integrated_time`) and σ² the sample variance corrected for the mean's share of it, s² (n − 1)/(n − τ)
    (capped at the series' length), and whether the series was long enough to tell."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n < 2:
        return float("nan"), False
    tau, converged = integrated_time(x)
    if tau >= n - 1:  # one effective sample: the spread of the series is all the error can be said to be
        return float(np.std(x, ddof=1)), False
    variance = float(np.var(x, ddof=1)) * (n - 1) / (n - tau)
    return math.sqrt(variance * tau / n), converged


def series_estimate(x: np.ndarray) -> Estimate:
    """The mean of a production series (evenly spaced frames) ± its autocorrelation-corrected standard error."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return Estimate.undefined("no frames to average")
    if not np.all(np.isfinite(x)):
        return Estimate.undefined(f"{int(np.sum(~np.isfinite(x)))} of {len(x)} frames are not finite")
    se, converged = block_standard_error(x)
    note = "" if converged else (f"{len(x)} frames are fewer than {MIN_TIMES:g} autocorrelation times: the "
                                 "production is short for its correlation time and the error may be too small")
    return Estimate(float(np.mean(x)), se, note=note,
                    method=f"autocorrelation-corrected standard error over {len(x)} evenly spaced frames")


@dataclass
class StatePoint:
    """What a production reached: its temperature, potential energy and density, with drift and flags."""

    temperature_K: Estimate
    temperature_source: str
    first_half_K: Estimate
    second_half_K: Estimate
    potential_energy_eV_atom: Estimate
    density_g_cm3: float
    pressure_bar: Estimate
    target_K: float | None
    frames: int
    flags: list[str] = field(default_factory=list)

    @property
    def drift_K(self) -> float:
        return self.second_half_K.value - self.first_half_K.value

    def as_json(self) -> dict[str, Any]:
        return {"temperature_K": self.temperature_K.as_json(), "temperature_source": self.temperature_source,
                "target_temperature_K": self.target_K,
                "temperature_first_half_K": self.first_half_K.as_json(),
                "temperature_second_half_K": self.second_half_K.as_json(),
                "potential_energy_eV_per_atom": self.potential_energy_eV_atom.as_json(),
                "density_g_cm3": self.density_g_cm3, "pressure_bar": self.pressure_bar.as_json(),
                "frames": self.frames, "flags": self.flags}


def kinetic_temperature_K(velocities_A_ps: np.ndarray, masses_u: np.ndarray) -> np.ndarray:
    """The kinetic temperature of velocities (..., atoms, 3) relative to their centre of mass, over 3N − 3 degrees of
    freedom: one number per frame.

    Unbiased whether an integrator keeps the centre of mass still (Nosé–Hoover, NVE, LAMMPS' Langevin with zero yes)
    or lets the thermostat move it (OpenMM's and TorchSim's Langevin); 3N with a still centre of mass reads low by
    3/(3N), 0.7 % at 150 atoms. Every engine stores this temperature, and the state point reads it back the same way.
    """
    v = np.asarray(velocities_A_ps, dtype=float)
    m = np.asarray(masses_u, dtype=float)
    relative = v - np.einsum("a,...ai->...i", m, v)[..., None, :] / m.sum()
    kinetic_eV = 0.5 * U_A2_PS2_TO_EV * np.einsum("a,...ai,...ai->...", m, relative, relative)
    return 2 * kinetic_eV / ((3 * len(m) - 3) * BOLTZMANN_EV_K)


def kinetic_temperatures_K(reader: H5MDReader, frames: np.ndarray) -> np.ndarray:
    """:func:`kinetic_temperature_K` of the given frames from a trajectory's stored velocities, read in chunks."""
    masses = elements.masses_u(reader.symbols)
    out = np.empty(len(frames))
    for start in range(0, len(frames), FRAME_CHUNK):
        chunk = frames[start:start + FRAME_CHUNK]
        out[start:start + len(chunk)] = kinetic_temperature_K(reader.velocity_frames_A_ps(chunk), masses)
    return out


def linear_frames(steps: np.ndarray, interval_steps: int) -> np.ndarray:
    """Indices of the evenly spaced frames of a production (the log-spaced frames between them left out)."""
    steps = np.asarray(steps)
    return np.flatnonzero((steps - steps[0]) % max(interval_steps, 1) == 0)


def measure(reader: H5MDReader, target_K: float | None) -> StatePoint:
    """The state point of a production trajectory (an opened :class:`meltdyn.trajectory.h5md.H5MDReader`)."""
    frames = linear_frames(reader.steps, reader.linear_interval_steps)
    if reader.has_velocities:
        temperatures = kinetic_temperatures_K(reader, frames)
        source = "stored velocities, 3N - 3 degrees of freedom"
    else:
        temperatures = reader.observable("temperature")[frames]
        source = "the engine's instantaneous temperature (no velocities stored)"
        if not np.isfinite(temperatures).any():
            temperatures, source = np.array([]), "none: the trajectory records neither velocities nor temperatures"
    temperature = series_estimate(temperatures)
    half = len(temperatures) // 2
    first, second = series_estimate(temperatures[:half]), series_estimate(temperatures[half:])
    energies = reader.observable("potential_energy")[frames] * KJ_MOL_TO_EV / reader.n_atoms
    energy = series_estimate(energies) if np.isfinite(energies).any() else Estimate.undefined(
        "the trajectory records no potential energy")
    volume = float(np.mean(np.abs(np.linalg.det(reader.boxes_A()[frames]))))
    density = float(elements.masses_u(reader.symbols).sum() / volume * U_PER_A3_TO_G_CM3)
    pressure = Estimate.undefined("not recorded: meltdyn's trajectories store no virial")
    point = StatePoint(temperature, source, first, second, energy, density, pressure, target_K, len(frames))
    point.flags = _flags(point)
    return point


def _flags(point: StatePoint) -> list[str]:
    t, flags = point.temperature_K, []
    if not t.is_value:  # a foreign trajectory analysed on its own need not record one
        return [f"the production's temperature could not be measured: {t.note}"] if point.target_K else []
    if t.note:
        flags.append(f"temperature: {t.note}")
    target = point.target_K
    if target is not None:
        miss = t.value - target
        if abs(miss) > MISS_SIGMAS * t.stderr and abs(miss) > MISS_FRACTION * target:
            flags.append(f"production temperature {t.text(4)} K missed the target {target:g} K by {miss / target:+.1%} "
                         f"(beyond {MISS_SIGMAS:g} standard errors and {MISS_FRACTION:.0%}): this run's numbers belong "
                         "to the temperature it had, not to the target")
    a, b = point.first_half_K, point.second_half_K
    if a.is_value and b.is_value:
        sigma = math.hypot(a.stderr, b.stderr)
        scale = target if target is not None else t.value
        if abs(point.drift_K) > MISS_SIGMAS * sigma and abs(point.drift_K) > MISS_FRACTION * scale:
            flags.append(f"temperature drifted during production: {a.text(4)} K in its first half, {b.text(4)} K in "
                         "its second; the run was not at a steady state (equilibrate longer)")
    return flags


def from_summary(summary: dict[str, Any]) -> Estimate | None:
    """The achieved temperature recorded in a run's summary, or None for summaries written before it was."""
    entry = summary.get("state_point")
    return Estimate.from_json(entry["temperature_K"]) if isinstance(entry, dict) and "temperature_K" in entry else None


def reached_text(summary: dict[str, Any]) -> str | None:
    """The temperature a run reached as a figure labels it (``3025 ± 97 K``), or None where its summary has no
    value for it (an older summary, or a temperature that could not be measured)."""
    reached = from_summary(summary)
    if reached is None or reached.kind != "value" or not math.isfinite(reached.value):
        return None
    error = f" ± {reached.stderr:.0f}" if math.isfinite(reached.stderr) else ""
    return f"{reached.value:.0f}{error} K"


__all__ = ["STATE_POINT", "StatePoint", "kinetic_temperature_K", "block_standard_error", "measure", "series_estimate"]
