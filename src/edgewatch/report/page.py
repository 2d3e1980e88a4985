"""The self-contained ``report.html``: tables of the summary and every plot embedded as a PNG data URI.

Embedding keeps the page one file that can be mailed or attached to a ticket; the PNGs are also written
beside it for slides and docs.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from edgewatch.report import page_sections as sections
from edgewatch.report.plots import Plot

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;
color:#222}
h1{margin-bottom:.2rem} h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0} th,td{border:1px solid #ddd;padding:.25rem .6rem;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums} th{background:#f4f4f4}
.warn{background:#fff6e0;border-left:4px solid #e0a000;padding:.5rem 1rem}
.muted{color:#777} figure{margin:1rem 0} img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.9rem}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem .9rem;min-width:9.5rem;background:#fafafa}
.card .value{font-size:1.6rem;font-weight:600} .card .label{color:#444} .card .note{color:#777;font-size:.85rem}
.headline{font-size:1.1rem} img.thumb{max-width:160px;border:1px solid #ccc}
td{vertical-align:top} details{margin:.6rem 0} pre{white-space:pre-wrap;font-size:.85rem}
"""


def _e(value: Any) -> str:
    return html.escape("—" if value is None else str(value))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    return sections.table(headers, rows)


def _counts(counts: dict[str, Any], key: str = "", value: str = "count") -> str:
    if not counts:
        return '<p class="muted">none</p>'
    return _table([key, value], [[k, v] for k, v in counts.items()])


def _round(value: Any) -> Any:
    """Latency cells: 1 decimal below 100 ms, whole milliseconds above (the page is for reading)."""
    if not isinstance(value, (int, float)):
        return value
    return round(value, 1) if abs(value) < 100 else round(value)


def _latency_table(figures: dict[str, Any], clock_column: str) -> str:
    rows = []
    for entry in figures.values():
        clock = (
            entry.get("measured_by") if clock_column == "measured by" else " → ".join(entry.get("clocks", []))
        )
        if entry["n"]:
            rows.append(
                [
                    entry["title"],
                    clock,
                    entry["n"],
                    *(_round(entry[k]) for k in ("p50", "p90", "p99", "mean", "max")),
                    entry["source"],
                ]
            )
        else:
            rows.append([entry["title"], clock, 0, None, None, None, None, None, entry["unavailable"]])
    return _table(
        ["figure", clock_column, "n", "p50 ms", "p90 ms", "p99 ms", "mean ms", "max ms", "source"], rows
    )


def _held(stats: Any) -> str | None:
    if not isinstance(stats, dict) or not stats.get("chunks"):
        return None
    held = f"held {stats['held_ms_mean']:.1f} ± {stats['held_ms_sd']:.1f} ms ({stats['chunks']} chunks)"
    if isinstance(stats.get("drawn_ms_mean"), (int, float)):
        return f"drawn {stats['drawn_ms_mean']:.1f} ± {stats.get('drawn_ms_sd') or 0:.1f} ms; {held}"
    return held


def _wan_section(links: list[dict[str, Any]], latency: dict[str, Any]) -> str:
    """Configured WAN conditions next to what the proxy held and the latency figures the link adds to."""
    if not links:
        return ""
    titles = {k: v["title"] for k, v in {**latency["per_hop"], **latency["cross_clock"]}.items()}
    rows = [
        [
            e["link"],
            e["configured"],
            _held(e["held_upstream"]),
            _held(e["held_downstream"]) or "not shaped",
            "; ".join(f"{titles.get(k, k)} {v:g} ms" for k, v in e["measured_p50_ms"].items() if v is not None),
        ]
        for e in links
    ]
    return (
        "<h2>Network conditions (WAN injector)</h2><p>Links shaped by <code>edgewatch wan</code>: the "
        "configured delay ± spread; the delays its proxy drew per chunk and how long it really held them (mean ± "
        "sd; upstream = toward the server; a chunk never overtakes the one ahead, so a message of several chunks "
        "waits the largest of their draws); and the p50 of the measured figures that cross the link.</p>"
        + _table(["link", "configured", "upstream", "downstream", "measured p50 (crosses this link)"], rows)
    )


def _figure(plot: Plot, out_dir: Path) -> str:
    data = base64.b64encode((out_dir / plot.name).read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_e(plot.title)}">'
        f"<figcaption>{_e(plot.caption)} (also <code>{_e(plot.name)}</code>)</figcaption></figure>"
    )


def _drops_section(drops: dict[str, Any], plot: str) -> str:
    cams = sorted({*drops["camera_side"], *drops["edge_side"]})
    if not cams:
        return "<h2>Drops</h2><p>No frame was dropped, at the cameras or at the edge.</p>"
    return "<h2>Drops</h2>" + _table(
        ["camera", "camera side", "edge side (evicted)", "camera-side reasons"],
        [
            [cam, drops["camera_side"].get(cam, 0), drops["edge_side"].get(cam, 0),
             ", ".join(f"{k} {v}" for k, v in drops["camera_side_reasons"].get(cam, {}).items()) or None]
            for cam in cams
        ],
    ) + plot


