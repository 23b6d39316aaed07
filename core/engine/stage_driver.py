"""The engine kit's stage driver: one implementation of a protocol for every engine.

An engine supplies primitives: a :class:`StageMachine` that starts a stage for a batch of runs, minimises and
advances them, and one :class:`Lane` per run that reports its energy, cell and frames and saves its state.
:func:`drive` does the rest, the same way for every engine: the stage loop, each stage's temperature and seeds,
dynamics in chunks with an energy guard, the NPT mean cell, checkpoints in the middle and at the end of every stage,
the production trajectory with its no-frame-lost resume guarantee (:mod:`meltdyn.engine.production`), and the facts each
run records. Most engines run one run at a time (a batch of one); a batched engine advances several together.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np

from meltdyn.base.units import AVOGADRO, EV_TO_KJ_MOL
from meltdyn.engine.kit import EngineSettings, Lane, LaneStart, SimulationBlewUp, StageMachine
from meltdyn.engine.checkpoints import Checkpoint, load_facts, save_facts
from meltdyn.engine.interrupts import InterruptRequest, deferred_interrupt
from meltdyn.engine.production import produce
from meltdyn.engine.thermo import ThermoLog
from meltdyn.engine.trust import (
    TRUST_STOP, FrameChecker, LeftTrustRegion, StageGuard, check_interval_steps, stop_record,
)
from meltdyn.hooks.contracts import RunContext
from meltdyn.spec.models import MinimiseStage, NPTStage, ProductionStage, RampStage, Stage, stage_temperature
from meltdyn.trajectory.h5md import Snapshot


def _same_position(checkpoints: Sequence[Checkpoint], runs: Sequence[RunContext]) -> Checkpoint:
    positions = {ck.position for ck in checkpoints}
    if len(positions) > 1:
        raise ValueError(f"runs {[r.id for r in runs]} stand at different checkpoints {sorted(positions)}; "
                         "only runs at the same one advance together")
    return checkpoints[0]


RAMP_STEPS = 200
"""Plateaus a ramp stage is divided into at most (fewer when it has fewer steps): 0.5 % of its span each."""


def drive(machine: StageMachine, runs: Sequence[RunContext], settings: EngineSettings) -> list[dict[str, Any]]:
    """Carry out the protocol of ``runs`` (one batch, all at the same checkpoint) with ``machine``'s primitives;
    each run's thermodynamic log (:mod:`meltdyn.engine.thermo`) is kept on the way."""
    for run in runs:
        run.checkpoint_dir.mkdir(exist_ok=True)
    checkpoints = [Checkpoint.load(run.checkpoint_dir) for run in runs]
    facts = [load_facts(run.checkpoint_dir) for run in runs]
    session = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(), "batch": len(runs),
               "from_stage": checkpoints[0].stage}
    for run, record, ck in zip(runs, facts, checkpoints):
        record.setdefault("sessions", []).append(session)
        if ck.stage < len(run.protocol.stages):
            record.pop(TRUST_STOP, None)  # recorded, then killed before the checkpoint that ends the run: not taken
        save_facts(run.checkpoint_dir, record)
    start = _same_position(checkpoints, runs)
    logs = [ThermoLog(run.run_dir, run.system.n_atoms, float(run.system.masses_u.sum()) / AVOGADRO,
                      (start.stage, start.step)) for run in runs]
    checker = FrameChecker(runs, (start.stage, start.step))
    try:
        return _drive(machine, runs, settings, checkpoints, facts, logs, checker)
    finally:
        checker.close()
        for log in logs:
            log.close()


