"""A trained model (or committee) against reference frames it was not trained on: ``meltdyn evaluate``.

The errors are those of :mod:`~meltdyn.plugins.potentials.painn.metrics` (MAE and RMSE of the energy per atom, the
force components, all atoms and per species, and the stress), each RMSE with a standard error, since held-out
frames often come from one MD trajectory and are correlated in time: the frames, in their order, are cut into
consecutive blocks, and the error of the mean squared error is the scatter of the blocks' means over √blocks (as
meltdyn's structure observables do with frames). For a committee the members' spread is set beside the error, and
whether the spread *ranks* frames as the error does: the rank correlation over frames between DP-GEN's model
deviation (the largest atomic force spread) and the largest atomic force error, which is what selecting frames by
the deviation relies on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from meltdyn.plugin import EV_A3_TO_GPA, LabelledFrame

BLOCKS = 10
"""Consecutive blocks of frames behind each RMSE's standard error (fewer where there are fewer frames)."""


def _blocks(n: int, blocks: int) -> list[np.ndarray]:
    return [b for b in np.array_split(np.arange(n), min(blocks, n)) if b.size]


def _rmse_with_error(per_frame_mse: np.ndarray, weights: np.ndarray, blocks: int, scale: float
                     ) -> dict[str, float | int | None]:
    """RMSE over frames (each frame's mean squared error weighted by its count of components) with the standard
    error from consecutive blocks; None where fewer than two blocks exist."""
    mse = float(np.sum(per_frame_mse * weights) / np.sum(weights))
    parts = _blocks(len(per_frame_mse), blocks)
    block_mse = np.array([np.sum(per_frame_mse[b] * weights[b]) / np.sum(weights[b]) for b in parts])
    rmse = np.sqrt(mse)
    if len(parts) < 2 or rmse == 0:
        return {"rmse": float(rmse * scale), "stderr": None, "blocks": len(parts)}
    # d sqrt(m) = dm / (2 sqrt(m))
    return {"rmse": float(rmse * scale), "stderr": float(block_mse.std(ddof=1) / np.sqrt(len(parts)) / (2 * rmse)
                                                         * scale), "blocks": len(parts)}


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rank correlation (tied values share their mean rank), None for fewer than three frames or a
    constant series, which ranks nothing."""
    from scipy.stats import rankdata

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])


def evaluate_model(model_dir: str | Path, frames: list[LabelledFrame], batch_size: int = 8,
                   blocks: int = BLOCKS) -> dict[str, Any]:
    """Errors of the model in ``model_dir`` (its committee's mean where it is one, as MD runs it) on ``frames``,
    with standard errors from ``blocks`` consecutive blocks of frames; for a committee, the members' spread and how
    well it ranks the frames' errors (see the module docstring)."""
    from meltdyn.plugins.potentials.painn import read_model_meta
    from meltdyn.plugins.potentials.painn.metrics import (
        committee_mean, committee_spread, errors, max_force_deviation, predict,
    )
    from meltdyn.plugins.potentials.painn.model import training_frames
    from meltdyn.plugins.potentials.painn.runtime import load_members

    if not frames:
        raise ValueError("evaluate: no reference frames to evaluate the model on")
    directory = Path(model_dir)
    meta = read_model_meta(directory)
    unknown = sorted({s for f in frames for s in f.symbols} - set(meta["species"]))
    if unknown:
        raise ValueError(f"data: the frames hold {unknown}, which the model in {str(directory)!r} was not trained on "
                         f"(its species: {meta['species']})")
    members = load_members(directory, meta)
    data = [f.with_neighbours(meta["architecture"]["cutoff_A"]) for f in training_frames(frames)]
    predictions = [predict(m, data, batch_size) for m in members]
    mean = committee_mean(predictions)
    everything = list(range(len(data)))
    out: dict[str, Any] = {"model_dir": str(directory), "members": len(members), **errors(data, mean, everything)}

    atoms = np.array([len(f.numbers) for f in data], dtype=float)
    force_sq = np.array([np.mean((mean.forces[i] - data[i].forces) ** 2) for i in everything])
    energy_sq = np.array([((mean.energy[i] - data[i].energy) / atoms[i]) ** 2 for i in everything])
    stress_sq = np.array([np.mean((mean.stress[i] - data[i].stress) ** 2) for i in everything])
    uncertainty = {"method": "scatter of consecutive blocks of frames / sqrt(blocks), frames in their order",
                   "force_rmse_meV_per_A": _rmse_with_error(force_sq, 3 * atoms, blocks, 1e3),
                   "energy_rmse_meV_per_atom": _rmse_with_error(energy_sq, np.ones_like(atoms), blocks, 1e3)}
    stressed = np.isfinite(stress_sq)
    if stressed.any():
        uncertainty["stress_rmse_GPa"] = _rmse_with_error(stress_sq[stressed], np.ones(stressed.sum()), blocks,
                                                          EV_A3_TO_GPA)
    out["uncertainty"] = uncertainty
    out["force_rms_reference_meV_per_A"] = float(
        np.sqrt(np.mean(np.concatenate([f.forces.ravel() for f in data]) ** 2)) * 1e3)
    if len(members) > 1:
        spread = committee_spread(predictions, everything)
        deviation = np.array([max_force_deviation(np.stack([p.forces[i] for p in predictions])) for i in everything])
        worst = np.array([np.linalg.norm(mean.forces[i] - data[i].forces, axis=1).max() for i in everything])
        spread["force_rmse_over_spread"] = (out["force_rmse_meV_per_A"] / spread["force_spread_rms_meV_per_A"]
                                            if spread["force_spread_rms_meV_per_A"] > 0 else None)
        spread["deviation_error_rank_correlation"] = _rank_correlation(deviation, worst)
        spread["max_atomic_force_error_mean_eV_per_A"] = float(worst.mean())
        out["committee"] = spread
    return out


def read_frames(paths: list[str]) -> list[LabelledFrame]:
    """Labelled frames from meltdyn's dataset.db files (a training's reference data) or anything the ``ase_file``
    labeller reads (extxyz, VASP, ...), in the order given."""
    from meltdyn.plugin import discover, validate_section
    from meltdyn.plugins.potentials.painn.dataset import load_dataset

    frames: list[LabelledFrame] = []
    others: list[str] = []

    def flush() -> None:
        if others:
            registry = discover()
            labeller = registry.build("labeller", validate_section(registry, "labeller", {
                "plugin": "ase_file", "paths": list(others), "require_stress": False}, "data"))
            frames.extend(f for batch in labeller.batches(registry) for f in batch)
            others.clear()

    for path in paths:
        if path.endswith(".db"):
            flush()
            if not Path(path).is_file():
                raise ValueError(f"data: {path!r} is not a file")
            try:
                frames.extend(load_dataset(Path(path))[0])
            except Exception as exc:  # sqlite and ASE raise their own kinds on a file that is no dataset
                raise ValueError(f"data: {path!r} cannot be read as meltdyn's reference data (dataset.db) "
                                 f"({type(exc).__name__}: {str(exc)[:200]})") from None
        else:
            others.append(path)
    flush()
    return frames


def table(result: dict[str, Any]) -> str:
    """What ``meltdyn evaluate`` prints: each error with its standard error, and the committee's spread."""
    u = result["uncertainty"]

    def pm(entry: dict[str, Any], digits: int) -> str:
        return f"{entry['rmse']:.{digits}f}" + (f" ± {entry['stderr']:.{digits}f}" if entry["stderr"] is not None
                                                else "")

    lines = [f"{result['frames']} frames, {result['atoms']} atoms; model {result['model_dir']} "
             f"({result['members']} member{'s' if result['members'] > 1 else ''})",
             f"  energy RMSE {pm(u['energy_rmse_meV_per_atom'], 2)} meV/atom (MAE "
             f"{result['energy_mae_meV_per_atom']:.2f})",
             f"  force RMSE {pm(u['force_rmse_meV_per_A'], 0)} meV/Å (MAE {result['force_mae_meV_per_A']:.0f}; "
             f"reference forces' RMS {result['force_rms_reference_meV_per_A']:.0f})"]
    lines += [f"    {s}: {e['force_rmse_meV_per_A']:.0f} meV/Å over {e['atoms']} atoms"
              for s, e in result["force_by_species"].items()]
    if "stress_rmse_GPa" in u:
        lines.append(f"  stress RMSE {pm(u['stress_rmse_GPa'], 3)} GPa")
    if "committee" in result:
        c = result["committee"]
        rho = c["deviation_error_rank_correlation"]
        ratio = c["force_rmse_over_spread"]
        lines.append(f"  committee force spread (RMS) {c['force_spread_rms_meV_per_A']:.0f} meV/Å: the error is "
                     f"{'n/a' if ratio is None else f'{ratio:.1f}'}x the spread; model deviation vs largest atomic "
                     f"error, rank correlation over frames {'n/a' if rho is None else f'{rho:.2f}'}")
    lines.append(f"  ± : {u['method']} ({u['force_rmse_meV_per_A']['blocks']} blocks)")
    return "\n".join(lines)
