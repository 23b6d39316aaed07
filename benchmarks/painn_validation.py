"""Validation: MD with a PaiNN trained on SHIK labels vs SHIK's own MD at the same state point.

The model is the one `meltdyn train examples/training/painn-ns-validation.yaml` writes; the two studies
`examples/validation/ns2-3000K-{shik,painn}.yaml` differ only in the potential (same atoms, seed, protocol and
observables). This script runs or resumes both studies, then sets side by side the NPT density at 1 GPa, the
diffusion coefficients, the F_s relaxation times and the α2 peaks per species, plus the model's held-out test
errors. Each runs several replicas, so their spread shows how much of a difference is statistics.

    python benchmarks/painn_validation.py [--output results/painn-validation-2cpu.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from meltdyn.plugin import estimate_at, select
from meltdyn.plugins.potentials.painn.dataset import load_dataset
from meltdyn.study.runner import Study, load_study

ROOT = Path(__file__).resolve().parent.parent
STUDIES = {"SHIK": ROOT / "examples/validation/ns2-3000K-shik.yaml",
           "PaiNN": ROOT / "examples/validation/ns2-3000K-painn.yaml"}
MODEL_DIR = ROOT / "models/painn-ns-validation"
SPECIES = ("Na", "O", "Si")


def run_quantities(study: Study) -> list[dict[str, float]]:
    """One row per replica: density from the NPT stage, then D, τ_α, α2 peak per species."""
    rows = []
    for run in study.runs:
        results = run.results()
        provenance = json.loads((run.dir / "provenance.json").read_text())
        (npt,) = [v for k, v in provenance["engine"]["measured"].items() if k.endswith(":npt")]
        row = {"density_g_cm3": npt["mean_density_g_cm3"]}
        for s in SPECIES:
            row[f"D_{s}_A2_per_ps"] = estimate_at(results["msd"], "D", species=s).value
            row[f"diffusive_exponent_{s}"] = float(select(results["msd"], "diffusive_exponent", species=s))
            q = float(results["isf"]["q"].values[0])
            row[f"tau_alpha_{s}_ps"] = estimate_at(results["isf"], "tau_alpha", species=s, q=q).value
            row[f"alpha2_peak_{s}"] = estimate_at(results["alpha2"], "peak_height", species=s).value
        rows.append(row)
    return rows


def aggregate(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean over replicas and, where there are several, the standard error of that mean."""
    out = {}
    for key in rows[0]:
        values = np.array([r[key] for r in rows])
        sem = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None
        out[key] = {"mean": float(values.mean()), "sem": sem, "replicas": len(values)}
    return out


def markdown(result: dict[str, Any]) -> str:
    shik, painn = result["SHIK"], result["PaiNN"]

    def cell(entry: dict[str, Any], digits: int) -> str:
        text = f"{entry['mean']:.{digits}f}"
        return text + (f" ± {entry['sem']:.{digits}f}" if entry["sem"] is not None else "")

    lines = [f"| quantity | SHIK ({shik['density_g_cm3']['replicas']} replicas, mean ± s.e.) | "
             f"PaiNN ({painn['density_g_cm3']['replicas']} replicas) | PaiNN / SHIK |",
             "|---|---|---|---|"]
    for key, label, digits in [("density_g_cm3", "density at 1 GPa (g/cm³)", 3)] + [
            (f"{q}_{s}{u}", f"{name} {s}", d) for s in SPECIES for q, name, u, d in
            [("D", "D (Å²/ps)", "_A2_per_ps", 3), ("tau_alpha", "τ_α at q = 1.7 Å⁻¹ (ps)", "_ps", 3),
             ("alpha2_peak", "α2 peak", "", 2)]]:
        lines.append(f"| {label} | {cell(shik[key], digits)} | {cell(painn[key], digits)} | "
                     f"{painn[key]['mean'] / shik[key]['mean']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/painn-validation-2cpu.json")
    args = parser.parse_args()
    model = json.loads((MODEL_DIR / "model.json").read_text())
    result: dict[str, Any] = {"model": {k: model[k] for k in ("architecture", "training_frames", "test_metrics",
                                                              "training_set_sha256")}}
    frames, _ = load_dataset(MODEL_DIR / "dataset.db")
    test = json.loads((MODEL_DIR / "training.json").read_text())["split"]["test"]
    # The scale the force error is read against: SHIK's forces at 2500-3500 K are larger than DFT's at 300 K.
    result["model"]["test_force_rms_meV_per_A"] = float(
        np.sqrt(np.mean(np.concatenate([frames[i].forces_eV_A.ravel() for i in test]) ** 2)) * 1e3)
    for name, path in STUDIES.items():
        study = load_study(path)
        study.run(progress=False)
        rows = run_quantities(study)
        result[name] = aggregate(rows)
        result[f"{name}_replicas"] = rows
    args.output.write_text(json.dumps(result, indent=2))
    print(json.dumps({**result["model"]["test_metrics"],
                      "test_force_rms_meV_per_A": result["model"]["test_force_rms_meV_per_A"]}, indent=2))
    print(markdown(result))


if __name__ == "__main__":
    main()
