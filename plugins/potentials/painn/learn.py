"""``meltdyn learn LEARN.yaml``: concurrent learning of a PaiNN committee, as DP-GEN does it.

Each iteration, in its own directory ``iter-NNN`` under output_dir:

1. **train** a committee (``model/``, a ``meltdyn train`` directory): iteration 0 on ``initial_data``, every later
   one fine-tuned from the previous committee (each member from its predecessor) on all data labelled so far; its
   members in parallel through the exploration's executor where ``explore`` names one;
2. **explore**: MD with the committee at the study's state points (``explore/``, a meltdyn study with the
   ``model_deviation`` observable); the *uncertain fraction* is the share of frames evaluated whose max atomic
   force deviation reaches trust_lo;
   with ``selection.stop_exploration_at_eV_A`` the committee also checks its MD as it runs and stops a run beyond
   trust (:mod:`meltdyn.engine.trust`); a run that fails is left out, the others go on;
3. **stop** when that fraction is below ``stop.uncertain_fraction`` and no exploration run ended early
   (converged), or when ``stop.max_iterations`` are spent;
4. **select** candidates (trust_lo ≤ deviation < trust_hi; beyond trust_hi the configuration is likely unphysical,
   as DP-GEN holds): most uncertain first, at most ``max_frames_per_iteration``, no two of one run closer than
   ``min_separation_frames`` (deduplicated: consecutive frames repeat each other);
5. **label** them with the reference, frame by frame (``labelled.extxyz``; an interrupted labelling keeps every
   frame it finished), and add them to the next iteration's ``training_data.extxyz``.

Every step resumes: a training or study interrupted resumes as ``meltdyn train`` and ``meltdyn run`` do; frames
selected are recorded (``selected.json``) before any is labelled, and an iteration's numbers (``iteration.json``)
once trained and explored, so a rerun recomputes none of them. ``learning.json`` and ``learning.md`` report each
iteration: frames trained on, test errors, the committee's spread, the exploration's fractions.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, ValidationError, model_validator

from meltdyn.plugin import (
    EV_A3_TO_GPA, MAX_STRESS_EV_A3, STATE_POINT, TRUST_STOP, AtomicSystem, LabelledFrame, Registry, Spec,
    StudyError, calculator_class, check_labelled, claim, discover, invalid, plugin_union, read_study_file, write_json_atomic,
)
from meltdyn.plugins.potentials.painn.deviation import check_trust_bounds
from meltdyn.plugins.potentials.painn.workflow import ArchitectureSpec, TrainingSpec, train_from_spec

log = logging.getLogger(__name__)

EXPLORE_SECTIONS = ("seed", "system", "sweep", "engine", "protocol", "analysis", "executor")


class ReferenceSpec(Spec):
    """What labels the selected frames: a registered potential with OpenMM forces (SHIK, for a toy loop), or an ASE
    calculator (GFN1-xTB through tblite, a DFT code)."""

    potential: dict[str, Any] | None = Field(None, description="A potential section, e.g. {plugin: shik}.")
    calculator: str | None = Field(None, max_length=300, description="'module:Class' of an ASE calculator (checked "
                                   "before anything runs), e.g. 'tblite.ase:TBLite'.")
    calculator_kwargs: dict[str, Any] = Field({}, description="Keyword arguments for the calculator.")

    @model_validator(mode="after")
    def _one(self) -> ReferenceSpec:
        if (self.potential is None) == (self.calculator is None):
            raise ValueError("give exactly one of potential and calculator")
        if self.calculator is not None:
            calculator_class(self.calculator)
        return self


class FineTuneSpec(Spec):
    max_epochs: int = Field(30, ge=1, le=1_000_000, description="Epochs of each later iteration's fine-tuning.")
    learning_rate: float | None = Field(None, gt=0, description="Its learning rate. Default: the training's.")


class SelectionSpec(Spec):
    trust_lo_eV_A: float = Field(0.05, gt=0, le=100, description="Max atomic force deviation from which a frame is "
                                 "uncertain (DP-GEN's f_trust_lo).")
    trust_hi_eV_A: float = Field(0.15, gt=0, le=100, description="From which a frame is taken as failed and not "
                                 "labelled (DP-GEN's f_trust_hi).")
    max_frames_per_iteration: int = Field(20, ge=1, le=100_000, description="Frames labelled per iteration at most.")
    min_separation_frames: int = Field(2, ge=1, le=100_000, description="No two frames selected from one run closer "
                                       "than this in the trajectory.")
    frames_evaluated: int = Field(50, ge=1, le=100_000, description="Frames of each exploration run whose deviation "
                                  "is evaluated (model_deviation's max_frames).")
    stop_exploration_at_eV_A: float | None = Field(
        None, gt=0, le=100, description="Stop an exploration run where the committee's deviation, checked during "
        "its MD, reaches this (the painn potential's trust.stop_at_eV_A; at least trust_hi): its frames before the "
        "stop are evaluated and selected from, and the time after it is not spent on configurations beyond trust. "
        "A run stopped before production, or one that failed, is left out; an iteration with either does not count "
        "as converged. Default: no check during the exploration's MD.")

    @model_validator(mode="after")
    def _ordered(self) -> SelectionSpec:
        check_trust_bounds(self.trust_lo_eV_A, self.trust_hi_eV_A)
        stop = self.stop_exploration_at_eV_A
        if stop is not None and stop < self.trust_hi_eV_A:
            raise ValueError(f"stop_exploration_at_eV_A ({stop:g}) is below trust_hi_eV_A ({self.trust_hi_eV_A:g}): "
                             "it would stop explorations at frames the loop still labels; give at least trust_hi")
        return self


class StopSpec(Spec):
    uncertain_fraction: float = Field(0.05, gt=0, lt=1, description="Converged when the share of explored frames at "
                                      "or beyond trust_lo falls below this.")
    max_iterations: int = Field(4, ge=1, le=1000, description="Iterations at most (each trains and explores once).")


def learn_model_spec(registry: Registry) -> type[BaseModel]:
    labeller = plugin_union(registry, "labeller")

    class LearnSpec(Spec):
        """An active-learning loop: initial data, a committee, a reference, and where and how to explore."""

        name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="The loop's name.")
        output_dir: str = Field(description="Where the iterations go (relative to the current directory); never "
                                "overwritten, resumed if interrupted.")
        reference: ReferenceSpec
        initial_data: labeller  # type: ignore[valid-type]
        model: ArchitectureSpec = ArchitectureSpec()
        training: TrainingSpec = Field(TrainingSpec(committee=4), description="The first iteration's training "
                                       "(committee of 2 or more); later iterations fine-tune with fine_tune's "
                                       "settings.")
        fine_tune: FineTuneSpec = FineTuneSpec()
        explore: dict[str, Any] = Field(description=f"A study's sections ({', '.join(EXPLORE_SECTIONS)}) for the "
                                        "exploration MD: meltdyn adds the committee as potential and the "
                                        "model_deviation observable.")
        selection: SelectionSpec = SelectionSpec()
        stop: StopSpec = StopSpec()

        @model_validator(mode="after")
        def _a_committee(self) -> LearnSpec:
            if self.training.committee < 2:
                raise ValueError("training.committee: a loop selects frames by the committee's disagreement; "
                                 "give 2 or more (4 is usual)")
            unknown = sorted(set(self.explore) - set(EXPLORE_SECTIONS))
            if unknown:
                raise ValueError(f"explore: {unknown} are not among the sections an exploration takes "
                                 f"({', '.join(EXPLORE_SECTIONS)}); potential, observables and output_dir are "
                                 "meltdyn's")
            return self

    return LearnSpec


def check_learning(source: str | Path | dict[str, Any], registry: Registry) -> Any:
    """The loop's file, checked as ``meltdyn learn`` would before writing: its sections, the reference, the first
    iteration's training and the exploration study (built with a stand-in model: only its shape is checked here)."""
    data = dict(source) if isinstance(source, dict) else read_study_file(source, "learning file")
    model_cls = learn_model_spec(registry)
    try:
        spec = model_cls.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc, model_cls, "learning file") from None
    if spec.reference.potential is not None:
        from meltdyn.plugin import validate_section

        section = validate_section(registry, "potential", spec.reference.potential, "reference.potential")
        offered = registry.get("potential", section.plugin).definition.outline(
            registry.params_of("potential", section)).interfaces
        if "openmm_forces" not in offered:
            raise StudyError(f"reference.potential: {section.plugin!r} gives no OpenMM forces, which labelling with a "
                             f"potential uses (it provides {sorted(offered)}); name one that does (shik), or an ASE "
                             "calculator")
    from meltdyn.plugins.potentials.painn.workflow import check_training

    check_training(_training(spec, Path(spec.output_dir) / "iter-000", 0), registry)
    return spec


