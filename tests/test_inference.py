import numpy as np
import pytest

import denoise
from denoise import checkpoint, inference
from denoise.runner.files import denoise_paths
from denoise.audio import chunks
from denoise.image import arrays
from tests.conftest import smooth_image, speechlike


def test_tiled_equals_untiled_away_from_seams(gray_ckpt):
    """Tiling must not change the result beyond blending noise: compare against one big tile."""
    m = checkpoint.load(str(gray_ckpt))
    img = np.random.default_rng(0).random((301, 410)).astype(np.float32)
    whole = arrays.denoise_image_array(m, img, tile=512)
    tiled = arrays.denoise_image_array(m, img, tile=96, overlap=32, batch_size=3)
    assert tiled.shape == img.shape
    diff = np.abs(whole - tiled)
    assert diff.max() < 0.03 and diff.mean() < 1e-3


def test_channel_adaptation(gray_ckpt, color_ckpt):
    g, c = checkpoint.load(str(gray_ckpt)), checkpoint.load(str(color_ckpt))
    rgb = np.random.default_rng(0).random((20, 30, 3)).astype(np.float32)
    assert arrays.denoise_image_array(g, rgb).shape == rgb.shape
    assert arrays.denoise_image_array(c, rgb[:, :, 0]).shape == (20, 30)


def test_strength_zero_returns_input_through_tiling_and_chunking(gray_ckpt, audio_ckpt):
    m = checkpoint.load(str(gray_ckpt))
    img = np.random.default_rng(0).random((130, 70)).astype(np.float32)
    assert np.allclose(arrays.denoise_image_array(m, img, strength=0.0, tile=64, overlap=16), img, atol=1e-6)
    a = checkpoint.load(str(audio_ckpt))
    x = np.random.default_rng(1).standard_normal((2, 16000 * 5 + 123)).astype(np.float32) * 0.1
    y = chunks.denoise_audio_array(a, x, 16000, strength=0.0, chunk_seconds=1.0, batch_size=2)
    assert y.shape == x.shape
    assert np.abs(y - x).max() < 1e-5  # cross-fades add up to exactly one; nothing shifts


@pytest.mark.parametrize("sr", [8000, 44100])
def test_audio_any_rate_and_chunking_stays_close_to_one_pass(audio_ckpt, sr):
    a = checkpoint.load(str(audio_ckpt))
    x = np.random.default_rng(2).standard_normal(sr * 4).astype(np.float32) * 0.1
    one = chunks.denoise_audio_array(a, x, sr, chunk_seconds=100)
    chunked = chunks.denoise_audio_array(a, x, sr, chunk_seconds=1.0)
    assert one.shape == chunked.shape == x.shape
    rel = np.sqrt(np.mean((one - chunked) ** 2) / np.mean(one**2))
    assert rel < 0.05


def test_cpu_models_load_channels_last_with_unchanged_results_and_batch_one(gray_ckpt, audio_ckpt):
    import torch

    for ckpt, x, run in [
        (gray_ckpt, np.random.default_rng(0).random((70, 90)).astype(np.float32), arrays.denoise_image_array),
        (audio_ckpt, np.random.default_rng(1).standard_normal(16000).astype(np.float32) * 0.1,
         lambda m, a: chunks.denoise_audio_array(m, a, 16000)),
    ]:
        m = checkpoint.load(str(ckpt))
        convs = [p for p in m.parameters() if p.dim() == 4]
        assert convs and all(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
                             for p in convs if p.shape[1] > 1 and p.shape[2] * p.shape[3] > 1)
        assert inference.default_batch_size(m) == 1
        fast = run(m, x)
        plain = run(m.to(memory_format=torch.contiguous_format), x)
        assert np.abs(fast - plain).max() < 1e-5


def test_cpu_results_are_deterministic(gray_ckpt):
    m = checkpoint.load(str(gray_ckpt))
    img = np.random.default_rng(0).random((50, 60)).astype(np.float32)
    assert np.array_equal(arrays.denoise_image_array(m, img), arrays.denoise_image_array(m, img))


