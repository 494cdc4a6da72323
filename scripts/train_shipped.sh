#!/usr/bin/env bash
# Trains the shipped checkpoints exactly as recorded in checkpoints/README.md.
# Usage: scripts/train_shipped.sh image-gray|image-color|image-photo|image-photo-naf|audio-speech|audio-speech-fullband|
#        audio-speech-unet [DATA_ROOT]
# DATA_ROOT defaults to ../shared/data (see that folder's README.md for sources and licences).
# Each run writes runs/NAME/{best.pt,last.pt,config.json,history.jsonl}. Rerunning continues an interrupted
# run (resuming is exact on CPU: per-step seeded batches, optimizer and schedule state in last.pt).
# EXTRA holds further `denoise train` options for every phase. CPU runs use one thread each (OMP_NUM_THREADS=1).
set -euo pipefail
name=${1:?name}
data=${2:-../shared/data}
extra=${EXTRA:-}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

# Every shipped model is trained in phases: STEPS1 steps (its first shipped version), then the same run
# resumed with a longer cosine schedule of STEPS2 steps (a warm restart), and so on. The shipped file is
# the last phase's best.pt (image-gray: runs/image-gray-d3/best.pt; image-color: runs/image-color-mse/best.pt).
# A phase resumes if OUT already has a run, and is a no-op once that run is past it.
# The image models' depth-2 fourth phase and depth-3 phases train in bf16 (`--precision bf16`, about twice as fast
# on a CPU with AVX512-BF16, 3 to 15 times slower on one without; benchmarks/train_speed.py); the other phases,
# the MSE fine-tune included, are float32. On a CPU without bf16, EXTRA="--precision fp32" (the last given wins).
phases() {  # OUT "STEPS1 STEPS2 ..." TRAIN_OPTIONS...
  local out=$1 steps=$2 n resume
  shift 2
  for n in $steps; do
    resume=
    [ -f "$out/last.pt" ] && resume=--resume
    denoise train --out "$out" "$@" --steps "$n" $resume $extra
  done
}

image_model() {  # NAME DATA_DIR CHANNELS "F32_STEPS" "BF16_STEPS" "DEEP_STEPS" [MSE_STEPS]: one image model's phases.
  # The depth-2 model in runs/NAME (float32 phases, then bf16), then its best.pt grown one level deeper
  # (written once, to runs/NAME-d3-init.pt) and trained on with --init in runs/NAME-d3, then a short float32
  # fine-tune of that run's best.pt with the MSE loss (what PSNR scores) in runs/NAME-mse, if MSE_STEPS is given.
  local name=$1
  local common=(--domain image --data "$2" --batch-size 16 --patch-size 64 --eval-every 500 --workers 0)
  local depth2=("${common[@]}" --seed 0 --arch dae --arch-args '{"width": 32, "depth": 2, "blocks": 1}'
    --channels "$3" --lr 1e-3)
  phases "runs/$name" "$4" "${depth2[@]}"
  phases "runs/$name" "$5" "${depth2[@]}" --precision bf16
  [ -f "runs/$name-d3-init.pt" ] ||
    python scripts/deepen_checkpoint.py "runs/$name/best.pt" "runs/$name-d3-init.pt" --seed 0
  phases "runs/$name-d3" "$6" "${common[@]}" --seed 0 --init "runs/$name-d3-init.pt" --lr 5e-4 --precision bf16
  phases "runs/$name-mse" "${7:-}" "${common[@]}" --seed 1 --init "runs/$name-d3/best.pt" --lr 1e-4 --precision fp32 \
    --loss mse
}

