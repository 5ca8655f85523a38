"""Python types of the Avro records, GENERATED from the .avsc files by
``python -m schemas.codec --write-types``: do not edit by hand.
"""

# ruff: noqa: E501

# No `from __future__ import annotations`: TypedDict must see NotRequired at runtime.
from datetime import datetime
from typing import Literal, NotRequired, TypedDict

AlertStatus = Literal["onset", "ended"]
AnalysisType = Literal["quick", "screening", "comprehensive"]
EventType = Literal["epileptiform", "PLED", "GPED", "seizure", "artifact", "burst_suppression"]
JobPriority = Literal["low", "normal", "high"]
ResultStatus = Literal["completed", "failed"]
SampleEncoding = Literal["float32", "int16"]
StageStatus = Literal["completed", "failed", "skipped"]
TriagePriority = Literal["routine", "expedite", "urgent"]
UrgentFinding = Literal["seizure", "PLED", "GPED", "burst_suppression", "sustained_abnormal", "discharge_rate"]


class AnalysisJob(TypedDict):
    """A request to analyse one uploaded or replayed file (topic eeg.jobs, key job_id). The worker reads the raw file from the object store and feeds it, segment by segment, into eeg.segments."""

    job_id: str
    """Analysis job, a UUID in text form."""
    file_id: str
    """Uploaded file to analyse (UUID), registered in uploaded_files."""
    object_key: str
    """Key of the raw file in the object store (raw/{file_id}/{filename})."""
    analysis_type: AnalysisType
    """Depth of the analysis asked for."""
    options: NotRequired[dict[str, str]]
    """Stage switches and replay settings as text, e.g. speed (times real time, or max)."""
    priority: NotRequired[JobPriority]
    """Scheduling priority."""
    batch_id: NotRequired[str | None]
    """Batch the job belongs to (UUID); null for a single job."""
    owner: NotRequired[str | None]
    """User who asked for the job (UUID); null for a command-line replay."""
    submitted_at: datetime
    """When the job was submitted, UTC."""


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


class DeadLetter(TypedDict):
    """A message an agent could not decode or process (topic eeg.deadletter), kept with the reason and its original bytes so that its partition moves on and a person can look."""

    topic: str
    """Topic the message was read from."""
    partition: int
    """Its partition."""
    offset: int
    """Its offset."""
    key: NotRequired[bytes | None]
    """Its key, as read."""
    payload: NotRequired[bytes | None]
    """Its value, as read."""
    agent: str
    """Agent that refused it."""
    error_code: str
    """Stable code of the error (undecodable_payload, no_eeg_channels...)."""
    error: str
    """What was wrong and what to do."""
    failed_at: datetime
    """When it was refused, UTC."""


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


class EEGSegment(TypedDict):
    """A stretch of consecutive samples of one recording (topic eeg.segments, key recording_id). Every source (uploaded file, replayed archive, live device) writes these; sequence numbers and sample positions let the windower drop redelivered samples."""

    recording_id: str
    """Recording the samples belong to (the Kafka key)."""
    job_id: NotRequired[str | None]
    """Analysis job feeding this recording (UUID); null for a live device."""
    attempt: NotRequired[int]
    """Attempt of the job that wrote the segment (its retry_count); a new attempt restarts the recording's windowing."""
    analysis_type: NotRequired[AnalysisType]
    """Depth of the analysis asked for."""
    sequence: int
    """Running number of the segment in the recording, from 0."""
    first_sample: int
    """Index of the segment's first sample in the recording, from 0."""
    start_time: NotRequired[datetime | None]
    """Wall-clock time of the segment's first sample (the source's clock), UTC; null when the source does not know it."""
    sfreq_hz: float
    """Sampling rate, Hz."""
    ch_names: list[str]
    """Channel names, one per row of samples."""
    n_samples: int
    """Samples per channel in this segment."""
    encoding: SampleEncoding
    """How samples are packed."""
    scale_uv: NotRequired[list[float]]
    """Microvolts per count, one per channel, for int16; empty for float32."""
    samples: bytes
    """Channel-major samples (all of channel 0, then channel 1...), packed as encoding says."""
    is_last: NotRequired[bool]
    """True on the last segment of a recording that has an end (a file)."""
    expected_samples: NotRequired[int | None]
    """Samples per channel of the whole recording when known (files), for progress; null for live streams."""
    source_format: NotRequired[str | None]
    """Format of the source file (edf, bdf, fif) or null for a device."""
    set_aside_channels: NotRequired[list[str]]
    """Channels of the source that are not scalp EEG and were not carried."""
    device_id: NotRequired[str | None]
    """Bedside device streaming the recording; null for a file."""
    patient_ref: NotRequired[str | None]
    """Keyed HMAC of the patient identifier (connectors.db.jobs.patient_reference), never a name; null when unknown."""


