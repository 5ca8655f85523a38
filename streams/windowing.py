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
from collections.abc import Mapping, MutableMapping
from datetime import timedelta
from typing import Any

import numpy as np

from connectors.kafka_log import read_partition
from connectors.kafka_topics import KafkaUnavailableError
from processors.preprocessing import StreamWindower
from schemas.codec import CodecError, decode, encode
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
        self._offset = -1  # offset of the segment being pushed
        #: live streams' windowers as objects, beside their table values: a live segment
        #: (one a second per device) would otherwise rebuild its windower from the table's
        #: value every time. The table stays the durable copy (written after every segment).
        self._live: dict[str, _Stream] = {}

    def push(self, segment: EEGSegment, partition: int, offset: int) -> list[EEGWindow]:
        """The windows (and, after a recording's last segment, its end marker) that a segment
        completes.

        Raises
        ------
        processors.errors.EEGError, streams.segments.SegmentError
            A segment the windower refuses (another rate, NaN samples in a file, wrong
            shape): the agent sends it to the dead letters.
        """
        key = segment_stream_key(segment)
        self._offset = offset
        state = self._live.get(key) if segment["job_id"] is None else None
        if state is None:
            stored = self.table.get(key)
            if stored is not None and segment["attempt"] < stored["attempt"]:
                return []  # a stale attempt's segment, delivered late
            if stored is None or segment["attempt"] > stored["attempt"]:
                if segment["sequence"] != 0 and segment["job_id"] is not None:
                    log.warning(
                        "stream %s: segment %d arrived with no windowing state (recording "
                        "already finished, or its state was lost); ignored",
                        key,
                        segment["sequence"],
                    )
                    return []
                state = _new_stream(segment, partition, offset)
            else:
                state = _restore(stored)
        out = (
            self._push_live(state, segment)
            if segment["job_id"] is None
            else self._push_in_order(state, segment)
        )
        if segment["is_last"]:
            out.append(
                end_marker(
                    state.context,
                    segment["recording_id"],
                    state.position,
                    state.windower.next_window_index,
                )
            )
            self._live.pop(key, None)
            if key in self.table:
                del self.table[key]
        else:
            state.last_offset = offset
            self.table[key] = state.to_value()
            if segment["job_id"] is None:
                self._live[key] = state
        return out

    def read_back_span(self, segment: EEGSegment, offset: int) -> tuple[int, int] | None:
        """The log offsets (first, last) a live stream this worker does not hold must read
        back before ``segment`` (at ``offset``), or None: after a restart or a rebalance the
        table holds the stream's position and the offsets of the segments whose samples it
        held; and where the table is behind the committed offsets (Faust may commit them
        before the changelog write is out: its flush gives up after 0.1 s), the segments
        windowed since, which are read again too."""
        key = segment_stream_key(segment)
        if segment["job_id"] is not None or key in self._live:
            return None
        stored = self.table.get(key)
        if stored is None:
            return None
        held = [at for at, _end in stored["held"]]
        first = min([*held, stored["last_offset"] + 1])
        last = max([*held, offset - 1])
        return (first, last) if first <= last else None

    def rebuild(self, segment: EEGSegment, logged: Mapping[int, EEGSegment]) -> list[EEGWindow]:
        """Give a live stream's windower its samples again and window what it missed, from
        the recording's segments read back over :meth:`read_back_span` (``logged``: offset
        -> segment); the windows that completes (the table was behind), to be sent again.
        A segment the log no longer has leaves a gap, recorded as any other."""
        key = segment_stream_key(segment)
        stored = self.table[key]
        state = _restore(stored)
        held, state.held = state.held, []
        for offset, _end in held:
            if offset in logged:  # pushed before: it completes no window
                self._push_live_segment(state, logged[offset], offset)
        out: list[EEGWindow] = []
        later = sorted(at for at in logged if at > stored["last_offset"])
        for offset in later:
            self._offset = offset
            out += self._push_live(state, logged[offset])
            state.last_offset = offset
        self._live[key] = state
        log.info(
            "live recording %s taken over at sample %d: %d of %d held segments and %d later "
            "ones read back from the log, %d windows sent again",
            segment["recording_id"],
            state.windower.next_sample,
            sum(offset in logged for offset, _end in held),
            len(held),
            len(later),
            len(out),
        )
        return out

    def forget_partitions(self, partitions: set[int]) -> None:
        """Drop the held windowers of partitions this worker no longer reads (a rebalance):
        if they come back, the table has what another worker did meanwhile."""
        for key, state in list(self._live.items()):
            if state.position.partition in partitions:
                del self._live[key]

    def _push_in_order(self, state: _Stream, segment: EEGSegment) -> list[EEGWindow]:
        batch = state.windower.push(
            segment_samples_uv(segment), segment["first_sample"], sfreq_hz=segment["sfreq_hz"]
        )
        if batch is None:
            return []
        return window_records(
            batch,
            state.context,
            segment["recording_id"],
            state.position,
            state.expected,
            self._offset,
        )

    def _push_live(self, state: _Stream, segment: EEGSegment) -> list[EEGWindow]:
        """A live device's segment: out-of-order ones wait (up to REORDER_SEGMENTS) for the
        one before them; a lead off (NaN) becomes a flat channel that quality control reports
        as bad; a gap is recorded and windowing starts again after it."""
        windower = state.windower
        if segment["first_sample"] + segment["n_samples"] <= windower.next_sample:
            return []  # delivered twice, or late after a gap was declared
        if not state.ahead and segment["first_sample"] <= windower.next_sample:
            return self._push_live_segment(state, segment, self._offset)  # in order: usual
        state.ahead[segment["first_sample"]] = (self._offset, encode("EEGSegment", dict(segment)))
        out: list[EEGWindow] = []
        while state.ahead:
            first = min(state.ahead)
            fits = first <= windower.next_sample
            if not fits and len(state.ahead) <= REORDER_SEGMENTS:
                break
            offset, payload = state.ahead.pop(first)
            waiting: EEGSegment = decode("EEGSegment", payload)  # type: ignore[assignment]
            if not fits:
                gap = (windower.next_sample / windower.sfreq_hz, first / windower.sfreq_hz)
                state.gaps.append([round(gap[0], 3), round(gap[1], 3)])
                log.warning(
                    "live recording %s: gap from %.1f s to %.1f s (%.1f s missing); "
                    "windowing starts again after it",
                    segment["recording_id"],
                    gap[0],
                    gap[1],
                    gap[1] - gap[0],
                )
            out += self._push_live_segment(state, waiting, offset)
        return out

    def _push_live_segment(
        self, state: _Stream, waiting: EEGSegment, offset: int
    ) -> list[EEGWindow]:
        """Window a live segment (delivered at ``offset``) that continues the stream."""
        samples = segment_samples_uv(waiting)
        lead_off = np.isnan(samples)
        if lead_off.any():
            names = [waiting["ch_names"][i] for i in np.flatnonzero(lead_off.any(axis=1))]
            state.lead_off = sorted(set(state.lead_off) | set(names))
            samples = np.where(lead_off, 0.0, samples)  # a flat channel for QC to flag
        batch = state.windower.push(samples, waiting["first_sample"], sfreq_hz=waiting["sfreq_hz"])
        state.hold(offset, waiting["first_sample"] + waiting["n_samples"])
        if batch is None:
            return []
        return window_records(
            batch, state.context, waiting["recording_id"], state.position, None, self._offset
        )


