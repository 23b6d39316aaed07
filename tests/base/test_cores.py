"""The threads a run takes by default follow what this process may use and what the user said, and asking for
more than that is a warning at validate (benchmarks/engine_threads.py measured why)."""

from __future__ import annotations

import os
import warnings

import pytest

from meltdyn.base.cores import StudyWarning, available_cores, default_threads, warn_if_oversubscribed


def test_the_cores_available_are_this_processs_affinity_not_the_machines_count():
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this platform")
    assert available_cores() == len(os.sched_getaffinity(0))
    mine = os.sched_getaffinity(0)
    one = {min(mine)}
    os.sched_setaffinity(0, one)  # as taskset or SLURM's --cpus-per-task=1 would start us
    try:
        assert available_cores() == 1
    finally:
        os.sched_setaffinity(0, mine)


@pytest.mark.parametrize("value, expected", [("3", 3), (" 2 ", 2), ("0", None), ("-1", None), ("four", None),
                                             ("", None)])
def test_omp_num_threads_sets_the_default_when_it_is_a_positive_integer(value, expected, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert default_threads() == (expected if expected is not None else available_cores())


def test_asking_for_more_threads_than_cores_is_a_warning_naming_the_field_and_the_cores():
    cores = available_cores()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_if_oversubscribed(cores, "engine.threads")
        warn_if_oversubscribed(None, "engine.threads")
        assert caught == []
        warn_if_oversubscribed(cores + 1, "engine.threads")
    (warning,) = caught
    assert issubclass(warning.category, StudyWarning)
    assert f"engine.threads: {cores + 1}" in str(warning.message) and f"the {cores} core(s)" in str(warning.message)


@pytest.mark.parametrize("engine", ["lammps", "openmm"])
def test_validate_warns_of_an_oversubscribed_engine_and_still_validates(engine, capsys, tmp_path):
    pytest.importorskip(engine)
    import yaml

    from conftest import TINY_STUDY
    from meltdyn.cli.dispatch import main

    study = {**TINY_STUDY, "output_dir": str(tmp_path / "runs"),
             "engine": {"plugin": engine, "threads": available_cores() + 1,
                        **({"platform": "CPU"} if engine == "openmm" else {})}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(study))
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["validate", str(tmp_path / "s.yaml")]) == 0
    err = capsys.readouterr().err
    assert f"meltdyn: warning: engine.threads: {available_cores() + 1} asks for more threads" in err


def test_dask_workers_that_oversubscribe_this_machine_are_a_warning():
    pytest.importorskip("distributed")
    from meltdyn.plugins.executors.dask_executor import DaskParams, check

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check(DaskParams(workers=available_cores(), threads_per_worker=1), None)
        assert caught == []
        check(DaskParams(workers=available_cores(), threads_per_worker=2), None)
    (warning,) = caught
    assert "executor: workers:" in str(warning.message)


@pytest.mark.slow
def test_a_dask_worker_gives_an_engine_its_threads_per_worker():
    """Dask's nanny sets OMP_NUM_THREADS=1 in every worker; meltdyn's cluster sets it to threads_per_worker, so an
    engine whose threads is unset takes the worker's cores."""
    pytest.importorskip("distributed")
    from distributed import Client

    from meltdyn.plugins.executors.dask_executor import DaskParams, make_cluster

    with make_cluster(DaskParams(workers=1, threads_per_worker=2)) as cluster, Client(cluster) as client:
        assert client.submit(default_threads).result() == 2
