"""Every foreign trajectory format is checked as it is read: `meltdyn analyse` on a broken LAMMPS dump, extxyz or
DCD exits 2 with a message naming the file, the frame, the field and the value; no traceback, no hang, no huge
allocation, nothing written outside the analysis' own output_dir, and the input untouched."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from meltdyn.cli.dispatch import main
from refusals import assert_clean_refusal, run_cli

# A reader that fails half-built and raises again when it is collected prints a traceback at exit: a failure here.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")

BOX = 12.0
SYMBOLS = ["Na", "Si", "O", "O"]
TYPES = {"Na": 1, "Si": 2, "O": 3}


def analyse_refused(tmp_path: Path, trajectory: Path, needles: list[str], **settings: object) -> str:
    """Run `meltdyn analyse` on ``trajectory``; assert a clean refusal that names every needle; return the
    message."""
    out = tmp_path / "out"
    spec = tmp_path / "analysis.yaml"
    lines = [f"trajectory: '{trajectory}'", f"output_dir: '{out}'", "timestep_ps: 0.001",
             "observables:", "  - plugin: msd"]
    lines += [f"{k}: {v}" for k, v in settings.items()]
    spec.write_text("\n".join(lines) + "\n")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    rc, message = run_cli(["analyse", str(spec)], cwd)
    assert_clean_refusal(rc, message, needles)
    after = {p for p in tmp_path.rglob("*") if p.is_file()}
    assert {p for p in after - set(before) if not p.is_relative_to(out)} == set(), "files written outside output_dir"
    assert not [p for p in after if p.is_relative_to(out) and p.name.startswith("trajectory.h5")], "conversion left"
    assert all(p.read_bytes() == data for p, data in before.items()), "an input file changed"
    return message


# ---------------------------------------------------------------------------------------------------- LAMMPS dumps


def _positions(k: int) -> np.ndarray:
    base = np.array([[1.0, 1.0, 1.0], [4.0, 4.0, 4.0], [7.0, 7.0, 7.0], [10.0, 2.0, 5.0]])
    return base + 0.01 * k


def dump_frame(k: int, *, step: str | None = None, count: str | None = None, box_header: str = "pp pp pp",
               box: list[str] | None = None, columns: str = "id type x y z",
               rows: list[str] | None = None) -> list[str]:
    """One frame of a good 4-atom dump, any part replaceable."""
    p = _positions(k)
    default_rows = [f"{i + 1} {TYPES[s]} {p[i, 0]:.6f} {p[i, 1]:.6f} {p[i, 2]:.6f}" for i, s in enumerate(SYMBOLS)]
    return (["ITEM: TIMESTEP", step if step is not None else str(10 * k), "ITEM: NUMBER OF ATOMS",
             count if count is not None else str(len(SYMBOLS)), f"ITEM: BOX BOUNDS {box_header}"]
            + (box if box is not None else [f"0.0 {BOX}"] * 3) + [f"ITEM: ATOMS {columns}"]
            + (rows if rows is not None else default_rows))


def dump_text(frames: int = 3, bad: int = 1, **change: object) -> str:
    """A dump of ``frames`` good frames but frame ``bad``, built with ``change``."""
    lines: list[str] = []
    for k in range(frames):
        lines += dump_frame(k, **(change if k == bad else {}))  # type: ignore[arg-type]
    return "\n".join(lines) + "\n"


def rows_with(k: int, i: int, row: str) -> list[str]:
    """Frame ``k``'s rows with row ``i`` replaced."""
    rows = dump_frame(k)[9:]
    rows[i] = row
    return rows


def dump_in(columns: str, row: Callable[[int, str, np.ndarray], str], bad_row: str) -> str:
    """Three frames with these ``columns``, row i of atom ``s`` at ``p`` as ``row(i, s, p)``; frame 1's first row
    replaced by ``bad_row``."""
    lines: list[str] = []
    for k in range(3):
        rows = [row(i, s, p) for i, (s, p) in enumerate(zip(SYMBOLS, _positions(k)))]
        rows[0] = bad_row if k == 1 else rows[0]
        lines += dump_frame(k, columns=columns, rows=rows)
    return "\n".join(lines) + "\n"


