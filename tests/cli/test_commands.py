import json
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from denoise.cli import cli
from denoise.io import read_image, write_png16
from tests.conftest import gray_pngs, run, smooth_image, speechlike, write_image


_img = write_image


def test_help_is_fast_and_torch_free():
    code = "import sys, denoise.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_option_of_every_command_says_what_it_does():
    bare = [f"{name} {opt.opts[-1]}" for name, command in cli.commands.items() for opt in command.params
            if isinstance(opt, click.Option) and not opt.help]
    assert bare == []
    r = run("train", "--help")  # the one rule about -q/-v and --device reads the same in every command
    assert "-q, --quiet" in r.output and "Only print errors." in r.output
    assert "auto (CUDA, then MPS, then the CPU)" in r.output


def test_console_script_and_module_entry_point(tmp_path, gray_ckpt):
    src = _img(tmp_path / "n.png", (smooth_image(20, 20, 1)[:, :, 0] * 255).astype(np.uint8))
    r = subprocess.run([sys.executable, "-m", "denoise", "image", str(src), "--model", str(gray_ckpt)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "n.denoised.png").is_file()
    assert "1 done, 0 failed, 0 skipped" in r.stderr


def test_image_directory_is_mirrored_with_modes_and_sizes_kept(tmp_path, gray_ckpt):
    rng = np.random.default_rng(0)
    src = tmp_path / "in"
    _img(src / "gray.png", (rng.random((33, 41)) * 255).astype(np.uint8))
    _img(src / "sub" / "rgba.png", (rng.random((20, 25, 4)) * 255).astype(np.uint8), "RGBA")
    _img(src / "sub" / "tiny.png", np.array([[7]], np.uint8))
    _img(src / "sub" / "line.jpg", (rng.random((3, 1000, 3)) * 255).astype(np.uint8))
    write_png16(src / "deep" / "er" / "c16.png", (rng.random((9, 11, 3)) * 65535).astype(np.uint16)) if (
        src / "deep" / "er").mkdir(parents=True) is None else None
    r = run("image", src, "-o", tmp_path / "out", "--model", gray_ckpt)
    assert r.exit_code == 0, r.output
    for rel in ("gray.png", "sub/rgba.png", "sub/tiny.png", "sub/line.jpg", "deep/er/c16.png"):
        a, b = read_image(src / rel), read_image(tmp_path / "out" / rel)
        assert (a.mode, a.depth, a.pixels.shape) == (b.mode, b.depth, b.pixels.shape), rel
        assert (a.alpha is None) == (b.alpha is None)
        if a.alpha is not None:
            assert np.array_equal(a.alpha, b.alpha)


def test_model_help_names_the_models_default_picks():
    """The help said audio-speech after the default speech model had become audio-speech-fullband."""
    from denoise.checkpoint import default_name

    image = " ".join(run("image", "--help").output.split())
    assert f"{default_name('image', 1)} for gray pictures, {default_name('image', 3)} for colour ones" in image
    assert f"default: {default_name('audio')}." in " ".join(run("audio", "--help").output.split())


def test_default_model_handles_gray_and_colour(tmp_path):
    rng = np.random.default_rng(0)
    _img(tmp_path / "g.png", (rng.random((30, 30)) * 255).astype(np.uint8))
    _img(tmp_path / "c.png", (rng.random((30, 30, 3)) * 255).astype(np.uint8))
    r = run("image", tmp_path / "g.png", tmp_path / "c.png")
    assert r.exit_code == 0, r.output
    assert read_image(tmp_path / "c.denoised.png").pixels.shape == (30, 30, 3)


def test_existing_output_needs_a_flag_and_bad_files_give_exit_1(tmp_path, gray_ckpt):
    src = _img(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    (tmp_path / "a.denoised.png").write_text("precious")
    (tmp_path / "bad.png").write_text("not a png")
    r = run("image", src, tmp_path / "bad.png", tmp_path / "missing.png", "--model", gray_ckpt)
    assert r.exit_code == 1
    assert (tmp_path / "a.denoised.png").read_text() == "precious"
    assert "output exists" in r.output and "bad.png" in r.output and "no such file" in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "bad.denoised.png").exists()
    assert run("image", src, "--model", gray_ckpt, "--skip-existing").exit_code == 0
    assert run("image", src, "--model", gray_ckpt, "--overwrite").exit_code == 0
    assert (tmp_path / "a.denoised.png").read_bytes()[:4] == b"\x89PNG"


def test_a_finished_batch_returns_without_loading_torch(tmp_path, gray_ckpt):
    # the shell's glob on the second run also names the first run's outputs: they are skipped, not denoised
    for name in ("a.png", "a.denoised.png", "b.png", "b.denoised.png"):
        _img(tmp_path / name, np.zeros((8, 8), np.uint8))
    files = sorted(str(p) for p in tmp_path.glob("*.png"))
    code = ("import sys\nfrom denoise.cli import cli\ntry:\n    cli(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    print(e.code, 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, "image", *files, "--model", str(gray_ckpt), "--skip-existing"],
                       capture_output=True, text=True)
    assert r.stdout.split() == ["0", "False"], r.stderr
    assert "0 done, 0 failed, 4 skipped" in r.stderr and "the output of" in r.stderr
    assert not list(tmp_path.glob("*.denoised.denoised.png"))


def test_ctrl_c_in_a_batch_says_how_to_finish_it(tmp_path, gray_ckpt, monkeypatch):
    import denoise.cli

    real = denoise.cli.files._iter_results

    def interrupted_after_one(*args, **kwargs):
        results = real(*args, **kwargs)
        yield next(results)
        results.close()  # as Ctrl-C unwinding through it would: its thread pools finish what they started
        raise KeyboardInterrupt

    monkeypatch.setattr(denoise.cli.files, "_iter_results", interrupted_after_one)
    for i in range(3):
        _img(tmp_path / "in" / f"{i}.png", np.zeros((8, 8), np.uint8))
    r = run("image", tmp_path / "in", "-o", tmp_path / "out", "--model", gray_ckpt)
    assert r.exit_code == 130 and "--skip-existing" in r.output and "Traceback" not in r.output
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "0.png" in written and all(read_image(tmp_path / "out" / n).pixels.shape == (8, 8, 1) for n in written)
    monkeypatch.setattr(denoise.cli.files, "_iter_results", real)  # no temporary files above; now finish the batch
    r = run("image", tmp_path / "in", "-o", tmp_path / "out", "--model", gray_ckpt, "--skip-existing")
    assert r.exit_code == 0 and f"{3 - len(written)} done, 0 failed, {len(written)} skipped" in r.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png", "1.png", "2.png"]


def test_ctrl_c_while_the_model_loads_exits_130_not_aborted(tmp_path, gray_ckpt, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("denoise.cli.files.load_model", interrupted)
    _img(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    r = run("image", tmp_path / "a.png", "--model", gray_ckpt)
    assert r.exit_code == 130 and r.output.strip() == "interrupted", r.output  # click alone: "Aborted!", 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


@pytest.mark.parametrize("signal_name, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_while_the_arguments_are_parsed_exits_like_one_during_the_command(signal_name, code,
                                                                                     monkeypatch, capsys):
    import signal

    import denoise.cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt if signal_name == "SIGINT" else denoise.signals.Terminated(signal.SIGTERM)

    monkeypatch.setattr(click.Group, "parse_args", interrupted)  # the group's own parsing, before invoke
    with pytest.raises(SystemExit) as exc:
        cli.main(["models"], prog_name="denoise")
    assert exc.value.code == code and capsys.readouterr().err.strip() == "interrupted"  # click: "Aborted!", 1


def test_usage_errors_exit_2(tmp_path, audio_ckpt):
    src = _img(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    assert run("image", src, "--model", audio_ckpt).exit_code == 2  # audio model for an image
    assert run("image", src, "--model", tmp_path / "none.pt").exit_code == 2
    assert run("image", src, "--strength", "2").exit_code == 2
    assert run("image", src, "--device", "tpu").exit_code == 2
    # several inputs and -o that names a file: one line, exit 2, nothing written (not a directory clean.png)
    src2 = _img(tmp_path / "b.png", np.zeros((8, 8), np.uint8))
    r = run("image", src, src2, "-o", tmp_path / "clean.png", "--model", audio_ckpt)
    assert r.exit_code == 2 and r.output.strip().count("\n") == 0 and "looks like a file name" in r.output
    assert not (tmp_path / "clean.png").exists()


def test_unwritable_or_undecodable_files_fail_before_the_model_loads(tmp_path, gray_ckpt, audio_ckpt, monkeypatch):
    import denoise.cli

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded for a job that cannot be written")

    monkeypatch.setattr(denoise.cli.files, "load_model", no_model)
    src = _img(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    sf.write(tmp_path / "s.wav", speechlike(0.5, 16000), 16000)
    memo, photo = tmp_path / "memo.m4a", tmp_path / "IMG_1.HEIC"
    memo.write_bytes(b"\x00\x00\x00\x18ftypM4A " + bytes(100))
    photo.write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(100))
    for domain, inp, out, model, why in [("image", src, "x.xyz", gray_ckpt, "unknown image extension"),
                                         ("image", src, "x.psd", gray_ckpt, "does not write it"),
                                         ("audio", tmp_path / "s.wav", "x.mp4", audio_ckpt, "cannot write audio"),
                                         ("audio", src, "x.wav", audio_ckpt, "an image file: use `denoise image`"),
                                         ("image", tmp_path / "s.wav", "x.png", gray_ckpt,
                                          "an audio file: use `denoise audio`"),
                                         # formats that cannot be decoded: "convert it", whatever -o says
                                         ("audio", memo, "x.wav", audio_ckpt,
                                          "cannot decode .m4a files: convert it to WAV or FLAC first "
                                          "(e.g. ffmpeg -i memo.m4a memo.wav)"),
                                         ("image", photo, "x.png", gray_ckpt,
                                          "cannot decode .heic files: convert it to PNG or TIFF first")]:
        r = run(domain, inp, "-o", tmp_path / out, "--model", model)
        assert r.exit_code == 1 and why in r.output and "0 done, 1 failed" in r.output, r.output
        assert not (tmp_path / out).exists()


@pytest.mark.parametrize("sr", [8000, 44100, 48000])
def test_stereo_audio_keeps_rate_channels_and_subtype(tmp_path, audio_ckpt, sr):
    x = np.stack([speechlike(1.5, sr, 0), speechlike(1.5, sr, 1)], axis=1)
    sf.write(tmp_path / "s.wav", x, sr, subtype="PCM_16")
    r = run("audio", tmp_path / "s.wav", "-o", tmp_path / "o.flac", "--model", audio_ckpt)
    assert r.exit_code == 0, r.output
    info, src = sf.info(tmp_path / "o.flac"), sf.info(tmp_path / "s.wav")
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (sr, 2, src.frames, "PCM_16")


def test_audio_float_and_ogg(tmp_path, audio_ckpt):
    sf.write(tmp_path / "f.wav", speechlike(1.0, 16000), 16000, subtype="FLOAT")
    sf.write(tmp_path / "v.ogg", speechlike(1.0, 16000), 16000, format="OGG", subtype="VORBIS")
    r = run("audio", tmp_path, "--model", audio_ckpt)
    assert r.exit_code == 0, r.output
    assert sf.info(tmp_path / "f.denoised.wav").subtype == "FLOAT"
    assert sf.info(tmp_path / "v.denoised.ogg").subtype == "VORBIS"


def _images(d: Path, n: int = 3) -> Path:
    return gray_pngs(d, n)


@pytest.mark.slow
def test_train_image_two_steps_resume_and_use(tmp_path):
    data = _images(tmp_path / "data")
    common = ["train", "--domain", "image", "--data", data, "--out", tmp_path / "run", "--batch-size", "2",
              "--patch-size", "32", "--eval-every", "1", "--arch-args", '{"width": 4}', "--workers", "0", "-q"]
    assert run(*common, "--steps", "2").exit_code == 0
    run_dir = tmp_path / "run"
    assert {p.name for p in run_dir.iterdir()} >= {"last.pt", "best.pt", "config.json", "history.jsonl"}
    assert len((run_dir / "history.jsonl").read_text().splitlines()) == 2
    r = run(*common, "--steps", "3", "--resume")
    assert r.exit_code == 0, r.output
    hist = [json.loads(l) for l in (run_dir / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in hist] == [1, 2, 3]
    r = run("image", data / "0.png", "-o", tmp_path / "o.png", "--model", run_dir / "best.pt")
    assert r.exit_code == 0, r.output


def test_training_lines_give_the_step_of_the_total_and_thetime_left(tmp_path):
    from denoise.cli.progress import time_left

    data = _images(tmp_path / "data")
    r = run("train", "--domain", "image", "--data", data, "--out", tmp_path / "run", "--batch-size", "2",
            "--patch-size", "32", "--eval-every", "1", "--arch-args", '{"width": 4}', "--workers", "0",
            "--steps", "3")
    lines = [line for line in r.output.splitlines() if line.startswith("step ")]
    assert [line.split(":")[0] for line in lines] == ["step 1/3", "step 2/3", "step 3/3"], r.output
    assert "left" not in lines[0] and "left" not in lines[2]  # no pace yet; done (line 2: timing-dependent)
    rec = {"step": 300, "total_steps": 1000, "seconds": 200.0, "max_time": None}
    assert time_left(rec, {"step": 200, "seconds": 150.0}) == ", about 6 min left"  # 700 steps at 0.5 s
    assert time_left({**rec, "max_time": 260}, {"step": 200, "seconds": 150.0}) == ", about 60 s left"
    assert time_left({**rec, "total_steps": 100000}, {"step": 200, "seconds": 150.0}) == ", about 13.8 h left"
    assert time_left(rec, {}) == ""


def test_ctrl_c_in_training_says_how_to_resume(tmp_path, monkeypatch):
    def interrupted(cfg, on_log=None):
        if cfg.steps > 1:  # as after the first checkpoint
            Path(cfg.out).mkdir()
            (Path(cfg.out) / "last.pt").write_bytes(b"")
        raise KeyboardInterrupt

    monkeypatch.setattr("denoise.training.loop.fit", interrupted)
    r = run("train", "--domain", "image", "--data", tmp_path, "--out", tmp_path / "run", "--steps", "2")
    assert r.exit_code == 130 and "continue with --resume" in r.output and "Traceback" not in r.output
    # before the first checkpoint there is no last.pt: --resume would fail, so the message does not offer it
    r = run("train", "--domain", "image", "--data", tmp_path, "--out", tmp_path / "run2", "--steps", "1")
    assert r.exit_code == 130 and "nothing to resume" in r.output and "--resume" not in r.output


def test_train_never_replaces_a_run_without_resume_or_overwrite(tmp_path):
    data = _images(tmp_path / "data")
    common = ["train", "--domain", "image", "--data", data, "--out", tmp_path / "run", "--batch-size", "2",
              "--patch-size", "32", "--eval-every", "1", "--arch-args", '{"width": 4}', "--workers", "0", "-q"]
    assert run(*common, "--steps", "2").exit_code == 0
    files = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    r = run(*common, "--steps", "1")
    assert r.exit_code == 1 and "already holds a run" in r.output and "--overwrite" in r.output
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == files  # untouched, config included
    assert run(*common, "--steps", "1", "--resume", "--overwrite").exit_code == 2
    # --overwrite starts again: a one-step history, not the old two lines plus one
    r = run(*common, "--steps", "1", "--overwrite", "--seed", "1")
    assert r.exit_code == 0, r.output
    hist = [json.loads(l) for l in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in hist] == [1]
    assert (tmp_path / "run" / "best.pt").read_bytes() != files["best.pt"]
    (tmp_path / "file").write_text("keep")
    r = run("train", "--domain", "image", "--data", data, "--out", tmp_path / "file", "--steps", "1")
    assert r.exit_code == 1 and "is a file" in r.output and (tmp_path / "file").read_text() == "keep"


@pytest.mark.slow
def test_train_audio_two_steps_resume_and_use(tmp_path):
    d = tmp_path / "speech"
    d.mkdir()
    for i in range(2):
        sf.write(d / f"{i}.flac", speechlike(2.0, 16000, i), 16000)
    common = ["train", "--domain", "audio", "--data", d, "--out", tmp_path / "run", "--batch-size", "2",
              "--patch-size", "8000", "--eval-every", "1", "--arch-args", '{"width": 4}', "--workers", "0", "-q"]
    assert run(*common, "--steps", "2").exit_code == 0
    assert run(*common, "--steps", "3", "--resume").exit_code == 0
    r = run("audio", d / "0.flac", "-o", tmp_path / "o.wav", "--model", tmp_path / "run" / "best.pt")
    assert r.exit_code == 0, r.output


def test_train_init_fine_tunes_a_checkpoint_with_its_own_settings(tmp_path):
    data = _images(tmp_path / "data")
    common = ["train", "--domain", "image", "--data", data, "--batch-size", "2", "--patch-size", "32",
              "--eval-every", "1", "--workers", "0", "--steps", "1", "-q"]
    assert run(*common, "--out", tmp_path / "a", "--arch-args", '{"width": 4}').exit_code == 0
    base = tmp_path / "a" / "best.pt"
    # no --arch-args: the width comes from --init (the domain's default width would not match)
    r = run(*common, "--out", tmp_path / "b", "--init", base)
    assert r.exit_code == 0, r.output
    meta = json.loads(torch.load(tmp_path / "b" / "best.pt", weights_only=True)["meta"])
    assert meta["model"]["args"]["width"] == 4 and meta["init"]["checkpoint"] == str(base)
    assert run(*common, "--out", tmp_path / "b", "--init", base, "--steps", "2", "--resume").exit_code == 0
    for extra, message in [(["--arch-args", '{"width": 8}'], f"--init {base} is an image dae model"),
                           (["--channels", "3"], f"--init {base} is an image dae model"),
                           (["--init", tmp_path / "none.pt"], "no model named")]:  # usage errors, as for --model
        r = run(*common, "--out", tmp_path / "c", "--init", base, *extra)
        assert r.exit_code == 2 and message in r.output and len(r.output.strip().splitlines()) == 1, r.output
    r = run(*common[:2], "audio", *common[3:], "--out", tmp_path / "c", "--init", base)
    assert r.exit_code == 2 and "is an image model, not an audio model" in r.output
    assert not (tmp_path / "c").exists()


def test_train_errors_are_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    r = run("train", "--domain", "image", "--data", tmp_path / "empty", "--out", tmp_path / "run", "--steps", "1")
    assert r.exit_code == 1 and "no images found" in r.output and "Traceback" not in r.output
    r = run("train", "--domain", "image", "--data", tmp_path / "empty", "--out", tmp_path / "run", "--steps", "1",
            "--arch-args", '{"width": -3}')
    assert r.exit_code == 2 and "width must be a whole number >= 1, got -3" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "run").exists()
    r = run("train", "--domain", "image", "--data", tmp_path / "empty", "--out", tmp_path / "r2", "--resume")
    assert r.exit_code == 2 and r.output.strip() == (f"error: --resume: {tmp_path / 'r2' / 'config.json'} not found, "
                                                     "so the run's settings are unknown")
    for lr in ("-1", "nan", "inf"):
        r = run("train", "--domain", "image", "--data", tmp_path / "empty", "--out", tmp_path / "r3", "--lr", lr)
        assert r.exit_code == 2 and "lr must be a finite number >= 0" in r.output, r.output


@pytest.mark.parametrize("error", [
    RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you "
                 "tried to allocate 52428800000 bytes. Error code 12 (Cannot allocate memory)"),  # seen: --batch-size 100000
    torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79 GiB"),
    MemoryError()])
def test_train_out_of_memory_is_one_line_naming_the_options(tmp_path, monkeypatch, error):
    def out_of_memory(*args, **kwargs):  # the first training step runs out of memory
        raise error

    monkeypatch.setattr("denoise.training.loop.train_one_step", out_of_memory)
    data = _images(tmp_path / "data", 2)
    r = run("train", "--domain", "image", "--data", data, "--out", tmp_path / "run", "--batch-size", "512",
            "--patch-size", "32", "--arch-args", '{"width": 4}', "--workers", "0", "-q")
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1, r.output
    assert "out of memory" in r.output and "--batch-size (now 512)" in r.output and "--patch-size (now 32)" in r.output
    if "52428800000" in str(error):
        assert "48.8 GiB asked for" in r.output


def test_other_training_errors_are_not_called_out_of_memory(tmp_path, monkeypatch):
    def bug(*args, **kwargs):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 5x6)")

    monkeypatch.setattr("denoise.training.loop.train_one_step", bug)
    data = _images(tmp_path / "data", 2)
    with pytest.raises(RuntimeError, match="mat1 and mat2"):
        run("train", "--domain", "image", "--data", data, "--out", tmp_path / "run", "--patch-size", "32",
            "--arch-args", '{"width": 4}', "--workers", "0", "-q")


def test_eval_image_and_audio_json(tmp_path, gray_ckpt, audio_ckpt):
    data = _images(tmp_path / "imgs", 2)
    r = run("eval", "--domain", "image", "--data", data, "--sigma", "15", "--sigma", "25", "--model", gray_ckpt, "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)["rows"]
    assert [row["sigma"] for row in rows] == [15.0, 25.0] and rows[0]["noisy_psnr"] > rows[1]["noisy_psnr"]
    r = run("eval", "--domain", "image", "--data", data, "--sigma", "15", "25", "--model", gray_ckpt)
    assert r.exit_code == 0 and "psnr" in r.output
    sp, nz = tmp_path / "sp", tmp_path / "nz"
    sp.mkdir(), nz.mkdir()
    sf.write(sp / "s.wav", speechlike(1.0, 16000), 16000)
    sf.write(nz / "n.wav", np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1, 16000)
    r = run("eval", "--domain", "audio", "--speech", sp, "--noise", nz, "--snr", "0", "5", "--model", audio_ckpt, "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)["rows"]
    assert abs(rows[0]["noisy_si_sdr"] - 0.0) < 0.5 and abs(rows[1]["noisy_si_sdr"] - 5.0) < 0.5


def test_eval_bad_arguments_are_one_line_errors(tmp_path, gray_ckpt, audio_ckpt):
    data = _images(tmp_path / "imgs", 1)
    cases = [(["--domain", "image", "--data", tmp_path / "none", "--sigma", "25"], 1, "no such data directory"),
             (["--domain", "image", "--data", data, "--sigma", "nan"], 2, "--sigma must be a number >= 0"),
             (["--domain", "image", "--data", data, "--sigma", "-5"], 2, "--sigma must be a number >= 0"),
             (["--domain", "image", "--data", data, "--sigma", "25", "--seed", "-1"], 2, "--seed"),
             (["--domain", "audio", "--speech", data, "--noise", data, "--snr", "inf"], 2,
              "--snr must be a finite number")]
    for args, code, message in cases:
        r = run("eval", *args, "--model", gray_ckpt if "image" in args else audio_ckpt)
        assert r.exit_code == code and message in r.output and "Traceback" not in r.output, (args, r.output)


def test_ensemble_flag_for_images_and_image_eval_only(tmp_path, gray_ckpt, audio_ckpt):
    src = _img(tmp_path / "n.png", (smooth_image(24, 28, 1)[:, :, 0] * 255).astype(np.uint8))
    r = run("image", src, "-o", tmp_path / "x8.png", "--model", gray_ckpt, "--ensemble")
    assert r.exit_code == 0, r.output
    r = run("image", src, "-o", tmp_path / "x1.png", "--model", gray_ckpt)
    assert r.exit_code == 0, r.output
    a, b = read_image(tmp_path / "x8.png").pixels, read_image(tmp_path / "x1.png").pixels
    assert a.shape == b.shape and not np.array_equal(a, b)
    data = _images(tmp_path / "imgs", 1)
    r = run("eval", "--domain", "image", "--data", data, "--sigma", "25", "--model", gray_ckpt, "--ensemble", "--json")
    assert r.exit_code == 0, r.output
    r = run("audio", tmp_path / "n.wav", "--model", audio_ckpt, "--ensemble")
    assert r.exit_code == 2 and "--ensemble" in r.output  # images only: click rejects the option
    r = run("eval", "--domain", "audio", "--speech", data, "--noise", data, "--snr", "0", "--ensemble")
    assert r.exit_code == 2 and "image eval only" in r.output and "Traceback" not in r.output


def test_models_lists_shipped_checkpoints():
    r = run("models")
    assert r.exit_code == 0
    rows = {line.split()[0]: line for line in r.output.splitlines()[1:]}
    assert set(rows) == {"image-gray", "image-color", "image-photo", "image-photo-naf", "audio-speech",
                         "audio-speech-fullband", "audio-speech-unet"}
    assert "audio" in rows["audio-speech-fullband"].split("  ") and "causal" in rows["audio-speech-fullband"]
    assert "audio" not in rows["audio-speech"].split("  ") and "causal" in rows["audio-speech"]
    assert "colour images" in rows["image-photo"] and "gray images" in rows["image-gray"]  # what each is default for
    assert "photographs" in rows["image-photo"]  # and what it is for
    assert "dae" in run("models", "--archs").output


def test_models_archs_lists_the_arguments_train_really_uses():
    from denoise.config import TrainConfig
    from denoise.models import available, build_model
    from denoise.training.runs import model_config_for

    listed = json.loads(run("models", "--archs", "--json").output)
    assert [a["arch"] for a in listed] == available() == ["ae", "crn", "dae", "naf", "sparse", "vae"]
    assert list(listed[1]["defaults"]) == ["audio"]  # crn is an audio network
    for entry in listed:
        for domain, args in entry["defaults"].items():
            def shapes(arch_args):  # on the meta device: shapes only
                cfg = TrainConfig(domain=domain, data=["d"], out="o", arch=entry["arch"], arch_args=arch_args)
                with torch.device("meta"):
                    return [tuple(p.shape) for p in build_model(model_config_for(cfg, 1)).parameters()]
            assert shapes({}) == shapes(args), (entry["arch"], domain)  # the listed values are train's defaults
            assert shapes({}) != shapes({**args, "width": args["width"] + 8})  # and shapes() can tell them apart


# ------------------------------------------------------------------------- second reliability pass
def test_resume_takes_the_runs_settings_and_refuses_others(tmp_path):
    data = _images(tmp_path / "data")
    first = ["train", "--domain", "image", "--data", data, "--out", tmp_path / "run", "--batch-size", "2",
             "--patch-size", "32", "--eval-every", "1", "--arch-args", '{"width": 4}', "--workers", "0", "-q",
             "--lr", "5e-4", "--seed", "3", "--steps", "1", "--camera-noise", "0.5", "--camera-nr", "0.25"]
    assert run(*first).exit_code == 0
    base = ["train", "--domain", "image", "--data", data, "--out", tmp_path / "run", "--resume", "-q"]
    r = run(*base, "--steps", "2")  # nothing else repeated: the run's own settings
    assert r.exit_code == 0, r.output
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (saved["lr"], saved["seed"], saved["batch_size"], saved["patch_size"], saved["steps"]) == (5e-4, 3, 2, 32, 2)
    assert (saved["corruption"]["p_camera"], saved["corruption"]["p_camera_nr"]) == (0.5, 0.25)
    r = run(*base, "--steps", "3", "--lr", "1e-3")
    assert r.exit_code == 2 and r.output.strip() == (
        "error: --resume: the run has --lr 0.0005, not --lr 0.001 (only --device, --epochs, --max-time, "
        "--workers, --snapshots, --steps may change when resuming)"), r.output
    other = _images(tmp_path / "other")
    r = run("train", "--domain", "image", "--data", other, "--out", tmp_path / "run", "--resume", "--steps", "3")
    assert r.exit_code == 2 and "the run has --data" in r.output
    assert json.loads((tmp_path / "run" / "config.json").read_text()) == saved  # refused: nothing rewritten


def test_contradictions_and_ranges_are_the_same_in_every_command(tmp_path, gray_ckpt):
    src = _img(tmp_path / "a.png", (smooth_image(16, 16, 1)[:, :, 0] * 255).astype(np.uint8))
    r = run("image", src, "-q", "-v", "--model", gray_ckpt)
    assert r.exit_code == 2 and "-q and -v contradict each other" in r.output
    r = run("train", "--domain", "image", "--data", tmp_path, "--out", tmp_path / "run", "--seed", "-5")
    assert r.exit_code == 2 and "--seed" in r.output  # as eval --seed -5
    r = run("image", src, "-o", "-", "--model", gray_ckpt)  # standard output, not a file named '-'
    assert r.exit_code == 0 and r.stdout_bytes[:4] == b"\x89PNG" and not (tmp_path / "-").exists()
    (tmp_path / "run").mkdir()
    r = run("image", src, "--model", tmp_path / "run")
    assert r.exit_code == 2 and "is a directory" in r.output


def test_help_texts_say_what_each_command_does():
    image, audio = (" ".join(run(c, "--help").output.split()) for c in ("image", "audio"))
    assert "Image tiles (up to 512 pixels a side) per forward pass" in image and "chunk" not in image.lower()
    assert "Audio chunks (10 s each) per forward pass" in audio and "tile" not in audio.lower()
    assert "-o, --output PATH" in image and "about 8 times slower (7.5 to 8.3 on a CPU)" in image
    train = run("train", "--help").output
    assert "[default: 1000 when --epochs is not given either]" in " ".join(train.split())
    assert "crn, causal, streams speech frame by frame with 32 ms of delay" in " ".join(train.split())
    assert "[LEVEL]..." in run("eval", "--help").output and "EXTRA" not in run("eval", "--help").output


def test_cli_messages_name_options_where_the_library_names_settings(tmp_path, gray_ckpt):
    src = _img(tmp_path / "a.png", (smooth_image(16, 16, 1)[:, :, 0] * 255).astype(np.uint8))
    assert run("image", src, "--model", gray_ckpt).exit_code == 0
    r = run("image", src, "--model", gray_ckpt)
    assert r.exit_code == 1 and "(--overwrite replaces it, --skip-existing skips it)" in r.output


def test_a_gray_scan_saved_as_rgb_is_cleaned_by_the_gray_model(tmp_path):
    plane = (smooth_image(40, 40, 1)[:, :, 0] * 255).astype(np.uint8)
    src = _img(tmp_path / "scan.png", np.repeat(plane[:, :, None], 3, axis=2))
    r = run("image", src, "-v")  # the default model: chosen per file
    assert r.exit_code == 0, r.output
    assert "gray stored as RGB (R = G = B): denoised with the gray model" in r.output
    out = np.asarray(Image.open(tmp_path / "scan.denoised.png"))
    assert out.shape == (40, 40, 3) and np.array_equal(out[:, :, 0], out[:, :, 2])


@pytest.mark.slow
def test_compile_gives_the_same_pictures(tmp_path, gray_ckpt):
    src = _img(tmp_path / "a.png", (smooth_image(40, 60, 1)[:, :, 0] * 255).astype(np.uint8))
    assert run("image", src, "-o", tmp_path / "eager.png", "--model", gray_ckpt).exit_code == 0
    r = run("image", src, "-o", tmp_path / "compiled.png", "--model", gray_ckpt, "--compile", "-v")
    assert r.exit_code == 0 and "torch.compile" in r.output
    assert (tmp_path / "eager.png").read_bytes() == (tmp_path / "compiled.png").read_bytes()
