"""Progress on a terminal: a bar that counts megapixels or seconds of audio and files, and the time left
of a training run. Shown only on a terminal and without -q; everything here is for the command line."""

from __future__ import annotations

import math
import sys
from typing import Any

import click


class Meter:
    """Feeds a whole-number progress bar from fractional amounts: within-file progress (``add``) and,
    when a file ends however it ends, the rest of that file (``finish_file``). ``total`` is the sum of
    the sizes; the bar's length is that rounded up."""

    def __init__(self, bar: Any, total: float, files: int = 0) -> None:
        self.bar, self.total, self.done, self.in_file, self.shown = bar, total, 0.0, 0.0, 0
        self.files, self.files_done = files, 0

    def add(self, amount: float) -> None:
        self.in_file += amount
        self._show(self.done + self.in_file)

    def finish_file(self, size: float) -> None:
        # images: the next file may already have reported progress (this one is written in the
        # background meanwhile), so keep what exceeds this file's size
        self.done += size
        self.files_done += 1
        self.in_file = max(0.0, self.in_file - size)
        self._show(self.done + self.in_file, force=True)

    def _show(self, total: float, force: bool = False) -> None:
        if total >= self.total - 1e-9:  # the bar's length is the total rounded up: all done shows it full
            total = math.ceil(self.total)
        step = int(total) - self.shown
        if step > 0 or force:  # a file count that moves redraws the bar even when the amount does not
            self.bar.update(max(0, step), f"{self.files_done}/{self.files} files" if self.files else None)
            self.shown += max(0, step)


class NoBar:
    def __enter__(self) -> "NoBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def update(self, n: int, current_item: Any = None) -> None:
        pass


def shows_bar(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def bar(length: int, label: str, quiet: bool) -> Any:
    """A progress bar on stderr, shown only on a terminal and without -q (:func:`shows_bar`); else a no-op."""
    if not shows_bar(quiet):
        return NoBar()
    return click.progressbar(length=max(1, length), label=label, file=sys.stderr, show_pos=True,
                             item_show_func=lambda item: item)


def time_left(rec: dict[str, Any], previous: dict[str, Any]) -> str:
    """", about 12 min left": the steps still to go at the pace since the ``previous`` record (evaluation
    time included), capped by --max-time; "" for the first record of a process, which has no pace yet."""
    if not previous or rec["step"] <= previous["step"] or rec["step"] >= rec["total_steps"]:
        return ""
    pace = (rec["seconds"] - previous["seconds"]) / (rec["step"] - previous["step"])
    left = (rec["total_steps"] - rec["step"]) * pace
    if rec.get("max_time"):
        left = min(left, rec["max_time"] - rec["seconds"])
    if left <= 0:
        return ""
    text = f"{left:.0f} s" if left < 90 else f"{left / 60:.0f} min" if left < 90 * 60 else f"{left / 3600:.1f} h"
    return f", about {text} left"