def test_api_accepts_unclipped_values_and_both_shapes(gray_ckpt, audio_ckpt):
    m = denoise.load_model(str(gray_ckpt), device="cpu")
    img = np.random.default_rng(0).normal(0.5, 0.4, (16, 16)).astype(np.float32)  # outside [0, 1]
    out = denoise.denoise_image(img, model=m)
    assert out.shape == img.shape and out.dtype == np.float32 and np.isfinite(out).all()
    a = denoise.load_model(str(audio_ckpt), device="cpu")
    assert denoise.denoise_audio(np.zeros(1000), 22050, model=a).shape == (1000,)
    with pytest.raises(ValueError, match="not an audio model"):
        denoise.denoise_audio(np.zeros(1000), 16000, model=m)


def test_api_reads_integer_arrays_on_their_full_scale_and_refuses_what_it_would_get_wrong(gray_ckpt, audio_ckpt):
    m = denoise.load_model(str(gray_ckpt), device="cpu")
    img = np.random.default_rng(0).random((16, 16)).astype(np.float32)
    as_float = denoise.denoise_image(img, model=m)
    for dtype, scale in ((np.uint8, 255), (np.uint16, 65535)):
        ints = np.round(img * scale).astype(dtype)
        out = denoise.denoise_image(ints, model=m)
        expect = np.clip(np.round(denoise.denoise_image(ints / np.float32(scale), model=m) * scale), 0, scale)
        assert out.dtype == dtype and np.array_equal(out, expect.astype(dtype))
        assert np.abs(out / scale - np.clip(as_float, 0, 1)).max() < 0.02  # not read as 255 times brighter
    a = denoise.load_model(str(audio_ckpt), device="cpu")
    x = np.random.default_rng(1).standard_normal((2, 4000)) * 0.1
    pcm = np.round(x * 32768).astype(np.int16)
    out = denoise.denoise_audio(pcm, 16000, model=a)
    expect = np.clip(np.round(denoise.denoise_audio(pcm / 32768.0, 16000, model=a) * 32768), -32768, 32767)
    assert out.dtype == np.int16 and np.array_equal(out, expect.astype(np.int16))
    with pytest.raises(ValueError, match="int8 not understood"):
        denoise.denoise_image(np.zeros((8, 8), np.int8), model=m)
    with pytest.raises(ValueError, match="1 NaN or Inf values"):
        denoise.denoise_image(np.where(np.eye(8, dtype=bool) & (np.arange(8) == 3), np.nan, 0.5), model=m)
    with pytest.raises(ValueError, match="pass audio.T"):  # soundfile.read's (T, channels) layout
        denoise.denoise_audio(x.T, 16000, model=a)


def test_audio_progress_reports_every_second_of_each_file(audio_ckpt, tmp_path):
    """The CLI's bar for long files is fed chunk by chunk: the amounts must add up to each file's length."""
    import soundfile as sf

    from denoise import io

    a = checkpoint.load(str(audio_ckpt))
    lengths = {"a.wav": 16000 * 25 + 7, "b.flac": 8000 * 3}
    for name, n in lengths.items():
        sf.write(tmp_path / name, np.zeros(n, np.float32), 16000 if name == "a.wav" else 8000)
    jobs = [io.Job(tmp_path / n, tmp_path / "out" / n) for n in lengths]
    seen: list[float] = []
    per_file = []
    for r in denoise_paths(a, jobs, batch_size=1, audio_progress=seen.append):
        assert r.status == "done"
        per_file.append(sum(seen))
        seen.clear()
    assert per_file == pytest.approx([25 + 7 / 16000, 3.0])
    # batched across files (both files' chunks in flight at once): the same total
    results = list(denoise_paths(a, jobs, batch_size=2, overwrite=True, audio_progress=seen.append))
    assert [r.status for r in results] == ["done", "done"]
    assert sum(seen) == pytest.approx(28 + 7 / 16000) and len(seen) == 4


