"""Label the frames of another labeller with any ASE calculator (a DFT code, say): one setting to real labels."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Iterator

from pydantic import Field

from meltdyn.contracts import LabelledFrame, Labeller
from meltdyn.hookspecs import hookimpl
from meltdyn.plugin import PluginDef, PluginParams


class ASECalculatorParams(PluginParams):
    calculator: str = Field(pattern=r"^[\w.]+:\w+$", description="'module:Class' of an ASE calculator.")
    calculator_kwargs: dict[str, Any] = Field({}, description="Keyword arguments for the calculator.")
    frames_from: dict[str, Any] = Field(description="Another labeller section supplying the configurations.")


class ASECalculator(Labeller):
    def __init__(self, params: ASECalculatorParams):
        self.params = params

    def batches(self, registry: Any, skip: int = 0) -> Iterator[list[LabelledFrame]]:
        """One batch per calculation, so an interrupted labelling never pays twice for one."""
        import ase

        from meltdyn.specs import validate_section

        module, name = self.params.calculator.split(":")
        try:
            calculator_class = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"reference_data.calculator: cannot import {self.params.calculator!r}: {exc}") from None
        source = registry.build("labeller", validate_section(registry, "labeller", self.params.frames_from,
                                                             "frames_from"))
        configurations = (f for frames in source.batches(registry) for f in frames)
        for k, f in enumerate(configurations):
            if k < skip:
                continue
            atoms = ase.Atoms(f.symbols, positions=f.positions_A, cell=f.cell_A, pbc=True)
            atoms.calc = calculator_class(**self.params.calculator_kwargs)
            yield [LabelledFrame(f.symbols, f.positions_A, f.cell_A, float(atoms.get_potential_energy()),
                                 atoms.get_forces(), atoms.get_stress(voigt=False))]


def _example(workdir: Path) -> dict[str, Any]:
    from meltdyn.testing import write_labelled_frames

    return {"calculator": "ase.calculators.lj:LennardJones", "calculator_kwargs": {"sigma": 2.0, "epsilon": 0.01},
            "frames_from": {"plugin": "ase_file", "paths": [str(write_labelled_frames(workdir / "frames.extxyz"))]}}


@hookimpl
def meltdyn_labellers() -> list[PluginDef]:
    return [PluginDef("ase_calculator", "labeller", ASECalculatorParams, ASECalculator,
                      "label another labeller's frames with any ASE calculator (e.g. a DFT code)", example=_example)]
