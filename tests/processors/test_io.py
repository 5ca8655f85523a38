"""Reading recordings: real files end to end, identity kept apart, typed errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import edfio
import mne
import numpy as np
import pytest

from processors.errors import (
    AnnotationsOnly,
    NoEEGChannels,
    NonFiniteSamples,
    NotAnEEGFile,
    RecordingTooShort,
    WrongSamplingRate,
)
from processors.io import (
    MIN_SFREQ_HZ,
    check_finite,
    content_id,
    read_edf_header,
    read_recording,
    recording_from_array,
)
from processors.montage import STANDARD_1020_19

NK_FILE = "nihon_kohden_clinical_19ch_200hz.edf"
BCI_FILE = "openbci_sleep_125hz.bdf"
HYPNOGRAM_FILE = "sleep_edf_SC4001EC_hypnogram.edf"


def _write_edf(
    path: Path,
    labels: list[str],
    *,
    sfreq_hz: float = 200.0,
    duration_s: float = 10.0,
    patient: edfio.Patient | None = None,
    recording: edfio.Recording | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Write an EDF+ file of Gaussian noise in microvolts; return the samples written."""
    rng = np.random.default_rng(seed)
    data_uv = rng.normal(0.0, 20.0, (len(labels), int(sfreq_hz * duration_s)))
    signals = [
        edfio.EdfSignal(
            row,
            sampling_frequency=sfreq_hz,
            label=label,
            physical_dimension="uV",
            physical_range=(-500.0, 500.0),
        )
        for label, row in zip(labels, data_uv, strict=True)
    ]
    edf = edfio.Edf(
        signals,
        patient=patient,
        recording=recording or edfio.Recording(startdate=dt.date(2024, 5, 6)),
        starttime=dt.time(8, 30, 0),
    )
    edf.write(path)
    return data_uv


# --------------------------------------------------------------------------- real recordings


def test_nihon_kohden_clinical_file_end_to_end(real_data_dir: Path) -> None:
    rec = read_recording(real_data_dir / NK_FILE)
    assert rec.sfreq_hz == 200.0
    assert sorted(rec.ch_names) == sorted(STANDARD_1020_19)
    # old names renamed, and the original label kept for each
    assert rec.original_names["T7"] == "EEG T3-Ref"
    assert rec.original_names["P8"] == "EEG T6-Ref"
    assert rec.set_aside == ["POL E", "EEG A2-Ref", "EEG A1-Ref", "POL X1", "POL $A2", "POL $A1"]
    assert rec.file_format == "EDF+"
    assert rec.duration_s == pytest.approx(29.0)
    assert set(rec.raw.get_channel_types()) == {"eeg"}
    montage = rec.raw.get_montage()
    assert montage is not None and set(montage.ch_names) == set(STANDARD_1020_19)
    # real EEG amplitudes: tens to hundreds of microvolts, not volts nor nanovolts
    std_uv = rec.raw.get_data().std(axis=1) * 1e6
    assert np.all((std_uv > 1.0) & (std_uv < 5000.0))
    assert rec.start_time == dt.datetime(2019, 4, 3, 16, 0, 16, tzinfo=dt.UTC)
    assert rec.recording_id == content_id(real_data_dir / NK_FILE)
    assert len(rec.recording_id) == 16


def test_openbci_bdf_keeps_scalp_eeg_and_sets_references_aside(real_data_dir: Path) -> None:
    rec = read_recording(real_data_dir / BCI_FILE, recording_id="night-1")
    assert rec.recording_id == "night-1"
    assert rec.sfreq_hz == 125.0
    assert rec.ch_names == ["C3", "C4", "F3", "Fz", "F4", "P3", "Pz", "P4", "O1", "O2"]
    assert {"A1", "A2", "EOG", "EMG", "ECG", "Trigger", "acc1", "acc2", "acc3"} == set(
        rec.set_aside
    )
    assert rec.file_format == "BDF+"
    assert rec.duration_s == pytest.approx(247.0)
    assert rec.patient.sex == "F"
    assert rec.patient.equipment == "OpenBCI COsleep"


def test_identity_is_kept_apart_from_the_signal(real_data_dir: Path) -> None:
    rec = read_recording(real_data_dir / BCI_FILE)
    assert rec.patient.name == "OPSA614"
    assert rec.patient.birthdate == "01-JAN-2000"
    info = rec.raw.info
    assert info["subject_info"] is None
    assert info["experimenter"] is None
    assert "OPSA614" not in repr(info)
    assert info["meas_date"] == dt.datetime(2019, 12, 15, 14, 36, 46, tzinfo=dt.UTC)


