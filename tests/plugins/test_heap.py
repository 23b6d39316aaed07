"""keep_freed_memory: an MD step's large tensors reuse the process's memory instead of faulting in new pages."""

import json
import statistics
import subprocess
import sys
import textwrap

import pytest

PROGRAM = textwrap.dedent("""
    import json, resource, sys
    import torch
    from meltdyn.plugins.potentials.painn.heap import keep_freed_memory
    if sys.argv[1] == "keep":
        assert keep_freed_memory()
    def step():  # the pattern of an MD step: allocate pair-sized tensors, touch them, free them
        a = torch.ones(10_000_000)
        b = a * 2.0
        return float(b[-1])
    faults = []
    for _ in range(16):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        step()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(json.dumps(faults[5:]))  # after the heap has grown to the step's peak
""")
PAGES_PER_STEP = 2 * 40_000_000 // 4096  # two 40 MB tensors


def median_faults_per_step(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", PROGRAM, mode], check=True, capture_output=True, text=True)
    return statistics.median(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_kept_memory_is_reused_instead_of_faulted_in_again():
    # The median step: the kernel may still reclaim an idle page now and then, on its own schedule.
    assert median_faults_per_step("default") > PAGES_PER_STEP / 2  # glibc returns such blocks at free()
    assert median_faults_per_step("keep") < PAGES_PER_STEP / 100
