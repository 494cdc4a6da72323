"""The HTML report, --json, --compare and --spectrogram, through the CLI as a user runs them."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import run, smooth_image, speechlike, write_image

SR_TEST = 16000


class _Page(HTMLParser):
    """Every attribute value, tag and text of a page; fails on markup the parser cannot take."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def media_of(page: _Page) -> list[str]:
    return [a[k] for _, a in page.tags for k in ("src", "href") if a.get(k)]


def colourful_pngs(folder: Path, n: int = 2, size: int = 80) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        clean = smooth_image(size, size, 3, seed=i)
        noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1)
        paths.append(write_image(folder / f"photo{i}.png", (noisy * 255).astype(np.uint8)))
    return paths


def noisy_wav(path: Path, seconds: float = 2.0, sr: int = 16000) -> Path:
    x = speechlike(seconds, sr) + 0.02 * np.random.default_rng(0).standard_normal(int(seconds * sr))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, sr)
    return path


def check_page(report: Path, inputs: list[Path]) -> _Page:
    """The checks every report must pass: parses, nothing external, every input named, media resolve."""
    page = parse(report)
    raw = report.read_text(encoding="utf-8")
    assert not re.search(r"(https?:)?//[a-z0-9]", raw, re.I), "the page refers to something on the network"
    assert "@import" not in raw and "url(" not in raw
    text = " ".join(page.text)
    for src in inputs:
        assert str(src) in text, f"{src} is missing from the report"
    for ref in media_of(page):
        assert not ref.startswith("#") or ref[1:]
        if not ref.startswith("#"):
            assert (report.parent / unquote(ref)).is_file(), ref
    return page


def test_image_report_shows_every_file_and_its_failure(tmp_path, color_ckpt):
    inputs = colourful_pngs(tmp_path / "in")
    bad = tmp_path / "in" / "broken.png"
    bad.write_bytes(b"not a picture")
    report = tmp_path / "report.html"
    r = run("image", tmp_path / "in", "-o", tmp_path / "out", "--model", color_ckpt, "--report", report)
    assert r.exit_code == 1, r.output
    page = check_page(report, [*inputs, bad])
    assert "not a readable image" in " ".join(page.text)
    imgs = [a["src"] for t, a in page.tags if t == "img"]
    assert len(imgs) == 16 and all(a.get("loading") == "lazy" for t, a in page.tags if t == "img")
    media = tmp_path / "report_files"
    per_file = sum(p.stat().st_size for p in media.iterdir()) / len(inputs)
    assert per_file < 300_000
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()], "temporary files left behind"


def test_report_media_stay_light_for_a_large_photo(tmp_path, color_ckpt):
    rng = np.random.default_rng(1)
    big = write_image(tmp_path / "big.png", (rng.random((1200, 1600, 3)) * 255).astype(np.uint8))
    r = run("image", big, "-o", tmp_path / "out.png", "--model", color_ckpt, "--report", tmp_path / "r.html")
    assert r.exit_code == 0, r.output
    sizes = {p.name: p.stat().st_size for p in (tmp_path / "r_files").iterdir()}
    assert sum(sizes.values()) < 300_000, sizes  # pure noise: the worst case for compression
    from PIL import Image

    with Image.open(tmp_path / "r_files" / "00000-before.jpg") as im:
        assert max(im.size) == 640


def test_an_existing_report_is_not_replaced_and_nothing_is_denoised(tmp_path, gray_ckpt):
    src = write_image(tmp_path / "a.png", np.zeros((16, 16), np.uint8))
    report = tmp_path / "r.html"
    report.write_text("mine")
    r = run("image", src, "--model", gray_ckpt, "--report", report)
    assert r.exit_code == 2 and "exists" in r.output and "--overwrite" in r.output
    assert report.read_text() == "mine" and not (tmp_path / "a.denoised.png").exists()
    r = run("image", src, "--model", gray_ckpt, "--report", tmp_path / "r.txt")
    assert r.exit_code == 2 and ".html" in r.output


def test_a_report_that_cannot_be_written_keeps_the_outputs(tmp_path, gray_ckpt, monkeypatch):
    src = write_image(tmp_path / "a.png", np.zeros((16, 16), np.uint8))

    def disk_full(self, header):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("denoise.report.records.Report.write", disk_full)
    r = run("image", src, "--model", gray_ckpt, "--report", tmp_path / "r.html")
    assert r.exit_code == 1 and "report not written: No space left on device" in r.output
    assert "Traceback" not in r.output and (tmp_path / "a.denoised.png").is_file()