def test_image_progress_reports_every_pixel_of_each_file_tile_batch_by_tile_batch(gray_ckpt, tmp_path):
    """A 12-megapixel photo takes about a minute on a CPU: the CLI's bar moves with each batch of tiles."""
    from PIL import Image

    from denoise import io

    m = checkpoint.load(str(gray_ckpt))
    shapes = {"big.png": (700, 600), "small.png": (20, 30)}  # big: four tiles
    for name, shape in shapes.items():
        Image.fromarray(np.zeros(shape, np.uint8)).save(tmp_path / name)
    jobs = [io.Job(tmp_path / n, tmp_path / "out" / n) for n in shapes]
    seen: list[float] = []
    # files are computed in order, but a file's result may come after the next file has started (it is
    # written in the background), so the amounts are checked in computing order
    assert all(r.status == "done" for r in denoise_paths(m, jobs, batch_size=1, image_progress=seen.append))
    assert len(seen) == 4 + 1
    assert [sum(seen[:4]), seen[4]] == pytest.approx([h * w / 1e6 for h, w in shapes.values()])
    assert io.image_megapixels(tmp_path / "big.png") == pytest.approx(0.42)
    assert io.image_megapixels(tmp_path / "missing.png") == 0.0


def test_denoise_paths_never_replaces_an_existing_output_without_a_flag(gray_ckpt, tmp_path):
    """The API has no CLI to settle existing outputs first: denoise_paths checks each file itself."""
    from PIL import Image

    from denoise import io

    m = checkpoint.load(str(gray_ckpt))
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "a.out.png").write_text("precious")
    job = io.Job(tmp_path / "a.png", tmp_path / "a.out.png")
    for kw, status in [({}, "failed"), ({"skip_existing": True}, "skipped")]:
        (r,) = denoise_paths(m, [job], **kw)
        assert r.status == status and "output exists" in r.reason
        assert (tmp_path / "a.out.png").read_text() == "precious"
    (r,) = denoise_paths(m, [job], overwrite=True)
    assert r.status == "done" and io.read_image(tmp_path / "a.out.png").pixels.shape == (8, 8, 1)


def test_progress_meter_fills_the_bar_when_every_file_is_done():
    """The bar's length is the total rounded up (1.55 megapixels: 2); the last file must fill it."""
    from denoise.cli.progress import Meter

    class Bar:
        pos, item = 0, None

        def update(self, n: int, current_item=None) -> None:
            self.pos += n
            self.item = current_item

    bar = Bar()
    meter = Meter(bar, 0.3 + 1.25, files=2)
    meter.add(0.2)
    meter.finish_file(0.3)
    assert bar.pos == 0 and bar.item == "1/2 files"  # the file count moves while the megapixels do not
    meter.add(0.8)
    assert bar.pos == 1
    meter.finish_file(1.25)
    assert bar.pos == 2 and bar.item == "2/2 files"
    bar = Bar()
    meter = Meter(bar, 8.0)
    meter.add(3.0)  # the first image is done; it is written in the background while ...
    meter.add(2.0)  # ... the second one's tiles report, before the first one's result arrives
    meter.finish_file(3.0)
    meter.add(2.0)
    assert bar.pos == 7  # the second image's first two megapixels were not lost
    meter.finish_file(5.0)
    assert bar.pos == 8


def _views_mean(m, img: np.ndarray) -> np.ndarray:
    """The x8 self-ensemble written out on whole numpy images: denoise each flip/rotation, undo it, average."""
    acc = np.zeros_like(img)
    for k in range(4):
        for flip in (False, True):
            view = np.rot90(img, k)
            view = view[:, ::-1] if flip else view
            out = arrays.denoise_image_array(m, np.ascontiguousarray(view), tile=512)
            out = out[:, ::-1] if flip else out
            acc += np.rot90(out, -k)
    return acc / 8