def _iteration_dir(spec: Any, k: int) -> Path:
    return Path(spec.output_dir) / f"iter-{k:03d}"


def _training(spec: Any, directory: Path, k: int) -> dict[str, Any]:
    """The training file of iteration ``k``: the initial data first, then everything labelled, fine-tuned."""
    training = spec.training.model_dump(mode="json")
    if k == 0:
        data = spec.initial_data.model_dump(mode="json")
    else:
        data = {"plugin": "ase_file", "paths": [str(directory / "training_data.extxyz")],
                "require_stress": False}
        training.update(max_epochs=spec.fine_tune.max_epochs,
                        initial_model_dir=str(_iteration_dir(spec, k - 1) / "model"))
        if spec.fine_tune.learning_rate is not None:
            training["learning_rate"] = spec.fine_tune.learning_rate
        training.pop("atomic_energies_eV", None)  # the initial model's, which fine-tuning keeps
    return {"name": f"{spec.name}-iter{k:03d}", "output_dir": str(directory / "model"), "reference_data": data,
            "model": spec.model.model_dump(mode="json"), "training": training,
            **({"executor": spec.explore["executor"]} if "executor" in spec.explore else {})}


def _exploration(spec: Any, directory: Path) -> dict[str, Any]:
    model = str(directory / "model")
    s = spec.selection
    potential: dict[str, Any] = {"plugin": "painn", "model_dir": model}
    if s.stop_exploration_at_eV_A is not None:
        potential["trust"] = {"stop_at_eV_A": s.stop_exploration_at_eV_A}
    return {"name": f"{spec.name}-explore", "output_dir": str(directory / "explore"), **spec.explore,
            "potential": potential,
            "observables": [{"plugin": "model_deviation", "model_dir": model, "trust_lo_eV_A": s.trust_lo_eV_A,
                             "trust_hi_eV_A": s.trust_hi_eV_A, "max_frames": s.frames_evaluated}]}


