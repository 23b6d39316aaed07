"""The documentation stays true: its references match the models and parsers, its examples run, the site builds with
every link resolved, and CI runs the README's test command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from meltdyn.cli.reference import cli_markdown, reference_markdown
from meltdyn.hooks.registry import Registry, discover

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"
README_MAX_LINES = 200  # a landing page; the rest is the site's


def _builtin_registry() -> Registry:
    """meltdyn's own plugins and commands, without the test packages a development install may register."""
    full, builtin = discover(), Registry()
    for entry in full.all_entries():
        if entry.distribution == "meltdyn":
            builtin.entries[entry.kind][entry.name] = entry
    builtin.commands = {name: c for name, c in full.commands.items() if c.distribution == "meltdyn"}
    return builtin


def _generated(page: str, marker: str) -> str:
    text = (DOCS / page).read_text()
    return text.split(f"<!-- {marker}:start -->\n")[1].split(f"<!-- {marker}:end -->")[0]


def test_the_file_reference_matches_the_models():
    assert _generated("reference/study-file.md", "study-reference") == reference_markdown(_builtin_registry()), \
        "regenerate docs/reference/study-file.md's generated part with: meltdyn schema --markdown"


def test_the_cli_reference_matches_the_parsers():
    assert _generated("reference/cli.md", "cli-reference") == cli_markdown(_builtin_registry()), \
        "regenerate docs/reference/cli.md's generated part with: meltdyn schema --cli-markdown"


def test_the_file_reference_documents_every_key_of_every_file():
    """Each file a user writes has its tables: study, analysis and training files, every plugin's section, and
    every key with a meaning (no bare names)."""
    section = reference_markdown(_builtin_registry())
    for title in ("## Study file", "### top level", "### analysis file: top level", "## Files of `meltdyn train`",
                  "### training file (`meltdyn train`): top level", "### training file: `training`",
                  "### protocol.stages: `stage: ramp`"):
        assert title in section
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows and all(not line.rstrip().endswith("|  |") for line in rows), \
        [line for line in rows if line.rstrip().endswith("|  |")]


def test_the_readme_is_a_landing_page_with_the_quickstart_study_inline():
    assert len(README.splitlines()) <= README_MAX_LINES
    for text, where in ((README, "README.md"), ((DOCS / "tutorials" / "first-study.md").read_text(), "the tutorial")):
        inline = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
        assert inline == (ROOT / "examples" / "quickstart.yaml").read_text(), \
            f"{where} shows examples/quickstart.yaml as it is: copy it in again"


def test_the_readmes_links_into_the_site_resolve():
    """The README links into docs/ by path (GitHub renders them); each must be a page, and every page in the
    site's navigation must exist (mkdocs checks the links between pages)."""
    links = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", README)
    assert len(links) >= 15
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert not missing, missing


@pytest.mark.slow
@pytest.mark.subprocess
def test_python_api_example_runs(tmp_path):
    code = re.search(r"# Python API\n\n```python\n(.*?)```", (DOCS / "reference" / "python-api.md").read_text(),
                     re.S).group(1)
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "tiny.yaml", tmp_path / "examples")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("NS2_T3000K_r0 completed D_Na =")
    assert (tmp_path / "runs" / "api-demo" / "NS2_T3000K_r0" / "results.h5").exists()


def _build_site(root: Path, site: Path) -> subprocess.CompletedProcess:
    # -m, not the mkdocs script: the script's folder would come first on sys.path, and griffe would find the
    # `meltdyn` console script there instead of the package.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=root,
                          capture_output=True, text=True, env=env)