def scaled_dump(bad_value: float) -> str:
    return dump_in("id type xs ys zs", lambda i, s, p: f"{i + 1} {TYPES[s]} {p[0] / BOX} {p[1] / BOX} {p[2] / BOX}",
                   f"1 1 {bad_value} 0.5 0.5")


def imaged_dump(bad_row: str) -> str:
    return dump_in("id type x y z ix iy iz", lambda i, s, p: f"{i + 1} {TYPES[s]} {p[0]} {p[1]} {p[2]} 0 0 0",
                   bad_row)


NAMES = "type_elements: {'1': Na, '2': Si, '3': O}"

DUMPS: dict[str, tuple[Callable[[], str], list[str]]] = {
    "non-integer-id": (lambda: dump_text(rows=rows_with(1, 2, "3.5 3 7.0 7.0 7.0")),
                       ["frame 1 (step 10)", "line 25", "id '3.5' is not an integer"]),
    "id-word": (lambda: dump_text(rows=rows_with(1, 0, "one 1 1.0 1.0 1.0")), ["frame 1", "id 'one'"]),
    "id-beyond-int64": (lambda: dump_text(rows=rows_with(1, 0, f"{2**70} 1 1.0 1.0 1.0")),
                        ["frame 1", f"id '{2**70}' is not an integer"]),
    "triclinic-two-numbers": (lambda: dump_text(bad=0, box_header="xy xz yz pp pp pp"),
                              ["frame 0 (step 0)", "line 6", "BOX BOUNDS line", "3 finite numbers",
                               "lo hi tilt"]),
    "orthogonal-three-numbers": (lambda: dump_text(box=["0 12 0.5"] * 3), ["frame 1", "BOX BOUNDS line",
                                                                          "2 finite numbers"]),
    "general-triclinic": (lambda: dump_text(bad=0, box_header="abc origin pp pp pp"),
                          ["frame 0", "general", "xy xz yz"]),
    "zero-length-box": (lambda: dump_text(box=["0.0 12.0", "5.0 5.0", "0.0 12.0"]),
                        ["frame 1 (step 10)", "line 20", "y length 0.0", "hi must exceed lo"]),
    "negative-box": (lambda: dump_text(box=["0.0 12.0", "0.0 12.0", "12.0 0.0"]),
                     ["frame 1", "z length -12.0", "hi must exceed lo"]),
    "nan-box": (lambda: dump_text(box=["0.0 nan", "0.0 12.0", "0.0 12.0"]),
                ["frame 1", "BOX BOUNDS line ['0.0', 'nan']", "finite"]),
    "inf-box": (lambda: dump_text(bad=2, box=["0.0 12.0", "-inf 12.0", "0.0 12.0"]), ["frame 2", "'-inf'"]),
    "huge-box": (lambda: dump_text(box=["0.0 1e300"] + ["0.0 12.0"] * 2), ["frame 1", "1e300", "within"]),
    "box-word": (lambda: dump_text(box=["zero twelve"] + ["0.0 12.0"] * 2), ["frame 1", "'zero', 'twelve'"]),
    "box-line-missing": (lambda: dump_text(box=["0.0 12.0"] * 2), ["frame 1", "expected 'ITEM: ATOMS'"]),
    "tilt-beyond-box": (lambda: dump_text(box_header="xy xz yz pp pp pp",
                                          box=["0.0 12.0 24.0", "0.0 12.0 0.0", "0.0 12.0 0.0"]),
                        ["frame 1", "line 19", "x length -12.0", "more than the tilts"]),
    "step-2-70": (lambda: dump_text(step=str(2**70)), ["frame 1", f"step {2**70}", "out of range", "2**53"]),
    "step-negative": (lambda: dump_text(bad=0, step="-5"), ["frame 0", "step -5", "out of range"]),
    "step-5000-digits": (lambda: dump_text(step="9" * 5000), ["frame 1", "the step after ITEM: TIMESTEP",
                                                              "is not an integer"]),
    "step-float": (lambda: dump_text(step="10.5"), ["frame 1", "'10.5' is not an integer"]),
    "atoms-minus-5": (lambda: dump_text(count="-5"), ["frame 1 (step 10)", "line 17", "NUMBER OF ATOMS is -5",
                                                      "allowed 1 to"]),
    "atoms-zero": (lambda: dump_text(bad=0, count="0"), ["frame 0 (step 0)", "NUMBER OF ATOMS is 0"]),
    "atoms-two-billion": (lambda: dump_text(count="2000000000"), ["frame 1", "NUMBER OF ATOMS is 2000000000",
                                                                  "bytes left in the file"]),
    "atoms-word": (lambda: dump_text(count="four"), ["frame 1", "NUMBER OF ATOMS 'four' is not an integer"]),
    "atoms-more-than-rows": (lambda: dump_text(frames=2, count="6") + "1 1 1 1 1\n" * 10,
                             ["frame 1 (step 10)", "line 27", "atom id 1 appears again"]),
    "atoms-changes": (lambda: dump_text(count="3", rows=dump_frame(1)[9:12]),
                      ["frame 1 (step 10)", "atom ids differ from frame 0's", "ids missing [4]"]),
    "row-missing-type": (lambda: dump_text(rows=rows_with(1, 1, "2 2.252072 4.0 4.0")),
                         ["frame 1 (step 10)", "line 24", "4 values", "names 5 columns (id type x y z)"]),
    "row-extra-value": (lambda: dump_text(rows=rows_with(1, 1, "2 2 4.0 4.0 4.0 9")), ["frame 1", "6 values"]),
    "row-empty": (lambda: dump_text(rows=rows_with(1, 3, "")), ["frame 1", "0 values"]),
    "nan-coordinate": (lambda: dump_text(rows=rows_with(1, 2, "3 3 nan 7.0 7.0")),
                       ["frame 1 (step 10)", "atom 2", "position x = nan", "finite"]),
    "inf-coordinate": (lambda: dump_text(rows=rows_with(1, 2, "3 3 7.0 inf 7.0")), ["frame 1", "position y = inf"]),
    "1e300-coordinate": (lambda: dump_text(rows=rows_with(1, 0, "1 1 1.0 1.0 1e300")),
                         ["frame 1", "atom 0", "position z = 1e+300"]),
    "coordinate-word": (lambda: dump_text(rows=rows_with(1, 0, "1 1 one 1.0 1.0")), ["frame 1", "line 23",
                                                                                     "x 'one' is not a number"]),
    "id-duplicated": (lambda: dump_text(rows=rows_with(1, 3, "2 3 10.0 2.0 5.0")),
                      ["frame 1 (step 10)", "atom id 2 appears again", "line 26", "first on line 24"]),
    "id-replaced": (lambda: dump_text(rows=rows_with(1, 3, "9 3 10.0 2.0 5.0")),
                    ["frame 1 (step 10)", "atom ids differ from frame 0's", "ids missing [4], new [9]"]),
    "species-changes": (lambda: dump_text(bad=2, rows=rows_with(2, 0, "1 2 1.0 1.0 1.0")),
                        ["frame 2 (step 20)", "atom id 1 has type '2', '1' in frame 0", "keeps its species"]),
    "step-repeats": (lambda: dump_text(bad=2, step="10"), ["frame 2 repeats step 10", "steps must increase"]),
    "step-goes-back": (lambda: dump_text(bad=2, step="5"), ["frame 2 goes back to step 5"]),
    "no-timestep-item": (lambda: dump_text().replace("ITEM: TIMESTEP\n10\n", "ITEM: TIME\n10\n"),
                         ["frame 1", "expected 'ITEM: TIMESTEP'"]),
    "truncated-rows": (lambda: dump_text(frames=2)[:-40], ["frame 1 (step 10)", "after 3 of its 4 atom rows"]),
    "truncated-header": (lambda: "\n".join(dump_text(frames=2).splitlines()[:17]) + "\n",
                         ["ends inside frame 1 (step 10)", "BOX BOUNDS"]),
    "no-id-column": (lambda: dump_text(bad=0, columns="type x y z",
                                       rows=[" ".join(r.split()[1:]) for r in dump_frame(0)[9:]]),
                     ["need 'id'"]),
    "no-coordinate-columns": (lambda: dump_text(bad=0, columns="id type vx vy vz"),
                              ["have no coordinates", "x y z"]),
    "column-twice": (lambda: dump_text(bad=0, columns="id type x x z"), ["frame 0", "each once"]),
    "scaled-coordinate-huge": (lambda: scaled_dump(1e9), ["frame 1", "scaled coordinate x = 1000000000.0"]),
    "scaled-coordinate-nan": (lambda: scaled_dump(float("nan")), ["frame 1", "scaled coordinate x = nan"]),
    "columns-change": (lambda: dump_text(columns="id type xu yu zu"), ["frame 1", "line 22", "columns",
                                                                       "the same columns"]),
    "image-flag-huge": (lambda: imaged_dump("1 1 1.0 1.0 1.0 0 0 99999999999"), ["frame 1", "image flag z"]),
    "image-flag-float": (lambda: imaged_dump("1 1 1.0 1.0 1.0 0 0.5 0"), ["frame 1", "line 23",
                                                                          "iy '0.5' is not an integer"]),
    "image-flag-missing": (lambda: imaged_dump("1 1 1.0 1.0 1.0 0 0"), ["frame 1", "7 values"]),
    "binary-garbage": (lambda: "\x00\x01\x02garbage\xff" * 50, ["frame 0", "not a LAMMPS text dump"]),
    "empty-file": (lambda: "", ["holds no LAMMPS dump frame"]),
    "one-frame": (lambda: dump_text(frames=1), ["holds one frame", "at least two"]),
    "unknown-type": (lambda: dump_text(rows=rows_with(1, 0, "1 7 1.0 1.0 1.0")),
                     ["frame 1", "atom id 1 has type '7', '1' in frame 0"]),
    "long-line": (lambda: dump_text(rows=rows_with(1, 0, "1 1 1.0 1.0 " + "1" * 70000)),
                  ["line 23", "longer than 65536 bytes"]),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("case", sorted(DUMPS))
def test_a_broken_lammps_dump_is_refused_with_file_frame_field_and_value(case, tmp_path):
    text, needles = DUMPS[case]
    path = tmp_path / "broken.lammpstrj"
    path.write_text(text(), errors="surrogateescape")
    analyse_refused(tmp_path, path, ["broken.lammpstrj", *needles], type_elements="{'1': Na, '2': Si, '3': O}")


@pytest.mark.subprocess
def test_a_dump_type_without_an_element_names_the_type(tmp_path):
    path = tmp_path / "t.dump"
    path.write_text(dump_text())
    analyse_refused(tmp_path, path, ["type_elements: no element for atom types ['3']"],
                    type_elements="{'1': Na, '2': Si}")


def test_a_good_dump_still_converts(tmp_path):
    """The checks refuse only what is wrong: the same builder's good file is analysed."""
    path = tmp_path / "good.lammpstrj"
    path.write_text(dump_text(frames=4, bad=-1))
    spec = tmp_path / "a.yaml"
    spec.write_text(f"trajectory: '{path}'\noutput_dir: '{tmp_path / 'out'}'\ntimestep_ps: 0.001\n{NAMES}\n"
                    "observables:\n  - plugin: msd\n")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["analyse", str(spec)]) == 0


