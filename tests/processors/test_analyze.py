"""analyze(): stages, hierarchy, failure isolation, and the file/stream rule of the house."""

from __future__ import annotations

import numpy as np
import pytest

from processors import abnormality, quality
from processors.analyze import AnalysisOptions, analyze
from processors.errors import AnnotationsOnly
from processors.io import read_recording, recording_from_array
from processors.preprocessing import StreamWindower
from processors.synthetic import InjectedEvent, generate_eeg


def _recording(duration_s: float, events=(), seed: int = 3, **kwargs):
    eeg = generate_eeg(duration_s, events=events, seed=seed, **kwargs)
    return recording_from_array(eeg.data_uv, eeg.sfreq_hz, eeg.ch_names, f"test-{seed}")


@pytest.fixture(scope="module")
def normal_recording():
    return _recording(120.0, seed=11)


@pytest.fixture(scope="module")
def seizure_recording():
    return _recording(180.0, events=[InjectedEvent("seizure", onset_s=80.0, duration_s=30.0)])


def test_normal_recording_is_routine_and_events_are_skipped(normal_recording):
    result = analyze(normal_recording, "screening")
    out = result.to_dict()
    assert out["quality_report"]["status"] == "completed"
    assert out["quality_report"]["is_acceptable"] is True
    assert out["features"]["status"] == "skipped"
    assert "checkpoint" in out["features"]["reason"]
    assert out["abnormality_detection"]["status"] == "completed"
    assert out["abnormality_detection"]["is_abnormal"] is False
    assert out["abnormality_detection"]["scorer"] == "qeeg-baseline"
    assert out["event_detection"]["status"] == "skipped"
    assert out["event_detection"]["reason"].startswith("recording_normal")
    assert out["sleep_analysis"]["status"] == "skipped"
    assert out["triage_priority"] == "routine"
    assert set(out["timings_s"]) == {
        "quality_report",
        "features",
        "abnormality_detection",
        "event_detection",
        "sleep_analysis",
    }


def test_seizure_is_found_where_it_was_injected_and_triaged_urgent(seizure_recording):
    result = analyze(seizure_recording, "screening")
    out = result.to_dict()
    assert out["abnormality_detection"]["is_abnormal"] is True
    assert out["event_detection"]["status"] == "completed"
    seizures = [e for e in out["event_detection"]["events"] if e["type"] == "seizure"]
    assert seizures, out["event_detection"]["summaries"]
    assert abs(seizures[0]["onset_s"] - 80.0) <= 5.0
    assert out["triage_priority"] == "urgent"


def test_quick_runs_no_features_no_events(seizure_recording):
    out = analyze(seizure_recording, "quick").to_dict()
    assert out["features"]["status"] == "skipped"
    assert out["event_detection"]["status"] == "skipped"
    assert out["abnormality_detection"]["status"] == "completed"


def test_failed_scoring_is_conservative_and_skips_events(normal_recording, monkeypatch):
    def broken(_windows):
        raise RuntimeError("scorer exploded")

    monkeypatch.setattr(abnormality, "score_windows_qeeg", broken)
    out = analyze(normal_recording, "screening").to_dict()
    abn = out["abnormality_detection"]
    assert abn["status"] == "failed"
    assert "scorer exploded" in abn["error"]
    assert abn["is_abnormal"] is True
    assert abn["confidence"] < 0.5
    assert out["event_detection"]["status"] == "skipped"
    assert out["event_detection"]["reason"] == "upstream_failure"
    assert out["triage_priority"] == "expedite"
    assert out["quality_report"]["status"] == "completed"


def test_quality_control_always_completes(normal_recording, monkeypatch):
    def broken(*_args, **_kwargs):
        raise ValueError("qc exploded")

    monkeypatch.setattr(quality, "assess_quality", broken)
    out = analyze(normal_recording, "quick").to_dict()
    qc = out["quality_report"]
    assert qc["status"] == "completed"
    assert qc["is_acceptable"] is False
    assert "qc exploded" in qc["error"]
    assert out["abnormality_detection"]["status"] == "completed"


