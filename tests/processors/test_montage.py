"""Channel-name normalisation: the names clinical files write, mapped to 10-10 names."""

from __future__ import annotations

import pytest

from processors.montage import (
    STANDARD_1020_19,
    classify_channels,
    normalize_channel_name,
    standard_1020_montage,
)

SCALP_CASES = [
    # the brief's examples
    ("EEG Fp1-Ref", "Fp1"),
    ("FP1", "Fp1"),
    ("Fp1-LE", "Fp1"),
    ("Fc5.", "FC5"),
    ("EEG T3-Ref", "T7"),
    ("T4", "T8"),
    ("T5", "P7"),
    ("T6", "P8"),
    ("EEG FZ-REF", "Fz"),
    # TUH corpus style
    ("EEG FP2-REF", "Fp2"),
    ("EEG T5-LE", "P7"),
    ("EEG CZ-AR", "Cz"),
    # PhysioNet EEG Motor Movement style: dots as padding
    ("Cz..", "Cz"),
    ("Fpz.", "Fpz"),
    ("Af3.", "AF3"),
    ("Poz.", "POz"),
    ("Iz..", "Iz"),
    # other references and separators
    ("EEG C3-A2", "C3"),
    ("O1-M2", "O1"),
    ("Pz-AVG", "Pz"),
    ("EEG:Oz", "Oz"),
    ("EEG_F8", "F8"),
    ("eeg t6-ref", "P8"),
    (" Cz ", "Cz"),
    ("TP9", "TP9"),
    ("FT10", "FT10"),
    ("cpz", "CPz"),
]

NOT_SCALP_CASES = [
    "ECG",
    "EKG1",
    "EEG ECG-Ref",
    "EOG",
    "EOG left",
    "LOC-A2 EOG",
    "EMG",
    "EMG Chin",
    "SpO2",
    "SaO2",
    "Pulse",
    "Resp Thorax",
    "Trigger",
    "STI 014",
    "Status",
    "acc1",
    "Accel X",
    "POL E",
    "POL X1",
    "POL $A1",
    "POL DC03",
    "DC01",
    "Photic",
    "PHOTIC-REF",
    "Event",
    "A1",
    "A2",
    "M1",
    "M2",
    "EEG A1-Ref",
    "EEG A2-REF",
    "Fp1-F7",  # a bipolar derivation is not one electrode
    "T3-T5",
    "EEG 1",
    "T1",  # anterior temporal: not a 10-10 position
    "",
    "EDF Annotations",
]


@pytest.mark.parametrize(("name", "expected"), SCALP_CASES)
def test_scalp_names_map_to_standard(name: str, expected: str) -> None:
    assert normalize_channel_name(name) == expected


@pytest.mark.parametrize("name", NOT_SCALP_CASES)
def test_non_scalp_names_are_set_aside(name: str) -> None:
    assert normalize_channel_name(name) is None


def test_standard_19_are_montage_names_and_fixed_points_of_normalisation() -> None:
    montage_names = set(standard_1020_montage().ch_names)
    assert len(STANDARD_1020_19) == 19
    for name in STANDARD_1020_19:
        assert name in montage_names
        assert normalize_channel_name(name) == name
        assert normalize_channel_name(name.upper()) == name
        assert normalize_channel_name(f"EEG {name}-Ref") == name


def test_classify_splits_eeg_from_the_rest_in_file_order() -> None:
    names = ["EEG Fp2-Ref", "ECG", "EEG T3-Ref", "EEG A1-Ref", "POL E", "Fz"]
    eeg, set_aside = classify_channels(names)
    assert list(eeg.items()) == [("EEG Fp2-Ref", "Fp2"), ("EEG T3-Ref", "T7"), ("Fz", "Fz")]
    assert set_aside == ["ECG", "EEG A1-Ref", "POL E"]


def test_classify_keeps_the_first_of_duplicates() -> None:
    names = ["Fp1-LE", "EEG Fp1-Ref", "T3", "T7", "Cz", "Cz"]
    eeg, set_aside = classify_channels(names)
    assert eeg == {"Fp1-LE": "Fp1", "T3": "T7", "Cz": "Cz"}
    assert set_aside == ["EEG Fp1-Ref", "T7", "Cz"]


def test_classify_with_no_eeg_returns_empty_mapping() -> None:
    eeg, set_aside = classify_channels(["ECG", "EOG", "EMG"])
    assert eeg == {}
    assert set_aside == ["ECG", "EOG", "EMG"]
