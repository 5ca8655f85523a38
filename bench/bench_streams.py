"""Benchmark of the stream worker: replay through Kafka against ``analyze`` in one process.

Measured in one run on this machine, screening with int8 EEGPT (seeded random weights:
the speed of the real architecture, as no checkpoint can be downloaded here):

1. in-process throughput: ``analyze`` of each file, one after the other (hours of 19-channel
   EEG analysed per minute of wall time);
2. the same files replayed through Kafka to one worker process (``brrr replay --speed max``,
   wall time from the first job sent to the last job completed), and the ratio to 1: the
   cost of streaming;
3. the same with two worker processes sharing the partitions;
4. one worker's resident memory while it replays ``--files`` files: peak, and the growth
   of its resting memory from the 5th completed file to the last. The resting memory of a
   file is the lowest RSS between the completion before it and its own: a point sample at
   completion lands at a random phase of the job cycle (a finisher holds a recording's
   arrays for a few seconds) and swings by hundreds of MB, while a leak raises the troughs.
   The point samples are kept in the JSON too.

The stack must be up (``brrr stack up``). Each run uses a Kafka namespace of its own.
Figures go to stdout and ``bench/results/streams.json``; nothing is asserted (targets:
ratio >= 0.9, memory growth < 5 %).

Usage: ``python bench/bench_streams.py [--files 20] [--minutes 20] [--throughput-files 4]
[--only throughput|memory]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
WORKER_ENV = {"BRRR_ALLOW_RANDOM_WEIGHTS": "true", "BRRR_EEGPT_PRECISION": "int8"}


def write_files(out_dir: Path, n: int, minutes: float) -> list[Path]:
    """``n`` abnormal 19-channel recordings (a seizure, spikes, periodic discharges), so the
    event detectors run too."""
    from processors.synthetic import InjectedEvent, generate_eeg

    paths = []
    duration_s = minutes * 60.0
    for i in range(n):
        events = [
            InjectedEvent("seizure", onset_s=duration_s * 0.3, duration_s=40.0),
            InjectedEvent("lpd", onset_s=duration_s * 0.6, duration_s=30.0),
            *[
                InjectedEvent("spike", onset_s=duration_s * (0.02 + 0.03 * k), duration_s=0.05)
                for k in range(8)
            ],
        ]
        eeg = generate_eeg(duration_s, events=events, seed=1000 + i)
        paths.append(Path(eeg.write_edf(out_dir / f"bench_{i:02d}.edf")))
    return paths


def in_process(paths: list[Path]) -> dict[str, Any]:
    """``analyze`` screening with int8 EEGPT on each file in this process."""
    os.environ.update(WORKER_ENV)
    from connectors.settings import Settings
    from processors.analyze import analyze
    from processors.io import read_recording
    from streams.pipeline import ModelCache

    models = ModelCache(Settings())
    hours, t0 = 0.0, time.perf_counter()
    for path in paths:
        recording = read_recording(path)
        analyze(recording, "screening", models.options_for(recording.ch_names, "screening"))
        hours += recording.duration_s / 3600
    wall_s = time.perf_counter() - t0
    return {
        "files": len(paths),
        "hours": hours,
        "wall_s": wall_s,
        "h_per_min": hours / (wall_s / 60),
    }


class Workers:
    """Worker processes in a namespace of their own, sampled for memory."""

    def __init__(self, n: int, log_dir: Path, **extra_env: str) -> None:
        self.namespace = f"bench-{uuid.uuid4().hex[:8]}"
        env = {
            **os.environ,
            **WORKER_ENV,
            **extra_env,
            "BRRR_KAFKA_NAMESPACE": self.namespace,
            "PYTHONPATH": str(REPO),
        }
        self.logs = [log_dir / f"{self.namespace}-{i}.log" for i in range(n)]
        self.procs = []
        for log in self.logs:
            with log.open("w") as out:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "streams.cli", "worker"],
                        cwd=REPO,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + 120
        while not all("Worker ready" in log.read_text() for log in self.logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                raise SystemExit("a worker did not start: see " + ", ".join(map(str, self.logs)))
            time.sleep(0.5)
        self.samples: list[tuple[float, int]] = []
        self.cpu_percent = 0.0  # of one core, averaged since the workers were ready
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        handles = [psutil.Process(p.pid) for p in self.procs]
        cpu0, t0 = sum(h.cpu_times().user + h.cpu_times().system for h in handles), time.monotonic()
        while not self._stop.is_set():
            try:
                rss = sum(h.memory_info().rss for h in handles)
                cpu = sum(h.cpu_times().user + h.cpu_times().system for h in handles)
            except psutil.Error:
                return
            self.samples.append((time.monotonic(), rss))
            self.cpu_percent = 100 * (cpu - cpu0) / max(1e-9, time.monotonic() - t0)
            time.sleep(0.5)

    def rss_at(self, t: float) -> int:
        before = [rss for ts, rss in self.samples if ts <= t]
        return before[-1] if before else self.samples[0][1]

    def resting_rss(self, t0: float, t1: float) -> int:
        """The lowest RSS sampled in (t0, t1]: what the worker comes back to between jobs."""
        inside = [rss for ts, rss in self.samples if t0 < ts <= t1]
        return min(inside) if inside else self.rss_at(t1)

    def stop(self) -> None:
        self._stop.set()
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()


def through_kafka(paths: list[Path], n_workers: int, log_dir: Path) -> dict[str, Any]:
    """Replay the files to ``n_workers`` workers; wall time, throughput, memory per file."""
    from connectors.settings import Settings
    from streams.replay import follow, submit

    workers = Workers(n_workers, log_dir)
    settings = Settings(kafka_namespace=workers.namespace)
    done_at: dict[str, float] = {}

    def on_state(item: Any, state: Any) -> None:
        if state.is_finished and item.job_id not in done_at:
            done_at[item.job_id] = time.monotonic()

    try:
        t0 = time.monotonic()
        replayed, _ = asyncio.run(submit(settings, paths, analysis_type="screening", speed="max"))
        outcomes = asyncio.run(follow(settings, replayed, on_state=on_state, poll_s=0.25))
        wall_s = time.monotonic() - t0
    finally:
        workers.stop()
    failed = [
        o.replayed.path.name for o in outcomes if o.state is None or o.state.status != "completed"
    ]
    hours = sum(r.duration_s for r in replayed) / 3600
    finished = sorted(done_at.values())
    rss_mb = [workers.rss_at(t) / 2**20 for t in finished]
    starts = [t0, *finished[:-1]]
    resting_mb = [workers.resting_rss(a, b) / 2**20 for a, b in zip(starts, finished, strict=True)]
    return {
        "workers": n_workers,
        "files": len(paths),
        "failed": failed,
        "hours": hours,
        "wall_s": wall_s,
        "h_per_min": hours / (wall_s / 60),
        "peak_rss_mb": max(rss for _, rss in workers.samples) / 2**20,
        "rss_mb_after_each_file": [round(r, 1) for r in rss_mb],
        "resting_rss_mb_per_file": [round(r, 1) for r in resting_mb],
    }


def live_capacity(
    n_devices: int, minutes: float, log_dir: Path, n_workers: int = 1
) -> dict[str, Any]:
    """``n_devices`` real-time devices (one in ten with a seizure) on ``n_workers`` worker
    processes (their CPU summed): latency
    from the end of each window to its result on eeg.window_results, and from the end of
    the window completing an alert's evidence to the alert on eeg.alerts.urgent."""
    import numpy as np
    from confluent_kafka import Consumer

    from connectors.kafka_topics import Topics
    from connectors.settings import Settings
    from streams.device import Misbehaviour, stream_devices
    from streams.device_run import build_devices

    workers = Workers(n_workers, log_dir, BRRR_EEGPT_PRECISION="auto")
    settings = Settings(kafka_namespace=workers.namespace)
    topics = Topics(settings.kafka_namespace)
    seconds = minutes * 60.0
    devices = build_devices(
        settings,
        file=None,
        loop=False,
        events=[],
        count=n_devices,
        seconds=seconds,
        seed=9,
        faults=Misbehaviour(),
    )
    seizing = build_devices(
        settings,
        file=None,
        loop=False,
        events=[f"seizure@{seconds / 2:.0f}+30"],
        count=max(1, n_devices // 10),
        seconds=seconds,
        seed=90,
        faults=Misbehaviour(),
    )
    sent_at: dict[tuple[str, int], float] = {}  # (recording, last sample + 1) -> wall time
    from connectors.kafka_topics import RecordProducer

    producer = RecordProducer(settings.kafka_bootstrap_servers)

    def send(segment: Any) -> None:
        producer.send(topics.segments, "EEGSegment", segment["recording_id"], segment)
        end = segment["first_sample"] + segment["n_samples"]
        sent_at[(segment["recording_id"], end)] = time.time()

    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"{workers.namespace}-bench",
            "auto.offset.reset": "earliest",
            "log_level": 3,
        }
    )
    consumer.subscribe([topics.window_results, topics.alerts, topics.features])
    window_lat: list[float] = []
    alert_lat: list[float] = []
    features_lat: list[float] = []  # EEGPT: from the window's end to its features
    stop = threading.Event()

    def collect() -> None:
        from schemas.codec import decode_any

        while not stop.is_set():
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            arrived = message.timestamp()[1] / 1000.0
            name, record = decode_any(message.value())
            if name.endswith("UrgentAlert"):
                index, measured = record["evidence_window"], alert_lat
            elif name.endswith("WindowResult"):
                index, measured = record["window_index"], window_lat
            elif record["features"]:  # a live window's EEGPT features
                index, measured = record["window_index"], features_lat
            else:
                continue
            end_sample = (index + 1) * 4 * 256
            sent = sent_at.get((record["recording_id"], end_sample))
            if sent is not None:
                measured.append(arrived - sent)

    collector = threading.Thread(target=collect, daemon=True)
    collector.start()
    t0 = time.monotonic()
    try:
        # Bedside monitors are switched on at different moments: their windows complete
        # spread over the 4 s of a window, not all at once.
        everyone = [*devices, *seizing]
        random.Random(9).shuffle(everyone)
        asyncio.run(stream_devices(everyone, send, seconds=seconds, speed=1.0, stagger_s=4.0))
        producer.flush()
        time.sleep(10)
    finally:
        stop.set()
        collector.join(timeout=10)
        consumer.close()
        workers.stop()
    lat = np.array(window_lat) if window_lat else np.array([np.nan])
    alerts = np.array(alert_lat) if alert_lat else np.array([np.nan])
    eegpt = np.array(features_lat) if features_lat else np.array([np.nan])
    return {
        "devices": n_devices + len(seizing),
        "workers": n_workers,
        "minutes": minutes,
        "windows_measured": len(window_lat),
        "window_latency_p50_s": float(np.percentile(lat, 50)),
        "window_latency_p99_s": float(np.percentile(lat, 99)),
        "features_measured": len(features_lat),
        "features_latency_p50_s": float(np.percentile(eegpt, 50)),
        "features_latency_p99_s": float(np.percentile(eegpt, 99)),
        "alerts_measured": len(alert_lat),
        "alert_latency_p50_s": float(np.percentile(alerts, 50)),
        "alert_latency_p99_s": float(np.percentile(alerts, 99)),
        "worker_peak_rss_mb": max(rss for _, rss in workers.samples) / 2**20,
        "wall_s": time.monotonic() - t0,
        "worker_cpu_percent": workers.cpu_percent,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20, help="files of the memory run")
    parser.add_argument("--minutes", type=float, default=20.0, help="length of each file")
    parser.add_argument("--throughput-files", type=int, default=4, help="files of the ratio runs")
    parser.add_argument(
        "--live",
        default=None,
        metavar="N,N,...",
        help="only the live capacity: these numbers of real-time devices",
    )
    parser.add_argument("--live-minutes", type=float, default=5.0, help="length of each live run")
    parser.add_argument(
        "--live-workers", type=int, default=1, help="worker processes of the live runs"
    )
    parser.add_argument(
        "--only",
        choices=("throughput", "memory"),
        default=None,
        help="only the throughput runs or only the memory run (default: both)",
    )
    args = parser.parse_args()
    if args.live:
        RESULTS_DIR.mkdir(exist_ok=True)
        rows = []
        with tempfile.TemporaryDirectory(prefix="brrr-bench-live-") as tmp:
            for n in (int(x) for x in args.live.split(",")):
                row = live_capacity(n, args.live_minutes, Path(tmp), args.live_workers)
                rows.append(row)
                print(
                    f"{row['devices']:>4} devices: window->result p50 "
                    f"{row['window_latency_p50_s']:.2f} s p99 {row['window_latency_p99_s']:.2f} s "
                    f"({row['windows_measured']} windows); EEGPT features p50 "
                    f"{row['features_latency_p50_s']:.2f} s p99 "
                    f"{row['features_latency_p99_s']:.2f} s; alert p50 "
                    f"{row['alert_latency_p50_s']:.2f} s p99 {row['alert_latency_p99_s']:.2f} s "
                    f"({row['alerts_measured']}); worker CPU {row['worker_cpu_percent']:.0f} % "
                    f"of a core, peak RSS {row['worker_peak_rss_mb']:.0f} MB",
                    flush=True,
                )
        # A device count is carried when its windows' results and their EEGPT features both
        # keep up: a features backlog that grows would only show later.
        ok = [
            r["devices"]
            for r in rows
            if r["window_latency_p99_s"] <= 2.0 and r["features_latency_p99_s"] <= 2.0
        ]
        print(
            "largest device count with window->result and window->features p99 <= 2 s: "
            f"{max(ok) if ok else 'none'}"
        )
        (RESULTS_DIR / "streams_live.json").write_text(json.dumps(rows, indent=2))
        return
    RESULTS_DIR.mkdir(exist_ok=True)
    figures: dict[str, Any] = {"files_minutes": args.minutes}
    with tempfile.TemporaryDirectory(prefix="brrr-bench-streams-") as tmp:
        tmp_dir = Path(tmp)
        n_files = args.throughput_files if args.only == "throughput" else args.files
        paths = write_files(tmp_dir, max(n_files, args.throughput_files), args.minutes)
        print(f"{len(paths)} files of {args.minutes:g} min, 19 channels, 256 Hz", flush=True)
        if args.only in (None, "throughput"):
            figures.update(throughput(paths[: args.throughput_files], tmp_dir))
        if args.only in (None, "memory"):
            figures.update(memory(paths[: args.files], tmp_dir))
    name = "streams.json" if args.only is None else f"streams_{args.only}.json"
    (RESULTS_DIR / name).write_text(json.dumps(figures, indent=2))
    print_figures(figures)
    print(f"written to {RESULTS_DIR / name}")


