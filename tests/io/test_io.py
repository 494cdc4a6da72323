import os
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from denoise import io


def _touch(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(p)
    return p


def test_directory_is_mirrored_under_output(tmp_path):
    src = tmp_path / "in"
    _touch(src / "a.png"), _touch(src / "sub" / "deep" / "b.jpg"), (src / "notes.txt").write_text("x")
    plan = io.plan_jobs([str(src)], str(tmp_path / "out"), io.IMAGE_EXTS)
    assert not plan.errors
    assert sorted(j.dst.relative_to(tmp_path / "out").as_posix() for j in plan.jobs) == ["a.png", "sub/deep/b.jpg"]


def test_default_names_sit_beside_inputs_and_earlier_outputs_are_not_inputs(tmp_path):
    _touch(tmp_path / "x.png"), _touch(tmp_path / "x.denoised.png")
    plan = io.plan_jobs([str(tmp_path)], None, io.IMAGE_EXTS)
    assert [(j.src.name, j.dst.name) for j in plan.jobs] == [("x.png", "x.denoised.png")]


def test_a_folder_of_earlier_outputs_says_why_nothing_is_found(tmp_path):
    _touch(tmp_path / "d" / "x.denoised.png")
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "notes.txt").write_text("x")
    plan = io.plan_jobs([str(tmp_path / "d"), str(tmp_path / "d" / "*.png"), str(tmp_path / "e")], None, io.IMAGE_EXTS)
    assert not plan.jobs
    assert [r.endswith("except earlier outputs (NAME.denoised.EXT), which are inputs only with -o")
            for _, r in plan.errors] == [True, True, False]
    plan = io.plan_jobs([str(tmp_path / "d")], str(tmp_path / "out"), io.IMAGE_EXTS)  # with -o they are inputs
    assert [j.src.name for j in plan.jobs] == ["x.denoised.png"]


def test_a_shell_glob_run_twice_does_not_denoise_its_own_outputs(tmp_path):
    # `denoise image *.png` the second time: the shell names x.denoised.png (and older x.denoised.denoised.png)
    names = ["x.png", "x.denoised.png", "x.denoised.denoised.png", "y.denoised.png"]
    plan = io.plan_jobs([str(_touch(tmp_path / n)) for n in names], None, io.IMAGE_EXTS)
    io.skip_own_outputs(plan)
    # y.denoised.png has no input of its own here: named on its own, it is denoised like any file
    assert [j.src.name for j in plan.jobs] == ["x.png", "y.denoised.png"]
    assert plan.skipped == [(str(tmp_path / "x.denoised.png"), f"the output of {tmp_path / 'x.png'} (also an input)"),
                            (str(tmp_path / "x.denoised.denoised.png"),
                             f"the output of {tmp_path / 'x.denoised.png'} (also an input)")]


def test_existing_outputs_are_settled_before_any_model_loads(tmp_path):
    a, b = _touch(tmp_path / "a.png"), _touch(tmp_path / "b.png")
    _touch(tmp_path / "out" / "a.png")
    for overwrite, skip, jobs, skipped, errors in [(True, False, ["a.png", "b.png"], 0, 0),
                                                   (False, True, ["b.png"], 1, 0),
                                                   (False, False, ["b.png"], 0, 1)]:
        plan = io.plan_jobs([str(a), str(b)], str(tmp_path / "out"), io.IMAGE_EXTS)
        io.settle_existing(plan, overwrite, skip)
        assert [j.src.name for j in plan.jobs] == jobs
        assert (len(plan.skipped), len(plan.errors)) == (skipped, errors)
    assert plan.errors == [(str(a), f"output exists: {tmp_path / 'out' / 'a.png'} (overwrite=True replaces it, skip_existing=True skips it)")]


