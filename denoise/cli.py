"""Command line. Parses options, calls the library, reports; no tensor code here.

torch, numpy and librosa are imported inside the commands, so ``denoise --help`` is instant. Exit codes:
0 all files succeeded, 1 any file (or the training run) failed, 2 usage errors (bad options, unknown
model, unavailable device), 130 interrupted (Ctrl-C), 143 / 129 terminated (SIGTERM / SIGHUP: ``kill``,
``timeout``, a batch scheduler, a closed terminal), with the same clean-up as Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn, Optional

import click
from click.core import ParameterSource

from denoise.config import IMAGE_LOSSES, MIN_PATCH_SIZE, PRECISIONS, TERMINATION_SIGNALS  # no torch: fast --help

log = logging.getLogger("denoise")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130  # 130: 128 + SIGINT, as shells report


def _setup_logging(quiet: bool, verbose: bool, default: int = logging.WARNING) -> None:
    """Library messages go to stderr: warnings by default, everything with -v, errors only with -q."""
    if quiet and verbose:
        _fail("-q and -v contradict each other")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(name)s: %(message)s" if verbose else "%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("denoise").setLevel(logging.DEBUG if verbose else logging.ERROR if quiet else default)


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that the same ``finally`` blocks run: without it the process
    dies on the spot and leaves the hidden temporary file of the output being written (for audio, written
    chunk by chunk for the whole file). A KeyboardInterrupt subclass, so that every handler written for
    Ctrl-C handles it too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated(signum)


def _redeliver_swallowed_interrupt(unraisable: Any) -> None:
    """``sys.unraisablehook``: an interrupt raised while a finaliser runs (``__del__``, such as that of the
    DataLoader worker's connection, which the garbage collector may call at any moment) is printed as
    "Exception ignored in ..." and dropped by Python, and the command would run on as if never stopped (a
    training run: until its last step). Send the signal again instead, from a thread and a moment later
    (sent from here, its handler would run inside this hook, and be dropped again), so that it is raised in
    the code that runs next. Everything else goes to the default hook."""
    if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
        import os
        import threading

        signum = getattr(unraisable.exc_value, "signum", signal.SIGINT)
        resend = threading.Timer(0.01, os.kill, (os.getpid(), signum))
        resend.daemon = True  # never holds up an exit
        resend.start()
        return
    sys.__unraisablehook__(unraisable)


def _catch_termination() -> None:
    """Route SIGTERM and SIGHUP through :class:`_Terminated`. A signal that is already ignored (``nohup``
    ignores SIGHUP) stays ignored. An interrupt that lands in a finaliser is sent again."""
    for signum in TERMINATION_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _raise_terminated)
    sys.unraisablehook = _redeliver_swallowed_interrupt


def _exit_interrupted(exc: KeyboardInterrupt, message: str = "interrupted") -> NoReturn:
    """Prints ``message`` and exits 128 + the signal number, as shells report a process killed by it: 130
    Ctrl-C, 143 SIGTERM, 129 SIGHUP."""
    click.echo(message, err=True)
    raise SystemExit(128 + exc.signum if isinstance(exc, _Terminated) else EXIT_INTERRUPTED) from None


@contextlib.contextmanager
def _exit_on_interrupt(message: str | Callable[[], str] = "interrupted") -> Iterator[None]:
    """Ctrl-C (or SIGTERM / SIGHUP) inside: print ``message`` (how to pick up where it stopped; a callable is
    asked at that moment) and exit 130 (143 / 129). Elsewhere in a command, :class:`_Group` prints only
    "interrupted"."""
    try:
        yield
    except KeyboardInterrupt as exc:
        _exit_interrupted(exc, message() if callable(message) else message)


def _load_model(name: str, domain: str, device: str, channels: int = 1) -> Any:
    from denoise.checkpoint import CheckpointError, load
    from denoise.device import DeviceError, pick_device, reuse_freed_cpu_memory

    reuse_freed_cpu_memory()  # CPU inference: about a quarter less time (benchmarks/cpu_allocator.py)
    try:
        dev = pick_device(device)
        return load(name, domain=domain, channels=channels, device=dev)
    except (CheckpointError, DeviceError) as exc:
        _fail(str(exc))


# Options every command shares, defined once so that their help reads the same everywhere.
_device_option = click.option("--device", default="auto", show_default=True,
                              help="auto (CUDA, then MPS, then the CPU), cpu, cuda, cuda:N or mps.")
_quiet_option = click.option("-q", "--quiet", is_flag=True, help="Only print errors.")
_verbose_option = click.option("-v", "--verbose", is_flag=True, help="Print details and tracebacks.")


_BATCH_HELP = {"image": "Image tiles (512 pixels a side) per forward pass.  [default: 1 on the CPU (larger is no "
                        "faster there, only uses more memory); 8 on a GPU]",
               "audio": "Audio chunks (10 s each) per forward pass.  [default: 1 on the CPU (larger is no faster "
                        "there, only uses more memory); 4 on a GPU]"}


def common_options(domain: str) -> Callable[[Callable], Callable]:
    """The options of ``denoise image`` and ``denoise audio``, worded for ``domain``."""
    def decorate(f: Callable) -> Callable:
        for opt in reversed(_file_options(domain)):
            f = opt(f)
        return f

    return decorate


def _file_options(domain: str) -> list[Callable]:
    return [
        click.argument("inputs", nargs=-1, required=True),
        click.option("-o", "--output", default=None, metavar="PATH",
                     help="Output file (one input file) or directory (mirrors a directory input's tree, several "
                          "directories each under its own name; a trailing / forces a directory)."),
        click.option("--model", default="default", show_default=True, help="Shipped model name or checkpoint file."),
        _device_option,
        click.option("--batch-size", default=None, type=click.IntRange(1), help=_BATCH_HELP[domain]),
        click.option("--strength", default=1.0, show_default=True, type=click.FloatRange(0.0, 1.0),
                     help="Blend: 0 returns the input, 1 the fully denoised output."),
        click.option("--overwrite", is_flag=True, help="Replace existing output files."),
        click.option("--skip-existing", is_flag=True, help="Skip inputs whose output already exists (resume a batch)."),
        _quiet_option,
        _verbose_option,
    ]


def _run_files(domain: str, inputs: tuple[str, ...], output: Optional[str], model: str, device: str,
               batch_size: Optional[int], strength: float, overwrite: bool, skip_existing: bool, quiet: bool,
               verbose: bool, ensemble: bool = False) -> None:
    from denoise import io

    _setup_logging(quiet, verbose)
    if overwrite and skip_existing:
        _fail("--overwrite and --skip-existing contradict each other")
    t0 = time.perf_counter()
    try:
        plan = io.plan_jobs(inputs, output, io.IMAGE_EXTS if domain == "image" else io.AUDIO_EXTS)
    except io.InputError as exc:
        _fail(str(exc))
    io.refuse_unwritable(plan, domain)
    io.skip_own_outputs(plan)
    io.settle_existing(plan, overwrite, skip_existing)  # before the model loads: a finished batch returns at once
    for item, reason in plan.errors:
        click.echo(f"failed: {item}: {_flags(reason)}", err=True)
    if not quiet:
        for item, reason in plan.skipped:
            click.echo(f"skipped: {item}: {reason}", err=True)
    done, failed, skipped = 0, len(plan.errors), len(plan.skipped)
    if plan.jobs:
        if domain == "image" and model == "default":
            net = None  # picked per file below: gray and colour need different default models
        else:
            net = _load_model(model, domain, device)
        show_bar = _shows_bar(quiet)
        nl = "\n" if show_bar else ""  # start a fresh line below the progress bar
        # what each file adds to the bar: seconds of audio or megapixels, so that one long recording or
        # large photo moves the bar too (fed chunk by chunk or tile batch by tile batch)
        size_of, unit = (io.audio_seconds, "audio (seconds)") if domain == "audio" else \
            (io.image_megapixels, "images (megapixels)")
        sizes = {job.src: size_of(job.src) if show_bar else 1.0 for job in plan.jobs}
        total = sum(sizes.values())
        # outputs are written by rename, so every file that exists after Ctrl-C is complete
        with _exit_on_interrupt(f"{nl}interrupted: every output file that exists is complete; run the same "
                                "command with --skip-existing to do the rest"), \
                _bar(math.ceil(total), f"denoising {unit}", quiet) as bar:
            meter = _Meter(bar, total, len(plan.jobs))
            # closing(): an interrupt that lands in this loop body, not inside the generator, still closes
            # it at once, so the output it holds open removes its temporary file before the message
            with contextlib.closing(_iter_results(domain, plan.jobs, net, model, device, overwrite,
                                                  skip_existing, strength, batch_size,
                                                  meter.add if show_bar else None, ensemble)) as results:
                for r in results:  # images: skipped files come first, so sizes go by source, not position
                    meter.finish_file(sizes[r.src])
                    if r.status == "done":
                        done += 1
                        log.info("%s -> %s (%.2f s)", r.src, r.dst, r.seconds)
                    elif r.status == "skipped":
                        skipped += 1
                        if not quiet:
                            click.echo(f"{nl}skipped: {r.src}: {r.reason}", err=True)
                    else:
                        failed += 1
                        click.echo(f"{nl}failed: {r.src}: {_flags(r.reason)}", err=True)
    if not quiet:
        click.echo(f"{done} done, {failed} failed, {skipped} skipped in {time.perf_counter() - t0:.1f} s", err=True)
    raise SystemExit(EXIT_FAILED if failed else EXIT_OK)


class _Meter:
    """Feeds a whole-number progress bar from fractional amounts: within-file progress (``add``) and,
    when a file ends however it ends, the rest of that file (``finish_file``). ``total`` is the sum of
    the sizes; the bar's length is that rounded up."""

    def __init__(self, bar: Any, total: float, files: int = 0) -> None:
        self.bar, self.total, self.done, self.in_file, self.shown = bar, total, 0.0, 0.0, 0
        self.files, self.files_done = files, 0

    def add(self, amount: float) -> None:
        self.in_file += amount
        self._show(self.done + self.in_file)

    def finish_file(self, size: float) -> None:
        # images: the next file may already have reported progress (this one is written in the
        # background meanwhile), so keep what exceeds this file's size
        self.done += size
        self.files_done += 1
        self.in_file = max(0.0, self.in_file - size)
        self._show(self.done + self.in_file, force=True)

    def _show(self, total: float, force: bool = False) -> None:
        if total >= self.total - 1e-9:  # the bar's length is the total rounded up: all done shows it full
            total = math.ceil(self.total)
        step = int(total) - self.shown
        if step > 0 or force:  # a file count that moves redraws the bar even when the amount does not
            self.bar.update(max(0, step), f"{self.files_done}/{self.files} files" if self.files else None)
            self.shown += max(0, step)


class _NoBar:
    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def update(self, n: int, current_item: Any = None) -> None:
        pass


def _shows_bar(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def _bar(length: int, label: str, quiet: bool) -> Any:
    """A progress bar on stderr, shown only on a terminal and without -q (:func:`_shows_bar`); else a no-op."""
    if not _shows_bar(quiet):
        return _NoBar()
    return click.progressbar(length=max(1, length), label=label, file=sys.stderr, show_pos=True,
                             item_show_func=lambda item: item)


def _iter_results(domain, jobs, net, model, device, overwrite, skip_existing, strength, batch_size,  # type: ignore[no-untyped-def]
                  progress=None, ensemble=False):
    """``denoise_paths`` over the jobs; without ``net`` (the default image model) each file gets the model
    for its channels (see ``inference.denoise_decoded``), each loaded once."""
    from functools import lru_cache

    from denoise.inference import denoise_paths

    kw = dict(overwrite=overwrite, skip_existing=skip_existing, strength=strength, batch_size=batch_size,
              audio_progress=progress, image_progress=progress, ensemble=ensemble)
    pick = net if net is not None else lru_cache(maxsize=None)(lambda ch: _load_model(model, "image", device, ch))
    yield from denoise_paths(pick, jobs, **kw)


class _Group(click.Group):
    """Ctrl-C, SIGTERM or SIGHUP outside a command's own handler (while the arguments are parsed, torch
    imports or a model loads, before anything is written): "interrupted" and 130 / 143 / 129, where click
    would print "Aborted!" and exit 1."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with _exit_on_interrupt():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        with _exit_on_interrupt():
            return super().invoke(ctx)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="denoise")
def cli() -> None:
    """Remove noise from images and audio with convolutional denoising autoencoders.

    \b
    denoise image noisy.png -o clean.png
    denoise audio recordings/ -o cleaned/
    denoise train --domain image --data photos/ --out runs/mine
    """


@cli.command()
@common_options("image")
@click.option("--ensemble", is_flag=True,
              help="Average the model over the 8 flips and rotations of each image (x8 self-ensemble): "
                   "about 8 times slower (7.5 to 8.3 on a CPU), +0.06 to +0.09 dB PSNR on BSD68 / CBSD68.")
def image(**kw: Any) -> None:
    """Denoise images (png, jpg, bmp, tif, webp, gif): files, directories (recursive) or globs.

    Without -o each output is written beside its input as NAME.denoised.EXT. Format, size, bit depth
    (8/16), gray/colour and alpha are kept.
    """
    _run_files("image", **kw)


@cli.command()
@common_options("audio")
def audio(**kw: Any) -> None:
    """Denoise audio (wav, flac, ogg and whatever libsndfile reads): files, directories or globs.

    Any sample rate and channel count; the output keeps rate, channels and (where possible) sample
    format. Long files are streamed in overlapping chunks.
    """
    _run_files("audio", **kw)


@cli.command()
@click.option("--domain", type=click.Choice(["image", "audio"]), required=True, help="What the model denoises.")
@click.option("--data", "data_dirs", multiple=True, required=True, help="Clean training data (repeatable).")
@click.option("--noise-dir", default=None, help="Audio: recorded noise to mix in (else synthetic noise only).")
@click.option("--val", default=None, help="Validation data (clean); default: a fixed subset of --data.")
@click.option("--out", required=True, help="Run directory: last.pt, best.pt, config.json, history.jsonl.")
@click.option("--arch", default=None, help="Architecture name (see `denoise models --archs`).  [default: dae, "
              "or --init's]")
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
@click.option("--max-time", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Training time budget in seconds (over all resumes); the LR schedule fits it.")
@click.option("--workers", type=click.IntRange(0), default=2, show_default=True, help="Data loader workers.")
@_device_option
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seeds the initial weights, the patches and the corruptions.")
@click.option("--resume", is_flag=True, help="Continue from OUT/last.pt (optimizer and schedule included).")
@click.option("--overwrite", is_flag=True,
              help="Start a new run in an OUT that holds one (its checkpoints and history are replaced).")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="Training-step arithmetic: auto is bf16/fp16 on CUDA and fp32 elsewhere; bf16 also on "
                   "CPU, about twice as fast on CPUs with AVX512-BF16 and three times slower on CPUs without.")
@click.option("--loss", type=click.Choice(IMAGE_LOSSES), default=None,
              help="Image loss: l1 is robust to outlier corruptions; mse is what PSNR scores; psnr is minus "
                   "each patch's PSNR, so that low-noise patches count as much as noisy ones. Audio always "
                   "uses its spectral loss.  [default: l1]")
@click.option("--camera-noise", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Image: fraction of patches that get real-camera noise (shot and read noise in raw, "
                   "demosaiced, colour-corrected, gamma, sometimes JPEG) instead of the Gaussian mix; the "
                   "photo models use 0.6.")
@click.option("--pairs", default=None, metavar="DIR",
              help="Image: real noisy/clean pairs, DIR/noisy/X beside DIR/clean/X (same names and sizes); a "
                   "fraction of the patches (--pairs-fraction) comes from them instead of synthetic noise.")
@click.option("--pairs-fraction", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True,
              help="With --pairs: the fraction of patches cut from the real pairs.")
@click.option("--self-supervised", is_flag=True,
              help="--data is noisy, with no clean version: learn Noise2Void-style from blind spots.")
@click.option("--blind-spot-fraction", type=click.FloatRange(0, 0.5, min_open=True, max_open=True), default=0.02,
              show_default=True, help="With --self-supervised: fraction of pixels/bins masked per example.")
@_quiet_option
@_verbose_option
def train(domain: str, data_dirs: tuple[str, ...], noise_dir: Optional[str], val: Optional[str], out: str,
          arch: Optional[str], arch_args: Optional[str], init: Optional[str], channels: Optional[str],
          steps: Optional[int], epochs: Optional[int], batch_size: int, lr: float, patch_size: Optional[int],
          eval_every: int, max_time: Optional[float], workers: int, device: str, seed: int, resume: bool,
          overwrite: bool, precision: str, loss: Optional[str], camera_noise: float, pairs: Optional[str],
          pairs_fraction: float, self_supervised: bool, blind_spot_fraction: float, quiet: bool,
          verbose: bool) -> None:
    """Train a denoising autoencoder on clean data corrupted on the fly, or (--self-supervised) on noisy
    data alone.

    Works with torchrun for several GPUs: torchrun --nproc-per-node 4 -m denoise train ...
    """
    _setup_logging(quiet, verbose, default=logging.INFO)
    from denoise import checkpoint
    from denoise.config import ConfigError, CorruptionConfig, TrainConfig
    from denoise.data import DataError
    from denoise.device import DeviceError, reuse_freed_cpu_memory
    from denoise.checkpoint import CheckpointError
    from denoise.train import TrainingError, fit, resumed_config

    reuse_freed_cpu_memory()  # an audio training step on the CPU: about half the time

    args: Optional[dict[str, Any]] = None
    if arch_args is not None:
        try:
            args = json.loads(arch_args)
            if not isinstance(args, dict):
                raise ValueError
        except ValueError:
            _fail("--arch-args must be a JSON object")
    if resume and overwrite:
        _fail("--resume and --overwrite contradict each other")
    if resume:  # the run's own settings; those named on this command line must agree with them
        ctx = click.get_current_context()
        named = {k: v for k, v in ctx.params.items()
                 if ctx.get_parameter_source(k) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
        given = _train_fields(named, args)
        try:
            cfg = resumed_config(out, given)
        except (ConfigError, TrainingError) as exc:
            _fail(_flags(str(exc)))
    else:
        cfg = _new_train_config(domain, init, arch, args, channels, steps, epochs, locals())
    previous: dict[str, Any] = {}

    def report(rec: dict[str, Any]) -> None:
        if not quiet:
            metric = {k: v for k, v in rec.items() if k.startswith("val_")}
            click.echo(f"step {rec['step']}/{rec['total_steps']}: loss {rec['loss']:.4f}, lr {rec['lr']:.2e}, "
                       + ", ".join(f"{k} {v}" for k, v in metric.items()) + f", best {rec['best']}, "
                       f"{rec['seconds']} s{_time_left(rec, previous)}", err=True)
        previous.update(rec)

    def interrupted() -> str:
        if Path(out, "last.pt").exists():
            return f"error: interrupted; continue with --resume (last checkpoint: {out}/last.pt)"
        return ("error: interrupted before the first checkpoint (saved every --eval-every steps); "
                "nothing to resume: run the same command again to start over")

    try:
        with _exit_on_interrupt(interrupted):
            fit(cfg, on_log=report)
    except (ConfigError, TrainingError) as exc:
        _fail(_flags(str(exc)), EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILED)
    except (DeviceError, ValueError) as exc:
        _fail(str(exc))
    except (DataError, CheckpointError) as exc:
        _fail(_flags(str(exc)), EXIT_FAILED)
    if not quiet:
        click.echo(f"done: {out}/best.pt (use it with --model)", err=True)


# TrainConfig fields by the option that sets them (``--workers`` sets num_workers, ...), for resuming and
# for turning a library message that names a field into one that names the option.
_TRAIN_FIELDS = {"domain": "domain", "data_dirs": "data", "noise_dir": "noise_dir", "val": "val", "arch": "arch",
                 "arch_args": "arch_args", "init": "init", "channels": "channels", "steps": "steps",
                 "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "patch_size": "patch_size",
                 "eval_every": "eval_every", "max_time": "max_time", "workers": "num_workers", "device": "device",
                 "seed": "seed", "precision": "precision", "loss": "loss", "self_supervised": "self_supervised",
                 "blind_spot_fraction": "blind_spot_fraction", "pairs": "pairs", "pairs_fraction": "pairs_fraction"}
_FIELD_FLAGS = {field: "--" + param.replace("_dirs", "").replace("_", "-") for param, field in _TRAIN_FIELDS.items()}
_FIELD_FLAGS.update({"p_camera": "--camera-noise", "overwrite": "--overwrite", "resume": "--resume",
                     "skip_existing": "--skip-existing", "save_every": "--eval-every"})
_BARE_FIELDS = frozenset(f for f in _FIELD_FLAGS if "_" in f) | {"lr", "steps", "epochs"}  # never plain words in errors


def _flags(message: str) -> str:
    """A library message in the terms of this command line: settings are named there as in Python
    (``batch_size``, ``lr``, ``data=[...]``, ``overwrite=True``), here as the options that set them."""
    import re

    def option(m: re.Match) -> str:
        groups = m.groups() + (None, None, None)
        name, how, value, bare_eq = groups[:4]
        if how is None or how == "=True" or bare_eq is not None:  # a flag, or an option named without a value
            return _FIELD_FLAGS[name]
        return f"{_FIELD_FLAGS[name]} {value}" if value is not None else _FIELD_FLAGS[name] + " "

    names = "|".join(sorted(map(re.escape, _FIELD_FLAGS), key=len, reverse=True))
    message = re.sub(rf"(?<![\w-])({names})(=True\b|='([^']*)'|=(?=[\s,;)]|$)()|=)", option, message)
    bare = "|".join(sorted(map(re.escape, _BARE_FIELDS), key=len, reverse=True))
    return re.sub(rf"(?<![\w.-])({bare})(?![\w=-])", option, message)


def _train_fields(named: dict[str, Any], arch_args: Optional[dict[str, Any]]) -> dict[str, Any]:
    """The TrainConfig fields of the options in ``named`` (option name -> value), converted."""
    given: dict[str, Any] = {}
    for param, value in named.items():
        if param == "camera_noise":
            given["corruption"] = {"p_camera": value}
        elif param in _TRAIN_FIELDS:
            convert = {"data_dirs": list, "channels": int, "arch_args": lambda _: arch_args}.get(param)
            given[_TRAIN_FIELDS[param]] = convert(value) if convert and value is not None else value
    if "eval_every" in given:
        given["save_every"] = given["eval_every"]
    return given


def _new_train_config(domain: str, init: Optional[str], arch: Optional[str], args: Optional[dict[str, Any]],
                      channels: Optional[str], steps: Optional[int], epochs: Optional[int],
                      options: dict[str, Any]) -> Any:
    """The TrainConfig of a new run. With ``init``, the architecture, its arguments and the channels left
    out come from that checkpoint (fit() checks that the rest matches it)."""
    from denoise.checkpoint import CheckpointError, load
    from denoise.config import ConfigError, CorruptionConfig, TrainConfig

    if init is not None:
        try:
            base = load(init, domain, int(channels) if channels else 1).config
        except (CheckpointError, ConfigError) as exc:
            _fail(f"--init: {exc}")
        if arch in (None, base.arch) and args is None:
            args = base.args
        arch = arch or base.arch
        if channels is None and domain == "image":
            channels = str(base.channels)
    if steps is None and epochs is None:
        steps = 1000
    o = options
    try:
        return TrainConfig(domain=domain, data=list(o["data_dirs"]), noise_dir=o["noise_dir"], val=o["val"],
                           out=o["out"], arch=arch or "dae", arch_args=args or {}, init=init,
                           channels=int(channels) if channels else None, steps=steps, epochs=epochs,
                           batch_size=o["batch_size"], lr=o["lr"], patch_size=o["patch_size"], device=o["device"],
                           seed=o["seed"], overwrite=o["overwrite"], eval_every=o["eval_every"],
                           save_every=o["eval_every"], num_workers=o["workers"], max_time=o["max_time"],
                           self_supervised=o["self_supervised"], blind_spot_fraction=o["blind_spot_fraction"],
                           precision=o["precision"], loss=o["loss"], pairs=o["pairs"],
                           pairs_fraction=o["pairs_fraction"], corruption=CorruptionConfig(p_camera=o["camera_noise"]))
    except ConfigError as exc:
        _fail(_flags(str(exc)))


@cli.command("eval")
@click.option("--domain", type=click.Choice(["image", "audio"]), required=True, help="What to evaluate.")
@click.option("--data", "data_dir", default=None, help="Image: clean images.")
@click.option("--sigma", type=float, multiple=True, help="Image: noise σ on the 0-255 scale (repeatable or space-separated).")
@click.option("--speech", default=None, help="Audio: clean speech.")
@click.option("--noise", default=None, help="Audio: noise recordings.")
@click.option("--snr", type=float, multiple=True, help="Audio: SNR in dB (repeatable or space-separated).")
@click.option("--model", default="default", show_default=True, help="Shipped model name or checkpoint file.")
@_device_option
@click.option("--limit", type=click.IntRange(1), default=None, help="Use only the first N files.")
@click.option("--ensemble", is_flag=True, help="Image: score the x8 self-ensemble (see `denoise image --help`).")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seeds the added noise (and the audio mixtures): the same seed scores the same inputs.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_quiet_option
@_verbose_option
@click.argument("extra", nargs=-1, type=float, metavar="[LEVEL]...")
def eval_cmd(domain: str, data_dir: Optional[str], sigma: tuple[float, ...], speech: Optional[str],
             noise: Optional[str], snr: tuple[float, ...], model: str, device: str, limit: Optional[int],
             seed: int, as_json: bool, quiet: bool, verbose: bool, extra: tuple[float, ...],
             ensemble: bool = False) -> None:
    """Add seeded noise in memory, denoise, and print noisy vs denoised scores. LEVELs after the options
    are more --sigma (image) or --snr (audio) values.

    \b
    denoise eval --domain image --data bsd68/ --sigma 15 25 50
    denoise eval --domain audio --speech speech/ --noise noise/ --snr 0 5 10
    """
    _setup_logging(quiet, verbose)
    import math

    from denoise import evaluation, io
    from denoise.data import DataError

    levels = (sigma if domain == "image" else snr) + extra
    if domain == "image":
        if not data_dir or not levels:
            _fail("image eval needs --data and --sigma")
        if not all(0 <= s < math.inf for s in levels):
            _fail("--sigma must be a number >= 0")
    elif not speech or not noise or not levels:
        _fail("audio eval needs --speech, --noise and --snr")
    elif ensemble:
        _fail("--ensemble is for image eval only")
    elif not all(math.isfinite(s) for s in levels):
        _fail("--snr must be a finite number of dB")
    try:
        if domain == "image":
            files = evaluation.eval_image_files(data_dir, limit)
            ch = io.image_channels(files[0]) if files and model == "default" else 1
            net = _load_model(model, "image", device, ch)
            with _bar(len(files) * len(levels), "denoising images", quiet) as bar:
                rows = evaluation.eval_images(net, data_dir, levels, seed=seed, limit=limit, ensemble=ensemble,
                                              tick=lambda: bar.update(1))
        else:
            net = _load_model(model, "audio", device)
            count = len(evaluation.eval_speech_files(speech, limit))
            with _bar(count * len(levels), "denoising mixtures", quiet) as bar:
                rows = evaluation.eval_audio(net, speech, noise, levels, seed=seed, limit=limit,
                                             tick=lambda: bar.update(1))
    except (io.InputError, DataError) as exc:
        _fail(str(exc), EXIT_FAILED)
    if as_json:
        click.echo(json.dumps({"domain": domain, "model": model, "rows": rows}, indent=2))
        return
    click.echo(_table(rows))


def _time_left(rec: dict[str, Any], previous: dict[str, Any]) -> str:
    """", about 12 min left": the steps still to go at the pace since the ``previous`` record (evaluation
    time included), capped by --max-time; "" for the first record of a process, which has no pace yet."""
    if not previous or rec["step"] <= previous["step"] or rec["step"] >= rec["total_steps"]:
        return ""
    pace = (rec["seconds"] - previous["seconds"]) / (rec["step"] - previous["step"])
    left = (rec["total_steps"] - rec["step"]) * pace
    if rec.get("max_time"):
        left = min(left, rec["max_time"] - rec["seconds"])
    if left <= 0:
        return ""
    text = f"{left:.0f} s" if left < 90 else f"{left / 60:.0f} min" if left < 90 * 60 else f"{left / 3600:.1f} h"
    return f", about {text} left"


def _table(rows: list[dict[str, Any]]) -> str:
    cols = list(rows[0])
    fmt = lambda v: "–" if v is None else f"{v:.4f}" if isinstance(v, float) and abs(v) < 2 else (f"{v:.2f}" if isinstance(v, float) else str(v))  # noqa: E731
    cells = [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--domain", type=click.Choice(["auto", "image", "audio"]), default="auto", show_default=True,
              help="auto: from --model, else from the files (extensions, or what directories hold).")
@click.option("--model", default="default", show_default=True,
              help="Shipped model name or checkpoint file. For images, default is image-gray or image-color "
                   "by the first file's channels: one model for every file, so that the scores compare.")
@_device_option
@click.option("--batch-size", default=None, type=click.IntRange(1),
              help="Image tiles or audio chunks per forward pass.  [default: 1 on the CPU, more on a GPU]")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (rank,score,unit,path,error).")
@_quiet_option
@_verbose_option
def score(inputs: tuple[str, ...], domain: str, model: str, device: str, batch_size: Optional[int], as_json: bool,
          as_csv: bool, quiet: bool, verbose: bool) -> None:
    """Rank files by how badly the autoencoder reconstructs them (anomaly score), most unusual first.

    Train a model on normal data only (denoise train ...), then score new files with --model best.pt.
    Images: mean squared error per pixel value; audio: residual energy / input energy.
    """
    _setup_logging(quiet, verbose)
    from denoise import io, scoring

    if as_json and as_csv:
        _fail("--json and --csv contradict each other")
    if domain == "auto":
        domain = _domain_of(model, inputs)
    plan = io.plan_jobs(inputs, None, io.IMAGE_EXTS if domain == "image" else io.AUDIO_EXTS)
    files = [job.src for job in plan.jobs]
    ch = 1
    if domain == "image" and model == "default" and files:
        try:
            ch = io.image_channels(files[0])
        except io.InputError:
            pass
    results = [scoring.FileScore(Path(item), None, reason) for item, reason in plan.errors]
    if files:
        net = _load_model(model, domain, device, ch)
        with _bar(len(files), "scoring files", quiet) as bar:
            for result in scoring.score_files(net, files, batch_size):
                results.append(result)
                bar.update(1)
    rows = scoring.ranked(results)
    unit = scoring.UNITS[domain]
    records = [{"rank": i + 1 if r.score is not None else None, "score": r.score, "unit": unit,
                "path": str(r.path), "error": r.error} for i, r in enumerate(rows)]
    if as_json:
        click.echo(json.dumps(records, indent=2))
    elif as_csv:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=list(records[0]) if records else ["rank"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    else:
        for r in records:
            if r["score"] is not None:
                click.echo(f"{r['rank']:>5}  {r['score']:.6g}  {r['path']}")
    for r in records:
        if r["error"] is not None:
            click.echo(f"failed: {r['path']}: {r['error']}", err=True)
    if not records:
        _fail("no input files found", EXIT_FAILED)
    raise SystemExit(EXIT_FAILED if any(r["error"] for r in records) else EXIT_OK)


def _domain_of(model: str, inputs: tuple[str, ...]) -> str:
    """The domain of --model (a checkpoint file or a shipped name), else of the inputs: their extensions,
    or for directories the kind of files found in them."""
    import glob
    import os

    from denoise import io
    from denoise.checkpoint import CheckpointError, manifest, read_checkpoint

    if os.path.isfile(model):
        try:
            return str(read_checkpoint(model)["meta"]["domain"])
        except CheckpointError as exc:
            _fail(str(exc))
    shipped = manifest().get(model)
    if shipped is not None:
        return str(shipped["domain"])
    exts = {os.path.splitext(p)[1].lower() for p in inputs if os.path.splitext(p)[1]}
    if exts and exts <= io.AUDIO_EXTS:
        return "audio"
    if exts and exts <= io.IMAGE_EXTS:
        return "image"
    found = {"image" if job.src.suffix.lower() in io.IMAGE_EXTS else "audio"
             for job in io.plan_jobs(inputs, None, io.IMAGE_EXTS | io.AUDIO_EXTS).jobs}
    if len(found) == 1:
        return found.pop()
    if not found:
        missing = [p for p in inputs if not os.path.lexists(p) and not glob.has_magic(p)]
        _fail(f"no such file or directory: {', '.join(missing)}" if missing else "no image or audio files found",
              EXIT_FAILED)
    _fail("both images and audio here; pass --domain image or --domain audio")


@cli.command()
@click.option("--archs", is_flag=True, help="List the architectures that `train --arch` accepts, with the "
              "--arch-args each takes and their defaults.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest (or, with --archs, the list) as JSON.")
def models(archs: bool, as_json: bool) -> None:
    """List the shipped models (domain, architecture, size, training data)."""
    if archs:
        from denoise.models import available, describe
        from denoise.train import default_arch_args

        found = [{"arch": a, "summary": describe(a)["summary"],
                  "defaults": {d: default_arch_args(d, a) for d in ("image", "audio")}} for a in available()]
        if as_json:
            click.echo(json.dumps(found, indent=2))
            return
        for f in found:  # not _table: the argument lists are too long for columns
            click.echo(f"{f['arch']}: {f['summary']}")
            for d, args in f["defaults"].items():
                click.echo(f"    {d}: {json.dumps(args)}")
        click.echo("These are `denoise train --arch NAME`'s defaults per domain; --arch-args '{\"width\": 16}' "
                   "changes some of them.")
        return
    from denoise.checkpoint import checkpoints_dir, manifest

    entries = manifest()
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    if not entries:
        click.echo(f"no shipped models found in {checkpoints_dir()}")
        return
    from denoise.checkpoint import default_name

    defaults = {default_name("image", 1): "gray images", default_name("image", 3): "colour images",
                default_name("audio"): "audio"}
    rows = [{"name": n, "for": e.get("purpose", ""), "default for": defaults.get(n, "–"), "domain": e["domain"],
             "params": f"{e['parameters']:,}", "size": f"{e['bytes'] / 1e6:.1f} MB", "trained on": e["data"]}
            for n, e in sorted(entries.items())]
    click.echo(_table(rows))


def main() -> None:
    _catch_termination()
    with _exit_on_interrupt():
        cli.main(prog_name="denoise")
