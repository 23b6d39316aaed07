"""An ASE calculator for the labelling tests: Lennard-Jones that counts its calculations and fails at one."""

from __future__ import annotations

from typing import Any

from ase.calculators.lj import LennardJones


class CountingLJ(LennardJones):
    calculations = 0

    def __init__(self, fail_at: int = 0, **kwargs: Any):
        super().__init__(**kwargs)
        self.fail_at = fail_at

    def calculate(self, *args: Any, **kwargs: Any) -> None:
        type(self).calculations += 1
        if type(self).calculations == self.fail_at:
            raise RuntimeError("simulated crash of the reference code")
        super().calculate(*args, **kwargs)
