"""The report in a real browser: headless Chromium renders it, and the screenshot shows the pictures and the
players. Skipped where Chromium is not installed (.ci/run installs Debian's package)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run
from tests.report.test_report import colourful_pngs, noisy_wav

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")]


def _chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium-profile'}", "--hide-scrollbars", "--virtual-time-budget=5000"]
    return subprocess.run([CHROMIUM, *flags, *args, page.as_uri()], capture_output=True, text=True, timeout=120)


def _render(tmp_path: Path, page: Path) -> tuple[np.ndarray, str]:
    """(screenshot as an RGB array, the DOM after the page's scripts ran)."""
    from PIL import Image

    shot = tmp_path / "shot.png"
    r = _chromium(tmp_path, page, "--window-size=1300,1100", f"--screenshot={shot}")
    assert shot.is_file(), r.stderr[-2000:]
    dom = _chromium(tmp_path, page, "--dump-dom").stdout
    with Image.open(shot) as im:
        return np.asarray(im.convert("RGB")).astype(np.int32), dom


def _colourful(rgb: np.ndarray) -> int:
    """Pixels with clearly unequal channels: pictures and spectrograms, not text or the white page."""
    return int(np.count_nonzero(rgb.max(axis=2) - rgb.min(axis=2) > 60))


def test_image_report_renders_with_its_pictures(tmp_path, color_ckpt):
    colourful_pngs(tmp_path / "in", size=160)
    (tmp_path / "in" / "broken.png").write_bytes(b"junk")
    page = tmp_path / "report.html"
    run("image", tmp_path / "in", "-o", tmp_path / "out", "--model", color_ckpt, "--report", page)
    rgb, dom = _render(tmp_path, page)
    assert rgb.std() > 20, "blank page"
    assert _colourful(rgb) > 2 * 160 * 160, "the pictures are not visible"
    assert 'data-missing-media="0"' in dom and "broken.png" in dom
    # the pictures did load: moving the media folder away makes the page say so
    shutil.move(tmp_path / "report_files", tmp_path / "elsewhere")
    rgb2, dom2 = _render(tmp_path, page)
    assert 'data-missing-media="0"' not in dom2 and "could not be loaded" in dom2
    banner = np.all(np.abs(rgb2 - np.array([0xDD, 0x33, 0x33])) <= 3, axis=2)
    assert banner.sum() > 20_000 and not np.all(np.abs(rgb - np.array([0xDD, 0x33, 0x33])) <= 3, axis=2).any()


def test_audio_report_renders_players_and_spectrograms(tmp_path, audio_ckpt):
    wav = noisy_wav(tmp_path / "talk.wav", seconds=3.0)
    page = tmp_path / "report.html"
    assert run("audio", wav, "--model", audio_ckpt, "--report", page).exit_code == 0
    rgb, dom = _render(tmp_path, page)
    assert _colourful(rgb) > 50_000, "the spectrogram is not visible"
    assert dom.count("<audio") == 2 and 'data-missing-media="0"' in dom
    # Chromium draws the players' controls as light-grey rounded bars: look for two of them
    grey = np.all(np.abs(rgb - np.array([241, 243, 244])) <= 3, axis=2)
    rows = np.flatnonzero(grey.sum(axis=1) > 250)
    assert rows.size > 20, "no audio players drawn"