def test_single_file_output_and_glob_and_missing(tmp_path):
    f = _touch(tmp_path / "one.png")
    _touch(tmp_path / "two.png")
    plan = io.plan_jobs([str(f)], str(tmp_path / "clean.png"), io.IMAGE_EXTS)
    assert plan.jobs[0].dst == tmp_path / "clean.png"
    plan = io.plan_jobs([str(tmp_path / "*.png"), str(tmp_path / "nope.png")], str(tmp_path / "o"), io.IMAGE_EXTS)
    assert sorted(j.dst.name for j in plan.jobs) == ["one.png", "two.png"]
    assert plan.errors == [(str(tmp_path / "nope.png"), "no such file or directory")]


def test_output_that_must_be_a_directory_but_names_a_file_is_refused_up_front(tmp_path):
    a, b = _touch(tmp_path / "a.png"), _touch(tmp_path / "b.png")
    (tmp_path / "notes.txt").write_text("keep")
    cases = [([a, b], "clean.png", "2 inputs need a directory"),
             ([tmp_path], "clean.png", "a directory input needs"),
             ([tmp_path / "*.png"], "clean.png", "a glob needs"),
             ([a, b], "notes.txt", "is a file")]
    for inputs, output, message in cases:
        with pytest.raises(io.InputError, match=message):
            io.plan_jobs([str(p) for p in inputs], str(tmp_path / output), io.IMAGE_EXTS)
    assert (tmp_path / "notes.txt").read_text() == "keep" and not (tmp_path / "clean.png").exists()
    # a trailing slash asks for a directory of that name, for several inputs and for one
    plan = io.plan_jobs([str(a), str(b)], str(tmp_path / "clean.png") + "/", io.IMAGE_EXTS)
    assert [j.dst for j in plan.jobs] == [tmp_path / "clean.png" / "a.png", tmp_path / "clean.png" / "b.png"]
    plan = io.plan_jobs([str(a)], str(tmp_path / "one.png") + "/", io.IMAGE_EXTS)
    assert [j.dst for j in plan.jobs] == [tmp_path / "one.png" / "a.png"]
    # a name without this domain's extension is still a directory, and one missing input is its own error
    plan = io.plan_jobs([str(a), str(b)], str(tmp_path / "clean.wav"), io.IMAGE_EXTS)
    assert len(plan.jobs) == 2 and not plan.errors
    plan = io.plan_jobs([str(tmp_path / "nope.png")], str(tmp_path / "clean.png"), io.IMAGE_EXTS)
    assert plan.errors == [(str(tmp_path / "nope.png"), "no such file or directory")]


def test_output_inside_input_is_not_scanned_and_collisions_are_errors(tmp_path):
    _touch(tmp_path / "in" / "a.png")
    _touch(tmp_path / "in" / "out" / "old.png")
    plan = io.plan_jobs([str(tmp_path / "in")], str(tmp_path / "in" / "out"), io.IMAGE_EXTS)
    assert [j.src.name for j in plan.jobs] == ["a.png"]
    _touch(tmp_path / "b" / "a.png")
    plan = io.plan_jobs([str(tmp_path / "in" / "a.png"), str(tmp_path / "b" / "a.png")], str(tmp_path / "o"),
                        io.IMAGE_EXTS)
    assert len(plan.jobs) == 1 and "already the output" in plan.errors[0][1]


def test_atomic_output_never_clobbers_and_leaves_nothing_on_error(tmp_path):
    dst = tmp_path / "o.png"
    dst.write_text("keep")
    with pytest.raises(io.InputError, match="exists"):
        with io.atomic_output(dst, overwrite=False) as tmp:
            tmp.write_text("new")
    assert dst.read_text() == "keep"
    with pytest.raises(RuntimeError):
        with io.atomic_output(tmp_path / "p.png", overwrite=False) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert sorted(os.listdir(tmp_path)) == ["o.png"]