@pytest.mark.subprocess
def test_the_site_builds_with_warnings_as_errors(tmp_path):
    done = _build_site(ROOT, tmp_path / "site")
    assert done.returncode == 0, done.stderr[-4000:]
    api = (tmp_path / "site" / "reference" / "python-api" / "index.html").read_text()
    assert "load_study" in api and "estimate_at" in api and "check_observable" in api, "API pages came out empty"
    assert not re.search(r":(func|class|meth|mod|attr|data|exc):", api), "a docstring's Sphinx role shows as text"


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_broken_link_or_anchor_fails_the_site_build(tmp_path):
    """Links are checked, not only pages built: a link to a page or an anchor that does not exist is an error."""
    for broken in ("[gone](../how-to/no-such-page.md)", "[gone](../how-to/install.md#no-such-section)"):
        root = tmp_path / str(len(list(tmp_path.iterdir())))
        shutil.copytree(DOCS, root / "docs")
        shutil.copy(ROOT / "mkdocs.yml", root)
        for included in ("tests", "examples"):  # the files the tutorials include (pymdownx.snippets)
            (root / included).symlink_to(ROOT / included)
        page = root / "docs" / "tutorials" / "first-study.md"
        page.write_text(page.read_text() + f"\nSee {broken}.\n")
        done = _build_site(root, root / "site")
        assert done.returncode != 0 and ("no-such-page" in done.stderr or "no-such-section" in done.stderr), \
            done.stderr[-2000:]


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"```bash\n(bash \.ci/setup-env && [^\n]+)\n```", README)
    assert commands == ["bash .ci/setup-env && .venv/bin/meltdyn run examples/quickstart.yaml",
                        "bash .ci/setup-env && .venv/bin/python -m pytest"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1].removeprefix("bash ") in ci


def example_studies(tmp_path: Path) -> list[tuple[Path, dict]]:
    """Every example study file; a PaiNN one points at an untrained stand-in, since its model is trained by hand."""
    from meltdyn.plugins.potentials.painn.model import Architecture
    from meltdyn.plugins.potentials.painn.runtime import save_untrained
    from meltdyn.spec.studyfile import read_study_file

    # a cutoff that fits the smallest example's box (27 atoms of NS2, 7.4 Å: examples/qm/ns2-painn-md.yaml)
    save_untrained(tmp_path / "model", ["Na", "Si", "O"],
                   Architecture(cutoff_A=3.5, features=8, interactions=2, radial_basis=6))
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


@pytest.mark.slow
def test_the_foreign_trajectory_tutorial_runs_as_written(tmp_path, monkeypatch):
    """The tutorial's analysis file, verbatim, on a LAMMPS dump of the kind it describes (wrapped coordinates,
    types 1-3, a frame every 100 steps of 1 fs), run from another directory."""
    import numpy as np

    from meltdyn.cli.dispatch import main
    from synthetic import brownian

    text = (DOCS / "tutorials" / "foreign-trajectory.md").read_text()
    (tmp_path / "analysis.yaml").write_text(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))
    box, symbols = 14.0, ["Na"] * 16 + ["Si"] * 16 + ["O"] * 40
    steps = np.arange(0, 6100, 100)
    x = brownian(np.random.default_rng(3), steps, len(symbols), 0.3, 0.001)
    lines = []
    for step, p in zip(steps, np.mod(x, box)):
        lines += ["ITEM: TIMESTEP", str(step), "ITEM: NUMBER OF ATOMS", str(len(symbols)),
                  "ITEM: BOX BOUNDS pp pp pp", *[f"0.0 {box}"] * 3, "ITEM: ATOMS id type x y z"]
        lines += [f"{i + 1} {'123'[('Na', 'Si', 'O').index(s)]} {a:.6f} {b:.6f} {c:.6f}"
                  for i, (s, (a, b, c)) in enumerate(zip(symbols, p))]
    (tmp_path / "dump.lammpstrj").write_text("\n".join(lines) + "\n")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for command in ("analyse", "results", "plot"):
        assert main([command, str(tmp_path / "analysis.yaml")]) == 0, command
    out = elsewhere / "dump-analysis"
    assert (out / "results.h5").is_file() and (out / "summary.json").is_file() and list((out / "plots").iterdir())
