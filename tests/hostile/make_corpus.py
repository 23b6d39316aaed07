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


# -- issue 20: executors against this machine, compositions, seeds, potentials on engines, YAML -------------------
NO_GPU = {"plugin": "dask", "gpus_per_worker": 1, "workers": 4096}  # more GPUs than any one machine has
case("h2-executor-gpus-beyond-the-machine", mutate({"executor": NO_GPU}), "executor.gpus_per_worker: 1",
     "workers: 4096", "this machine has")
case("h2-executor-slurm-without-sbatch", mutate({"executor": {"plugin": "dask", "cluster": "slurm"}}),
     "executor.cluster: 'slurm'", "'sbatch'", "not on PATH")
case("h2-executor-pbs-without-qsub", mutate({"executor": {"plugin": "dask", "cluster": "pbs", "queue": "gpu"}}),
     "executor.cluster: 'pbs'", "'qsub'")
case("h2-executor-slurm-gpus-without-sbatch", mutate({"executor": {"plugin": "dask", "cluster": "slurm",
                                                                   "gpus_per_worker": 1}}), "'sbatch'")
case("h2-executor-cluster-unknown", mutate({"executor": {"plugin": "dask", "cluster": "kubernetes"}}),
     "executor.cluster", "kubernetes")
for k, address in enumerate(["localhost", "localhost:8786", "tcp://", "tcp://:8786", "tcp://host:", "tcp://host:0",
                             "tcp://host:70000", "udp://host:8786", "tcp://host name:8786", "tcp://host:87a6",
                             "http://host:8786", ""]):
    case(f"h2-executor-address-malformed-{k}", mutate({"executor": {"plugin": "dask", "scheduler_address": address}}),
         "executor.scheduler_address", repr(address))
case("h2-executor-address-refused", mutate({"executor": {"plugin": "dask", "scheduler_address":
                                                         "tcp://127.0.0.1:1"}}),
     "executor.scheduler_address", "'tcp://127.0.0.1:1'", "no Dask scheduler reachable")
case("h2-executor-address-not-a-string", mutate({"executor": {"plugin": "dask", "scheduler_address": 8786}}),
     "executor.scheduler_address", "8786")
case("h2-executor-workers-zero", mutate({"executor": {"plugin": "dask", "workers": 0}}), "executor.workers", "0")
case("h2-executor-gpus-two", mutate({"executor": {"plugin": "dask", "gpus_per_worker": 2}}),
     "executor.gpus_per_worker", "2")
case("h2-executor-walltime-words", mutate({"executor": {"plugin": "dask", "walltime": "forever"}}),
     "executor.walltime", "forever")
case("h2-executor-memory-words", mutate({"executor": {"plugin": "dask", "memory": "lots"}}), "executor.memory",
     "lots")
case("h2-executor-monitor-nan", mutate({"executor": {"plugin": "dask", "monitor_interval_s": NAN}}),
     "executor.monitor_interval_s", "nan")
case("h2-executor-retries-negative", mutate({"executor": {"plugin": "dask", "retries": -1}}), "executor.retries",
     "-1")
case("h2-executor-unknown-key", mutate({"executor": {"plugin": "dask", "clustr": "slurm"}}), "clustr", "cluster")
case("h2-executor-serial-with-settings", mutate({"executor": {"plugin": "serial", "workers": 4}}),
     "executor.workers", "4")

# compositions the system cannot make as asked
for k, (value, needle) in enumerate([(1e-300, "pure SiO2"), (1e-3, "pure SiO2"), (0.005, "pure SiO2"),
                                     (0.999999, "pure Na2O"), (0.995, "pure Na2O"), ("NS1000000", "pure SiO2"),
                                     ("NS0.001", "pure Na2O"), (5e-324, "pure SiO2")]):
    case(f"h2-composition-rounds-away-{k}", mutate({"sweep.compositions": [value]}), "sweep.compositions[0]",
         repr(value), needle, "allowed")
