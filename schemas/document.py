"""The result document: one definition (``brrr.eeg.ResultDocument.avsc``) for every copy.

``brrr analyze --json``, the object store's ``results/{job_id}/complete.json``, the REST
answer of ``GET /api/v1/results/{job_id}`` and ``AnalysisResult.result_json`` are the same
JSON document. Its fields are declared once, in the Avro schema; this module holds a
document to that schema (:func:`check_document`), completes what a stage that did not run
leaves out (:func:`result_document`) and describes it for OpenAPI (:func:`json_schema`).

Why not encode it as Avro: a stage carries diagnostics beyond the contract (per-window
scores, channel reasons) that the document keeps; the schema lists what every reader can rely
on, and a check refuses a document that lacks any of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastavro.validation import ValidationError, validate

from schemas.codec import registry

SCHEMA_NAME = "brrr.eeg.ResultDocument"


class DocumentError(ValueError):
    """A result document that does not match ``brrr.eeg.ResultDocument``; the message
    names the field (``abnormality_detection.confidence``) and what was wrong."""


def result_document(
    analysis: Mapping[str, Any], *, job_id: str | None, file_id: str | None
) -> dict[str, Any]:
    """The result document of an analysis, checked against its schema.

    Parameters
    ----------
    analysis : mapping
        ``processors.analyze.AnalysisResult.to_dict()``.
    job_id, file_id : str or None
        The job and uploaded file it answers (None for a command-line analysis).

    Returns
    -------
    dict
        The document. A stage that did not complete (skipped, failed) has its contract's
        fields set to null rather than absent: a reader finds every field the schema names.

    Raises
    ------
    DocumentError
        When a completed stage lacks a field of the contract, or a field has the wrong type.
    """
    document = {"job_id": job_id, "file_id": file_id, **analysis}
    for section in _sections():
        stage = document.get(section["name"])
        if isinstance(stage, Mapping) and stage.get("status") != "completed":
            document[section["name"]] = {
                **{f["name"]: None for f in section["type"]["fields"] if _nullable(f)},
                **stage,
            }
    check_document(document)
    return document


def check_document(document: Mapping[str, Any]) -> None:
    """Refuse a document that lacks a field of the schema or has one of the wrong type.

    Unlike Avro validation alone, a missing field is an error even where the schema allows
    null: "absent" and "none" are different answers.

    Raises
    ------
    DocumentError
        Naming the first field that is missing, or the values of the wrong type.
    """
    schema = _schema()
    _check_present(document, schema, path="")
    try:
        validate(document, schema, raise_errors=True)
    except ValidationError as exc:
        problems = "; ".join(f"{e.field}: {e.datum!r} is not of its type" for e in exc.errors)
        raise DocumentError(f"the result document does not match its schema: {problems}") from None


def json_schema() -> dict[str, Any]:
    """The document's JSON Schema (for the OpenAPI description), from the Avro schema."""
    return _json_of(_schema())


def _schema() -> dict[str, Any]:
    return registry().resolve(SCHEMA_NAME).parsed


def _sections() -> list[dict[str, Any]]:
    """The stage objects: the fields whose type is a record with a ``status``."""
    return [
        f
        for f in _schema()["fields"]
        if isinstance(f["type"], dict)
        and f["type"].get("type") == "record"
        and any(g["name"] == "status" for g in f["type"]["fields"])
    ]


def _nullable(field: Mapping[str, Any]) -> bool:
    return isinstance(field["type"], list) and "null" in field["type"]


def _check_present(datum: Any, schema: Any, path: str) -> None:
    """Every record field present, recursively (through unions, arrays and maps)."""
    if isinstance(schema, list):  # a union: check against the branch the value takes
        for branch in schema:
            if isinstance(branch, dict) and branch.get("type") in ("record", "array", "map"):
                _check_present(datum, branch, path)
        return
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    if kind == "record" and isinstance(datum, Mapping):
        for field in schema["fields"]:
            where = f"{path}.{field['name']}" if path else field["name"]
            if field["name"] not in datum:
                raise DocumentError(
                    f"the result document lacks {where}: "
                    f"{field.get('doc', 'a field of brrr.eeg.ResultDocument')}"
                )
            _check_present(datum[field["name"]], field["type"], where)
    elif kind == "array" and isinstance(datum, list):
        for i, item in enumerate(datum):
            _check_present(item, schema["items"], f"{path}[{i}]")
    elif kind == "map" and isinstance(datum, Mapping):
        for key, value in datum.items():
            _check_present(value, schema["values"], f"{path}.{key}")


_JSON_PRIMITIVES = {
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
    "int": {"type": "integer"},
    "long": {"type": "integer"},
    "float": {"type": "number"},
    "double": {"type": "number"},
    "null": {"type": "null"},
}


def _named_types() -> dict[str, Any]:
    """Every named type (record, enum) of the current schemas, by full name."""
    named: dict[str, Any] = {}

    def collect(schema: Any) -> None:
        if isinstance(schema, list):
            for branch in schema:
                collect(branch)
        elif isinstance(schema, dict):
            if schema.get("type") in ("record", "enum") and "name" in schema:
                named[schema["name"]] = schema
            for field in schema.get("fields", []):
                collect(field["type"])
            for key in ("items", "values"):
                if key in schema:
                    collect(schema[key])

    for version in registry().current.values():
        collect(version.parsed)
    return named


def _json_of(schema: Any, named: Mapping[str, Any] | None = None) -> dict[str, Any]:
    named = _named_types() if named is None else named
    if isinstance(schema, list):
        return {"anyOf": [_json_of(branch, named) for branch in schema]}
    if isinstance(schema, str):
        if schema in _JSON_PRIMITIVES:
            return dict(_JSON_PRIMITIVES[schema])
        return _json_of(named[schema], named)
    kind = schema["type"]
    doc = {"description": schema["doc"]} if "doc" in schema else {}
    if kind == "record":
        return {
            "type": "object",
            "title": schema["name"].rsplit(".", 1)[-1],
            **doc,
            "properties": {
                f["name"]: {
                    **_json_of(f["type"], named),
                    **({"description": f["doc"]} if "doc" in f else {}),
                }
                for f in schema["fields"]
            },
            "required": [f["name"] for f in schema["fields"]],
            # Stages carry diagnostics beyond the contract.
            "additionalProperties": True,
        }
    if kind == "enum":
        return {"type": "string", "enum": list(schema["symbols"]), **doc}
    if kind == "array":
        return {"type": "array", "items": _json_of(schema["items"], named)}
    if kind == "map":
        return {"type": "object", "additionalProperties": _json_of(schema["values"], named)}
    return _json_of(kind, named)
