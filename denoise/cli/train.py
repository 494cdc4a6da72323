"""`denoise train`: options in, a TrainConfig to ``denoise.training.loop.fit``, a line per evaluation out."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Optional

import click
from click.core import ParameterSource

from denoise.cli.common import EXIT_FAILED, EXIT_USAGE, device_option, fail, quiet_option, setup_logging, verbose_option
from denoise.config import AUDIO_LOSSES, IMAGE_LOSSES, MIN_PATCH_SIZE, PRECISIONS
from denoise.cli.options import flags, new_train_config, train_fields
from denoise.cli.progress import time_left
from denoise.signals import exit_on_interrupt


@click.command()
@click.option("--domain", type=click.Choice(["image", "audio"]), required=True, help="What the model denoises.")
@click.option("--data", "data_dirs", multiple=True, required=True, help="Clean training data (repeatable).")
@click.option("--noise-dir", multiple=True, help="Audio: recorded noise to mix in (repeatable; else synthetic "
                                                 "noise only).")
@click.option("--sample-rate", type=click.Choice(["16000", "32000", "48000"]), default="16000", show_default=True,
              help="Audio: the rate the model works at. Above 16 kHz the model is full band (its own gains up to "
                   "the Nyquist frequency); data at other rates is resampled to it.")
@click.option("--val", default=None, help="Validation data: clean pictures or speech (noise is added), or for "
              "images a folder of real pairs, DIR/noisy/X beside DIR/clean/X, on which best.pt is then "
              "chosen; default: a fixed subset of --data.")
@click.option("--out", required=True, help="Run directory: last.pt, best.pt, config.json, history.jsonl.")
@click.option("--arch", default=None,
              help="Architecture name (see `denoise models --archs`): dae is a U-Net for either domain; crn, "
                   "causal, streams speech frame by frame with 32 ms of delay (a dae, in 0.1 s chunks with "
                   "0.32 s); naf is a light, fast photo network.  [default: dae, or --init's]")
@click.option("--arch-args", default=None, help='JSON constructor arguments, e.g. \'{"width": 16}\'.  [default: '
              "the domain's, or --init's]")
@click.option("--init", "init", default=None, metavar="MODEL",
              help="Start from this model's weights (a shipped name such as image-gray, or a .pt) to fine-tune "
                   "it on --data; the run builds the same model.")
@click.option("--channels", type=click.Choice(["1", "3"]), default=None, help="Image channels (default: from data).")
@click.option("--steps", type=click.IntRange(1), default=None,
              help="Optimisation steps.  [default: 1000 when --epochs is not given either]")
@click.option("--epochs", type=click.IntRange(1), default=None,
              help="Passes over the data, instead of --steps.  [default: none; --steps decides]")
@click.option("--batch-size", type=click.IntRange(1), default=16, show_default=True,
              help="Patches or segments per step (per process under torchrun).")
@click.option("--lr", type=float, default=1e-3, show_default=True,
              help="Peak learning rate (AdamW): linear warm-up over the first 5 % of steps (at most 500), then "
                   "cosine decay to 2 % of it.")
@click.option("--patch-size", type=click.IntRange(MIN_PATCH_SIZE), default=None,
              help="Image crop side in pixels (64) or audio segment in samples (2 s).")
@click.option("--eval-every", type=click.IntRange(1), default=200, show_default=True,
              help="Validate, print a line and save last.pt (and best.pt when validation improves) every N "
                   "steps.")
@click.option("--snapshots", is_flag=True,
              help="Also keep each evaluation's weights in OUT/snapshots/step-N.pt (to average the last few with "
                   "denoise average); may be added when resuming.")
@click.option("--max-time", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Training time budget in seconds (over all resumes); the LR schedule fits it.")
@click.option("--workers", type=click.IntRange(0), default=2, show_default=True, help="Data loader workers.")
@device_option
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seeds the initial weights, the patches and the corruptions.")
@click.option("--resume", is_flag=True, help="Continue from OUT/last.pt (optimizer and schedule included).")
@click.option("--overwrite", is_flag=True,
              help="Start a new run in an OUT that holds one (its checkpoints and history are replaced).")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="Training-step arithmetic: auto is bf16/fp16 on CUDA and fp32 elsewhere; bf16 also on "
                   "CPU, about twice as fast on CPUs with AVX512-BF16 and 3 to 15 times slower on CPUs without.")
@click.option("--loss", type=click.Choice(IMAGE_LOSSES + AUDIO_LOSSES), default=None,
              help="Image loss: l1 is robust to outlier corruptions; mse is what PSNR scores; psnr is minus "
                   "each patch's PSNR, so that low-noise patches count as much as noisy ones. Audio loss: "
                   "spectral (compressed magnitudes at the model's STFT, plus a waveform L1) or multires "
                   "(that at three STFT sizes, plus SI-SDR).  [default: l1 / spectral]")
@click.option("--camera-noise", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Image: fraction of patches that get real-camera noise (shot and read noise in raw, "
                   "demosaiced, colour-corrected, gamma, sometimes JPEG) instead of the Gaussian mix; the "
                   "photo models use 0.6.")
@click.option("--camera-nr", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Image: fraction of the --camera-noise patches that also get the camera's own noise "
                   "reduction (colour noise blurred away, luma lightly smoothed), as in-camera JPEGs have: "
                   "the noise left is mostly luma grain, the same in R, G and B.")
@click.option("--phone-noise", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Image: fraction of patches that get heavy phone or low-light noise (raw noise up to "
                   "about 14 dB PSNR, row noise, the phone's own smoothing and sharpening, mostly JPEG).")
@click.option("--jpeg-noise", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Image: fraction of the Gaussian-noise patches then saved as JPEG (4:2:0, quality 60-95, "
                   "sometimes twice), as noisy photos saved by phones are.")
@click.option("--transient-noise", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Audio: fraction of examples whose noise gets synthetic sirens, horn or bark-like bursts "
                   "or impacts on top.")
@click.option("--noise-eq", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Audio: fraction of examples whose noise goes through a random equaliser (±12 dB).")
@click.option("--low-cut", type=click.FloatRange(0, 500), default=0.0, show_default=True, metavar="HZ",
              help="Audio: the model's gains fall to zero below HZ (from HZ down to HZ/2), a rumble filter "
                   "below the voice; 0: none.")
@click.option("--broadband-noise", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Audio: fraction of the synthetic noise that is broadband (a random spectral tilt, hiss, fans, "
                   "buzz with harmonics, rain) instead of white, pink or brown.")
@click.option("--recorded-noise", type=click.FloatRange(0, 1), default=0.7, show_default=True,
              help="Audio, with --noise-dir: fraction of examples whose noise is recorded; the others get "
                   "synthetic noise.")
@click.option("--room-tone", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Audio: fraction of examples in which the speech starts after 0.3-1.5 s of the noise alone, "
                   "as recordings do.")
@click.option("--match-band", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Audio: fraction of the speech recorded at a lower rate than --sample-rate whose noise is "
                   "band-limited as that recording is (a 16 kHz recording holds no noise above 8 kHz).")
@click.option("--pauses", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Audio: fraction of examples in which the speech pauses for 0.8-2.5 s while the noise goes "
                   "on, so that the model keeps removing it in long pauses.")
@click.option("--pairs", default=None, metavar="DIR",
              help="Image: real noisy/clean pairs, DIR/noisy/X beside DIR/clean/X (same names and sizes); a "
                   "fraction of the patches (--pairs-fraction) comes from them instead of synthetic noise.")
@click.option("--pairs-fraction", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True,
              help="With --pairs: the fraction of patches cut from the real pairs.")
@click.option("--self-supervised", is_flag=True,
              help="--data is noisy, with no clean version: learn Noise2Void-style from blind spots.")
@click.option("--blind-spot-fraction", type=click.FloatRange(0, 0.5, min_open=True, max_open=True), default=0.02,
              show_default=True, help="With --self-supervised: fraction of pixels/bins masked per example.")
@quiet_option
@verbose_option
def train(domain: str, data_dirs: tuple[str, ...], noise_dir: tuple[str, ...], sample_rate: str,
          val: Optional[str], out: str,
          arch: Optional[str], arch_args: Optional[str], init: Optional[str], channels: Optional[str],
          steps: Optional[int], epochs: Optional[int], batch_size: int, lr: float, patch_size: Optional[int],
          eval_every: int, snapshots: bool, max_time: Optional[float], workers: int, device: str, seed: int, resume: bool,
          overwrite: bool, precision: str, loss: Optional[str], camera_noise: float, camera_nr: float,
          phone_noise: float, jpeg_noise: float, transient_noise: float, noise_eq: float, low_cut: float,
          broadband_noise: float, recorded_noise: float, room_tone: float, pauses: float, match_band: float,
          pairs: Optional[str], pairs_fraction: float,
          self_supervised: bool, blind_spot_fraction: float, quiet: bool, verbose: bool) -> None:
    """Train a denoising autoencoder on clean data corrupted on the fly, or (--self-supervised) on noisy
    data alone.

    Works with torchrun for several GPUs: torchrun --nproc-per-node 4 -m denoise train ...
    """
    setup_logging(quiet, verbose, default=logging.INFO)
    from denoise.config import ConfigError
    from denoise.training.data import DataError
    from denoise.device import DeviceError, reuse_freed_cpu_memory
    from denoise.checkpoint import CheckpointError
    from denoise.training.loop import fit
    from denoise.training.runs import TrainingError

    reuse_freed_cpu_memory()  # an audio training step on the CPU: about half the time
    cfg = _config(locals())
    try:
        with exit_on_interrupt(lambda: _interrupted(out)):
            fit(cfg, on_log=_Reporter(quiet))
    except (ConfigError, TrainingError) as exc:
        fail(flags(str(exc)), EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILED)
    except (DeviceError, ValueError) as exc:
        fail(str(exc))
    except (DataError, CheckpointError) as exc:
        fail(flags(str(exc)), EXIT_FAILED)
    if not quiet:
        click.echo(f"done: {out}/best.pt (use it with --model)", err=True)


def _config(o: dict[str, Any]) -> Any:
    """The TrainConfig of this command line: a new run's from its options, or the run's own to resume
    (the options named on this command line must agree with it)."""
    from denoise.config import ConfigError
    from denoise.training.runs import TrainingError, resumed_config

    args: Optional[dict[str, Any]] = None
    if o["arch_args"] is not None:
        try:
            args = json.loads(o["arch_args"])
        except ValueError:
            args = None
        if not isinstance(args, dict):
            fail("--arch-args must be a JSON object")
    if o["resume"] and o["overwrite"]:
        fail("--resume and --overwrite contradict each other")
    try:
        if not o["resume"]:
            return new_train_config(o, args)
        ctx = click.get_current_context()
        named = {k: v for k, v in ctx.params.items()
                 if ctx.get_parameter_source(k) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
        return resumed_config(o["out"], train_fields(named, args))
    except (ConfigError, TrainingError) as exc:
        fail(flags(str(exc)))


class _Reporter:
    """Prints each evaluation line of a training run, with the time left at the pace since the last one."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.previous = quiet, {}

    def __call__(self, rec: dict[str, Any]) -> None:
        if self.quiet:
            return
        if rec.get("progress"):  # between evaluations: alive, and how fast
            one = 1 / rec["steps_per_second"]  # a record one step back makes time_left use this pace
            pace = {"step": rec["step"] - 1, "seconds": rec["seconds"] - one}
            click.echo(f"step {rec['step']}/{rec['total_steps']}: {rec['steps_per_second']:.2f} steps/s, "
                       f"{rec['seconds']} s{time_left(rec, pace)}", err=True)
            return
        metric = ", ".join(f"{k} {v}" + (f" (noisy input {rec[k + '_noisy']})" if k + "_noisy" in rec else "")
                           for k, v in rec.items() if k.startswith("val_") and not k.endswith("_noisy"))
        click.echo(f"step {rec['step']}/{rec['total_steps']}: loss {rec['loss']:.4f}, lr {rec['lr']:.2e}, "
                   f"{metric}, best {rec['best']}, {rec['seconds']} s{time_left(rec, self.previous)}", err=True)
        self.previous.update(rec)


def _interrupted(out: str) -> str:
    if Path(out, "last.pt").exists():
        return f"error: interrupted; continue with --resume (last checkpoint: {out}/last.pt)"
    return ("error: interrupted before the first checkpoint (saved every --eval-every steps); "
            "nothing to resume: run the same command again to start over")
