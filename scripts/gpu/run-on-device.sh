#!/usr/bin/env bash
# The device side: unpack the bundle and run check.mjs; results land in $OUT.
set -uo pipefail
mkdir -p /tmp/cg "$OUT" && tar xJf .gpu-bundle/catapult-gpu.tar.xz -C /tmp/cg
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
cd /tmp/cg && timeout 420 ./node/bin/node check.mjs /tmp/cg/catapult > "$OUT/check.log" 2>&1; echo "check rc=$?"
tail -c 4000 "$OUT/check.log"