def throughput(paths: list[Path], tmp_dir: Path) -> dict[str, Any]:
    """In one process, then through Kafka to one worker and to two."""
    one_process = in_process(paths)
    print(f"in one process: {one_process['h_per_min']:.3f} h of EEG per minute", flush=True)
    one = through_kafka(paths, 1, tmp_dir)
    print(f"one worker:     {one['h_per_min']:.3f} h/min", flush=True)
    two = through_kafka(paths, 2, tmp_dir)
    print(f"two workers:    {two['h_per_min']:.3f} h/min", flush=True)
    return {
        "in_process": one_process,
        "one_worker": one,
        "two_workers": two,
        "ratio_one_worker": one["h_per_min"] / one_process["h_per_min"],
        "ratio_two_workers": two["h_per_min"] / one_process["h_per_min"],
    }


def memory(paths: list[Path], tmp_dir: Path) -> dict[str, Any]:
    """One worker replaying every file: its resting memory per file, and the growth."""
    run = through_kafka(paths, 1, tmp_dir)

    def growth(series: list[float]) -> float | None:
        return (series[-1] - series[4]) / series[4] if len(series) >= 5 else None

    return {
        "memory_run": run,
        "memory_growth_5th_to_last": growth(run["resting_rss_mb_per_file"]),
        "memory_growth_at_completion_samples": growth(run["rss_mb_after_each_file"]),
    }