def _explore(study: Any) -> list[str]:
    """Run the exploration; return the runs that failed (blown up, or stopped by the trust check before production).
    The loop goes on with the others; with none left it cannot."""
    try:
        study.run(progress=False)
    except StudyError as exc:
        failed = [run.id for run in study.runs if not run.completed]
        if len(failed) == len(study.runs):
            raise StudyError(f"every exploration run failed, nothing to select from:\n{exc}") from None
        log.warning("exploration runs %s failed and are left out:\n%s", failed, exc)
        return failed
    return []


def _deviations(study: Any) -> list[tuple[Any, np.ndarray, np.ndarray]]:
    """Each exploration run that completed with the frames evaluated and their max atomic force deviation."""
    out = []
    for run in study.runs:
        if not run.completed:
            continue
        results = run.results()["model_deviation"]
        out.append((run, results["frame"].values.astype(int), results["max_force_deviation"].values))
    return out


def select_frames(deviations: list[tuple[str, np.ndarray, np.ndarray]], lo: float, hi: float, most: int,
                  separation: int) -> list[dict[str, Any]]:
    """Candidates (lo ≤ σ < hi), most uncertain first, no two of one run closer than ``separation`` frames, at most
    ``most``: deterministic, so a resumed loop selects what the interrupted one did."""
    candidates = sorted(((float(s), run, int(f)) for run, frames, sigma in deviations
                         for f, s in zip(frames, sigma) if lo <= s < hi), key=lambda c: (-c[0], c[1], c[2]))
    chosen: list[dict[str, Any]] = []
    for sigma, run, frame in candidates:
        if len(chosen) == most:
            break
        if all(c["run"] != run or abs(c["frame"] - frame) >= separation for c in chosen):
            chosen.append({"run": run, "frame": frame, "max_force_deviation_eV_A": sigma})
    return chosen


