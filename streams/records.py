"""From an analysis to the Avro records that cross ``eeg.results`` and ``eeg.detections``.

The records' shape is the Avro schema's (``schemas/``); these functions only fill them in,
reading the analysis's result document (``schemas.document``), whose fields are all present:
nothing here supplies a value the analysis did not give.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from processors.analyze import AnalysisResult
from schemas.ids import detection_event_id
from schemas.records import AnalysisResult as AnalysisResultRecord
from schemas.records import Detection as DetectionRecord
from schemas.records import ResultStatus
from schemas.records import WindowResult as WindowResultRecord

#: Where the wall-clock times of a recording without a start time (built from an array, no
#: header) are counted from: the Unix epoch, which no real recording has, so a reader can
#: tell that the absolute times are unknown (onsets in seconds stay exact).
UNKNOWN_START = datetime(1970, 1, 1, tzinfo=UTC)


def detection_records(document: dict[str, Any], *, job_id: str) -> list[DetectionRecord]:
    """One ``Detection`` per event of the result document (none when events did not run)."""
    events = document["event_detection"]["events"] or []
    start = _recording_start(document)
    return [
        DetectionRecord(
            job_id=job_id,
            recording_id=document["recording_id"],
            event_id=detection_event_id(job_id, e["type"], e["onset_s"], e["channels"]),
            event_type=e["type"],
            subtype=e["subtype"],
            onset_s=float(e["onset_s"]),
            duration_s=float(e["duration_s"]),
            start_time=start + timedelta(seconds=float(e["onset_s"])),
            channels=list(e["channels"]),
            confidence=float(e["confidence"]),
        )
        for e in events
    ]


def result_record(
    result: AnalysisResult,
    document: dict[str, Any],
    *,
    status: ResultStatus,
    n_events: int | None = None,
) -> AnalysisResultRecord:
    """The ``AnalysisResult`` record of an analysis: typed summary plus the whole document.

    ``document`` is the analysis's result document (:func:`schemas.document.result_document`),
    carried as it is in ``result_json``; the summary fields are read from it.
    """
    abn = document["abnormality_detection"]
    features = result.stages["features"]
    eegpt = document["models"].get("eegpt") or {}
    events = document["event_detection"]["events"] or []  # null: events did not run
    versions = {
        k: str(v) for k, v in document["models"].items() if isinstance(v, str | int | float)
    }
    if eegpt:
        versions["eegpt"] = f"{eegpt.get('model_version')} ({eegpt.get('precision')})"
    return AnalysisResultRecord(
        job_id=document["job_id"],
        file_id=document["file_id"],
        recording_id=result.recording_id,
        analysis_type=result.analysis_type,
        status=status,
        created_at=datetime.now(UTC),
        is_abnormal=abn["is_abnormal"],
        # No verdict (no signal to score) has no confidence.
        confidence=0.0 if abn["confidence"] is None else float(abn["confidence"]),
        triage_priority=result.triage_priority,
        signal_quality_score=document["quality_report"]["signal_quality_score"],
        n_events=len(events) if n_events is None else n_events,
        # A skipped screen (no signal) names no scorer.
        scorer=abn["scorer"] if abn["status"] == "completed" else f"none ({abn['status']})",
        model_weights_id=eegpt.get("weights_id"),
        versions=versions,
        n_windows=result.windows.n_windows if result.windows is not None else 0,
        duration_s=float(result.recording["duration_s"]),
        processing_time_s=float(result.duration_s),
        inference_time_s=features.duration_s if features.status == "completed" else None,
        error=abn["error"],
        result_json=json.dumps(document, default=_json_default),
    )


def _recording_start(document: dict[str, Any]) -> datetime:
    start = document["recording"]["start_time"]
    return UNKNOWN_START if start is None else datetime.fromisoformat(start)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def window_result_records(
    result: AnalysisResult, document: dict[str, Any], *, job_id: str
) -> list[WindowResultRecord]:
    """One ``WindowResult`` per analysis window: its final abnormality score, and its
    quality (0 for an artifact window, else the share of channels that are not bad)."""
    windows = result.windows
    if windows is None:
        return []
    qc = document["quality_report"]
    # A report degraded by a failure inside quality control lists no artifact windows.
    artifacts = {int(w["index"]) for w in qc.get("artifact_windows") or []}
    bad = list(qc["bad_channels"] or [])
    good_share = 1.0 - len(bad) / max(1, len(windows.ch_names))
    scores = result.window_scores
    start = _recording_start(document)
    return [
        WindowResultRecord(
            job_id=job_id,
            recording_id=result.recording_id,
            window_index=int(index),
            start_s=float(start_s),
            window_start=start + timedelta(seconds=float(start_s)),
            abnormal_score=float(scores[i]) if scores is not None else None,
            quality_score=0.0 if int(index) in artifacts else good_share,
            is_artifact=int(index) in artifacts,
            bad_channels=bad,
        )
        for i, (index, start_s) in enumerate(zip(windows.index, windows.start_s, strict=True))
    ]
