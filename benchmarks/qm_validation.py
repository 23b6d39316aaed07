"""Validation against the QM reference: a PaiNN committee learned by ``meltdyn learn`` from GFN1-xTB, compared with
GFN1-xTB itself on held-out frames (force error against the committee's spread) and in MD (structure and D of Na).

Made beforehand (each resumes if interrupted; about 35 and 45 minutes on one core each, so both at once on two):

    OMP_NUM_THREADS=1 meltdyn train --label-only examples/qm/ns2-xtb-heldout.yaml   # held-out GFN1-xTB MD
    OMP_NUM_THREADS=1 meltdyn learn examples/qm/ns2-xtb-learn.yaml                 # the loop

then this script (about 25 minutes: the PaiNN MD study is run or resumed here):

    python benchmarks/qm_validation.py [--output benchmarks/results/qm-validation-2cpu.json]

1. Held-out frames: every ``--every``-th frame of the held-out xTB MD (50 fs apart), evaluated with each
   iteration's committee (``meltdyn evaluate``'s function): errors with standard errors over consecutive blocks of
   frames, the committee's spread and how it ranks the frames' errors.
2. MD: the held-out xTB MD (2 ps, one run) and the committee's MD at the same state point (six replicas of 2 ps,
   the same thermostat and sampling) analysed with the same observables: first peaks and coordination of Si–O and
   Na–O, Qn, D per species over the same lag window, and the temperature each reached.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from meltdyn import analyse_trajectory, load_study
from meltdyn.plugin import StudyError, estimate_at, kinetic_temperature_K, select
from meltdyn.plugins.potentials.painn.dataset import load_dataset
from meltdyn.plugins.potentials.painn.evaluate import evaluate_model

ROOT = Path(__file__).resolve().parent.parent
HELDOUT = ROOT / "runs/qm/heldout"
LEARNING = ROOT / "runs/qm/learn"
STUDY = ROOT / "examples/qm/ns2-painn-md.yaml"
ANALYSIS = ROOT / "examples/qm/ns2-xtb-md-analysis.yaml"
PAIRS = (("Si", "O"), ("Na", "O"))
SPECIES = ("Na", "O", "Si")


def held_out_errors(every: int) -> tuple[list[dict[str, Any]], int, float]:
    """Each iteration's committee on every ``every``-th held-out frame; how many, and how far apart (fs)."""
    frames, provenance = load_dataset(HELDOUT / "dataset.db")
    md = provenance["reference_data"]
    spacing_fs = every * md["every_steps"] * md["timestep_fs"]
    chosen = frames[::every]
    learning = json.loads((LEARNING / "learning.json").read_text())
    rows = []
    for it in learning["iterations"]:
        model = LEARNING / f"iter-{it['iteration']:03d}" / "model"
        result = evaluate_model(model, chosen)
        rows.append({"iteration": it["iteration"], "training_frames": it["training_frames"],
                     "uncertain_fraction_explored": it["uncertain_fraction"], **result})
    return rows, len(chosen), spacing_fs


def write_trajectory(path: Path) -> None:
    """The held-out xTB MD as an extxyz trajectory (the labelled frames in order, a step number in each)."""
    import ase
    import ase.io

    if path.exists():
        return
    frames, provenance = load_dataset(HELDOUT / "dataset.db")
    every = provenance["reference_data"]["every_steps"]
    images = []
    for k, f in enumerate(frames):
        atoms = ase.Atoms(f.symbols, positions=f.positions_A, cell=f.cell_A, pbc=True)
        atoms.info["step"] = (k + 1) * every
        images.append(atoms)
    tmp = path.with_name(path.name + ".tmp")
    ase.io.write(tmp, images, format="extxyz")
    tmp.replace(path)


def xtb_temperature() -> dict[str, float]:
    """The kinetic temperature the held-out xTB MD reached: mean over frames, error from 10 consecutive blocks."""
    from ase.data import atomic_masses, atomic_numbers

    frames, _ = load_dataset(HELDOUT / "dataset.db")
    masses = np.array([atomic_masses[atomic_numbers[s]] for s in frames[0].symbols])
    t = kinetic_temperature_K(np.stack([f.velocities_A_fs for f in frames]) * 1e3, masses)
    blocks = np.array([b.mean() for b in np.array_split(t, 10)])
    return {"mean": float(t.mean()), "sem": float(blocks.std(ddof=1) / np.sqrt(len(blocks)))}


