"""Cap-specific channel numbering is recognised, never read letter by letter as 10-10 names."""

from __future__ import annotations

import mne
import numpy as np
import pytest

from processors.analyze import analyze
from processors.caps import MAX_SITE_ANGLE_DEG
from processors.errors import CapNumberingUnknown, NoEEGChannels
from processors.io import recording_from_array
from processors.montage import cap_mapping, classify_channels
from processors.synthetic import generate_eeg


@pytest.mark.parametrize("montage", ["biosemi128", "GSN-HydroCel-129", "GSN-HydroCel-256"])
def test_a_standard_cap_is_placed_on_the_nearest_10_10_sites(montage: str) -> None:
    names = mne.channels.make_standard_montage(montage).ch_names
    eeg, set_aside = classify_channels(names)
    cap = cap_mapping(names)
    assert cap is not None and cap.montage == montage
    # one electrode per site, each site a 10-10 name, every channel either mapped or set aside
    assert len(set(eeg.values())) == len(eeg) >= 60
    assert {"Fp1", "Fp2", "Cz", "Pz", "O1", "O2", "T7", "T8"} <= set(eeg.values())
    assert set(eeg) | set(set_aside) == set(names)
    assert max(cap.angle_deg.values()) <= MAX_SITE_ANGLE_DEG
    described = cap.describe()
    assert described["cap_numbering"] == montage and "nearest 10-10 sites" in described["positions"]


def test_biosemi_letters_are_not_read_as_10_10_names() -> None:
    names = mne.channels.make_standard_montage("biosemi128").ch_names
    eeg, _ = classify_channels(names)
    # On a BioSemi 128 cap, A1 is the vertex, the A row runs down the back and the C row
    # covers the front: never the A1 ear reference, nor the 10-10 C1 (central) or O1.
    assert eeg.get("A1") in (None, "Cz", "FCz", "CPz", "C1", "C2")
    assert eeg.get("C1") != "C1"
    a_row = {v for k, v in eeg.items() if k.startswith("A")}
    c_row = {v for k, v in eeg.items() if k.startswith("C")}
    assert {"Pz", "Oz", "O1", "O2"} <= a_row
    assert {"Fp1", "Fp2", "Fz"} <= c_row
    assert all(v.startswith(("F", "AF", "Fp")) for v in c_row)


def test_a_numbered_cap_with_no_standard_layout_is_refused_clearly() -> None:
    # The 139-channel research cap: A1..A16, B1.., ..., I8.
    names = [f"{row}{i}" for row in "ABCDEFGH" for i in range(1, 17)] + [
        f"I{i}" for i in range(1, 12)
    ]
    with pytest.raises(CapNumberingUnknown, match="numbered by cap position") as info:
        classify_channels(names)
    assert isinstance(info.value, NoEEGChannels)
    assert "not read as 10-10 names" in str(info.value)


def test_ordinary_10_20_files_are_not_taken_for_caps() -> None:
    names = ["EEG Fp1-Ref", "EEG C3-Ref", "A1", "A2", "F3", "C1", "F10", "O2", "ECG", "T3"]
    assert cap_mapping(names) is None
    eeg, set_aside = classify_channels(names)
    assert eeg["C1"] == "C1" and eeg["T3"] == "T7"
    assert set_aside == ["A1", "A2", "ECG"]


def test_a_cap_recording_is_analysed_and_the_result_says_how_it_was_placed() -> None:
    names = mne.channels.make_standard_montage("biosemi128").ch_names
    eeg = generate_eeg(30.0, seed=61)
    # 128 channels of background: each cap electrode carries the site it maps to, or noise
    eeg_map, _ = classify_channels(names)
    rng = np.random.default_rng(0)
    rows = {c: i for i, c in enumerate(eeg.ch_names)}
    n_samples = eeg.data_uv.shape[1]
    data = np.array(
        [
            eeg.data_uv[rows[eeg_map[n]]] if eeg_map.get(n) in rows else rng.normal(0, 9, n_samples)
            for n in names
        ]
    )
    rec = recording_from_array(data, eeg.sfreq_hz, names, "biosemi")
    assert rec.channel_layout is not None and rec.channel_layout["cap_numbering"] == "biosemi128"
    out = analyze(rec, "quick").to_dict()
    assert out["recording"]["channel_layout"]["cap_numbering"] == "biosemi128"
    assert "Cz" in out["recording"]["ch_names"]
