"""The codec: round trips, errors that name the field, framing, generated types, evolution."""

from __future__ import annotations

import json
import typing
import uuid
from datetime import UTC, datetime

import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from schemas import codec, records
from schemas.codec import (
    HEADER_BYTES,
    HISTORY_DIR,
    SCHEMA_DIR,
    InvalidRecordError,
    UndecodablePayloadError,
    UnknownSchemaError,
    decode,
    decode_any,
    encode,
)
from schemas.ids import detection_event_id


def make_result(**overrides: object) -> dict:
    record = {
        "job_id": str(uuid.uuid4()),
        "file_id": str(uuid.uuid4()),
        "recording_id": "rec-0001",
        "analysis_type": "screening",
        "status": "completed",
        "created_at": datetime(2026, 11, 26, 12, 0, 0, 123000, tzinfo=UTC),
        "is_abnormal": True,
        "confidence": 0.87,
        "triage_priority": "urgent",
        "signal_quality_score": 0.93,
        "n_events": 2,
        "scorer": "qeeg-baseline",
        "model_weights_id": None,
        "versions": {"brain-go-brrr": "0.1.0", "mne": "1.13.2"},
        "n_windows": 150,
        "duration_s": 600.0,
        "processing_time_s": 12.5,
        "inference_time_s": None,
        "error": None,
        "result_json": json.dumps({"abnormality": {"is_abnormal": True}}),
    }
    record.update(overrides)
    return record


def make_detection(**overrides: object) -> dict:
    job_id = str(uuid.uuid4())
    record = {
        "job_id": job_id,
        "recording_id": "rec-0001",
        "event_id": detection_event_id(job_id, "seizure", 12.0, ["T7", "P7"]),
        "event_type": "seizure",
        "subtype": None,
        "onset_s": 12.0,
        "duration_s": 14.5,
        "start_time": datetime(2026, 11, 26, 8, 0, 12, tzinfo=UTC),
        "channels": ["T7", "P7"],
        "confidence": 0.91,
    }
    record.update(overrides)
    return record


@pytest.mark.parametrize(
    "name, make", [("AnalysisResult", make_result), ("Detection", make_detection)]
)
def test_round_trip_gives_the_record_back(name: str, make: typing.Callable[[], dict]) -> None:
    record = make()
    payload = encode(name, record)
    assert payload[0] == codec.MAGIC
    assert int.from_bytes(payload[1:HEADER_BYTES], "big") == codec.schema_id(name)
    assert decode(name, payload) == record
    assert decode_any(payload) == (f"brrr.eeg.{name}", record)


def test_optional_fields_take_their_defaults() -> None:
    record = make_detection()
    del record["subtype"]
    assert decode("Detection", encode("Detection", record))["subtype"] is None


def test_wrong_type_names_the_field() -> None:
    with pytest.raises(InvalidRecordError, match=r"brrr\.eeg\.Detection\.onset_s") as info:
        encode("Detection", make_detection(onset_s="twelve"))
    assert "'twelve'" in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"), [("onset_s", "12.5"), ("confidence", True)], ids=["text", "bool"]
)
def test_values_the_writer_would_coerce_are_refused(field: str, value: object) -> None:
    """fastavro's writer alone reads the text "12.5" as a double and a bool as a number:
    the codec refuses them, naming the field, rather than store a value nobody wrote."""
    with pytest.raises(InvalidRecordError, match=rf"Detection\.{field}"):
        encode("Detection", make_detection(**{field: value}))


def test_a_float_for_a_long_is_refused_not_truncated() -> None:
    progress = {
        "job_id": "j",
        "recording_id": "r",
        "windows_done": 3.7,
        "windows_expected": 10,
        "progress": 0.3,
        "emitted_at": datetime.now(UTC),
    }
    with pytest.raises(InvalidRecordError, match=r"JobProgress\.windows_done"):
        encode("JobProgress", progress)


def test_unknown_enum_symbol_names_the_field() -> None:
    with pytest.raises(InvalidRecordError, match=r"AnalysisResult\.triage_priority"):
        encode("AnalysisResult", make_result(triage_priority="asap"))


