"""Training loop: ``fit(TrainConfig)``. Takes config objects only, never argparse or click.

Run layout (``cfg.out``): ``config.json`` (the TrainConfig), ``history.jsonl`` (one JSON line per
evaluation: step, loss, lr, validation metric), ``last.pt`` (weights + optimizer + scheduler + step, for
``resume``) and ``best.pt`` (weights of the best validation score). Both .pt files work with ``--model``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from denoise import checkpoint, data, distributed, metrics
from denoise.config import ModelConfig, TrainConfig
from denoise.device import autocast, pick_device, seed_everything
from denoise.models import build_model, count_parameters
from denoise.noise import tf_mask

log = logging.getLogger(__name__)

DEFAULT_ARCH_ARGS = {
    ("image", "dae"): {"width": 32, "depth": 2, "blocks": 1},
    ("audio", "dae"): {"width": 24, "depth": 2, "blocks": 1},
}


class TrainingError(Exception):
    """Training cannot start or cannot go on; the message says why."""


def model_config_for(cfg: TrainConfig, channels: int) -> ModelConfig:
    args = {**DEFAULT_ARCH_ARGS.get((cfg.domain, cfg.arch), {}), **cfg.arch_args}
    if cfg.domain == "image":
        return ModelConfig(arch=cfg.arch, domain="image", channels=channels, args=args, output="residual")
    return ModelConfig(arch=cfg.arch, domain="audio", channels=1, args=args, output="mask",
                       sample_rate=cfg.sample_rate, stft=cfg.stft)


def _spectral_loss(est: torch.Tensor, clean: torch.Tensor, noisy: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """L1 between power-law compressed magnitudes (|S|^0.3, which weights quiet speech like the ear does)
    plus a small waveform L1; both on signals divided by the noisy RMS, so loud and quiet examples count
    alike."""
    from denoise import dsp

    scale = dsp.rms(noisy)
    e, c = est / scale, clean / scale
    stft_cfg = model.stft_cfg
    se, sc = dsp.stft(e, stft_cfg).abs(), dsp.stft(c, stft_cfg).abs()
    spec = (se.clamp_min(1e-8).pow(0.3) - sc.clamp_min(1e-8).pow(0.3)).abs().mean()
    return spec + 0.1 * (e - c).abs().mean()


@torch.no_grad()
def evaluate(model: nn.Module, val: list[tuple[torch.Tensor, torch.Tensor]], device: torch.device) -> float:
    """Mean PSNR (images, output clipped to [0, 1]) or SI-SDR (audio) over the validation pairs."""
    model.eval()
    scores = []
    for noisy, clean in val:
        with autocast(device):
            est = model(noisy.to(device)).float().cpu()
        if model.domain == "image":
            scores.append(metrics.psnr(clean.numpy(), est.clamp(0, 1).numpy()))
        else:
            scores.append(metrics.si_sdr(clean[0].numpy(), est[0].numpy()))
    model.train()
    return float(np.mean(scores))


def _lr_lambda(total: int, warmup: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, total - warmup)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return f


def fit(cfg: TrainConfig, on_log: Optional[Callable[[dict[str, Any]], None]] = None) -> dict[str, Any]:
    """Trains a model as ``cfg`` says and returns the last history record. ``on_log`` receives each
    history record (the CLI prints them). Raises TrainingError or data.DataError with a clear message."""
    device = pick_device(cfg.device)
    dist_info = distributed.init_distributed_mode(device.type)
    if dist_info.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
    main = distributed.is_main_process()
    out = Path(cfg.out)
    seed_everything(cfg.seed + dist_info.rank)

    # ---- data
    if cfg.domain == "image":
        images, channels = data.load_images(cfg.data, cfg.channels, min_size=cfg.patch_size)
        val_images = data.load_images([cfg.val], channels)[0] if cfg.val else images
        train_ds = data.ImagePatches(images, cfg.patch_size, cfg.batch_size, cfg.corruption, cfg.seed,
                                     dist_info.rank)
        val = data.image_val_set(val_images, limit=cfg.val_limit)
        metric_name = "val_psnr"
    else:
        channels = 1
        speech = data.load_audio_dir(cfg.data, cfg.sample_rate, "speech")
        noise = data.load_audio_dir([cfg.noise_dir], cfg.sample_rate, "noise") if cfg.noise_dir else None
        val_speech = data.load_audio_dir([cfg.val], cfg.sample_rate, "validation") if cfg.val else speech
        train_ds = data.SpeechMixtures(speech, noise, cfg.patch_size, cfg.batch_size, cfg.corruption,
                                       cfg.sample_rate, cfg.seed, dist_info.rank)
        val = data.audio_val_set(val_speech, noise, cfg.sample_rate, limit=cfg.val_limit)
        metric_name = "val_si_sdr"
    if not cfg.val:
        log.warning("no --val given: validating on (a fixed noisy subset of) the training data")

    total = cfg.steps or cfg.epochs * train_ds.steps_per_epoch() // dist_info.world_size  # type: ignore[operator]
    total = max(1, total)

    # ---- model, optimiser, schedule
    mcfg = model_config_for(cfg, channels)
    model = build_model(mcfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(total, max(1, min(500, total // 20))))
    start, best, elapsed = 0, -math.inf, 0.0
    last_path, best_path = out / "last.pt", out / "best.pt"
    if cfg.resume:
        if not last_path.is_file():
            raise TrainingError(f"--resume: no {last_path} to resume from")
        payload = checkpoint.read_checkpoint(last_path, map_location=device)
        if payload["meta"]["model"] != mcfg.to_dict():
            raise TrainingError(f"--resume: {last_path} was trained with a different model configuration")
        model.load_state_dict(payload["model"], strict=True)
        opt.load_state_dict(payload["optimizer"])
        sched.load_state_dict(payload["scheduler"])
        start, best, elapsed = int(payload["step"]), float(payload["best"]), float(payload["elapsed"])
        log.info("resumed from %s at step %d", last_path, start)
        if start >= total:
            log.info("already trained for %d steps", start)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
        log.info("%s model %s: %d parameters, %d steps on %s", cfg.domain, cfg.arch, count_parameters(model),
                 total, device)

    ddp_model: nn.Module = model
    if dist_info.enabled:
        ddp_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    model_without_ddp = model

    train_ds.start_step = start
    workers = cfg.num_workers if device.type == "cuda" else min(cfg.num_workers, 1)
    loader = DataLoader(train_ds, batch_size=None, num_workers=workers, pin_memory=device.type == "cuda",
                        persistent_workers=False)
    fill = cfg.corruption.p_tf_mask

    def meta(step: int, score: float) -> dict[str, Any]:
        return {
            "model": mcfg.to_dict(),
            "domain": cfg.domain,
            "train": {**cfg.to_dict(), "resume": False},
            "data": {"train": list(cfg.data), "noise": cfg.noise_dir, "val": cfg.val},
            "corruption": cfg.corruption.to_dict(),
            "metrics": {metric_name: score},
            "step": step,
            "parameters": count_parameters(model_without_ddp),
            "versions": checkpoint.software_versions(),
        }

    model.train()
    t0 = time.perf_counter() - elapsed
    running, n_running, record = 0.0, 0, {}
    step = start
    batches = iter(loader)
    while step < total:
        noisy, clean = next(batches)
        noisy, clean = noisy.to(device, non_blocking=True), clean.to(device, non_blocking=True)
        g = data.step_generator(cfg.seed, dist_info.rank, step + 10**9)
        with autocast(device):
            if cfg.domain == "image":
                loss = (ddp_model(noisy).float() - clean).abs().mean()
            else:
                est = ddp_model(noisy, feature_transform=lambda f: tf_mask(f, g, fill)).float()
                loss = _spectral_loss(est, clean, noisy, model_without_ddp)
        if not torch.isfinite(loss):
            raise TrainingError(
                f"loss became {loss.item()} at step {step}; stopped. The last good checkpoint is kept at "
                f"{last_path if last_path.exists() else '(none yet)'}; try a lower --lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        running += loss.item()
        n_running += 1
        if step % cfg.eval_every == 0 or step == total or step % cfg.save_every == 0:
            loss_avg = distributed.all_reduce_mean(running / n_running, device)
            running, n_running = 0.0, 0
            if main:
                score = evaluate(model_without_ddp, val, device) if (step % cfg.eval_every == 0 or step == total) \
                    else float("nan")
                improved = not math.isnan(score) and score > best
                if improved:
                    best = score
                    checkpoint.save_checkpoint(best_path, model_without_ddp, meta(step, score))
                checkpoint.save_checkpoint(
                    last_path, model_without_ddp, meta(step, best), optimizer=opt.state_dict(),
                    scheduler=sched.state_dict(), step=step, best=best, elapsed=time.perf_counter() - t0)
                record = {"step": step, "loss": round(loss_avg, 6), "lr": sched.get_last_lr()[0],
                          metric_name: None if math.isnan(score) else round(score, 4),
                          "best": round(best, 4), "seconds": round(time.perf_counter() - t0, 1)}
                with open(out / "history.jsonl", "a") as f:
                    f.write(json.dumps(record) + "\n")
                if on_log is not None:
                    on_log(record)
            distributed.barrier()
    distributed.cleanup()
    return record or {"step": step, "best": best}