def _drive(machine: StageMachine, runs: Sequence[RunContext], settings: EngineSettings,
           checkpoints: list[Checkpoint], facts: list[dict[str, Any]], logs: list[ThermoLog], checker: FrameChecker
           ) -> list[dict[str, Any]]:
    protocol = runs[0].protocol
    dt_ps = protocol.timestep_fs * 1e-3
    check_every = check_interval_steps(runs, dt_ps)

    def check_energy(run: RunContext, energy_eV: float, step: int) -> None:
        per_atom = energy_eV * EV_TO_KJ_MOL / run.system.n_atoms
        if not math.isfinite(per_atom) or abs(per_atom) > settings.max_energy_kJ_mol_per_atom:
            raise SimulationBlewUp(
                f"run {run.id}: potential energy {energy_eV * EV_TO_KJ_MOL:.6g} kJ/mol ({per_atom:.3g} kJ/mol, "
                f"{energy_eV / run.system.n_atoms:.3g} eV per atom) at step {step} of stage {index} ({stage.stage}). "
                "Check the timestep, the starting density or the potential's cutoffs.")

    for index in range(_same_position(checkpoints, runs).stage, len(protocol.stages)):
        stage = protocol.stages[index]
        ck = checkpoints[0]
        resuming = ck.stage == index and ck.mid_stage
        after_fresh_state = index == 0 or isinstance(protocol.stages[index - 1], MinimiseStage)
        starts = [LaneStart(run, stage_temperature(stage, run.target_temperature_K),
                            run.seeds.seed("stage", index, "resumed_at", c.step) if resuming else
                            run.seeds.seed("stage", index),
                            c.read_state(run.checkpoint_dir), resuming, not resuming and after_fresh_state)
                  for run, c in zip(runs, checkpoints)]
        # Production handles Ctrl-C itself (its frames and checkpoint stay in step); other stages stop at the
        # chunk after it, or after their end, with a checkpoint there.
        production = isinstance(stage, ProductionStage)
        with nullcontext(InterruptRequest()) if production else deferred_interrupt() as interrupt:
            lanes = machine.start_stage(stage, starts)
            started = time.perf_counter()
            if isinstance(stage, MinimiseStage):
                limit = f"at most {stage.max_iterations} iterations" if stage.max_iterations else "until converged"
                runs[0].progress.note(f"[{index}] minimise: {limit}")
                machine.minimise(stage)
            elif production:
                elapsed = _elapsed_ps(protocol, index)

                def stop(k: int, step: int, reason: str, frames: int, trajectory: str | None) -> None:
                    # Recorded first: a run killed before its end checkpoint resumes, and drive drops the record.
                    facts[k][TRUST_STOP] = stop_record(index, stage.stage, step, elapsed + step * dt_ps, step * dt_ps,
                                                    stage.duration_ps, reason)
                    save_facts(runs[k].checkpoint_dir, facts[k])
                    Checkpoint(index + 1, 0, frames, trajectory=trajectory).commit(runs[k].checkpoint_dir,
                                                                                  lanes[k].save(exact=False))

                guard = StageGuard(checker, check_every, index, stage.stage, elapsed, dt_ps)
                checkpoints, stopped = produce(runs, lanes, checkpoints, index, stage, dt_ps, machine.advance,
                                               check_energy, _thermo_recorder(logs, index, stage, elapsed), guard,
                                               stop)
            else:
                means = _dynamics(machine, runs, lanes, checkpoints, index, stage, dt_ps, settings, check_energy,
                                  interrupt, _thermo_recorder(logs, index, stage, _elapsed_ps(protocol, index)),
                                  StageGuard(checker, check_every, index, stage.stage, _elapsed_ps(protocol, index), dt_ps))
                for run, record, (cell, n_cells) in zip(runs, facts, means):
                    if n_cells:
                        volume = abs(float(np.linalg.det(cell)))
                        record["measured"][f"{index}:npt"] = {
                            "mean_box_A": cell.tolist(), "mean_volume_A3": volume, "cells_averaged": n_cells,
                            "mean_density_g_cm3": run.system.masses_u.sum() / AVOGADRO / (volume * 1e-24)}
            last = index + 1 == len(protocol.stages)
            new = []
            for k, (run, lane, record, c) in enumerate(zip(runs, lanes, facts, checkpoints)):
                record["stage_seconds"][f"{index}:{stage.stage}"] = time.perf_counter() - started
                record["seeds"] = run.seeds.used
                save_facts(run.checkpoint_dir, record)
                if production and k in stopped:
                    new.append(c)  # ended at its stop, where its checkpoint already stands
                    continue
                end = Checkpoint(index + 1, 0, c.frames if last else 0, trajectory=c.trajectory if last else None)
                new.append(end.commit(run.checkpoint_dir, lane.save(exact=False)))
            checkpoints = new
        if interrupt.requested and not last:
            raise KeyboardInterrupt(f"after stage {index} ({stage.stage}) ended, where its checkpoint stands")
    runs[0].progress.close()
    return [{**machine.facts(), **record} for record in facts]


