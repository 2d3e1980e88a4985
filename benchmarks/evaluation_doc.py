"""Plots and the Markdown page of benchmarks/original_evaluation.py (kept apart: figures vs. presentation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def draw_plots(results: list[dict[str, Any]], original: dict[str, Any], img_dir: Path) -> list[str]:
    """Two PNGs in ``img_dir``; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img_dir.mkdir(parents=True, exist_ok=True)
    names = []

    # 1. camera -> decision per configuration (log scale), with the original's medians where it had them
    fig, ax = plt.subplots(figsize=(10, 5.2), dpi=110)
    labels = [r["label"] for r in results]
    data = [r["_decision_samples"] or [float("nan")] for r in results]
    ax.boxplot(data, showfliers=True, whis=(5, 95))
    ax.set_xticks(range(1, len(labels) + 1), labels)
    ax.set_yscale("log")
    ax.set_ylabel("camera → decision (ms, log scale)")
    ax.set_title("edgewatch, 2 cameras per edge: camera → decision per frame (box 25–75 %, whiskers 5–95 %)")
    by_rate = original["round_trip_median_ms_by_rate"]
    for i, r in enumerate(results, 1):
        if not r["wan"] and r["fps"] in by_rate:
            ax.scatter([i], [by_rate[r["fps"]]], marker="D", color="crimson", zorder=3,
                       label="original system, median round trip" if i == 1 else None)
        if r["wan"] and r["fps"] == 0.5:
            ax.scatter([i], [original["round_trip_with_delay_ms"]["median"]], marker="s", color="darkorange",
                       zorder=3, label="original system with N(150, 20) ms, median")
    ax.legend(loc="upper left", fontsize=10)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(img_dir / "evaluation_round_trip.png")
    plt.close(fig)
    names.append("evaluation_round_trip.png")

    # 2. median per hop, edgewatch's configurations next to the original's two per-hop medians
    hops = [("detection_ms", "detection"), ("edge_queue_ms", "edge queue"),
            ("cloud_identify_ms", "cloud identify"), ("cloud_round_trip_ms", "edge→cloud→edge")]
    fig, ax = plt.subplots(figsize=(10, 5.2), dpi=110)
    width = 0.8 / (len(results) + 1)
    for j, r in enumerate(results):
        values = [r[key]["median"] or 0.0 for key, _ in hops]
        ax.bar([i + j * width for i in range(len(hops))], values, width, label=r["label"])
    ax.bar([0 + len(results) * width, 2 + len(results) * width],
           [original["edge_processing_ms"]["median"], original["cloud_ms_no_delay"]["median"]], width,
           color="0.25", hatch="//", edgecolor="white", label="original system")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(hops))], [title for _, title in hops])
    ax.set_ylabel("median (ms)")
    ax.set_title("Median per hop")
    ax.legend(fontsize=10, ncols=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(img_dir / "evaluation_per_hop.png")
    plt.close(fig)
    names.append("evaluation_per_hop.png")
    return names


def _f(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def render_doc(data: dict[str, Any], plots: list[str], doc_dir: Path) -> str:
    results, original, hw = data["results"], data["original"], data["hardware"]
    by = {(r["fps"], r["wan"]): r for r in results}
    low = by.get((0.5, False)) or results[0]
    low_wan = by.get((0.5, True)) or results[-1]
    minutes = sum(r["wall_s"] for r in results) / 60
    intro = (
        f"Produced by `python benchmarks/original_evaluation.py` (one command, about {minutes:.0f} minutes "
        f"here): {len(results)} runs of the whole chain as real processes on loopback, {data['cameras']} cameras "
        f"per edge, {data['duration_s']:g} s each, with and without `edgewatch wan` adding N(150 ms, 20 ms) "
        f"(`{data['wan']}`) to every edge → cloud request. Every figure below comes from the nodes' own JSON "
        "logs (`docs/evaluation.json` has them all)."
    )
    measures = [
        ("- **Original system**: every frame goes camera → edge (YOLOv8s) → cloud (face recognition) → back; "
         "its round trip is that whole path for each frame, so it includes the cloud and, when added, the WAN "
         "delay on every frame. Frames queue at the edge: nothing is dropped, so a slow edge makes the queue "
         "(and the round trip) grow without bound."),
        ("- **edgewatch**: the edge detects and tracks every frame and asks the cloud once per person (per "
         "track), not per frame. The newest frame wins when the edge is busy: older waiting frames are dropped "
         "and counted, so latency stays bounded and load shows up as drops instead."),
        ("- **The comparable figure, camera → decision**: per processed frame, from the camera's capture time "
         "until the edge knows what the frame shows: detection done, and for a frame whose person needed the "
         "cloud (a new track), the cloud's verdict too. For the original system that is its round trip. All "
         "nodes run on one host here, so the camera's and the edge's clocks are the same clock."),
        ("- Per hop: *detection* is ONNX inference of one frame (edge); *edge queue* the wait before it; "
         "*edge processing* their sum (the original's \"edge processing\"); *cloud identify* the cloud's own "
         "time for one request (the original's \"cloud\"); *edge → cloud → edge* the request as the edge sees "
         "it, including the WAN delay when shaped."),
    ]
    o_edge, o_rt = original["edge_processing_ms"], original["round_trip_with_delay_ms"]
    e_edge, w_dec, w_ver = low["edge_processing_ms"], low_wan["camera_to_decision_ms"], low_wan["camera_to_verdict_ms"]
    lines = [
        "# The original evaluation, reproduced on edgewatch", "", intro, "",
        "## What each round trip measures", "", *measures, "",
        "## Side by side", "",
        _row(["figure", "original system", "edgewatch (this machine)"]),
        _row(["---", "---", "---"]),
        _row(["edge processing, median / std / max (ms)",
              f"{_f(o_edge['median'])} / {_f(o_edge['std'])} / {_f(o_edge['max'])}",
              f"{_f(e_edge['median'])} / {_f(e_edge['std'])} / {_f(e_edge['max'])} (0.5 fps)"]),
        _row(["cloud, median, no added delay (ms)", _f(original["cloud_ms_no_delay"]["median"]),
              (f"{_f(low['cloud_identify_ms']['median'])} identify; {_f(low['cloud_round_trip_ms']['median'])} "
              "edge → cloud → edge")]),
        _row(["round trip with N(150, 20) ms: median / mean / std (ms)",
              f"{_f(o_rt['median'])} / {_f(o_rt['mean'])} / {_f(o_rt['std'])}",
              (f"camera → decision {_f(w_dec['median'])} / {_f(w_dec['mean'])} / {_f(w_dec['std'])}; frames "
              f"that waited for a verdict: median {_f(w_ver['median'])} (n={w_ver['n']})")]),
    ]
    for fps, ms in original["round_trip_median_ms_by_rate"].items():
        mine = by.get((fps, False))
        lines.append(_row([f"2 cameras at {fps:g} fps: median round trip (ms)", _f(ms),
                           f"camera → decision {_f(mine['camera_to_decision_ms']['median'])}" if mine else "not run"]))
    lines += [
        "", "## Every run", "",
        _row(["run", "frames sent / processed / dropped at edge", "detection p50 / max", "edge queue p50 / max",
              "cloud identify p50", "edge→cloud→edge p50", "camera → decision p50 / p90 / max (n)",
              "cloud requests / tracks", "alarms received"]),
        _row(["---"] * 9),
    ]
    for r in results:
        d = r["camera_to_decision_ms"]
        lines.append(_row([
            r["label"], f"{r['frames_sent']} / {r['frames_processed']} / {r['frames_dropped_edge']}",
            f"{_f(r['detection_ms']['median'])} / {_f(r['detection_ms']['max'])}",
            f"{_f(r['edge_queue_ms']['median'])} / {_f(r['edge_queue_ms']['max'])}",
            _f(r["cloud_identify_ms"]["median"]), _f(r["cloud_round_trip_ms"]["median"]),
            f"{_f(d['median'])} / {_f(d['p90'])} / {_f(d['max'])} ({d['n']})",
            f"{r['cloud_requests']} / {r['tracks']}", r["alarms_received"],
        ]))
    lines += ["", *[f"![{name}](img/{name})" for name in plots], ""]
    load = ", ".join(map(str, hw["load_at_start"]))
    lines += [
        "## Hardware", "",
        _row(["", "original system", "edgewatch run"]),
        _row(["---", "---", "---"]),
        _row(["edge", "AWS EC2 t2.medium: 2 vCPU (burstable), 4 GB",
              f"{hw['cpu']}, {hw['cores']} cores, {hw['memory_gb']} GB, {hw['os']}, Python {hw['python']}"]),
        _row(["cloud", "a separate instance", "the same machine (all nodes on loopback)"]),
        _row(["detector", "YOLOv8s on CPU", "NanoDet-g, ONNX Runtime, 8-bit weights, 320 px input"]),
        _row(["cloud requests", "one per frame", "one per track (person appearance), re-asked only while open"]),
        "",
        (f"Load average when the run started: {load}; the machine was shared with other work, so figures on "
         "an idle machine are lower. The WAN delay comes from a TCP proxy (`edgewatch wan`) on the request "
         "direction, not from netem: the kernel here has no netem."),
        "", "## Reading it", "", *reading(results, original, by), "",
    ]
    return "\n".join(lines)


def reading(results: list[dict[str, Any]], original: dict[str, Any], by: dict[Any, dict[str, Any]]) -> list[str]:
    """The conclusions, each computed from this run's figures (nothing here is written by hand)."""
    out = []
    low = by.get((0.5, False))
    if low and low["detection_ms"]["median"]:
        ratio = original["edge_processing_ms"]["median"] / low["detection_ms"]["median"]
        out.append(f"- Detection took a median {_f(low['detection_ms']['median'])} ms per frame, "
                   f"{ratio:.0f}× less than the original's {_f(original['edge_processing_ms']['median'])} ms.")
    for fps, theirs in original["round_trip_median_ms_by_rate"].items():
        mine = by.get((fps, False))
        if mine and mine["camera_to_decision_ms"]["median"] is not None:
            out.append(f"- 2 cameras at {fps:g} fps: camera → decision median "
                       f"{_f(mine['camera_to_decision_ms']['median'])} ms, "
                       f"{mine['frames_dropped_edge']} frame(s) dropped at the edge (original: {_f(theirs)} ms).")
    top = max(results, key=lambda r: r["fps"])
    out.append(f"- At the highest rate ({top['fps']:g} fps per camera) the edge processed "
               f"{top['frames_processed']} of {top['frames_sent']} frames and dropped {top['frames_dropped_edge']} "
               f"(newest frame wins); camera → decision p90 {_f(top['camera_to_decision_ms']['p90'])} ms, max "
               f"{_f(top['camera_to_decision_ms']['max'])} ms: the queue cannot grow.")
    held = [r["wan_held_ms"] for r in results if r["wan"] and r.get("wan_held_ms")]
    if held:
        out.append("- The WAN shaper drew " + ", ".join(
            f"{h['drawn_mean']:.0f} ± {h['drawn_sd']:.0f} ms" for h in held if h.get("drawn_mean") is not None)
            + " per chunk (configured N(150, 20) ms; one figure per run with the link shaped) and held the chunks "
            + ", ".join(f"{h['mean']:.0f} ± {h['sd']:.0f} ms" for h in held) + ": a request is several chunks, "
            "none leaves before the one ahead of it, so a request waits the largest of its chunks' draws (as TCP "
            "over netem delivers a message with its last packet).")
    lan, wan = by.get((0.5, False)), by.get((0.5, True))
    if lan and wan and lan["cloud_round_trip_ms"]["median"] and wan["cloud_round_trip_ms"]["median"]:
        added = wan["cloud_round_trip_ms"]["median"] - lan["cloud_round_trip_ms"]["median"]
        out.append(f"- At 0.5 fps the median edge → cloud → edge request grew by {_f(added)} ms with the link "
                   f"shaped, but only the {wan['camera_to_verdict_ms']['n']} frame(s) that waited for a verdict "
                   "pay it: the cloud is asked once per person, not per frame, so the camera → decision median "
                   f"moved from {_f(lan['camera_to_decision_ms']['median'])} to "
                   f"{_f(wan['camera_to_decision_ms']['median'])} ms.")
    out.append("- Every figure here depends on the load of the machine: on this machine idle, detection takes "
               "21 ms per frame (README, `benchmarks/detector.py`); the load average is given above.")
    return out
