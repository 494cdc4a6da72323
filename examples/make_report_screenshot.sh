#!/usr/bin/env bash
# Writes examples/report/screenshot-image.jpg and screenshot-audio.jpg: the HTML report of the shipped examples
# as headless Chromium draws it (apt-get install chromium; pip install "denoise[report]").
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$repo/examples/noisy" "$tmp/noisy"
cd "$tmp"
denoise image noisy/coffee.png noisy/camera.png -o cleaned/ --report image.html -q
denoise audio noisy/speech.wav -o cleaned/ --report audio.html -q
mkdir -p "$repo/examples/report"
for kind in image audio; do
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$tmp/profile" --hide-scrollbars \
    --virtual-time-budget=5000 --window-size=1280,1000 --screenshot="$tmp/$kind.png" "file://$tmp/$kind.html" 2>/dev/null
  python -c "import sys; from PIL import Image; Image.open(sys.argv[1]).convert('RGB').save(sys.argv[2], quality=85)" \
    "$tmp/$kind.png" "$repo/examples/report/screenshot-$kind.jpg"
done
