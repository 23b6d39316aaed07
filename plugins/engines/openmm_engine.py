"""OpenMM engine: minimise, NVT/NPT/NVE stages and production with checkpoints and exact resume."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from meltdyn.builder import AVOGADRO
from meltdyn.contracts import AtomicSystem, Engine, Potential, RunContext
from meltdyn.hookspecs import hookimpl
from meltdyn.plugin import PluginDef, PluginParams
from meltdyn.plugins.engines.checkpoints import Checkpoint, load_facts, save_facts
from meltdyn.plugins.engines.openmm_loader import load_openmm
from meltdyn.plugins.engines.production import Snapshot, produce
from meltdyn.specs import TARGET, MinimiseStage, NPTStage, NVEStage, ProductionStage

PLATFORM_ORDER = ("CUDA", "OpenCL", "CPU", "Reference")
A_TO_NM = 0.1


class OpenMMParams(PluginParams):
    platform: Literal["auto", "CUDA", "OpenCL", "CPU", "Reference"] = Field(
        "auto", description="auto picks the first available of CUDA, OpenCL, CPU, Reference.")
    precision: Literal["single", "mixed", "double"] = Field("mixed", description="GPU platforms only.")
    threads: int | None = Field(None, ge=1, description="CPU platform threads; default all cores.")
    checkpoint_interval_ps: float = Field(10.0, gt=0, description="Between checkpoints outside production.")
    report_interval_steps: int = Field(200, ge=1, description="Steps between progress and sanity checks.")
    max_energy_kJ_mol_per_atom: float = Field(1.0e4, gt=0, description="|E|/N above this stops the run.")


def openmm_system(system: AtomicSystem, potential: Potential, *extra_forces: Any) -> Any:
    """An OpenMM System for ``system``: masses, periodic cell, the potential's forces and any extra ones."""
    mm = load_openmm()
    omm = mm.System()
    for m in system.masses_u:
        omm.addParticle(float(m))
    omm.setDefaultPeriodicBoxVectors(*[mm.Vec3(*row) for row in system.cell_A * A_TO_NM])
    for force in [*potential.openmm_forces(system), *extra_forces]:
        omm.addForce(force)
    return omm


class SimulationBlewUp(RuntimeError):
    """Energy became NaN or exploded; the last good checkpoint is kept."""


