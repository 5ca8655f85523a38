"""The one codec for every record that crosses a Kafka topic.

Schemas are the ``.avsc`` files beside this module (the current version of each record,
file name = full name, e.g. ``brrr.eeg.Detection.avsc``) and in ``history/`` (earlier
versions, kept so that payloads written by an older producer still decode). They are parsed
once, with fastavro, on first use.

Wire format, in the manner of Confluent's: one magic byte, a 4-byte big-endian schema id,
then the Avro binary body (fastavro ``schemaless_writer``). The schema id is the first four
bytes of the schema's CRC-64-AVRO fingerprint of its Parsing Canonical Form (Avro
specification, "Schema Fingerprints"), so producer and consumer agree on it without a
registry server, and a consumer knows which version of a schema wrote each payload and
resolves it against the version it reads with.

Python types of the records (``schemas/records.py``) are generated from the schemas by
``python -m schemas.codec --write-types``; a test checks the committed file matches.

References
----------
Apache Avro 1.12 specification: binary encoding, schema resolution, fingerprints.
Confluent Schema Registry wire format (magic byte 0 + 4-byte schema id + Avro body).
"""

from __future__ import annotations

import io
import json
import struct
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form
from fastavro.validation import ValidationError, validate

SCHEMA_DIR = Path(__file__).resolve().parent
HISTORY_DIR = SCHEMA_DIR / "history"
RECORDS_MODULE = SCHEMA_DIR / "records.py"
#: Namespace of every Brain-Go-Brrr record.
NAMESPACE = "brrr.eeg"
#: First byte of every payload: 0xB1, "brrr wire format 1" (Confluent's is 0x00, so a
#: Confluent-framed payload is told apart at once).
MAGIC = 0xB1
_HEADER = struct.Struct(">BI")
HEADER_BYTES = _HEADER.size


class CodecError(ValueError):
    """Base of the codec's errors; ``code`` is stable for logs and dead-letter rows."""

    code = "codec_error"


class UnknownSchemaError(CodecError):
    """A schema name (or a payload's schema id) that no ``.avsc`` file defines."""

    code = "unknown_schema"


class InvalidRecordError(CodecError):
    """A record that does not match its schema; the message names the field."""

    code = "invalid_record"


class UndecodablePayloadError(CodecError):
    """Bytes that are not a payload of this codec, or are truncated or corrupt."""

    code = "undecodable_payload"


@dataclass(frozen=True)
class SchemaVersion:
    """One parsed version of a record's schema."""

    name: str
    schema_id: int
    parsed: Any
    path: Path
    is_current: bool


class Registry:
    """Every schema of ``schemas/`` parsed once: current versions by name, all by id."""

    def __init__(self, schema_dir: Path = SCHEMA_DIR, history_dir: Path = HISTORY_DIR) -> None:
        self.current: dict[str, SchemaVersion] = {}
        self.by_id: dict[int, SchemaVersion] = {}
        named: dict[str, Any] = {}
        for path in _dependency_order(sorted(schema_dir.glob("*.avsc")), named):
            self._add(path, named, is_current=True)
        for path in sorted(history_dir.glob("*.avsc")) if history_dir.is_dir() else []:
            # Each historical file is parsed on its own so its named types do not clash
            # with the current ones of the same name.
            self._add(path, {}, is_current=False)

    def _add(self, path: Path, named: dict[str, Any], is_current: bool) -> None:
        parsed = fastavro.parse_schema(json.loads(path.read_text()), named_schemas=named)
        name = parsed["name"]
        version = SchemaVersion(name, schema_id_of(parsed), parsed, path, is_current)
        if is_current:
            if name in self.current:
                raise UnknownSchemaError(
                    f"{name} is defined twice: {self.current[name].path}, {path}"
                )
            self.current[name] = version
        known = self.by_id.get(version.schema_id)
        if known is not None and known.name != name:
            raise UnknownSchemaError(
                f"schema id {version.schema_id:#010x} of {path.name} collides with "
                f"{known.path.name}: change a doc string of one of them"
            )
        if known is None or is_current:
            self.by_id[version.schema_id] = version

    def resolve(self, schema_name: str) -> SchemaVersion:
        """The current version of ``schema_name`` (full name, or short name in
        :data:`NAMESPACE`)."""
        full = schema_name if "." in schema_name else f"{NAMESPACE}.{schema_name}"
        try:
            return self.current[full]
        except KeyError:
            raise UnknownSchemaError(
                f"no schema named {schema_name!r}; known: {sorted(self.current)} "
                f"(add a .avsc file to {SCHEMA_DIR})"
            ) from None


def _dependency_order(paths: list[Path], named: dict[str, Any]) -> list[Path]:
    """Order schema files so that each is parsed after the named types it references.

    Parses each file into a scratch copy of ``named`` until all succeed; a file that still
    refers to an unknown type after a full pass is reported.
    """
    order: list[Path] = []
    pending = list(paths)
    scratch: dict[str, Any] = {}
    while pending:
        progressed = False
        for path in list(pending):
            try:
                fastavro.parse_schema(json.loads(path.read_text()), named_schemas=scratch)
            except fastavro.schema.UnknownType:
                continue
            order.append(path)
            pending.remove(path)
            progressed = True
        if not progressed:
            raise UnknownSchemaError(f"unresolvable named types in {[p.name for p in pending]}")
    return order


