"""Whether ``training.ema_decay`` should be on by default: the same data, architecture and recipe trained with
and without an exponential moving average of the weights, from several seeds, judged on held-out frames.

Data: the GFN1-xTB frames the QM validation's loop ended with (``runs/qm/learn/iter-NNN/training_data.extxyz``,
see benchmarks/qm_validation.py); held-out: every 10th frame of the independent GFN1-xTB MD
(``runs/qm/heldout/dataset.db``). Each training is one model (no committee), from scratch, in its own directory
(resumed if there).

    python benchmarks/ema.py [--data FILE.extxyz] [--seeds 3] [--decays none 0.99 0.999] [--output benchmarks/results/ema-2cpu.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import yaml

from meltdyn.plugins.potentials.painn.dataset import load_dataset
from meltdyn.plugins.potentials.painn.evaluate import evaluate_model
from meltdyn.plugins.potentials.painn.workflow import train_from_spec

ROOT = Path(__file__).resolve().parent.parent
LEARNING = ROOT / "runs/qm/learn"
HELDOUT = ROOT / "runs/qm/heldout/dataset.db"
RECIPE = ROOT / "examples/qm/ns2-xtb-learn.yaml"
KEYS = (("force_rmse_meV_per_A", "force RMSE (meV/Å)", 0), ("energy_rmse_meV_per_atom", "energy RMSE (meV/atom)", 1),
        ("stress_rmse_GPa", "stress RMSE (GPa)", 3))


def _data() -> Path:
    """The largest training set the loop wrote (its last iteration's)."""
    files = sorted(LEARNING.glob("iter-*/training_data.extxyz"))
    if not files:
        raise SystemExit(f"no {LEARNING}/iter-*/training_data.extxyz: run meltdyn learn {RECIPE} first")
    return files[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="training frames (extxyz); default: the loop's last iteration's")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--decays", nargs="+", default=["none", "0.99", "0.999"])
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/ema-2cpu.json")
    args = parser.parse_args()
    recipe = yaml.safe_load(RECIPE.read_text())
    data = (args.data or _data()).resolve()
    held_out = load_dataset(HELDOUT)[0][::10]
    result = {"training_data": str(data.relative_to(ROOT)), "held_out_frames": len(held_out), "runs": []}
    for decay in args.decays:
        for seed in range(args.seeds):
            training = {k: v for k, v in recipe["training"].items() if k != "committee"}
            training.update(seed=seed, ema_decay=None if decay == "none" else float(decay))
            out = ROOT / f"runs/qm/ema/{decay}-seed{seed}"
            trained = train_from_spec({"name": f"ema-{decay}-{seed}", "output_dir": str(out),
                                       "reference_data": {"plugin": "ase_file", "paths": [str(data)],
                                                          "require_stress": False},
                                       "model": recipe["model"], "training": training})
            errors = evaluate_model(out, held_out)
            result["runs"].append({"ema_decay": decay, "seed": seed, "epochs": trained["epochs"],
                                   **{k: errors[k] for k, _, _ in KEYS}})
    lines = ["| ema_decay | " + " | ".join(label for _, label, _ in KEYS) + " | epochs |", "|---" * 5 + "|"]
    for decay in args.decays:
        rows = [r for r in result["runs"] if r["ema_decay"] == decay]
        cells = []
        for key, _, digits in KEYS:
            v = np.array([r[key] for r in rows])
            cells.append(f"{v.mean():.{digits}f} ± {v.std(ddof=1) / np.sqrt(len(v)):.{digits}f}")
        lines.append(f"| {decay} | " + " | ".join(cells) + f" | {np.mean([r['epochs'] for r in rows]):.0f} |")
    result["table"] = "\n".join(lines)
    args.output.write_text(json.dumps(result, indent=2))
    print(result["table"])


if __name__ == "__main__":
    main()