# ---------------------------------------------------------------------------------------------------------- extxyz


def xyz_frame(k: int, *, count: str | None = None, lattice: str | None = None, symbols: list[str] | None = None,
              positions: np.ndarray | None = None, extra: str = "", rows: list[str] | None = None) -> list[str]:
    symbols = symbols if symbols is not None else SYMBOLS
    p = positions if positions is not None else _positions(k)[: len(symbols)]
    lattice = lattice if lattice is not None else f"{BOX} 0 0 0 {BOX} 0 0 0 {BOX}"
    header = f'Lattice="{lattice}" Properties=species:S:1:pos:R:3 pbc="T T T" step={10 * k}{extra}'
    body = rows if rows is not None else [f"{s} {float(x)!r} {float(y)!r} {float(z)!r}" for s, (x, y, z) in zip(symbols, p)]
    return [count if count is not None else str(len(symbols)), header, *body]


def xyz_text(frames: int = 3, bad: int = 1, **change: object) -> str:
    lines: list[str] = []
    for k in range(frames):
        lines += xyz_frame(k, **(change if k == bad else {}))  # type: ignore[arg-type]
    return "\n".join(lines) + "\n"


def _with(k: int, i: int, axis: int, value: float) -> np.ndarray:
    p = _positions(k).copy()
    p[i, axis] = value
    return p