case("h2-composition-needs-more-atoms", mutate({"sweep.compositions": [0.3], "system.atoms": 12}),
     "sweep.compositions[0]", "0.3", "system.atoms is 12")
case("h2-composition-three-atoms", mutate({"system.atoms": 3}), "NS2", "system.atoms is 3")
case("h2-composition-nan", mutate({"sweep.compositions": [NAN]}), "compositions", "nan")
case("h2-composition-inf", mutate({"sweep.compositions": [INF]}), "compositions", "inf")
case("h2-composition-boolean", mutate({"sweep.compositions": [True]}), "compositions", "True")
case("h2-composition-lowercase", mutate({"sweep.compositions": ["ns2"]}), "compositions", "ns2")
case("h2-composition-empty-name", mutate({"sweep.compositions": [""]}), "compositions", "''")
case("h2-composition-nested-list", mutate({"sweep.compositions": [[0.2]]}), "compositions", "[0.2]")
case("h2-composition-same-twice", mutate({"sweep.compositions": ["NS2", 1 / 3]}), "same composition", "NS2")
case("h2-composition-scalar", mutate({"sweep.compositions": "NS2"}), "sweep.compositions", "NS2")

# seeds and other integers beyond every range
case("h2-seed-5000-digits", mutate({}).replace("seed: 11", "seed: " + "7" * 5000), "seed", "5,000 digits",
     "2**63 - 1")
case("h2-seed-20000-digits", mutate({}).replace("seed: 11", "seed: " + "7" * 20000), "seed", "20,000 digits")
case("h2-seed-2-to-the-63", mutate({"seed": 2**63}), "seed", str(2**63), "2**63 - 1")
case("h2-seed-float-huge", mutate({"seed": 1e30}), "seed", "1e+30")
case("h2-seed-a-date", mutate({}).replace("seed: 11", "seed: 2001-12-14"), "seed", "2001")
case("h2-replicas-5000-digits", mutate({}).replace("replicas: 1", "replicas: " + "9" * 5000), "replicas",
     "5,000 digits")
case("h2-atoms-5000-digits", mutate({}).replace("atoms: 150", "atoms: " + "9" * 5000), "atoms", "5,000 digits")
case("h2-temperature-5000-digits", mutate({}).replace("- 3000.0", "- " + "9" * 5000), "temperatures_K",
     "5,000 digits")

# potentials on engines that cannot carry them, SHIK settings its forms cannot use
case("h2-pme-on-lammps", mutate({"potential.coulomb": "pme", "engine": {"plugin": "lammps"}}), "coulomb: 'pme'",
     "engine 'lammps'", "'wolf'")
case("h2-pme-on-torchsim", mutate({"potential.coulomb": "pme", "engine": {"plugin": "torchsim"}}),
     "coulomb: 'pme'", "engine 'torchsim'", "'wolf'")
case("h2-coulomb-unknown", mutate({"potential.coulomb": "ewald"}), "potential.coulomb", "ewald")
case("h2-shik-form-unknown", mutate({"potential.form": "paper"}), "potential.form", "paper")
case("h2-shik-authors-short-cutoff", mutate({"potential.short_range_cutoff_A": 3.0}), "short_range_cutoff_A=3",
     "Allowed: 4.29 to 100")
case("h2-shik-authors-short-coulomb", mutate({"potential.coulomb_cutoff_A": 3.5}), "coulomb_cutoff_A=3.5",
     "Allowed: 4.29 to 100")
case("h2-shik-wide-smoothing", mutate({"potential.smoothing_gamma_A": 1.0}), "short_range_cutoff_A=5.5",
     "smoothing_gamma_A")
case("h2-shik-narrow-smoothing", mutate({"potential.smoothing_gamma_A": 1e-4}), "smoothing_gamma_A=0.0001",
     "at least 0.01")