def test_written_edf_identity_fields(tmp_path: Path) -> None:
    path = tmp_path / "patient.edf"
    _write_edf(
        path,
        ["EEG Fp1-Ref", "EEG Cz-Ref", "ECG"],
        patient=edfio.Patient(
            code="MRN-0042", sex="M", birthdate=dt.date(1970, 3, 1), name="Doe_John"
        ),
        recording=edfio.Recording(
            startdate=dt.date(2024, 5, 6),
            hospital_administration_code="ADM-7",
            investigator_technician_code="TechA",
            equipment_code="AmpX",
        ),
    )
    rec = read_recording(path)
    assert rec.patient.patient_code == "MRN-0042"
    assert rec.patient.name == "Doe John"
    assert rec.patient.sex == "M"
    assert rec.patient.birthdate == "01-MAR-1970"
    assert rec.patient.hospital_code == "ADM-7"
    assert rec.patient.technician == "TechA"
    assert rec.patient.equipment == "AmpX"
    assert not rec.patient.is_empty()
    assert "Doe" not in repr(rec.raw.info) and "MRN-0042" not in repr(rec.raw.info)
    assert rec.ch_names == ["Fp1", "Cz"]
    assert rec.set_aside == ["ECG"]


def test_written_edf_samples_round_trip_in_volts(tmp_path: Path) -> None:
    path = tmp_path / "values.edf"
    data_uv = _write_edf(path, ["Fp1", "Fp2"], sfreq_hz=256.0, duration_s=8.0)
    rec = read_recording(path)
    # 16-bit quantisation over +-500 uV: steps of 0.015 uV
    np.testing.assert_allclose(rec.raw.get_data() * 1e6, data_uv, atol=0.05)


def test_recording_id_is_stable_and_content_based(tmp_path: Path) -> None:
    a, b = tmp_path / "a.edf", tmp_path / "b.edf"
    _write_edf(a, ["Cz"], seed=1)
    _write_edf(b, ["Cz"], seed=2)
    assert read_recording(a).recording_id == read_recording(a).recording_id
    assert read_recording(a).recording_id != read_recording(b).recording_id


def test_fif_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    info = mne.create_info(["EEG Fp1-Ref", "EEG O2-Ref", "EOG"], 250.0, "eeg")
    raw = mne.io.RawArray(rng.normal(0, 20e-6, (3, 2500)), info, verbose="error")
    with raw.info._unlock():
        raw.info["subject_info"] = {"his_id": "P-9", "first_name": "Ann", "last_name": "Lee"}
    path = tmp_path / "rec_raw.fif"
    raw.save(path, verbose="error")
    rec = read_recording(path)
    assert rec.file_format == "FIF"
    assert rec.ch_names == ["Fp1", "O2"]
    assert rec.set_aside == ["EOG"]
    assert rec.patient.patient_code == "P-9" and rec.patient.name == "Ann Lee"
    assert rec.raw.info["subject_info"] is None


# --------------------------------------------------------------------------- typed errors


def test_annotation_only_file_gets_its_clear_error(real_data_dir: Path) -> None:
    with pytest.raises(AnnotationsOnly, match="annotations only and no signal"):
        read_recording(real_data_dir / HYPNOGRAM_FILE)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.edf"
    path.write_bytes(b"")
    with pytest.raises(NotAnEEGFile, match="empty"):
        read_recording(path)


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.edf"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(NotAnEEGFile, match="not an EDF or BDF file"):
        read_recording(path)


def test_text_file_named_edf(tmp_path: Path) -> None:
    path = tmp_path / "notes.edf"
    path.write_text("patient notes, not a recording\n" * 20)
    with pytest.raises(NotAnEEGFile, match="not an EDF or BDF file"):
        read_recording(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotAnEEGFile, match="does not exist"):
        read_recording(tmp_path / "nowhere.edf")


def _corrupt(path: Path, offset: int, value: bytes) -> None:
    blob = bytearray(path.read_bytes())
    blob[offset : offset + len(value)] = value
    path.write_bytes(bytes(blob))


def test_corrupt_number_of_signals(tmp_path: Path) -> None:
    path = tmp_path / "broken.edf"
    _write_edf(path, ["Fp1", "Cz"])
    _corrupt(path, 252, b"ab  ")
    with pytest.raises(NotAnEEGFile, match="'number of signals' is 'ab'"):
        read_recording(path)


def test_corrupt_header_size(tmp_path: Path) -> None:
    path = tmp_path / "broken.edf"
    _write_edf(path, ["Fp1", "Cz"])
    _corrupt(path, 184, b"999     ")
    with pytest.raises(NotAnEEGFile, match="header is corrupt"):
        read_recording(path)


def test_corrupt_samples_per_record(tmp_path: Path) -> None:
    path = tmp_path / "broken.edf"
    _write_edf(path, ["Fp1", "Cz"])
    n_signals = 2
    offset = 256 + 216 * n_signals
    _corrupt(path, offset, b"-5      ")
    with pytest.raises(NotAnEEGFile, match="header is corrupt"):
        read_recording(path)


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.edf"
    _write_edf(path, ["Fp1", "Cz"], duration_s=20.0)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(NotAnEEGFile, match="truncated"):
        read_recording(path)