XYZ: dict[str, tuple[Callable[[], str], list[str]]] = {
    "zero-lattice": (lambda: xyz_text(lattice="0 0 0 0 0 0 0 0 0"), ["frame 1", "cell vector a = [0.0, 0.0, 0.0]"]),
    "singular-lattice": (lambda: xyz_text(lattice="12 0 0 24 0 0 0 0 12"), ["frame 1", "flat or singular"]),
    "flat-lattice": (lambda: xyz_text(bad=0, lattice="12 0 0 0 12 0 12 12 1e-9"), ["frame 0", "flat or singular"]),
    "nan-lattice": (lambda: xyz_text(lattice="nan 0 0 0 12 0 0 0 12"), ["frame 1", "not three finite vectors"]),
    "huge-lattice": (lambda: xyz_text(lattice="1e300 0 0 0 12 0 0 0 12"), ["frame 1", "cell vector a = [1e+300, 0.0, 0.0]"]),
    "count-changes": (lambda: xyz_text(symbols=SYMBOLS[:3]), ["frame 1", "3 atoms, frame 0 has 4"]),
    "count-grows": (lambda: xyz_text(bad=2, symbols=SYMBOLS + ["O"],
                                     positions=np.vstack([_positions(2), [[3.0, 3.0, 3.0]]])),
                    ["frame 2", "5 atoms, frame 0 has 4"]),
    "count-two-billion": (lambda: xyz_text(count="2000000000"), ["frame 1 declares 2000000000 atoms",
                                                                 "bytes left in the file"]),
    "count-beyond-file": (lambda: xyz_text(bad=2, count="60"), ["frame 2 declares 60 atoms"]),
    "count-zero": (lambda: xyz_text(bad=0, count="0"), ["frame 0 declares 0 atoms"]),
    "count-negative": (lambda: xyz_text(count="-4"), ["frame 1 declares -4 atoms"]),
    "count-word": (lambda: xyz_text(count="four"), ["frame 1's atom count 'four' is not an integer"]),
    "truncated": (lambda: xyz_text()[:-30], ["ends in frame 2", "of its 4 atom lines"]),
    "species-changes": (lambda: xyz_text(symbols=["Na", "Si", "Si", "O"]),
                        ["frame 1", "atom 2 is 'Si', 'O' in frame 0", "keeps its species"]),
    "species-swapped": (lambda: xyz_text(bad=2, symbols=["Si", "Na", "O", "O"]), ["frame 2", "atom 0 is 'Si'"]),
    "nan-position": (lambda: xyz_text(positions=_with(1, 1, 0, float("nan"))), ["frame 1", "position x = nan"]),
    "inf-position": (lambda: xyz_text(positions=_with(1, 3, 2, float("-inf"))),
                     ["frame 1", "atom 3", "position z = -inf"]),
    "1e300-position": (lambda: xyz_text(positions=_with(1, 0, 1, 1e300)), ["frame 1", "position y = 1e+300"]),
    "not-periodic": (lambda: xyz_text().replace('pbc="T T T"', 'pbc="T T F"', 2), ["frame 0", "not periodic"]),
    "step-float": (lambda: xyz_text(extra=" step=10.5").replace(" step=10 step=10.5", " step=10.5"),
                   ["frame 1", "step 10.5 is not an integer"]),
    "step-goes-back": (lambda: xyz_text(bad=2).replace("step=20", "step=5"), ["frame 2 goes back to step 5"]),
    "step-huge": (lambda: xyz_text().replace("step=20", f"step={2**70}"), ["frame 2", "out of range"]),
    "time-nan": (lambda: xyz_text(bad=0).replace(" step=0", " time=nan").replace(" step=10", " time=0.01")
                 .replace(" step=20", " time=0.02"), ["frame 0", "time nan ps is not finite"]),
    "garbage": (lambda: "7\x00\x01garbage\nnot xyz at all\n", ["line 1", "atom count", "is not an integer"]),
    "empty": (lambda: "", ["ASE cannot read it", "Empty file"]),
    "unknown-species": (lambda: xyz_text(bad=0, symbols=["Na", "Si", "Q", "O"]), ["'Q'"]),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("case", sorted(XYZ))
def test_a_broken_extxyz_is_refused_with_file_frame_field_and_value(case, tmp_path):
    text, needles = XYZ[case]
    path = tmp_path / "broken.extxyz"
    path.write_text(text(), errors="surrogateescape")
    analyse_refused(tmp_path, path, ["broken.extxyz", *needles], frame_interval_steps=10)


def test_a_good_extxyz_still_converts(tmp_path):
    path = tmp_path / "good.extxyz"
    path.write_text(xyz_text(frames=4, bad=-1))
    spec = tmp_path / "a.yaml"
    spec.write_text(f"trajectory: '{path}'\noutput_dir: '{tmp_path / 'out'}'\ntimestep_ps: 0.001\n"
                    "observables:\n  - plugin: msd\n")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["analyse", str(spec)]) == 0


