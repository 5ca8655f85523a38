"""The window agent's state: one ``StreamWindower`` per stream, kept in a Faust table.

A stream is a job's run through a recording (or a live device's recording). Its windower
holds less than one window of samples, so the table value stays small; the table's
changelog lets a restarted worker, or the one taking over the partition, continue
mid-recording. A new attempt of a job (a retry) starts its windowing again from sample 0;
samples delivered twice are dropped by the windower itself.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import MutableMapping
from typing import Any

from processors.preprocessing import StreamWindower
from schemas.records import EEGSegment, EEGWindow
from streams.segments import (
    JobContext,
    LogPosition,
    end_marker,
    expected_windows_of,
    segment_samples_uv,
    window_records,
)

log = logging.getLogger("brrr.worker.windowing")


def segment_stream_key(segment: EEGSegment) -> str:
    """The stream a segment belongs to: its job, or its recording when it has no job."""
    return segment["job_id"] or segment["recording_id"]


class RecordingWindowers:
    """Windowers of every stream of this worker's partitions, stored as plain values.

    Parameters
    ----------
    table : mutable mapping
        The Faust table (stream key -> JSON value) that holds them.
    """

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self.table = table

    def push(self, segment: EEGSegment, partition: int, offset: int) -> list[EEGWindow]:
        """The windows (and, after a recording's last segment, its end marker) that a segment
        completes.

        Raises
        ------
        processors.errors.EEGError, streams.segments.SegmentError
            A segment the windower refuses (another rate, NaN samples, wrong shape): the
            agent sends it to the dead letters.
        """
        key = segment_stream_key(segment)
        stored = self.table.get(key)
        if stored is not None and segment["attempt"] < stored["attempt"]:
            return []  # a stale attempt's segment, delivered late
        if stored is None or segment["attempt"] > stored["attempt"]:
            if segment["sequence"] != 0:
                log.warning(
                    "stream %s: segment %d arrived with no windowing state (recording already "
                    "finished, or its state was lost); ignored",
                    key,
                    segment["sequence"],
                )
                return []
            windower = StreamWindower(
                segment["ch_names"], segment["sfreq_hz"], recording_start=segment["start_time"]
            )
            position = LogPosition(partition, offset)
        else:
            windower = StreamWindower.from_state(_unpack(stored["windower"]))
            position = LogPosition(stored["partition"], stored["first_offset"])
        context = JobContext(segment["job_id"], segment["attempt"], segment["analysis_type"])
        expected = (
            expected_windows_of(segment["expected_samples"], segment["sfreq_hz"])
            if segment["expected_samples"] is not None
            else None
        )
        batch = windower.push(
            segment_samples_uv(segment), segment["first_sample"], sfreq_hz=segment["sfreq_hz"]
        )
        out = (
            window_records(batch, context, segment["recording_id"], position, expected)
            if batch is not None
            else []
        )
        if segment["is_last"]:
            out.append(
                end_marker(context, segment["recording_id"], position, windower.next_window_index)
            )
            if key in self.table:
                del self.table[key]
        else:
            self.table[key] = {
                "attempt": segment["attempt"],
                "partition": position.partition,
                "first_offset": position.first_offset,
                "windower": _pack(windower.to_state()),
            }
        return out


def _pack(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "buffer_f32": base64.b64encode(state["buffer_f32"]).decode()}


def _unpack(value: dict[str, Any]) -> dict[str, Any]:
    return {**value, "buffer_f32": base64.b64decode(value["buffer_f32"])}
