"""The ``dask`` executor: each batch of runs is one task on a Dask cluster, and each run's analysis a task that follows
it. A ``distributed.LocalCluster`` here, SLURM or PBS jobs through dask-jobqueue, or a running scheduler.

An extra (``pip install -e ".[dask]"``); nothing of Dask is imported unless a study names this executor. A task
works like ``meltdyn run`` on one batch: it loads the study from its spec on the worker, takes the runs' locks and
continues from their checkpoints, so a task started again after its worker was lost (a job's walltime) picks up
where the last one stopped.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from meltdyn.plugin import (
    Executor, ExecutorOutline, PluginDef, PluginParams, Reporter, RunHandle, StudyError, StudyHandle, StudyOutline,
    StudyWarning, available_cores, hookimpl,
)


SUBMIT_COMMANDS = {"slurm": "sbatch", "pbs": "qsub"}
"""The command dask-jobqueue starts each job with: without it on PATH a cluster waits forever for workers."""
CONNECT_TIMEOUT_S = 3.0
"""How long validation tries to reach a running scheduler before it says it cannot."""
GPU_QUERY_TIMEOUT_S = 10.0
SCHEMES = ("tcp", "tls", "ws", "wss")
_ADDRESS_RE = re.compile(r"^(?P<scheme>[a-z]+)://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})):"
                         r"(?P<port>\d{1,5})/?$")


def parse_address(address: str) -> tuple[str, str, int]:
    """``scheme://host:port`` of a Dask scheduler, or a ValueError saying what is wrong with it."""
    m = _ADDRESS_RE.match(address)
    if m is None:
        raise ValueError(f"scheduler_address: {address!r} is not an address of the form tcp://host:port (schemes "
                         f"{', '.join(SCHEMES)}; host a name or IP address, port 1-65535)")
    scheme, host, port = m.group("scheme"), m.group("host").strip("[]"), int(m.group("port"))
    if scheme not in SCHEMES:
        raise ValueError(f"scheduler_address: {address!r} has scheme {scheme!r}; allowed: {', '.join(SCHEMES)}")
    if not 1 <= port <= 65535:
        raise ValueError(f"scheduler_address: {address!r} has port {port}; a port is 1-65535")
    return scheme, host, port


def reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> str | None:
    """None when a Dask scheduler answers at ``address`` within ``timeout_s``; else why not. A scheduler sends its
    handshake as soon as a connection opens, so an open port that stays silent (a proxy, another service) is no
    scheduler either. tls and ws addresses are checked up to the open connection only."""
    scheme, host, port = parse_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as conn:
            if scheme != "tcp":
                return None
            conn.settimeout(timeout_s)
            if not conn.recv(1):
                return "the connection was closed without a Dask handshake"
            return None
    except socket.timeout:
        return f"no Dask scheduler's answer within {timeout_s:g} s"
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def count_gpus() -> tuple[int, str]:
    """GPUs this machine lets workers use and how that was found, bounded in time: CUDA_VISIBLE_DEVICES when set,
    else ``nvidia-smi -L`` (none without it); never an import of torch or CUDA that could wait on a driver."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        devices = [d.strip() for d in listed.split(",") if d.strip() and not d.strip().startswith("-")]
        return len(devices), f"CUDA_VISIBLE_DEVICES={listed!r}"
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0, "no nvidia-smi on PATH, CUDA_VISIBLE_DEVICES unset"
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=GPU_QUERY_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return 0, f"nvidia-smi -L gave no answer in {GPU_QUERY_TIMEOUT_S:g} s"
    except OSError as exc:
        return 0, f"nvidia-smi could not be started ({exc.strerror})"
    if out.returncode != 0:
        return 0, f"nvidia-smi -L failed ({(out.stderr or out.stdout).strip()[:200]})"
    return sum(line.startswith("GPU ") for line in out.stdout.splitlines()), "nvidia-smi -L"


class DaskParams(PluginParams):
    cluster: Literal["local", "slurm", "pbs"] = Field("local", description="local: a LocalCluster on this machine; "
                                                      "slurm, pbs: one batch job per worker (dask-jobqueue).")
    scheduler_address: str | None = Field(None, description="Use a running Dask scheduler instead (tcp://host:port); "
                                          "the other cluster settings are then not used.")
    workers: int = Field(2, ge=1, le=100_000, description="local: worker processes; slurm, pbs: jobs.")
    threads_per_worker: int = Field(1, ge=1, le=1024, description="Cores per worker (local) or per job; an engine "
                                    "whose threads is unset uses this many (OMP_NUM_THREADS in the worker).")
    gpus_per_worker: int = Field(0, ge=0, le=1, description="1: each worker owns one GPU and simulates one batch at a "
                                 "time on it (local: worker k sees only the k-th visible GPU; slurm: --gres=gpu:1 per "
                                 "job), so an engine's 'cuda' is that GPU; for N GPUs give workers: N.")
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

    @field_validator("scheduler_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            parse_address(value)
        return value


def simulate_task(source: dict[str, Any], output_dir: str, run_ids: list[str]) -> dict[str, Any]:
    """On a worker: simulate one batch of the study's runs."""
    from meltdyn.plugin import load_study

    study = load_study(source, output_dir=output_dir)
    facts, failures = study.simulate(study.select(run_ids), progress=False)
    return {"facts": facts, "failures": failures}


