"""`meltdyn train` and the painn potential's model files, attacked: every hostile input exits 2 with a message naming
the field, file, frame and value, with no traceback, no hang, nothing written outside the training's own
output_dir (and, since everything is checked first, no output_dir at all), user files untouched, and no code run
from the study file."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from refusals import refused, run_cli
from training_inputs import SYMBOLS, base_spec, frame_text, good_frames

def train_refused(tmp_path: Path, spec: dict[str, Any], needles: list[str]) -> str:
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(spec))
    return refused(tmp_path, ["train", "-q", str(path)], needles, Path(spec["output_dir"]) if isinstance(
        spec.get("output_dir"), str) else None)


# ------------------------------------------------------------------------------------- no code from a study file

CALCULATORS = {
    "os-system": ("os:system", ["reference_data.calculator", "'os:system'", "not a class"]),
    "math-pi": ("math:pi", ["'math:pi'", "float, not a class"]),
    "missing-module": ("no_such_module_xyz:Calc", ["'no_such_module_xyz'", "cannot be found", "install"]),
    "missing-submodule": ("ase.no_such_thing:Calc", ["'ase.no_such_thing'", "cannot be found"]),
    "missing-attribute": ("ase.calculators.lj:NoSuchCalculator", ["has no 'NoSuchCalculator'"]),
    "builtins-object": ("builtins:object", ["'builtins:object'", "not an ASE Calculator"]),
    "builtins-eval": ("builtins:eval", ["'builtins:eval'", "not a class"]),
    "subprocess-popen": ("subprocess:Popen", ["'subprocess:Popen'", "not an ASE Calculator"]),
    "os-path-join": ("os.path:join", ["'os.path:join'", "function, not a class"]),
    "pathlib-path": ("pathlib:Path", ["'pathlib:Path'", "not an ASE Calculator"]),
    "shutil-rmtree": ("shutil:rmtree", ["'shutil:rmtree'", "not a class"]),
    "no-colon": ("os.system", ["'os.system'", "is not 'module:Class'"]),
    "path-traversal": ("../../etc:passwd", ["is not 'module:Class'"]),
    "call-syntax": ("os:system('touch PWNED')", ["is not 'module:Class'"]),
    "empty": ("", ["is not 'module:Class'"]),
    "lj-module-not-class": ("ase.calculators:lj", ["'ase.calculators:lj'", "module, not a class"]),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("name", CALCULATORS)
def test_a_calculator_that_is_not_an_ase_calculator_class_is_refused_before_anything_runs(name, tmp_path):
    calculator, needles = CALCULATORS[name]
    data = tmp_path / "configs.extxyz"
    data.write_text(good_frames())
    spec = base_spec(tmp_path / "out", data)
    spec["reference_data"] = {"plugin": "ase_calculator", "calculator": calculator,
                              "calculator_kwargs": {"command": "touch PWNED", "args": ["PWNED"]},
                              "frames_from": {"plugin": "ase_file", "paths": [str(data)]}}
    train_refused(tmp_path, spec, needles)
    assert not list(tmp_path.rglob("PWNED")) and not Path("PWNED").exists()


@pytest.mark.subprocess
def test_a_real_calculator_with_a_bad_frames_source_is_refused_before_any_calculation(tmp_path):
    spec = base_spec(tmp_path / "out", tmp_path / "nothing-*.extxyz")
    spec["reference_data"] = {"plugin": "ase_calculator", "calculator": "ase.calculators.lj:LennardJones",
                              "frames_from": {"plugin": "ase_file", "paths": [str(tmp_path / "nothing-*.extxyz")]}}
    train_refused(tmp_path, spec, ["reference_data.paths[0]", "nothing-*.extxyz", "matches no file"])


@pytest.mark.subprocess
def test_an_unknown_frames_source_is_named(tmp_path):
    spec = base_spec(tmp_path / "out", tmp_path / "x")
    spec["reference_data"] = {"plugin": "ase_calculator", "calculator": "ase.calculators.lj:LennardJones",
                              "frames_from": {"plugin": "no_such_labeller"}}
    train_refused(tmp_path, spec, ["frames_from", "'no_such_labeller'"])


# ----------------------------------------------------------------------------------------- labelled frames, read

def _frames(*texts: str) -> str:
    return "".join(texts)


FILES: dict[str, tuple[Any, list[str]]] = {
    "no-energy": (lambda: _frames(frame_text(0, energy=None), good_frames(5)),
                  ["lack labels", "[0]: no ['energy']"]),
    "no-stress": (lambda: _frames(good_frames(2), frame_text(2, stress=None), good_frames(3)),
                  ["lack labels", "[2]: no ['stress']"]),
    "no-forces": (lambda: "".join(frame_text(k, properties="Properties=species:S:1:pos:R:3",
                                             rows=[f"{s} {1 + k + i:.1f} 1.0 1.0" for i, s in enumerate(SYMBOLS)])
                                  for k in range(6)), ["lack labels", "no ['forces']"]),
    "energy-inf": (lambda: _frames(good_frames(3), frame_text(3, energy="inf"), good_frames(2)),
                   ["frame 3", "energy", "inf"]),
    "energy-nan": (lambda: _frames(frame_text(0, energy="nan"), good_frames(5)), ["frame 0", "energy", "nan"]),
    "energy-1e400": (lambda: _frames(frame_text(0, energy="1e400"), good_frames(5)), ["frame 0", "energy", "inf"]),
    "forces-nan": (lambda: _frames(good_frames(1), frame_text(1, force="nan"), good_frames(4)),
                   ["frame 1", "forces[0, 0]", "nan"]),
    "forces-inf": (lambda: _frames(frame_text(0, force="-inf"), good_frames(5)), ["frame 0", "forces[0, 0]", "inf"]),
    "forces-two-columns": (lambda: "".join(frame_text(k, properties="Properties=species:S:1:pos:R:3:forces:R:2",
                                                      rows=[f"{s} {1 + i:.1f} 1.0 1.0 0.1 0.2"
                                                            for i, s in enumerate(SYMBOLS)]) for k in range(6)),
                           ["forces", "expected (4, 3)"]),
    "stress-nan": (lambda: _frames(frame_text(0, stress='"nan 0 0 0 0 0 0 0 0"'), good_frames(5)),
                   ["frame 0", "stress[0, 0]", "nan"]),
    "stress-inf": (lambda: _frames(good_frames(4), frame_text(4, stress='"0 0 0 0 inf 0 0 0 0"')),
                   ["frame 4", "stress[1, 1]", "inf"]),
    "stress-four-values": (lambda: _frames(frame_text(0, stress='"1 2 3 4"'), good_frames(5)),
                           ["frame 0", "cannot be read", "stress"]),
    "position-nan": (lambda: _frames(frame_text(0, position="nan"), good_frames(5)),
                     ["frame 0", "positions[0, 0]", "nan"]),
    "lattice-zero": (lambda: _frames(frame_text(0, lattice='Lattice="0 0 0 0 0 0 0 0 0"'), good_frames(5)),
                     ["frame 0", "cell", "zero or singular"]),
    "lattice-singular": (lambda: _frames(frame_text(0, lattice='Lattice="8 0 0 8 0 0 0 0 8"'), good_frames(5)),
                         ["frame 0", "cell", "zero or singular"]),
    "lattice-nan": (lambda: _frames(frame_text(0, lattice='Lattice="nan 0 0 0 8 0 0 0 8"'), good_frames(5)),
                    ["frame 0", "cell", "nan"]),
    "unknown-element": (lambda: _frames(good_frames(2), frame_text(2, symbols=["Na", "Si", "Xq", "O"])),
                        ["Xq"]),
    "dummy-element-X": (lambda: _frames(good_frames(2), frame_text(2, symbols=["Na", "Si", "X", "O"])),
                        ["frame 2", "['X']", "not chemical element symbols"]),
    "rows-missing": (lambda: _frames(good_frames(2), frame_text(2, rows=["Na 1 1 1 0 0 0", "Si 2 2 2 0 0 0"])),
                     ["frame 2", "2 of its 4 atom lines"]),
    "count-two-billion": (lambda: _frames(frame_text(0, n="2000000000")), ["declares 2000000000 atoms"]),
    "count-negative": (lambda: _frames(frame_text(0, n="-4")), ["declares -4 atoms"]),
    "count-not-a-number": (lambda: _frames(frame_text(0, n="four")), ["atom count", "'four'"]),
    "garbage-bytes": (lambda: "\x00\x01binary\xff\xfe" * 40, ["reference_data file"]),
    "single-frame": (lambda: frame_text(0), ["hold 1 frame(s)", "validation_fraction", "test_fraction"]),
    "two-frames": (lambda: good_frames(2), ["hold 2 frame(s)", "each needs at least one frame"]),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("name", FILES)
def test_a_broken_reference_file_is_refused_naming_the_file_frame_and_field(name, tmp_path):
    make, needles = FILES[name]
    data = tmp_path / "user" / "ref.extxyz"
    data.parent.mkdir()
    data.write_text(make())
    message = train_refused(tmp_path, base_spec(tmp_path / "out", data), needles)
    if name not in ("single-frame", "two-frames"):
        assert "ref.extxyz" in message


@pytest.mark.subprocess
def test_three_frames_split_0_49_and_0_49_leave_no_training_set(tmp_path):
    data = tmp_path / "ref.extxyz"
    data.write_text(good_frames(3))
    spec = base_spec(tmp_path / "out", data)
    spec["training"].update(validation_fraction=0.49, test_fraction=0.49)
    train_refused(tmp_path, spec, ["training.validation_fraction=0.49", "training.test_fraction=0.49", "3 frame(s)",
                                   "0.06 by its share"])


PATHS = {
    "matches-nothing": (lambda d: [str(d / "absent-*.extxyz")], ["reference_data.paths[0]", "matches no file"]),
    "empty-file": (lambda d: [str(_touch(d / "empty.extxyz"))], ["reference_data.paths[0]", "empty.extxyz",
                                                                  "is empty (0 bytes)"]),
    "a-directory": (lambda d: [str(_mkdir(d / "frames"))], ["reference_data.paths[0]", "is a directory"]),
    "second-pattern-empty": (lambda d: [str(_good(d / "a.extxyz")), str(d / "b-*.xyz")],
                             ["reference_data.paths[1]", "b-*.xyz", "matches no file"]),
    "nul-byte": (lambda d: [str(d / "a\0b.extxyz")], ["reference_data.paths[0]", "NUL"]),
    "second-file-bad": (lambda d: [str(_good(d / "a.extxyz")), str(_bad(d / "b.extxyz"))],
                        ["b.extxyz", "frame 0", "forces[0, 0]"]),
    "garbage-vasprun": (lambda d: [str(_write(d / "vasprun.xml", "<modeling><broken"))],
                        ["vasprun.xml", "cannot be read"]),
    "garbage-outcar": (lambda d: [str(_write(d / "OUTCAR", "not an outcar\n" * 10))], ["OUTCAR", "cannot be read"]),
}


def _touch(p: Path) -> Path:
    p.touch()
    return p


def _mkdir(p: Path) -> Path:
    p.mkdir()
    return p


def _write(p: Path, text: str) -> Path:
    p.write_text(text)
    return p


def _good(p: Path) -> Path:
    return _write(p, good_frames(6))


def _bad(p: Path) -> Path:
    return _write(p, frame_text(0, force="nan"))


@pytest.mark.subprocess
@pytest.mark.parametrize("name", PATHS)
def test_a_path_that_holds_no_frames_is_refused(name, tmp_path):
    make, needles = PATHS[name]
    data = tmp_path / "user"
    data.mkdir()
    spec = base_spec(tmp_path / "out", data)
    spec["reference_data"]["paths"] = make(data)
    train_refused(tmp_path, spec, needles)


SELECTION = {
    "index-selects-nothing": ({"index": "10:20"}, ["index '10:20' selects no frame"]),
    "index-garbage": ({"index": "one:two"}, ["cannot be read", "'one:two'"]),
    "format-unknown": ({"format": "no-such-format"}, ["cannot be read as no-such-format"]),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("name", SELECTION)
def test_a_frame_selection_ase_cannot_make_is_refused(name, tmp_path):
    settings, needles = SELECTION[name]
    data = tmp_path / "ref.extxyz"
    data.write_text(good_frames())
    spec = base_spec(tmp_path / "out", data)
    spec["reference_data"].update(settings)
    train_refused(tmp_path, spec, needles)


# --------------------------------------------------------------------------- hyper-parameters and the spec itself

SETTINGS = {
    "features-1e9": (("model", "features", 10**9), ["model", "features", "1000000000", "cannot be allocated"]),
    "interactions-1e6": (("model", "interactions", 10**6), ["interactions", "1000000"]),
    "radial-basis-1e7": (("model", "radial_basis", 10**7), ["radial_basis", "10000000"]),
    "cutoff-1e6": (("model", "cutoff_A", 1e6), ["cutoff_A", "1000000.0", "cube"]),
    "cutoff-nan": (("model", "cutoff_A", float("nan")), ["cutoff_A"]),
    "cutoff-negative": (("model", "cutoff_A", -1.0), ["cutoff_A", "-1.0"]),
    "features-zero": (("model", "features", 0), ["features", "0"]),
    "batch-size-1e9": (("training", "batch_size", 10**9), ["batch_size", "1000000000"]),
    "max-epochs-zero": (("training", "max_epochs", 0), ["max_epochs"]),
    "validation-fraction-half": (("training", "validation_fraction", 0.5), ["validation_fraction", "0.5"]),
    "test-fraction-zero": (("training", "test_fraction", 0.0), ["test_fraction", "0.0"]),
    "learning-rate-negative": (("training", "learning_rate", -1.0), ["learning_rate", "-1.0"]),
    "device-tpu": (("training", "device", "tpu"), ["device", "'tpu'"]),
    "seed-negative": (("training", "seed", -1), ["seed", "-1"]),
    "lr-factor-one": (("training", "lr_factor", 1.0), ["lr_factor"]),
    "unknown-training-key": (("training", "epochs", 5), ["training.epochs", "unknown key"]),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("name", SETTINGS)
def test_a_setting_out_of_bounds_is_refused_before_anything_is_allocated(name, tmp_path):
    (section, key, value), needles = SETTINGS[name]
    data = tmp_path / "ref.extxyz"
    data.write_text(good_frames())
    spec = base_spec(tmp_path / "out", data)
    spec[section][key] = value
    train_refused(tmp_path, spec, needles)


@pytest.mark.subprocess
def test_a_model_too_big_in_total_is_refused_with_its_size(tmp_path):
    data = tmp_path / "ref.extxyz"
    data.write_text(good_frames())
    spec = base_spec(tmp_path / "out", data)
    spec["model"].update(features=4096, interactions=32)
    train_refused(tmp_path, spec, ["features=4096, interactions=32", "weights", "GB"])


SPECS = {
    "name-missing": (lambda s: s.pop("name"), ["name: required field is missing"]),
    "unknown-top-level-key": (lambda s: s.update(epochs=3), ["epochs: unknown key"]),
    "unknown-labeller": (lambda s: s.update(reference_data={"plugin": "dft_magic"}), ["'dft_magic'"]),
    "paths-empty": (lambda s: s["reference_data"].update(paths=[]), ["reference_data", "paths"]),
    "require-stress-string": (lambda s: s["reference_data"].update(require_stress="maybe"), ["require_stress"]),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("name", SPECS)
def test_a_malformed_training_spec_is_named(name, tmp_path):
    change, needles = SPECS[name]
    data = tmp_path / "ref.extxyz"
    data.write_text(good_frames())
    spec = base_spec(tmp_path / "out", data)
    change(spec)
    train_refused(tmp_path, spec, needles)


@pytest.mark.subprocess
def test_potential_md_with_a_garbage_painn_model_is_refused_before_sampling(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text("{}")
    (model / "best.pt").write_bytes(b"garbage")
    spec = base_spec(tmp_path / "out", tmp_path / "x")
    spec["reference_data"] = {"plugin": "potential_md", "potential": {"plugin": "painn", "model_dir": str(model)},
                              "compositions": ["NS2"], "temperatures_K": [3000.0], "frames_per_state": 2}
    train_refused(tmp_path, spec, ["model.json", "architecture: missing"])


# ------------------------------------------------------------------------------------------- output_dir ownership

def _user_dir(tmp_path: Path) -> Path:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "model.json").write_text('{"my": "own model"}\n')
    (mine / "parity.png").write_bytes(b"\x89PNG my own plot")
    return mine


OUTPUTS = {
    "user-model-and-parity": (_user_dir, ["output_dir", "already holds", "model.json", "parity.png"]),
    "user-notes": (lambda t: _write(_mkdir(t / "mine") / "notes.txt", "mine").parent,
                   ["output_dir", "already holds", "notes.txt"]),
    "a-file": (lambda t: _write(t / "mine", "a file, not a directory"), ["output_dir", "not a directory"]),
    "a-study-directory": (lambda t: _mark(_mkdir(t / "mine"), "study"), ["output_dir", "meltdyn study directory"]),
    "inside-a-training": (lambda t: _mark(_mkdir(t / "trained"), "training") / "inner",
                          ["output_dir", "inside", "trained"]),
}


def _mark(d: Path, kind: str) -> Path:
    (d / ".meltdyn").write_text(json.dumps({"kind": kind}))
    return d


@pytest.mark.subprocess
@pytest.mark.parametrize("name", OUTPUTS)
def test_an_output_dir_meltdyn_did_not_make_is_refused_and_left_as_it_was(name, tmp_path):
    make, needles = OUTPUTS[name]
    data = tmp_path / "ref.extxyz"
    data.write_text(good_frames())
    out = make(tmp_path)
    train_refused(tmp_path, base_spec(out, data), needles)


@pytest.mark.subprocess
def test_a_training_directory_with_a_corrupt_spec_json_is_not_resumed(tmp_path):
    data = tmp_path / "ref.extxyz"
    data.write_text(good_frames())
    out = _mark(_mkdir(tmp_path / "out"), "training")
    (out / "spec.json").write_text("[1, 2")
    train_refused(tmp_path, base_spec(out, data), ["spec.json", "cannot be read", "restore it"])


@pytest.mark.subprocess
def test_a_training_directory_of_another_spec_is_refused(tmp_path):
    data = tmp_path / "ref.extxyz"
    data.write_text(good_frames())
    out = _mark(_mkdir(tmp_path / "out"), "training")
    other = base_spec(out, data)
    other["training"]["learning_rate"] = 0.5
    (out / "spec.json").write_text(json.dumps(other))
    train_refused(tmp_path, base_spec(out, data), ["trained from a different spec"])


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_good_tiny_training_claims_its_directory_and_trains_again_into_it(tmp_path):
    data = tmp_path / "ref.extxyz"
    data.write_text(good_frames(8))
    spec = tmp_path / "train.yaml"
    spec.write_text(yaml.safe_dump(base_spec(tmp_path / "out", data)))
    for _ in range(2):  # the second resumes in its own, marked, directory
        rc, message = run_cli(["train", "-q", str(spec)], tmp_path)
        assert rc == 0, message
    assert json.loads((tmp_path / "out" / ".meltdyn").read_text()) == {"kind": "training"}
    assert (tmp_path / "out" / "model.json").exists() and (tmp_path / "out" / "best.pt").exists()


@pytest.fixture
def trained(tmp_path):
    """A finished tiny training: its directory, its data file and its spec (the output_dir is part of what a
    training is, so each test trains its own)."""
    root = tmp_path
    data = root / "ref.extxyz"
    data.write_text(good_frames(8))
    spec = base_spec(root / "out", data)
    rc, message = run_cli(["train", "-q", _write(root / "train.yaml", yaml.safe_dump(spec)).as_posix()], root)
    assert rc == 0, message
    return root / "out", data, spec


STATE_FILES = {
    "checkpoint-garbage": (lambda d: (d / "checkpoint.pt").write_bytes(b"garbage" * 50),
                           ["checkpoint.pt", "is damaged", "remove it"]),
    "checkpoint-truncated": (lambda d: (d / "checkpoint.pt").write_bytes((d / "checkpoint.pt").read_bytes()[:300]),
                             ["checkpoint.pt", "is damaged"]),
    "checkpoint-a-list": (lambda d: __import__("torch").save([1, 2], d / "checkpoint.pt"),
                          ["checkpoint.pt", "is damaged"]),
    "dataset-garbage": (lambda d: (d / "dataset.db").write_bytes(b"not sqlite" * 100),
                        ["dataset.db", "cannot be read", "remove it"]),
    "spec-json-garbage": (lambda d: (d / "spec.json").write_text("{oops"), ["spec.json", "cannot be read"]),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("name", STATE_FILES)
def test_a_damaged_state_file_of_a_training_is_named_when_resuming(name, trained, tmp_path):
    out, data, spec = trained
    STATE_FILES[name][0](out)
    spec = copy.deepcopy(spec)
    spec["training"]["max_epochs"] = 2  # resumable: it continues from the checkpoint
    message = train_refused(tmp_path, spec, STATE_FILES[name][1])
    assert str(out) in message


# ---------------------------------------------------------------------------- a painn model, checked at validate

def _other_architecture(model: Path) -> None:
    from meltdyn.plugins.potentials.painn.model import Architecture, build_model

    import torch

    torch.save(build_model(Architecture(cutoff_A=4.0, features=16, interactions=1, radial_basis=6), {8: -1.0})
               .state_dict(), model / "best.pt")


def _pickled_code(model: Path) -> None:
    import torch

    class Boom:
        def __reduce__(self):
            return (Path.touch, (model.parent / "PWNED",))

    torch.save({"weight": Boom()}, model / "best.pt")


def _json(change):
    def apply(model: Path) -> None:
        meta = json.loads((model / "model.json").read_text())
        change(meta)
        (model / "model.json").write_text(json.dumps(meta))
    return apply


MODELS = {
    "model-json-empty-object": (lambda m: (m / "model.json").write_text("{}"),
                                ["model.json", "architecture: missing", "species: missing"]),
    "model-json-garbage": (lambda m: (m / "model.json").write_bytes(b"\xff\x00garbage{"),
                           ["model.json", "cannot be read as JSON"]),
    "model-json-a-list": (lambda m: (m / "model.json").write_text("[1, 2]"), ["model.json", "list, not a mapping"]),
    "model-json-no-architecture": (_json(lambda d: d.pop("architecture")), ["architecture: missing"]),
    "model-json-features-a-string": (_json(lambda d: d["architecture"].update(features="eight")),
                                     ["architecture.features", "'eight'"]),
    "model-json-features-huge": (_json(lambda d: d["architecture"].update(features=10**9)),
                                 ["architecture.features", "1000000000"]),
    "model-json-cutoff-negative": (_json(lambda d: d["architecture"].update(cutoff_A=-4)),
                                   ["architecture.cutoff_A", "-4"]),
    "model-json-species-unknown": (_json(lambda d: d.update(species=["Na", "Qq"])), ["species", "Qq"]),
    "model-json-offsets-not-numbers": (_json(lambda d: d.update(offsets_eV={"11": "x"})), ["offsets_eV[11]", "'x'"]),
    "model-json-missing": (lambda m: (m / "model.json").unlink(), ["holds no model.json"]),
    "best-pt-garbage": (lambda m: (m / "best.pt").write_bytes(b"not torch weights" * 10),
                        ["best.pt", "cannot be read as torch weights"]),
    "best-pt-truncated": (lambda m: (m / "best.pt").write_bytes((m / "best.pt").read_bytes()[:500]),
                          ["best.pt", "cannot be read as torch weights"]),
    "best-pt-empty": (lambda m: (m / "best.pt").write_bytes(b""), ["best.pt", "cannot be read as torch weights"]),
    "best-pt-other-architecture": (_other_architecture, ["best.pt", "does not fit the architecture in model.json"]),
    "best-pt-pickled-code": (_pickled_code, ["best.pt", "cannot be read as torch weights"]),
    "best-pt-missing": (lambda m: (m / "best.pt").unlink(), ["holds no best.pt"]),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("name", MODELS)
def test_a_broken_painn_model_fails_at_validation_before_any_run_directory(name, command, good_model, tmp_path,
                                                                          tiny_study):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(good_model, model)
    MODELS[name][0](model)
    study = copy.deepcopy(tiny_study)
    study["output_dir"] = str(tmp_path / "runs")
    study["potential"] = {"plugin": "painn", "model_dir": str(model)}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    argv = [command, str(path)] if command == "validate" else [command, "-q", str(path)]
    refused(tmp_path, argv, ["potential", *MODELS[name][1]], tmp_path / "runs")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.subprocess
def test_the_intact_model_validates(good_model, tmp_path, tiny_study):
    study = copy.deepcopy(tiny_study)
    study["output_dir"] = str(tmp_path / "runs")
    study["potential"] = {"plugin": "painn", "model_dir": str(good_model)}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    rc, message = run_cli(["validate", str(path)], tmp_path)
    assert rc == 0, message


def test_the_corpus_is_large():
    cases = (len(CALCULATORS) + len(FILES) + len(PATHS) + len(SELECTION) + len(SETTINGS) + len(SPECS)
             + len(OUTPUTS) + len(STATE_FILES) + 2 * len(MODELS) + 7)
    assert cases >= 100