@pytest.mark.parametrize("mode,depth", [("L", 8), ("RGB", 8), ("L16", 16), ("RGB16", 16), ("RGBA16", 16)])
def test_png_round_trip_keeps_mode_and_depth(tmp_path, mode, depth):
    rng = np.random.default_rng(0)
    path = tmp_path / "i.png"
    if mode == "L":
        Image.fromarray((rng.random((5, 7)) * 255).astype(np.uint8)).save(path)
    elif mode == "RGB":
        Image.fromarray((rng.random((5, 7, 3)) * 255).astype(np.uint8)).save(path)
    else:
        c = {"L16": 1, "RGB16": 3, "RGBA16": 4}[mode]
        io.write_png16(path, (rng.random((5, 7, c)) * 65535).astype(np.uint16))
    data = io.read_image(path)
    assert data.depth == depth
    out = tmp_path / "o.png"
    io.write_image(out, data, data.pixels)
    again = io.read_image(out)
    assert again.depth == depth and again.pixels.shape == data.pixels.shape
    assert np.array_equal(again.pixels, data.pixels)  # lossless: same quantised values
    if mode == "RGBA16":
        assert np.array_equal(again.alpha, data.alpha)


def test_unreadable_image_is_one_line_error(tmp_path):
    (tmp_path / "t.png").write_text("not an image")
    with pytest.raises(io.InputError):
        io.read_image(tmp_path / "t.png")


def test_a_torchvision_that_does_not_load_gives_the_command_that_mends_it(tmp_path, monkeypatch):
    path = tmp_path / "deep.png"  # 16-bit colour is the one format read with torchvision
    io.write_png16(path, np.zeros((4, 4, 3), np.uint16))
    monkeypatch.setitem(sys.modules, "torchvision.io", None)  # as a torchvision built for another torch fails
    with pytest.raises(io.InputError, match=r"does not load beside torch .*pip install --upgrade torch torchvision$"):
        io.read_image(path)


def test_audio_output_keeps_subtype_where_possible(tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros((100, 2), np.float32), 8000, subtype="FLOAT")
    info = io.audio_info(tmp_path / "a.wav")
    assert io.output_audio_format(tmp_path / "b.wav", info) == ("WAV", "FLOAT")
    assert io.output_audio_format(tmp_path / "b.flac", info)[0] == "FLAC"  # FLAC cannot hold float: its default


def test_outputs_get_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with io.atomic_output(tmp_path / "o.png", overwrite=False) as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "o.png").stat().st_mode & 0o777 == 0o644


# ------------------------------------------------------------------------- second reliability pass
def _temp_name(pid: int, machine: str | None, mark: str = "denoise-") -> str:
    middle = f"{pid}-{machine}-" if machine else f"{pid}-"
    return f".a.{mark}{middle}{'0' * 12}.tmp.png"


def _dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_only_provably_dead_temporary_files_are_removed(tmp_path):
    """A PID means nothing in another container or host sharing the folder: their files stay until stale."""
    dead = _dead_pid()
    ours_dead = tmp_path / _temp_name(dead, io.MACHINE_ID)
    ours_live = tmp_path / _temp_name(os.getppid(), io.MACHINE_ID)
    foreign = tmp_path / _temp_name(dead, "deadbeef" if io.MACHINE_ID != "deadbeef" else "feedface")
    old_style = tmp_path / _temp_name(dead, None)  # an older denoise's name: no machine identity
    foreign_old = tmp_path / _temp_name(dead + 1, "0badc0de" if io.MACHINE_ID != "0badc0de" else "feedface")
    for p in (ours_dead, ours_live, foreign, old_style, foreign_old):
        p.write_bytes(b"x")
    day_and_more = os.stat(foreign_old).st_mtime - io.FOREIGN_TEMP_AGE - 60
    os.utime(foreign_old, (day_and_more, day_and_more))
    assert io.remove_stale_temps(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (ours_live, foreign, old_style))


