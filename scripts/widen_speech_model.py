"""Writes a full-band (32 or 48 kHz) crn checkpoint that starts from a trained 16 kHz crn (see
denoise.models.crn.widen), to fine-tune it on full-band data instead of starting over:

    python scripts/widen_speech_model.py audio-speech-16k runs/audio-speech-fb-init.pt --sample-rate 48000
    denoise train --init runs/audio-speech-fb-init.pt --sample-rate 48000 ...

The new file keeps the source's metadata (training data, corruption) and records where it came from.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from denoise import checkpoint
from denoise.config import STFTConfig
from denoise.models import count_parameters
from denoise.models.crn import CausalCRN, widen


def main(src: str, dst: str, sample_rate: int) -> None:
    model = checkpoint.load(src)
    if not isinstance(model.net, CausalCRN) or model.sample_rate != 16000:
        raise SystemExit(f"{src} is not a 16 kHz crn speech model")
    stft = STFTConfig.for_rate(sample_rate)
    net, args = widen(model.net, model.config.args, sample_rate, stft.n_fft)
    config = dataclasses.replace(model.config, args=args, sample_rate=sample_rate, stft=stft)
    wide = type(model)(net, config)  # the same domain wrapper around the wider net
    checkpoint.save_checkpoint(Path(dst), wide, checkpoint.derived_meta(model, src, config, "widened_from"))
    print(f"{dst}: crn at {sample_rate} Hz {args}, {count_parameters(wide)} parameters "
          f"(from {count_parameters(model)})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="a shipped 16 kHz crn speech model's name, or its .pt")
    parser.add_argument("dst", help="the .pt to write")
    parser.add_argument("--sample-rate", type=int, default=48000, choices=[32000, 48000])
    a = parser.parse_args()
    main(a.src, a.dst, a.sample_rate)
