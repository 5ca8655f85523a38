"""Sensitivity and false detections per hour of the event detectors on synthetic EEG.

Run ``python -m evaluation.detectors [--seeds 10] [--minutes 5]``. For each seed,
four records are generated with :func:`processors.synthetic.generate_eeg` (realistic
background with alpha, blinks and muscle bursts, 50 Hz line noise):

- an *event* record: 5 spikes and 5 sharp waves, then an evolving seizure, an LPD train and a
  GPD train (random durations, rates and amplitudes, 10-20 s apart);
- a *burst-suppression* record: a burst-suppression stretch of 90-150 s;
- a *clean* record: background only;
- a *sleep* record, clean too: wake, N1, N2 with spindles and K-complexes, N3 delta, REM.

A detection is a hit when it matches an injected event: an epileptiform discharge within
50 ms of a spike's or sharp wave's onset, a seizure overlapping the injected one with its
onset within 3 s, a PLED/GPED overlapping the train (a GPED on an LPD train counts as a
misclassification, not a hit), a burst_suppression event overlapping the stretch. Every
other detection of those types is false; false detections per hour are counted over all
records and over the clean records alone.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from processors.errors import SyntheticSpecError
from processors.events import Event, detect_events
from processors.synthetic import InjectedEvent, SyntheticEEG, generate_eeg

SPIKE_TOLERANCE_S = 0.05
SEIZURE_ONSET_TOLERANCE_S = 3.0
SCORED = ("epileptiform", "seizure", "PLED", "GPED", "burst_suppression")
TRUTH_TYPE = {
    "spike": "epileptiform",
    "sharp_wave": "epileptiform",
    "seizure": "seizure",
    "lpd": "PLED",
    "gpd": "GPED",
    "burst_suppression": "burst_suppression",
}


@dataclass
class Tally:
    """Hits, misses and false detections of one event type."""

    injected: int = 0
    hits: int = 0
    false: int = 0
    false_clean: int = 0
    onset_errors_s: list[float] = field(default_factory=list)
    misclassified: int = 0

    def summary(self, hours: float, clean_hours: float) -> dict[str, Any]:
        errs = np.abs(self.onset_errors_s) if self.onset_errors_s else np.zeros(1)
        return {
            "injected": self.injected,
            "detected": self.hits,
            "sensitivity": round(self.hits / self.injected, 3) if self.injected else None,
            "misclassified": self.misclassified,
            "false_detections": self.false,
            "false_per_hour": round(self.false / hours, 2),
            "false_per_hour_clean": round(self.false_clean / clean_hours, 2),
            "median_abs_onset_error_s": round(float(np.median(errs)), 3),
            "max_abs_onset_error_s": round(float(np.max(errs)), 3),
        }


def event_record(seed: int, duration_s: float) -> SyntheticEEG:
    """Spikes and sharp waves, a seizure, an LPD train and a GPD train, well apart."""
    rng = np.random.default_rng(10_000 + seed)
    events: list[InjectedEvent] = []
    t = 8.0
    for k in range(10):
        kind = "spike" if k % 2 == 0 else "sharp_wave"
        dur = rng.uniform(0.03, 0.065) if kind == "spike" else rng.uniform(0.08, 0.18)
        events.append(InjectedEvent(kind, round(t, 3), round(float(dur), 3)))
        t += rng.uniform(6.0, 9.0)
    t += 10.0
    for kind in ("seizure", "lpd", "gpd"):
        if kind == "seizure":
            dur, rate = rng.uniform(15, 35), rng.uniform(4.0, 8.0)
        else:
            rate = rng.uniform(0.7, 2.0)
            dur = max(rng.uniform(15, 30), 7.0 / rate)
        events.append(InjectedEvent(kind, round(t, 2), round(float(dur), 2), rate_hz=float(rate)))
        t += dur + rng.uniform(10.0, 20.0)
    if t > duration_s:
        raise SyntheticSpecError(
            f"the event record needs {t:.0f} s; ask for at least that duration (--minutes)"
        )
    return generate_eeg(duration_s, events=events, muscle=True, seed=seed)


def burst_record(seed: int, duration_s: float) -> SyntheticEEG:
    rng = np.random.default_rng(20_000 + seed)
    dur = float(rng.uniform(90, min(150, duration_s - 40)))
    onset = float(rng.uniform(10, duration_s - dur - 10))
    ev = InjectedEvent("burst_suppression", round(onset, 2), round(dur, 2))
    return generate_eeg(duration_s, events=[ev], muscle=True, seed=seed + 5000)


def clean_record(seed: int, duration_s: float) -> SyntheticEEG:
    return generate_eeg(duration_s, muscle=True, seed=seed + 9000)


def sleep_record(seed: int, duration_s: float) -> SyntheticEEG:
    """Clean sleep: wake, N1, N2 (spindles, K-complexes), N3 (delta) and REM epochs."""
    cycle = ["W", "N1", "N2", "N2", "N3", "N3", "R", "N2", "N1", "W"]
    n_epochs = int(np.ceil(duration_s / 30.0))
    stages = [cycle[k % len(cycle)] for k in range(n_epochs)]
    return generate_eeg(duration_s, sleep_stages=stages, muscle=True, seed=seed + 12000)


def _score(sim: SyntheticEEG, found: list[Event], tallies: dict[str, Tally], clean: bool) -> None:
    truths = [e for e in sim.events if e.kind in TRUTH_TYPE]
    matched: set[int] = set()
    for tr in truths:
        kind = TRUTH_TYPE[tr.kind]
        if tr.kind in ("lpd", "gpd") and len(tr.truth_onsets_s) < 6:
            continue  # fewer than 6 cycles is not a periodic pattern
        tallies[kind].injected += 1
        hit = None
        for i, ev in enumerate(found):
            if i in matched:
                continue
            if kind == "epileptiform" and ev.type == kind:
                if abs(ev.onset_s - tr.onset_s) <= SPIKE_TOLERANCE_S:
                    hit = i
            elif (
                ev.type == kind
                and ev.onset_s < tr.offset_s
                and ev.offset_s > tr.onset_s
                and (kind != "seizure" or abs(ev.onset_s - tr.onset_s) <= SEIZURE_ONSET_TOLERANCE_S)
            ):
                hit = i
            if hit is not None:
                break
        if hit is None:
            if kind in ("PLED", "GPED"):
                other = "GPED" if kind == "PLED" else "PLED"
                if any(
                    e.type == other and e.onset_s < tr.offset_s and e.offset_s > tr.onset_s
                    for e in found
                ):
                    tallies[kind].misclassified += 1
            continue
        matched.add(hit)
        tallies[kind].hits += 1
        tallies[kind].onset_errors_s.append(found[hit].onset_s - tr.onset_s)
    for i, ev in enumerate(found):
        if ev.type not in SCORED or i in matched:
            continue
        # a second detection inside an injected pattern is a split, not a false alarm
        if any(
            TRUTH_TYPE[tr.kind] in (ev.type, "PLED", "GPED")
            and ev.type != "epileptiform"
            and ev.onset_s < tr.offset_s
            and ev.offset_s > tr.onset_s
            for tr in truths
        ):
            continue
        tallies[ev.type].false += 1
        if clean:
            tallies[ev.type].false_clean += 1


def evaluate(n_seeds: int = 10, duration_s: float = 300.0, verbose: bool = False) -> dict[str, Any]:
    """Sensitivity and false detections per hour per event type over ``n_seeds`` seeds.

    Returns
    -------
    dict
        Per event type: injected, detected, sensitivity, misclassified, false detections
        (total, per hour over all records, per hour over the clean records) and onset
        errors; plus the hours analysed and the detection time per recorded hour.
    """
    tallies = {k: Tally() for k in SCORED}
    hours = clean_hours = 0.0
    detect_s = 0.0
    for seed in range(n_seeds):
        makers = (
            (event_record, False),
            (burst_record, False),
            (clean_record, True),
            (sleep_record, True),
        )
        for maker, clean in makers:
            sim = maker(seed, duration_s)
            t0 = time.perf_counter()
            report = detect_events(sim.data_uv, sim.sfreq_hz, sim.ch_names)
            detect_s += time.perf_counter() - t0
            _score(sim, report.events, tallies, clean)
            hours += duration_s / 3600
            clean_hours += duration_s / 3600 if clean else 0.0
            if verbose:
                found = [(e.type, round(e.onset_s, 2)) for e in report.events if e.type in SCORED]
                print(f"seed {seed} {maker.__name__}: {found}")
    return {
        "seeds": n_seeds,
        "record_minutes": duration_s / 60,
        "hours_analysed": round(hours, 3),
        "clean_hours": round(clean_hours, 3),
        "detection_seconds_per_hour": round(detect_s / hours, 2),
        "per_type": {k: t.summary(hours, clean_hours) for k, t in tallies.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    result = evaluate(args.seeds, args.minutes * 60, verbose=args.verbose)
    header = f"{'type':<18}{'inj':>5}{'hit':>5}{'sens':>7}{'miscl':>7}{'FP':>5}{'FP/h':>8}"
    print(header + f"{'FP/h clean':>12}{'med|dt| s':>11}")
    for kind, row in result["per_type"].items():
        sens = "-" if row["sensitivity"] is None else f"{row['sensitivity']:.2f}"
        print(
            f"{kind:<18}{row['injected']:>5}{row['detected']:>5}{sens:>7}{row['misclassified']:>7}"
            f"{row['false_detections']:>5}{row['false_per_hour']:>8.2f}"
            f"{row['false_per_hour_clean']:>12.2f}{row['median_abs_onset_error_s']:>11.3f}"
        )
    print(
        f"{result['hours_analysed']} h analysed ({result['clean_hours']} h clean), "
        f"{result['detection_seconds_per_hour']} s of detection per recorded hour"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
