"""How many CPU threads a run may use, as the machine and the user say.

benchmarks/engine_threads.py measured it (2-core machine, SHIK NS2; benchmarks/README.md, "Threads"): on idle cores
every thread counts (2 threads take 0.51-0.59 of one thread's time per step on both CPU engines, from 207 to 2,997
atoms; LAMMPS 0.73 at 207), but with one of the two cores busy elsewhere, two LAMMPS threads are 1.9-4.3x slower per
step than one (OpenMP's threads wait for the slowest; OpenMM's pool loses less, 0.98-1.14x). Hence the default
follows what this process may use, never the hardware count, and validation warns when a setting asks for more.
"""

from __future__ import annotations

import os


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity (taskset, SLURM's --cpus-per-task, a cgroup cpuset),
    else the machine's count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """Threads for an engine whose ``threads`` is not set: ``OMP_NUM_THREADS`` where it is a positive integer (the
    OpenMP convention; a Dask worker gets its ``threads_per_worker`` this way), else :func:`available_cores`."""
    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    return available_cores()


class StudyWarning(UserWarning):
    """A study that will run, but not as well as it could (oversubscribed cores, say): ``meltdyn validate`` and
    ``meltdyn run`` print it as a warning line."""


def warn_if_oversubscribed(threads: int | None, field: str = "threads") -> None:
    """Warn (:class:`StudyWarning`) when ``threads`` asks for more cores than this process may use."""
    cores = available_cores()
    if threads is not None and threads > cores:
        import warnings

        warnings.warn(StudyWarning(
            f"{field}: {threads} asks for more threads than the {cores} core(s) this process may use: they would "
            f"share cores and wait for one another (two LAMMPS threads on one free core: 1.9-4.3x slower per step "
            f"than one thread; benchmarks/README.md, 'Threads'). Leave {field} unset for OMP_NUM_THREADS, else the "
            f"{cores} core(s) available"), stacklevel=2)