@pytest.mark.slow
def test_ensemble_is_the_mean_over_flips_and_rotations(gray_ckpt, color_ckpt):
    """Sizes are multiples of the U-Net's 4 so that no padding lands on a different side per view; a
    wrong inverse transform (or a view left out) would not match the written-out mean."""
    m = checkpoint.load(str(gray_ckpt))
    img = np.random.default_rng(3).random((48, 76)).astype(np.float32)
    ens = arrays.denoise_image_array(m, img, tile=512, ensemble=True)
    assert ens.shape == img.shape
    assert np.allclose(ens, _views_mean(m, img), atol=1e-5)
    assert np.abs(ens - arrays.denoise_image_array(m, img, tile=512)).max() > 1e-3  # not one view
    api = denoise.denoise_image(img, model=m, ensemble=True)
    assert np.array_equal(api, arrays.denoise_image_array(m, img, ensemble=True))
    c = checkpoint.load(str(color_ckpt))
    rgb = np.random.default_rng(4).random((32, 40, 3)).astype(np.float32)
    assert np.allclose(arrays.denoise_image_array(c, rgb, tile=512, ensemble=True), _views_mean(c, rgb), atol=1e-5)


@pytest.mark.slow
def test_ensemble_through_tiles_and_channel_adaptation(gray_ckpt):
    m = checkpoint.load(str(gray_ckpt))
    rgb = np.random.default_rng(5).random((150, 97, 3)).astype(np.float32)
    whole = arrays.denoise_image_array(m, rgb, tile=512, ensemble=True)
    tiled = arrays.denoise_image_array(m, rgb, tile=64, overlap=16, batch_size=3, ensemble=True)
    assert tiled.shape == rgb.shape
    assert np.abs(whole - tiled).mean() < 2e-3


# ------------------------------------------------------------------------- second reliability pass
def test_an_output_written_meanwhile_by_another_run_is_skipped_not_failed(gray_ckpt, tmp_path):
    """Two runs with skip_existing on one folder: what the other run wrote while this one ran is a skip,
    found before computing (images: after decoding) or at the final rename, and never replaced."""
    from PIL import Image

    from denoise import io

    m = checkpoint.load(str(gray_ckpt), domain="image")
    jobs = []
    for name in ("a", "b"):
        Image.fromarray((smooth_image(20, 20, 1)[:, :, 0] * 255).astype(np.uint8)).save(tmp_path / f"{name}.png")
        jobs.append(io.Job(tmp_path / f"{name}.png", tmp_path / "out" / f"{name}.png"))
    real_read = io.read_image

    def other_run_writes_b(path):  # the other run writes "b" while this one decodes it
        if path.name == "b.png":
            (tmp_path / "out").mkdir(exist_ok=True)
            (tmp_path / "out" / "b.png").write_bytes(b"the other run's")
        return real_read(path)

    import unittest.mock

    with unittest.mock.patch.object(io, "read_image", other_run_writes_b):
        results = list(denoise_paths(m, jobs, skip_existing=True))
    assert sorted((r.src.name, r.status) for r in results) == [("a.png", "done"), ("b.png", "skipped")]
    assert (tmp_path / "out" / "b.png").read_bytes() == b"the other run's"
    real_save = io.save_image

    def racing_save(dst, data, pixels, overwrite):  # the other run renames its file in just before ours
        dst.write_bytes(b"theirs")
        real_save(dst, data, pixels, overwrite)

    with unittest.mock.patch.object(io, "save_image", racing_save):
        (r,) = denoise_paths(m, [io.Job(jobs[0].src, tmp_path / "c.png")], skip_existing=True)
    assert r.status == "skipped" and (tmp_path / "c.png").read_bytes() == b"theirs"


