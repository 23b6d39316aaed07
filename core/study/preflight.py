"""What ``meltdyn validate`` checks beyond the shape of a study file, before anything is built or written.

The study is outlined (each run's species and starting cell, from the system plugin), then checked as the runs would
meet it: the engine's interface against what the potential provides, the potential's elements and cutoff against
every run's system, each plugin's own ``check`` (files that must exist, hardware, species an observable names, stages
an engine cannot carry), and the output directory. Every problem is reported at once.
"""

from __future__ import annotations

import math

import os
import re
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from meltdyn.analysis.streaming import plan_before_production
from meltdyn.base.errors import InputError, StudyError
from meltdyn.engine.schedule import frame_steps
from meltdyn.hooks.data import PotentialOutline, RunOutline, StudyOutline, TrajectoryInfo
from meltdyn.hooks.registry import Registry


def composition_tag(composition: str | float) -> str:
    return composition if isinstance(composition, str) else f"x{composition:g}"


def run_id(composition: str | float, temperature_K: float, replica: int) -> str:
    return f"{composition_tag(composition)}_T{temperature_K:g}K_r{replica}"


def outline_study(spec: BaseModel, registry: Registry, local: bool = True) -> tuple[StudyOutline, list[str]]:
    """Each run's outline; compositions the system plugin cannot make are problems, not runs."""
    definition = registry.get("system", spec.system.plugin).definition
    params = registry.params_of("system", spec.system)
    runs, problems = [], []
    for i, composition in enumerate(spec.sweep.compositions):
        for temperature in spec.sweep.temperatures_K:
            try:
                system = definition.outline(params, composition, temperature)
            except ValueError as exc:
                problems.append(f"sweep.compositions[{i}]: {exc}")
                break
            runs += [RunOutline(run_id(composition, temperature, r), composition, temperature, r, system)
                     for r in range(spec.sweep.replicas)]
    return StudyOutline(spec, tuple(runs), local), problems


def _prefixed(where: str, params: BaseModel, messages: list[str]) -> list[str]:
    """A plugin's check names its own fields; put the section in front (``observables[1].hop_species: ...``)."""
    out = []
    for message in messages:
        field = re.match(r"^([A-Za-z_]\w*)[:\[.]", message)
        out.append(f"{where}.{message}" if field and field.group(1) in type(params).model_fields
                   else f"{where}: {message}")
    return out


def _pair(spec: BaseModel, registry: Registry, potential: PotentialOutline, study: StudyOutline) -> list[str]:
    problems = []
    needs = registry.get("engine", spec.engine.plugin).definition.requires
    if needs.name not in potential.interfaces:
        able = sorted(e.name for e in registry.entries["engine"].values()
                      if e.definition.requires.name in potential.interfaces)
        problems.append(
            f"engine: {spec.engine.plugin!r} needs a potential that {needs.summary} (interface {needs.name!r}); "
            f"potential {spec.potential.plugin!r} with these settings provides "
            f"{', '.join(sorted(potential.interfaces)) or 'no engine interface'}. "
            f"Engines that can run it: {', '.join(able) or 'none'}")
    reported: set[frozenset[str]] = set()
    for run in study.runs:
        missing = frozenset(run.system.species) - (potential.species or frozenset(run.system.species))
        if missing and missing not in reported:
            reported.add(missing)
            problems.append(f"potential: {spec.potential.plugin!r} has no parameters for {sorted(missing)} (run "
                            f"{run.id}); it knows {sorted(potential.species or [])}")
        if potential.cutoff_A and run.system.min_width_A < 2 * potential.cutoff_A:
            atoms = _atoms_for_width(spec, registry, run, 2 * potential.cutoff_A)
            size = (f"set system.atoms to at least {atoms}" if hasattr(spec.system, "atoms") else
                    f"give the system at least {atoms} atoms")
            problems.append(f"potential: cutoff {potential.cutoff_A:g} Å needs a box at least "
                            f"{2 * potential.cutoff_A:.2f} Å wide; run {run.id} starts with {run.system.n_atoms} "
                            f"atoms in one {run.system.min_width_A:.2f} Å wide. At that density {size} (now "
                            f"{run.system.n_atoms}), or give the potential ({spec.potential.plugin!r}) shorter cutoffs")
    return problems


