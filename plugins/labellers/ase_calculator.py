"""Label the frames of another labeller with any ASE calculator (a DFT code, say): one setting to real labels.

The calculator is named as ``module:Class`` and must be a subclass of ASE's ``Calculator`` (``BaseCalculator``).
That is checked when the file is validated, before anything is instantiated or called: a study file names code
to run, it does not run arbitrary code (``os:system`` or any other function is refused). Importing the module runs
its top-level code, as ``import`` does; name only a module you have installed and trust.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from pydantic import Field, field_validator

from meltdyn.plugin import (
    LabelledFrame, Labeller, PluginDef, PluginParams, Registry, calculator_class, check_labelled, hookimpl,
)


class ASECalculatorParams(PluginParams):
    calculator: str = Field(max_length=300, description="'module:Class' of an ASE calculator: a subclass of "
                            "ase.calculators.calculator.Calculator (checked before anything is called).")
    calculator_kwargs: dict[str, Any] = Field({}, description="Keyword arguments for the calculator.")
    frames_from: dict[str, Any] = Field(description="Another labeller section supplying the configurations.")

    @field_validator("calculator")
    @classmethod
    def _a_calculator_class(cls, v: str) -> str:
        calculator_class(v)
        return v


class ASECalculator(Labeller):
    def __init__(self, params: ASECalculatorParams):
        self.params = params

    def _source(self, registry: Registry) -> Any:
        from meltdyn.plugin import validate_section

        section = validate_section(registry, "labeller", self.params.frames_from, "frames_from")
        return registry.build("labeller", section)

    def validate(self, registry: Registry) -> int | None:
        """Check the configurations' source before any calculation; the number of frames, if known."""
        source = self._source(registry)
        check = getattr(source, "validate", None)
        return check(registry) if check is not None else None

    def batches(self, registry: Registry, skip: int = 0) -> Iterator[list[LabelledFrame]]:
        """One batch per calculation, so an interrupted labelling never pays twice for one."""
        import ase

        calculator = calculator_class(self.params.calculator)
        configurations = (f for frames in self._source(registry).batches(registry) for f in frames)
        for k, f in enumerate(configurations):
            if k < skip:
                continue
            atoms = ase.Atoms(f.symbols, positions=f.positions_A, cell=f.cell_A, pbc=True)
            atoms.calc = calculator(**self.params.calculator_kwargs)
            frame = LabelledFrame(f.symbols, f.positions_A, f.cell_A, float(atoms.get_potential_energy()),
                                  atoms.get_forces(), atoms.get_stress(voigt=False))
            yield [check_labelled(frame, f"reference_data ({self.params.calculator}): frame {k}")]


def _example(workdir: Path) -> dict[str, Any]:
    from meltdyn.plugin import write_labelled_frames

    return {"calculator": "ase.calculators.lj:LennardJones", "calculator_kwargs": {"sigma": 2.0, "epsilon": 0.01},
            "frames_from": {"plugin": "ase_file", "paths": [str(write_labelled_frames(workdir / "frames.extxyz"))]}}


@hookimpl
def meltdyn_labellers() -> list[PluginDef]:
    return [PluginDef("ase_calculator", "labeller", ASECalculatorParams, ASECalculator,
                      "label another labeller's frames with any ASE calculator (e.g. a DFT code)", example=_example)]