def _input_section(inp: dict[str, Any]) -> str:
    unknown = inp["unknown_events"]
    return "\n".join([
        "<h2>Input</h2>",
        (f'<p class="muted">{len(inp["files"])} log file(s), {inp["lines"]:,} lines, '
         f"{inp['malformed_lines']} malformed line(s) skipped.</p>"),
        f"<details><summary>Log files and nodes ({len(inp['files'])} files)</summary>",
        _table(["node", "role"], [[n, r or "unknown"] for n, r in inp["nodes"].items()]),
        _table(
            ["file", "lines", "used", "malformed", "nodes"],
            [[f["path"], f["lines"], f["used"], f["malformed"], ", ".join(f["nodes"])] for f in inp["files"]],
        ),
        "</details>",
        (f"<details><summary>{len(unknown)} kind(s) of event not used by the report "
         f"({sum(unknown.values()):,} lines)</summary>{_counts(unknown, 'event')}</details>" if unknown else ""),
    ])


def render_page(summary: dict[str, Any], plots: list[Plot], out_dir: Path, title: str,
                commands: list[str] | None = None, snapshots: dict[str, Path] | None = None) -> str:
    """The whole page as a string; ``out_dir`` holds the PNGs named in ``plots``; ``commands`` are the run's
    node command lines (a demo run folder keeps them), ``snapshots`` alarm snapshot files by event id."""
    figures = {p.name: _figure(p, out_dir) for p in plots}

    def plot(name: str) -> str:
        return figures.get(name, f'<p class="muted">no plot: no data for {_e(name)}</p>')

    inp = summary["input"]
    frames, drops, cloud, alarms = summary["frames"], summary["drops"], summary["cloud"], summary["alarms"]
    latency = summary["latency_ms"]
    missing = "".join(f"<li>{_e(m)}</li>" for m in summary["missing"])
    parts = [
        (
            f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
            f"<style>{_STYLE}</style></head><body>"
        ),
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">generated {_e(summary.get("generated_at"))} from {_e(summary.get("log_dir"))}</p>',
        (f'<div class="warn"><strong>Missing data</strong><ul>{missing}</ul></div>' if missing else ""),
        sections.headline_section(summary["headline"]) if "headline" in summary else "",
        sections.alarms_section(summary.get("alarm_list", []), alarms["raised"], snapshots or {}),
        plot("alarm_timeline.png"),
        sections.settings_section(summary.get("settings", {}), commands or []),
        _wan_section(summary.get("wan", []), latency),
        (
            "<h2>Per-hop latency</h2><p>Each interval is measured and logged by one node on its own clock, so "
            "clock skew between hosts never enters these figures.</p>"
        ),
        _latency_table(latency["per_hop"], "measured by"),
        plot("latency_per_hop.png"),
        (
            '<h2>Cross-clock latency</h2><p class="warn">Cross-clock: these subtract timestamps taken by two '
            "different hosts, so they include the skew between their clocks. Read them as indicative only; they "
            "are never mixed into the per-hop figures.</p>"
        ),
        _latency_table(latency["cross_clock"], "clocks"),
        plot("latency_cross_clock.png"),
        "<h2>Frames and throughput</h2>",
        _table(
            [
                "camera",
                "sent",
                "received",
                "processed",
                "with persons",
                "detection ratio",
                "mean fps",
                "peak fps",
            ],
            [
                [
                    cam,
                    frames["sent"].get(cam, 0),
                    frames["received"].get(cam, 0),
                    frames["processed"].get(cam, 0),
                    frames["with_persons"].get(cam, 0),
                    frames["detection_ratio_per_camera"].get(cam),
                    summary["throughput"]["per_camera"].get(cam, {}).get("mean_fps"),
                    summary["throughput"]["per_camera"].get(cam, {}).get("peak_fps"),
                ]
                for cam in sorted({*frames["sent"], *frames["received"], *frames["processed"]})
            ],
        ),
        f"<p>Detection ratio overall: <strong>{_e(frames['detection_ratio'])}</strong></p>",
        plot("throughput.png"),
        plot("detection_ratio.png"),
        _drops_section(drops, plot("drops.png") if "drops.png" in figures else ""),
        "<h2>Cloud requests and verdicts</h2>",
        (
            f"<p>{cloud['requests']} request(s) answered, {cloud['failures']} failed. Requests per track: "
            f"{cloud['requests_per_track']['tracks']} track(s), max {_e(cloud['requests_per_track']['max'])}, "
            f"mean {_e(cloud['requests_per_track']['mean'])}.</p>"
        ),
        plot("cloud_requests_per_track.png"),
        sections.verdicts_table(cloud, summary["tracks"]["decided"]),
        plot("verdicts.png"),
        "<h2>Alarm counts</h2>",
        (
            f"<p>{alarms['raised']} raised by the edge, {alarms['received_events']} distinct alarm(s) received "
            f"by alarm nodes ({alarms['received']} deliveries), {alarms['acked']} acknowledged.</p>"
        ),
        plot("alarms.png"),
        _input_section(inp),
        "</body></html>",
    ]
    return "\n".join(parts)
