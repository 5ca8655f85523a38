"""EEG on the wire: recordings cut into ``EEGSegment`` records, windows into ``EEGWindow``
records, and back.

Samples travel channel-major as little-endian float32 microvolts (a file's samples, exact to
float32) or int16 counts with a scale per channel (a device's). Every source writes the same
segments, so the worker has one path for uploaded files, replayed archives and live devices.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from processors.io import recording_from_array
from processors.preprocessing import window_start_sample
from processors.types import WINDOW_S, WINDOW_SAMPLES, Recording, WindowBatch
from schemas.records import AnalysisType, EEGSegment, EEGWindow

#: int16 code of a sample a device could not measure (a lead off): decoded as NaN.
NAN_COUNT = -32768

#: Largest samples payload of one segment; a segment is shortened below this (many channels
#: at a high rate) to stay far under Kafka's message limit.
MAX_SEGMENT_BYTES = 1024 * 1024


class SegmentError(ValueError):
    """A segment whose samples do not match its header (shape, encoding, scale)."""

    code = "invalid_segment"


def encode_samples_f32(data_uv: np.ndarray) -> bytes:
    """(channels, samples) microvolts as channel-major little-endian float32."""
    return np.ascontiguousarray(data_uv, dtype="<f4").tobytes()


def segment_samples_uv(segment: EEGSegment) -> np.ndarray:
    """The samples of a segment, (channels, samples), float32 microvolts.

    Raises
    ------
    SegmentError
        When the payload's size does not match the channels and samples it claims, or an
        int16 segment has no scale per channel.
    """
    n_ch, n = len(segment["ch_names"]), segment["n_samples"]
    encoding = segment["encoding"]
    width = 4 if encoding == "float32" else 2
    if len(segment["samples"]) != n_ch * n * width:
        raise SegmentError(
            f"segment {segment['sequence']} of {segment['recording_id']} holds "
            f"{len(segment['samples'])} bytes, but {n_ch} channels x {n} samples of "
            f"{encoding} need {n_ch * n * width}: the source packed it wrongly"
        )
    if encoding == "float32":
        return np.frombuffer(segment["samples"], dtype="<f4").reshape(n_ch, n).astype(np.float32)
    scale = np.asarray(segment.get("scale_uv") or [], dtype=np.float32)
    if scale.shape != (n_ch,):
        raise SegmentError(
            f"int16 segment {segment['sequence']} of {segment['recording_id']} has "
            f"{scale.size} scales for {n_ch} channels: send one scale_uv per channel"
        )
    counts = np.frombuffer(segment["samples"], dtype="<i2").reshape(n_ch, n)
    samples = counts.astype(np.float32) * scale[:, None]
    samples[counts == NAN_COUNT] = np.nan  # the device could not measure (lead off)
    return samples


@dataclass(frozen=True)
class JobContext:
    """What every segment of a job's recording carries about the job."""

    job_id: str | None
    attempt: int
    analysis_type: AnalysisType
    device_id: str | None = None
    patient_ref: str | None = None