case("h2-shik-authors-damped", mutate({"potential.wolf_alpha_per_A": 0.2}), "wolf_alpha_per_A")
case("h2-shik-table-start-beyond-cutoff", mutate({"potential.table_start_A": 10.0}), "table_start_A=10.0")
case("h2-shik-table-spacing-zero", mutate({"potential.table_spacing_A": 0.0}), "table_spacing_A", "0.0")
case("h2-shik-parameters-missing", mutate({"potential.parameters_file": "no/such/table.json"}),
     "parameters_file", "no/such/table.json")
case("h2-shik-pme-tolerance-nan", mutate({"potential.pme_tolerance": NAN}), "pme_tolerance", "nan")
case("h2-openmm-platform-lowercase", mutate({"engine.platform": "cuda"}), "engine.platform", "cuda")
case("h2-lammps-unknown-key", mutate({"engine": {"plugin": "lammps", "platfrom": "CPU"}}), "platfrom")

# stages, sampling and the sweep
for k, value in enumerate([NAN, 0.0, -1.0, 1e9]):
    case(f"h2-friction-{k}", mutate({"protocol.stages.1.friction_per_ps": value}), "friction_per_ps", repr(value))
case("h2-stage-temperature-words", mutate({"protocol.stages.1.temperature_K": "hot"}), "temperature_K", "hot")
case("h2-stage-temperature-zero", mutate({"protocol.stages.1.temperature_K": 0}), "temperature_K", "0")
case("h2-npt-pressure-nan", mutate({"protocol.stages.1": {"stage": "npt", "duration_ps": 0.05,
                                                          "pressure_bar": NAN}}), "pressure_bar", "nan")
case("h2-npt-barostat-zero", mutate({"protocol.stages.1": {"stage": "npt", "duration_ps": 0.05},
                                     "engine.barostat_interval_steps": 0}),
     "barostat_interval_steps", "0")
case("h2-npt-barostat-in-the-stage", mutate({"protocol.stages.1": {"stage": "npt", "duration_ps": 0.05,
                                                                   "barostat_interval_steps": 10}}),
     "barostat_interval_steps", "engine section")
case("h2-minimise-tolerance-zero", mutate({"protocol.stages.0.tolerance_eV_A": 0.0}), "tolerance_eV_A", "0.0")
case("h2-minimise-tolerance-in-kj-mol-nm", mutate({"protocol.stages.0.tolerance_kJ_mol_nm": 10.0}),
     "tolerance_kJ_mol_nm", "tolerance_eV_A: 0.01036426")
case("h2-minimise-iterations-fraction", mutate({"protocol.stages.0.max_iterations": 1.5}), "max_iterations", "1.5")
case("h2-timestep-above-five", mutate({"protocol.timestep_fs": 5.01}), "timestep_fs", "5.01")
case("h2-timestep-inf", mutate({"protocol.timestep_fs": INF}), "timestep_fs", "inf")
case("h2-production-too-many-frames", mutate({f"{PROD}.duration_ps": 1e6}), "frames", "10,000,000")
case("h2-production-ensemble-npt", mutate({f"{PROD}.ensemble": "npt"}), "ensemble", "npt")
case("h2-production-twice", mutate({"protocol.stages": [TINY["protocol"]["stages"][2]] * 2}), "production")
case("h2-sampling-velocities-words", mutate({f"{PROD}.sampling.velocities": "maybe"}), "velocities", "maybe")
case("h2-sampling-log-fraction", mutate({f"{PROD}.sampling.log_frames_per_interval": 1.5}),
     "log_frames_per_interval", "1.5")
case("h2-sampling-missing", mutate({}, remove=(f"{PROD}.sampling",)), "sampling", "missing")
case("h2-temperatures-int-and-float", mutate({"sweep.temperatures_K": [3000, 3000.0]}), "temperatures_K", "3000")
case("h2-temperatures-scalar", mutate({"sweep.temperatures_K": 3000.0}), "temperatures_K", "3000.0")
case("h2-temperatures-too-many", mutate({"sweep.temperatures_K": [1000.0 + k for k in range(1001)]}),
     "temperatures_K", "1000")