def _atoms_for_width(spec: BaseModel, registry: Registry, run: RunOutline, width_A: float) -> int:
    """The fewest atoms that start a run ``width_A`` wide: N (width / width now)³ at the same density, and, for a
    system plugin sized by ``atoms``, raised until its outline (which rounds to whole formula units) is that wide."""
    guess = math.ceil(run.system.n_atoms * (width_A / run.system.min_width_A) ** 3)
    if not hasattr(spec.system, "atoms"):
        return guess
    definition = registry.get("system", spec.system.plugin).definition
    params = registry.params_of("system", spec.system)
    for _ in range(100):
        try:
            outline = definition.outline(params.model_copy(update={"atoms": guess}), run.composition,
                                         run.temperature_K)
        except ValueError:
            break
        if outline.min_width_A >= width_A:
            break
        guess += max(1, guess // 100)
    return guess


def _analysis_memory(spec: BaseModel, registry: Registry, study: StudyOutline) -> list[str]:
    """Each run's analysis planned against ``analysis.memory_budget_MB`` as its production trajectory will be (frames
    from the sampling schedule, the starting cell for the q vectors), so a budget too small is refused before hours
    of MD rather than after them."""
    production = spec.protocol.production
    dt_ps = spec.protocol.timestep_fs * 1e-3
    steps, interval = frame_steps(production.sampling, dt_ps, production.duration_ps)
    seen: set[tuple[int, tuple[str, ...], bytes]] = set()
    for run in study.runs:
        system = run.system
        key = (system.n_atoms, system.species, np.asarray(system.cell_A).tobytes())
        if key in seen:
            continue
        seen.add(key)
        # Which atom is which does not change the plan, only how many atoms and which species there are.
        symbols = [system.species[i % len(system.species)] for i in range(system.n_atoms)]
        info = TrajectoryInfo(system.n_atoms, symbols, steps, steps * dt_ps, interval, dt_ps, np.asarray(system.cell_A))
        observables = {label: registry.build("observable", o)
                       for label, o in zip(spec.observable_labels, spec.observables)}
        try:
            plan_before_production(info, observables, spec.analysis)
        except InputError as exc:
            return [f"analysis.{exc} (run {run.id}: {system.n_atoms} atoms, {len(steps)} frames)"]
    return []


def check_output_dir(path: Path, field: str = "output_dir") -> list[str]:
    """An output directory must be a directory meltdyn can write, or creatable; nothing is created here."""
    if path.exists() and not path.is_dir():
        return [f"{field}: {str(path)!r} is a file, not a directory; choose another {field}"]
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return [f"{field}: {str(path)!r} cannot be made: {str(existing)!r} is a file; choose another {field}"]
    if not os.access(existing, os.W_OK | os.X_OK):
        return [f"{field}: {str(existing)!r} is not writable, so {str(path)!r} cannot be written"]
    return []


def preflight(spec: BaseModel, registry: Registry, output_dir: Path, local: bool = True) -> StudyOutline:
    """Outline and check a validated study spec; raise :class:`StudyError` listing every problem found."""
    study, problems = outline_study(spec, registry, local)
    sections: list[tuple[str, str, BaseModel]] = [("system", "system", spec.system), ("potential", "potential",
                                                 spec.potential), ("engine", "engine", spec.engine)]
    sections += [(f"observables[{i}]", "observable", o) for i, o in enumerate(spec.observables)]
    # The executor last: its checks look at this machine (GPUs, a job scheduler's command, a scheduler's address).
    sections.append(("executor", "executor", spec.executor))
    if not problems:
        potential_def = registry.get("potential", spec.potential.plugin).definition
        potential_params = registry.params_of("potential", spec.potential)
        try:
            potential = potential_def.outline(potential_params)
        except (ValueError, OSError) as exc:
            problems += _prefixed("potential", potential_params, [str(exc)])
        else:
            problems += _pair(spec, registry, potential, study)
        for where, kind, section in sections:
            definition = registry.get(kind, section.plugin).definition  # type: ignore[arg-type]
            if definition.check is not None:
                params = registry.params_of(kind, section)  # type: ignore[arg-type]
                problems += _prefixed(where, params, definition.check(params, study))
    if not problems and spec.observables:
        problems += _analysis_memory(spec, registry, study)
    problems += check_output_dir(output_dir)
    if problems:
        raise StudyError("invalid study:\n  " + "\n  ".join(problems))
    return study
