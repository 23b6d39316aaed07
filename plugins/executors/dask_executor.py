"""The ``dask`` executor: each batch of runs is one task on a Dask cluster, and each run's analysis a task that follows
it. A ``distributed.LocalCluster`` here, SLURM or PBS jobs through dask-jobqueue, or a running scheduler.

An extra (``pip install -e ".[dask]"``); nothing of Dask is imported unless a study names this executor. A task
works like ``meltdyn run`` on one batch: it loads the study from its spec on the worker, takes the runs' locks and
continues from their checkpoints, so a task started again after its worker was lost (a job's walltime) picks up
where the last one stopped.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from meltdyn.contracts import Executor, ExecutorOutline, StudyOutline
from meltdyn.hookspecs import hookimpl
from meltdyn.plugin import PluginDef, PluginParams
from meltdyn.progress import StudyMonitor


class DaskParams(PluginParams):
    cluster: Literal["local", "slurm", "pbs"] = Field("local", description="local: a LocalCluster on this machine; "
                                                      "slurm, pbs: one batch job per worker (dask-jobqueue).")
    scheduler_address: str | None = Field(None, description="Use a running Dask scheduler instead (tcp://host:port); "
                                          "the other cluster settings are then not used.")
    workers: int = Field(2, ge=1, le=100_000, description="local: worker processes; slurm, pbs: jobs.")
    threads_per_worker: int = Field(1, ge=1, le=1024, description="Cores per worker (local) or per job.")
    gpus_per_worker: int = Field(0, ge=0, le=64, description="GPUs per worker or job; simulation tasks then ask for "
                                 "one each, so a worker runs as many at once as it has GPUs.")
    retries: int = Field(2, ge=0, le=100, description="Times a task is started again after its worker was lost (a "
                         "job's walltime, a node failure); it continues from the runs' checkpoints.")
    queue: str | None = Field(None, max_length=200, description="slurm, pbs: partition or queue.")
    account: str | None = Field(None, max_length=200, description="slurm, pbs: account to charge.")
    walltime: str = Field("24:00:00", pattern=r"^\d{1,4}:\d{2}:\d{2}$", description="slurm, pbs: per job, HH:MM:SS.")
    memory: str = Field("16GB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$", description="slurm, pbs: per job.")
    job_extra_directives: list[str] = Field([], max_length=100, description="slurm, pbs: extra #SBATCH/#PBS lines "
                                            "(e.g. --constraint=h100).")
    job_script_prologue: list[str] = Field([], max_length=100, description="slurm, pbs: shell lines run before the "
                                           "worker starts (e.g. module load, source venv/bin/activate).")
    monitor_interval_s: float = Field(60.0, gt=0, le=86400, description="Seconds between the study's progress lines.")


def simulate_task(source: dict[str, Any], output_dir: str, run_ids: list[str]) -> dict[str, Any]:
    """On a worker: simulate one batch of the study's runs."""
    from meltdyn.study import load_study

    study = load_study(source, output_dir=output_dir)
    facts, failures = study.simulate(study.select(run_ids), progress=False)
    return {"facts": facts, "failures": failures}


def analyse_task(source: dict[str, Any], output_dir: str, run_id: str, simulated: dict[str, Any]) -> list[str]:
    """On a worker: analyse one run its simulation task simulated (nothing if that failed or left it to another)."""
    from meltdyn.study import load_study

    if run_id not in simulated["facts"]:
        return []
    study = load_study(source, output_dir=output_dir)
    (run,) = study.select([run_id])
    return study.analyse(run, simulated["facts"][run_id])


def make_cluster(params: DaskParams) -> Any:
    """A cluster object, or the address of a running scheduler."""
    if params.scheduler_address:
        return params.scheduler_address
    resources = {"GPU": params.gpus_per_worker} if params.gpus_per_worker else None
    if params.cluster == "local":
        from distributed import LocalCluster

        return LocalCluster(n_workers=params.workers, threads_per_worker=params.threads_per_worker, processes=True,
                            resources=resources, dashboard_address=None)
    import dask_jobqueue

    directives = list(params.job_extra_directives)
    if params.gpus_per_worker and params.cluster == "slurm":
        directives.append(f"--gres=gpu:{params.gpus_per_worker}")
    kind = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}[params.cluster]
    cluster = kind(queue=params.queue, account=params.account, walltime=params.walltime,
                   cores=params.threads_per_worker, processes=1, memory=params.memory,
                   job_extra_directives=directives, job_script_prologue=list(params.job_script_prologue),
                   worker_extra_args=["--resources", f"GPU={params.gpus_per_worker}"] if resources else [])
    cluster.scale(jobs=params.workers)
    return cluster