class EEGWindow(TypedDict):
    """One conditioned 4 s analysis window at 256 Hz (topic eeg.windows, key recording_id), or, with end_of_recording, the marker that a recording's last window has been cut."""

    recording_id: str
    """Recording (the Kafka key)."""
    job_id: NotRequired[str | None]
    """Analysis job (UUID); null for a live device."""
    attempt: NotRequired[int]
    """Attempt of the job whose segments made the window."""
    analysis_type: NotRequired[AnalysisType]
    """Depth of the analysis asked for."""
    window_index: int
    """Running number of the window in the recording (window k starts at k * 4 s)."""
    start_s: float
    """Window start, seconds from the recording's first sample."""
    recording_start: NotRequired[datetime | None]
    """Wall-clock time of the recording's first sample, UTC, when known."""
    sfreq_hz: float
    """Rate of the window's samples (256 Hz)."""
    ch_names: list[str]
    """Standard channel names, one per row."""
    samples: bytes
    """float32 little-endian microvolts, channel-major (channels x 1024); empty on an end marker."""
    end_of_recording: NotRequired[bool]
    """True on the marker that follows a recording's last window."""
    n_windows_total: NotRequired[int | None]
    """On the end marker: how many windows the recording has."""
    expected_windows: NotRequired[int | None]
    """Windows of the whole recording when known in advance (files), for progress."""
    segments_partition: int
    """Partition of eeg.segments holding the recording's segments."""
    segments_first_offset: int
    """Offset of the attempt's first segment in that partition: where the recording can be read back from."""
    device_id: NotRequired[str | None]
    """Bedside device streaming the recording; null for a file."""
    patient_ref: NotRequired[str | None]
    """Keyed HMAC of the patient identifier (connectors.db.jobs.patient_reference), never a name; null when unknown."""
    segment_offset: NotRequired[int]
    """Offset in eeg.segments of the segment that completed the window (-1 on an end marker): where a live recording's recent signal can be read back from."""


class JobProgress(TypedDict):
    """How far a job has come (topic eeg.progress, key recording_id); the sink moves the job's progress forward, never back."""

    job_id: str
    """Analysis job (UUID)."""
    recording_id: str
    """Recording the job analyses (the Kafka key)."""
    windows_done: int
    """Distinct windows analysed so far."""
    windows_expected: NotRequired[int | None]
    """Windows of the whole recording, when known."""
    progress: float
    """Share of the job done, 0 to 1 (the last share is the recording-level analysis)."""
    emitted_at: datetime
    """When the worker emitted it, UTC."""


class RecordingSummary(TypedDict):
    """The recording as analysed."""

    duration_s: float
    """Length of the signal, seconds."""
    sfreq_hz: float
    """Native sampling rate, Hz."""
    n_channels: int
    """Scalp EEG channels analysed."""
    ch_names: list[str]
    """Their standard 10-20/10-10 names."""
    start_time: str | None
    """Recording start from the file's header, ISO 8601; null when unknown."""


class QualityReportSection(TypedDict):
    """Quality control: bad channels, artifacts, a score. It always completes (a failure inside it reports unknown, not acceptable quality)."""

    status: StageStatus
    """Outcome of the stage."""
    reason: str | None
    """Why the stage was skipped, or a note on how it ran."""
    error: str | None
    """What went wrong when it failed."""
    duration_s: float
    """Time the stage took, seconds."""
    bad_channels: list[str] | None
    """Channels judged bad (flat, noisy, bridged...)."""
    signal_quality_score: float | None
    """Signal quality, 0 (unusable) to 1 (clean)."""
    is_acceptable: bool | None
    """Whether the quality allows a confident interpretation."""


class FeaturesSection(TypedDict):
    """EEGPT features (screening and comprehensive, when a checkpoint is configured)."""

    status: StageStatus
    """Outcome of the stage."""
    reason: str | None
    """Why it was skipped."""
    error: str | None
    """What went wrong when it failed."""
    duration_s: float
    """Time the stage took, seconds."""


