"""The result document is held to its one definition, ``brrr.eeg.ResultDocument.avsc``."""

from __future__ import annotations

import copy

import pytest

from processors.analyze import analyze
from processors.io import recording_from_array
from processors.synthetic import InjectedEvent, generate_eeg
from schemas.document import DocumentError, check_document, json_schema, result_document


@pytest.fixture(scope="module")
def seizure_analysis() -> dict:
    eeg = generate_eeg(120.0, events=[InjectedEvent("seizure", 40.0, 30.0)], seed=5)
    recording = recording_from_array(eeg.data_uv, eeg.sfreq_hz, eeg.ch_names, "doc-seizure")
    return analyze(recording, "screening").to_dict()


def test_every_stage_is_flat_with_its_contract_fields(seizure_analysis: dict) -> None:
    doc = result_document(seizure_analysis, job_id="j-1", file_id=None)
    assert doc["job_id"] == "j-1" and doc["file_id"] is None
    qc = doc["quality_report"]
    assert qc["status"] == "completed" and 0.0 <= qc["signal_quality_score"] <= 1.0
    assert isinstance(qc["bad_channels"], list)
    abn = doc["abnormality_detection"]
    assert abn["is_abnormal"] is True and abn["triage_priority"] in ("expedite", "urgent")
    assert abn["fallback_result"] is None  # only a failed stage has one
    assert any(e["type"] == "seizure" for e in doc["event_detection"]["events"])
    # Sleep did not run in a screening: its fields are there, and null.
    sleep = doc["sleep_analysis"]
    assert sleep["status"] == "skipped" and sleep["reason"]
    assert sleep["hypnogram"] is None and sleep["sleep_efficiency"] is None


def test_a_missing_field_is_refused_by_name(seizure_analysis: dict) -> None:
    broken = copy.deepcopy(result_document(seizure_analysis, job_id=None, file_id=None))
    del broken["abnormality_detection"]["confidence"]
    with pytest.raises(DocumentError, match=r"abnormality_detection\.confidence"):
        check_document(broken)


def test_a_completed_stage_cannot_hide_a_field_behind_null_filling(seizure_analysis: dict) -> None:
    analysis = copy.deepcopy(seizure_analysis)
    del analysis["quality_report"]["bad_channels"]  # completed: absence is an error
    with pytest.raises(DocumentError, match=r"quality_report\.bad_channels"):
        result_document(analysis, job_id=None, file_id=None)


def test_a_wrong_type_is_refused(seizure_analysis: dict) -> None:
    broken = copy.deepcopy(result_document(seizure_analysis, job_id=None, file_id=None))
    broken["triage_priority"] = "soon"
    with pytest.raises(DocumentError, match="triage_priority"):
        check_document(broken)


def test_json_schema_names_every_section() -> None:
    schema = json_schema()
    for section in ("quality_report", "abnormality_detection", "event_detection"):
        assert section in schema["required"]
        assert "status" in schema["properties"][section]["required"]
    triage = schema["properties"]["triage_priority"]
    assert triage["enum"] == ["routine", "expedite", "urgent"]