def test_failing_feature_extractor_fails_only_its_stage(normal_recording):
    class BrokenExtractor:
        weights_id = "broken"
        model_version = "test"
        precision = "fp32"
        channels_used = ()
        channels_dropped = ()

        def extract(self, _batch):
            raise RuntimeError("out of memory")

    options = AnalysisOptions(feature_extractor=BrokenExtractor(), feature_unavailable_reason=None)
    out = analyze(normal_recording, "screening", options).to_dict()
    assert out["features"]["status"] == "failed"
    assert "out of memory" in out["features"]["error"]
    assert out["abnormality_detection"]["status"] == "completed"
    assert out["abnormality_detection"]["scorer"] == "qeeg-baseline"


def _stream_windows(recording, chunk: int):
    data_uv = recording.raw.get_data() * 1e6
    windower = StreamWindower(recording.ch_names, recording.sfreq_hz)
    for first in range(0, data_uv.shape[1], chunk):
        batch = windower.push(data_uv[:, first : first + chunk], first)
        if batch is not None:
            yield batch


def test_stream_windows_give_the_same_scores_as_the_whole_file(seizure_recording):
    """The rule of the house: whole file and window-by-window stream, same answer."""
    whole = analyze(seizure_recording, "quick")
    assert whole.to_dict()["quality_report"]["bad_channels"] == []
    batches = list(_stream_windows(seizure_recording, chunk=333))  # does not divide a window
    stream = np.concatenate([b.data_uv for b in batches])
    np.testing.assert_allclose(stream, whole.windows.data_uv, atol=1e-3)
    stream_scores = np.concatenate([abnormality.score_windows_qeeg(b) for b in batches])
    np.testing.assert_allclose(stream_scores, whole.window_scores, atol=1e-6)


def test_stream_qc_repairs_the_same_bad_channel_as_the_whole_file():
    recording = _recording(
        150.0,
        events=[InjectedEvent("seizure", onset_s=90.0, duration_s=25.0)],
        bad_channels={"T7": "flat"},
        seed=5,
    )
    whole = analyze(recording, "quick")
    assert whole.to_dict()["quality_report"]["bad_channels"] == ["T7"]
    stream_qc = quality.StreamQC()  # calibrates on the first minute, then a minute of context
    repaired, found = [], set()
    for batch in _stream_windows(recording, chunk=1000):
        qc = stream_qc.push(batch)
        found |= set(qc.bad_channels)
        repaired.append(qc.repaired)
    assert stream_qc.calibrated
    # The seizure's widespread rise in amplitude is not mistaken for bad channels.
    assert found == {"T7"}
    stream_scores = np.concatenate([abnormality.score_windows_qeeg(b) for b in repaired])
    np.testing.assert_allclose(stream_scores, whole.window_scores, atol=1e-4)


def test_real_clinical_recordings_are_analysed_end_to_end(real_data_dir):
    for name in ("nihon_kohden_clinical_19ch_200hz.edf", "openbci_sleep_125hz.bdf"):
        recording = read_recording(real_data_dir / name)
        out = analyze(recording, "comprehensive").to_dict()
        assert out["quality_report"]["status"] == "completed", name
        assert out["abnormality_detection"]["status"] == "completed", name
        assert out["triage_priority"] in {"routine", "expedite", "urgent"}
        # Neither is urgent: 29 s (and a healthy sleeper) give counts, not rates (issue 10).
        assert out["triage_priority"] != "urgent", name
        # 29 s and 247 s recordings are too short for sleep staging, and the result says so.
        assert out["sleep_analysis"]["status"] == "skipped", name
        assert out["sleep_analysis"]["reason"]
        assert out["recording"]["sfreq_hz"] == recording.sfreq_hz


def test_annotation_only_file_gets_its_clear_error(real_data_dir):
    with pytest.raises(AnnotationsOnly, match="annotation"):
        read_recording(real_data_dir / "sleep_edf_SC4001EC_hypnogram.edf")