class FallbackResult(TypedDict):
    """The conservative answer given when scoring failed."""

    is_abnormal: bool
    """Always true: an unscored recording is treated as abnormal."""
    confidence: float
    """Below 0.5: the verdict is a precaution, not a finding."""
    triage_priority: TriagePriority
    """expedite: a person should look."""


class AbnormalitySection(TypedDict):
    """The screen: normal or abnormal, with confidence and triage."""

    status: StageStatus
    """Outcome of the stage."""
    reason: str | None
    """Why it was skipped (no signal)."""
    error: str | None
    """What went wrong when it failed."""
    duration_s: float
    """Time the stage took, seconds."""
    is_abnormal: bool | None
    """The verdict (the fallback's when the stage failed); null when skipped."""
    confidence: float | None
    """Confidence in the verdict, 0 to 1."""
    triage_priority: TriagePriority | None
    """Triage from the screen alone."""
    fallback_result: FallbackResult | None
    """Set when the stage failed; null otherwise."""


class DetectedEvent(TypedDict):
    """One event."""

    type: EventType
    """Class of the event."""
    subtype: str | None
    """Finer class, e.g. spike or sharp_wave."""
    onset_s: float
    """Onset, seconds from the recording's first sample."""
    duration_s: float
    """Duration, seconds."""
    channels: list[str]
    """Channels involved."""
    confidence: float
    """Detector confidence, 0 to 1."""


class EventDetectionSection(TypedDict):
    """Specific events, run only on recordings the screen found abnormal (screening and comprehensive)."""

    status: StageStatus
    """Outcome of the stage."""
    reason: str | None
    """Why it was skipped (quick analysis, normal recording...)."""
    error: str | None
    """What went wrong when it failed."""
    duration_s: float
    """Time the stage took, seconds."""
    events: list[DetectedEvent] | None
    """The events found; null when the stage did not run."""


class SleepSection(TypedDict):
    """YASA sleep staging (comprehensive analysis, long enough recordings)."""

    status: StageStatus
    """Outcome of the stage."""
    reason: str | None
    """Why it was skipped."""
    error: str | None
    """What went wrong when it failed."""
    duration_s: float
    """Time the stage took, seconds."""
    hypnogram: list[str] | None
    """One stage (W, N1, N2, N3, R) per 30 s epoch."""
    sleep_efficiency: float | None
    """Time asleep over time in bed, 0 to 1."""
    sleep_stages: dict[str, float] | None
    """Minutes spent in each stage."""


class ResultDocument(TypedDict):
    """The complete result of one analysis, as JSON: what `brrr analyze --json` prints, what the object store keeps at results/{job_id}/complete.json, what GET /api/v1/results/{job_id} answers and what AnalysisResult.result_json carries. Every field listed here is present (null where a stage did not produce it); a stage object may carry more fields than listed (diagnostics such as per-window scores)."""

    job_id: str | None
    """Analysis job (UUID); null for a command-line analysis."""
    file_id: str | None
    """Uploaded file (UUID); null when the recording was not uploaded."""
    recording_id: str
    """Recording analysed."""
    analysis_type: AnalysisType
    """Depth of the analysis."""
    started_at: str
    """When the analysis started, ISO 8601 UTC."""
    duration_s: float
    """Processing time of the analysis, seconds."""
    recording: RecordingSummary
    """What was analysed."""
    triage_priority: TriagePriority
    """Overall triage of the recording."""
    triage_reason: str
    """The rule that chose the triage, in words."""
    timings_s: dict[str, float]
    """Processing time of each stage, seconds."""
    quality_report: QualityReportSection
    """Quality control."""
    features: FeaturesSection
    """EEGPT features."""
    abnormality_detection: AbnormalitySection
    """Abnormality screen."""
    event_detection: EventDetectionSection
    """Event detection."""
    sleep_analysis: SleepSection
    """Sleep staging."""


class UrgentAlert(TypedDict):
    """An urgent finding on a live recording (topic eeg.alerts.urgent, key recording_id): one alert when an episode's evidence is complete, then an update when it ends. alert_id names the episode, so a message delivered twice is the same alert."""

    alert_id: str
    """Deterministic UUID of the episode (recording, finding, onset)."""
    status: AlertStatus
    """What this message says of the episode."""
    recording_id: str
    """Live recording (the Kafka key)."""
    device_id: NotRequired[str | None]
    """Bedside device."""
    patient_ref: NotRequired[str | None]
    """Keyed HMAC of the patient identifier, never a name."""
    finding: UrgentFinding
    """The urgent finding."""
    onset_s: float
    """Onset, seconds from the recording's first sample."""
    onset_time: NotRequired[datetime | None]
    """Onset on the device clock, UTC, when the device gave its time."""
    end_s: NotRequired[float | None]
    """On an ended update: when the episode ended, seconds from the first sample."""
    confidence: float
    """Confidence of the finding, 0 to 1."""
    evidence_window: int
    """Index of the window that completed the evidence (or, when ended, the first window without it)."""
    evidence_end_s: float
    """End of that window, seconds from the first sample: where the evidence was complete."""
    emitted_at: datetime
    """When the worker emitted the alert, UTC."""


