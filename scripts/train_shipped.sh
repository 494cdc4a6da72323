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
  image-gray|image-color)
    # Two phases, like audio-speech: the first shipped model (4000 / 3500 steps), then the same run resumed
    # with a longer cosine schedule (18000 / 16000 steps, a warm restart). The shipped file is phase 2's best.pt.
    if [ "$name" = image-gray ]; then set -- train-gray-400 1 4000 18000; else set -- cbsd432-color 3 3500 16000; fi
    image=(denoise train --domain image --data "$data/images/$1" --out "runs/$name"
      --channels "$2" --arch dae --arch-args '{"width": 32, "depth": 2, "blocks": 1}'
      --batch-size 16 --patch-size 64 --lr 1e-3 --eval-every 500 --workers 0 --seed 0)
    resume=$([ -f "runs/$name/last.pt" ] && echo --resume || true)  # phase 1 is a no-op once past its steps
    "${image[@]}" --steps "$3" $resume $extra
    "${image[@]}" --steps "$4" --resume ;;
  audio-speech)
    # Two phases: 1500 steps (the first shipped model), then the same run resumed with a 5000-step schedule
    # (a warm restart of the cosine). The shipped file is phase 2's best.pt, written at step 4500 (validation
    # SI-SDR 10.707 dB). Phase 2 was itself run in two pieces (stopped after step 3500, resumed to 5000);
    # resuming is exact on CPU (per-step seeded batches, optimizer and schedule state in last.pt).
    audio=(denoise train --domain audio --data "$data/audio/speech/train" --noise-dir "$data/audio/noise/train"
      --val "$data/audio/speech/dev" --out runs/audio-speech
      --arch dae --arch-args '{"width": 16, "depth": 2, "blocks": 1}'
      --batch-size 8 --patch-size 32000 --lr 1e-3 --eval-every 250 --workers 0 --seed 0)
    resume=$([ -f runs/audio-speech/last.pt ] && echo --resume || true)  # phase 1 is a no-op once past 1500
    "${audio[@]}" --steps 1500 $resume
    "${audio[@]}" --steps 5000 --resume ;;
  *) echo "unknown model $name" >&2; exit 2 ;;
esac