def analyse_task(source: dict[str, Any], output_dir: str, run_id: str, engine_facts: dict[str, Any]) -> list[str]:
    """On a worker: analyse one run a simulation task simulated. The study was checked where it was submitted, and
    its analysis needs neither the potential nor the machine's engines: it is not checked again."""
    from meltdyn.plugin import load_study

    study = load_study(source, output_dir=output_dir, check=False)
    (run,) = study.select([run_id])
    return study.analyse(run, engine_facts)


def make_cluster(params: DaskParams) -> Any:
    """A cluster object, or the address of a running scheduler."""
    if params.scheduler_address:
        return params.scheduler_address
    problems = _machine_problems(params)
    if problems:  # checked at validate; here too, since a cluster without its workers waits for them forever
        raise StudyError("invalid executor:\n  " + "\n  ".join(f"executor.{p}" for p in problems))
    resources = {"GPU": params.gpus_per_worker} if params.gpus_per_worker else None
    if params.cluster == "local" and resources:
        return _local_gpu_cluster(params)
    if params.cluster == "local":
        from distributed import LocalCluster

        return LocalCluster(n_workers=params.workers, threads_per_worker=params.threads_per_worker, processes=True,
                            dashboard_address=None, env=_worker_env(params))
    import dask_jobqueue

    directives = list(params.job_extra_directives)
    if params.gpus_per_worker and params.cluster == "slurm":
        directives.append(f"--gres=gpu:{params.gpus_per_worker}")
    kind = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}[params.cluster]
    cluster = kind(queue=params.queue, account=params.account, walltime=params.walltime,
                   cores=params.threads_per_worker, processes=1, memory=params.memory,
                   job_extra_directives=directives,
                   job_script_prologue=[f"export OMP_NUM_THREADS={params.threads_per_worker}",
                                        *params.job_script_prologue],
                   worker_extra_args=["--resources", f"GPU={params.gpus_per_worker}"] if resources else [])
    cluster.scale(jobs=params.workers)
    return cluster


def visible_gpus() -> list[str]:
    """The GPUs processes started here may use, as CUDA_VISIBLE_DEVICES names them (indices or UUIDs)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [device.strip() for device in listed.split(",") if device.strip()]
    import torch

    return [str(k) for k in range(torch.cuda.device_count())]


def _worker_env(params: DaskParams) -> dict[str, str]:
    """A worker's environment: OMP_NUM_THREADS its threads_per_worker, which an engine's default threads follow.
    (Dask's nanny sets it to 1 otherwise, whatever threads_per_worker says.)"""
    return {"OMP_NUM_THREADS": str(params.threads_per_worker)}


def _local_gpu_cluster(params: DaskParams) -> Any:
    """One worker process per GPU, started with CUDA_VISIBLE_DEVICES naming its GPU alone: every engine's 'cuda'
    (TorchSim's, OpenMM's CUDA platform) is then that worker's GPU, and no two workers share one."""
    from distributed import Nanny, Scheduler, SpecCluster

    workers = {f"gpu-{k}": {"cls": Nanny, "options": {"host": "127.0.0.1", "nthreads": params.threads_per_worker,
                                                      "resources": {"GPU": 1},
                                                      "env": {**_worker_env(params), "CUDA_VISIBLE_DEVICES": device}}}
               for k, device in enumerate(visible_gpus()[: params.workers])}
    # The scheduler serves HTTP (metrics) even without a dashboard: on any free port, not Dask's 8787.
    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard": False, "dashboard_address": ":0"}}
    return SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.WARNING)