def _elapsed_ps(protocol: Any, index: int) -> float:
    """Simulated time before stage ``index`` (minimisations take none)."""
    return sum(getattr(stage, "duration_ps", 0.0) for stage in protocol.stages[:index])


def _thermo_recorder(logs: Sequence[ThermoLog], index: int, stage: Stage, elapsed_ps: float
                     ) -> Callable[[int, Snapshot, int, float], None]:
    """What records a lane's snapshot at ``step`` of this stage in its run's log (by the run's place in the batch)."""
    def record(k: int, snapshot: Snapshot, step: int, dt_ps: float) -> None:
        logs[k].record(index, stage.stage, step, elapsed_ps + step * dt_ps, snapshot.temperature_K,
                       snapshot.potential_energy_eV, snapshot.cell_A)
    return record


def _dynamics(machine: StageMachine, runs: Sequence[RunContext], lanes: Sequence[Lane],
              checkpoints: Sequence[Checkpoint], index: int, stage: Stage, dt_ps: float, settings: EngineSettings,
              check_energy: Callable[[RunContext, float, int], None], interrupt: InterruptRequest,
              thermo: Callable[[int, Snapshot, int, float], None], guard: StageGuard) -> list[tuple[np.ndarray, int]]:
    """Run an NVT/NPT/NVE or ramp stage in chunks; for NPT, move each run to the mean cell of the stage's second half
    and return (mean cell, cells averaged) per run (counts 0 for other stages). A Ctrl-C (``interrupt``) stops it
    after the chunk it came in, with a checkpoint there."""
    total = round(stage.duration_ps / dt_ps)
    every = max(1, round(settings.checkpoint_interval_ps / dt_ps))
    ck = checkpoints[0]
    resuming = ck.stage == index and ck.mid_stage
    done = ck.step if resuming else 0
    # The cell is moved to its mean for an npt stage; a ramp's cell follows its temperature, and stays where it ends.
    npt = isinstance(stage, NPTStage)
    ramp = isinstance(stage, RampStage)
    sums = [np.array(c.carry["cell_sum"]) if resuming and npt else np.zeros((3, 3)) for c in checkpoints]
    counts = [int(c.carry["cell_count"]) if resuming and npt else 0 for c in checkpoints]
    progress = runs[0].progress
    progress.stage(f"[{index}] {stage.stage}", total, dt_ps, done)
    guard.start(done, check_now=False)

    def commit() -> None:
        for run, lane, s, c in zip(runs, lanes, sums, counts):
            Checkpoint(index, done, 0, carry={"cell_sum": s.tolist(), "cell_count": c} if npt else {}
                       ).commit(run.checkpoint_dir, lane.save(exact=True))

    while done < total:
        n = min(settings.report_interval_steps, total - done, every - done % every, guard.steps_to_next(done))
        if ramp:  # a linear ramp as RAMP_STEPS steps (or one per MD step), each at its middle's temperature
            n = min(n, max(1, -(-total // RAMP_STEPS)))
            machine.set_temperature([stage_temperature(stage, run.target_temperature_K, (done + n / 2) / total)
                                     for run in runs])
        machine.advance(n)
        done += n
        for j, (run, lane) in enumerate(zip(runs, lanes)):
            snapshot = lane.snapshot(velocities=False)
            check_energy(run, snapshot.potential_energy_eV, done)
            thermo(j, snapshot, done, dt_ps)
            reason = guard.check(j, snapshot, done)
            if reason is not None:
                raise LeftTrustRegion(
                    f"run {run.id} left its potential's trust region at step {done} of stage {index} "
                    f"({stage.stage}), {guard.time_ps(done):g} ps into the protocol, before production: {reason}. "
                    "Retrain with such configurations (meltdyn learn), or start from one the potential knows")
        guard.advanced(done)
        if npt and done > total // 2:
            for k, lane in enumerate(lanes):
                sums[k] = sums[k] + lane.cell_A()
                counts[k] += 1
        progress.advance(n)
        if done < total and (done % every == 0 or interrupt.requested):
            commit()
        if interrupt.requested and done < total:  # at the stage's end, drive stops after committing it
            raise KeyboardInterrupt(f"at step {done} of {total} of stage {index} ({stage.stage}), where its "
                                    "checkpoint now stands")
    out = []
    for lane, s, c in zip(lanes, sums, counts):
        mean = s / c if c else s
        if c:
            lane.rescale_to_cell(mean)
        out.append((mean, c))
    return out