#: Segments a live stream may run ahead of a missing one before the gap is declared.
REORDER_SEGMENTS = 3


class _Stream:
    """One stream's windowing state (see :class:`RecordingWindowers`)."""

    def __init__(
        self,
        windower: StreamWindower,
        context: JobContext,
        position: LogPosition,
        expected: int | None,
        *,
        ahead: dict[int, tuple[int, bytes]] | None = None,
        gaps: list[list[float]] | None = None,
        lead_off: list[str] | None = None,
        held: list[list[int]] | None = None,
        last_offset: int = -1,
    ) -> None:
        self.windower = windower
        self.context = context
        self.position = position
        self.expected = expected
        self.ahead = ahead or {}  # first sample -> (log offset, encoded segment)
        self.gaps = gaps or []
        self.lead_off = lead_off or []
        #: a live stream's segments whose samples the windower holds: [log offset, end sample]
        self.held = held or []
        #: log offset of the last segment this state has seen
        self.last_offset = last_offset

    def hold(self, offset: int, end_sample: int) -> None:
        """Note a live segment pushed into the windower, forgetting those it no longer
        holds a sample of."""
        start = self.windower.buffer_start
        self.held = [h for h in [*self.held, [offset, end_sample]] if h[1] > start]

    @property
    def is_live(self) -> bool:
        return self.context.job_id is None

    def to_value(self) -> dict[str, Any]:
        return {
            "attempt": self.context.attempt,
            "context": [
                self.context.job_id,
                self.context.attempt,
                self.context.analysis_type,
                self.context.device_id,
                self.context.patient_ref,
            ],
            "partition": self.position.partition,
            "first_offset": self.position.first_offset,
            "expected": self.expected,
            # A live stream's samples stay in the segments log (a table value rewritten
            # every second for every device must stay small): its windower is stored rewound
            # to the first sample it holds, with the log offsets of the segments that hold
            # them, read back after a restart or a rebalance (RecordingWindowers.rebuild).
            "windower": _pack(
                self.windower.to_position_state() if self.is_live else self.windower.to_state()
            ),
            "held": self.held,
            "last_offset": self.last_offset,
            "ahead": {
                str(k): [offset, base64.b64encode(v).decode()]
                for k, (offset, v) in self.ahead.items()
            },
            "gaps": self.gaps[-50:],
            "lead_off": self.lead_off,
        }


