"""The stream's records and state, without a broker: segments, windowing, job counting."""

from __future__ import annotations

import numpy as np
import pytest

from processors.io import read_recording, recording_from_array
from processors.preprocessing import window_recording
from processors.synthetic import generate_eeg
from schemas.codec import decode, encode
from streams.finish import JobWindows
from streams.segments import (
    JobContext,
    SegmentError,
    expected_windows_of,
    rebuild_recording,
    segment_file,
    segment_samples_uv,
    window_batch,
)
from streams.windowing import RecordingWindowers

CONTEXT = JobContext("3f1c2d4e-0000-4000-8000-000000000001", 0, "screening")


@pytest.fixture(scope="module")
def recording_200hz():
    sim = generate_eeg(61.3, sfreq_hz=200.0, seed=3)
    return recording_from_array(sim.data_uv, 200.0, sim.ch_names, recording_id="rec-200")


def test_segments_round_trip_through_the_codec_and_rebuild_the_recording(recording_200hz):
    segments = [
        decode("EEGSegment", encode("EEGSegment", dict(s)))
        for s in segment_file(recording_200hz, CONTEXT, segment_s=1.0)
    ]
    assert [s["sequence"] for s in segments] == list(range(len(segments)))
    assert [s["is_last"] for s in segments] == [False] * (len(segments) - 1) + [True]
    assert sum(s["n_samples"] for s in segments) == recording_200hz.raw.n_times
    # delivered twice and out of order: counted once, in order
    rebuilt = rebuild_recording(segments[::-1] + segments[:3], "rec-200")
    original = recording_200hz.raw.get_data()
    np.testing.assert_allclose(rebuilt.raw.get_data(), original, rtol=1e-6, atol=1e-12)
    assert rebuilt.ch_names == recording_200hz.ch_names and rebuilt.sfreq_hz == 200.0


def test_a_gap_in_the_log_is_refused_with_the_missing_samples(recording_200hz):
    segments = list(segment_file(recording_200hz, CONTEXT, segment_s=1.0))
    with pytest.raises(SegmentError, match="samples 400-600 are missing"):
        rebuild_recording(segments[:2] + segments[3:], "rec-200")


def test_int16_segments_scale_per_channel_and_bad_payloads_say_why(recording_200hz):
    segment = next(segment_file(recording_200hz, CONTEXT, segment_s=1.0))
    n_ch = len(segment["ch_names"])
    counts = np.arange(n_ch * 200, dtype="<i2").reshape(n_ch, 200)
    scale = np.linspace(0.1, 1.0, n_ch).astype(np.float32)
    int16 = {
        **segment,
        "encoding": "int16",
        "scale_uv": scale.tolist(),
        "samples": counts.tobytes(),
    }
    np.testing.assert_allclose(segment_samples_uv(int16), counts * scale[:, None], rtol=1e-6)
    with pytest.raises(SegmentError, match="one scale_uv per channel"):
        segment_samples_uv({**int16, "scale_uv": [1.0]})
    with pytest.raises(SegmentError, match="packed it wrongly"):
        segment_samples_uv({**segment, "samples": segment["samples"][:-4]})


def test_windowers_in_a_table_give_the_file_paths_windows(recording_200hz):
    """Segments through the table-backed windowers (state saved after every segment as plain
    values) give window_recording's windows, then an end marker with the count."""
    table: dict = {}
    windowers = RecordingWindowers(table)
    out = []
    for offset, segment in enumerate(segment_file(recording_200hz, CONTEXT, segment_s=1.3)):
        out += windowers.push(decode("EEGSegment", encode("EEGSegment", dict(segment))), 2, offset)
        if not segment["is_last"]:
            assert CONTEXT.job_id in table  # the state a restarted worker continues from
    whole = window_recording(recording_200hz)
    windows, marker = out[:-1], out[-1]
    assert marker["end_of_recording"] and marker["n_windows_total"] == whole.n_windows
    assert (marker["segments_partition"], marker["segments_first_offset"]) == (2, 0)
    batch = window_batch(windows)
    np.testing.assert_array_equal(batch.index, np.arange(whole.n_windows))
    np.testing.assert_allclose(batch.data_uv, whole.data_uv, atol=1e-3)
    assert expected_windows_of(recording_200hz.raw.n_times, 200.0) == whole.n_windows
    assert table == {}  # the finished stream's state is dropped


def test_a_retry_restarts_windowing_and_stale_segments_are_ignored(recording_200hz):
    table: dict = {}
    windowers = RecordingWindowers(table)
    first = list(segment_file(recording_200hz, CONTEXT, segment_s=4.0))
    retry = list(
        segment_file(recording_200hz, JobContext(CONTEXT.job_id, 1, "screening"), segment_s=4.0)
    )
    assert len(windowers.push(first[0], 0, 10)) == 1
    assert len(windowers.push(retry[0], 0, 50)) == 1  # attempt 1 starts again at window 0
    assert windowers.push(first[1], 0, 11) == []  # attempt 0, late: ignored
    assert table[CONTEXT.job_id]["first_offset"] == 50


def test_job_windows_count_each_window_once():
    job = JobWindows("job", "rec", "screening", features_partition=1, features_first_offset=7)
    assert all(job.mark(i) for i in (0, 1, 5))
    assert not job.mark(1)
    restored = JobWindows.from_json(job.to_json())
    assert not restored.mark(5) and restored.mark(2)
    restored.end(
        {"n_windows_total": 4, "attempt": 0, "segments_partition": 1, "segments_first_offset": 3}
    )  # type: ignore[arg-type]
    assert not restored.complete  # window 3 is missing
    assert restored.mark(3) and restored.complete and restored.n_seen == 5


def test_real_recording_segments_carry_the_files_format_and_set_aside_channels(real_data_dir):
    recording = read_recording(real_data_dir / "nihon_kohden_clinical_19ch_200hz.edf")
    segments = list(segment_file(recording, CONTEXT, segment_s=4.0))
    rebuilt = rebuild_recording(segments, recording.recording_id)
    assert rebuilt.file_format == recording.file_format
    assert rebuilt.set_aside == recording.set_aside
    assert rebuilt.start_time == recording.start_time