class WindowFeatures(TypedDict):
    """What the window agents learnt of one window (key recording_id): its EEGPT features (topic eeg.features), or a live window's provisional quality flag and abnormality score from the stream's quality control, without features (topic eeg.window_checks), or, with end_of_recording, the end marker passed on."""

    recording_id: str
    """Recording (the Kafka key)."""
    job_id: NotRequired[str | None]
    """Analysis job (UUID); null for a live device."""
    attempt: NotRequired[int]
    """Attempt of the job whose segments made the window."""
    analysis_type: NotRequired[AnalysisType]
    """Depth of the analysis asked for."""
    window_index: int
    """Running number of the window in the recording."""
    start_s: float
    """Window start, seconds from the recording's first sample."""
    features: bytes
    """EEGPT feature vector, float32 little-endian; empty when EEGPT did not run."""
    features_error: NotRequired[str | None]
    """Why there are no features (no checkpoint, model failure), when features is empty."""
    weights_id: NotRequired[str | None]
    """EEGPT weights the features came from."""
    precision: NotRequired[str | None]
    """EEGPT precision (fp32, int8)."""
    eegpt_ms_per_window: NotRequired[float | None]
    """EEGPT inference time per window in the micro-batch that computed the features, milliseconds."""
    provisional_score: NotRequired[float | None]
    """Abnormality score of the window alone (0 to 1) from the stream's quality control and the qEEG or probe scorer; the final result re-scores the recording as a whole."""
    provisional_artifact: NotRequired[bool]
    """The stream's quality control flagged the window as an artifact window."""
    provisional_bad_channels: NotRequired[list[str]]
    """Channels the stream's quality control found bad at this window."""
    end_of_recording: NotRequired[bool]
    """True on the end marker."""
    n_windows_total: NotRequired[int | None]
    """On the end marker: how many windows the recording has."""
    expected_windows: NotRequired[int | None]
    """Windows of the whole recording when known in advance, for progress."""
    segments_partition: int
    """Partition of eeg.segments holding the recording's segments."""
    segments_first_offset: int
    """Offset of the attempt's first segment in that partition."""
    device_id: NotRequired[str | None]
    """Bedside device streaming the recording; null for a file."""
    patient_ref: NotRequired[str | None]
    """Keyed HMAC of the patient identifier (connectors.db.jobs.patient_reference), never a name; null when unknown."""
    segment_offset: NotRequired[int]
    """Offset in eeg.segments of the segment that completed the window (-1 on an end marker): where a live recording's recent signal can be read back from."""
    recording_start: NotRequired[datetime | None]
    """Wall-clock time of the recording's first sample, UTC, when known."""
    n_channels: NotRequired[int]
    """EEG channels of the window (0 on an end marker)."""
    qc_calibration: NotRequired[str | None]
    """On the window whose arrival calibrated the stream's quality control: its thresholds as JSON (processors.quality.QCThresholds.to_dict), kept in the live table so a restarted worker judges with them."""


class WindowResult(TypedDict):
    """The final verdict on one analysis window (topic eeg.window_results, key recording_id), stored once per window in window_quality."""

    job_id: NotRequired[str | None]
    """Analysis job (UUID); null for a live device."""
    recording_id: str
    """Recording (the Kafka key)."""
    window_index: int
    """Running number of the window in the recording."""
    start_s: float
    """Window start, seconds from the recording's first sample."""
    window_start: datetime
    """Wall-clock window start, UTC (recording start plus start_s)."""
    abnormal_score: NotRequired[float | None]
    """Abnormality score of the window, 0 to 1; null when scoring failed."""
    quality_score: float
    """Quality of the window, 0 (artifact) to 1 (clean)."""
    is_artifact: bool
    """Quality control flagged the window as an artifact window."""
    bad_channels: NotRequired[list[str]]
    """Channels found bad (and repaired) in the recording."""
