"""Writes the hostile study files beside this script: ``python tests/hostile/make_corpus.py``.

Each file is the tiny study with one thing broken, or a file no study could be; its first line,
``# expect: A | B``, lists what the error must say (the field and the value, or what is wrong with the file).
The corpus is committed; this script says how it was made and remakes it when the tiny study changes.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
TINY = yaml.safe_load((HERE.parents[1] / "examples" / "tiny.yaml").read_text())
TINY["output_dir"] = "out"  # relative: the test runs each file in an empty directory of its own


def mutate(changes: dict[str, Any], remove: tuple[str, ...] = ()) -> str:
    study = copy.deepcopy(TINY)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = study
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    for path in remove:
        *parents, last = path.split(".")
        node = study
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        del node[last]
    return yaml.safe_dump(study, sort_keys=False)


NAN, INF = float("nan"), float("inf")
PROD = "protocol.stages.2"
CASES: dict[str, tuple[str, list[str]]] = {}


def case(name: str, text: str, *expect: str) -> None:
    assert name not in CASES, name
    CASES[name] = (text, list(expect))


# numbers: non-finite, out of range, wrong type, for every numeric field of the core spec
for field, values in {
    "sweep.temperatures_K.0": [NAN, INF, -INF, 0.0, -300.0, 1e30, "hot", True],
    "system.atoms": [0, -5, 10**30, 2.5, "many", None, True],
    "system.density_g_cm3": [NAN, 0.0, -2.0, 1e9],
    "protocol.timestep_fs": [NAN, 0.0, -1.0, 1e-300, 1e9, "1 fs", False],
    "protocol.stages.1.duration_ps": [NAN, INF, 0.0, -1.0, 1e30],
    f"{PROD}.duration_ps": [NAN, -0.2, 1e30],
    f"{PROD}.sampling.interval_ps": [NAN, 0.0, -0.02, 1e30],
    f"{PROD}.sampling.chunk_frames": [0, -4, 10**9],
    f"{PROD}.sampling.log_frames_per_interval": [-1, 10**6],
    "protocol.stages.0.max_iterations": [-1, 10**12],
    "seed": [-1, 2**64, "random", 1.5],
    "sweep.replicas": [0, -1, 10**6],
    "potential.short_range_cutoff_A": [NAN, 0.0, -5.0],
    "potential.coulomb_cutoff_A": [INF, -1.0],
}.items():
    for k, value in enumerate(values):
        case(f"value-{field.replace('.', '-')}-{k}", mutate({field: value}), field.split(".")[-1]
             if not field.split(".")[-1].isdigit() else field.split(".")[-2], repr(value) if not isinstance(
                 value, str) else value)

# names, kinds and structure
case("unknown-top-level-key", mutate({"temprature": 3000}), "temprature")
case("unknown-stage-key", mutate({"protocol.stages.1.temprature_K": 3000}), "temprature_K")
case("wrong-unit", mutate({"protocol.timestep_ps": 0.001}, remove=("protocol.timestep_fs",)), "timestep_ps")
case("unknown-engine", mutate({"engine": {"plugin": "gromacs"}}), "gromacs", "lammps")
case("unknown-potential", mutate({"potential": {"plugin": "reaxff"}}), "reaxff", "shik")
case("unknown-observable", mutate({"observables": [{"plugin": "rdf"}]}), "rdf", "msd")
case("unknown-stage", mutate({"protocol.stages.1": {"stage": "anneal", "duration_ps": 1}}), "anneal")
case("unknown-platform", mutate({"engine.platform": "TPU"}), "engine.platform", "TPU")
case("unknown-thermostat", mutate({f"{PROD}.thermostat": "berendsen"}), "thermostat", "berendsen")
case("no-production-stage", mutate({"protocol.stages": [{"stage": "minimise"}]}), "production")
case("production-not-last", mutate({"protocol.stages": [TINY["protocol"]["stages"][2],
                                                        TINY["protocol"]["stages"][1]]}), "production")
case("stages-empty", mutate({"protocol.stages": []}), "protocol.stages", "[]")
case("stages-not-list", mutate({"protocol.stages": "nvt"}), "protocol.stages", "nvt")
case("sweep-missing", mutate({}, remove=("sweep",)), "sweep", "missing")
case("system-missing", mutate({}, remove=("system",)), "system", "missing")
case("name-missing", mutate({}, remove=("name",)), "name", "missing")
case("name-path", mutate({"name": "../../etc"}), "name", "../../etc")
case("name-empty", mutate({"name": ""}), "name", "''")
case("name-spaces", mutate({"name": "my study"}), "name", "my study")
case("output-dir-empty", mutate({"output_dir": ""}), "output_dir", "''")
case("output-dir-a-file", mutate({"output_dir": "/etc/hostname"}), "output_dir", "/etc/hostname")
case("output-dir-list", mutate({"output_dir": ["a", "b"]}), "output_dir", "['a', 'b']")
case("output-dir-proc", mutate({"output_dir": "/proc/meltdyn"}), "output_dir", "/proc/meltdyn")
case("output-dir-under-a-file", mutate({"output_dir": "/etc/hostname/runs"}), "output_dir", "/etc/hostname")
case("compositions-empty", mutate({"sweep.compositions": []}), "sweep.compositions", "[]")
case("compositions-duplicate", mutate({"sweep.compositions": ["NS2", "NS2"]}), "sweep.compositions", "NS2")
case("composition-unknown", mutate({"sweep.compositions": ["NS99x"]}), "compositions", "NS99x")
case("composition-no-sodium", mutate({"sweep.compositions": [0.0]}), "compositions", "0.0")
case("composition-all-sodium", mutate({"sweep.compositions": [1.0]}), "compositions", "1.0")
case("composition-negative", mutate({"sweep.compositions": [-0.3]}), "compositions", "-0.3")
case("temperatures-duplicate", mutate({"sweep.temperatures_K": [3000.0, 3000.0]}), "temperatures_K", "3000.0")
case("temperatures-empty", mutate({"sweep.temperatures_K": []}), "temperatures_K", "[]")
case("interval-not-a-multiple", mutate({f"{PROD}.sampling.interval_ps": 0.0025}), "interval_ps", "0.0025")
case("interval-below-timestep", mutate({f"{PROD}.sampling.interval_ps": 0.0001}), "interval_ps", "0.0001")
case("cutoff-beyond-half-box", mutate({"potential.short_range_cutoff_A": 20.0}), "potential", "20")
case("cuda-without-gpu", mutate({"engine.platform": "CUDA"}), "engine.platform", "CUDA")
case("painn-without-model", mutate({"potential": {"plugin": "painn", "model_dir": "no/such/model"}}),
     "potential.model_dir", "no/such/model")
case("painn-on-lammps", mutate({"potential": {"plugin": "painn", "model_dir": "no/such/model"},
                                "engine": {"plugin": "lammps"}}), "potential.model_dir", "no/such/model")
case("openmm-threads-zero", mutate({"engine.threads": 0}), "engine.threads", "0")
case("deterministic-with-threads", mutate({"deterministic": True, "engine": {"plugin": "openmm",
                                                                             "platform": "CPU", "threads": 2}}),
     "threads", "2")

# observables
case("isf-q-zero", mutate({"observables": [{"plugin": "isf", "q_per_A": [0.0]}]}), "q_per_A", "0.0")
case("isf-q-negative", mutate({"observables": [{"plugin": "isf", "q_per_A": [-1.0]}]}), "q_per_A", "-1.0")
case("isf-q-nan", mutate({"observables": [{"plugin": "isf", "q_per_A": [NAN]}]}), "q_per_A", "nan")
case("isf-average-unknown", mutate({"observables": [{"plugin": "isf", "average": "sphere"}]}), "average", "sphere")
case("van-hove-negative-lag", mutate({"observables": [{"plugin": "van_hove", "lags_ps": [-0.1]}]}), "lags_ps",
     "-0.1")
case("van-hove-no-lags", mutate({"observables": [{"plugin": "van_hove"}]}), "lags_ps", "missing")
case("van-hove-hop-not-an-element", mutate({"observables": [{"plugin": "van_hove", "lags_ps": [0.1],
                                                             "hop_species": ["Xx"]}]}), "hop_species", "Xx")
case("van-hove-hop-absent", mutate({"observables": [{"plugin": "van_hove", "lags_ps": [0.1],
                                                     "hop_species": ["K"]}]}), "hop_species", "K")
case("van-hove-bins-zero", mutate({"observables": [{"plugin": "van_hove", "lags_ps": [0.1], "bins": 0}]}), "bins",
     "0")
case("msd-origins-zero", mutate({"observables": [{"plugin": "alpha2", "max_origins": 0}]}), "max_origins", "0")
case("observable-labels-clash", mutate({"observables": [{"plugin": "msd"}, {"plugin": "msd"}]}), "msd")
case("observables-not-list", mutate({"observables": {"plugin": "msd"}}), "observables")
case("analysis-budget-zero", mutate({"analysis": {"memory_budget_MB": 0}}), "memory_budget_MB", "0")
case("analysis-frame-unknown", mutate({"analysis": {"reference_frame": "lab"}}), "reference_frame", "lab")
case("executor-unknown", mutate({"executor": {"plugin": "slurm"}}), "slurm", "serial")

# files that are no study at all
case("empty-file", "", "empty")
case("top-level-list", "- 1\n- 2\n", "mapping", "list")
case("top-level-scalar", "42\n", "mapping", "int")
case("duplicate-key", "name: a\n" + mutate({}), "name", "twice")
case("duplicate-nested-key", mutate({}).replace("  atoms: 150\n", "  atoms: 150\n  atoms: 300\n"), "atoms", "twice")
case("tabs", "name:\ttiny\n\tseed: 1\n", "not valid YAML")
case("unclosed-bracket", "name: [tiny\n", "not valid YAML")
case("binary", "\x00\x01\x02\x03", "not valid YAML")
case("python-object", "name: !!python/object:os.system ['echo pwned']\n", "not valid YAML")
case("alias-bomb", "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['x'] * 9)}]\n"
                           for p, c in zip([None, *'abcdefgh'], 'abcdefghi')), "100,000 values")
case("deep-nesting", "a: " + "[" * 20000 + "]" * 20000 + "\n", "nests too deeply")
case("deep-mapping", "a:\n" + "".join(" " * (k + 1) + f"k{k}:\n" for k in range(3000)), "nests too deeply")
case("huge-string-name", mutate({"name": "x" * 100_000}), "name")
case("merge-keys-only", "base: &b {name: tiny}\nother:\n  <<: *b\n", "base: unknown key", "other: unknown key")


def main() -> None:
    for old in HERE.glob("*.yaml"):
        old.unlink()
    for name, (text, expect) in CASES.items():
        (HERE / f"{name}.yaml").write_text(f"# expect: {' | '.join(expect)}\n{text}")
    print(f"{len(CASES)} hostile study files in {HERE}")


if __name__ == "__main__":
    main()