def test_missing_field_names_the_field() -> None:
    record = make_result()
    del record["confidence"]
    with pytest.raises(InvalidRecordError, match="confidence"):
        encode("AnalysisResult", record)


def test_field_the_schema_does_not_know_is_refused() -> None:
    with pytest.raises(InvalidRecordError, match="patient_name"):
        encode("AnalysisResult", make_result(patient_name="Jane Doe"))


def test_unknown_schema_lists_the_known_ones() -> None:
    with pytest.raises(UnknownSchemaError, match=r"brrr\.eeg\.Detection"):
        encode("Detektion", make_detection())


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "shorter than"),
        (b"\x00\x00\x00\x00\x01garbage", "magic"),
        (bytes([codec.MAGIC]) + b"\xde\xad\xbe\xef" + b"\x00", "unknown schema id"),
        (json.dumps({"job_id": "x"}).encode(), "magic"),
    ],
)
def test_undecodable_payloads_say_why(payload: bytes, message: str) -> None:
    with pytest.raises(UndecodablePayloadError, match=message):
        decode_any(payload)


def test_truncated_and_padded_payloads_are_refused() -> None:
    payload = encode("Detection", make_detection())
    with pytest.raises(UndecodablePayloadError, match="corrupt"):
        decode("Detection", payload[: len(payload) // 2])
    with pytest.raises(UndecodablePayloadError, match="trailing"):
        decode("Detection", payload + b"\x00\x00")


def test_decode_refuses_a_payload_of_another_record() -> None:
    payload = encode("Detection", make_detection())
    with pytest.raises(UndecodablePayloadError, match=r"not a brrr\.eeg\.AnalysisResult"):
        decode("AnalysisResult", payload)


def test_event_id_is_deterministic_and_order_free() -> None:
    a = detection_event_id("job", "seizure", 12.0004, ["T7", "P7"])
    assert a == detection_event_id("job", "seizure", 12.0, ["P7", "T7"])
    assert a != detection_event_id("job", "seizure", 12.5, ["T7", "P7"])
    assert a != detection_event_id("job", "PLED", 12.0, ["T7", "P7"])
    assert a != detection_event_id("job2", "seizure", 12.0, ["T7", "P7"])
    assert uuid.UUID(a).version == 5


def test_generated_types_file_is_up_to_date() -> None:
    assert (SCHEMA_DIR / "records.py").read_text() == codec.generate_types_source(), (
        "schemas/records.py is stale: run python -m schemas.codec --write-types"
    )


@pytest.mark.parametrize("name", sorted(n.rsplit(".", 1)[-1] for n in codec.registry().current))
def test_typed_dicts_match_the_schema_fields(name: str) -> None:
    typed = getattr(records, name)
    version = codec.registry().resolve(name)
    fields = {f["name"]: f for f in version.parsed["fields"]}
    assert set(typing.get_type_hints(typed)) == set(fields)
    optional = {n for n, f in fields.items() if "default" in f}
    assert typed.__optional_keys__ == optional
    for enum_field in (f for f in fields.values() if isinstance(f["type"], dict)):
        if enum_field["type"].get("type") == "enum":
            literal = getattr(records, enum_field["type"]["name"].rsplit(".", 1)[-1])
            assert list(typing.get_args(literal)) == enum_field["type"]["symbols"]


def _named_types(node: object, found: dict[str, dict]) -> dict[str, dict]:
    """Every named type (enum, record, fixed) defined in a schema's JSON, by full name."""
    if isinstance(node, dict):
        if node.get("type") in ("enum", "record", "fixed") and "name" in node:
            full = node["name"] if "." in node["name"] else f"brrr.eeg.{node['name']}"
            found.setdefault(full, node)
        for value in node.values():
            _named_types(value, found)
    elif isinstance(node, list):
        for value in node:
            _named_types(value, found)
    return found


def _avro(path_or_text: object) -> avro.schema.Schema:
    """Parse with the avro package; named types a schema refers to but does not define
    (the analysis-type enum, defined once in AnalysisResult) come from the current files."""
    text = path_or_text.read_text() if hasattr(path_or_text, "read_text") else path_or_text
    schema = json.loads(text)
    own = _named_types(schema, {})
    names = avro.schema.Names()
    shared: dict[str, dict] = {}
    for path in sorted(SCHEMA_DIR.glob("*.avsc")):
        _named_types(json.loads(path.read_text()), shared)
    for full, definition in shared.items():
        if full not in own and f'"{full}"' in text:
            avro.schema.make_avsc_object({**definition, "namespace": "brrr.eeg"}, names)
    return avro.schema.make_avsc_object(schema, names)


@pytest.mark.parametrize("history", sorted(HISTORY_DIR.glob("*.avsc")), ids=lambda p: p.name)
def test_current_schema_reads_every_published_version(history) -> None:
    """Backward compatibility: the current reader decodes what every old writer wrote."""
    current = SCHEMA_DIR / (history.name.rsplit(".", 2)[0] + ".avsc")
    result = ReaderWriterCompatibilityChecker().get_compatibility(
        reader=_avro(current), writer=_avro(history)
    )
    assert result.compatibility is SchemaCompatibilityType.compatible, result.messages


def test_checker_catches_an_incompatible_change() -> None:
    """Guard the guard: a new required field without a default breaks old payloads."""
    v1 = json.loads((HISTORY_DIR / "brrr.eeg.Detection.v1.avsc").read_text())
    v2 = json.loads(json.dumps(v1))
    v2["fields"].append({"name": "montage", "type": "string"})
    result = ReaderWriterCompatibilityChecker().get_compatibility(
        reader=_avro(json.dumps(v2)), writer=_avro(json.dumps(v1))
    )
    assert result.compatibility is SchemaCompatibilityType.incompatible


def test_old_payload_decodes_with_the_new_default(tmp_path) -> None:
    """A v1 payload resolves into a v2 reader that added a field with a default."""
    v1 = json.loads((HISTORY_DIR / "brrr.eeg.Detection.v1.avsc").read_text())
    v2 = json.loads(json.dumps(v1))
    v2["fields"].append({"name": "montage", "type": "string", "default": "referential"})
    (tmp_path / "history").mkdir()
    (tmp_path / "brrr.eeg.Detection.avsc").write_text(json.dumps(v2))
    (tmp_path / "history" / "brrr.eeg.Detection.v1.avsc").write_text(json.dumps(v1))
    old = codec.Registry(SCHEMA_DIR, HISTORY_DIR)
    new = codec.Registry(tmp_path, tmp_path / "history")
    record = make_detection()
    payload = encode("Detection", record)  # written by the v1 producer
    version_id = int.from_bytes(payload[1:HEADER_BYTES], "big")
    assert version_id in old.by_id and version_id in new.by_id
    writer = new.by_id[version_id]
    decoded = codec._read(payload, writer, new.resolve("Detection"))
    assert decoded == {**record, "montage": "referential"}


def test_analysis_types_are_defined_once_and_match_the_processors() -> None:
    """The vocabulary lives in the AnalysisType enum of AnalysisResult; the other records
    refer to it by name, and processors.analyze (which may not import schemas) agrees."""
    from processors.analyze import ANALYSIS_TYPES

    definitions = [
        path.name
        for path in SCHEMA_DIR.glob("*.avsc")
        if "brrr.eeg.AnalysisType" in _named_types(json.loads(path.read_text()), {})
    ]
    assert definitions == ["brrr.eeg.AnalysisResult.avsc"]
    assert typing.get_args(records.AnalysisType) == ANALYSIS_TYPES
    for name in ("AnalysisJob", "EEGSegment", "EEGWindow", "WindowFeatures"):
        text = (SCHEMA_DIR / f"brrr.eeg.{name}.avsc").read_text()
        assert '"brrr.eeg.AnalysisType"' in text, name
