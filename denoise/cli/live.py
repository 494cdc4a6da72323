"""`denoise live`: the microphone, denoised, to the speakers (or another device), as it is spoken."""

from __future__ import annotations

from typing import Optional

import click

from denoise.cli.common import EXIT_FAILED, fail, load_model, quiet_option, setup_logging, verbose_option


@click.command()
@click.option("--model", default="default", show_default=True,
              help="A causal audio model: a shipped name or a checkpoint (crn); default: the default speech model.")
@click.option("--rate", type=click.IntRange(8000), default=48000, show_default=True, help="Sample rate.")
@click.option("--channels", type=click.IntRange(1), default=1, show_default=True, help="Channels.")
@click.option("--device", default=None, help="sounddevice device name or index (default: the system's).")
@click.option("--seconds", type=click.FloatRange(0, min_open=True), default=None,
              help="Stop after this long (default: until Ctrl-C).")
@click.option("--strength", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="1 is fully denoised, 0 the input unchanged.")
@quiet_option
@verbose_option
def live(model: str, rate: int, channels: int, device: Optional[str], seconds: Optional[float], strength: float,
         quiet: bool, verbose: bool) -> None:
    """Denoise the microphone into the speakers, frame by frame (35 ms of algorithmic delay at 48 kHz plus
    a block and the sound card's own). Needs sounddevice (pip install sounddevice) and
    the PortAudio library. Untested on real sound cards: the tests drive it with a stand-in."""
    setup_logging(quiet, verbose)
    from denoise.audio.live import require_sounddevice, run_live
    from denoise.checkpoint import default_name
    from denoise.models import is_causal

    try:
        require_sounddevice()
    except ImportError as exc:
        fail(str(exc))
    net = load_model(model, "audio", "cpu")
    if not is_causal(net):
        fail(f"model {model} needs future samples (it is not causal): live audio needs a causal model (crn)")
    dev = int(device) if device is not None and device.isdigit() else device
    if not quiet:
        name = default_name("audio") if model == "default" else model
        click.echo(f"live: {rate} Hz, {channels} channel(s), model {name}; Ctrl-C stops", err=True)
    try:
        found = run_live(net, rate, channels, device=dev, seconds=seconds, strength=strength)
    except Exception as exc:  # PortAudio errors (no such device, rate not supported) are one line
        fail(f"live audio failed: {exc}", EXIT_FAILED)
    if not quiet:
        click.echo(f"delay {found['delay_ms']:.1f} ms + the sound card's; {found['input_overflow']} input "
                   f"overflows, {found['output_underflow']} output underflows", err=True)
