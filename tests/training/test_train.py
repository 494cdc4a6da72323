"""A run stopped and resumed ends with the same weights as one that never stopped (the shipped
audio-speech checkpoint was trained that way, and its model card relies on it), in float32 and in the
bf16 + channels-last training path the image checkpoints' last phase used; a run with ``init`` starts from
that checkpoint's weights."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from denoise.config import ConfigError, TrainConfig
from denoise.device import autocast_dtype, cpu_bf16_instructions
from denoise.training.loop import fit
from denoise.training.runs import TrainingError
from tests.conftest import gray_pngs, run, speechlike


class _Stop(Exception):
    pass


def _stop_at(step: int):  # type: ignore[no-untyped-def]
    def on_log(record: dict) -> None:
        if record["step"] == step:
            raise _Stop
    return on_log


def _config(domain: str, data: Path, out: Path, resume: bool = False, precision: str = "auto") -> TrainConfig:
    common = dict(domain=domain, data=[str(data)], out=str(out), steps=6, eval_every=3, save_every=3,
                  num_workers=0, seed=0, device="cpu", resume=resume, arch_args={"width": 4},
                  precision=precision)
    if domain == "image":
        return TrainConfig(batch_size=2, patch_size=32, **common)
    return TrainConfig(batch_size=2, patch_size=8000, **common)


def _image_data(d: Path) -> Path:
    return gray_pngs(d)


@pytest.mark.slow
@pytest.mark.parametrize("domain,precision", [("image", "auto"), ("audio", "auto"), ("image", "bf16")])
def test_stopped_and_resumed_run_matches_an_uninterrupted_one(tmp_path: Path, domain: str, precision: str) -> None:
    if domain == "image":
        data = _image_data(tmp_path / "data")
    else:
        data = tmp_path / "data"
        data.mkdir()
        for i in range(2):
            sf.write(data / f"{i}.flac", speechlike(2.0, 16000, i), 16000)
    fit(_config(domain, data, tmp_path / "whole", precision=precision))
    with pytest.raises(_Stop):
        fit(_config(domain, data, tmp_path / "pieces", precision=precision), on_log=_stop_at(3))
    at_stop = torch.load(tmp_path / "pieces" / "last.pt", weights_only=True)
    assert at_stop["step"] == 3
    fit(_config(domain, data, tmp_path / "pieces", resume=True, precision=precision))

    whole = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)
    pieces = torch.load(tmp_path / "pieces" / "last.pt", weights_only=True)
    assert whole["step"] == pieces["step"] == 6
    assert whole["model"].keys() == pieces["model"].keys()
    for k, v in whole["model"].items():
        assert torch.equal(v, pieces["model"][k]), k
        # master weights stay float32 and are stored NCHW-contiguous even after channels-last training
        assert v.dtype == torch.float32 and v.is_contiguous(), k
    # the second piece really trained: otherwise the comparison above would prove nothing
    assert any(not torch.equal(v, at_stop["model"][k]) for k, v in whole["model"].items())


def test_precision_choices() -> None:
    cpu = torch.device("cpu")
    assert autocast_dtype(cpu, "auto") is None  # CPU default stays exact float32
    assert autocast_dtype(cpu, "fp32") is None
    assert autocast_dtype(cpu, "bf16") is torch.bfloat16
    with pytest.raises(ConfigError, match="precision"):
        TrainConfig(domain="image", data=["x"], out="y", precision="fp16")


def test_cpu_bf16_instructions_are_read_from_the_flags_line(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_tile\n\n")
    assert cpu_bf16_instructions(info) == ["avx512_bf16"]
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f\n")
    assert cpu_bf16_instructions(info) == []
    assert cpu_bf16_instructions(tmp_path / "missing") is None


@pytest.mark.parametrize("flags,warned", [([], True), (["amx_bf16"], False), (None, False)])
def test_bf16_on_a_cpu_without_bf16_instructions_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture, flags: object,
                                                       warned: bool) -> None:
    monkeypatch.setattr("denoise.device.cpu_bf16_instructions", lambda: flags)
    data = _image_data(tmp_path / "data")
    with caplog.at_level("WARNING", logger="denoise.training.loop"):
        fit(dataclasses.replace(_config("image", data, tmp_path / "run", precision="bf16"), steps=1))
    assert any("no bf16 instructions" in r.getMessage() for r in caplog.records) is warned


@pytest.mark.slow
def test_init_starts_from_the_checkpoint_and_must_be_the_same_model(tmp_path: Path) -> None:
    data = _image_data(tmp_path / "data")
    fit(_config("image", data, tmp_path / "a"))
    trained = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]

    def frozen_run(out: str, **changes: object) -> dict:  # lr 0: the weights stay where the run started
        fit(dataclasses.replace(_config("image", data, tmp_path / out), lr=0.0, steps=1, **changes))
        return torch.load(tmp_path / out / "last.pt", weights_only=True)

    started = frozen_run("b", init=str(tmp_path / "a" / "last.pt"))
    assert all(torch.equal(v, started["model"][k]) for k, v in trained.items())
    record = json.loads(started["meta"])["init"]
    assert record["step"] == 6 and len(record["sha256"]) == 64
    fresh = frozen_run("c")  # without init the same seed starts elsewhere, so the check above can fail
    assert not all(torch.equal(v, fresh["model"][k]) for k, v in trained.items())
    with pytest.raises(ConfigError, match="init=.* builds dae"):
        frozen_run("d", init=str(tmp_path / "a" / "last.pt"), arch_args={"width": 8})


@pytest.mark.slow
def test_init_may_grow_the_model_by_its_arguments_and_starts_where_the_init_ends(tmp_path: Path) -> None:
    from denoise.checkpoint import load

    data = _image_data(tmp_path / "data")
    small = {"width": 4, "depth": 1, "latent_blocks": 1}
    fit(dataclasses.replace(_config("image", data, tmp_path / "a"), arch="naf", arch_args=small))
    init = str(tmp_path / "a" / "last.pt")
    for out, grown in (("b", {**small, "refine": 8}), ("c", {**small, "blocks": 2})):
        fit(dataclasses.replace(_config("image", data, tmp_path / out), arch="naf", arch_args=grown, init=init,
                                lr=0.0, steps=1))
        noisy = torch.rand(1, 1, 32, 32)
        before, after = load(init, "image", 1), load(str(tmp_path / out / "last.pt"), "image", 1)
        assert after.config.args.items() >= grown.items()
        assert torch.allclose(before(noisy), after(noisy), atol=1e-6)  # the added parts start as the identity
    with pytest.raises(ConfigError, match="does not hold all its weights"):  # a shape changes: refused
        fit(dataclasses.replace(_config("image", data, tmp_path / "d"), arch="naf", init=init,
                                arch_args={**small, "width": 8}))


@pytest.mark.slow
@pytest.mark.parametrize("loss", [None, "mse", "psnr"])
def test_image_loss_is_the_one_asked_for(tmp_path: Path, loss: object) -> None:
    from denoise.training import data as data_mod
    from denoise.checkpoint import load

    data = _image_data(tmp_path / "data")
    fit(_config("image", data, tmp_path / "a"))
    init = tmp_path / "a" / "last.pt"
    # lr 0 and one step: the recorded loss is the loss of the first batch under the init weights
    cfg = dataclasses.replace(_config("image", data, tmp_path / "b"), lr=0.0, steps=1, eval_every=1, init=str(init),
                              loss=loss)
    fit(cfg)
    recorded = json.loads((tmp_path / "b" / "history.jsonl").read_text().splitlines()[0])["loss"]

    images, _ = data_mod.load_images(cfg.data, None, min_size=cfg.patch_size)
    noisy, clean = data_mod.ImagePatches(images, cfg.patch_size, cfg.batch_size, cfg.corruption, cfg.seed).batch(0)
    with torch.no_grad():
        err = load(str(init), "image", 1)(noisy) - clean
    l1, mse = float(err.abs().mean()), float(err.square().mean())
    minus_psnr = float((10 * torch.log10(err.square().mean(dim=(1, 2, 3)) + 1e-5)).mean())  # per patch, capped
    assert min(abs(l1 - mse), abs(l1 - minus_psnr), abs(mse - minus_psnr)) > 1e-3  # the losses are told apart
    assert recorded == pytest.approx({"mse": mse, "psnr": minus_psnr}.get(loss, l1), abs=2e-6)


def test_psnr_loss_weights_each_patch_by_its_error_where_mse_favours_the_noisiest() -> None:
    from denoise.training.losses import image_loss

    def gradient_ratio(name: str) -> float:
        """How much harder the loss pulls on the clean-ish patch's error than on the noisy one's."""
        err = torch.stack([torch.full((1, 4, 4), 0.01), torch.full((1, 4, 4), 0.1)]).requires_grad_()
        image_loss(err, name).backward()
        return float(err.grad[0].abs().mean() / err.grad[1].abs().mean())

    assert gradient_ratio("mse") == pytest.approx(0.1)  # the error itself: the noisy patch dominates
    assert gradient_ratio("psnr") == pytest.approx((0.01 / (0.01**2 + 1e-5)) / (0.1 / (0.1**2 + 1e-5)))  # ~9.1


def test_loss_is_for_supervised_training_and_its_own_domain() -> None:
    with pytest.raises(ConfigError, match="loss for audio must be one of spectral, multires"):
        TrainConfig(domain="audio", data=["x"], out="y", loss="mse")
    with pytest.raises(ConfigError, match="loss for image must be one of"):
        TrainConfig(domain="image", data=["x"], out="y", loss="multires")
    with pytest.raises(ConfigError, match="loss= applies"):
        TrainConfig(domain="image", data=["x"], out="y", loss="mse", self_supervised=True)
    with pytest.raises(ConfigError, match="loss for image must be one of"):
        TrainConfig(domain="image", data=["x"], out="y", loss="l2")
    assert TrainConfig(domain="audio", data=["x"], out="y", loss="multires").loss == "multires"


def test_multires_loss_prefers_the_better_estimate_at_any_level() -> None:
    from denoise.training.losses import multires_loss

    g = torch.Generator().manual_seed(0)
    clean = torch.randn(2, 8000, generator=g)
    noise = torch.randn(2, 8000, generator=g)
    noisy = clean + noise
    close, far = clean + 0.1 * noise, clean + 0.5 * noise
    assert multires_loss(close, clean, noisy) < multires_loss(far, clean, noisy)
    scaled = multires_loss(close * 0.01, clean * 0.01, noisy * 0.01)
    assert scaled.item() == pytest.approx(multires_loss(close, clean, noisy).item(), rel=1e-4)


# ------------------------------------------------------------------------- second reliability pass
@pytest.mark.slow
def test_a_resumed_run_takes_its_settings_from_the_run(tmp_path: Path) -> None:
    from denoise.training.runs import resumed_config

    data = _image_data(tmp_path / "data")
    cfg = dataclasses.replace(_config("image", data, tmp_path / "run"), lr=5e-4, batch_size=4, seed=3,
                              patch_size=32, steps=3)
    fit(cfg)
    again = resumed_config(tmp_path / "run", {"domain": "image", "data": [str(data)]})
    assert (again.lr, again.batch_size, again.seed, again.patch_size, again.steps) == (5e-4, 4, 3, 32, 3)
    assert again.resume and not again.overwrite
    longer = resumed_config(tmp_path / "run", {"steps": 10, "num_workers": 1, "device": "cpu"})
    assert (longer.steps, longer.num_workers, longer.lr) == (10, 1, 5e-4)
    fit(longer)  # an extension is recorded in the run's config.json
    assert json.loads((tmp_path / "run" / "config.json").read_text())["steps"] == 10
    for given, field in [({"lr": 1e-3}, "lr"), ({"data": [str(tmp_path)]}, "data"), ({"seed": 0}, "seed"),
                         ({"corruption": {"p_camera": 0.5}}, "p_camera")]:
        with pytest.raises(TrainingError, match=rf"the run has {field}="):
            resumed_config(tmp_path / "run", given)


def test_a_run_saved_before_a_model_setting_existed_still_resumes(tmp_path: Path) -> None:
    """A run's last.pt keeps the model configuration of the version that wrote it. A field added since
    (``low_cut_hz``, with a default that changes nothing) used to make every older run refuse to resume."""
    data = _image_data(tmp_path / "data")
    fit(dataclasses.replace(_config("image", data, tmp_path / "run"), steps=3))
    last = tmp_path / "run" / "last.pt"
    payload = torch.load(last, weights_only=True)
    meta = json.loads(payload["meta"])  # the metadata is stored as JSON text
    del meta["model"]["low_cut_hz"]
    torch.save({**payload, "meta": json.dumps(meta)}, last)
    fit(dataclasses.replace(_config("image", data, tmp_path / "run", resume=True), steps=4))
    assert torch.load(last, weights_only=True)["step"] == 4
    meta["model"]["args"]["width"] = 8  # another model is still refused
    torch.save({**payload, "meta": json.dumps(meta)}, last)
    with pytest.raises(TrainingError, match="different model configuration"):
        fit(dataclasses.replace(_config("image", data, tmp_path / "run", resume=True), steps=5))


def test_a_one_step_run_trains_at_its_learning_rate(tmp_path: Path) -> None:
    """The warm-up starts from zero; a one-step run used to train at lr 1e-6 / warm-up, the same as lr 0."""
    data = _image_data(tmp_path / "data")
    fit(dataclasses.replace(_config("image", data, tmp_path / "one"), steps=1, eval_every=1, save_every=1))
    fit(dataclasses.replace(_config("image", data, tmp_path / "none"), steps=1, eval_every=1, save_every=1, lr=0.0))
    one = torch.load(tmp_path / "one" / "last.pt", weights_only=True)["model"]
    none = torch.load(tmp_path / "none" / "last.pt", weights_only=True)["model"]
    moved = max(float((one[k] - none[k]).abs().max()) for k in one if one[k].is_floating_point())
    assert moved > 1e-4  # AdamW's first step moves each weight by about lr = 1e-3
    history = [json.loads(line) for line in (tmp_path / "one" / "history.jsonl").read_text().splitlines()]
    assert history[0]["lr"] == pytest.approx(1e-3)


def test_unknown_or_absurd_architecture_arguments_are_named(tmp_path: Path) -> None:
    data = _image_data(tmp_path / "data")
    with pytest.raises(ValueError, match=r"has no argument 'widht'; its arguments are width \(default 32\)"):
        fit(dataclasses.replace(_config("image", data, tmp_path / "a"), arch_args={"widht": 8}))
    with pytest.raises(ValueError, match="depth must be at most 8"):
        fit(dataclasses.replace(_config("image", data, tmp_path / "b"), arch_args={"depth": 50}))


def test_a_diverging_run_says_that_no_checkpoint_was_saved_yet(tmp_path: Path) -> None:
    data = _image_data(tmp_path / "data")
    with pytest.raises(TrainingError, match=r"no checkpoint had been saved yet\); try a lower lr \(now 1e\+30\)"):
        fit(dataclasses.replace(_config("image", data, tmp_path / "a"), lr=1e30, steps=20, eval_every=10,
                                save_every=10))


def test_real_pairs_give_their_own_noise_to_the_asked_fraction_of_patches(tmp_path: Path) -> None:
    from denoise.training import data as data_mod

    clean_dir = _image_data(tmp_path / "data")
    (tmp_path / "pairs" / "noisy").mkdir(parents=True)
    (tmp_path / "pairs" / "clean").mkdir()
    flat = np.full((48, 48), 100, np.uint8)
    Image.fromarray(flat).save(tmp_path / "pairs" / "clean" / "p.png")
    Image.fromarray(flat + 7).save(tmp_path / "pairs" / "noisy" / "p.png")  # "real noise": +7 everywhere
    images = data_mod.load_images([clean_dir], 1)[0]
    pairs = data_mod.load_pairs(tmp_path / "pairs", 1)
    cfg = _config("image", clean_dir, tmp_path / "run")
    ds = data_mod.ImagePatches(images, 32, 64, cfg.corruption, 0, pairs=pairs, pairs_fraction=0.25)
    noisy, clean = ds.batch(0)
    real = [i for i in range(64) if torch.all(clean[i] == 100 / 255) and torch.allclose(noisy[i], clean[i] + 7 / 255)]
    assert 8 <= len(real) <= 24  # about a quarter of 64
    again = data_mod.ImagePatches(images, 32, 64, cfg.corruption, 0, pairs=pairs, pairs_fraction=0.25).batch(0)
    assert torch.equal(again[0], noisy)  # seeded like every batch
    fit(dataclasses.replace(cfg, pairs=str(tmp_path / "pairs"), steps=2, eval_every=1, save_every=1))
    assert json.loads((tmp_path / "run" / "config.json").read_text())["pairs"] == str(tmp_path / "pairs")


def test_validation_on_real_pairs_scores_their_own_noise(tmp_path: Path) -> None:
    """val: a folder of real pairs is validated as it is (its noisy pictures against its clean ones), so
    best.pt is chosen on real noise; clean pictures get seeded σ 25 noise instead."""
    from denoise import metrics

    clean_dir = _image_data(tmp_path / "data")
    (tmp_path / "pairs" / "noisy").mkdir(parents=True)
    (tmp_path / "pairs" / "clean").mkdir()
    rng = np.random.default_rng(0)
    clean = rng.integers(60, 190, (40, 300), dtype=np.uint8)
    noisy = np.clip(clean.astype(int) + rng.integers(-3, 4, clean.shape), 0, 255).astype(np.uint8)
    Image.fromarray(clean).save(tmp_path / "pairs" / "clean" / "p.png")
    Image.fromarray(noisy).save(tmp_path / "pairs" / "noisy" / "p.png")
    cfg = dataclasses.replace(_config("image", clean_dir, tmp_path / "run"), steps=1, eval_every=1, save_every=1)
    fit(dataclasses.replace(cfg, val=str(tmp_path / "pairs")))
    first = json.loads((tmp_path / "run" / "history.jsonl").read_text().splitlines()[0])
    crop = slice(22, 278)  # the centre 256 columns
    expected = metrics.psnr(clean[:, crop] / 255.0, noisy[:, crop] / 255.0)
    assert abs(first["val_psnr_noisy"] - expected) < 0.01, (first, expected)  # about 42.6 dB; σ 25 gives 20
    fit(dataclasses.replace(cfg, out=str(tmp_path / "synthetic"), val=str(clean_dir)))
    synthetic = json.loads((tmp_path / "synthetic" / "history.jsonl").read_text().splitlines()[0])
    assert synthetic["val_psnr_noisy"] < 25


def test_resuming_with_other_audio_noise_settings_names_the_option(tmp_path: Path) -> None:
    from denoise.config import CorruptionConfig
    from denoise.cli.options import flags, train_fields
    from denoise.training.runs import TrainingError, resumed_config

    cfg = TrainConfig(domain="audio", data=["d"], out=str(tmp_path), corruption=CorruptionConfig(p_transient=0.3))
    (tmp_path / "config.json").write_text(json.dumps(cfg.to_dict()))
    same = resumed_config(tmp_path, train_fields({"transient_noise": 0.3, "noise_eq": 0.0}, None))
    assert same.corruption.p_transient == 0.3 and same.resume
    with pytest.raises(TrainingError) as err:
        resumed_config(tmp_path, train_fields({"noise_eq": 0.5}, None))
    assert flags(str(err.value)) == "--resume: the run has --noise-eq 0.0, not --noise-eq 0.5"


# ------------------------------------------------------------------------- third reliability pass
def _short_run(tmp_path: Path, out: Path, data: Path) -> TrainConfig:
    cfg = dataclasses.replace(_config("image", data, out), steps=2, eval_every=2, save_every=2)
    fit(cfg)
    return cfg


def test_a_copied_run_resumes_in_the_copy_and_leaves_the_original_alone(tmp_path: Path) -> None:
    import shutil

    from denoise.training.runs import resumed_config

    data = _image_data(tmp_path / "data")
    _short_run(tmp_path, tmp_path / "A", data)
    shutil.copytree(tmp_path / "A", tmp_path / "B")
    before = {p.name: p.read_bytes() for p in (tmp_path / "A").iterdir()}
    cfg = resumed_config(tmp_path / "B", {"steps": 4})
    assert Path(cfg.out) == tmp_path / "B"
    fit(cfg)
    assert {p.name: p.read_bytes() for p in (tmp_path / "A").iterdir()} == before
    assert json.loads((tmp_path / "B" / "history.jsonl").read_text().splitlines()[-1])["step"] == 4


def test_the_same_data_named_from_another_folder_is_the_same_data(tmp_path: Path, monkeypatch) -> None:
    from denoise.training.runs import resumed_config

    data = _image_data(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    _short_run(tmp_path, Path("run"), Path("data"))  # relative paths, from tmp_path
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    cfg = resumed_config(Path("../run"), {"data": ["../data"], "steps": 4})
    assert Path(cfg.data[0]).resolve() == data.resolve()


def test_a_damaged_config_is_one_clear_error(tmp_path: Path) -> None:
    from denoise.training.runs import resumed_config

    data = _image_data(tmp_path / "data")
    _short_run(tmp_path, tmp_path / "run", data)
    for text in ("{\"domain\": \"image\", ", "[]", "{\"domain\": \"image\", \"steps\": \"many\", \"nonsense\": 1}"):
        (tmp_path / "run" / "config.json").write_text(text)
        with pytest.raises(TrainingError, match="damaged or incomplete"):
            resumed_config(tmp_path / "run", {})


def test_resuming_after_the_training_folder_changed_is_refused(tmp_path: Path) -> None:
    from denoise.training.runs import resumed_config

    data = _image_data(tmp_path / "data")
    _short_run(tmp_path, tmp_path / "run", data)
    gray_pngs(tmp_path / "more", n=1)
    (tmp_path / "more" / "0.png").rename(data / "new.png")
    with pytest.raises(TrainingError, match="data folder changed since the run started"):
        fit(resumed_config(tmp_path / "run", {"steps": 4}))


def test_progress_shows_before_the_first_evaluation(tmp_path: Path, monkeypatch) -> None:
    from denoise.training import loop

    monkeypatch.setattr(loop, "HEARTBEAT_SECONDS", 0.0)
    data = _image_data(tmp_path / "data")
    seen: list[dict] = []
    fit(dataclasses.replace(_config("image", data, tmp_path / "run"), steps=4, eval_every=4, save_every=4),
        on_log=seen.append)
    beats = [r for r in seen if r.get("progress")]
    assert [r["step"] for r in beats] == [1, 2, 3] and all(r["steps_per_second"] > 0 for r in beats)
    final = seen[-1]
    assert final["step"] == 4 and final["val_psnr_noisy"] < 40  # the noisy inputs' score, beside the model's


def test_a_time_budget_stops_within_it_even_with_slow_steps(tmp_path: Path, monkeypatch) -> None:
    """Steps of 0.3 s and a budget of 1 s: three steps, as the fourth would end past it (it stopped up to
    ten steps late). The loop's clock is a fake that only the steps advance, so that a busy machine's
    slower steps do not change what is checked (on the real clock the test failed under load)."""
    from types import SimpleNamespace

    from denoise.training import loop

    clock = [0.0]
    real = loop.train_one_step

    def slow(*a, **k):
        clock[0] += 0.3
        return real(*a, **k)

    monkeypatch.setattr(loop, "train_one_step", slow)
    monkeypatch.setattr(loop, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    data = _image_data(tmp_path / "data")
    record = fit(dataclasses.replace(_config("image", data, tmp_path / "run"), steps=1000, eval_every=1000,
                                     save_every=1000, max_time=1.0))
    assert record["step"] == 3 and abs(record["seconds"] - 0.9) < 1e-6, record


def test_noise_folders_are_a_list_and_an_earlier_runs_single_folder_still_reads() -> None:
    old = TrainConfig(domain="audio", data=["d"], out="o").to_dict()
    old["noise_dir"] = "noise"  # as config.json was written before several folders were allowed
    assert TrainConfig.from_dict(old).noise_dir == ["noise"]
    assert TrainConfig(domain="audio", data=["d"], out="o", noise_dir=["a", "b"]).noise_dir == ["a", "b"]
    assert TrainConfig(domain="audio", data=["d"], out="o").stft.n_fft == 512  # 16 kHz keeps its STFT
    with pytest.raises(ConfigError, match="multiple of 8000"):
        TrainConfig(domain="audio", data=["d"], out="o", sample_rate=44100)


@pytest.mark.slow
def test_a_full_band_run_trains_on_folders_of_two_rates(tmp_path: Path) -> None:
    from denoise import checkpoint

    speech, noise_a, noise_b = (tmp_path / n for n in ("speech", "na", "nb"))
    for folder, rate in ((speech, 48000), (noise_a, 44100), (noise_b, 16000)):
        folder.mkdir()
        sf.write(folder / "0.flac", speechlike(1.5, rate, 1) * (1 if folder == speech else 0.3), rate)
    cfg = dataclasses.replace(_config("audio", speech, tmp_path / "run"), sample_rate=48000, arch="crn",
                              arch_args={"width": 8, "depth": 4, "hidden": 16}, noise_dir=[str(noise_a), str(noise_b)],
                              patch_size=24000, steps=2, eval_every=2, save_every=2, loss="multires")
    fit(cfg)
    model = checkpoint.load(str(tmp_path / "run" / "best.pt"))
    assert model.sample_rate == 48000 and model.net.high_bands == 16
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["noise_dir"] == [str(noise_a), str(noise_b)]


def test_snapshots_keep_each_evaluation_and_average_into_a_loadable_model(tmp_path: Path) -> None:
    """A run started without snapshots may add them when resumed; each evaluation then leaves its weights,
    which denoise average averages; overwrite clears them with the run."""
    from denoise.checkpoint import load
    from denoise.training.runs import resumed_config

    data = _image_data(tmp_path / "data")
    out = tmp_path / "run"
    fit(dataclasses.replace(_config("image", data, out), steps=3))
    assert not (out / "snapshots").exists()
    fit(resumed_config(out, {"steps": 9, "snapshots": True}))
    snaps = sorted((out / "snapshots").glob("step-*.pt"))
    assert [p.name for p in snaps] == ["step-6.pt", "step-9.pt"]
    last, nine = load(str(out / "last.pt")), load(str(snaps[-1]))
    for a, b in zip(last.state_dict().values(), nine.state_dict().values()):
        assert torch.equal(a, b)
    mean = tmp_path / "mean.pt"
    assert run("average", mean, *snaps).exit_code == 0
    six = load(str(snaps[0]))
    averaged = load(str(mean))
    key = next(k for k, v in six.state_dict().items() if v.is_floating_point() and not torch.equal(v, nine.state_dict()[k]))
    torch.testing.assert_close(averaged.state_dict()[key], (six.state_dict()[key] + nine.state_dict()[key]) / 2)
    assert [a["step"] for a in averaged.meta["averaged_from"]] == [6, 9]
    fit(dataclasses.replace(_config("image", data, out), steps=3, overwrite=True))
    assert not (out / "snapshots").exists()