case "$name" in
  image-gray)
    # Phases 1-4: the depth-2 model (step 66500, validation PSNR 29.91 dB).
    # Phases 5-7: that model grown one level deeper (same function, 4x the parameters), then trained on from
    # it with --init: shipped is runs/image-gray-d3/best.pt, step 82500 (validation PSNR 29.99 dB).
    image_model image-gray "$data/images/train-gray-400" 1 "4000 18000 33000" "67000" "19000 60000 85000" ;;
  image-color)
    # Phases 1-4: the depth-2 model (step 67000, validation PSNR 30.96 dB).
    # Phases 5-6: grown one level deeper as image-gray was (best: step 59000, validation PSNR 31.02 dB).
    # Phase 7: 7000 MSE steps from that file; shipped is runs/image-color-mse/best.pt, step 7000 (31.04 dB).
    image_model image-color "$data/images/cbsd432-color" 3 "3500 16000 34000" "68000" "19000 60000" 7000 ;;
  image-photo)
    # image-color fine-tuned for camera noise: 60 % of the patches get the camera-noise corruption
    # (`--camera-noise 0.6`) for 5400 s of training, then that run's best.pt with half of the patches cut
    # from the training part of PolyU (benchmarks/real_noise.py --write-split; the held-out scenes are never
    # seen) for 1500 s. Shipped is runs/image-photo-pairs/best.pt.
    [ -f checkpoints/image-color.pt ] || { echo "needs checkpoints/image-color.pt" >&2; exit 2; }
    photo=(--domain image --data "$data/images/cbsd432-color" --camera-noise 0.6 --eval-every 500
      --batch-size 16 --patch-size 80 --precision bf16 --workers 1 --steps 40000)
    [ -f runs/image-photo/last.pt ] && r=--resume || r=
    denoise train --out runs/image-photo --init checkpoints/image-color.pt "${photo[@]}" --max-time 5400 \
      --lr 3e-4 --seed 1 $r $extra
    [ -d runs/polyu-train ] || python benchmarks/real_noise.py --data-root "$data" --write-split runs/polyu-train
    [ -f runs/image-photo-pairs/last.pt ] && r=--resume || r=
    denoise train --out runs/image-photo-pairs --init runs/image-photo/best.pt "${photo[@]}" --max-time 1500 \
      --pairs runs/polyu-train --pairs-fraction 0.5 --lr 1e-4 --seed 2 --steps 20000 $r $extra ;;
  image-photo-naf)
    # The light naf network from scratch on one thread: 30 % of the patches with camera noise, 35 % with
    # heavy phone noise, a fifth cut from the PolyU training pairs, half of the Gaussian-noise patches saved
    # as JPEG 4:2:0; the PSNR loss; a schedule fitted to 8000 s. Shipped is runs/image-photo-naf/best.pt.
    [ -d runs/polyu-train ] || python benchmarks/real_noise.py --data-root "$data" --write-split runs/polyu-train
    [ -f runs/image-photo-naf/last.pt ] && r=--resume || r=
    OMP_NUM_THREADS=1 denoise train --domain image --data "$data/images/cbsd432-color" --out runs/image-photo-naf \
      --arch naf --channels 3 --camera-noise 0.3 --phone-noise 0.35 --jpeg-noise 0.5 --pairs runs/polyu-train \
      --pairs-fraction 0.2 --batch-size 16 --patch-size 96 --lr 1e-3 --loss psnr --precision bf16 --workers 1 \
      --steps 100000 --max-time 8000 --eval-every 500 --seed 0 $r $extra ;;
  audio-speech)
    # The causal crn in two runs on two threads (OMP_NUM_THREADS=2). Each fits its schedule to a time budget,
    # so the number of steps depends on the machine. Run 1: from scratch, 6000 s (the model card says how the
    # recorded run's budget changed). Run 2: its best.pt fine-tuned for 5000 s at a lower learning rate with
    # more synthetic transients and other batches; shipped is runs/audio-speech-crn-ft/best.pt.
    speech=(--domain audio --data "$data/audio/speech/train" --noise-dir "$data/audio/noise/train"
      --val "$data/audio/speech/dev" --loss multires --noise-eq 0.5 --batch-size 8 --patch-size 32000
      --eval-every 500 --workers 0 --steps 30000)
    [ -f runs/audio-speech-crn/last.pt ] && r=--resume || r=
    OMP_NUM_THREADS=2 denoise train "${speech[@]}" --out runs/audio-speech-crn --arch crn --transient-noise 0.3 \
      --lr 1e-3 --seed 0 --max-time 6000 $r $extra
    [ -f runs/audio-speech-crn-ft/last.pt ] && r=--resume || r=
    OMP_NUM_THREADS=2 denoise train "${speech[@]}" --out runs/audio-speech-crn-ft --init runs/audio-speech-crn/best.pt \
      --transient-noise 0.5 --lr 3e-4 --seed 1 --max-time 5000 $r $extra ;;
  audio-speech-fullband)
    # The shipped 16 kHz crn (audio-speech) widened to 48 kHz by scripts/widen_speech_model.py (its weights
    # kept, the high bands' new ones zero) and fine-tuned on two threads: the 48 kHz speech and the 16 kHz
    # speech resampled to 48 kHz (nothing above 8 kHz: what a recording made at a lower rate looks like),
    # the 44.1 kHz and the 16 kHz noise recordings, and synthetic broadband noise; 4 s segments, 30 % of
    # them starting with room tone; gains fall to zero below 80 Hz (rumble). Phase 1: 4200 s; its best step
    # (1250, runs/audio-speech-fullband/best.pt) was shipped first and starts phase 2.
    [ -f runs/audio-speech-fullband-init.pt ] || python scripts/widen_speech_model.py checkpoints/audio-speech.pt \
      runs/audio-speech-fullband-init.pt --sample-rate 48000
    [ -f runs/audio-speech-fullband/last.pt ] && r=--resume || r=
    a=$data/audio
    OMP_NUM_THREADS=2 denoise train --domain audio --sample-rate 48000 --out runs/audio-speech-fullband \
      --init runs/audio-speech-fullband-init.pt --data "$a/speech48k/train" --data "$a/speech/train" \
      --noise-dir "$a/noise48k/train" --noise-dir "$a/noise/train" --val "$a/speech48k/dev" --loss multires \
      --low-cut 80 --broadband-noise 0.7 --recorded-noise 0.5 --room-tone 0.3 --transient-noise 0.3 --noise-eq 0.5 \
      --batch-size 8 --patch-size 192000 --lr 3e-4 --eval-every 250 --workers 0 --seed 0 --steps 30000 \
      --max-time 4200 $r $extra
    # Phase 2: the same data and noise with long pauses in the speech (--pauses 0.4: the noise alone for
    # 0.8-2.5 s mid-segment), so that the noise stays out as a pause goes on; 3000 s, 1048 steps.
    [ -f runs/audio-speech-fullband-pauses/last.pt ] && r=--resume || r=
    common=(--domain audio --sample-rate 48000 --data "$a/speech48k/train" --data "$a/speech/train"
      --noise-dir "$a/noise48k/train" --noise-dir "$a/noise/train" --val "$a/speech48k/dev" --loss multires
      --low-cut 80 --broadband-noise 0.7 --recorded-noise 0.5 --room-tone 0.3 --pauses 0.4 --transient-noise 0.3
      --noise-eq 0.5 --batch-size 8 --patch-size 192000 --lr 1e-4 --eval-every 250 --workers 0 --steps 30000)
    OMP_NUM_THREADS=2 denoise train "${common[@]}" --out runs/audio-speech-fullband-pauses \
      --init runs/audio-speech-fullband/best.pt --seed 1 --max-time 3000 $r $extra
    # Phase 3: from phase 2's last step, 70 % of the speech recorded at 16 kHz gets its noise band-limited
    # to 8 kHz as such a recording's is (--match-band 0.7); 2400 s, 1117 steps; its best step, 1000
    # (validation SI-SDR 13.78 dB), was shipped and starts phase 4. It ran with the code of commit 8b8ea23,
    # whose --match-band cut only the noise, at 8 kHz; today's cuts as in phase 4.
    [ -f runs/audio-speech-fullband-band/last.pt ] && r=--resume || r=
    OMP_NUM_THREADS=2 denoise train "${common[@]}" --out runs/audio-speech-fullband-band \
      --init runs/audio-speech-fullband-pauses/last.pt --match-band 0.7 --seed 2 --max-time 2400 $r $extra
    # Phase 4: --match-band 0.7 cuts all the 16 kHz speech, and 70 % of its noise, sharply at 7.5 kHz, as
    # inference gives such audio to the model; 2400 s, 1081 steps. Shipped is
    # runs/audio-speech-fullband-cut/best.pt, its last step (validation SI-SDR 13.83 dB).
    [ -f runs/audio-speech-fullband-cut/last.pt ] && r=--resume || r=
    OMP_NUM_THREADS=2 denoise train "${common[@]}" --out runs/audio-speech-fullband-cut \
      --init runs/audio-speech-fullband-band/best.pt --match-band 0.7 --seed 4 --max-time 2400 $r $extra ;;
  audio-speech-unet)
    # The earlier default (non-causal dae). Shipped: step 4500 (validation SI-SDR 10.707 dB). Phase 2 was
    # itself run in two pieces (stopped after step 3500, resumed to 5000).
    phases runs/audio-speech "1500 5000" --domain audio --data "$data/audio/speech/train" \
      --noise-dir "$data/audio/noise/train" --val "$data/audio/speech/dev" \
      --arch dae --arch-args '{"width": 16, "depth": 2, "blocks": 1}' \
      --batch-size 8 --patch-size 32000 --lr 1e-3 --eval-every 250 --workers 0 --seed 0 ;;
  *) echo "unknown model $name" >&2; exit 2 ;;
esac
