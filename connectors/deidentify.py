"""Removing patient identifiers from an EDF, EDF+, BDF or BDF+ file, in place.

:func:`scrub_edf_header` reads the identification fields first (they are returned, to be
sealed by :mod:`connectors.phi`), then overwrites them in the file. Every change keeps its
field's length, so the file keeps its layout and still reads with
:func:`processors.io.read_recording`.

What is scrubbed:

- the patient field (header bytes 8-88): ``X X X X``, EDF+'s form for "code, sex, birth
  date and name unknown";
- the recording field (bytes 88-168): ``Startdate dd-MMM-yyyy X X X``, the EDF+ form with
  the hospital administration code, technician and equipment unknown (``Startdate X X X X``
  when the field had no valid EDF+ start date);
- the header's identifiers (patient code, each part of the name, birth date, hospital code,
  technician, and every word of the patient field), blanked to ``X`` of the same
  length wherever they appear in the signal headers' free text (transducer type,
  prefiltering, reserved) and in the text of EDF+/BDF+ annotations (onsets and durations
  are left as they are).

What is kept, on purpose:

- the start date and time (bytes 168-184, and the date in the recording field): the
  analysis places windows, alerts and results on the clock with them, and
  ``recordings.start_time`` keeps them anyway; without the birth date they do not give the
  patient's age;
- labels, units, ranges, filters and samples;
- free text of annotations that names nobody from the header: a name written only in an
  annotation, and in no header field, cannot be recognised here.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from connectors.phi import HeaderIdentity
from processors.io import EDFHeader, patient_identity_from_header, read_edf_header
from processors.types import PatientIdentity

ANONYMOUS_PATIENT = "X X X X"
#: Identifier words shorter than this are not searched for (sex letters, initials).
MIN_TOKEN_CHARS = 3
_ANNOTATION_LABELS = frozenset({"EDF Annotations", "BDF Annotations"})
_EDF_DATE = re.compile(r"\d{2}-[A-Z]{3}-\d{4}")
_FIELD = slice(8, 88), slice(88, 168)
_WORD_SPLIT = re.compile(r"[\s_^,;]+")
#: Per-signal header fields of free text: (offset in units of n_signals, width).
_FREE_TEXT_FIELDS = ((16, 80), (136, 80), (224, 32))  # transducer, prefiltering, reserved


def scrub_edf_header(path: str | Path) -> HeaderIdentity:
    """Blank the patient identifiers of the EDF/BDF file at ``path``, in place.

    Parameters
    ----------
    path : str | Path
        The file; it is rewritten where it is (keep a copy if the original is needed).

    Returns
    -------
    HeaderIdentity
        The identification fields as they were before scrubbing.

    Raises
    ------
    processors.errors.NotAnEEGFile
        The file is not EDF/BDF, or its header is corrupt (nothing is changed).
    """
    path = Path(path)
    header = read_edf_header(path)
    identity = HeaderIdentity(
        patient=patient_identity_from_header(header),
        patient_field=header.patient_field,
        recording_field=header.recording_field,
    )
    patterns = identifier_patterns(identity)
    with path.open("r+b") as fid:
        fid.seek(_FIELD[0].start)
        fid.write(_field(ANONYMOUS_PATIENT) + _field(anonymous_recording_field(header)))
        _scrub_signal_headers(fid, len(header.labels), patterns)
        _scrub_annotations(fid, header, patterns)
    return identity


def anonymous_recording_field(header: EDFHeader) -> str:
    """The recording field with only its EDF+ start date left."""
    words = header.recording_field.split()
    if len(words) >= 2 and words[0] == "Startdate" and _EDF_DATE.fullmatch(words[1]):
        return f"Startdate {words[1]} X X X"
    return "Startdate X X X X"


def identifier_patterns(identity: HeaderIdentity) -> list[re.Pattern[bytes]]:
    """Case-insensitive byte patterns of every identifier, longest first, in Latin-1 and
    UTF-8 (EDF+ annotations may be either)."""
    words = {w for w in _identifier_words(identity) if len(w) >= MIN_TOKEN_CHARS}
    encoded = {form for w in words for form in (w.encode("utf-8"), w.encode("latin-1", "ignore"))}
    return [
        re.compile(re.escape(form), re.IGNORECASE)
        for form in sorted(encoded, key=len, reverse=True)
        if len(form) >= MIN_TOKEN_CHARS
    ]


def blank_identifiers(data: bytes, patterns: list[re.Pattern[bytes]]) -> bytes:
    """``data`` with every match of ``patterns`` replaced by as many ``X``."""
    for pattern in patterns:
        data = pattern.sub(lambda m: b"X" * len(m.group()), data)
    return data


def scrub_text(text: str, identity: HeaderIdentity) -> str:
    """``text`` (a file name, a free-text note) with the identity's identifiers blanked to
    ``X``, e.g. ``Doe_John_EEG.edf`` -> ``XXX_XXXX_EEG.edf``: for what is stored beside the
    file but is not in it."""
    scrubbed = blank_identifiers(text.encode("utf-8"), identifier_patterns(identity))
    return scrubbed.decode("utf-8", errors="replace")


def _identifier_words(identity: HeaderIdentity) -> set[str]:
    patient: PatientIdentity = identity.patient
    values = [patient.patient_code, patient.name, patient.hospital_code, patient.technician]
    words = set()
    for value in filter(None, values):
        words.add(value)
        words.update(_WORD_SPLIT.split(value))
    if patient.birthdate:
        words.update(_date_forms(patient.birthdate))
    # Every word of the patient field (the whole field is free text in plain EDF).
    words.update(_WORD_SPLIT.split(identity.patient_field))
    return {w for w in words if w and w != "X"}


def _date_forms(edf_date: str) -> set[str]:
    """``01-MAR-1970`` and the other ways a birth date may be written in annotations."""
    try:
        day = datetime.strptime(edf_date.title(), "%d-%b-%Y").date()
    except ValueError:
        return {edf_date}
    return {edf_date, day.isoformat(), day.strftime("%d.%m.%Y"), day.strftime("%d/%m/%Y")}


def _field(text: str) -> bytes:
    return text.encode("ascii").ljust(80)[:80]


def _scrub_signal_headers(fid: BinaryIO, n_signals: int, patterns: list[re.Pattern[bytes]]) -> None:
    """Blank identifiers in the signal headers' free-text fields."""
    fid.seek(256)
    signal_head = fid.read(256 * n_signals)
    scrubbed = bytearray(signal_head)
    for offset, width in _FREE_TEXT_FIELDS:
        start, stop = offset * n_signals, (offset + width) * n_signals
        scrubbed[start:stop] = blank_identifiers(bytes(signal_head[start:stop]), patterns)
    if scrubbed != signal_head:
        fid.seek(256)
        fid.write(scrubbed)