class DaskExecutor(Executor):
    def __init__(self, params: DaskParams):
        self.params = params

    def execute(self, study: Any, runs: Sequence[Any], progress: bool | None) -> list[str]:
        import dask
        from distributed import Client, wait

        p = self.params
        monitor = StudyMonitor(study, runs, progress)
        source, out = study.source, str(study.output_dir)
        gpu = {"GPU": 1} if p.gpus_per_worker else None
        # A task whose worker dies is started again by the scheduler: "allowed-failures" is Dask's name for retries.
        # A worker is given its next simulation only when it has a free thread (saturation 1.0; Dask's default 1.1
        # hands a one-thread worker a second one ahead), so a finished run's analysis runs before the next run starts
        # instead of after it. Measured with sleeping tasks on a 2-worker LocalCluster: analyses waited a whole
        # simulation at 1.1 and started within 0.02 s at 1.0 (a cluster started elsewhere keeps its own setting).
        with dask.config.set({"distributed.scheduler.allowed-failures": p.retries,
                              "distributed.scheduler.worker-saturation": 1.0}):
            cluster = make_cluster(p)
            try:
                with Client(cluster) as client:
                    analyses = {}
                    for batch in study.batches(runs):
                        ids = [run.id for run in batch]
                        simulated = client.submit(simulate_task, source, out, ids, resources=gpu, pure=False,
                                                  key=f"simulate-{ids[0]}-{len(ids)}")
                        for run_id in ids:
                            analyses[run_id] = (simulated, client.submit(analyse_task, source, out, run_id, simulated,
                                                                         pure=False, key=f"analyse-{run_id}"))
                    pending = {f for _, f in analyses.values()}
                    while pending:
                        try:
                            _, pending = wait(pending, timeout=p.monitor_interval_s, return_when="FIRST_COMPLETED")
                        except TimeoutError:  # nothing finished in the interval: report where the study stands
                            pass
                        monitor.report()
                    return _failures(analyses, p.retries)
            finally:
                if not isinstance(cluster, str):
                    cluster.close()


def _failures(analyses: dict[str, tuple[Any, Any]], retries: int) -> list[str]:
    lines: list[str] = []
    reported: set[str] = set()
    for run_id, (simulated, analysed) in analyses.items():
        if simulated.status == "error":
            if simulated.key not in reported:
                reported.add(simulated.key)
                ids = [other for other, (task, _) in analyses.items() if task.key == simulated.key]
                lines.append(_task_failure(ids, simulated.exception(), retries))
            continue
        if simulated.key not in reported:
            reported.add(simulated.key)
            lines += simulated.result()["failures"]
        lines += analysed.result() if analysed.status == "finished" else [
            f"run {run_id}: analysis task {analysed.status}: {analysed.exception()}"]
    return lines


def _task_failure(run_ids: list[str], exc: BaseException, retries: int) -> str:
    from distributed import KilledWorker

    runs = f"run{'s' if len(run_ids) > 1 else ''} {', '.join(run_ids)}"
    if isinstance(exc, KilledWorker):  # the scheduler gave up: every worker that took the task died running it
        return (f"{runs}: a worker died while simulating, {retries + 1} time(s), and the dask executor's "
                f"`retries: {retries}` allows no more attempts; the last checkpoint is kept and `meltdyn run` "
                "continues from it")
    return f"{runs}: simulation task failed: {type(exc).__name__}: {exc}"


def outline(params: DaskParams) -> ExecutorOutline:
    return ExecutorOutline(local=params.cluster == "local" and params.scheduler_address is None)


def check(params: DaskParams, study: StudyOutline) -> list[str]:
    problems = []
    if importlib.util.find_spec("distributed") is None:
        problems.append('the dask executor needs Dask: pip install -e ".[dask]"')
    if params.cluster != "local" and params.scheduler_address is None and \
            importlib.util.find_spec("dask_jobqueue") is None:
        problems.append(f'cluster: {params.cluster!r} needs dask-jobqueue: pip install -e ".[dask]"')
    if params.cluster == "local" and params.gpus_per_worker and study.local:
        import torch

        if torch.cuda.device_count() < params.gpus_per_worker:
            problems.append(f"gpus_per_worker: {params.gpus_per_worker}, but torch sees "
                            f"{torch.cuda.device_count()} GPU(s) here")
    return problems


def _example(workdir: Path) -> dict[str, Any]:
    return {"workers": 2, "monitor_interval_s": 5}


@hookimpl
def meltdyn_executors() -> list[PluginDef]:
    return [PluginDef("dask", "executor", DaskParams, DaskExecutor,
                      "Dask: each batch of runs a task on a LocalCluster, SLURM/PBS jobs (dask-jobqueue) or a "
                      "scheduler",
                      outline=outline, check=check, example=_example)]
