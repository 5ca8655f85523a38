"""Benchmark of EEGPT feature extraction: fp32, bf16 and dynamic int8, speed and
fidelity (bf16 and int8 against fp32).

On ``--windows`` synthetic 4 s windows of 19 channels (half normal background, half with
periodic discharges), at batch ``--batch-size`` and ``--threads`` torch threads, prints and
writes to ``bench/results/eegpt.json``:

- windows per second and ms per window of the fp32 and the int8 extractor (best and median
  over every timed batch of ``--repeats`` passes, after one warm-up batch; fp32 and int8
  alternate batch by batch so both see the same load from other processes), the process CPU
  time per window, and their ratio;
- feature fidelity of int8 against fp32 on the same weights: per-window cosine (mean, min), the
  centred cosine (window-dependent part), relative L2;
- agreement of verdicts: a linear probe trained on the fp32 features of the labelled windows,
  applied to the fp32 and to the int8 features.

Without ``--checkpoint`` the weights are random (``random-dev``): the speed is that of the real
architecture, but the fidelity figures are only a check of the quantized path; with random
weights the features vary little between windows, which flatters the plain cosine.

Usage: ``python bench/bench_eegpt.py [--windows 64] [--batch-size 8] [--threads 2]
[--repeats 3] [--checkpoint PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _labelled_windows(n_windows: int, seed: int = 3) -> tuple[Any, np.ndarray]:
    """``n_windows`` windows of 19 channels at 256 Hz: normal first half, discharges second."""
    from processors.synthetic import InjectedEvent, generate_eeg
    from processors.types import WindowBatch

    half = max(1, n_windows // 2)
    duration_s = 4.0 * half
    normal = generate_eeg(duration_s, seed=seed)
    gpd = InjectedEvent("gpd", onset_s=0.5, duration_s=duration_s - 1.0, rate_hz=1.0)
    abnormal = generate_eeg(duration_s, seed=seed + 1, events=[gpd])
    parts = []
    for sig in (normal, abnormal):
        n_ch = len(sig.ch_names)
        parts.append(sig.data_uv[:, : half * 1024].reshape(n_ch, half, 1024).transpose(1, 0, 2))
    data = np.concatenate(parts).astype(np.float32)
    labels = np.repeat([0, 1], half)
    batch = WindowBatch(
        data_uv=data,
        ch_names=list(normal.ch_names),
        sfreq_hz=256.0,
        start_s=np.arange(len(data)) * 4.0,
        index=np.arange(len(data)),
    )
    return batch, labels


def _time_batch(extractor: Any, batch: Any) -> tuple[float, float, np.ndarray]:
    """Wall-clock and process CPU seconds of one forward batch (CPU time tells whether the
    threads got their cores on a shared machine: about threads x wall when they did)."""
    t0, c0 = time.perf_counter(), time.process_time()
    features = extractor.extract(batch, batch_size=batch.n_windows)
    return time.perf_counter() - t0, time.process_time() - c0, features


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from processors.features import (
        PRECISIONS,
        cpu_supports_bf16,
        feature_fidelity,
        load_eegpt,
        resolve_precision,
    )
    from processors.probe import train_probe

    torch.set_num_threads(args.threads)
    batch, labels = _labelled_windows(args.windows)
    checkpoint = Path(args.checkpoint) if args.checkpoint else None

    extractors, load_s = {}, {}
    for precision in PRECISIONS:
        t0 = time.perf_counter()
        extractors[precision] = load_eegpt(
            checkpoint,
            ch_names=batch.ch_names,
            allow_random_weights=checkpoint is None,
            precision=precision,
            n_threads=args.threads,
        )
        load_s[precision] = time.perf_counter() - t0

    warm = batch.select(slice(0, args.batch_size))
    for ex in extractors.values():
        ex.extract(warm, batch_size=args.batch_size)

    # fp32 and int8 alternate batch by batch, so that both meet the same load from other
    # processes; per-window times are the median and the best over all timed batches.
    wall: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    cpu: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    chunks: dict[str, list[np.ndarray]] = {p: [] for p in PRECISIONS}
    for repeat in range(args.repeats):
        for start in range(0, batch.n_windows, args.batch_size):
            part = batch.select(slice(start, start + args.batch_size))
            for precision, ex in extractors.items():
                w, c, feats = _time_batch(ex, part)
                wall[precision].append(w / part.n_windows)
                cpu[precision].append(c / part.n_windows)
                if repeat == 0:
                    chunks[precision].append(feats)
    features = {p: np.concatenate(c) for p, c in chunks.items()}

    n = batch.n_windows
    speed = {}
    for precision in PRECISIONS:
        best, median = min(wall[precision]), statistics.median(wall[precision])
        speed[precision] = {
            "windows_per_s_best": 1 / best,
            "windows_per_s_median": 1 / median,
            "ms_per_window_best": 1000 * best,
            "ms_per_window_median": 1000 * median,
            "cpu_ms_per_window_median": 1000 * statistics.median(cpu[precision]),
            "n_timed_batches": len(wall[precision]),
            "load_s": load_s[precision],
        }
    probe = train_probe(features["fp32"], labels, weights_id=extractors["fp32"].weights_id)
    fidelity = feature_fidelity(features["fp32"], features["int8"], probe=probe)
    fidelity_bf16 = feature_fidelity(features["fp32"], features["bf16"], probe=probe)
    return {
        "benchmark": "eegpt",
        "weights_id": extractors["fp32"].weights_id,
        "model_version": extractors["fp32"].model_version,
        "n_windows": n,
        "n_channels": len(extractors["fp32"].channels_used),
        "n_features": int(features["fp32"].shape[1]),
        "batch_size": args.batch_size,
        "threads": args.threads,
        "repeats": args.repeats,
        "speed": speed,
        "int8_speedup_best": speed["int8"]["windows_per_s_best"]
        / speed["fp32"]["windows_per_s_best"],
        "int8_speedup_median": speed["int8"]["windows_per_s_median"]
        / speed["fp32"]["windows_per_s_median"],
        "bf16_speedup_best": speed["bf16"]["windows_per_s_best"]
        / speed["fp32"]["windows_per_s_best"],
        "bf16_native": cpu_supports_bf16(),
        "auto_precision": resolve_precision("auto"),
        "fidelity": fidelity,
        "fidelity_bf16": fidelity_bf16,
        "fidelity_note": (
            "random weights: fidelity is a plumbing check only"
            if checkpoint is None
            else "measured on the configured checkpoint"
        ),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "machine": {
            "cpu_count": os.cpu_count(),
            "load_average_at_end": os.getloadavg(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "processor": platform.processor() or platform.machine(),
        },
    }


def _print(result: dict[str, Any]) -> None:
    s, f = result["speed"], result["fidelity"]
    print(
        f"EEGPT ({result['model_version']}, weights {result['weights_id']}): "
        f"{result['n_windows']} windows x {result['n_channels']} channels, batch "
        f"{result['batch_size']}, {result['threads']} threads, best/median over "
        f"{result['speed']['fp32']['n_timed_batches']} batches"
    )
    for precision in s:
        p = s[precision]
        print(
            f"  {precision}: {p['windows_per_s_best']:6.1f} windows/s best "
            f"({p['ms_per_window_best']:6.1f} ms/window), median {p['windows_per_s_median']:6.1f} "
            f"windows/s ({p['ms_per_window_median']:6.1f} ms/window); CPU "
            f"{p['cpu_ms_per_window_median']:6.1f} ms/window; load {p['load_s']:.1f} s"
        )
    print(
        f"  int8 speed-up: x{result['int8_speedup_best']:.2f} (best), "
        f"x{result['int8_speedup_median']:.2f} (median)"
    )
    print(
        f"  int8 vs fp32 features: cosine mean {f['mean_cosine']:.4f}, min {f['min_cosine']:.4f}; "
        f"centred cosine {f['mean_centred_cosine']:.3f}; relative L2 {f['relative_l2']:.4f}"
    )
    b = result["fidelity_bf16"]
    print(
        f"  bf16 speed-up: x{result['bf16_speedup_best']:.2f} (best); bf16 vs fp32 features: "
        f"cosine mean {b['mean_cosine']:.5f}, min {b['min_cosine']:.5f}, probe verdicts "
        f"{100 * b['verdict_agreement']:.1f} % the same; CPU multiplies bf16 natively: "
        f"{result['bf16_native']} (auto picks {result['auto_precision']})"
    )
    print(
        f"  probe verdicts (trained on fp32): agreement {100 * f['verdict_agreement']:.1f} %, "
        f"max |dP| {f['max_probability_difference']:.3f}  [{result['fidelity_note']}]"
    )
    print(
        f"  peak RSS {result['peak_rss_mb']:.0f} MB; load average at end "
        f"{result['machine']['load_average_at_end'][0]:.1f} on {result['machine']['cpu_count']} "
        "CPUs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--windows", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint", default=None, help="EEGPT checkpoint (default: random)")
    parser.add_argument("--out", default=str(RESULTS_DIR / "eegpt.json"))
    args = parser.parse_args()
    result = run(args)
    _print(result)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