def _new_stream(segment: EEGSegment, partition: int, offset: int) -> _Stream:
    live = segment["job_id"] is None
    start = segment["start_time"]
    if start is not None:  # the device clock of sample 0
        start -= timedelta(seconds=segment["first_sample"] / segment["sfreq_hz"])
    windower = StreamWindower(
        segment["ch_names"],
        segment["sfreq_hz"],
        recording_start=start,
        start_sample=segment["first_sample"] if live else 0,
        on_gap="restart" if live else "raise",
    )
    context = JobContext(
        segment["job_id"],
        segment["attempt"],
        segment["analysis_type"],
        segment["device_id"],
        segment["patient_ref"],
    )
    expected = (
        expected_windows_of(segment["expected_samples"], segment["sfreq_hz"])
        if segment["expected_samples"] is not None
        else None
    )
    return _Stream(windower, context, LogPosition(partition, offset), expected)


def _restore(value: dict[str, Any]) -> _Stream:
    job_id, attempt, analysis_type, device_id, patient_ref = value["context"]
    return _Stream(
        StreamWindower.from_state(_unpack(value["windower"])),
        JobContext(job_id, attempt, analysis_type, device_id, patient_ref),
        LogPosition(value["partition"], value["first_offset"]),
        value["expected"],
        ahead={int(k): (offset, base64.b64decode(v)) for k, (offset, v) in value["ahead"].items()},
        gaps=value["gaps"],
        lead_off=value["lead_off"],
        held=value["held"],
        last_offset=value["last_offset"],
    )


def _pack(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "buffer_f32": base64.b64encode(state["buffer_f32"]).decode()}


def _unpack(value: dict[str, Any]) -> dict[str, Any]:
    return {**value, "buffer_f32": base64.b64decode(value["buffer_f32"])}


async def read_back_segments(
    bootstrap_servers: str, segments_topic: str, partition: int, span: tuple[int, int],
    recording_id: str,
) -> dict[int, EEGSegment]:  # fmt: skip
    """A recording's segments at offsets ``span`` (first, last) of a partition of the
    segments log (offset -> segment), for :meth:`RecordingWindowers.rebuild`; those the log
    no longer has, or a broker that does not answer, leave them out (the stream then records
    a gap)."""
    first, last = span
    out: dict[int, EEGSegment] = {}
    try:
        async for message in read_partition(
            bootstrap_servers,
            segments_topic,
            partition,
            first,
            stop_after=lambda m: m.offset >= last,
            timeout_s=10.0,
        ):
            try:
                segment: EEGSegment = decode("EEGSegment", message.value)  # type: ignore[assignment]
            except CodecError:
                continue  # sent to the dead letters when it was first read
            if segment["recording_id"] == recording_id and message.offset <= last:
                out[message.offset] = segment
    except KafkaUnavailableError as exc:
        log.warning("a live stream's segments were not read back (%s): a gap follows", exc)
    return out