# ------------------------------------------------------------------------------------------------------------- DCD


@pytest.fixture
def topology(tmp_path):
    mda = pytest.importorskip("MDAnalysis")
    u = mda.Universe.empty(len(SYMBOLS), trajectory=True, atom_resindex=[0] * len(SYMBOLS))
    u.add_TopologyAttr("names", SYMBOLS)
    u.add_TopologyAttr("resnames", ["MEL"])
    u.dimensions = [BOX, BOX, BOX, 90, 90, 90]
    u.atoms.positions = _positions(0)
    path = tmp_path / "inputs" / "top.pdb"
    path.parent.mkdir()
    u.atoms.write(str(path))
    return u, path


def _dcd(u, path: Path, frames: list[tuple[np.ndarray, list[float] | None]]) -> Path:
    import MDAnalysis as mda

    with mda.Writer(str(path), len(SYMBOLS)) as w:
        for positions, box in frames:
            u.atoms.positions = positions
            u.dimensions = box
            w.write(u.atoms)
    return path


GOOD_BOX = [BOX, BOX, BOX, 90.0, 90.0, 90.0]

DCDS: dict[str, tuple[Callable[..., object], list[str]]] = {
    "garbage": (lambda u, p: p.write_bytes(b"\x54\x00\x00\x00CORD" + bytes(range(256)) * 4), ["not a DCD file"]),
    "text": (lambda u, p: p.write_text("this is not a DCD\n" * 20), ["not a DCD file"]),
    "empty": (lambda u, p: p.write_bytes(b""), ["not a DCD file"]),
    "truncated": (lambda u, p: p.write_bytes(_dcd(u, p, [(_positions(k), GOOD_BOX) for k in range(3)])
                                             .read_bytes()[:-30]), ["header declares 3 frames", "holds 2"]),
    "nan-position": (lambda u, p: _dcd(u, p, [(_positions(0), GOOD_BOX),
                                              (_with(1, 2, 0, float("nan")), GOOD_BOX)]),
                     ["frame 1", "position x = nan"]),
    "zero-box": (lambda u, p: _dcd(u, p, [(_positions(0), GOOD_BOX), (_positions(1), [0.0, 0.0, 0.0, 90, 90, 90])]),
                 ["frame 1", "cell"]),
    "wrong-atom-count": (lambda u, p: p.write_bytes(_dcd_of_atoms(u, p, 3)), ["MDAnalysis cannot read them"]),
}


