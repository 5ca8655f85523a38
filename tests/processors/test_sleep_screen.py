"""Sleep is not slowing: a normal night is not abnormal for its delta and theta (issue 10)."""

from __future__ import annotations

import numpy as np
import pytest

from processors.analyze import analyze
from processors.io import recording_from_array
from processors.preprocessing import window_recording
from processors.sleep_screen import (
    sleep_windows,
    sleep_windows_from_hypnogram,
    spindle_windows,
)
from processors.synthetic import generate_eeg

#: ten minutes of a night: wake, drowsiness, N2 with spindles and K-complexes, N3, N2, REM
NIGHT = ["W"] * 2 + ["N1"] * 2 + ["N2"] * 6 + ["N3"] * 6 + ["N2"] * 2 + ["R"] * 2


def _recording(eeg, rid: str):
    return recording_from_array(eeg.data_uv, eeg.sfreq_hz, eeg.ch_names, rid)


@pytest.fixture(scope="module")
def night():
    return generate_eeg(30.0 * len(NIGHT), sleep_stages=NIGHT, seed=1)


def test_spindles_are_found_in_n2_and_not_in_wake(night) -> None:
    windows = window_recording(_recording(night, "night"))
    found = spindle_windows(windows)
    epoch = (windows.start_s // 30).astype(int)
    n2 = [k for k, stage in enumerate(NIGHT) if stage == "N2"]
    # the generator puts 1-3 spindles in every N2 epoch
    assert np.mean([found[epoch == k].any() for k in n2]) >= 0.75
    wake = [k for k, stage in enumerate(NIGHT) if stage == "W"]
    assert not any(found[epoch == k].any() for k in wake)
    awake = window_recording(_recording(generate_eeg(120.0, seed=2), "awake"))
    assert not spindle_windows(awake).any()


def test_a_normal_night_is_routine_not_slowing(night) -> None:
    out = analyze(_recording(night, "night"), "screening").to_dict()
    verdict = out["abnormality_detection"]
    assert verdict["is_abnormal"] is False
    assert verdict["sleep_window_fraction"] > 0.6
    assert out["triage_priority"] == "routine"


def test_slowing_without_sleep_architecture_stays_abnormal() -> None:
    # Ten minutes of high-amplitude delta and theta without a spindle: not sleep.
    slow = generate_eeg(300.0, sleep_stages=["N3"] * 10, seed=3)
    out = analyze(_recording(slow, "slow"), "screening").to_dict()
    verdict = out["abnormality_detection"]
    assert verdict["is_abnormal"] is True
    assert "qeeg:slowing" in verdict["evidence"]
    assert verdict["sleep_window_fraction"] == 0.0


def test_the_hypnogram_marks_the_sleeping_windows(night) -> None:
    windows = window_recording(_recording(night, "night"))
    asleep = sleep_windows_from_hypnogram(windows, NIGHT)
    epoch_stage = np.array([NIGHT[int(s // 30)] for s in windows.start_s])
    np.testing.assert_array_equal(asleep, epoch_stage != "W")
    # Without a spindle nothing is taken for sleep, however slow.
    awake = window_recording(_recording(generate_eeg(120.0, seed=2), "awake"))
    assert not sleep_windows(awake, np.ones(awake.n_windows, dtype=bool)).any()


@pytest.mark.parametrize(
    ("stages", "seed"),
    [
        (["R", "N2", "N1", "W", "N1", "N2"], 4),  # an awakening between two stretches of sleep
        (["N1", "W", "N1", "N2", "N2", "N3"], 7),  # drowsiness on both sides of wake
    ],
)
def test_sleep_cut_by_an_awakening_is_routine(stages: list[str], seed: int) -> None:
    """Each stretch of sleep holds one spindle epoch at most, and drowsiness lies beside wake:
    the record sleeps as a whole, its slowing is sleep's, and it is routine."""
    eeg = generate_eeg(30.0 * len(stages), sleep_stages=stages, seed=seed)
    windows = window_recording(_recording(eeg, "cut"))
    epoch_stage = np.array([stages[int(s // 30)] for s in windows.start_s])
    slow = epoch_stage != "W"
    asleep = sleep_windows(windows, slow)
    assert asleep[epoch_stage != "W"].mean() >= 0.9
    assert not asleep[epoch_stage == "W"].any()
    out = analyze(_recording(eeg, "cut"), "screening").to_dict()
    assert out["abnormality_detection"]["is_abnormal"] is False
    assert out["triage_priority"] == "routine"
