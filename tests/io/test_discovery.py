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