def schema_id_of(parsed_schema: Any) -> int:
    """First 4 bytes of the CRC-64-AVRO fingerprint of the schema's canonical form."""
    return int(fingerprint(to_parsing_canonical_form(parsed_schema), "CRC-64-AVRO")[:8], 16)


@lru_cache(maxsize=1)
def registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    return Registry()


def encode(schema_name: str, record: dict[str, Any]) -> bytes:
    """Encode ``record`` with the current version of ``schema_name``.

    Parameters
    ----------
    schema_name : str
        Full (``brrr.eeg.Detection``) or short (``Detection``) record name.
    record : dict
        The record; ``timestamp-millis`` fields take timezone-aware ``datetime`` objects
        (or integer milliseconds since the epoch).

    Returns
    -------
    bytes
        Magic byte, 4-byte schema id, Avro binary body.

    Raises
    ------
    InvalidRecordError
        When a field is missing, of the wrong type, not one of an enum's symbols, or not
        in the schema; the message names the field.
    """
    version = registry().resolve(schema_name)
    if not isinstance(record, dict):
        raise InvalidRecordError(f"{version.name}: a record is a dict, got {type(record).__name__}")
    # The writer alone would take a float for a long (truncated) or a string for a double.
    # Asked for a yes or no, fastavro's validator is 5 times cheaper than asked for the
    # problems, for which it builds an exception per union branch a field does not take.
    if not validate(record, version.parsed, raise_errors=False):
        _raise_named_problems(version, record)
    buffer = io.BytesIO()
    buffer.write(_HEADER.pack(MAGIC, version.schema_id))
    try:
        # strict: fields the schema does not know are refused rather than silently dropped.
        fastavro.schemaless_writer(buffer, version.parsed, record, strict_allow_default=True)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidRecordError(f"{version.name} does not match its schema: {exc}") from None
    return buffer.getvalue()


def _raise_named_problems(version: SchemaVersion, record: dict[str, Any]) -> None:
    """Raise ``InvalidRecordError`` naming each field of ``record`` that does not match."""
    try:
        validate(record, version.parsed, raise_errors=True)
    except ValidationError as exc:
        problems = "; ".join(
            f"field {e.field}: {e.datum!r} is not {json.dumps(e.schema)}" for e in exc.errors
        )
        raise InvalidRecordError(f"{version.name} does not match its schema: {problems}") from None


def decode_any(payload: bytes) -> tuple[str, dict[str, Any]]:
    """Decode a payload of any known schema with the current version of that schema.

    Returns
    -------
    name : str
        Full name of the record's schema.
    record : dict
        The decoded record (``timestamp-millis`` fields as UTC ``datetime``).

    Raises
    ------
    UndecodablePayloadError
        When the bytes are not a payload of this codec or are corrupt.
    """
    writer = _writer_of(payload)
    reader = registry().current.get(writer.name, writer)
    return writer.name, _read(payload, writer, reader)


def decode(schema_name: str, payload: bytes) -> dict[str, Any]:
    """Decode ``payload`` into a record of the current version of ``schema_name``.

    A payload written by an earlier version of the schema is resolved into the current one
    (Avro schema resolution: new fields take their defaults).

    Raises
    ------
    UndecodablePayloadError
        When the bytes are not a payload of this codec, are corrupt, or hold another record.
    UnknownSchemaError
        When ``schema_name`` is not a known schema.
    """
    reader = registry().resolve(schema_name)
    writer = _writer_of(payload)
    if writer.name != reader.name:
        raise UndecodablePayloadError(
            f"payload holds a {writer.name}, not a {reader.name}: check the topic's producer"
        )
    return _read(payload, writer, reader)


def schema_id(schema_name: str) -> int:
    """The id written in the header of payloads of the current ``schema_name``."""
    return registry().resolve(schema_name).schema_id


def _writer_of(payload: bytes) -> SchemaVersion:
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise UndecodablePayloadError(f"a payload is bytes, got {type(payload).__name__}")
    if len(payload) < HEADER_BYTES:
        raise UndecodablePayloadError(
            f"payload of {len(payload)} bytes is shorter than the {HEADER_BYTES}-byte header"
        )
    magic, sid = _HEADER.unpack_from(payload)
    if magic != MAGIC:
        raise UndecodablePayloadError(
            f"payload starts with byte {magic:#04x}, not the codec's magic {MAGIC:#04x}: "
            "it was not written by schemas.codec.encode"
        )
    try:
        return registry().by_id[sid]
    except KeyError:
        raise UndecodablePayloadError(
            f"payload written with unknown schema id {sid:#010x}: a newer producer? "
            f"keep every published schema version in {HISTORY_DIR}"
        ) from None


