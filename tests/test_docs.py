"""The README stays true: its reference matches the models, its example runs, CI runs its test command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from meltdyn.cli.reference import reference_markdown
from meltdyn.hooks.registry import Registry, discover

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _builtin_registry() -> Registry:
    full, builtin = discover(), Registry()
    for entry in full.all_entries():
        if entry.distribution == "meltdyn":
            builtin.entries[entry.kind][entry.name] = entry
    return builtin


def test_study_reference_in_readme_matches_the_models():
    section = README.split("<!-- study-reference:start -->\n")[1].split("<!-- study-reference:end -->")[0]
    assert section == reference_markdown(_builtin_registry()), "regenerate with: meltdyn schema --markdown"


@pytest.mark.slow
@pytest.mark.subprocess
def test_readme_python_example_runs(tmp_path):
    code = re.search(r"## Python API\n\n```python\n(.*?)```", README, re.S).group(1)
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "tiny.yaml", tmp_path / "examples")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("NS2_T3000K_r0 completed D_Na =")
    assert (tmp_path / "runs" / "api-demo" / "NS2_T3000K_r0" / "results.h5").exists()


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"```bash\n(bash \.ci/setup-env && [^\n]+)\n```", README)
    assert commands == ["bash .ci/setup-env && .venv/bin/meltdyn run examples/quickstart.yaml",
                        "bash .ci/setup-env && .venv/bin/python -m pytest"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1].removeprefix("bash ") in ci


def example_studies(tmp_path: Path) -> list[tuple[Path, dict]]:
    """Every example study file; a PaiNN one points at an untrained stand-in, since its model is trained by hand."""
    from meltdyn.plugins.potentials.painn.runtime import save_untrained
    from meltdyn.spec.studyfile import read_study_file

    save_untrained(tmp_path / "model", ["Na", "Si", "O"])
    out = []
    for path in sorted((ROOT / "examples").rglob("*.yaml")):
        data = read_study_file(path)
        if "sweep" not in data:
            continue  # a training or analysis file
        if data["potential"]["plugin"] == "painn":
            data["potential"]["model_dir"] = str(tmp_path / "model")
        out.append((path, data))
    return out


@pytest.fixture
def on_a_login_node(tmp_path, monkeypatch) -> None:
    """A stand-in ``sbatch`` on PATH: a cluster study validates where its job scheduler's command exists, as on the
    cluster's login node (the executor refuses it elsewhere, rather than hanging at submission)."""
    bin_dir = tmp_path / "login-node-bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text("#!/bin/sh\nexit 1\n")
    sbatch.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.slow
@pytest.mark.subprocess
def test_every_example_study_validates(tmp_path, on_a_login_node):
    from meltdyn.study.runner import load_study

    registry = discover()
    studies = example_studies(tmp_path)
    assert len(studies) >= 5
    for path, data in studies:
        load_study(data, registry, output_dir=tmp_path / "runs" / path.stem)
    subprocess.run([sys.executable, "-m", "meltdyn.cli", "validate", str(ROOT / "examples" / "quickstart.yaml")],
                   check=True, capture_output=True)


def test_every_example_training_file_validates():
    from meltdyn.plugins.potentials.painn.workflow import train_model_spec
    from meltdyn.spec.studyfile import read_study_file

    model = train_model_spec(discover())
    files = sorted((ROOT / "examples").rglob("train*.yaml")) + sorted((ROOT / "examples" / "training").glob("*.yaml"))
    assert len(files) >= 3
    for path in files:
        model.model_validate(read_study_file(path))


@pytest.mark.slow
def test_the_paper_studies_validate_as_written(tmp_path, on_a_login_node):
    """Both forms of the paper's study: the GPU cluster one (validated here, run elsewhere) and its CPU twin."""
    from meltdyn.study.runner import load_study

    studies = dict((path.stem, data) for path, data in example_studies(tmp_path))
    gpu = load_study(studies["paper-gpu"], output_dir=tmp_path / "gpu")
    assert len(gpu.runs) == 36 and not gpu.outline.local  # its hardware is the cluster's, not this machine's
    assert gpu.spec.engine.plugin == "torchsim" and gpu.spec.executor.cluster == "slurm"
    assert gpu.spec.protocol.production.duration_ps >= 1000
    assert {run.system.n_atoms for run in gpu.outline.runs} == {2997, 3000, 3003}
    cpu = load_study(studies["paper-cpu"], output_dir=tmp_path / "cpu")
    assert len(cpu.runs) == 18 and cpu.outline.local and cpu.spec.engine.plugin == "lammps"


def test_every_example_analysis_validates():
    from meltdyn.analysis.standalone import load_analysis

    for analysis in sorted((ROOT / "examples" / "analysis").glob("*.yaml")):
        spec, _ = load_analysis(analysis)
        assert spec.observables
