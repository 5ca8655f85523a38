"""Seizure onsets on tuning seeds only: where :func:`processors.events.detect_events` puts them.

Run ``python -m evaluation.seizure_tuning [--categories ...] [--seeds 300-339]``. Each record
of :mod:`evaluation.corpus` (never an evaluation seed) is prepared as
:func:`processors.analyze.analyze` prepares it (the continuous 256 Hz copy; cached under
``--cache``) and goes through the event detectors; per record it prints the seizures found
against the truth, and per category the share found with their onset within 5 s (as
:mod:`evaluation.clinical` scores them) and the seizures found on the normal records.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from evaluation import EVALUATION_SEED_BASE
from evaluation.clinical import SEIZURE_ONSET_TOLERANCE_S
from evaluation.corpus import CATEGORIES, TARGET_TYPE, CorpusRecord, Truth
from processors.events import detect_events
from processors.io import recording_from_array
from processors.preprocessing import prepare_recording
from processors.synthetic import InjectedEvent, generate_eeg

SEIZURE_CATEGORIES = ("seizure_rhythmic", "seizure_spike_wave", "seizure_fast")
#: the corpus's rhythmic seizure at the low end of its amplitudes and under it: the focal
#: start, at 0.3 of the peak amplitude, is then at or under the background
LOW_AMPLITUDE_UV = {"low_amplitude_rhythmic": (50.0, 100.0), "faint_rhythmic": (35.0, 70.0)}


def _rhythmic_at(amplitude_uv: tuple[float, float], seed: int, duration_s: float):
    """:func:`evaluation.corpus.seizure_rhythmic` at these peak amplitudes."""
    rng = np.random.default_rng(seed)
    length_s = float(rng.uniform(20, 60))
    onset = float(rng.uniform(20, duration_s - length_s - 20))
    ev = InjectedEvent(
        "seizure", onset, length_s, rate_hz=float(rng.uniform(3.0, 8.0)),
        amplitude_uv=float(rng.uniform(*amplitude_uv)),
    )  # fmt: skip
    eeg = generate_eeg(duration_s, events=[ev], muscle=True, seed=seed)
    truth = [Truth("seizure", onset, onset + length_s, "rhythmic")]
    return CorpusRecord("seizure_rhythmic", seed, eeg.data_uv, eeg.ch_names, truth)


RECORDS: dict[str, Callable[[int, float], CorpusRecord]] = {
    **CATEGORIES,
    **{name: partial(_rhythmic_at, amp) for name, amp in LOW_AMPLITUDE_UV.items()},
}
TARGET = {**TARGET_TYPE, **dict.fromkeys(LOW_AMPLITUDE_UV, "seizure")}


def prepared_record(category: str, seed: int, duration_s: float, cache: Path):
    """The record's truth and its prepared 256 Hz microvolt signal (cached as .npz)."""
    if seed >= EVALUATION_SEED_BASE:
        raise ValueError(f"seed {seed} is an evaluation seed: tune on others")
    record = RECORDS[category](seed, duration_s)
    path = cache / f"{category}-{seed}-{duration_s:g}.npz"
    if path.exists():
        with np.load(path) as z:
            return record, z["x"], float(z["sfreq_hz"])
    rec = recording_from_array(record.data_uv, 256.0, record.ch_names, f"{category}-{seed}")
    prepared = prepare_recording(rec)
    x = prepared.raw.get_data() * 1e6
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, sfreq_hz=prepared.sfreq_hz)
    return record, x, prepared.sfreq_hz


def _seeds(text: str) -> range:
    lo, _, hi = text.partition("-")
    return range(int(lo), int(hi or lo) + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--categories", nargs="+", choices=list(RECORDS), default=[*SEIZURE_CATEGORIES]
    )
    parser.add_argument("--seeds", type=_seeds, default=range(300, 340))
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/seizure_tuning"))
    args = parser.parse_args()
    for category in args.categories:
        hits, n, n_false = 0, 0, 0
        for seed in args.seeds:
            record, x, sfreq_hz = prepared_record(category, seed, args.seconds, args.cache)
            report = detect_events(x, sfreq_hz, record.ch_names)
            found = [e for e in report.events if e.type == "seizure"]
            line = ", ".join(f"{e.onset_s:.1f}+{e.duration_s:.1f}" for e in found)
            if TARGET[category] is None:
                n_false += len(found)
                if found:
                    print(f"{category} {seed}: FALSE {line}")
                continue
            tr = record.truth[0]
            near = [e for e in found if e.onset_s < tr.offset_s and e.offset_s > tr.onset_s]
            err = min((e.onset_s - tr.onset_s for e in near), key=abs, default=None)
            ok = err is not None and abs(err) <= SEIZURE_ONSET_TOLERANCE_S
            hits += ok
            n += 1
            dt = "-" if err is None else f"{err:+.1f}"
            print(f"{category} {seed}: truth {tr.onset_s:.1f}+{tr.offset_s - tr.onset_s:.1f} "
                  f"found [{line}] dt {dt} {'ok' if ok else 'MISS'}")  # fmt: skip
        if n:
            print(f"== {category}: {hits}/{n} within {SEIZURE_ONSET_TOLERANCE_S:g} s")
        else:
            print(f"== {category}: {n_false} seizures on {len(args.seeds)} clean records")


if __name__ == "__main__":
    main()