def _read(payload: bytes, writer: SchemaVersion, reader: SchemaVersion) -> dict[str, Any]:
    body = io.BytesIO(bytes(payload[HEADER_BYTES:]))
    try:
        record = fastavro.schemaless_reader(
            body, writer.parsed, None if reader is writer else reader.parsed
        )
    except Exception as exc:  # fastavro raises EOFError, ValueError, IndexError, ...
        raise UndecodablePayloadError(
            f"corrupt {writer.name} payload ({type(exc).__name__}: {exc})"
        ) from None
    if body.tell() != len(body.getbuffer()):
        raise UndecodablePayloadError(
            f"{writer.name} payload has {len(body.getbuffer()) - body.tell()} trailing bytes"
        )
    return record


# --- Python types generated from the schemas ------------------------------------------------

_PRIMITIVES = {
    "null": "None",
    "boolean": "bool",
    "int": "int",
    "long": "int",
    "float": "float",
    "double": "float",
    "bytes": "bytes",
    "string": "str",
}
_LOGICAL = {"timestamp-millis": "datetime", "timestamp-micros": "datetime", "uuid": "str"}


def python_type(avro_type: Any, enums: dict[str, list[str]]) -> str:
    """The Python annotation (as source text) of a parsed Avro type."""
    if isinstance(avro_type, str):
        # A primitive, or a reference to a named type (enum, record) by its full name.
        if avro_type in _PRIMITIVES:
            return _PRIMITIVES[avro_type]
        return avro_type.rsplit(".", 1)[-1]
    if isinstance(avro_type, list):
        # None last, as the house style writes optional types
        members = sorted(avro_type, key=lambda t: t == "null")
        return " | ".join(python_type(t, enums) for t in members)
    logical = avro_type.get("logicalType")
    if logical in _LOGICAL:
        return _LOGICAL[logical]
    kind = avro_type["type"]
    if kind == "enum":
        enums[avro_type["name"]] = avro_type["symbols"]
        return avro_type["name"].rsplit(".", 1)[-1]
    if kind == "array":
        return f"list[{python_type(avro_type['items'], enums)}]"
    if kind == "map":
        return f"dict[str, {python_type(avro_type['values'], enums)}]"
    if kind == "record":
        return avro_type["name"].rsplit(".", 1)[-1]
    return python_type(kind, enums)


def generate_types_source() -> str:
    """Source text of ``schemas/records.py``: a TypedDict per record (records nested in a
    record first), a Literal per enum."""
    enums: dict[str, list[str]] = {}
    classes: list[str] = []
    for _name, version in sorted(registry().current.items()):
        for record in [*_nested_records(version.parsed), version.parsed]:
            classes.append(_typed_dict_source(record, enums))
    literals = [
        f"{full.rsplit('.', 1)[-1]} = Literal[{', '.join(json.dumps(s) for s in symbols)}]"
        for full, symbols in sorted(enums.items())
    ]
    header = (
        '"""Python types of the Avro records, GENERATED from the .avsc files by\n'
        "``python -m schemas.codec --write-types``: do not edit by hand.\n"
        '"""\n\n'
        "# ruff: noqa: E501\n\n"
        "# No `from __future__ import annotations`: TypedDict must see NotRequired at runtime.\n"
        "from datetime import datetime\n"
        "from typing import Literal, NotRequired, TypedDict\n\n"
    )
    return header + "\n".join(literals) + "\n\n\n" + "\n\n\n".join(classes) + "\n"


def _typed_dict_source(record: dict[str, Any], enums: dict[str, list[str]]) -> str:
    lines = [f"class {record['name'].rsplit('.', 1)[-1]}(TypedDict):"]
    doc = record.get("doc")
    if doc:
        lines.append(f'    """{doc}"""')
        lines.append("")
    for field in record["fields"]:
        annotation = python_type(field["type"], enums)
        if "default" in field:
            annotation = f"NotRequired[{annotation}]"
        lines.append(f"    {field['name']}: {annotation}")
        if field.get("doc"):
            lines.append(f'    """{field["doc"]}"""')
    return "\n".join(lines)


def _nested_records(avro_type: Any) -> list[dict[str, Any]]:
    """Records defined inside ``avro_type`` (not itself), innermost first."""
    found: list[dict[str, Any]] = []

    def walk(t: Any, top: bool) -> None:
        if isinstance(t, list):
            for member in t:
                walk(member, False)
        elif isinstance(t, dict):
            if t.get("type") == "record":
                for field in t["fields"]:
                    walk(field["type"], False)
                if not top:
                    found.append(t)
            elif t.get("type") == "array":
                walk(t["items"], False)
            elif t.get("type") == "map":
                walk(t["values"], False)

    walk(avro_type, True)
    return found


def main(argv: list[str] | None = None) -> int:
    """``python -m schemas.codec --write-types`` regenerates ``schemas/records.py``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["--write-types"]:
        print("usage: python -m schemas.codec --write-types", file=sys.stderr)
        return 2
    RECORDS_MODULE.write_text(generate_types_source())
    print(f"wrote {RECORDS_MODULE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
