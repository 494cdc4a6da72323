#!/usr/bin/env bash
# Trains the shipped checkpoints exactly as recorded in checkpoints/README.md.
# Usage: scripts/train_shipped.sh image-gray|image-color|audio-speech [DATA_ROOT]
# DATA_ROOT defaults to ../shared/data (see that folder's README.md for sources and licences).
# Each run writes runs/NAME/{best.pt,last.pt,config.json,history.jsonl}; rerun with --resume appended
# (EXTRA="--resume") to continue an interrupted run. CPU runs use one thread each (OMP_NUM_THREADS=1).
set -euo pipefail
name=${1:?name}
data=${2:-../shared/data}
extra=${EXTRA:-}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
case "$name" in
  image-gray)
    denoise train --domain image --data "$data/images/train-gray-400" --out runs/image-gray \
      --channels 1 --arch dae --arch-args '{"width": 32, "depth": 2, "blocks": 1}' \
      --steps 4000 --batch-size 16 --patch-size 64 --lr 1e-3 --eval-every 500 --workers 0 --seed 0 $extra ;;
  image-color)
    denoise train --domain image --data "$data/images/cbsd432-color" --out runs/image-color \
      --channels 3 --arch dae --arch-args '{"width": 32, "depth": 2, "blocks": 1}' \
      --steps 3500 --batch-size 16 --patch-size 64 --lr 1e-3 --eval-every 500 --workers 0 --seed 0 $extra ;;
  audio-speech)
    denoise train --domain audio --data "$data/audio/speech/train" --noise-dir "$data/audio/noise/train" \
      --val "$data/audio/speech/dev" --out runs/audio-speech \
      --arch dae --arch-args '{"width": 16, "depth": 2, "blocks": 1}' \
      --steps 1500 --batch-size 8 --patch-size 32000 --lr 1e-3 --eval-every 250 --workers 0 --seed 0 $extra ;;
  *) echo "unknown model $name" >&2; exit 2 ;;
esac
