"""Benchmarks as a regression check: rerun them and compare each ratio against its peer with the recorded one.

Ratios (meltdyn's time over a peer's, measured in the same run) travel between machines far better than times, yet
not perfectly: a check fails only when a ratio has grown by more than ``--tolerance`` (default 50 %) over the
record, and a failure on a new machine means "measure again and compare with the commit that made the record" —
the command to re-record is printed. Exit status 1 if any ratio regressed.

    python benchmarks/regress.py [--only engine_cpu structure] [--tolerance 0.5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Check:
    name: str
    script: str
    args: tuple[str, ...]
    record: str  # under benchmarks/results/
    ratios: dict[str, tuple]  # label -> path into the record's JSON

    def command(self, out: Path) -> list[str]:
        return [sys.executable, str(HERE / self.script), *self.args, "--out", str(out)]


CHECKS = [
    Check("engine_cpu", "engine_cpu.py", ("--atoms", "1000", "--steps", "300", "--threads", "2"),
          "engine-cpu-2cpu.json",
          {"openmm engine / LAMMPS (999 atoms)": ("rows", 0, "time_ratio_openmm_over_lammps"),
           "lammps engine / LAMMPS (999 atoms)": ("rows", 0, "time_ratio_meltdyn_lammps_engine_over_lammps")}),
    Check("structure", "structure.py", ("--atoms", "3000", "--frames", "2000"), "structure-2cpu.json",
          {"structure / freud RDF": ("ratios", "structure / freud"),
           "chi4 / atooms-pp": ("ratios", "chi4 / atooms-pp")}),
]


def _at(data: object, path: tuple) -> float:
    for key in path:
        data = data[key]  # type: ignore[index]
    return float(data)  # type: ignore[arg-type]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=[c.name for c in CHECKS])
    p.add_argument("--tolerance", type=float, default=0.5, help="allowed growth of a ratio (0.5: 50 %%)")
    args = p.parse_args()
    regressed = []
    print(f"{'ratio':38s} {'recorded':>9s} {'now':>9s} {'now/rec':>8s}")
    for check in CHECKS:
        if args.only and check.name not in args.only:
            continue
        recorded = json.loads((HERE / "results" / check.record).read_text())
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "now.json"
            done = subprocess.run(check.command(out), capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{check.name}: failed to run\n{done.stderr[-2000:]}")
                regressed.append(check.name)
                continue
            now = json.loads(out.read_text())
        for label, path in check.ratios.items():
            then, value = _at(recorded, path), _at(now, path)
            verdict = "REGRESSED" if value > then * (1 + args.tolerance) else "ok"
            print(f"{label:38s} {then:9.3g} {value:9.3g} {value / then:8.2f}  {verdict}")
            if verdict != "ok":
                regressed.append(label)
                print(f"  re-record on this machine: python {' '.join(check.command(Path('benchmarks/results') / check.record)[1:])}")
    if regressed:
        print(f"regressed: {', '.join(regressed)}")
    return 1 if regressed else 0


if __name__ == "__main__":
    sys.exit(main())
