#!/usr/bin/env bash
# One call that checks a CUDA machine and prints Markdown for benchmarks/README.md (well under 8 minutes):
# the GPU-marked tests, CUDA vs CPU agreement, model-only throughput and peak memory, end-to-end folder
# throughput, a short DDP training run (steps/s), and torchrun-sharded inference on one GPU.
#
#   bash benchmarks/gpu_check.sh                 # from the repository root, with denoise installed
#   WHEELS=wheels/ bash benchmarks/gpu_check.sh  # first install soundfile/librosa/... from a wheel folder
#   DEVICE=cpu bash benchmarks/gpu_check.sh      # a dry run of the script itself on a machine without CUDA
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
DEVICE=${DEVICE:-cuda}
if [ -n "${WHEELS:-}" ]; then
  $PY -m pip install -q --no-index --find-links "$WHEELS" soundfile librosa click pytest matplotlib >&2 || exit 1
  $PY -m pip install -q --no-deps --no-build-isolation -e . >&2 || exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
section() { printf '\n## %s\n\n' "$1"; }

section "GPU-marked tests"
$PY -m pytest -q -m gpu -p no:cacheprovider 2>&1 | tail -n 3 | sed 's/^/    /'

section "Agreement, model-only throughput, peak memory"
[ "$DEVICE" = cuda ] && { timeout 240 $PY benchmarks/gpu_check.py || echo "(gpu_check.py failed: $?)"; }

section "End to end, folders (benchmarks/throughput.py --device $DEVICE --quick)"
timeout 200 $PY benchmarks/throughput.py --device "$DEVICE" --quick | tail -n +3 || echo "(throughput.py failed: $?)"

section "DDP training, 1 GPU (torchrun --nproc-per-node 1), 60 steps"
$PY - "$tmp/train" <<'PY'
import sys, numpy as np
from pathlib import Path
from PIL import Image
d = Path(sys.argv[1]); d.mkdir(parents=True)
rng = np.random.default_rng(0)
for i in range(16):
    Image.fromarray((rng.random((128, 128)) * 255).astype(np.uint8)).save(d / f"{i}.png")
PY
start=$(date +%s%N)
if timeout 120 $PY -m torch.distributed.run --nproc-per-node 1 -m denoise train --domain image --data "$tmp/train" \
     --out "$tmp/run" --steps 60 --batch-size 32 --eval-every 60 --device "$DEVICE" -q >/dev/null 2>"$tmp/train.log"; then
  awk -v ns=$(( $(date +%s%N) - start )) 'BEGIN { printf "60 steps in %.1f s (%.1f steps/s, start-up included)\n", ns / 1e9, 60 / (ns / 1e9) }'
else
  echo "(training failed)"; tail -n 5 "$tmp/train.log"
fi

section "Sharded inference, torchrun on 1 GPU"
start=$(date +%s%N)
timeout 120 $PY -m torch.distributed.run --nproc-per-node 1 -m denoise image "$tmp/train" -o "$tmp/out" \
  --model image-gray --device "$DEVICE" 2>&1 | tail -n 1
awk -v n="$(ls "$tmp/out" 2>/dev/null | wc -l)" -v ns=$(( $(date +%s%N) - start )) \
  'BEGIN { printf "written: %d of 16 files in %.1f s\n", n, ns / 1e9 }'