def test_hidden_files_without_this_tools_mark_are_never_removed(tmp_path):
    """Another program's hidden file that happens to look like an old temporary name, dead and a week old."""
    dead = _dead_pid()
    theirs = [tmp_path / _temp_name(dead, None, mark=""), tmp_path / _temp_name(dead, io.MACHINE_ID, mark="")]
    for p in theirs:
        p.write_bytes(b"x")
        week = p.stat().st_mtime - 7 * 24 * 3600
        os.utime(p, (week, week))
    assert io.remove_stale_temps(tmp_path) == 0
    assert all(p.exists() for p in theirs)


def test_temporary_names_carry_this_machine_and_process():
    tmp = io.create_temp(Path("/tmp"), "x", ".wav")
    try:
        assert f".denoise-{os.getpid()}-{io.MACHINE_ID}-" in tmp.name
    finally:
        tmp.unlink()


@pytest.mark.parametrize("color_type", [0, 2, 4, 6])
def test_a_16_bit_png_declaring_too_many_pixels_is_refused_before_decoding(tmp_path, color_type):
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    bomb = tmp_path / "bomb.png"  # 100000 x 100000, 16 bits: 60 GB decoded, about 70 bytes on disk
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 16, color_type, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    with pytest.raises(io.InputError, match=r"refused: image too large \(100000x100000"):
        io.read_image(bomb)


def test_16_bit_gray_tiff_is_written_and_read_back_at_16_bits(tmp_path):
    arr = (np.linspace(0, 1, 12 * 10).reshape(12, 10, 1)).astype(np.float32)
    data = io.ImageData(arr, "L", 16, format="TIFF")
    io.save_image(tmp_path / "g.tif", data, arr, overwrite=False)
    back = io.read_image(tmp_path / "g.tif")
    assert back.depth == 16 and back.mode == "L"
    assert np.abs(back.pixels - arr).max() < 1 / 65535


def test_several_directory_inputs_each_keep_their_name_under_output(tmp_path):
    _touch(tmp_path / "cam1" / "IMG_0001.jpg"), _touch(tmp_path / "cam2" / "IMG_0001.jpg")
    _touch(tmp_path / "loose.png")
    plan = io.plan_jobs([str(tmp_path / "cam1"), str(tmp_path / "cam2"), str(tmp_path / "loose.png")],
                        str(tmp_path / "out"), io.IMAGE_EXTS)
    assert not plan.errors
    assert sorted(j.dst.relative_to(tmp_path / "out").as_posix() for j in plan.jobs) == [
        "cam1/IMG_0001.jpg", "cam2/IMG_0001.jpg", "loose.png"]
    one = io.plan_jobs([str(tmp_path / "cam1")], str(tmp_path / "out"), io.IMAGE_EXTS)  # one: mirrored directly
    assert [j.dst.relative_to(tmp_path / "out").as_posix() for j in one.jobs] == ["IMG_0001.jpg"]


def test_a_recursive_glob_never_takes_outputs_under_o_as_inputs(tmp_path):
    _touch(tmp_path / "photos" / "a.png")
    _touch(tmp_path / "photos" / "out" / "a.png")  # the previous run's output, inside the globbed tree
    plan = io.plan_jobs([str(tmp_path / "photos" / "**" / "*.png")], str(tmp_path / "photos" / "out"),
                        io.IMAGE_EXTS)
    assert not plan.errors
    assert [j.src.relative_to(tmp_path).as_posix() for j in plan.jobs] == ["photos/a.png"]


def test_output_to_a_dash_is_refused_not_made_a_folder(tmp_path):
    _touch(tmp_path / "a.png")
    with pytest.raises(io.InputError, match="standard output"):
        io.plan_jobs([str(tmp_path / "a.png")], "-", io.IMAGE_EXTS)