class _Reference:
    """Labels configurations with the loop's reference (see :class:`ReferenceSpec`)."""

    def __init__(self, spec: ReferenceSpec, registry: Registry):
        self.spec = spec
        if spec.potential is not None:
            from meltdyn.plugin import validate_section

            self.potential = registry.build("potential", validate_section(registry, "potential", spec.potential,
                                                                          "reference.potential"))
        else:
            self.calculator = calculator_class(spec.calculator)(**spec.calculator_kwargs)

    def label(self, system: AtomicSystem, where: str) -> LabelledFrame:
        if self.spec.potential is not None:
            from meltdyn.plugins.engines.openmm_engine.interface import evaluate

            frame = evaluate(self.potential, system)
        else:
            import ase

            atoms = ase.Atoms(system.symbols, positions=system.positions_A, cell=system.cell_A, pbc=True)
            atoms.calc = self.calculator
            frame = LabelledFrame(system.symbols, system.positions_A, system.cell_A,
                                  float(atoms.get_potential_energy()), atoms.get_forces(),
                                  atoms.get_stress(voigt=False))
        return check_labelled(frame, where)


def _write_frames(frames: list[LabelledFrame], path: Path) -> None:
    """Labelled frames as extxyz (energy, forces, stress, and their state as info), written whole or not at all."""
    import ase
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.stress import full_3x3_to_voigt_6_stress

    images = []
    for f in frames:
        atoms = ase.Atoms(f.symbols, positions=f.positions_A, cell=f.cell_A, pbc=True)
        labels = {"energy": f.energy_eV, "forces": f.forces_eV_A}
        if np.isfinite(f.stress_eV_A3).all():
            labels["stress"] = full_3x3_to_voigt_6_stress(f.stress_eV_A3)
        atoms.info.update(f.info)
        atoms.calc = SinglePointCalculator(atoms, **labels)
        images.append(atoms)
    tmp = path.with_name(path.name + ".tmp")
    ase.io.write(tmp, images, format="extxyz")
    os.replace(tmp, path)


def _read_frames(path: Path, registry: Registry) -> list[LabelledFrame]:
    from meltdyn.plugin import validate_section

    labeller = registry.build("labeller", validate_section(registry, "labeller", {
        "plugin": "ase_file", "paths": [str(path)], "require_stress": False}, "labelled frames"))
    return [f for batch in labeller.batches(registry) for f in batch]


def _label(selected: list[dict[str, Any]], study: Any, reference: _Reference, directory: Path,
           registry: Registry) -> tuple[list[LabelledFrame], list[int]]:
    """Label the selected frames one by one into labelled.partial.extxyz (kept on interruption; progress.json says
    how many were processed and which the reference rejected), labelled.extxyz when all are done. A frame whose
    reference stress exceeds MAX_STRESS_EV_A3 (160 GPa) is rejected, not trained on: atoms pushed into each other
    by a committee that extrapolated, a configuration no melt visits."""
    from meltdyn.plugin import read_frame

    done, partial, progress = (directory / n for n in ("labelled.extxyz", "labelled.partial.extxyz",
                                                       "labelling.json"))
    state = json.loads(progress.read_text()) if progress.exists() else {"processed": 0, "rejected": []}
    if done.exists():
        return _read_frames(done, registry), state["rejected"]
    frames = _read_frames(partial, registry) if partial.exists() else []
    if len(frames) > state["processed"] - len(state["rejected"]):  # written, then interrupted before progress
        state["processed"] += 1
    runs = {run.id: run for run in study.runs}
    for k in range(state["processed"], len(selected)):
        chosen = selected[k]
        run, f = runs[chosen["run"]], chosen["frame"]
        system = AtomicSystem(*read_frame(run.dir / "trajectory.h5", f))
        frame = reference.label(system, f"selected frame {k} ({run.id}, frame {f})")
        if np.abs(frame.stress_eV_A3).max() > MAX_STRESS_EV_A3:
            state["rejected"].append(k)
            log.warning("selected frame %d (%s, frame %d): the reference's stress reaches %.0f GPa, beyond any melt; "
                        "not trained on", k, run.id, f, np.abs(frame.stress_eV_A3).max() * EV_A3_TO_GPA)
        else:
            frame.info = {"composition": str(run.composition), "temperature_K": float(run.temperature_K)}
            frames.append(frame)
            _write_frames(frames, partial)
        state["processed"] = k + 1
        write_json_atomic(progress, state)
        log.info("labelled selected frame %d of %d (%s, frame %d, deviation %.3g eV/Å)", k + 1, len(selected),
                 run.id, f, chosen["max_force_deviation_eV_A"])
    _write_frames(frames, done)
    if partial.exists():
        partial.unlink()
    return frames, state["rejected"]