def print_figures(figures: dict[str, Any]) -> None:
    print()
    print(f"{'what':<48} {'figure':>12}")
    if "in_process" in figures:
        rows = [
            ("in one process (h of EEG per min)", f"{figures['in_process']['h_per_min']:.3f}"),
            ("through Kafka, one worker (h/min)", f"{figures['one_worker']['h_per_min']:.3f}"),
            ("  ratio to one process (target >= 0.9)", f"{figures['ratio_one_worker']:.2f}"),
            ("through Kafka, two workers (h/min)", f"{figures['two_workers']['h_per_min']:.3f}"),
            ("  ratio to one process", f"{figures['ratio_two_workers']:.2f}"),
        ]
        for what, value in rows:
            print(f"{what:<48} {value:>12}")
    if "memory_run" in figures:
        run = figures["memory_run"]
        resting = run["resting_rss_mb_per_file"]
        print(f"{'worker peak RSS over the memory run (MB)':<48} {run['peak_rss_mb']:>12.0f}")
        if len(resting) >= 5:
            print(f"{'resting RSS after the 5th / last file (MB)':<48} "
                  f"{f'{resting[4]:.0f} / {resting[-1]:.0f}':>12}")  # fmt: skip
            growth = figures["memory_growth_5th_to_last"]
            print(f"{'resting RSS growth 5th -> last (target < 5 %)':<48} {100 * growth:>11.1f}%")
            point = figures["memory_growth_at_completion_samples"]
            print(f"{'  (RSS sampled at completion: ' + f'{100 * point:+.1f} %)':<48}")
        print(f"files of the memory run: {len(resting)}, failed: {run['failed'] or 'none'}")


if __name__ == "__main__":
    main()