def test_a_full_disk_is_found_before_any_file_is_computed(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    _touch(tmp_path / "a.png")
    plan = io.plan_jobs([str(tmp_path / "a.png")], str(tmp_path / "out" / "a.png"), io.IMAGE_EXTS)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9, 0))
    io.refuse_unwritable(plan, "image")
    assert not plan.jobs
    assert plan.errors[0][1].startswith("No space left on device: 0 bytes free")


def test_warnings_name_the_output_not_its_hidden_temporary_file(tmp_path, caplog):
    arr = np.full((4, 4, 3), 0.5, np.float32)
    data = io.ImageData(arr, "RGB", 8, alpha=np.full((4, 4), 255, np.uint8))
    io.save_image(tmp_path / "x.jpg", data, arr, overwrite=False)
    (record,) = [r for r in caplog.records if "alpha" in r.getMessage()]
    assert record.getMessage().startswith(f"{tmp_path / 'x.jpg'}: JPEG has no alpha channel")


# ------------------------------------------------------------------------- third reliability pass
def test_a_float_tiff_on_a_0_to_255_scale_is_read_on_it_and_written_back_on_it(tmp_path, caplog):
    from PIL import Image

    arr = (np.random.default_rng(0).random((16, 16)) * 200 + 20).astype(np.float32)
    Image.fromarray(arr, mode="F").save(tmp_path / "f.tif")
    with caplog.at_level("WARNING", logger="denoise.io"):
        data = io.read_image(tmp_path / "f.tif")
    assert data.scale == 255.0 and float(data.pixels.max()) <= 1.0
    assert "0..255 scale" in caplog.text
    io.save_image(tmp_path / "g.tif", data, data.pixels, overwrite=False)
    assert np.allclose(np.asarray(Image.open(tmp_path / "g.tif")), arr, atol=1e-3)


def test_a_float_tiff_with_nan_fails_with_its_count_everywhere(tmp_path):
    from PIL import Image

    from denoise.report.estimate import estimate_file

    arr = np.full((16, 16), 0.5, np.float32)
    arr[2, 3] = np.nan
    Image.fromarray(arr, mode="F").save(tmp_path / "nan.tif")
    with pytest.raises(io.InputError, match="1 NaN or Inf values"):
        io.read_image(tmp_path / "nan.tif")
    with pytest.raises(io.InputError, match="1 NaN or Inf values"):
        estimate_file(tmp_path / "nan.tif")


def test_a_jpeg_is_written_as_it_was_encoded_and_strength_0_keeps_its_pixels(tmp_path, color_ckpt):
    from PIL import Image

    from tests.conftest import run, smooth_image

    rgb = (smooth_image(64, 96, 3) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "p.jpg", quality=70, progressive=True, subsampling=2)
    r = run("image", str(tmp_path / "p.jpg"), "-o", str(tmp_path / "o.jpg"), "--strength", "0", "--model",
            str(color_ckpt))
    assert r.exit_code == 0, r.output
    with Image.open(tmp_path / "p.jpg") as a, Image.open(tmp_path / "o.jpg") as b:
        assert b.quantization == a.quantization
        assert b.info.get("progressive") or b.info.get("progression")
        from PIL import JpegImagePlugin

        assert JpegImagePlugin.get_sampling(b) == JpegImagePlugin.get_sampling(a)
        diff = np.abs(np.asarray(a).astype(int) - np.asarray(b).astype(int)).max()
    assert diff <= 4, diff  # one more decode-encode round with the same tables, not a new quality


def test_a_tiffs_compression_is_kept(tmp_path, gray_ckpt):
    from PIL import Image

    from tests.conftest import run

    Image.fromarray(np.zeros((32, 32), np.uint8) + 100).save(tmp_path / "s.tif", compression="tiff_lzw")
    r = run("image", str(tmp_path / "s.tif"), "-o", str(tmp_path / "o.tif"), "--model", str(gray_ckpt))
    assert r.exit_code == 0, r.output
    with Image.open(tmp_path / "o.tif") as out:
        assert out.info.get("compression") == "tiff_lzw"
