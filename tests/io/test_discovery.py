"""One rule finds files everywhere: inputs of a run, training data, evaluation sets."""

import numpy as np
import pytest

from denoise import io
from denoise.training import data
from tests.conftest import write_image


def test_training_and_inference_find_the_same_files(tmp_path):
    img = np.zeros((4, 4), np.uint8)
    for rel in ("a.png", "sub/b.png", ".hidden/c.png", "sub/.d.png", "notes.txt"):
        (tmp_path / "in" / rel).parent.mkdir(parents=True, exist_ok=True)
        write_image(tmp_path / "in" / rel, img) if rel.endswith(".png") else (tmp_path / "in" / rel).write_text("x")
    (tmp_path / "in" / "loop").symlink_to(tmp_path / "in", target_is_directory=True)
    found = [p.relative_to(tmp_path / "in").as_posix() for p in data.list_files([tmp_path / "in"], io.IMAGE_EXTS)]
    assert found == ["a.png", "sub/b.png"]  # no hidden entries, no symlinked folder (a loop here)
    planned = io.plan_jobs([str(tmp_path / "in")], str(tmp_path / "out"), io.IMAGE_EXTS)
    assert [j.src.relative_to(tmp_path / "in").as_posix() for j in planned.jobs] == found
    with pytest.raises(data.DataError, match="no such data directory"):
        data.list_files([tmp_path / "missing"], io.IMAGE_EXTS)


def test_a_named_pipe_in_a_folder_is_skipped_with_its_reason_not_read(tmp_path):
    """Reading a FIFO blocks until someone writes to it: a scan that took it would hang the run."""
    import os

    write_image(tmp_path / "in" / "a.png", np.zeros((4, 4), np.uint8))
    os.mkfifo(tmp_path / "in" / "pipe.png")
    planned = io.plan_jobs([str(tmp_path / "in")], str(tmp_path / "out"), io.IMAGE_EXTS)
    assert [j.src.name for j in planned.jobs] == ["a.png"]
    assert planned.skipped == [(str(tmp_path / "in" / "pipe.png"), "not a regular file (a named pipe)")]
    assert [p.name for p in data.list_files([tmp_path / "in"], io.IMAGE_EXTS)] == ["a.png"]
    named = io.plan_jobs([str(tmp_path / "in" / "pipe.png")], str(tmp_path / "out.png"), io.IMAGE_EXTS)
    assert named.errors == [(str(tmp_path / "in" / "pipe.png"), "not a regular file (a named pipe)")]


def test_a_broken_link_gets_one_reason_whether_found_or_named(tmp_path):
    write_image(tmp_path / "in" / "a.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "in" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    scanned = io.plan_jobs([str(tmp_path / "in")], str(tmp_path / "out"), io.IMAGE_EXTS)
    named = io.plan_jobs([str(tmp_path / "in" / "gone.png")], str(tmp_path / "o.png"), io.IMAGE_EXTS)
    assert scanned.skipped == [(str(tmp_path / "in" / "gone.png"), "a broken symbolic link")]
    assert named.errors == [(str(tmp_path / "in" / "gone.png"), "a broken symbolic link")]


def test_only_what_denoise_wrote_is_left_out_of_a_scan(tmp_path):
    """A browser's saved page (Holiday.html + Holiday_files/) and a user's before.compare.png are pictures
    like any other; a report's media folder and a compare picture beside its output are not."""
    img = np.zeros((4, 4), np.uint8)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "Holiday.html").write_text("<html></html>")
    for rel in ("Holiday_files/p1.png", "before.compare.png", "x.png", "x.denoised.png", "x.denoised.compare.png",
                "run_files/00000-before.png"):
        write_image(tmp_path / "in" / rel, img)
    (tmp_path / "in" / "run.html").write_text("<html></html>")
    (tmp_path / "in" / "run_files" / io.REPORT_MARK).write_text("ours")
    planned = io.plan_jobs([str(tmp_path / "in")], str(tmp_path / "out"), io.IMAGE_EXTS)
    found = sorted(j.src.relative_to(tmp_path / "in").as_posix() for j in planned.jobs)
    assert found == ["Holiday_files/p1.png", "before.compare.png", "x.denoised.png", "x.png"]
    reasons = dict((str(p), r) for p, r in planned.skipped)
    assert "picture denoise wrote" in reasons[str(tmp_path / "in" / "x.denoised.compare.png")]
    assert "media folder" in reasons[str(tmp_path / "in" / "run_files")]
