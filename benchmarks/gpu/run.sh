#!/usr/bin/env bash
# On a GPU machine without registry access: install meltdyn beside the machine's own torch from a folder of wheels
# (make_wheels.sh), check the platforms, run the GPU tests and the GPU benchmark, and write everything as JSON/XML
# into OUT. Run from the repository root:
#   bash benchmarks/gpu/run.sh WHEELS OUT [MODEL_DIR ...]
# MODEL_DIR: trained PaiNN model directories to benchmark (default models/painn-ns-validation if present).
set -uo pipefail
wheels=${1:?usage: run.sh WHEELS OUT [MODEL_DIR ...]}
out=${2:?usage: run.sh WHEELS OUT [MODEL_DIR ...]}
shift 2
models=("$@")
[ ${#models[@]} -gt 0 ] || { [ -f models/painn-ns-validation/model.json ] && models=(models/painn-ns-validation); }
python=${PYTHON:-python3}
site=${MELTDYN_SITE:-/tmp/meltdyn-site}
mkdir -p "$out" "$site"

# 1. Install: the wheels, then meltdyn itself from this tree; nothing is fetched.
"$python" -m pip install --quiet --no-index --no-deps --no-build-isolation --target "$site" \
    "$wheels"/*.whl "$wheels"/*.tar.gz . >"$out/install.log" 2>&1 \
    || { echo "install failed; see $out/install.log"; tail -20 "$out/install.log"; exit 1; }
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"

# 2. What this machine offers.
"$python" - >"$out/platforms.json" <<'PY'
import json, torch, openmm
names = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
try:
    import openmmtorch  # noqa: F401
    torchforce = True
except Exception as exc:  # expected beside a torch other than openmm-torch's own
    torchforce = f"{type(exc).__name__}: {exc}"
print(json.dumps({"torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
                  "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                  "openmm": openmm.__version__, "openmm_platforms": names,
                  "openmm_plugin_load_failures": list(openmm.Platform.getPluginLoadFailures()),
                  "openmm_torch_loads": torchforce}, indent=2))
PY
cat "$out/platforms.json"

# 3. The GPU tests.
"$python" -m pytest -m gpu -q -p no:cacheprovider tests/plugins/test_gpu.py --junitxml "$out/gpu-tests.xml" \
    2>&1 | tee "$out/gpu-tests.log"

# 4. The benchmark: every path that runs here, per model, 3,000 atoms.
status=0
for model in "${models[@]}"; do
    name=$(basename "$model")
    "$python" benchmarks/painn_md.py --device cuda --atoms 3000 --steps 200 --repeats 2 --batches 4 16 \
        --paths openmm-python torchsim-1 torchsim-4 torchsim-16 schnetpack --threads 16 \
        --model-dir "$model" --json "$out/painn-md-$name.json" >"$out/painn-md-$name.log" 2>&1 || status=1
done
exit $status
