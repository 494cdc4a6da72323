"""What the commands print for other programs: valid JSON and safe CSV, whatever the files are called."""

import json

import numpy as np
import soundfile as sf

from tests.conftest import run, smooth_image, speechlike, write_image


def _strict(text: str):
    """json.loads that refuses NaN and Infinity, as strict parsers (jq, browsers' JSON.parse) do."""
    def bad(c):
        raise ValueError(f"invalid JSON constant {c}")
    return json.loads(text, parse_constant=bad)


def test_estimate_csv_escapes_file_names_a_spreadsheet_would_run(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    img = np.clip(smooth_image(64, 64, 1)[:, :, 0] + rng.normal(0, 0.05, (64, 64)), 0, 1)
    write_image(tmp_path / "=1+1.png", (img * 255).astype(np.uint8))
    monkeypatch.chdir(tmp_path)
    r = run("estimate", "=1+1.png", "--csv")
    assert r.exit_code == 0, r.output
    row = r.stdout.splitlines()[1]
    assert row.startswith("'") and "=1+1.png" in row


def test_json_of_audio_with_nan_samples_is_valid(tmp_path, audio_ckpt):
    x = speechlike(1.0, 16000)
    x[100:110] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    r = run("audio", str(tmp_path / "nan.wav"), "-o", str(tmp_path / "out.wav"), "--model", str(audio_ckpt),
            "--json", "-q")
    for line in r.stdout.splitlines():
        _strict(line)


def test_eval_at_sigma_0_prints_valid_json(tmp_path, gray_ckpt):
    write_image(tmp_path / "data" / "a.png", (smooth_image(32, 32, 1)[:, :, 0] * 255).astype(np.uint8))
    r = run("eval", "--domain", "image", "--data", str(tmp_path / "data"), "--sigma", "0", "--model",
            str(gray_ckpt), "--json")
    assert r.exit_code == 0, r.output
    _strict(r.stdout)


def test_when_the_json_reader_goes_away_the_run_stops_with_one_line_and_status_141(tmp_path, gray_ckpt):
    """`denoise image dir/ --json | head -n 1`: the pipe closes after the first line."""
    import subprocess
    import sys

    from tests.conftest import gray_pngs

    gray_pngs(tmp_path / "in", n=40)  # enough that the run is still going when the reader leaves
    proc = subprocess.Popen([sys.executable, "-m", "denoise", "image", str(tmp_path / "in"), "-o",
                             str(tmp_path / "out"), "--model", str(gray_ckpt), "--json", "--workers", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("error: the reader of the JSON output went away") and "Traceback" not in err