class DaskExecutor(Executor):
    def __init__(self, params: DaskParams):
        self.params = params

    def execute(self, study: StudyHandle, runs: Sequence[RunHandle], progress: bool | None) -> list[str]:
        import dask
        from distributed import Client

        p = self.params
        # A task whose worker dies is started again by the scheduler: "allowed-failures" is Dask's name for retries.
        with dask.config.set({"distributed.scheduler.allowed-failures": p.retries}):
            cluster = make_cluster(p)
            try:
                # A scheduler that cannot be reached is an error after the timeout, not a wait without end.
                with Client(cluster, timeout=f"{max(CONNECT_TIMEOUT_S, 30):g}s") as client:
                    return _Flow(client, study, p).run(list(study.batches(runs)), study.monitor(runs, progress))
            finally:
                if not isinstance(cluster, str):
                    cluster.close()


    def map(self, function: Any, items: Sequence[Any]) -> list[Any]:
        """Each item a task on the cluster (a GPU each where workers own one), as many at once as it has slots."""
        import dask
        from distributed import Client

        p = self.params
        with dask.config.set({"distributed.scheduler.allowed-failures": p.retries}):
            cluster = make_cluster(p)
            try:
                with Client(cluster, timeout=f"{max(CONNECT_TIMEOUT_S, 30):g}s") as client:
                    tag = uuid.uuid4().hex[:8]  # a scheduler that outlives this call keeps earlier keys
                    futures = [client.submit(function, item, resources={"GPU": 1} if p.gpus_per_worker else None,
                                             pure=False, key=f"{function.__name__}-{tag}-{k}")
                               for k, item in enumerate(items)]
                    return client.gather(futures)
            finally:
                if not isinstance(cluster, str):
                    cluster.close()


class _Flow:
    """Simulations kept to as many at once as the cluster has slots, each finished one followed by its runs'
    analyses ahead of the next simulation.

    Submitted all at once, simulations are handed to the workers ahead, and a worker that finishes a run starts
    the next simulation before that run's analysis (measured with SHIK runs on two one-thread workers, worker
    saturation 1.0: each worker simulated its second run while its first waited to be analysed; the sleeping
    tasks that had suggested saturation 1.0 was enough are not such a workload). Submitted when a slot opens, the
    next simulation comes after the analysis, which also carries the higher priority, on the worker that freed up.
    """

    def __init__(self, client: Any, study: StudyHandle, params: DaskParams):
        self.client, self.params = client, params
        self.source, self.out = study.source, str(study.output_dir)
        self.gpu = {"GPU": 1} if params.gpus_per_worker else None
        self.simulations: dict[Any, list[str]] = {}
        self.analyses: dict[Any, str] = {}
        self.failures: list[str] = []

    def slots(self) -> int:
        """Simulations the cluster runs at once: a GPU per worker, or a thread; a scheduler elsewhere says its own."""
        p = self.params
        if p.scheduler_address:
            workers = self.client.scheduler_info()["workers"].values()
            if self.gpu:
                return max(1, sum(int(w.get("resources", {}).get("GPU", 0)) for w in workers))
            return max(1, sum(w["nthreads"] for w in workers))
        return p.workers * (1 if self.gpu else p.threads_per_worker)

    def run(self, batches: list[list[RunHandle]], monitor: Reporter) -> list[str]:
        from distributed import wait

        self._fill(batches)
        while self.simulations or self.analyses:
            try:
                done, _ = wait([*self.simulations, *self.analyses], timeout=self.params.monitor_interval_s,
                               return_when="FIRST_COMPLETED")
            except TimeoutError:  # nothing finished in the interval: report where the study stands
                done = set()
            for future in done:
                if future in self.simulations:
                    self._simulated(future)
                else:
                    self._analysed(future)
            self._fill(batches)  # after the analyses just submitted; also takes up workers that joined meanwhile
            monitor.report()
        return self.failures

    def _fill(self, batches: list[list[Any]]) -> None:
        while batches and len(self.simulations) < self.slots():
            self._simulate(batches.pop(0))

    def _simulate(self, batch: list[Any]) -> None:
        ids = [run.id for run in batch]
        future = self.client.submit(simulate_task, self.source, self.out, ids, resources=self.gpu, pure=False,
                                    key=f"simulate-{ids[0]}-{len(ids)}")
        self.simulations[future] = ids

    def _simulated(self, future: Any) -> None:
        ids = self.simulations.pop(future)
        if future.status != "finished":
            self.failures.append(_task_failure(ids, future.exception(), self.params.retries))
            return
        result = future.result()
        self.failures += result["failures"]
        for run_id in ids:
            if run_id in result["facts"]:  # not a run that failed, or one another process holds
                analysis = self.client.submit(analyse_task, self.source, self.out, run_id, result["facts"][run_id],
                                              pure=False, priority=1, key=f"analyse-{run_id}")
                self.analyses[analysis] = run_id

    def _analysed(self, future: Any) -> None:
        run_id = self.analyses.pop(future)
        if future.status == "finished":
            self.failures += future.result()
        else:
            self.failures.append(f"run {run_id}: analysis task {future.status}: {future.exception()}")


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


