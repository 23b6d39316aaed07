"""Executors and concurrency: Dask gives what the serial executor gives; two processes never run one run at once."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

import meltdyn
from meltdyn.study.locks import RunLock
from meltdyn.trajectory.h5md import H5MDReader
from conftest import MELTDYN, TINY_STUDY

pytest.importorskip("distributed")


@pytest.fixture
def four_runs(tiny_study):
    tiny_study["sweep"] = {"compositions": ["NS2", "NS4"], "temperatures_K": [2500.0, 3000.0]}
    return tiny_study


def _outputs(study):
    out = {}
    for run in study.runs:
        with H5MDReader(run.dir / "trajectory.h5") as traj:
            out[run.id] = (traj.steps, traj.positions_A(), run.results()["msd"]["msd"].values)
    return out


@pytest.mark.slow
def test_a_dask_local_cluster_gives_the_serial_results(four_runs, registry, tmp_path):
    serial = meltdyn.load_study(four_runs, registry, output_dir=tmp_path / "serial")
    serial.run(progress=False)
    four_runs["executor"] = {"plugin": "dask", "workers": 2, "monitor_interval_s": 2}
    distributed = meltdyn.load_study(four_runs, registry, output_dir=tmp_path / "dask")
    distributed.run(progress=False)
    a, b = _outputs(serial), _outputs(distributed)
    assert a.keys() == b.keys() and len(a) == 4
    for run_id in a:
        for x, y in zip(a[run_id], b[run_id]):
            np.testing.assert_array_equal(x, y)  # same seeds, Reference platform: bit for bit
    # Where and how runs execute is not what a run is: the same directories serve either executor.
    assert json.loads((distributed.runs[0].dir / "spec.json").read_text()) == \
        json.loads((serial.runs[0].dir / "spec.json").read_text())


@pytest.fixture(scope="module")
def lost_worker_study(tmp_path_factory):
    """A one-run study long enough in production to lose its worker mid-way, and its run by the serial executor."""
    root = tmp_path_factory.mktemp("lost-worker")
    study = {**copy.deepcopy(TINY_STUDY), "output_dir": str(root / "serial")}
    study["protocol"]["stages"][-1]["duration_ps"] = 0.6
    (reference,) = meltdyn.load_study(study).run(progress=False)
    with H5MDReader(reference.dir / "trajectory.h5") as traj:
        return study, (traj.steps, traj.positions_A())


def _lose_the_worker(study, tmp_path, retries):
    """`meltdyn run` on a one-worker LocalCluster; SIGKILL the worker process that holds the run's lock once
    production has flushed frames (what a job's walltime or a lost node does). Returns its exit code, its stderr
    and the run."""
    study = {**study, "executor": {"plugin": "dask", "workers": 1, "retries": retries, "monitor_interval_s": 1}}
    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump(study))
    out = tmp_path / "out"
    run_dir = out / "NS2_T3000K_r0"
    proc = subprocess.Popen([*MELTDYN, "run", "-q", str(study_file), "--output-dir", str(out)],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    frames = 0
    while proc.poll() is None and frames < 8:
        assert time.time() < deadline, "production never started"
        try:
            frames = json.loads((run_dir / "checkpoints" / "progress.json").read_text()).get("frames", 0)
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before its worker could be lost"
    worker = RunLock(run_dir).holder()["pid"]
    assert worker != proc.pid  # the run is on a worker process, not in `meltdyn run` itself
    os.kill(worker, signal.SIGKILL)
    stderr = proc.communicate(timeout=300)[1]
    return proc.returncode, stderr, meltdyn.load_study(study_file, output_dir=out).runs[0]


def _same_trajectory(run, reference):
    with H5MDReader(run.dir / "trajectory.h5") as traj:
        np.testing.assert_array_equal(traj.steps, reference[0])  # no frame lost or written twice
        np.testing.assert_array_equal(traj.positions_A(), reference[1])  # Reference platform: bit for bit


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_run_whose_worker_is_lost_continues_from_its_checkpoint_in_the_retried_task(lost_worker_study, tmp_path):
    study, reference = lost_worker_study
    returncode, stderr, run = _lose_the_worker(study, tmp_path, retries=1)
    assert returncode == 0, stderr
    assert run.completed
    sessions = json.loads((run.dir / "provenance.json").read_text())["engine"]["sessions"]
    assert len(sessions) == 2  # the lost worker's, then the retried task's from the checkpoint it left
    _same_trajectory(run, reference)


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_run_whose_worker_is_lost_more_often_than_retries_allow_is_reported_and_continued_later(
        lost_worker_study, tmp_path):
    study, reference = lost_worker_study
    returncode, stderr, run = _lose_the_worker(study, tmp_path, retries=0)
    assert returncode == 2, stderr
    assert "run NS2_T3000K_r0: a worker died while simulating, 1 time(s), and the dask executor's `retries: 0` " \
           "allows no more attempts; the last checkpoint is kept" in stderr, stderr
    assert "Traceback" not in stderr
    status = run.status  # nobody is running it any more, and it says so rather than 'running'
    assert status["state"] == "interrupted" and "ended before it finished" in status["message"]
    assert 0 < run.checkpoint().frames
    subprocess.run([*MELTDYN, "run", "-q", str(tmp_path / "study.yaml"), "--output-dir", str(tmp_path / "out")],
                   check=True)
    run = meltdyn.load_study(tmp_path / "study.yaml", output_dir=tmp_path / "out").runs[0]
    assert run.completed
    _same_trajectory(run, reference)


@pytest.mark.slow
@pytest.mark.subprocess
def test_two_concurrent_runs_of_one_study_do_every_run_exactly_once(four_runs, tmp_path):
    four_runs["protocol"]["stages"][-1]["duration_ps"] = 0.5
    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump(four_runs))
    out = tmp_path / "out"
    command = [*MELTDYN, "run", "-q", str(study_file), "--output-dir", str(out)]
    first = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    errors = [p.communicate()[1] for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, errors
    assert "is being run by pid" in "".join(errors)  # at least one process met a run the other held
    study = meltdyn.load_study(study_file, output_dir=out)
    sessions = []
    for run in study.runs:
        assert run.completed
        facts = json.loads((run.dir / "provenance.json").read_text())["engine"]
        sessions.append(len(facts["sessions"]))
        with H5MDReader(run.dir / "trajectory.h5") as traj:
            steps = traj.steps
        assert len(steps) == len(set(steps.tolist())) and np.all(np.diff(steps) > 0)
    assert sessions == [1, 1, 1, 1]  # every run simulated once, by one of the two processes


@pytest.mark.subprocess
def test_a_lock_is_free_again_when_its_holder_is_killed(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from meltdyn.study.locks import RunLock; lock = RunLock(Path(sys.argv[1])); "
                               "assert lock.acquire(); print('held', flush=True); time.sleep(60)", str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    lock = RunLock(tmp_path)
    assert not lock.acquire()
    with RunLock(tmp_path) as other:  # tried on entry, not taken from its holder
        assert not other.held
    assert f"pid {holder.pid} on" in lock.describe_holder()
    assert not lock.holder_ended()
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert lock.holder_ended()  # what lets a run it left 'running' read as interrupted
    deadline = time.time() + 5
    while not lock.acquire():
        assert time.time() < deadline, "the lock of a killed process was not freed"
        time.sleep(0.05)
    lock.release()
    with RunLock(tmp_path) as mine:
        assert mine.held and not RunLock(tmp_path).acquire()
    assert not mine.held and lock.acquire()  # released on leaving the block
    lock.release()


@pytest.mark.slow
def test_the_study_line_tells_simulating_from_awaiting_analysis(tiny_study, registry, tmp_path):
    """The progress line is read from the run directories: a run whose MD is done but not analysed is not counted
    as simulating, and simulated time is the protocol's (0.05 ps NVT + 0.2 ps production per run)."""
    tiny_study["sweep"]["replicas"] = 2
    study = meltdyn.load_study(tiny_study, registry, output_dir=tmp_path / "out")
    first, second = study.runs
    line = study.monitor(study.runs).line
    assert line().startswith("study: 0/2 runs completed, 0 simulating, 0 awaiting analysis, 0 failed; 0 of 0.0005 ns")
    assert study.claim(first)  # what run() does before an executor takes the run
    facts, failures = study.simulate([first], progress=False)
    assert not failures
    assert line().startswith("study: 0/2 runs completed, 0 simulating, 1 awaiting analysis, 0 failed; "
                             "0.00025 of 0.0005 ns")
    study.analyse(first, facts[first.id])
    assert line().startswith("study: 1/2 runs completed, 0 simulating, 0 awaiting analysis, 0 failed; "
                             "0.00025 of 0.0005 ns")


@pytest.mark.slow
def test_a_local_gpu_cluster_gives_each_worker_its_own_gpu(monkeypatch):
    """One worker per GPU, each started seeing only its own, so two simulations never share a GPU (or all land on
    the first): checked through the workers' environment, which needs no GPU."""
    from distributed import Client

    from meltdyn.plugins.executors.dask_executor import DaskParams, check, make_cluster

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7,9")
    params = DaskParams(workers=2, gpus_per_worker=1, threads_per_worker=2)
    assert check(params, None) == []
    with make_cluster(params) as cluster, Client(cluster) as client:
        seen = client.run(lambda: os.environ["CUDA_VISIBLE_DEVICES"])
        assert sorted(seen.values()) == ["5", "7"]
        # A simulation asks for a GPU: two at once go to two workers, never both to one (it has threads for both).
        tasks = [client.submit(lambda k: (time.sleep(1.0), os.environ["CUDA_VISIBLE_DEVICES"])[1], k,
                               resources={"GPU": 1}, pure=False) for k in range(2)]
        assert sorted(t.result() for t in tasks) == ["5", "7"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5")
    assert check(params, None) == ["gpus_per_worker: 1 with workers: 2 needs 2 GPU(s) here, and this machine has 1 "
                                   "(CUDA_VISIBLE_DEVICES='5'); set gpus_per_worker: 0, fewer workers, or run where "
                                   "the GPUs are"]


# -- no hang: executor settings checked against this machine at validate (issue 20, item 6) ----------------------

def _validate(study: dict, tmp_path, seconds: float = 30.0) -> tuple[int, str, float]:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    start = time.monotonic()
    out = subprocess.run([*MELTDYN, "validate", str(path)], capture_output=True, text=True, timeout=seconds,
                         env={**os.environ, "PATH": str(tmp_path / "bin") + os.pathsep + os.environ["PATH"]})
    return out.returncode, out.stderr, time.monotonic() - start


def _without_gpus(monkeypatch, tmp_path):
    """A PATH whose nvidia-smi lists no GPU, and no CUDA_VISIBLE_DEVICES: this machine as one without GPUs."""
    (tmp_path / "bin").mkdir(exist_ok=True)
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'No devices were found' >&2\nexit 6\n")
    smi.chmod(0o755)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("executor, needles", [
    ({"plugin": "dask", "gpus_per_worker": 1}, ["executor.gpus_per_worker: 1", "this machine has 0"]),
    ({"plugin": "dask", "cluster": "slurm"}, ["executor.cluster: 'slurm'", "'sbatch', which is not on PATH"]),
    ({"plugin": "dask", "cluster": "pbs", "gpus_per_worker": 1}, ["executor.cluster: 'pbs'", "'qsub'"]),
    ({"plugin": "dask", "scheduler_address": "tcp://127.0.0.1:1"}, ["executor.scheduler_address",
                                                                    "'tcp://127.0.0.1:1'", "Connection refused"]),
    ({"plugin": "dask", "scheduler_address": "localhost:8786"}, ["executor.scheduler_address", "'localhost:8786'",
                                                                 "tcp://host:port"]),
    ({"plugin": "dask", "scheduler_address": "tcp://host:0x50"}, ["scheduler_address", "'tcp://host:0x50'"]),
    ({"plugin": "dask", "scheduler_address": "udp://host:8786"}, ["scheduler_address", "scheme 'udp'"]),
])
def test_executor_settings_this_machine_cannot_meet_are_refused_at_validate(executor, needles, tiny_study,
                                                                              tmp_path, monkeypatch):
    _without_gpus(monkeypatch, tmp_path)
    if shutil.which("sbatch") or shutil.which("qsub"):
        pytest.skip("this machine has a job scheduler")
    rc, err, seconds = _validate({**tiny_study, "executor": executor}, tmp_path)
    assert rc == 2, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err
    assert seconds < 30


@pytest.mark.subprocess
def test_a_silent_port_is_no_scheduler_and_the_check_gives_up_in_seconds(tiny_study, tmp_path):
    """A port that accepts connections but never speaks (a proxy, another service) is refused after the bounded wait:
    a Dask scheduler sends its handshake at once."""
    import socket

    from meltdyn.plugins.executors import dask_executor

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    try:
        start = time.monotonic()
        why = dask_executor.reachable(f"tcp://127.0.0.1:{port}", timeout_s=1.0)
        assert "no Dask scheduler's answer within 1 s" in why
        assert time.monotonic() - start < 5
    finally:
        server.close()


def test_a_running_scheduler_passes_the_check(tiny_study, tmp_path):
    from distributed import LocalCluster

    from meltdyn.plugins.executors.dask_executor import DaskParams, check

    with LocalCluster(n_workers=0, dashboard_address=None) as cluster:
        assert check(DaskParams(scheduler_address=cluster.scheduler_address), None) == []


def test_a_gpu_cluster_without_gpus_is_refused_when_made_not_left_waiting(monkeypatch):
    """Were validation skipped, making the cluster still refuses rather than wait forever for GPU workers."""
    from meltdyn.base.errors import StudyError
    from meltdyn.plugins.executors.dask_executor import DaskParams, make_cluster

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(StudyError, match=r"executor.gpus_per_worker: 1 .* this machine has 0"):
        make_cluster(DaskParams(workers=1, gpus_per_worker=1))


@pytest.mark.slow
def test_a_worker_analyses_the_run_it_finished_before_it_starts_the_next(tiny_study, registry, tmp_path):
    """On a saturated cluster (one worker, one thread) a run's analysis goes before the simulations still to start,
    so results arrive as runs finish: each run is completed before the next one starts."""
    tiny_study["sweep"]["temperatures_K"] = [2500.0, 2750.0, 3000.0]
    tiny_study["executor"] = {"plugin": "dask", "workers": 1, "monitor_interval_s": 1}
    runs = meltdyn.load_study(tiny_study, registry).run(progress=False)
    spans = sorted((run.status["started"], run.status["finished"]) for run in runs)
    assert len(spans) == 3
    for (_, finished), (started, _) in zip(spans, spans[1:]):
        assert finished <= started, spans


@pytest.mark.slow
def test_simulations_start_on_workers_that_join_a_running_scheduler_later(tiny_study, registry, tmp_path):
    """A scheduler started elsewhere may have no workers yet when the study connects (a cluster still queueing its
    jobs): the study must not stay at one simulation at a time once workers arrive. Two workers join a second
    after the study starts; its two runs then simulate at the same time."""

    import threading

    from distributed import LocalCluster

    tiny_study["sweep"]["temperatures_K"] = [2500.0, 3000.0]
    tiny_study["protocol"]["stages"][-1]["duration_ps"] = 0.6
    with LocalCluster(n_workers=0, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        tiny_study["executor"] = {"plugin": "dask", "scheduler_address": cluster.scheduler_address,
                                  "monitor_interval_s": 0.2}
        threading.Timer(1.0, cluster.scale, args=(2,)).start()
        runs = meltdyn.load_study(tiny_study, registry).run(progress=False)
    (start_a, end_a), (start_b, end_b) = sorted((r.status["started"], r.status["finished"]) for r in runs)
    assert start_b < end_a, "the second run waited for the first although a worker was free"


@pytest.mark.slow
def test_an_analysis_task_does_not_check_the_study_again(tiny_study, registry, monkeypatch):
    """The client checked the study against its machine; a worker's analysis task validates its shape only (no
    preflight: no potential built, no engines or GPUs probed) and analyses the trajectory."""
    from meltdyn.study import runner as study_module
    from meltdyn.plugins.executors.dask_executor import analyse_task, simulate_task

    study = meltdyn.load_study(tiny_study, registry)
    (run,) = study.runs
    assert study.claim(run)
    result = simulate_task(study.source, str(study.output_dir), [run.id])

    def no_preflight(*args, **kwargs):
        raise AssertionError("the analysis task checked the study again")

    monkeypatch.setattr(study_module, "preflight", no_preflight)
    assert analyse_task(study.source, str(study.output_dir), run.id, result["facts"][run.id]) == []
    assert run.completed and (run.dir / "summary.json").is_file()


def _pid_or_raise(item):
    if item == "raise":
        raise ValueError("task asked to fail")
    return item, os.getpid()


@pytest.mark.slow
def test_an_executor_maps_independent_tasks_in_order_here_or_on_its_workers(registry):
    from meltdyn.plugin import validate_section

    serial = registry.build("executor", validate_section(registry, "executor", {"plugin": "serial"}, "executor"))
    assert serial.map(_pid_or_raise, ["a", "b"]) == [("a", os.getpid()), ("b", os.getpid())]
    dask = registry.build("executor", validate_section(
        registry, "executor", {"plugin": "dask", "workers": 2, "threads_per_worker": 1}, "executor"))
    results = dask.map(_pid_or_raise, ["a", "b", "c"])
    assert [item for item, _ in results] == ["a", "b", "c"]
    assert os.getpid() not in {pid for _, pid in results}  # in the workers' processes
    with pytest.raises(ValueError, match="task asked to fail"):
        dask.map(_pid_or_raise, ["a", "raise"])
