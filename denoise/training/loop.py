"""Training loop: ``fit(TrainConfig)``. Takes config objects only, never argparse or click.

Run layout (``cfg.out``): ``config.json`` (the TrainConfig), ``history.jsonl`` (one JSON line per
evaluation: step, loss, lr, validation metric), ``last.pt`` (weights + optimizer + step + elapsed time, for
``resume``) and ``best.pt`` (weights of the best validation score). Both .pt files work with ``--model``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn
from torch.utils.data import DataLoader

from denoise import checkpoint, io
from denoise.config import ModelConfig, TrainConfig
from denoise.device import (autocast, autocast_dtype, bf16_emulated, is_out_of_memory, pick_device,
                            seed_everything)
from denoise.models import build_model, count_parameters
from denoise.signals import leave_termination_to_main
from denoise.training import data, distributed, losses
from denoise.training.noise import tf_mask
from denoise.training.validation import evaluate, evaluate_blind_spot, noisy_score, self_supervised_val
from denoise.training.runs import (DATA_RECORD, RUN_FILES, SNAPSHOTS, TrainingError, absolute, check_out,
                                   check_same_data, data_record, load_init, model_config_for, resolve_init)

log = logging.getLogger(__name__)


def lr_factor(progress: float, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` fraction of training, then cosine decay to 2 % of the base
    rate. ``progress`` in [0, 1] is the larger of step/steps and time/max_time, so a run cut by its time
    budget still ends on a low learning rate."""
    if progress < warmup:
        return (progress + 1e-6) / warmup
    t = (progress - warmup) / max(1e-9, 1 - warmup)
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def fit(cfg: TrainConfig, on_log: Optional[Callable[[dict[str, Any]], None]] = None) -> dict[str, Any]:
    """Trains a model as ``cfg`` says and returns the last history record. ``on_log`` receives each
    history record (the CLI prints them) plus ``total_steps`` and ``max_time``, the run's planned length,
    for an estimate of the time left. Raises TrainingError or data.DataError with a clear message;
    running out of memory (a batch too large for the device) is a TrainingError that names the options to
    lower, not an allocator's traceback."""
    try:
        return _fit(cfg, on_log)
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        asked = re.search(r"allocate (\d+) bytes", str(exc))  # the CPU allocator's wording
        what = f"{int(asked.group(1)) / 2**30:.1f} GiB asked for" if asked else str(exc).split(". ")[0][:120]
        last = Path(cfg.out) / "last.pt"
        resume = f"; {last} holds the last checkpoint (resume=True)" if last.exists() else ""
        raise TrainingError(f"out of memory ({what or type(exc).__name__}); lower batch_size (now "
                            f"{cfg.batch_size}) or patch_size (now {cfg.patch_size}){resume}") from exc


@dataclass
class _Data:
    """What a run trains and validates on: the batches, the fixed validation pairs (or, without clean data,
    the noisy inputs with their mask seeds) and the validation metric's name."""

    train: Any
    val: list[tuple[torch.Tensor, torch.Tensor]]
    val_ss: list[tuple[torch.Tensor, int]]
    metric_name: str
    channels: int
    baseline: Optional[float] = None  # the metric of the noisy validation inputs (supervised runs)

    @property
    def sign(self) -> float:
        """Scores are kept higher-is-better; a loss (the blind-spot metric) is reported as it is."""
        return -1.0 if self.metric_name == "val_blind_spot_loss" else 1.0


