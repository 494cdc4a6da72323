"""Records written for other programs (JSON, CSV) and names shown to people, made safe in one place.

- JSON is always valid: NaN and infinities become ``null`` with a ``KEY_reason`` beside them
  (``json.dumps`` would write bare ``NaN``, which JSON parsers refuse).
- File names that are not valid UTF-8 (Python keeps their bytes as lone surrogates) are shown with the
  bad bytes escaped (``caf\\xe9.png``), so that the JSON can be encoded and still names the file; control
  characters (a newline in a name) are escaped too, so that a one-line message stays one line.
- CSV cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or
  a carriage return) are prefixed with ``'`` (OWASP's advice); numbers are left alone.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import PurePath
from typing import Any, Iterable, TextIO

_CONTROL = {i: f"\\x{i:02x}" for i in range(32)} | {0x7F: "\\x7f"}


def shown_name(name: str | PurePath) -> str:
    """A file name as text that can be encoded and printed on one line: undecodable bytes as ``\\xNN``,
    control characters escaped."""
    text = str(name)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text.translate(_CONTROL)


def json_safe(obj: Any) -> Any:
    """``obj`` with non-finite floats replaced by None (and a ``KEY_reason`` beside each in a dict),
    strings and paths through :func:`shown_name`, tuples as lists."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, PurePath)):
        return shown_name(obj)
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out[str(k)] = json_safe(v)
            if isinstance(v, float) and not math.isfinite(v):
                out[f"{k}_reason"] = "not a finite number (" + ("NaN" if math.isnan(v) else
                                                                 "infinite" if v > 0 else "minus infinite") + ")"
        return out
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def to_json(obj: Any, **kw: Any) -> str:
    """Valid JSON text of ``obj`` (see :func:`json_safe`); ``kw`` go to ``json.dumps``."""
    return json.dumps(json_safe(obj), allow_nan=False, ensure_ascii=False, **kw)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as text rather than running it as a formula."""
    if isinstance(value, (int, float)) or value is None:
        return value
    text = shown_name(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(out: TextIO, columns: list[str], rows: Iterable[dict[str, Any]]) -> None:
    """A header and one line per row, every cell through :func:`csv_cell`."""
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
