"""The report page's reader-first sections: headline, run settings, the alarms one by one (with snapshot
thumbnails when the alarm nodes saved snapshots), and verdicts in one table."""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: Longest side of an alarm thumbnail, pixels.
THUMB_PX = 160


def _e(value: Any) -> str:
    return html.escape("—" if value is None else str(value))


def table(headers: list[str], rows: list[list[Any]], raw_columns: frozenset[int] = frozenset()) -> str:
    """An HTML table; cells are escaped except in ``raw_columns`` (already HTML)."""
    def cell(index: int, value: Any) -> str:
        if index in raw_columns:
            return f"<td>{value}</td>"
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        return f'<td class="n">{_e(value)}</td>' if numeric else f"<td>{_e(value)}</td>"

    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cell(i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _ms(value: Any) -> str:
    return "—" if value is None else (f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms")


def _card(label: str, value: str, note: str = "") -> str:
    return (f'<div class="card"><div class="value">{_e(value)}</div><div class="label">{_e(label)}</div>'
            + (f'<div class="note">{_e(note)}</div>' if note else "") + "</div>")


def headline_section(head: dict[str, Any]) -> str:
    decided = ", ".join(f"{n} {state}" for state, n in sorted(head["decided"].items())) or "none decided"
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(head["alarms_by_reason"].items())) or "none"
    span = head["span_s"]
    sites = f" at {len(head['sites'])} sites" if len(head["sites"]) > 1 else ""
    cards = [
        _card("run length", "—" if span is None else f"{span:.0f} s", f"{head['cameras']} camera(s){sites}"),
        _card("frames processed", f"{head['frames_processed']:,}",
              f"of {head['frames_sent']:,} sent; {head['frames_dropped']:,} dropped"),
        _card("persons tracked", str(head["tracks"]), decided),
        _card("alarms", str(head["alarms_raised"]), reasons),
        _card("detection p50", _ms(head["detection_p50_ms"]), "per frame, on the edge"),
        _card("cloud round trip p50", _ms(head["cloud_round_trip_p50_ms"]), "edge → cloud → edge"),
        _card("camera → verdict p50", _ms(head["camera_to_verdict_p50_ms"]), "capture to the cloud's answer"),
    ]
    return (f'<div class="cards">{"".join(cards)}</div>'
            f'<p class="headline">{_e(head["alarms_sentence"])}</p>')


def settings_section(settings: dict[str, list[dict[str, Any]]], commands: list[str]) -> str:
    parts = ["<h2>Run settings</h2>"]
    labels = {"edges": "Edges", "cameras": "Cameras", "clouds": "Cloud"}
    shown = False
    for key, label in labels.items():
        entries = settings.get(key) or []
        if not entries:
            continue
        shown = True
        columns = sorted({k for e in entries for k in e} - {"node"})
        parts.append(f"<h3>{label}</h3>")
        parts.append(table(["node", *columns], [[e["node"], *(e.get(c) for c in columns)] for e in entries]))
    if commands:
        shown = True
        listing = html.escape("\n".join(commands))
        parts.append(f"<details><summary>Command lines of this run ({len(commands)})</summary>"
                     f"<pre>{listing}</pre></details>")
    if not shown:
        parts.append('<p class="muted">The logs hold no start-up settings (nodes log them when they start).</p>')
    return "\n".join(parts)


def thumbnail(path: Path) -> str | None:
    """A small JPEG of ``path`` as a data URI, or None when it cannot be read as an image."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            image.thumbnail((THUMB_PX, THUMB_PX))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, "JPEG", quality=80)
    except (OSError, ValueError, ImportError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def find_snapshots(folders: list[Path], event_ids: set[str]) -> dict[str, Path]:
    """Snapshot files saved by alarm nodes (``<time>_<camera>_<event id>_frame.jpg`` or ``..._crop.jpg``)
    under ``folders``, by event id; the annotated full frame is preferred to the crop."""
    found: dict[str, Path] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.jp*g")):
            for event_id in event_ids:
                if event_id in path.name and (event_id not in found or path.stem.endswith("_frame")):
                    found[event_id] = path
    return found


def alarms_section(rows: list[dict[str, Any]], raised_total: int, snapshots: dict[str, Path]) -> str:
    if not rows:
        return "<h2>Alarms</h2><p>No alarm was raised.</p>"
    body = []
    for row in rows:
        when = (datetime.fromtimestamp(row["t"], UTC).strftime("%H:%M:%S") if row["t"] else None)
        path = snapshots.get(row["event_id"])
        uri = thumbnail(path) if path else None
        image = f'<img class="thumb" src="{uri}" alt="snapshot of alarm {_e(row["event_id"])}">' if uri else "—"
        delivered = ", ".join(row["received_by"]) or "not received"
        body.append([
            when, row["site"], row["camera"], row["track"], row["reason"],
            None if row["similarity"] is None else round(row["similarity"], 2),
            f"{delivered}{'; acknowledged' if row['acked'] else ''}", row["detail"], image,
        ])
    note = "" if len(rows) >= raised_total else f" (the last {len(rows)} of {raised_total})"
    return (f"<h2>Alarms</h2><p>Every alarm the edge raised{note}, times in UTC.</p>"
            + table(["time", "site", "camera", "track", "reason", "similarity", "delivered to", "detail",
                     "snapshot"], body, raw_columns=frozenset({8})))


def verdicts_table(cloud: dict[str, Any], decided: dict[str, Any]) -> str:
    """One table instead of three: per verdict, what the cloud answered, what the edge saw and how tracks ended."""
    names = sorted({*cloud["verdicts_cloud"], *cloud["verdicts_edge"], *decided})
    if not names:
        return '<p class="muted">No verdicts in these logs.</p>'
    return table(
        ["verdict / state", "answered by the cloud", "received by the edge", "tracks decided"],
        [[n, cloud["verdicts_cloud"].get(n, 0), cloud["verdicts_edge"].get(n, 0), decided.get(n, 0)] for n in names],
    )


def run_title(log_dir: Path, summary: dict[str, Any]) -> str:
    """``edgewatch run report: 20261130-071500 (2 cameras, 61 s)``; a ``logs`` folder is named by its parent."""
    folder = log_dir.resolve()
    name = folder.parent.name if folder.name in ("logs", "collected", "") and folder.parent.name else folder.name
    head = summary.get("headline") or {}
    span = head.get("span_s")
    extra = f" ({head.get('cameras', 0)} camera(s){'' if span is None else f', {span:.0f} s'})"
    return f"edgewatch run report: {name}{extra}"
