"""Whether the frames a structural average is taken over are one configuration or many.

Block errors of whole-frame structure (g(r), S(q), Qn, angles) are the scatter of consecutive stretches of the
run: right when the structure forgets itself within a block, as a melt's does. In a glass, or any run shorter
than its τ_α, the atoms only vibrate about one configuration; the blocks then agree to the last digit and "± 0"
would read as a measurement without error, when what is unknown — how another configuration (another quench, a
longer run) would differ — is not measured at all. :class:`EndFrames` keeps the first and last frames an
observable used; when the atoms moved less than :data:`RELAXED_A` between them, :func:`frozen_note` says so on
every block error.
"""

from __future__ import annotations

import numpy as np

RELAXED_A = 1.0
"""Root-mean-square displacement over the frames used below which they are one configuration: well under the
shortest neighbour distance of an oxide (Si–O, 1.6 Å), so no bond has had to break."""


class EndFrames:
    """The first and the last of the frames an observable bins (unwrapped positions, by frame index)."""

    def __init__(self) -> None:
        self.first: tuple[int, np.ndarray] | None = None
        self.last: tuple[int, np.ndarray] | None = None

    def see(self, frame: int, unwrapped_A: np.ndarray) -> None:
        if self.first is None or frame < self.first[0]:
            self.first = (frame, np.array(unwrapped_A, dtype=float))
        if self.last is None or frame > self.last[0]:
            self.last = (frame, np.array(unwrapped_A, dtype=float))

    def merge(self, other: EndFrames) -> None:
        for end in (other.first, other.last):
            if end is not None:
                self.see(*end)

    def rms_displacement_A(self) -> float:
        """√⟨|r(last) − r(first)|²⟩ over the atoms; NaN before two frames are seen."""
        if self.first is None or self.last is None or self.first[0] == self.last[0]:
            return float("nan")
        d = self.last[1] - self.first[1]
        return float(np.sqrt(np.einsum("ai,ai->", d, d) / len(d)))

    @staticmethod
    def nbytes(atoms: int) -> int:
        return 2 * atoms * 3 * 8


def frozen_note(rms_A: float) -> str:
    """The caution for block errors when the frames are one configuration (empty when they are not, or when there
    were too few frames to tell)."""
    if not np.isfinite(rms_A) or rms_A >= RELAXED_A:
        return ""
    return (f"one configuration: atoms moved {rms_A:.2g} Å rms over the frames used (< {RELAXED_A:g} Å), so ± is "
            "its scatter in time, not the spread between configurations (replicas measure that)")


def annotate(results: dict, note: str) -> dict:
    """``results`` with ``note`` added to every estimate's note (its ``<name>_note`` array)."""
    if not note:
        return results
    from meltdyn.hooks.data import ResultArray

    out = dict(results)
    for name, array in results.items():
        if name.endswith("_note") and name[:-len("_note")] in results:
            joined = np.vectorize(lambda old: f"{old}; {note}" if old else note, otypes=[object])(array.values)
            out[name] = ResultArray(joined.astype(str), array.unit, array.dims, array.description)
    return out


__all__ = ["RELAXED_A", "EndFrames", "annotate", "frozen_note"]
