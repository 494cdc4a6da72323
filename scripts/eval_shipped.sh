#!/usr/bin/env bash
# Measures the shipped checkpoints with `denoise eval`; the tables in checkpoints/README.md come from this.
# Usage: scripts/eval_shipped.sh [DATA_ROOT]   (DATA_ROOT defaults to ../shared/data)
set -euo pipefail
data=${1:-../shared/data}
echo "## image-gray on BSD68 (gray)"
denoise eval --domain image --model image-gray --data "$data/images/bsd68-gray" --sigma 15 25 50 --device cpu
echo "## image-color on CBSD68 (colour)"
denoise eval --domain image --model image-color --data "$data/images/cbsd68-color" --sigma 15 25 30 50 --device cpu
echo "## image-photo on CBSD68 (colour, Gaussian noise)"
denoise eval --domain image --model image-photo --data "$data/images/cbsd68-color" --sigma 15 25 30 50 --device cpu
echo "## image-photo-naf on CBSD68 (colour, Gaussian noise)"
denoise eval --domain image --model image-photo-naf --data "$data/images/cbsd68-color" --sigma 15 25 50 --device cpu
echo "## image-photo and image-photo-naf on heavy noise, noisy JPEGs, 12 MP speed, with the peers"
python benchmarks/hard_photos.py --data-root "$data" --models image-photo image-photo-naf --limit 8
echo "## image-photo on real camera noise: the held-out PolyU crops, with the peers"
python benchmarks/real_noise.py --data-root "$data"
echo "## audio-speech on speech/dev + noise/dev"
denoise eval --domain audio --model audio-speech --speech "$data/audio/speech/dev" --noise "$data/audio/noise/dev" \
  --snr 0 5 10 --device cpu
