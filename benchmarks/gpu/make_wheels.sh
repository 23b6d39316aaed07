#!/usr/bin/env bash
# On a machine with registry access: download what benchmarks/gpu/wheels.txt names, for CPython 3.12 on x86-64 Linux,
# into DEST (default .whl/, which git ignores). Then carry DEST to the GPU machine with the working tree.
#   bash benchmarks/gpu/make_wheels.sh [DEST]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-$here/../../.whl}
mkdir -p "$dest"
platforms=(--platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
           --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
grep -v '^#' "$here/wheels.txt" | while read -r spec; do
    [ -n "$spec" ] || continue
    python3 -m pip download --quiet --no-deps --python-version 3.12 --implementation cp "${platforms[@]}" \
        -d "$dest" "$spec"
done
du -sh "$dest"