def test_truncated_real_file(tmp_path: Path, real_data_dir: Path) -> None:
    # a partial upload of a real file: written to the test's temporary folder only
    path = tmp_path / "partial.edf"
    path.write_bytes((real_data_dir / NK_FILE).read_bytes()[:100_000])
    with pytest.raises(NotAnEEGFile, match="truncated"):
        read_recording(path)


def test_file_without_eeg_lists_what_it_found(tmp_path: Path) -> None:
    path = tmp_path / "polygraphy.edf"
    _write_edf(path, ["ECG", "EOG left", "EMG chin"])
    with pytest.raises(NoEEGChannels, match="ECG, EOG left, EMG chin"):
        read_recording(path)


def test_too_short_file(tmp_path: Path) -> None:
    path = tmp_path / "short.edf"
    _write_edf(path, ["Fp1", "Cz"], duration_s=3.0)
    with pytest.raises(RecordingTooShort, match=r"lasts 3\.00 s"):
        read_recording(path)


def test_rate_too_low_file(tmp_path: Path) -> None:
    path = tmp_path / "slow.edf"
    _write_edf(path, ["Fp1", "Cz"], sfreq_hz=50.0, duration_s=10.0)
    with pytest.raises(WrongSamplingRate, match="50 Hz"):
        read_recording(path)


def test_header_reader_on_real_files(real_data_dir: Path) -> None:
    header = read_edf_header(real_data_dir / BCI_FILE)
    assert header.file_format == "BDF+"
    assert header.n_records == 247
    assert "A1" in header.labels and "Trigger" in header.labels


# --------------------------------------------------------------------------- from arrays


def test_recording_from_array_normalises_and_converts_to_volts() -> None:
    rng = np.random.default_rng(0)
    data_uv = rng.normal(0, 30, (4, 1000))
    start = dt.datetime(2025, 1, 2, 3, 4, 5)
    rec = recording_from_array(
        data_uv, 200.0, ["EEG T3-Ref", "ECG", "Fp1-LE", "A1"], "r1", start_time=start
    )
    assert rec.ch_names == ["T7", "Fp1"]
    assert rec.set_aside == ["ECG", "A1"]
    assert rec.original_names == {"T7": "EEG T3-Ref", "Fp1": "Fp1-LE"}
    np.testing.assert_allclose(rec.raw.get_data() * 1e6, data_uv[[0, 2]])
    assert rec.start_time == start.replace(tzinfo=dt.UTC)
    assert rec.raw.get_montage() is not None


def test_recording_from_array_nan_names_channels_and_counts() -> None:
    data_uv = np.zeros((3, 2000))
    data_uv[1, 10:15] = np.nan
    data_uv[2, 7] = np.inf
    with pytest.raises(NonFiniteSamples, match=r"Cz: 5, Pz: 1") as err:
        recording_from_array(data_uv, 256.0, ["Fz", "Cz", "Pz"], "r2")
    assert "6 in all" in str(err.value)


def test_check_finite_counts_per_channel_across_windows() -> None:
    """Windows (windows, channels, samples), as quality control and EEGPT pass them: the
    count is per channel over every window, not per window."""
    windows_uv = np.zeros((4, 3, 256))
    windows_uv[0, 1, :2] = np.nan
    windows_uv[3, 1, 9] = -np.inf
    windows_uv[2, 2, 0] = np.nan
    check_finite(windows_uv[:, [0]], ["Fz"])  # clean channel: nothing raised
    with pytest.raises(NonFiniteSamples, match=r"\(4 in all; per channel: Cz: 3, Pz: 1\)"):
        check_finite(windows_uv, ["Fz", "Cz", "Pz"], "the windows")


def test_recording_from_array_ignores_nan_in_set_aside_channels() -> None:
    data_uv = np.zeros((2, 2000))
    data_uv[1] = np.nan  # a disconnected ECG lead does not sink the EEG
    rec = recording_from_array(data_uv, 256.0, ["Cz", "ECG"], "r3")
    assert rec.ch_names == ["Cz"]


@pytest.mark.parametrize("sfreq_hz", [0.0, -10.0, float("nan"), MIN_SFREQ_HZ - 1])
def test_recording_from_array_bad_rate(sfreq_hz: float) -> None:
    with pytest.raises(WrongSamplingRate):
        recording_from_array(np.zeros((1, 5000)), sfreq_hz, ["Cz"], "r4")


def test_recording_from_array_too_short_and_no_eeg() -> None:
    with pytest.raises(RecordingTooShort, match="1023 samples"):
        recording_from_array(np.zeros((1, 1023)), 256.0, ["Cz"], "r5")
    recording_from_array(np.zeros((1, 1024)), 256.0, ["Cz"], "r5")  # exactly one window
    with pytest.raises(NoEEGChannels, match="ECG, Trigger"):
        recording_from_array(np.zeros((2, 5000)), 256.0, ["ECG", "Trigger"], "r6")


def test_recording_from_array_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="one row per name"):
        recording_from_array(np.zeros((2, 5000)), 256.0, ["Cz"], "r7")