def segment_file(
    recording: Recording, context: JobContext, *, segment_s: float
) -> Iterator[EEGSegment]:
    """Cut a recording with an end into consecutive segments, the last one marked.

    Parameters
    ----------
    recording : Recording
        Scalp EEG with standard names (``processors.io.read_recording``).
    context : JobContext
        Job, attempt and analysis type stamped on every segment.
    segment_s : float
        Segment length in seconds (shortened when the channels would exceed
        :data:`MAX_SEGMENT_BYTES`).
    """
    data_uv = recording.raw.get_data() * 1e6
    n_ch, n_total = data_uv.shape
    per_segment = max(
        1, min(round(segment_s * recording.sfreq_hz), MAX_SEGMENT_BYTES // (4 * n_ch))
    )
    start = recording.start_time
    for sequence, first in enumerate(range(0, n_total, per_segment)):
        chunk = data_uv[:, first : first + per_segment]
        yield EEGSegment(
            recording_id=recording.recording_id,
            job_id=context.job_id,
            attempt=context.attempt,
            analysis_type=context.analysis_type,
            sequence=sequence,
            first_sample=first,
            start_time=(
                start + timedelta(seconds=first / recording.sfreq_hz) if start is not None else None
            ),
            sfreq_hz=recording.sfreq_hz,
            ch_names=recording.ch_names,
            n_samples=chunk.shape[1],
            encoding="float32",
            scale_uv=[],
            samples=encode_samples_f32(chunk),
            is_last=first + per_segment >= n_total,
            expected_samples=n_total,
            source_format=recording.file_format,
            set_aside_channels=list(recording.set_aside),
            device_id=None,
            patient_ref=None,
        )


def rebuild_recording(segments: Iterable[EEGSegment], recording_id: str) -> Recording:
    """The recording that a run of segments carried, read back from the log.

    Segments delivered twice are counted once (by their first sample); the first segment
    gives the start time, the rate, the channels and the source's format.

    Raises
    ------
    SegmentError
        When there are no segments, or they leave a gap.
    """
    by_first = {s["first_sample"]: s for s in segments}
    if not by_first:
        raise SegmentError(f"no segments of recording {recording_id} found in the log")
    ordered = [by_first[k] for k in sorted(by_first)]
    expected = 0
    for segment in ordered:
        if segment["first_sample"] != expected:
            raise SegmentError(
                f"recording {recording_id}: samples {expected}-{segment['first_sample']} are "
                "missing from the log; replay the recording"
            )
        expected += segment["n_samples"]
    first = ordered[0]
    data_uv = np.concatenate([segment_samples_uv(s) for s in ordered], axis=1)
    recording = recording_from_array(
        data_uv,
        first["sfreq_hz"],
        first["ch_names"],
        recording_id=recording_id,
        start_time=first["start_time"],
        source="stream",
    )
    recording.file_format = first.get("source_format") or "stream"
    recording.set_aside = list(first.get("set_aside_channels") or [])
    return recording


@dataclass(frozen=True)
class LogPosition:
    """Where a recording's segments can be read back from."""

    partition: int
    first_offset: int


def window_records(
    batch: WindowBatch,
    context: JobContext,
    recording_id: str,
    position: LogPosition,
    expected_windows: int | None,
    segment_offset: int = -1,
) -> list[EEGWindow]:
    """One ``EEGWindow`` per window of a batch (completed by the segment at
    ``segment_offset``)."""
    start = batch.recording_start
    return [
        EEGWindow(
            recording_id=recording_id,
            job_id=context.job_id,
            attempt=context.attempt,
            analysis_type=context.analysis_type,
            window_index=int(batch.index[i]),
            start_s=float(batch.start_s[i]),
            recording_start=start,
            sfreq_hz=batch.sfreq_hz,
            ch_names=list(batch.ch_names),
            samples=encode_samples_f32(batch.data_uv[i]),
            end_of_recording=False,
            n_windows_total=None,
            expected_windows=expected_windows,
            segments_partition=position.partition,
            segments_first_offset=position.first_offset,
            device_id=context.device_id,
            patient_ref=context.patient_ref,
            segment_offset=segment_offset,
        )
        for i in range(batch.n_windows)
    ]


def end_marker(
    context: JobContext, recording_id: str, position: LogPosition, n_windows_total: int
) -> EEGWindow:
    """The ``EEGWindow`` that says a recording's last window has been cut."""
    return EEGWindow(
        recording_id=recording_id,
        job_id=context.job_id,
        attempt=context.attempt,
        analysis_type=context.analysis_type,
        window_index=n_windows_total,
        start_s=0.0,
        recording_start=None,
        sfreq_hz=0.0,
        ch_names=[],
        samples=b"",
        end_of_recording=True,
        n_windows_total=n_windows_total,
        expected_windows=n_windows_total,
        segments_partition=position.partition,
        segments_first_offset=position.first_offset,
        device_id=context.device_id,
        patient_ref=context.patient_ref,
        segment_offset=-1,
    )


def window_batch(windows: Sequence[EEGWindow], n_samples: int = WINDOW_SAMPLES) -> WindowBatch:
    """Windows of one recording (same channels) as a ``WindowBatch``."""
    first = windows[0]
    n_ch = len(first["ch_names"])
    data = np.stack(
        [np.frombuffer(w["samples"], dtype="<f4").reshape(n_ch, n_samples) for w in windows]
    ).astype(np.float32)
    return WindowBatch(
        data_uv=data,
        ch_names=list(first["ch_names"]),
        sfreq_hz=first["sfreq_hz"],
        start_s=np.array([w["start_s"] for w in windows], dtype=np.float64),
        index=np.array([w["window_index"] for w in windows], dtype=np.int64),
        recording_start=first["recording_start"],
    )


def expected_windows_of(n_samples: int, sfreq_hz: float) -> int:
    """Windows a recording of ``n_samples`` gives on the grid of the file path (the last
    partial window is dropped), for progress before the end marker gives the true count."""
    n_native = round(WINDOW_S * sfreq_hz)
    k = np.arange(n_samples // max(1, n_native) + 2)
    return int(np.sum(window_start_sample(k, WINDOW_S, sfreq_hz) + n_native <= n_samples))