def learn(source: str | Path | dict[str, Any], registry: Registry | None = None) -> dict[str, Any]:
    """Run (or resume) the loop; return its report (also written as learning.json and learning.md)."""
    from meltdyn.plugin import load_study
    from meltdyn.plugins.potentials.painn.dataset import load_dataset

    registry = registry or discover()
    spec = check_learning(source, registry)
    out = claim(Path(spec.output_dir), "learning", field="output_dir")
    resolved = spec.model_dump(mode="json")
    held = out / "spec.json"
    if _recorded_loop(held, out, resolved, learn_model_spec(registry)) != resolved:
        write_json_atomic(held, resolved)
    reference = None
    rows, outcome = [], "budget spent"
    s = spec.selection
    for k in range(spec.stop.max_iterations):
        directory = _iteration_dir(spec, k)
        directory.mkdir(parents=True, exist_ok=True)
        record = directory / "iteration.json"
        if record.exists():  # trained and explored before: its numbers as they were, nothing recomputed
            row = json.loads(record.read_text())
            study = load_study(_exploration(spec, directory), registry)
        else:
            log.info("iteration %d: training", k)
            trained = train_from_spec(_training(spec, directory, k), registry)
            log.info("iteration %d: exploring", k)
            study = load_study(_exploration(spec, directory), registry)
            failed = _explore(study)
            row = _iteration_row(k, trained, directory, _deviations(study), s)
            row["failed_runs"] = failed
            row["stopped_runs"] = [run.id for run in study.runs
                                   if run.completed and TRUST_STOP in run.summary().get(STATE_POINT, {})]
            write_json_atomic(record, row)
        rows.append(row)
        ended_early = row.get("failed_runs", []) + row.get("stopped_runs", [])
        if row["uncertain_fraction"] < spec.stop.uncertain_fraction and not ended_early:
            outcome = "converged"
            break
        if k == spec.stop.max_iterations - 1:
            break
        chosen = directory / "selected.json"
        if chosen.exists():
            selected = json.loads(chosen.read_text())
        else:
            selected = select_frames([(r.id, f, d) for r, f, d in _deviations(study)], s.trust_lo_eV_A,
                                     s.trust_hi_eV_A, s.max_frames_per_iteration, s.min_separation_frames)
            write_json_atomic(chosen, selected)
        if not selected:
            outcome = (f"no candidates: every uncertain frame lies at or beyond trust_hi = {s.trust_hi_eV_A:g} eV/Å; "
                       "explore closer to the data (a lower temperature) or raise trust_hi")
            break
        reference = reference or _Reference(spec.reference, registry)
        labelled, rejected = _label(selected, study, reference, directory, registry)
        row["new_frames"], row["rejected_frames"] = len(labelled), len(rejected)
        write_json_atomic(record, row)
        following = _iteration_dir(spec, k + 1)
        following.mkdir(parents=True, exist_ok=True)
        if not (following / "training_data.extxyz").exists():
            before, _ = load_dataset(directory / "model" / "dataset.db")
            _write_frames(before + labelled, following / "training_data.extxyz")
    report = {"name": spec.name, "outcome": outcome, "final_model": str(_iteration_dir(spec, rows[-1]["iteration"])
                                                                          / "model"),
              "trust_bounds_eV_A": [s.trust_lo_eV_A, s.trust_hi_eV_A],
              "target_uncertain_fraction": spec.stop.uncertain_fraction, "report": str(out / "learning.md"),
              "iterations": rows}
    write_json_atomic(out / "learning.json", report)
    (out / "learning.md").write_text(_markdown(report))
    return report