def test_audio_over_full_scale_warns_with_the_count_and_peak(audio_ckpt, tmp_path, caplog):
    import soundfile as sf

    from denoise import io

    loud = speechlike(1.0, 16000) * 40  # peaks far above 1.0 in a float WAV
    sf.write(tmp_path / "loud.wav", loud, 16000, subtype="FLOAT")
    m = checkpoint.load(str(audio_ckpt), domain="audio")
    (r,) = denoise_paths(m, [io.Job(tmp_path / "loud.wav", tmp_path / "loud.flac")], strength=0.0)
    assert r.status == "done"
    (warning,) = [rec.getMessage() for rec in caplog.records if "clipped" in rec.getMessage()]
    over = int((np.abs(loud) > 1).sum())
    assert f"{tmp_path / 'loud.flac'}: {over} samples" in warning and "a .wav output keeps" in warning
    caplog.clear()
    (r,) = denoise_paths(m, [io.Job(tmp_path / "loud.wav", tmp_path / "loud2.wav")], strength=0.0)
    assert not [rec for rec in caplog.records if "clipped" in rec.getMessage()]  # float WAV keeps them


@pytest.mark.parametrize("samples", [1, 160, 1600])
def test_clips_too_short_to_judge_pass_through_unchanged(audio_ckpt, samples, caplog):
    m = checkpoint.load(str(audio_ckpt), domain="audio")
    clip = speechlike(0.2, 16000)[:samples] + 0.01
    out = chunks.denoise_audio_array(m, clip, 16000)
    assert np.array_equal(out, clip.astype(np.float32))
    assert "too short for the model to judge" in caplog.text
    longer = chunks.denoise_audio_array(m, speechlike(0.3, 16000), 16000)  # from 0.2 s on: denoised
    assert not np.array_equal(longer, speechlike(0.3, 16000))


def test_gray_pictures_stored_as_rgb_go_to_the_gray_model(gray_ckpt, color_ckpt, tmp_path, caplog):
    import logging

    from denoise import io

    gray, color = checkpoint.load(str(gray_ckpt), domain="image"), checkpoint.load(str(color_ckpt), domain="image")
    pick = lambda ch: gray if ch == 1 else color  # noqa: E731
    plane = smooth_image(24, 24, 1)
    data = io.ImageData(np.repeat(plane, 3, axis=2), "RGB", 8)
    with caplog.at_level(logging.INFO, logger="denoise"):
        out = arrays.denoise_decoded(pick, data, "scan.png")
    assert np.array_equal(out, np.repeat(arrays.denoise_image_array(gray, plane), 3, axis=2))
    assert "scan.png: gray stored as RGB" in caplog.text
    tinted = data.pixels.copy()
    tinted[0, 0, 0] += 0.01  # one pixel off gray: a colour picture, for the colour model
    out = arrays.denoise_decoded(pick, io.ImageData(tinted, "RGB", 8))
    assert np.array_equal(out, arrays.denoise_image_array(color, tinted))


