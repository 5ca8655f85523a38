"""Bad channels: pyprep's ``NoisyChannels`` against :func:`processors.quality.detect_bad_channels`.

Run ``python -m evaluation.qc_pyprep [--records 12] [--real DIR]``. Two-minute synthetic records
(19 channels, muscle bursts, blinks, line noise; every other one with a flat T7 and a noisy
O1 injected), each analysed on the same 256 Hz band-passed signal by both (pyprep without
RANSAC, which PREP itself skips under 32 channels; ours likewise). Prints per record what each
flagged, then the injected channels found, the false ones, how often the two sets agree and
the time per record; with ``--real``, what each says of the real recordings.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from pathlib import Path

import mne
import numpy as np

from evaluation import EVALUATION_SEED_BASE
from processors.io import read_recording, recording_from_array
from processors.preprocessing import prepare_recording
from processors.quality import detect_bad_channels
from processors.synthetic import generate_eeg
from processors.types import Recording


def _both(prepared: Recording) -> tuple[set[str], dict[str, list[str]], float, float]:
    from pyprep.find_noisy_channels import NoisyChannels

    x = prepared.raw.get_data() * 1e6
    t0 = time.perf_counter()
    own = set(detect_bad_channels(x, prepared.sfreq_hz, prepared.ch_names))
    t_own = time.perf_counter() - t0
    t0 = time.perf_counter()
    noisy = NoisyChannels(prepared.raw.copy(), random_state=0, ransac=False)
    noisy.find_all_bads(ransac=False)
    t_prep = time.perf_counter() - t0
    why = {k: v for k, v in noisy.get_bads(as_dict=True).items() if v and k != "bad_all"}
    return own, why, t_own, t_prep


def compare(n_records: int = 12) -> dict[str, float]:
    """Injected found, false flags, set agreement and seconds per record, for each side."""
    found = {"own": 0, "pyprep": 0}
    false = {"own": 0, "pyprep": 0}
    same, injected, t_own, t_prep = [], 0, 0.0, 0.0
    for k in range(n_records):
        bad = {"T7": "flat", "O1": "noisy"} if k % 2 == 0 else {}
        eeg = generate_eeg(
            120.0, bad_channels=bad, muscle=True, seed=EVALUATION_SEED_BASE + 90_000 + k
        )
        prepared = prepare_recording(recording_from_array(eeg.data_uv, 256.0, eeg.ch_names, "q"))
        own, why, a, b = _both(prepared)
        theirs = {c for names in why.values() for c in names}
        print(f"record {k}: injected {sorted(bad)}; own {sorted(own)}; pyprep {why}")
        injected += len(bad)
        for side, flagged in (("own", own), ("pyprep", theirs)):
            found[side] += len(flagged & set(bad))
            false[side] += len(flagged - set(bad))
        same.append(own == theirs)
        t_own, t_prep = t_own + a, t_prep + b
    return {
        "injected": injected,
        "own_found": found["own"],
        "own_false": false["own"],
        "pyprep_found": found["pyprep"],
        "pyprep_false": false["pyprep"],
        "same_set_share": round(float(np.mean(same)), 3),
        "own_s_per_record": round(t_own / n_records, 3),
        "pyprep_s_per_record": round(t_prep / n_records, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=12)
    parser.add_argument("--real", type=Path, default=None)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("pyprep").setLevel(logging.ERROR)
    mne.set_log_level("ERROR")
    print(compare(args.records))
    if args.real is not None:
        for path in sorted(args.real.iterdir()):
            try:
                prepared = prepare_recording(read_recording(path))
            except Exception as exc:  # annotation-only files: say why
                print(f"{path.name}: {type(exc).__name__}")
                continue
            own, why, a, b = _both(prepared)
            print(f"{path.name}: own {sorted(own)} ({a:.2f} s); pyprep {why} ({b:.2f} s)")


if __name__ == "__main__":
    main()
