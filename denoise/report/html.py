"""The report page itself: records in, one HTML string out. Styles and the few lines of script are inline
and every media path is relative, so the page needs nothing from the network.

In the page: click a picture to flip it between before and after in place; the red square on each
thumbnail is the detail shown enlarged below it. Pictures load as they scroll into view and audio only
when played, so a run of a thousand files opens at once. If media are missing (the ``_files`` folder
was not copied with the page), a banner says so.
"""

from __future__ import annotations

import html
import json
from typing import Any

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1400px;padding:1em 2em;color:#222;background:#fafafa}
h1{margin:.2em 0}h2{font-size:1em;margin:0 0 .3em;word-break:break-all}
table.info{border-collapse:collapse;margin:.5em 2em .5em 0;display:inline-table;vertical-align:top}
table.info td,table.info th{padding:2px 10px 2px 0;text-align:left;font-weight:normal}
table.info th{color:#666}
.file{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.8em 1em;margin:1em 0}
.file.failed{border-color:#c22;background:#fff5f5}.file.skipped{color:#666}
.meta{color:#555;margin:.2em 0 .6em;word-break:break-all}
.pair{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
figure{margin:0;cursor:pointer}.frame{position:relative;display:inline-block;line-height:0}
figure img{display:block;max-width:min(640px,44vw);height:auto;background:#eee}
figure .alt,figure.flipped .main{display:none}figure.flipped .alt{display:block}
figcaption{font-size:13px;color:#444}figcaption .alt{display:none}
figure.flipped figcaption .main{display:none}figure.flipped figcaption .alt{display:inline}
.box{position:absolute;box-sizing:border-box;border:2px solid #f22;pointer-events:none}
figure.detail img{image-rendering:pixelated;width:288px;height:288px;max-width:none}
.spec{max-width:100%;height:auto}audio{width:320px}
.players{display:flex;gap:2em;flex-wrap:wrap;margin:.4em 0}
#missing{display:none;background:#d33;color:#fff;padding:.6em 1em;border-radius:4px}
.failedlist a{color:#b00}
"""

_SCRIPT = """
document.addEventListener('click',function(e){var f=e.target.closest('figure.flip');if(f)f.classList.toggle('flipped');});
var missing=0;
document.addEventListener('error',function(e){var t=e.target;if(t.tagName==='IMG'||t.tagName==='AUDIO'||t.tagName==='SOURCE'){
missing++;document.body.dataset.missingMedia=missing;var m=document.getElementById('missing');m.style.display='block';
m.textContent=missing+' media file(s) could not be loaded: keep the '+m.dataset.folder+' folder next to this page.';}},true);
"""


_HINT = {"image": '<p style="color:#666">Click a picture to flip it between before and after; the red square marks '
                  'the detail shown enlarged below.</p>'}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def noise_summary(rec: dict[str, Any]) -> str:
    """'σ 24.8 → 2.1' or 'SNR 5.0 → 21.3 dB, floor -41.0 → -63.2 dBFS' or ''."""
    b, a = rec.get("noise_before"), rec.get("noise_after")
    if rec.get("noise_unknown"):
        return f"noise not estimated: {rec['noise_unknown']}"
    if not b or not a:
        return ""
    if "sigma" in b:
        num = lambda d: (f"not measurable ({d['unmeasurable']})" if d.get("unmeasurable") else  # noqa: E731
                         "unknown" if d["sigma"] is None else f"{d['sigma']:.1f}")  # unknown: too clipped to tell
        return f"noise σ {num(b)} → {num(a)} (0–255)"
    db = lambda v: "not measurable" if v is None else f"{v:.1f}"  # noqa: E731 -- see AudioNoise.unmeasurable
    return (f"SNR {db(b['snr_db'])} → {db(a['snr_db'])} dB, noise floor {db(b['noise_floor_dbfs'])} → "
            f"{db(a['noise_floor_dbfs'])} dBFS")


def _meta(rec: dict[str, Any]) -> str:
    parts = [f"→ {_e(rec['output'])}" if rec.get("output") else "", f"{rec['seconds']:.2f} s", _e(noise_summary(rec))]
    if rec.get("extras_error"):
        parts.append(f"report entry incomplete: {_e(rec['extras_error'])}")
    return " · ".join(p for p in parts if p)


def _figure(main: str, alt: str, caption: str, box: str = "", cls: str = "flip") -> str:
    return (f'<figure class="{cls}"><div class="frame"><img class="main" loading="lazy" src="{main}" '
            f'alt="{caption}"><img class="alt" loading="lazy" src="{alt}" alt="{caption} (flipped)">{box}</div>'
            f'<figcaption><span class="main">{caption}</span><span class="alt">flipped: '
            f'{"after" if caption.startswith("before") else "before"}</span></figcaption></figure>')


def _image_body(m: dict[str, Any]) -> str:
    left, top, side = m["crop"]
    w, h = m["width"], m["height"]
    box = (f'<div class="box" style="left:{100 * left / w:.2f}%;top:{100 * top / h:.2f}%;'
           f'width:{100 * side / w:.2f}%;height:{100 * side / h:.2f}%"></div>')
    b, a, bd, ad = m["before"], m["after"], m["before_detail"], m["after_detail"]
    return (f'<div class="pair">{_figure(b, a, "before", box)}{_figure(a, b, "after", box)}</div>'
            f'<div class="pair" style="margin-top:8px">{_figure(bd, ad, f"before, detail {side}×{side} px", cls="flip detail")}'
            f'{_figure(ad, bd, f"after, detail {side}×{side} px", cls="flip detail")}</div>')


def _audio_body(m: dict[str, Any]) -> str:
    players = "".join(f'<div>{role} (first {m["preview_seconds"]:.0f} s)<br><audio controls preload="none" '
                      f'src="{m[role]}"></audio></div>' for role in ("before", "after"))
    return (f'<div class="players">{players}</div><img class="spec" loading="lazy" src="{m["spectrogram"]}" '
            'alt="spectrograms before and after">')


def _entry(index: int, rec: dict[str, Any]) -> str:
    status = rec["status"]
    head = f'<section class="file {status}" id="f{index}"><h2>{_e(rec["input"])}</h2>'
    if status != "done":
        return f'{head}<p class="meta">{status}: {_e(rec.get("reason") or "")}</p></section>'
    media = rec.get("media")
    body = "" if media is None else _image_body(media) if "crop" in media else _audio_body(media)
    return f'{head}<p class="meta">{_meta(rec)}</p>{body}</section>'


def _info_table(title: str, rows: dict[str, Any]) -> str:
    cells = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows.items())
    return f'<table class="info"><caption style="text-align:left"><b>{_e(title)}</b></caption>{cells}</table>'


def render(domain: str, header: dict[str, Any], records: list[dict[str, Any]], versions: dict[str, str]) -> str:
    """The whole page. ``header``: ``totals`` (done, failed, skipped, seconds), ``models`` (list of {name,
    sha256}), ``settings`` (label -> value), ``media_folder`` (its name, for the missing-media banner)."""
    t = header["totals"]
    totals = {"files": len(records), "done": t["done"], "failed": t["failed"], "skipped": t["skipped"],
              "time": f"{t['seconds']:.1f} s"}
    models = {m["name"]: f"sha256 {m['sha256'][:12]}" for m in header.get("models", [])} or {"–": "no file denoised"}
    failed = [(i, r) for i, r in enumerate(records) if r["status"] == "failed"]
    failed_list = "" if not failed else ('<p class="failedlist"><b>Failed:</b> ' + ", ".join(
        f'<a href="#f{i}">{_e(r["input"])}</a>' for i, r in failed) + "</p>")
    entries = "\n".join(_entry(i, r) for i, r in enumerate(records))
    data = json.dumps({"domain": domain, "totals": totals}).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>denoise report: {t['done']} of {len(records)} {domain} files</title><style>{_STYLE}</style></head>
<body data-missing-media="0">
<h1>denoise {domain} report</h1>
<div id="missing" data-folder="{_e(header.get('media_folder', ''))}"></div>
{_info_table("Totals", totals)}{_info_table("Model", models)}{_info_table("Settings", header.get("settings", {}))}{_info_table("Software", versions)}
{failed_list}
{_HINT.get(domain, "")}
{entries}
<script type="application/json" id="summary">{data}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