def _image_val(cfg: TrainConfig, images: list[Any], channels: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """An image run's fixed validation pairs: real ones when ``val`` holds ``noisy/`` and ``clean/``;
    otherwise clean pictures (``val``'s, or the training data's) with seeded synthetic noise."""
    if cfg.val and data.is_pairs_folder(cfg.val):
        return data.pairs_val_set(data.load_pairs(cfg.val, channels), limit=cfg.val_limit)
    val_images = data.load_images([cfg.val], channels)[0] if cfg.val else images
    return data.image_val_set(val_images, sigma=0.0 if cfg.self_supervised else 25.0, limit=cfg.val_limit,
                              camera=cfg.corruption.p_camera > 0 and not cfg.self_supervised)


def _load_data(cfg: TrainConfig, rank: int) -> _Data:
    if cfg.domain == "image":
        images, channels = data.load_images(cfg.data, cfg.channels, min_size=cfg.patch_size)  # type: ignore[arg-type]
        pairs = data.load_pairs(cfg.pairs, channels, cfg.patch_size) if cfg.pairs else None  # type: ignore[arg-type]
        train = data.ImagePatches(images, cfg.patch_size, cfg.batch_size,  # type: ignore[arg-type]
                                  None if cfg.self_supervised else cfg.corruption, cfg.seed, rank,
                                  pairs=pairs, pairs_fraction=cfg.pairs_fraction)
        val = _image_val(cfg, images, channels)
        metric = "val_psnr"
    else:
        channels = 1
        speech, bands = data.read_audio_dir(cfg.data, cfg.sample_rate, "speech")
        noise = data.load_audio_dir(cfg.noise_dir, cfg.sample_rate, "noise") if cfg.noise_dir else None
        val_speech = data.load_audio_dir([cfg.val], cfg.sample_rate, "validation") if cfg.val else speech
        train = data.SpeechMixtures(speech, noise, cfg.patch_size, cfg.batch_size,  # type: ignore[arg-type]
                                    None if cfg.self_supervised else cfg.corruption, cfg.sample_rate, cfg.seed, rank,
                                    bands=bands)
        val = data.audio_val_set(val_speech, None if cfg.self_supervised else noise, cfg.sample_rate,
                                 limit=cfg.val_limit, snr_db=None if cfg.self_supervised else 5.0)
        metric = "val_si_sdr"
    if not cfg.val:
        log.warning("no validation data given: validating on a fixed subset of the training data")
    if cfg.self_supervised:
        return _Data(train, val, self_supervised_val(val), "val_blind_spot_loss", channels)
    return _Data(train, val, [], metric, channels, noisy_score(cfg.domain, val))


@dataclass
class _State:
    """Where a run stands: the next step, the best validation score so far (higher is better), the
    training time spent, and what its weights started from."""

    step: int = 0
    best: float = -math.inf
    elapsed: float = 0.0
    init: Optional[dict[str, Any]] = None


def _restore(cfg: TrainConfig, model: nn.Module, opt: torch.optim.Optimizer, mcfg: ModelConfig,
             device: torch.device, start: Optional[nn.Module]) -> _State:
    """A resumed run's weights, optimiser and position from ``last.pt``; a new one's weights from the init
    model ``start``."""
    last_path = Path(cfg.out) / "last.pt"
    if not cfg.resume:
        return _State(init=load_init(model, cfg, mcfg, start) if start is not None else None)
    io.remove_stale_temps(Path(cfg.out))  # a half-written checkpoint from a killed run
    if not last_path.is_file():
        raise TrainingError(f"resume=True: no {last_path} to resume from")
    payload = checkpoint.read_checkpoint(last_path, map_location=device)
    # through ModelConfig, so a run saved before a field was added (with its default) still matches
    if ModelConfig.from_dict(payload["meta"]["model"]).to_dict() != mcfg.to_dict():
        raise TrainingError(f"resume=True: {last_path} was trained with a different model configuration")
    model.load_state_dict(payload["model"], strict=True)
    opt.load_state_dict(payload["optimizer"])
    log.info("resumed from %s at step %d", last_path, int(payload["step"]))
    return _State(int(payload["step"]), float(payload["best"]), float(payload["elapsed"]), payload["meta"].get("init"))


def _start_run_dir(cfg: TrainConfig, total: int, model: nn.Module, device: torch.device) -> None:
    """Main process only: makes ``out``, clears it for ``overwrite`` (only now, after the data and the init
    weights loaded, so that a failed start loses nothing) and writes the run's ``config.json``."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.overwrite:
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / SNAPSHOTS, ignore_errors=True)
    (out / "config.json").write_text(json.dumps(absolute(cfg).to_dict(), indent=2) + "\n")
    if not cfg.resume or not (out / DATA_RECORD).exists():
        (out / DATA_RECORD).write_text(json.dumps(data_record(cfg), indent=2) + "\n")
    log.info("%s model %s: %d parameters, %d steps%s on %s", cfg.domain, cfg.arch, count_parameters(model), total,
             f" or {cfg.max_time:.0f} s" if cfg.max_time else "", device)


@dataclass
class _Step:
    """How one optimisation step runs: the model as trained (the DDP wrapper under torchrun) and the model
    itself, the optimiser, the autocast context, the fp16 loss scaler and the memory layout."""

    cfg: TrainConfig
    ddp_model: nn.Module
    model: nn.Module
    opt: torch.optim.Optimizer
    autocast: Any
    scaler: Any
    channels_last: bool
    device: torch.device
    rank: int


def _make_step(cfg: TrainConfig, model: nn.Module, opt: torch.optim.Optimizer, device: torch.device,
               dist_info: Any) -> _Step:
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch sizes: let cuDNN pick the fastest kernels
    amp_dtype = autocast_dtype(device, cfg.precision)
    if distributed.is_main_process() and bf16_emulated(device, amp_dtype):
        log.warning("precision bf16: this CPU has no bf16 instructions (avx512_bf16, amx_bf16), so bf16 is "
                    "emulated and slower than fp32 here; python benchmarks/train_speed.py measures both")
    # fp16 gradients underflow without loss scaling; bf16 has float32's range and needs none
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    # oneDNN's bf16 convolutions are fastest on NHWC; float32 runs keep NCHW so their numbers stay as they were
    channels_last = amp_dtype == torch.bfloat16 and cfg.domain == "image"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    ddp_model: nn.Module = model
    if dist_info.enabled:
        ddp_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    return _Step(cfg, ddp_model, model, opt, autocast(device, cfg.precision), scaler, channels_last, device,
                 dist_info.rank)


def _loss(run: _Step, noisy: torch.Tensor, clean: torch.Tensor, step: int) -> torch.Tensor:
    """The training loss of one batch: blind-spot (self-supervised), the image loss, or the audio loss
    (spectral or multires) with time-frequency masking of the input; plus the architecture's own term (the
    VAE's KL)."""
    cfg = run.cfg
    g = data.step_generator(cfg.seed, run.rank, step + 10**9)
    with run.autocast:
        if cfg.self_supervised:
            loss = losses.blind_spot_loss(run.ddp_model, noisy, cfg.blind_spot_fraction, g, cfg.domain,
                                          getattr(run.model, "stft_cfg", None))
        elif cfg.domain == "image":
            loss = losses.image_loss(run.ddp_model(noisy).float() - clean, cfg.loss)
        else:
            fill = cfg.corruption.p_tf_mask
            est = run.ddp_model(noisy, feature_transform=lambda f: tf_mask(f, g, fill)).float()
            if cfg.loss == "multires":
                loss = losses.multires_loss(est, clean, noisy, run.model.sample_rate)
            else:
                loss = losses.spectral_loss(est, clean, noisy, run.model)
        aux = run.model.aux_loss()
        return loss if aux is None else loss + aux.float()


def train_one_step(run: _Step, noisy: torch.Tensor, clean: torch.Tensor, step: int) -> float:
    """One optimisation step on a batch; returns its loss. A non-finite loss stops the run (TrainingError)."""
    noisy, clean = noisy.to(run.device, non_blocking=True), clean.to(run.device, non_blocking=True)
    if run.channels_last:
        noisy = noisy.contiguous(memory_format=torch.channels_last)
    loss = _loss(run, noisy, clean, step)
    if not torch.isfinite(loss):
        last = Path(run.cfg.out) / "last.pt"
        kept = f"the last good checkpoint is kept at {last}" if last.exists() else "no checkpoint had been saved yet"
        raise TrainingError(f"loss became {loss.item()} at step {step}; stopped ({kept}); try a lower lr "
                            f"(now {run.cfg.lr:g})")
    run.opt.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.unscale_(run.opt)  # clip the true gradients, not the scaled ones
    nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
    run.scaler.step(run.opt)
    run.scaler.update()
    return loss.item()


def _meta(cfg: TrainConfig, mcfg: ModelConfig, model: nn.Module, d: _Data, state: _State, score: float) -> dict[str, Any]:
    """A checkpoint's metadata (JSON): the model to rebuild, the run's settings, data, init and metric."""
    return {"model": mcfg.to_dict(), "domain": cfg.domain, "train": {**cfg.to_dict(), "resume": False},
            "data": {"train": list(cfg.data), "noise": cfg.noise_dir, "val": cfg.val, "pairs": cfg.pairs},
            "init": state.init, "corruption": cfg.corruption.to_dict(), "metrics": {d.metric_name: d.sign * score},
            "step": state.step, "parameters": count_parameters(model), "versions": checkpoint.software_versions()}


def _validate(cfg: TrainConfig, model: nn.Module, d: _Data, device: torch.device) -> float:
    """Higher is better: PSNR / SI-SDR, or minus the blind-spot loss when there is no clean data."""
    if cfg.self_supervised:
        return -evaluate_blind_spot(model, d.val_ss, cfg.blind_spot_fraction, device)
    return evaluate(model, d.val, device)


def _checkpoint(cfg: TrainConfig, mcfg: ModelConfig, run: _Step, d: _Data, state: _State, loss: float,
                lr: float, seconds: float, with_score: bool) -> dict[str, Any]:
    """Main process: validates (when ``with_score``), saves best.pt on a new best, last.pt always and the
    evaluated weights to snapshots/ when ``cfg.snapshots``, appends the history line and returns it."""
    out = Path(cfg.out)
    score = _validate(cfg, run.model, d, run.device) if with_score else float("nan")
    if not math.isnan(score) and score > state.best:
        state.best = score
        checkpoint.save_checkpoint(out / "best.pt", run.model, _meta(cfg, mcfg, run.model, d, state, score))
    checkpoint.save_checkpoint(out / "last.pt", run.model, _meta(cfg, mcfg, run.model, d, state, state.best),
                               optimizer=run.opt.state_dict(), step=state.step, best=state.best, elapsed=seconds)
    if cfg.snapshots and with_score:
        (out / SNAPSHOTS).mkdir(exist_ok=True)
        checkpoint.save_checkpoint(out / SNAPSHOTS / f"step-{state.step}.pt", run.model,
                                   _meta(cfg, mcfg, run.model, d, state, score))
    record = {"step": state.step, "loss": round(loss, 6), "lr": lr,
              d.metric_name: None if math.isnan(score) else round(d.sign * score, 4),
              "best": round(d.sign * state.best, 4), "seconds": round(seconds, 1)}
    if d.baseline is not None:
        record[f"{d.metric_name}_noisy"] = round(d.baseline, 4)
    with open(out / "history.jsonl", "a") as f:
        f.write(io.to_json(record) + "\n")
    return record


def _fit(cfg: TrainConfig, on_log: Optional[Callable[[dict[str, Any]], None]]) -> dict[str, Any]:
    device = pick_device(cfg.device)
    dist_info = distributed.init_distributed_mode(device.type)
    if dist_info.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
    seed_everything(cfg.seed + dist_info.rank)
    check_out(Path(cfg.out), cfg)
    cfg, start = resolve_init(cfg)
    with torch.device("meta"):  # bad arch_args fail here, not after the data are read (that can take minutes)
        build_model(model_config_for(cfg, cfg.channels or 1))
    d = _load_data(cfg, dist_info.rank)
    if cfg.resume:
        check_same_data(cfg)
    total = max(1, cfg.steps or cfg.epochs * d.train.steps_per_epoch() // dist_info.world_size)  # type: ignore[operator]
    mcfg = model_config_for(cfg, d.channels)
    model = build_model(mcfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = _restore(cfg, model, opt, mcfg, device, start)
    if distributed.is_main_process():
        _start_run_dir(cfg, total, model, device)
    run = _make_step(cfg, model, opt, device, dist_info)
    d.train.start_step = state.step
    workers = cfg.num_workers if device.type == "cuda" else min(cfg.num_workers, 1)
    loader = DataLoader(d.train, batch_size=None, num_workers=workers, pin_memory=device.type == "cuda",
                        persistent_workers=False, worker_init_fn=leave_termination_to_main)
    record = _train_loop(cfg, mcfg, run, d, state, iter(loader), total, on_log)
    distributed.cleanup()
    return record or {"step": state.step, "best": state.best}


HEARTBEAT_SECONDS = 30.0  # between progress lines while no evaluation is due


class _Heartbeat:
    """Progress between evaluations: every HEARTBEAT_SECONDS, ``on_log`` gets a record with
    ``"progress": True`` (step, seconds, the run's length), so that a run shows it is alive and how fast it
    goes before its first evaluation. Also the pace of the steps of this process, for the time budget."""

    def __init__(self, on_log: Optional[Callable[[dict[str, Any]], None]], total: int, max_time: Optional[float],
                 step: int, t0: float) -> None:
        self.on_log, self.total, self.max_time, self.t0 = on_log, total, max_time, t0
        self.first_step, self.started, self.last = step, time.perf_counter(), time.perf_counter()

    def step_seconds(self, step: int) -> float:
        """The mean time of this process's steps so far."""
        return (time.perf_counter() - self.started) / max(1, step - self.first_step)

    def tick(self, step: int) -> None:
        now = time.perf_counter()
        if self.on_log is not None and now - self.last >= HEARTBEAT_SECONDS and step < self.total:
            self.last = now
            self.on_log({"progress": True, "step": step, "total_steps": self.total, "max_time": self.max_time,
                         "seconds": round(now - self.t0, 1), "steps_per_second": 1.0 / self.step_seconds(step)})


def _out_of_time(cfg: TrainConfig, run: _Step, step: int, t0: float, step_seconds: float) -> bool:
    """Whether the next step would end past ``max_time`` (so a run of slow steps stops within its budget
    rather than up to ten steps after it). All ranks must stop at the same step, so under torchrun one rank
    out of time stops them all (checked every ten steps there: it is a collective)."""
    if cfg.max_time is None:
        return False
    late = time.perf_counter() - t0 + step_seconds > cfg.max_time
    if not distributed.is_distributed():
        return late
    return step % 10 == 0 and distributed.all_reduce_mean(float(late), run.device) > 0


def _train_loop(cfg: TrainConfig, mcfg: ModelConfig, run: _Step, d: _Data, state: _State, batches: Any,
                total: int, on_log: Optional[Callable[[dict[str, Any]], None]]) -> dict[str, Any]:
    """Steps until ``total`` steps or ``max_time`` seconds; every ``eval_every`` / ``save_every`` steps the
    main process validates and checkpoints (all ranks wait for it)."""
    warmup = min(500, max(1, total // 20)) / total

    def progress(step: int, seconds: float) -> float:
        p = step / total
        return min(1.0, max(p, seconds / cfg.max_time) if cfg.max_time else p)

    run.model.train()
    t0 = time.perf_counter() - state.elapsed
    running, n_running, record = 0.0, 0, {}
    done = progress(state.step, state.elapsed) >= 1
    if done:
        log.info("already trained for %d steps (%.0f s)", state.step, state.elapsed)
    beat = _Heartbeat(on_log if distributed.is_main_process() else None, total, cfg.max_time, state.step, t0)
    while not done:
        # the rate of step n is the schedule's value at its end, (n + 1) / total: a one-step run trains at the
        # full rate, where the start of its warm-up would be a rate of almost zero
        lr = cfg.lr * lr_factor(progress(state.step + 1, time.perf_counter() - t0), warmup)
        for group in run.opt.param_groups:
            group["lr"] = lr
        running += train_one_step(run, *next(batches), state.step)
        n_running += 1
        state.step += 1
        done = state.step >= total or _out_of_time(cfg, run, state.step, t0, beat.step_seconds(state.step))
        beat.tick(state.step)
        if state.step % cfg.eval_every == 0 or done or state.step % cfg.save_every == 0:
            loss_avg = distributed.all_reduce_mean(running / n_running, run.device)
            running, n_running = 0.0, 0
            if distributed.is_main_process():
                with_score = state.step % cfg.eval_every == 0 or done
                record = _checkpoint(cfg, mcfg, run, d, state, loss_avg, lr, time.perf_counter() - t0, with_score)
                if on_log is not None:
                    on_log({**record, "total_steps": total, "max_time": cfg.max_time})
            distributed.barrier()
    return record
