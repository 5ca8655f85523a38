"""Benchmark of the processors: the whole ``analyze`` of a 20-minute, 19-channel recording.

Runs each configuration in its own process so that peak memory (max RSS) is its own, and
prints windows per second, the share of time per stage and peak memory for

- ``analyze`` screening with EEGPT int8 and with EEGPT fp32 (random weights: the speed of
  the real architecture; no checkpoint can be downloaded here),
- ``analyze`` quick (no EEGPT) as the floor,

plus their ratio. Figures go to stdout and ``bench/results/processors.json``. Nothing is
asserted: targets are read off the figures (int8 <= 20 s, fp32 <= 45 s, < 2 GB).

Usage: ``python bench/bench_processors.py [--minutes 20] [--threads 2]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path
from queue import Empty
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _recording(minutes: float, seed: int = 7, *, with_events: bool = True) -> Any:
    from processors.io import recording_from_array
    from processors.synthetic import InjectedEvent, generate_eeg

    duration_s = minutes * 60.0
    # Abnormal on purpose, so that the event detectors run too (the hierarchy skips them on
    # a normal recording): a seizure, spikes and a run of periodic discharges.
    events = [
        InjectedEvent("seizure", onset_s=duration_s * 0.3, duration_s=40.0),
        InjectedEvent("lpd", onset_s=duration_s * 0.6, duration_s=30.0),
        *[InjectedEvent("spike", onset_s=60.0 + 37.0 * i, duration_s=0.05) for i in range(12)],
    ]
    if not with_events:
        events = []
    eeg = generate_eeg(duration_s, sfreq_hz=256.0, events=events, seed=seed)
    return recording_from_array(eeg.data_uv, eeg.sfreq_hz, eeg.ch_names, f"bench-{seed}")


def _run_one(config: dict[str, Any], queue: mp.Queue) -> None:
    import torch

    torch.set_num_threads(config["threads"])
    from processors.analyze import AnalysisOptions, analyze
    from processors.features import load_eegpt

    recording = _recording(config["minutes"])
    options = AnalysisOptions(feature_unavailable_reason="not measured")
    if config["precision"] is not None:
        options.feature_extractor = load_eegpt(
            None,
            ch_names=recording.ch_names,
            allow_random_weights=True,
            precision=config["precision"],
            n_threads=config["threads"],
        )
    # First calls pay one-time costs (numba JIT inside MNE, lazy imports, FFT plans): time
    # them apart on a one-minute recording, then the 20-minute one warm.
    t0 = time.perf_counter()
    analyze(_recording(1.0, seed=8, with_events=False), config["analysis_type"], options)
    warm_up_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = analyze(recording, config["analysis_type"], options)
    wall_s = time.perf_counter() - t0
    payload = result.to_dict()
    n_windows = result.windows.n_windows if result.windows is not None else 0
    queue.put(
        {
            **config,
            "wall_s": round(wall_s, 2),
            "first_call_on_1_min_s": round(warm_up_s, 2),
            "n_windows": n_windows,
            "windows_per_s": round(n_windows / wall_s, 2),
            "stage_s": payload["timings_s"],
            "stage_share": {
                k: round(v / wall_s, 3) for k, v in payload["timings_s"].items() if wall_s > 0
            },
            "stage_status": {
                k: payload[k]["status"]
                for k in ("quality_report", "features", "abnormality_detection", "event_detection")
            },
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    )


def _result_of(proc: Any, queue: mp.Queue) -> dict[str, Any]:
    """The child's row; a child that died says so instead of leaving us waiting."""
    while True:
        try:
            return queue.get(timeout=5)
        except Empty:
            if not proc.is_alive():
                raise RuntimeError(
                    f"benchmark run exited with code {proc.exitcode}; see its traceback above"
                ) from None


def run(minutes: float, threads: int) -> dict[str, Any]:
    configs = [
        {"name": "quick (no EEGPT)", "analysis_type": "quick", "precision": None},
        {"name": "screening, EEGPT int8", "analysis_type": "screening", "precision": "int8"},
        {"name": "screening, EEGPT bf16", "analysis_type": "screening", "precision": "bf16"},
        {"name": "screening, EEGPT fp32", "analysis_type": "screening", "precision": "fp32"},
    ]
    ctx = mp.get_context("spawn")
    rows = []
    for config in configs:
        config = {**config, "minutes": minutes, "threads": threads}
        queue: mp.Queue = ctx.Queue()
        proc = ctx.Process(target=_run_one, args=(config, queue))
        proc.start()
        row = _result_of(proc, queue)
        proc.join()
        rows.append(row)
        print(
            f"{row['name']:<24} {row['wall_s']:>7.2f} s  {row['windows_per_s']:>7.1f} windows/s  "
            f"(first call, 1 min: {row['first_call_on_1_min_s']:.1f} s)  "
            f"peak {row['peak_rss_mb']:>7.0f} MB  stages: "
            + ", ".join(f"{k} {v:.0%}" for k, v in row["stage_share"].items() if v >= 0.01),
            flush=True,
        )
    by_name = {r["name"]: r for r in rows}
    ratio = by_name["screening, EEGPT fp32"]["wall_s"] / by_name["screening, EEGPT int8"]["wall_s"]
    print(f"fp32 / int8 wall-time ratio: {ratio:.2f}")
    summary = {"minutes": minutes, "threads": threads, "runs": rows, "fp32_over_int8": ratio}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "processors.json").write_text(json.dumps(summary, indent=2))
    print(f"written to {RESULTS_DIR / 'processors.json'}")
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    run(args.minutes, args.threads)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