def test_a_failed_audio_write_reports_the_operating_systems_reason(audio_ckpt, tmp_path):
    """libsndfile says only "System error."; the reason (here a file-size limit, as a full disk would be
    "No space left on device") must reach the user. Run in a child with RLIMIT_FSIZE set."""
    import subprocess
    import sys

    import soundfile as sf

    sf.write(tmp_path / "in.wav", speechlike(20.0, 16000), 16000, subtype="PCM_16")
    code = f"""
import resource, signal
from pathlib import Path
from denoise import checkpoint, io
from denoise.runner.files import denoise_paths
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
m = checkpoint.load({str(audio_ckpt)!r}, domain="audio")
resource.setrlimit(resource.RLIMIT_FSIZE, (200000, 200000))
(r,) = denoise_paths(m, [io.Job(Path({str(tmp_path / 'in.wav')!r}), Path({str(tmp_path / 'out.wav')!r}))])
print(r.status, r.reason)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith("failed File too large: "), out.stdout + out.stderr
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize("seconds", [0.1, 0.7, 1.0, 1.4, 1.6, 2.0, 3.3])
def test_a_stream_of_unknown_length_gives_what_the_file_path_gives(audio_ckpt, seconds):
    """stream_audio_blocks (standard input) against stream_audio (files), with 1 s chunks so that these
    lengths cover one chunk, a short tail merged into the chunk before, and several chunks."""
    from denoise.checkpoint import load
    from denoise.audio.chunks import Chunking, stream_audio, stream_audio_blocks

    model = load(str(audio_ckpt))
    n = int(seconds * 16000)
    x = (np.random.default_rng(1).standard_normal((2, n)) * 0.1).astype(np.float32)
    ref: list = []
    stream_audio(model, lambda a, b: x[:, a:b].copy(), ref.append, n, 16000, chunk_seconds=1.0)
    pos = [0]

    def source(k):  # pieces of an odd size, as a pipe delivers them
        piece = x[:, pos[0] : pos[0] + min(k, 1111)]
        pos[0] += piece.shape[1]
        return piece if piece.shape[1] else None

    out: list = []
    stream_audio_blocks(model, source, out.append, 16000, chunking=Chunking(chunk=1.0))
    np.testing.assert_array_equal(np.concatenate(out, axis=1), np.concatenate(ref, axis=1))
    pos[0], short = 0, []
    stream_audio_blocks(model, source, short.append, 16000, chunking=Chunking(0.1, 0.1, 0.02, merge_tail=False))
    assert sum(b.shape[1] for b in short) == n and all(b.shape[1] <= 1600 + 640 for b in short)


def test_full_band_audio_keeps_a_high_band_gained_like_the_models_top_octave(audio_ckpt):
    """44.1/48 kHz: the band above the model's 8 kHz is carried through, scaled by the gain the model gave
    4-8 kHz (at most 1), with the level independence of the model; before, it was dropped."""
    from denoise.checkpoint import load
    from denoise.audio.chunks import denoise_audio_array

    model = load(str(audio_ckpt))
    rng = np.random.default_rng(0)
    sr = 48000
    x = (rng.standard_normal(2 * sr) * 0.05).astype(np.float32)  # white: energy in every band
    y = denoise_audio_array(model, x, sr)
    f = np.fft.rfftfreq(len(x), 1 / sr)
    high = lambda s: float(np.sum(np.abs(np.fft.rfft(s))[(f > 9000) & (f < 20000)] ** 2))  # noqa: E731
    assert 1e-4 * high(x) < high(y) <= 1.05 * high(x)
    y_quiet = denoise_audio_array(model, 0.001 * x, sr)
    np.testing.assert_allclose(y_quiet / 0.001, y, atol=1e-4 * np.abs(y).max())


def test_streams_normalised_by_a_longer_level_come_closer_to_the_file_run():
    """Short windows each scaled by their own RMS are seen at other levels than in a file run's 10 s
    chunks; the RMS of the last 10.5 s brings the streamed output closer to the file's."""
    from denoise import metrics
    from denoise.checkpoint import load
    from denoise.audio.chunks import Chunking, stream_audio_blocks

    model = load("audio-speech-unet")  # the causal audio-speech normalises its input itself: no level effect
    t = np.arange(160000) / 16000
    talk = speechlike(10.0, 16000) * (np.sin(2 * np.pi * t / 5) > 0)  # 2.5 s of speech, 2.5 s of pause
    x = (talk + 0.01 * np.random.default_rng(0).standard_normal(160000))[None].astype(np.float32)

    def run(chunking):
        pos, out = [0], []

        def source(k):
            piece = x[:, pos[0] : pos[0] + k]
            pos[0] += piece.shape[1]
            return piece if piece.shape[1] else None

        stream_audio_blocks(model, source, out.append, 16000, chunking=chunking)
        return np.concatenate(out, axis=1)[0]

    file_run = run(Chunking())
    short = dict(chunk=0.1, context=0.2, fade=0.02, merge_tail=False)
    own = metrics.si_sdr(file_run, run(Chunking(**short)))
    longer = metrics.si_sdr(file_run, run(Chunking(**short, level=10.5)))
    assert longer > own + 1.0, (own, longer)