def _scrub_annotations(fid: BinaryIO, header: EDFHeader, patterns: list[re.Pattern[bytes]]) -> None:
    """Blank identifiers in the text of every annotation of every data record."""
    sample_bytes = 3 if header.file_format.startswith("BDF") else 2
    record_bytes = sum(header.samples_per_record) * sample_bytes
    data_start = 256 * (len(header.labels) + 1)
    offset = 0
    for label, n_samples in zip(header.labels, header.samples_per_record, strict=True):
        width = n_samples * sample_bytes
        if label in _ANNOTATION_LABELS:
            for record in range(header.n_records):
                _scrub_tal_block(fid, data_start + record * record_bytes + offset, width, patterns)
        offset += width


def _scrub_tal_block(
    fid: BinaryIO, position: int, width: int, patterns: list[re.Pattern[bytes]]
) -> None:
    """One record's annotation signal: each TAL is ``+onset[\\x15duration]\\x14text\\x14...\\x00``;
    only the text after the first ``\\x14`` of each is blanked."""
    fid.seek(position)
    block = fid.read(width)
    tals = []
    for tal in block.split(b"\x00"):
        timing, sep, texts = tal.partition(b"\x14")
        tals.append(timing + sep + blank_identifiers(texts, patterns))
    scrubbed = b"\x00".join(tals)
    if scrubbed != block:
        fid.seek(position)
        fid.write(scrubbed)
