"""The end of a recording that has an end: its per-job state, and its final analysis.

The result agent counts each job's windows (each window once, however often it is
delivered) in a small table value, :class:`JobWindows`. When the last one is in, the
recording-level stages run: its segments are read back from the segments log (the table
holds only where they start), the EEGPT features the window agent computed are read back
from the features log, and ``processors.analyze`` runs on the whole recording with those
features, exactly as ``brrr analyze`` does in one process. That is what makes a replayed
file and the same file analysed in one process give the same result.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from connectors.kafka_log import read_records
from processors.analyze import AnalysisResult, PrecomputedFeatures, analyze
from processors.types import Recording
from schemas.document import result_document
from schemas.records import AnalysisResult as AnalysisResultRecord
from schemas.records import Detection, EEGSegment, WindowFeatures, WindowResult
from streams.pipeline import ModelCache
from streams.records import detection_records, result_record, window_result_records
from streams.segments import rebuild_recording

log = logging.getLogger("brrr.worker.results")

#: Share of a job's progress given to the windows; the rest is the recording-level analysis.
WINDOWS_SHARE = 0.9


@dataclass
class JobWindows:
    """What the result agent keeps of one job, in its table (a few hundred bytes).

    ``seen`` is a bitmap of the window indexes received: a window delivered twice is
    counted once.
    """

    job_id: str
    recording_id: str
    analysis_type: str
    features_partition: int
    features_first_offset: int
    started_at: float = field(default_factory=time.time)
    seen_b64: str = ""
    n_seen: int = 0
    n_total: int | None = None
    expected: int | None = None
    end_attempt: int | None = None
    segments_partition: int | None = None
    segments_first_offset: int | None = None
    done: bool = False
    reported_progress: float = 0.0

    def mark(self, index: int) -> bool:
        """Count window ``index``; False when it was counted before."""
        seen = bytearray(base64.b64decode(self.seen_b64))
        byte, bit = divmod(index, 8)
        if byte >= len(seen):
            seen.extend(b"\0" * (byte + 1 - len(seen)))
        if seen[byte] & (1 << bit):
            return False
        seen[byte] |= 1 << bit
        self.seen_b64 = base64.b64encode(bytes(seen)).decode()
        self.n_seen += 1
        return True

    def end(self, marker: WindowFeatures) -> None:
        """The recording's end marker: how many windows there are, where its segments are."""
        self.n_total = marker["n_windows_total"]
        self.end_attempt = marker["attempt"]
        self.segments_partition = marker["segments_partition"]
        self.segments_first_offset = marker["segments_first_offset"]

    @property
    def complete(self) -> bool:
        """The end marker is in and so is every window before it."""
        if self.n_total is None or self.n_seen < self.n_total:
            return False
        seen = np.unpackbits(
            np.frombuffer(base64.b64decode(self.seen_b64), np.uint8), bitorder="little"
        )
        return bool(seen[: self.n_total].all()) and seen.size >= self.n_total

    @property
    def progress(self) -> float:
        total = self.n_total or self.expected
        return WINDOWS_SHARE * min(1.0, self.n_seen / total) if total else 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> JobWindows:
        return cls(**value)


@dataclass(frozen=True)
class FinishedJob:
    """The records a finished job publishes."""

    result: AnalysisResult
    #: the recording as rebuilt from its segments (for the report's plot)
    recording: Recording
    #: the result document (schemas.document), stored in S3 and carried in result_record
    document: dict[str, Any]
    result_record: AnalysisResultRecord
    detections: list[Detection]
    windows: list[WindowResult]


class Finisher:
    """Reads a finished recording back from the logs and analyses it as a whole.

    Parameters
    ----------
    bootstrap_servers : str
        Kafka.
    segments_topic, features_topic : str
        The logs to read back.
    models : ModelCache
        EEGPT and the probe, as the window agent uses them.
    """

    def __init__(
        self, bootstrap_servers: str, segments_topic: str, features_topic: str, models: ModelCache
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.segments_topic = segments_topic
        self.features_topic = features_topic
        self.models = models

    async def segments_of(self, job: JobWindows) -> list[EEGSegment]:
        """The segments of the job's last attempt, from the segments log."""
        assert job.segments_partition is not None and job.segments_first_offset is not None
        segments: list[EEGSegment] = []
        async for segment in read_records(
            self.bootstrap_servers,
            self.segments_topic,
            job.segments_partition,
            job.segments_first_offset,
            "EEGSegment",
            stop_after=lambda: bool(segments) and segments[-1]["is_last"],
        ):
            if segment["job_id"] == job.job_id and segment["attempt"] == job.end_attempt:
                segments.append(segment)  # type: ignore[arg-type]
        return segments

    async def features_of(self, job: JobWindows) -> PrecomputedFeatures | None:
        """The EEGPT features of every window of the job, or None when EEGPT did not run."""
        by_index: dict[int, bytes] = {}
        ms: list[float] = []  # EEGPT time per window of the micro-batches
        async for record in read_records(
            self.bootstrap_servers,
            self.features_topic,
            job.features_partition,
            job.features_first_offset,
            "WindowFeatures",
            stop_after=lambda: len(by_index) >= (job.n_total or 0),
        ):
            if record["job_id"] != job.job_id or record["end_of_recording"]:
                continue
            if not record["features"]:
                return None
            by_index.setdefault(record["window_index"], record["features"])
            if record["eegpt_ms_per_window"] is not None:
                ms.append(record["eegpt_ms_per_window"])
        if job.n_total == 0 or sorted(by_index) != list(range(job.n_total or 0)):
            return None
        features = np.stack([np.frombuffer(by_index[i], dtype="<f4") for i in sorted(by_index)])
        return PrecomputedFeatures(
            features=features.astype(np.float32), ms_per_window=float(np.mean(ms)) if ms else 0.0
        )

    def analyse(
        self,
        job: JobWindows,
        segments: list[EEGSegment],
        features: PrecomputedFeatures | None,
        file_id: str | None,
        switches: Mapping[str, str],
    ) -> FinishedJob:
        """The recording-level analysis (CPU: run it in a thread)."""
        recording = rebuild_recording(segments, job.recording_id)
        options = self.models.options_for(recording.ch_names, job.analysis_type)
        options.event_detection = switches.get("event_detection") != "false"
        options.sleep_analysis = switches.get("sleep_analysis") != "false"
        if features is not None and options.feature_extractor is not None:
            extractor = options.feature_extractor
            if features.features.shape[1] != extractor.n_features:
                features = None
        result = analyze(recording, job.analysis_type, options, precomputed=features)  # type: ignore[arg-type]
        document = result_document(result.to_dict(), job_id=job.job_id, file_id=file_id)
        record = result_record(result, document, status="completed")
        record["processing_time_s"] = round(time.time() - job.started_at, 3)
        return FinishedJob(
            result=result,
            recording=recording,
            document=document,
            result_record=record,
            detections=detection_records(document, job_id=job.job_id),
            windows=window_result_records(result, document, job_id=job.job_id),
        )
