"""Bad channels found and interpolated: the repaired recording's features stay close to the
clean recording's (issue 3, "done when")."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from processors import quality
from processors.features import feature_fidelity, load_eegpt
from processors.io import recording_from_array
from processors.preprocessing import window_recording
from processors.qeeg import band_powers
from processors.synthetic import generate_eeg

BAD = {"T7": "flat", "O1": "noisy"}


@pytest.fixture(scope="module")
def clean_and_corrupted():
    clean = generate_eeg(60.0, seed=21)
    corrupted = generate_eeg(60.0, seed=21, bad_channels=BAD)
    windows = []
    for eeg, name in ((clean, "clean"), (corrupted, "corrupted")):
        rec = recording_from_array(eeg.data_uv, eeg.sfreq_hz, eeg.ch_names, name)
        windows.append(window_recording(rec, line_freq_hz=50.0))
    return windows


def test_injected_bad_channels_are_found_and_interpolated(clean_and_corrupted):
    clean, corrupted = clean_and_corrupted
    qc = quality.assess_quality(corrupted)
    assert set(qc.bad_channels) == set(BAD)
    assert qc.repaired.ch_names == corrupted.ch_names  # interpolated, never dropped
    for name in BAD:
        i = corrupted.ch_names.index(name)
        r = np.corrcoef(qc.repaired.data_uv[:, i].ravel(), clean.data_uv[:, i].ravel())[0, 1]
        assert r > 0.6, (name, r)


def test_repaired_features_stay_close_to_the_clean_ones(clean_and_corrupted):
    clean, corrupted = clean_and_corrupted
    repaired = quality.assess_quality(corrupted).repaired

    # Relative band power of every channel: the repair brings it back near the clean values.
    def rel_power(batch):
        bp = band_powers(batch)
        return np.stack([bp[f"{b}_rel"] for b in ("delta", "theta", "alpha", "beta")], -1)

    err_corrupted = np.abs(rel_power(corrupted) - rel_power(clean)).mean()
    err_repaired = np.abs(rel_power(repaired) - rel_power(clean)).mean()
    assert err_repaired < 0.5 * err_corrupted, (err_repaired, err_corrupted)

    # EEGPT features (seeded development weights: no checkpoint can be downloaded here).
    torch.set_num_threads(2)
    extractor = load_eegpt(None, ch_names=clean.ch_names, allow_random_weights=True)
    f_clean, f_corrupted, f_repaired = (
        extractor.extract(b.select(slice(0, 6))) for b in (clean, corrupted, repaired)
    )
    repaired_fid = feature_fidelity(f_clean, f_repaired)
    corrupted_fid = feature_fidelity(f_clean, f_corrupted)
    print(f"EEGPT features vs clean: repaired {repaired_fid}, corrupted {corrupted_fid}")
    assert repaired_fid["relative_l2"] < corrupted_fid["relative_l2"]
    assert repaired_fid["mean_centred_cosine"] > corrupted_fid["mean_centred_cosine"]