def quantities(results: Any, summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The compared numbers of one analysed trajectory, each as value, error and note."""
    def entry(estimate: Any) -> dict[str, Any]:
        return {"value": estimate.value, "stderr": estimate.stderr, "note": estimate.note}

    out = {"temperature_K": summary["state_point"]["temperature_K"]} if "state_point" in summary else {}
    s = results["structure"]
    for a, b in PAIRS:
        out[f"first_peak_r_{a}_{b}_A"] = entry(estimate_at(s, "first_peak_r", center=a, neighbour=b))
        out[f"coordination_{a}_{b}"] = entry(estimate_at(s, "first_shell_coordination", center=a, neighbour=b))
    network = results["network"]
    for n in network["n"].values.tolist():
        out[f"Q{n}_fraction"] = entry(estimate_at(network, "Qn_fraction", n=n))
    msd = results["msd"]
    for sp in SPECIES:
        out[f"D_{sp}_A2_per_ps"] = entry(estimate_at(msd, "D", species=sp))
        out[f"diffusive_exponent_{sp}"] = {"value": float(select(msd, "diffusive_exponent", species=sp)),
                                           "stderr": None, "note": ""}
    return out


def painn_md() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The committee's MD: per replica, then mean over replicas with the standard error of that mean."""
    learning = json.loads((LEARNING / "learning.json").read_text())
    spec = yaml.safe_load(STUDY.read_text())
    final = Path(learning["final_model"])
    if (ROOT / spec["potential"]["model_dir"]).resolve() != (ROOT / final).resolve():
        raise SystemExit(f"{STUDY} runs {spec['potential']['model_dir']}, but the loop's final model is {final}: "
                         "point potential.model_dir at it")
    study = load_study(STUDY)
    try:
        study.run(progress=False)
    except StudyError as exc:  # a replica that blew up is a result too: counted, its message kept
        print(f"some replicas failed:\n{exc}")
    rows, failed = [], []
    for run in study.runs:
        if run.completed:
            rows.append(quantities(run.results(), run.summary()))
        else:
            failed.append({"run": run.id, "status": run.status})
    if not rows:
        raise SystemExit("no replica of the committee's MD completed")
    merged: dict[str, Any] = {"replicas_completed": len(rows), "replicas_failed": failed}
    for key in rows[0]:
        values = np.array([r[key]["value"] for r in rows], dtype=float)
        merged[key] = {"value": float(np.nanmean(values)),
                       "stderr": float(np.nanstd(values, ddof=1) / np.sqrt(np.isfinite(values).sum())),
                       "note": f"mean ± s.e. over {np.isfinite(values).sum()} replicas",
                       "replica_notes": sorted({r[key].get("note", "") for r in rows} - {""})}
    return merged, rows


def xtb_md() -> dict[str, Any]:
    write_trajectory(HELDOUT / "trajectory.extxyz")
    spec = yaml.safe_load(ANALYSIS.read_text())
    out = ROOT / spec["output_dir"]
    if not (out / "results.h5").exists():
        analyse_trajectory(ANALYSIS)
    from meltdyn.analysis.results import load_results

    result = quantities(load_results(out / "results.h5"), json.loads((out / "summary.json").read_text()))
    temperature = xtb_temperature()
    result["temperature_K"] = {"value": temperature["mean"], "stderr": temperature["sem"],
                               "note": "kinetic, from the labelled frames' velocities (10 blocks)"}
    return result


def _pm(entry: dict[str, Any] | None, digits: int) -> str:
    if entry is None:
        return "—"
    value, err = entry.get("value"), entry.get("stderr")
    if value is None or not np.isfinite(value):
        return "—"
    text = f"{value:.{digits}f}" + (f" ± {err:.{digits}f}" if err is not None and np.isfinite(err) else "")
    return text + (" (apparent)" if "apparent" in entry.get("note", "") + " ".join(entry.get("replica_notes", []))
                   else "")


def markdown(result: dict[str, Any]) -> str:
    lines = [f"Held-out GFN1-xTB frames: {result['held_out_frames']} (every {result['every']}th of the held-out MD, "
             f"{result['spacing_fs']:g} fs apart); ± over 10 consecutive blocks of them.", "",
             "| iteration | frames trained on | force RMSE (meV/Å) | energy RMSE (meV/atom) | stress RMSE (GPa) "
             "| force spread (meV/Å) | RMSE / spread | rank corr. deviation–error |", "|" + "---|" * 8]
    for r in result["held_out"]:
        u, c = r["uncertainty"], r["committee"]
        lines.append(f"| {r['iteration']} | {r['training_frames']} | {_pm(_as(u['force_rmse_meV_per_A']), 0)} | "
                     f"{_pm(_as(u['energy_rmse_meV_per_atom']), 1)} | {_pm(_as(u.get('stress_rmse_GPa')), 2)} | "
                     f"{c['force_spread_rms_meV_per_A']:.0f} | {c['force_rmse_over_spread']:.1f} | "
                     f"{c['deviation_error_rank_correlation']:.2f} |")
    xtb, painn = result["xtb_md"], result["painn_md"]
    lines += ["", f"| quantity | GFN1-xTB MD (one run, 2 ps; ± from 10 blocks) | PaiNN committee MD "
              f"({painn['replicas_completed']} replicas of 2 ps; mean ± s.e.) |", "|---|---|---|"]
    rows = [("temperature_K", "temperature reached (K)", 0)]
    rows += [(f"first_peak_r_{a}_{b}_A", f"g {a}–{b} first peak (Å)", 3) for a, b in PAIRS]
    rows += [(f"coordination_{a}_{b}", f"{a}–{b} first-shell coordination", 2) for a, b in PAIRS]
    rows += [(f"Q{n}_fraction", f"Q{n}", 2) for n in range(5) if f"Q{n}_fraction" in xtb]
    rows += [(f"D_{s}_A2_per_ps", f"D {s} (Å²/ps, 0.2–1 ps)", 2) for s in SPECIES]
    for key, label, digits in rows:
        lines.append(f"| {label} | {_pm(xtb.get(key), digits)} | {_pm(painn.get(key), digits)} |")
    for failure in painn["replicas_failed"]:
        lines.append(f"\nReplica {failure['run']} failed: {failure['status'].get('message', '')}")
    return "\n".join(lines)


def _as(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if entry is None else {"value": entry["rmse"], "stderr": entry["stderr"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=10, help="held-out frames used: every this many (default 10)")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/qm-validation-2cpu.json")
    args = parser.parse_args()
    held_out, n, spacing_fs = held_out_errors(args.every)
    painn, replicas = painn_md()
    result = {"every": args.every, "spacing_fs": spacing_fs, "held_out_frames": n, "held_out": held_out,
              "xtb_md": xtb_md(),
              "painn_md": painn, "painn_md_replicas": replicas,
              "learning": json.loads((LEARNING / "learning.json").read_text())}
    args.output.write_text(json.dumps(result, indent=2, default=float))
    table = markdown(result)
    args.output.with_suffix(".md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
