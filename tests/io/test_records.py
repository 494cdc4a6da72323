"""denoise.io.records: JSON that parsers accept, CSV a spreadsheet does not run, names on one line."""

import io as stdio
import json
import math
import os

from denoise.io import csv_cell, shown_name, to_json, write_csv


def test_non_finite_numbers_become_null_with_a_reason():
    text = to_json({"psnr": math.inf, "snr": math.nan, "ok": 1.5, "rows": [{"x": -math.inf}]})
    back = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))  # refuses NaN
    assert back["psnr"] is None and back["psnr_reason"] == "not a finite number (infinite)"
    assert back["snr"] is None and "NaN" in back["snr_reason"] and back["ok"] == 1.5
    assert back["rows"][0]["x"] is None


def test_names_that_are_not_utf8_are_escaped_not_lost():
    name = os.fsdecode(b"caf\xe9.png")  # what Python makes of a Latin-1 file name
    text = to_json({"input": name})
    text.encode("utf-8")  # encodable: the lone surrogate is gone
    assert json.loads(text)["input"] == "caf\\xe9.png"


def test_a_newline_in_a_name_stays_on_one_line():
    assert shown_name("a\nb.png") == "a\\x0ab.png"


def test_csv_cells_that_start_a_formula_are_quoted():
    assert csv_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    for start in "+-@":
        assert csv_cell(start + "1.png") == "'" + start + "1.png"
    assert csv_cell(-3.5) == -3.5 and csv_cell("photo.png") == "photo.png"
    out = stdio.StringIO()
    write_csv(out, ["path", "score"], [{"path": "=cmd|' /C calc'!A0", "score": 1}])
    assert out.getvalue().splitlines()[1].startswith("'=cmd")
