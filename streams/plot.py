"""A one-page picture of an analysis: traces with events marked, bad channels, hypnogram."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers
import matplotlib.pyplot as plt
import numpy as np

from processors.analyze import AnalysisResult
from processors.types import Recording

EVENT_COLOURS = {
    "seizure": "tab:red",
    "epileptiform": "tab:orange",
    "PLED": "tab:purple",
    "GPED": "tab:pink",
    "burst_suppression": "tab:brown",
    "artifact": "tab:gray",
}
STAGE_ORDER = ["N3", "N2", "N1", "R", "W"]
TRACE_PAGE_S = 20.0


def plot_result(recording: Recording, result: AnalysisResult, out_path: Path) -> Path:
    """Write a PNG: event timeline and window scores over the whole recording, one page of
    traces (around the first event, else the start) and the hypnogram when there is one."""
    payload = result.to_dict()
    events = payload["event_detection"].get("events") or []  # absent: the stage did not run
    qc = payload["quality_report"]
    bad = set(qc.get("bad_channels") or [])
    sleep = payload["sleep_analysis"]
    hypnogram = sleep.get("hypnogram")

    n_rows = 3 if hypnogram else 2
    heights = [1, 4, 1] if hypnogram else [1, 4]
    fig, axes = plt.subplots(n_rows, 1, figsize=(14, 10), gridspec_kw={"height_ratios": heights})
    _plot_timeline(axes[0], recording, result, events)
    _plot_traces(axes[1], recording, events, bad)
    if hypnogram:
        _plot_hypnogram(axes[2], hypnogram, sleep.get("epoch_s", 30))
    verdict = payload["abnormality_detection"]
    fig.suptitle(
        f"{recording.recording_id} — {payload['analysis_type']} — "
        f"{'abnormal' if verdict.get('is_abnormal') else 'normal'} "
        f"(triage {payload['triage_priority']}), quality {qc.get('signal_quality_score', 0):.2f}"
    )
    fig.tight_layout()
    out_path = Path(out_path)
    fig.savefig(out_path, dpi=90)
    plt.close(fig)
    return out_path


def _plot_timeline(ax: Any, recording: Recording, result: AnalysisResult, events: list) -> None:
    if result.window_scores is not None and result.windows is not None:
        ax.plot(
            result.windows.start_s, result.window_scores, color="k", lw=0.8, label="P(abnormal)"
        )
    for event in events:
        ax.axvspan(
            event["onset_s"],
            event["onset_s"] + max(event["duration_s"], 0.5),
            color=EVENT_COLOURS.get(event["type"], "tab:blue"),
            alpha=0.4,
        )
    ax.set_xlim(0, recording.duration_s)
    ax.set_ylim(0, 1)
    ax.set_ylabel("window score")
    ax.set_xlabel("time (s)")
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.4)
        for t, c in EVENT_COLOURS.items()
        if any(e["type"] == t for e in events)
    ]
    labels = [t for t in EVENT_COLOURS if any(e["type"] == t for e in events)]
    if handles:
        ax.legend(handles, labels, loc="upper right", fontsize=7, ncol=len(labels))


def _plot_traces(ax: Any, recording: Recording, events: list, bad: set[str]) -> None:
    sfreq = recording.sfreq_hz
    focus = [e for e in events if e["type"] != "artifact"] or events
    start_s = max(0.0, focus[0]["onset_s"] - 2.0) if focus else 0.0
    stop_s = min(recording.duration_s, start_s + TRACE_PAGE_S)
    start, stop = int(start_s * sfreq), int(stop_s * sfreq)
    data_uv = recording.raw.get_data(start=start, stop=stop) * 1e6
    times = start_s + np.arange(data_uv.shape[1]) / sfreq
    spacing = 100.0  # uV between traces, a common clinical display gain
    for i, name in enumerate(recording.ch_names):
        offset = -i * spacing
        colour = "tab:red" if name in bad else "k"
        ax.plot(
            times, np.clip(data_uv[i], -2 * spacing, 2 * spacing) + offset, color=colour, lw=0.5
        )
    for event in events:
        onset, end = event["onset_s"], event["onset_s"] + max(event["duration_s"], 0.05)
        if end >= start_s and onset <= stop_s:
            ax.axvspan(onset, end, color=EVENT_COLOURS.get(event["type"], "tab:blue"), alpha=0.25)
    ax.set_yticks([-i * spacing for i in range(len(recording.ch_names))])
    ax.set_yticklabels(recording.ch_names, fontsize=7)
    ax.set_xlim(start_s, stop_s)
    ax.set_xlabel(f"time (s); {spacing:g} uV between traces; bad channels in red")


def _plot_hypnogram(ax: Any, hypnogram: list[str], epoch_s: float) -> None:
    levels = [STAGE_ORDER.index(s) if s in STAGE_ORDER else np.nan for s in hypnogram]
    times = np.arange(len(hypnogram)) * epoch_s / 60.0
    ax.step(times, levels, where="post", color="tab:blue")
    ax.set_yticks(range(len(STAGE_ORDER)))
    ax.set_yticklabels(STAGE_ORDER)
    ax.set_xlabel("time (min)")
    ax.set_ylabel("stage")
