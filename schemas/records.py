"""Python types of the Avro records, GENERATED from the .avsc files by
``python -m schemas.codec --write-types``: do not edit by hand.
"""

# ruff: noqa: E501

# No `from __future__ import annotations`: TypedDict must see NotRequired at runtime.
from datetime import datetime
from typing import Literal, NotRequired, TypedDict

AnalysisType = Literal["quick", "screening", "comprehensive"]
EventType = Literal["epileptiform", "PLED", "GPED", "seizure", "artifact", "burst_suppression"]
ResultStatus = Literal["completed", "failed"]
TriagePriority = Literal["routine", "expedite", "urgent"]


class AnalysisResult(TypedDict):
    """The outcome of one analysis job on one recording (topic eeg.results, key recording_id). The summary fields are typed for the sink; the whole result document travels as JSON in result_json."""

    job_id: str
    """Analysis job, a UUID in text form."""
    file_id: NotRequired[str | None]
    """Uploaded file the recording came from (UUID); null for live streams."""
    recording_id: str
    """Recording the job analysed (the Kafka key)."""
    analysis_type: AnalysisType
    """Depth of the analysis that was asked for."""
    status: ResultStatus
    """Final state of the job."""
    created_at: datetime
    """When the result was produced, UTC, milliseconds since the Unix epoch."""
    is_abnormal: NotRequired[bool | None]
    """Abnormal or normal recording; null when the detector could not decide."""
    confidence: float
    """Confidence of the abnormality verdict, 0 to 1 (unitless)."""
    triage_priority: TriagePriority
    """How soon a clinician should look."""
    signal_quality_score: NotRequired[float | None]
    """Recording quality, 0 (unusable) to 1 (clean); null when quality control did not run."""
    n_events: int
    """Number of detections the job published on eeg.detections."""
    scorer: str
    """What produced the verdict, e.g. qeeg-baseline or eegpt-probe."""
    model_weights_id: NotRequired[str | None]
    """Identifier (e.g. sha256) of the model weights used; null when no weights were used."""
    versions: NotRequired[dict[str, str]]
    """Software versions that produced the result (package name to version)."""
    n_windows: int
    """Number of 4 s analysis windows processed."""
    duration_s: float
    """Length of the analysed recording, seconds."""
    processing_time_s: float
    """Wall time of the whole job, seconds."""
    inference_time_s: NotRequired[float | None]
    """Time spent in model inference, seconds; null when no model ran."""
    error: NotRequired[str | None]
    """What went wrong and what to do, when status is failed."""
    result_json: str
    """The complete result document, JSON text (stages, windows, events, sleep)."""


class Detection(TypedDict):
    """One detected event in one recording (topic eeg.detections, key recording_id). event_id is derived from job, type, onset and channels, so a replayed message names the same event."""

    job_id: str
    """Analysis job that found the event, a UUID in text form."""
    recording_id: str
    """Recording the event is in (the Kafka key)."""
    event_id: str
    """Deterministic UUID of the event (schemas.ids.detection_event_id)."""
    event_type: EventType
    """Class of the event."""
    subtype: NotRequired[str | None]
    """Finer class, e.g. spike or sharp_wave, eye_blink or muscle; null when none."""
    onset_s: float
    """Onset, seconds from the recording's first sample."""
    duration_s: float
    """Duration, seconds."""
    start_time: datetime
    """Absolute onset, UTC, milliseconds since the Unix epoch (recording start plus onset_s)."""
    channels: list[str]
    """Standard 10-20/10-10 names of the channels involved."""
    confidence: float
    """Detector confidence, 0 to 1 (unitless)."""