def test_audio_report_has_players_and_spectrograms(tmp_path, audio_ckpt):
    wav = noisy_wav(tmp_path / "talk.wav")
    report = tmp_path / "r.html"
    r = run("audio", wav, "--model", audio_ckpt, "--report", report, "--spectrogram")
    assert r.exit_code == 0, r.output
    page = check_page(report, [wav])
    audios = [a for t, a in page.tags if t == "audio"]
    assert len(audios) == 2 and all(a["preload"] == "none" for a in audios)
    assert sf.info(str(tmp_path / unquote(audios[0]["src"]))).frames > 0  # a playable clip
    assert "SNR" in " ".join(page.text)
    assert (tmp_path / "talk.denoised.spectrogram.png").stat().st_size > 10_000


def test_json_lines_on_stdout_and_human_lines_on_stderr(tmp_path, gray_ckpt):
    import subprocess
    import sys

    src = write_image(tmp_path / "a.png", (smooth_image(32, 32, 1)[:, :, 0] * 255).astype(np.uint8))
    (tmp_path / "b.png").write_bytes(b"junk")
    r = subprocess.run([sys.executable, "-m", "denoise", "image", str(src), str(tmp_path / "b.png"), "--model",
                        str(gray_ckpt), "--json"], capture_output=True, text=True, timeout=120)
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x.get("status") for x in lines[:-1]] == ["failed", "done"]
    done = lines[1]
    assert done["input"] == str(src) and done["output"].endswith("a.denoised.png") and done["seconds"] >= 0
    assert set(done["noise_before"]) == {"sigma", "sigma_per_channel"}
    assert lines[0]["reason"] == "not a readable image"
    assert lines[-1]["summary"]["done"] == 1 and lines[-1]["summary"]["failed"] == 1
    assert "failed:" in r.stderr and "1 done, 1 failed" in r.stderr and r.returncode == 1
    assert "done:" not in r.stderr  # a file that went well gets no line of its own


def test_compare_pictures_are_written_once_and_never_taken_as_inputs(tmp_path, gray_ckpt):
    folder = tmp_path / "in"
    write_image(folder / "a.png", (smooth_image(40, 40, 1)[:, :, 0] * 255).astype(np.uint8))
    assert run("image", folder, "--model", gray_ckpt, "--compare").exit_code == 0
    pic = folder / "a.denoised.compare.png"
    from PIL import Image

    with Image.open(pic) as im:
        assert im.width > 2 * 40 and im.height > 40 + 96
    before = pic.read_bytes()
    (folder / "a.denoised.png").unlink()
    r = run("image", folder, "--model", gray_ckpt, "--compare")  # the picture exists: kept, and said
    assert r.exit_code == 0 and "exists" in r.output and pic.read_bytes() == before
    assert (folder / "a.denoised.png").is_file()
    r = run("image", folder, "--model", gray_ckpt, "--compare", "-o", tmp_path / "out")
    # with -o, earlier outputs (a.denoised.png) are inputs again, as always; the compare picture is not
    assert r.exit_code == 0 and sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a.compare.png", "a.denoised.compare.png", "a.denoised.png", "a.png"]


def test_spectrogram_without_matplotlib_says_what_to_install(tmp_path, audio_ckpt, monkeypatch):
    import sys

    wav = noisy_wav(tmp_path / "talk.wav")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    r = run("audio", wav, "--model", audio_ckpt, "--spectrogram")
    assert r.exit_code == 2 and "pip install matplotlib" in r.output and "denoise[" not in r.output
    assert not (tmp_path / "talk.denoised.wav").exists()