def _dcd_of_atoms(u, path: Path, n: int) -> bytes:
    import MDAnalysis as mda

    with mda.Writer(str(path), n) as w:
        for k in range(2):
            w.write(mda.Universe.empty(n, trajectory=True).atoms)
    return path.read_bytes()


@pytest.mark.subprocess
@pytest.mark.parametrize("case", sorted(DCDS))
def test_a_broken_dcd_is_refused_with_file_frame_and_value(case, tmp_path, topology):
    u, top = topology
    path = tmp_path / "inputs" / "broken.dcd"
    make, needles = DCDS[case]
    make(u, path)
    analyse_refused(tmp_path, path, ["broken.dcd", *needles], topology=f"'{top}'")


@pytest.mark.subprocess
def test_a_dcd_without_its_topology_names_the_field(tmp_path, topology):
    u, top = topology
    path = _dcd(u, tmp_path / "inputs" / "t.dcd", [(_positions(k), GOOD_BOX) for k in range(2)])
    analyse_refused(tmp_path, path, ["topology: format 'dcd' needs a file"])
    (tmp_path / "cwd").rmdir()
    analyse_refused(tmp_path, path, ["topology:", "missing.pdb", "is not a file"],
                    topology=f"'{tmp_path / 'missing.pdb'}'")
