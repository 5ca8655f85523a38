"""The whole analysis on the evaluation corpus, per category, and on the real recordings.

Run ``python -m evaluation.clinical [--records 10] [--minutes 3] [--real DIR]
[--categories NAME ...]`` (every category by default). Every record of
:mod:`evaluation.corpus` goes through ``processors.analyze.analyze(..., "screening")`` (no
EEGPT: the qEEG verdict, the discharge screen, then the events of abnormal records). Per
category it prints:

- ``abnormal``: share of records called abnormal;
- ``routine / expedite / urgent``: the triage counts;
- ``found``: share of records where the category's event is found with the right type
  (a seizure whose onset is within 5 s; for spikes, the share of discharges found within
  0.1 s of their onset, which is the spike sensitivity);
- ``FP/h``: clinical events (epileptiform, PLED, GPED, seizure, burst suppression) per hour on
  the normal records, which are the clean ones;
- ``onset |dt|``: median onset error of the found events.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.corpus import CATEGORIES, TARGET_TYPE, CorpusRecord, make_record
from processors.analyze import analyze
from processors.io import read_recording, recording_from_array

CLINICAL_TYPES = ("epileptiform", "PLED", "GPED", "seizure", "burst_suppression")
SPIKE_TOLERANCE_S = 0.1
SEIZURE_ONSET_TOLERANCE_S = 5.0


def _events(out: dict[str, Any]) -> list[dict[str, Any]]:
    events = out["event_detection"].get("events") or []  # null when the stage did not run
    return [e for e in events if e["type"] in CLINICAL_TYPES]


def _overlaps(e: dict[str, Any], onset_s: float, offset_s: float) -> bool:
    return e["onset_s"] < offset_s and e["onset_s"] + e["duration_s"] > onset_s


def _truth_text(record: CorpusRecord) -> str:
    return ", ".join(f"{t.type} {t.onset_s:.1f}-{t.offset_s:.1f}" for t in record.truth) or "-"


def _seizure_text(out: dict[str, Any]) -> str:
    """The seizures found, as onset-offset (seconds)."""
    found = [e for e in _events(out) if e["type"] == "seizure"]
    spans = [f"{e['onset_s']:.1f}-{e['onset_s'] + e['duration_s']:.1f}" for e in found]
    return ", ".join(spans) or "-"


def score_record(record: CorpusRecord, out: dict[str, Any]) -> dict[str, Any]:
    """What one analysis found against the record's truth."""
    events = _events(out)
    verdict = out["abnormality_detection"]
    target = TARGET_TYPE[record.category]
    row: dict[str, Any] = {
        "abnormal": bool(verdict.get("is_abnormal")),
        "triage": out["triage_priority"],
        "evidence": verdict.get("evidence", []),
        "n_clinical_events": len(events),
        "onset_errors_s": [],
    }
    if target is None:
        return row
    if target == "epileptiform":
        hits = 0
        for tr in record.truth:
            near = [e for e in events if e["type"] == target]
            near = [e for e in near if abs(e["onset_s"] - tr.onset_s) <= SPIKE_TOLERANCE_S]
            if near:
                hits += 1
                row["onset_errors_s"].append(min(abs(e["onset_s"] - tr.onset_s) for e in near))
        row["n_truth"], row["n_found"] = len(record.truth), hits
        row["found"] = hits / max(len(record.truth), 1)
        return row
    tr = record.truth[0]
    right = [e for e in events if e["type"] == target and _overlaps(e, tr.onset_s, tr.offset_s)]
    if target == "seizure":
        right = [e for e in right if abs(e["onset_s"] - tr.onset_s) <= SEIZURE_ONSET_TOLERANCE_S]
    row["found"] = 1.0 if right else 0.0
    during = [e for e in events if _overlaps(e, tr.onset_s, tr.offset_s)]
    row["found_types"] = sorted({e["type"] for e in during})
    if right:
        row["onset_errors_s"].append(min(abs(e["onset_s"] - tr.onset_s) for e in right))
    return row