def _recorded_loop(held: Path, out: Path, resolved: dict[str, Any], model: type[BaseModel]
                   ) -> dict[str, Any] | None:
    """The loop recorded in ``held`` (None if none yet), refused unless it is this one: only ``stop`` may differ,
    and only to go further (more iterations, a tighter target), since it decides whether to go on and nothing else;
    the iterations made stay what they were. A loop recorded before a setting existed reads with its default."""
    if not held.exists():
        return None
    try:
        recorded = json.loads(held.read_text())
        try:
            recorded = model.model_validate(recorded).model_dump(mode="json")
        except ValidationError:
            pass  # not a loop this meltdyn reads: compared as it is, and refused below
        same = {**recorded, "stop": None} == {**resolved, "stop": None}
    except (OSError, ValueError, TypeError) as exc:
        raise StudyError(f"output_dir: {str(held)!r} cannot be read ({exc}); it records what this loop was; "
                         "restore it, or learn into a new output_dir") from None
    if not same:
        raise StudyError(f"output_dir: {str(out)!r} holds a loop made from a different learning file; meltdyn "
                         "never mixes two loops' iterations nor overwrites one: learn into a new output_dir "
                         "(only `stop` may change between runs of one loop, to go further)")
    before, now = recorded.get("stop") or {}, resolved["stop"]
    if now["max_iterations"] < before.get("max_iterations", 0):
        raise StudyError(f"stop.max_iterations: {now['max_iterations']}, fewer than the {before['max_iterations']} "
                         f"this loop in {str(out)!r} was run with; a budget may be raised, not cut (its iterations "
                         "stay on disk): give at least that")
    if now["uncertain_fraction"] > before.get("uncertain_fraction", 1.0):
        raise StudyError(f"stop.uncertain_fraction: {now['uncertain_fraction']:g}, looser than the "
                         f"{before['uncertain_fraction']:g} this loop in {str(out)!r} was run with; a target may be "
                         "tightened, not loosened: give at most that")
    if before != now:
        log.info("stop: %s, was %s; the loop goes on from its iterations", now, before)
    return recorded


def _iteration_row(k: int, trained: dict[str, Any], directory: Path, deviations: list[Any], s: SelectionSpec
                   ) -> dict[str, Any]:
    """What learning.md tables for iteration ``k``: its training and its exploration."""
    sigma = np.concatenate([d for _, _, d in deviations])
    meta = json.loads((directory / "model" / "model.json").read_text())
    test = meta["metrics"]["test"]
    return {"iteration": k, "training_frames": meta["training_frames"], "reference_frames": trained["frames"],
            "test_force_rmse_meV_per_A": test["force_rmse_meV_per_A"],
            "test_energy_rmse_meV_per_atom": test["energy_rmse_meV_per_atom"],
            "test_force_spread_rms_meV_per_A": test["committee"]["force_spread_rms_meV_per_A"],
            "frames_explored": int(len(sigma)), "uncertain_fraction": float(np.mean(sigma >= s.trust_lo_eV_A)),
            "failed_fraction": float(np.mean(sigma >= s.trust_hi_eV_A)),
            "max_force_deviation_median_eV_A": float(np.median(sigma)), "new_frames": 0, "rejected_frames": 0}


def _markdown(report: dict[str, Any]) -> str:
    lo, hi = report["trust_bounds_eV_A"]
    lines = [f"# Active learning: {report['name']}", "",
             f"Outcome: {report['outcome']}; final model: `{report['final_model']}`. Uncertain: max atomic force "
             f"deviation ≥ {lo:g} eV/Å (trust_lo); failed: ≥ {hi:g} eV/Å (trust_hi); target uncertain fraction "
             f"< {report['target_uncertain_fraction']:g}. Fractions are of the frames evaluated in the iteration's "
             "exploration; errors are on its own test split.", "",
             "| iteration | frames trained on | test force RMSE (meV/Å) | test force spread (meV/Å) | frames explored "
             "| uncertain | failed | median deviation (eV/Å) | frames labelled | runs stopped / failed |",
             "|" + "---|" * 10]
    ended = []
    for r in report["iterations"]:
        stopped, failed = r.get("stopped_runs", []), r.get("failed_runs", [])
        lines.append(f"| {r['iteration']} | {r['training_frames']} | {r['test_force_rmse_meV_per_A']:.0f} | "
                     f"{r['test_force_spread_rms_meV_per_A']:.0f} | {r['frames_explored']} | "
                     f"{r['uncertain_fraction']:.2f} | {r['failed_fraction']:.2f} | "
                     f"{r['max_force_deviation_median_eV_A']:.3g} | {r['new_frames']} | {len(stopped)} / "
                     f"{len(failed)} |")
        ended += [f"- iteration {r['iteration']}: {run} {how}" for runs, how in
                  ((stopped, "stopped in production at the trust check; its frames before the stop were used"),
                   (failed, "failed (blown up, or stopped before production) and was left out"))
                  for run in runs]
    if ended:
        lines += ["", "Exploration runs that ended early (an iteration with any does not count as converged):",
                  *ended]
    return "\n".join(lines) + "\n"
