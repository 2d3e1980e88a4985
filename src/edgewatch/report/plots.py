"""PNG plots of an :class:`~edgewatch.report.analysis.Analysis`, drawn with matplotlib's Agg canvas.

Uses the object API (``Figure`` + ``FigureCanvasAgg``), not pyplot, so no global backend or figure state
is touched and no display is needed. A plot whose data is empty is not drawn (the page says why).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgewatch.report.analysis import Analysis

DPI = 96
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


@dataclass(frozen=True)
class Plot:
    name: str  # file name, e.g. latency_per_hop.png
    title: str
    caption: str


def _figure(width: float = 9.0, height: float = 4.2) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _latency(figure: Any, samples: dict[str, list[float]], titles: dict[str, str], heading: str) -> bool:
    import numpy as np

    keys = [k for k, v in samples.items() if v]
    if not keys:
        return False
    box, cdf = figure.subplots(1, 2)
    data = [samples[k] for k in keys]
    labels = [titles[k] for k in keys]
    box.boxplot(
        data,
        orientation="horizontal",
        tick_labels=labels,
        showfliers=True,
        whis=(1, 99),
        flierprops={"markersize": 2, "alpha": 0.3},
    )
    box.invert_yaxis()
    box.set_xlabel("ms (whiskers: p1–p99)")
    for key, label in zip(keys, labels, strict=True):
        values = np.sort(np.asarray(samples[key], dtype=float))
        fractions = np.arange(1, values.size + 1) / values.size
        # start at (first value, 0) so a single sample still shows as a step
        cdf.step(np.concatenate([values[:1], values]), np.concatenate([[0.0], fractions]), where="post",
                 label=label)
    cdf.set_xlabel("ms")
    cdf.set_ylabel("fraction of samples ≤ x")
    cdf.grid(alpha=0.3)
    # The percentiles are in the table above the plot: the legend names the curves only, at a readable size,
    # inside the axes where the curves leave room (bottom right: every CDF ends at the top).
    cdf.legend(fontsize="small", loc="lower right", framealpha=0.9)
    # Hops span sub-millisecond queue waits to second-long cloud calls: log scale above 1 ms, linear below
    # (symlog), so near-zero waits do not stretch the axis over decades of nothing.
    high = max(float(np.percentile(v, 99)) for v in data)
    top = max(max(v) for v in data)
    low = min(min(v) for v in data)
    symlog = high > 50 and min(float(np.percentile(v, 50)) for v in data) < high / 20
    for ax in (box, cdf):
        if symlog:
            ax.set_xscale("symlog", linthresh=1.0)
        # room beyond the largest sample, so the last flier and whisker are never cut at the frame
        ax.set_xlim(left=0 if low >= 0 else None, right=top * (1.6 if symlog else 1.08) if top > 0 else None)
    figure.suptitle(heading)
    return True


def _per_hop(figure: Any, analysis: Analysis) -> bool:
    titles = {k: v["title"] for k, v in analysis.summary["latency_ms"]["per_hop"].items()}
    return _latency(
        figure,
        analysis.hop_samples,
        titles,
        "Per-hop latency (each interval measured on one node's own clock)",
    )


def _cross(figure: Any, analysis: Analysis) -> bool:
    titles = {k: v["title"] for k, v in analysis.summary["latency_ms"]["cross_clock"].items()}
    return _latency(
        figure,
        analysis.cross_samples,
        titles,
        "Cross-clock latency (timestamps of two hosts: includes their clock skew)",
    )


def _throughput(figure: Any, analysis: Analysis) -> bool:
    if not analysis.throughput:
        return False
    axes = figure.subplots()
    bucket = analysis.throughput_bucket_s
    for camera, series in analysis.throughput.items():
        axes.plot([i * bucket for i in range(len(series))], series, label=camera, drawstyle="steps-post")
    axes.set_xlabel("seconds since the first processed frame (edge clock)")
    axes.set_ylabel(f"frames processed / s ({bucket:g} s buckets)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    axes.set_title("Throughput per camera")
    return True


def _bars(axes: Any, groups: dict[str, dict[str, float]], title: str, ylabel: str) -> None:
    categories = sorted({c for g in groups.values() for c in g})
    width = 0.8 / max(len(groups), 1)
    for i, (label, counts) in enumerate(groups.items()):
        xs = [j + (i - (len(groups) - 1) / 2) * width for j in range(len(categories))]
        bars = axes.bar(xs, [counts.get(c, 0) for c in categories], width, label=label)
        axes.bar_label(bars, fontsize="small", fmt="%g")
    axes.set_xticks(range(len(categories)), categories, rotation=20 if len(categories) > 4 else 0)
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    if len(groups) > 1:
        axes.legend(fontsize="small")


def _drops(figure: Any, analysis: Analysis) -> bool:
    drops = analysis.summary["drops"]
    if not drops["camera_side"] and not drops["edge_side"]:
        return False
    _bars(
        figure.subplots(),
        {"camera side": drops["camera_side"], "edge side (evicted)": drops["edge_side"]},
        "Dropped frames per camera",
        "frames",
    )
    return True


def _detection(figure: Any, analysis: Analysis) -> bool:
    ratios = analysis.summary["frames"]["detection_ratio_per_camera"]
    if not ratios:
        return False
    axes = figure.subplots()
    _bars(axes, {"frames with persons / frames processed": ratios}, "Detection ratio per camera", "ratio")
    axes.set_ylim(0, 1.1)
    return True


def _requests(figure: Any, analysis: Analysis) -> bool:
    per_track = analysis.summary["cloud"]["requests_per_track"]
    if not per_track["tracks"]:
        return False
    axes = figure.subplots()
    _bars(axes, {"tracks": per_track["distribution"]}, "Cloud requests per track", "tracks")
    axes.set_xlabel(f"requests (max {per_track['max']}, mean {per_track['mean']})")
    return True


def _verdicts(figure: Any, analysis: Analysis) -> bool:
    cloud = analysis.summary["cloud"]
    # one chart, one group per verdict: the cloud's answers, what the edge received and how tracks ended
    groups = {
        "answered by the cloud": cloud["verdicts_cloud"],
        "received by the edge": cloud["verdicts_edge"],
        "tracks decided": analysis.summary["tracks"]["decided"],
    }
    groups = {k: v for k, v in groups.items() if v}
    if not groups:
        return False
    _bars(figure.subplots(), groups, "Verdicts and track decisions", "count")
    return True


def _alarm_counts(figure: Any, analysis: Analysis) -> bool:
    alarms = analysis.summary["alarms"]
    groups = {
        k: v
        for k, v in {
            "raised (edge)": alarms["by_reason"],
            "received (alarm nodes)": alarms["received_by_reason"],
        }.items()
        if v
    }
    if not groups:
        return False
    _bars(figure.subplots(), groups, "Alarms by reason", "alarms")
    return True


def _timeline(figure: Any, analysis: Analysis) -> bool:
    if not analysis.timeline:
        return False
    axes = figure.subplots()
    clock = analysis.summary["alarms"]["timeline_clock"]
    run_start = analysis.summary["throughput"].get("start_t") if clock == "edge" else None
    t0 = min(run_start, analysis.timeline[0]["t"]) if run_start is not None else analysis.timeline[0]["t"]
    origin = "the first processed frame" if run_start is not None else "the first alarm"
    cameras = sorted({a["camera_id"] for a in analysis.timeline})
    reasons = sorted({a["reason"] for a in analysis.timeline})
    for i, reason in enumerate(reasons):
        points = [a for a in analysis.timeline if a["reason"] == reason]
        axes.scatter(
            [a["t"] - t0 for a in points],
            [cameras.index(a["camera_id"]) for a in points],
            marker=_MARKERS[i % len(_MARKERS)],
            s=60,
            label=reason,
        )
    axes.set_yticks(range(len(cameras)), cameras)
    axes.set_ylim(-0.5, len(cameras) - 0.5)
    axes.set_xlabel(f"seconds since {origin} ({clock} clock)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", title="reason")
    axes.set_title("Alarm timeline")
    return True


_PLOTS: tuple[tuple[Plot, Callable[[Any, Analysis], bool], tuple[float, float]], ...] = (
    (
        Plot(
            "latency_per_hop.png",
            "Per-hop latency",
            "Box plots (whiskers p1–p99) and CDFs of intervals each measured on a single node's clock.",
        ),
        _per_hop,
        (11.0, 5.6),
    ),
    (
        Plot(
            "latency_cross_clock.png",
            "Cross-clock latency",
            "Differences of timestamps taken by two hosts: they include the clock skew between them.",
        ),
        _cross,
        (11.0, 4.8),
    ),
    (
        Plot("throughput.png", "Throughput", "Frames processed per second by the edge, per camera."),
        _throughput,
        (9.0, 4.0),
    ),
    (
        Plot(
            "drops.png",
            "Drops",
            "Frames dropped by the camera node and evicted from the edge's per-camera buffer.",
        ),
        _drops,
        (8.0, 3.8),
    ),
    (
        Plot("detection_ratio.png", "Detection ratio", "Frames with at least one person / frames processed."),
        _detection,
        (8.0, 3.5),
    ),
    (
        Plot(
            "cloud_requests_per_track.png",
            "Cloud requests per track",
            "How many identify requests each track needed (0: decided or lost without one).",
        ),
        _requests,
        (8.0, 3.5),
    ),
    (
        Plot(
            "verdicts.png",
            "Verdicts",
            "Per verdict: answers the cloud gave, answers the edge received, and how tracks were decided.",
        ),
        _verdicts,
        (8.0, 3.6),
    ),
    (
        Plot("alarms.png", "Alarms", "Alarms raised by the edge and received by alarm nodes, by reason."),
        _alarm_counts,
        (8.0, 3.5),
    ),
    (
        Plot(
            "alarm_timeline.png",
            "Alarm timeline",
            "When each alarm was raised, per camera; marker by reason.",
        ),
        _timeline,
        (10.0, 3.5),
    ),
)


def draw_plots(analysis: Analysis, out_dir: Path) -> list[Plot]:
    """Write every plot that has data to ``out_dir``; returns the ones written, in page order."""
    written = []
    for plot, draw, (width, height) in _PLOTS:
        figure = _figure(width, height)
        if draw(figure, analysis):
            figure.savefig(out_dir / plot.name, dpi=DPI)
            written.append(plot)
    return written