case("h2-temperature-above-limit", mutate({"sweep.temperatures_K": [100001.0]}), "temperatures_K", "100001.0")
case("h2-temperature-yaml-nan", mutate({}).replace("- 3000.0", "- .nan"), "temperatures_K", "nan")
case("h2-system-density-and-box", mutate({"system.box_A": 13.0, "system.density_g_cm3": 2.3}), "box_A",
     "density_g_cm3")
case("h2-system-density-at-floor", mutate({"system.density_g_cm3": 0.1}), "density_g_cm3", "0.1")
case("h2-system-min-distance-zero", mutate({"system.min_distance_scale": 0.0}), "min_distance_scale", "0.0")
case("h2-system-unknown", mutate({"system": {"plugin": "silica_glass", "atoms": 150}}), "silica_glass",
     "sodium_silicate")
case("h2-analysis-budget-nan", mutate({"analysis": {"memory_budget_MB": NAN}}), "memory_budget_MB", "nan")
case("h2-observable-label-spaces", mutate({"observables": [{"plugin": "msd", "label": "my msd"}]}), "label",
     "my msd")
case("h2-observable-label-reserved", mutate({"observables": [{"plugin": "msd", "label": "arrays"}]}), "arrays",
     "reserved")
case("h2-deterministic-words", mutate({"deterministic": "sometimes"}), "deterministic", "sometimes")
case("h2-name-an-integer", mutate({"name": 123}), "name", "123")
case("h2-output-dir-too-long", mutate({"output_dir": "d" * 5000}), "output_dir", "5,000 characters")

# YAML that must never construct anything but data, or that is no study file
case("h2-yaml-python-apply", "name: !!python/object/apply:os.system ['touch PWNED']\n" + mutate({}, remove=("name",)),
     "not valid YAML", "python/object/apply")
case("h2-yaml-python-name", mutate({}).replace("name: tiny", "name: !!python/name:os.system"), "not valid YAML",
     "python/name")
case("h2-yaml-python-module", mutate({}).replace("name: tiny", "name: !!python/module:os"), "not valid YAML")
case("h2-yaml-binary-name", mutate({}).replace("name: tiny", "name: !!binary dGlueQ=="), "not valid YAML",
     "tag !!binary")
case("h2-yaml-set", mutate({}).replace("compositions:\n  - NS2", "compositions: !!set {NS2: null}"),
     "not valid YAML", "tag !!set")
case("h2-yaml-local-tag", mutate({}).replace("seed: 11", "seed: !seed 11"), "not valid YAML", "tag !seed")
case("h2-yaml-omap", mutate({}).replace("name: tiny", "name: !!omap [{a: 1}]"), "not valid YAML", "tag !!omap")
case("h2-yaml-two-documents", mutate({}) + "---\n" + mutate({}), "not valid YAML", "single document")
case("h2-yaml-integer-key", mutate({}) + "1: 2\n", "key 1 is a int, not a name")
case("h2-yaml-null-key", mutate({}) + "null: 2\n", "key None")
case("h2-yaml-list-key", mutate({}) + "? [a, b]\n: 2\n", "not valid YAML")
case("h2-yaml-wide-alias-bomb", "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 12) if p else ', '.join(['x'] * 12)}]\n"
                                        for p, c in zip([None, *'abcde'], 'abcdef')), "100,000 values")
case("h2-yaml-self-alias", "a: &a [*a]\n", "refused", "an alias refers to a node that contains it")
case("h2-yaml-merge-into-stage", mutate({}).replace("- stage: production", "- <<: {thermostat_K: 300}\n"
                                                     "    stage: production"), "thermostat_K", "unknown key")


def main() -> None:
    for old in HERE.glob("*.yaml"):
        old.unlink()
    for name, (text, expect) in CASES.items():
        (HERE / f"{name}.yaml").write_text(f"# expect: {' | '.join(expect)}\n{text}")
    print(f"{len(CASES)} hostile study files in {HERE}")


if __name__ == "__main__":
    main()