def _machine_problems(params: DaskParams) -> list[str]:
    """What this machine lacks for the cluster the settings ask for (GPUs, the job scheduler's command)."""
    problems = []
    if params.scheduler_address is not None:
        return problems
    if params.cluster == "local" and params.gpus_per_worker:
        gpus, how = count_gpus()
        if gpus < params.workers:
            problems.append(f"gpus_per_worker: {params.gpus_per_worker} with workers: {params.workers} needs "
                            f"{params.workers} GPU(s) here, and this machine has {gpus} ({how}); set "
                            "gpus_per_worker: 0, fewer workers, or run where the GPUs are")
    if params.cluster in SUBMIT_COMMANDS and shutil.which(SUBMIT_COMMANDS[params.cluster]) is None:
        problems.append(f"cluster: {params.cluster!r} submits each worker as a batch job with "
                        f"{SUBMIT_COMMANDS[params.cluster]!r}, which is not on PATH here; run on the cluster's login "
                        "node, or use cluster: local or a scheduler_address")
    return problems


def check(params: DaskParams, study: StudyOutline) -> list[str]:
    problems = []
    if importlib.util.find_spec("distributed") is None:
        problems.append('the dask executor needs Dask: pip install -e ".[dask]"')
    if params.cluster != "local" and params.scheduler_address is None and \
            importlib.util.find_spec("dask_jobqueue") is None:
        problems.append(f'cluster: {params.cluster!r} needs dask-jobqueue: pip install -e ".[dask]"')
    problems += _machine_problems(params)
    local = params.cluster == "local" and params.scheduler_address is None and not params.gpus_per_worker
    if local and params.workers * params.threads_per_worker > available_cores():
        import warnings

        warnings.warn(StudyWarning(
            f"executor: workers: {params.workers} x threads_per_worker: {params.threads_per_worker} asks for more "
            f"cores than the {available_cores()} this process may use: concurrent runs would share cores and wait "
            "for one another (benchmarks/README.md, 'Threads'); give workers x threads_per_worker <= "
            f"{available_cores()}"), stacklevel=2)
    if params.scheduler_address is not None:
        why = reachable(params.scheduler_address)
        if why is not None:
            problems.append(f"scheduler_address: no Dask scheduler reachable at {params.scheduler_address!r} ({why}); "
                            "start it (dask scheduler) or correct the address")
    return problems


def _example(workdir: Path) -> dict[str, Any]:
    return {"workers": 2, "monitor_interval_s": 5}


@hookimpl
def meltdyn_executors() -> list[PluginDef]:
    return [PluginDef("dask", "executor", DaskParams, DaskExecutor,
                      "Dask: each batch of runs a task on a LocalCluster, SLURM/PBS jobs (dask-jobqueue) or a "
                      "scheduler",
                      outline=outline, check=check, example=_example)]
