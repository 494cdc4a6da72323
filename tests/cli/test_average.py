"""`denoise average`: the mean of a run's checkpoints, written once, refused for mixed models."""

from pathlib import Path

import torch

from denoise import checkpoint
from tests.conftest import run


def _shifted(src: Path, dst: Path, by: float, step: int) -> Path:
    """A copy of the checkpoint ``src`` with every float weight moved by ``by``, saved as step ``step``."""
    model = checkpoint.load(str(src))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(by)
    checkpoint.save_checkpoint(dst, model, {**model.meta, "step": step})
    return dst


def test_average_writes_the_mean_weights_and_their_sources(tmp_path, gray_ckpt):
    a = _shifted(gray_ckpt, tmp_path / "a.pt", 0.0, 200)
    b = _shifted(gray_ckpt, tmp_path / "b.pt", 0.5, 100)
    out = tmp_path / "mean.pt"
    result = run("average", out, a, b)
    assert result.exit_code == 0, result.output
    mean, first, second = (checkpoint.load(str(p)).state_dict() for p in (out, a, b))
    for k, v in mean.items():
        if v.is_floating_point():
            torch.testing.assert_close(v, (first[k] + second[k]) / 2)
    meta = checkpoint.load(str(out)).meta
    assert [s["step"] for s in meta["averaged_from"]] == [100, 200] and meta["step"] == 200
    assert meta["averaged_from"][0]["sha256"] == checkpoint.sha256_file(b)


def test_average_refuses_an_existing_output_unless_told(tmp_path, gray_ckpt):
    out = tmp_path / "mean.pt"
    out.write_bytes(b"mine")
    result = run("average", out, gray_ckpt, gray_ckpt)
    assert result.exit_code == 2 and "--overwrite" in result.output and out.read_bytes() == b"mine"
    assert run("average", out, gray_ckpt, gray_ckpt, "--overwrite").exit_code == 0
    assert checkpoint.load(str(out)).meta["averaged_from"]


def test_average_of_different_models_is_a_one_line_error_and_writes_nothing(tmp_path, gray_ckpt, color_ckpt):
    out = tmp_path / "mean.pt"
    result = run("average", out, gray_ckpt, color_ckpt)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: color.pt holds another model than gray.pt (channels 3, not 1)") and len(result.output.splitlines()) == 1
    assert "Traceback" not in result.output and list(tmp_path.iterdir()) == []


def test_average_of_a_damaged_file_names_it(tmp_path, gray_ckpt):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 cut short")
    result = run("average", tmp_path / "mean.pt", gray_ckpt, bad)
    assert result.exit_code == 2 and "bad.pt" in result.output and not (tmp_path / "mean.pt").exists()


def test_last_keeps_the_latest_steps_whatever_the_order_given(tmp_path, gray_ckpt):
    """A shell glob gives step-10000.pt before step-9500.pt: --last picks by the step each file records."""
    early = _shifted(gray_ckpt, tmp_path / "step-9500.pt", 9.0, 9500)
    late = [_shifted(gray_ckpt, tmp_path / f"step-{s}.pt", by, s) for s, by in ((10000, 0.0), (10500, 1.0))]
    out = tmp_path / "out" / "mean.pt"
    result = run("average", out, *sorted(tmp_path.glob("step-*.pt")), "--last", 2)
    assert result.exit_code == 0, result.output
    assert [s["step"] for s in checkpoint.load(str(out)).meta["averaged_from"]] == [10000, 10500]
    mean, a, b = (checkpoint.load(str(p)).state_dict() for p in (out, *late))
    key = next(k for k, v in mean.items() if v.is_floating_point())
    torch.testing.assert_close(mean[key], (a[key] + b[key]) / 2)
    assert early.exists()
    zero = run("average", tmp_path / "none.pt", *late, "--last", 0)
    assert zero.exit_code == 2 and zero.output.startswith("error: --last 0") and not (tmp_path / "none.pt").exists()