def test_a_thousand_files_make_a_light_page():
    import time

    from denoise.report.html import render

    media = {"width": 4000, "height": 3000, "crop": [10, 20, 96], "before": "r_files/00001-before.jpg",
             "after": "r_files/00001-after.jpg", "before_detail": "r_files/00001-before-detail.png",
             "after_detail": "r_files/00001-after-detail.png"}
    records = [{"input": f"photos/{i}.jpg", "output": f"out/{i}.jpg", "status": "done", "reason": None,
                "seconds": 1.0, "noise_before": {"sigma": 20.0}, "noise_after": {"sigma": 1.0}, "media": media}
               for i in range(1000)]
    t0 = time.perf_counter()
    page = render("image", {"totals": {"done": 1000, "failed": 0, "skipped": 0, "seconds": 1.0}}, records, {})
    assert time.perf_counter() - t0 < 2.0
    assert len(page.encode()) / 1000 < 3000  # bytes of HTML per file; the pictures load lazily


def test_audio_too_short_to_estimate_still_gets_its_entry(tmp_path, audio_ckpt):
    sf.write(tmp_path / "blip.wav", speechlike(0.1, SR_TEST), SR_TEST)  # under 4 frames of the estimator
    r = run("audio", tmp_path / "blip.wav", "--model", audio_ckpt, "--report", tmp_path / "r.html", "--spectrogram")
    assert r.exit_code == 0 and "warning" not in r.output
    page = check_page(tmp_path / "r.html", [tmp_path / "blip.wav"])
    assert "noise not estimated: too short" in " ".join(page.text)
    assert len([a for t, a in page.tags if t == "audio"]) == 2 and (tmp_path / "blip.denoised.spectrogram.png").is_file()


def test_dollar_signs_in_a_file_name_are_not_typeset(tmp_path, audio_ckpt):
    """matplotlib reads $...$ as maths: "a$\\x$.wav" failed to draw, and lost its spectrogram."""
    src = noisy_wav(tmp_path / "in" / "a$\\x$.wav", seconds=1.0)
    r = run("audio", str(src), "-o", str(tmp_path / "out") + "/", "--model", str(audio_ckpt), "--spectrogram")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "a$\\x$.spectrogram.png").stat().st_size > 0


def test_outputs_into_the_reports_own_media_folder_are_refused_before_any_work(tmp_path, gray_ckpt):
    src = colourful_pngs(tmp_path / "in", n=1)[0]
    r = run("image", str(src.parent), "-o", str(tmp_path / "r_files"), "--report", str(tmp_path / "r.html"),
            "--model", str(gray_ckpt))
    assert r.exit_code == 2 and "media folder" in r.output and "Traceback" not in r.output
    assert not list((tmp_path / "r_files").glob("*.png"))


def test_overwrite_clears_the_earlier_runs_media(tmp_path, gray_ckpt):
    srcs = colourful_pngs(tmp_path / "in", n=2)
    first = run("image", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--report", str(tmp_path / "r.html"),
                "--model", str(gray_ckpt))
    assert first.exit_code == 0
    srcs[1].unlink()
    again = run("image", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--report", str(tmp_path / "r.html"),
                "--model", str(gray_ckpt), "--overwrite")
    assert again.exit_code == 0
    check_page(tmp_path / "r.html", srcs[:1])
    media = [p.name for p in (tmp_path / "r_files").iterdir() if p.name != "denoise-report.txt"]
    assert media and all(name.startswith("00000-") for name in media), media  # nothing of the second file


def test_a_report_another_run_is_writing_is_refused_at_the_start(tmp_path, gray_ckpt):
    import os

    from denoise import io

    colourful_pngs(tmp_path / "in", n=1)
    (tmp_path / "r_files").mkdir()
    io.claim_path(tmp_path / "r_files").write_text(f"{os.getppid()} {io.MACHINE_ID}\n")  # a live run holds it
    r = run("image", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--report", str(tmp_path / "r.html"),
            "--model", str(gray_ckpt))
    assert r.exit_code == 2 and "another run is writing the report" in r.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["directory", "read-only folder"])
def test_a_report_that_cannot_be_written_is_refused_before_any_work(tmp_path, gray_ckpt, kind):
    import os

    if kind == "read-only folder" and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    colourful_pngs(tmp_path / "in", n=1)
    page = tmp_path / "ro" / "r.html"
    if kind == "directory":
        page.mkdir(parents=True)
    else:
        page.parent.mkdir()
        page.parent.chmod(0o555)
    r = run("image", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--report", str(page),
            "--model", str(gray_ckpt), "--overwrite")
    page.parent.chmod(0o755)
    assert r.exit_code == 2 and "Traceback" not in r.output and str(page) in r.output
    assert not (tmp_path / "out").exists()