def evaluate(
    n_records: int = 10,
    duration_s: float = 180.0,
    verbose: bool = False,
    categories: Sequence[str] | None = None,
) -> dict:
    """Per category (every one of the corpus unless ``categories`` names some): verdicts,
    triage, sensitivity, false detections per clean hour, onset."""
    table: dict[str, Any] = {}
    for category in categories or CATEGORIES:
        rows = []
        t0 = time.perf_counter()
        for k in range(n_records):
            record = make_record(category, k, duration_s)
            rec = recording_from_array(
                record.data_uv, 256.0, record.ch_names, f"{category}-{record.seed}"
            )
            out = analyze(rec, "screening").to_dict()
            rows.append(score_record(record, out))
            if verbose:
                r = rows[-1]
                print(f"  {category} seed {record.seed}: abnormal={r['abnormal']} "
                      f"{r['triage']} found={r.get('found')} {r['evidence']} "
                      f"truth {_truth_text(record)} seizures {_seizure_text(out)}")  # fmt: skip
        hours = n_records * duration_s / 3600
        errors = [e for r in rows for e in r["onset_errors_s"]]
        found = [r["found"] for r in rows if "found" in r]
        summary = {
            "records": n_records,
            "abnormal": round(float(np.mean([r["abnormal"] for r in rows])), 3),
            "triage": dict(Counter(r["triage"] for r in rows)),
            "found": round(float(np.mean(found)), 3) if found else None,
            "false_per_hour_clean": (
                round(sum(r["n_clinical_events"] for r in rows) / hours, 2)
                if TARGET_TYPE[category] is None
                else None
            ),
            "median_onset_error_s": round(float(np.median(errors)), 3) if errors else None,
            "seconds_per_record": round((time.perf_counter() - t0) / n_records, 2),
        }
        if category == "spikes":
            summary["spike_sensitivity"] = round(
                sum(r["n_found"] for r in rows) / sum(r["n_truth"] for r in rows), 3
            )
        table[category] = summary
    return {"record_minutes": duration_s / 60, "per_category": table}


def triage_real(directory: Path) -> dict[str, Any]:
    """Triage of every readable recording in ``directory`` (screening)."""
    out: dict[str, Any] = {}
    for path in sorted(directory.iterdir()):
        try:
            rec = read_recording(path)
        except Exception as exc:  # annotation-only files and the like: say why
            out[path.name] = {"error": f"{type(exc).__name__}: {str(exc)[:80]}"}
            continue
        result = analyze(rec, "screening").to_dict()
        verdict = result["abnormality_detection"]
        out[path.name] = {
            "duration_s": round(rec.duration_s, 1),
            "abnormal": verdict.get("is_abnormal"),
            "triage": result["triage_priority"],
            "reason": result["triage_reason"],
            "evidence": verdict.get("evidence"),
        }
    return out


def print_table(result: dict[str, Any]) -> None:
    header = f"{'category':<20}{'n':>4}{'abnormal':>10}{'routine':>9}{'expedite':>10}{'urgent':>8}"
    print(header + f"{'found':>8}{'FP/h clean':>12}{'onset |dt| s':>14}")
    for category, row in result["per_category"].items():
        tri = row["triage"]
        found = "-" if row["found"] is None else f"{row['found']:.2f}"
        fph = "-" if row["false_per_hour_clean"] is None else f"{row['false_per_hour_clean']:.2f}"
        err = "-" if row["median_onset_error_s"] is None else f"{row['median_onset_error_s']:.3f}"
        print(
            f"{category:<20}{row['records']:>4}{row['abnormal']:>10.2f}{tri.get('routine', 0):>9}"
            f"{tri.get('expedite', 0):>10}{tri.get('urgent', 0):>8}{found:>8}{fph:>12}{err:>14}"
        )
    spikes = result["per_category"].get("spikes", {})
    if "spike_sensitivity" in spikes:
        print(f"spike sensitivity over the morphology mix: {spikes['spike_sensitivity']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10, help="records per category")
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--real", type=Path, default=None, help="triage these recordings too")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--categories", nargs="+", choices=list(CATEGORIES), default=None,
        help="only these categories (all by default)",
    )  # fmt: skip
    args = parser.parse_args()
    result = evaluate(args.records, args.minutes * 60, args.verbose, args.categories)
    print_table(result)
    if args.real is not None:
        result["real"] = triage_real(args.real)
        for name, row in result["real"].items():
            print(f"{name}: {row}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