class OpenMMEngine(Engine):
    def __init__(self, params: OpenMMParams):
        self.params = params
        self.mm = load_openmm()

    # -- set-up ---------------------------------------------------------------------------------
    def _platform(self) -> tuple[Any, dict[str, str]]:
        mm, p = self.mm, self.params
        available = [mm.Platform.getPlatform(i).getName() for i in range(mm.Platform.getNumPlatforms())]
        if p.platform == "auto":
            name = next(n for n in PLATFORM_ORDER if n in available)
        elif p.platform in available:
            name = p.platform
        else:
            failures = "; ".join(mm.Platform.getPluginLoadFailures()) or "none reported"
            raise RuntimeError(f"engine.platform: {p.platform!r} is not available here; available: {available}. "
                               f"OpenMM plugin load failures: {failures}")
        props: dict[str, str] = {}
        if name in ("CUDA", "OpenCL"):
            props["Precision"] = p.precision
        if name == "CPU" and p.threads:
            props["Threads"] = str(p.threads)
        return mm.Platform.getPlatformByName(name), props


    def _integrator(self, stage: Any, temperature: float, dt_ps: float, seed: int) -> Any:
        mm = self.mm
        if isinstance(stage, (MinimiseStage, NVEStage)) or (
                isinstance(stage, ProductionStage) and stage.ensemble == "nve"):
            return mm.VerletIntegrator(dt_ps)
        if stage.thermostat == "nose_hoover":
            return mm.NoseHooverIntegrator(temperature, stage.friction_per_ps, dt_ps)
        integrator = mm.LangevinMiddleIntegrator(temperature, stage.friction_per_ps, dt_ps)
        integrator.setRandomNumberSeed(seed)
        return integrator

    # -- running --------------------------------------------------------------------------------
    def run(self, ctx: RunContext) -> dict[str, Any]:
        ctx.checkpoint_dir.mkdir(exist_ok=True)
        platform, props = self._platform()
        dt_ps = ctx.protocol.timestep_fs * 1e-3
        ck = Checkpoint.load(ctx.checkpoint_dir)
        facts = load_facts(ctx.checkpoint_dir)
        timings, measured = facts["stage_seconds"], facts["measured"]
        for index in range(ck.stage, len(ctx.protocol.stages)):
            stage = ctx.protocol.stages[index]
            t = ctx.target_temperature_K if getattr(stage, "temperature_K", TARGET) == TARGET else stage.temperature_K
            seed = (ctx.seed * 1000 + index) % 2**31
            barostat = None
            if isinstance(stage, NPTStage):
                barostat = self.mm.MonteCarloBarostat(stage.pressure_bar, t, stage.barostat_interval_steps)
                barostat.setRandomNumberSeed(seed)
            system = openmm_system(ctx.system, ctx.potential, *([barostat] if barostat else []))
            integrator = self._integrator(stage, t, dt_ps, seed)
            context = self.mm.Context(system, integrator, platform, props)
            self._restore(context, ctx, ck, index, t, seed)
            started = time.perf_counter()
            if isinstance(stage, MinimiseStage):
                self.mm.LocalEnergyMinimizer.minimize(context, stage.tolerance_kJ_mol_nm, stage.max_iterations)
            elif isinstance(stage, ProductionStage):
                self._production(context, ctx, stage, ck, index, dt_ps)
            else:
                box = self._dynamics(context, ctx, stage, ck, index, dt_ps)
                if box is not None:
                    volume_A3 = abs(np.linalg.det(box)) * 1e3
                    measured[f"{index}:npt"] = {
                        "mean_box_A": (box * 10).tolist(), "mean_volume_A3": volume_A3,
                        "mean_density_g_cm3": ctx.system.masses_u.sum() / AVOGADRO / (volume_A3 * 1e-24)}
            timings[f"{index}:{stage.stage}"] = time.perf_counter() - started
            save_facts(ctx.checkpoint_dir, facts)
            ck = self._save(context, ctx.checkpoint_dir, Checkpoint(index + 1, 0, ck.frames if index + 1 == len(
                ctx.protocol.stages) else 0))
            del context, integrator
        return {"platform": platform.getName(), "properties": props, "stage_seconds": timings, "measured": measured}

    def _restore(self, context: Any, ctx: RunContext, ck: Checkpoint, index: int, temperature: float, seed: int) -> None:
        mm = self.mm
        if ck.file is None:
            context.setPositions(ctx.system.positions_A * A_TO_NM)
            context.setVelocitiesToTemperature(temperature, seed)
            return
        data = (ctx.checkpoint_dir / ck.file).read_bytes()
        if ck.stage == index and ck.mid_stage:
            context.loadCheckpoint(data)  # mid-stage: exact state, thermostat and RNG included
            return
        state = mm.XmlSerializer.deserialize(data.decode())
        context.setPeriodicBoxVectors(*state.getPeriodicBoxVectors())
        context.setPositions(state.getPositions())
        velocities = state.getVelocities(asNumpy=True)
        if np.any(velocities._value):
            context.setVelocities(velocities)
        else:  # after a minimisation
            context.setVelocitiesToTemperature(temperature, seed)

    def _save(self, context: Any, directory: Path, ck: Checkpoint) -> Checkpoint:
        """Write the state under a new name, then point progress.json at it, then drop the old file."""
        if ck.mid_stage:
            return ck.commit(directory, f"stage{ck.stage}_step{ck.step}_frame{ck.frames}.chk",
                             context.createCheckpoint())
        state = context.getState(getPositions=True, getVelocities=True, enforcePeriodicBox=False)
        return ck.commit(directory, f"stage{ck.stage}_start.xml", self.mm.XmlSerializer.serialize(state).encode())

    def _energy_check(self, context: Any, n_atoms: int, step: int) -> float:
        energy = context.getState(getEnergy=True).getPotentialEnergy()._value
        if not math.isfinite(energy) or abs(energy) / n_atoms > self.params.max_energy_kJ_mol_per_atom:
            raise SimulationBlewUp(
                f"potential energy {energy:.6g} kJ/mol ({energy / n_atoms:.3g} per atom) at step {step}; the last "
                f"good checkpoint is kept. Check the timestep, the starting density or the potential's cutoffs.")
        return energy

    def _step(self, context: Any, integrator: Any, n: int, step: int) -> None:
        try:
            integrator.step(n)
        except self.mm.OpenMMException as exc:
            raise SimulationBlewUp(f"OpenMM failed near step {step}: {exc}; the last good checkpoint is kept") from None

    def _dynamics(self, context: Any, ctx: RunContext, stage: Any, ck: Checkpoint, index: int, dt_ps: float
                  ) -> np.ndarray | None:
        """Run a dynamics stage; for NPT, return the mean box (nm) over its second half, now applied."""
        total = round(stage.duration_ps / dt_ps)
        every = max(1, round(self.params.checkpoint_interval_ps / dt_ps))
        report = self.params.report_interval_steps
        done = ck.step if ck.stage == index else 0
        ctx.progress.stage(f"[{index}] {stage.stage}", total, dt_ps, done)
        integrator = context.getIntegrator()
        boxes = []
        while done < total:
            n = min(report, total - done, every - done % every)
            self._step(context, integrator, n, done)
            done += n
            self._energy_check(context, ctx.system.n_atoms, done)
            if isinstance(stage, NPTStage) and done > total // 2:
                boxes.append(np.array(context.getState().getPeriodicBoxVectors()._value))
            ctx.progress.advance(n)
            if done % every == 0 and done < total:
                self._save(context, ctx.checkpoint_dir, Checkpoint(index, done, 0))
        if not boxes:
            return None
        mean_box = np.mean(boxes, axis=0)
        self._to_mean_box(context, mean_box)
        return mean_box

    def _to_mean_box(self, context: Any, box: np.ndarray) -> None:
        """Scale coordinates affinely to the mean box of an NPT stage, so NVT continues at the mean volume."""
        state = context.getState(getPositions=True, enforcePeriodicBox=False)
        old = np.array(state.getPeriodicBoxVectors()._value)
        pos = np.array(state.getPositions()._value) @ np.linalg.inv(old) @ box
        context.setPeriodicBoxVectors(*[self.mm.Vec3(*row) for row in box])
        context.setPositions(pos)

    def _production(self, context: Any, ctx: RunContext, stage: ProductionStage, ck: Checkpoint, index: int,
                    dt_ps: float) -> None:
        integrator = context.getIntegrator()
        n = ctx.system.n_atoms

        def snapshot(step: int) -> Snapshot:
            state = context.getState(getPositions=True, getEnergy=True, getVelocities=stage.sampling.velocities,
                                     enforcePeriodicBox=False)
            energy = self._energy_check(context, n, step)
            temperature = 2 * state.getKineticEnergy()._value / (3 * n * 0.00831446261815324)
            return Snapshot(np.array(state.getPositions()._value), np.array(state.getPeriodicBoxVectors()._value),
                            energy, temperature,
                            np.array(state.getVelocities()._value) if stage.sampling.velocities else None)

        produce(ctx, stage, ck, index, dt_ps, lambda k, step: self._step(context, integrator, k, step), snapshot,
                lambda c: self._save(context, ctx.checkpoint_dir, c))


@hookimpl
def meltdyn_engines() -> list[PluginDef]:
    return [PluginDef("openmm", "engine", OpenMMParams, OpenMMEngine,
                      "OpenMM: minimise, NVT (Langevin, Nose-Hoover), NPT (MC barostat), NVE, checkpointed production")]
