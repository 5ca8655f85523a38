"""Reading recordings: EDF, EDF+, BDF (and FIF) into a :class:`~processors.types.Recording`.

A recording is reduced to its scalp EEG with standard 10-10 names (see
:mod:`processors.montage`), MNE's ``standard_1020`` montage set, and no patient identity: the
identification fields of the header go into a separate
:class:`~processors.types.PatientIdentity` and are removed from ``raw.info``.

Before MNE sees an EDF/BDF file its fixed header is checked here against the EDF specification
[1]_ (and its EDF+ [2]_ and BDF variants), so that a file that is not EDF, a corrupt header, a
truncated file or an annotation-only EDF+ file gets a typed error that says what is wrong,
instead of an exception from deep inside the reader.

References
----------
.. [1] Kemp B, Värri A, Rosa AC, Nielsen KD, Gade J (1992). A simple format for exchange of
       digitized polygraphic recordings. Electroencephalogr Clin Neurophysiol 82(5):391-393.
.. [2] Kemp B, Olivan J (2003). European data format 'plus' (EDF+), an EDF alike standard
       format for the exchange of physiological data. Clin Neurophysiol 114(9):1755-1761.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mne
import numpy as np

from processors.errors import (
    AnnotationsOnly,
    NoEEGChannels,
    NonFiniteSamples,
    NotAnEEGFile,
    RecordingTooShort,
    WrongSamplingRate,
)
from processors.geometry import MIN_SFREQ_HZ as GEOMETRY_MIN_SFREQ_HZ
from processors.montage import cap_mapping, classify_channels, standard_1020_montage
from processors.types import WINDOW_S, PatientIdentity, Recording

#: Lowest usable sampling rate (:data:`processors.geometry.MIN_SFREQ_HZ`, one for every stage):
#: its Nyquist frequency (50 Hz) covers the default band-pass (0.5-45 Hz) with the filters'
#: margin; below it the band that EEGPT and the detectors read is not recorded, and upsampling
#: to 256 Hz would only invent an empty band.
MIN_SFREQ_HZ: float = GEOMETRY_MIN_SFREQ_HZ

_EDF_MAGIC = b"0       "
_BDF_MAGIC = b"\xffBIOSEMI"
_ANNOTATION_LABELS = frozenset({"EDF Annotations", "BDF Annotations"})
_HASH_CHUNK_BYTES = 1 << 20
_EDF_DATE = re.compile(r"\d{2}-[A-Z]{3}-\d{4}")


@dataclass(frozen=True)
class EDFHeader:
    """The parts of an EDF/BDF header that decide whether and how the file can be read."""

    file_format: str  # "EDF", "EDF+", "BDF", "BDF+"
    patient_field: str
    recording_field: str
    n_records: int
    record_duration_s: float
    labels: tuple[str, ...]
    samples_per_record: tuple[int, ...]


# ---------------------------------------------------------------------------------------------
# Validation shared with the streaming path
# ---------------------------------------------------------------------------------------------


def check_sfreq(sfreq_hz: float, what: str = "the recording") -> None:
    """Raise :class:`WrongSamplingRate` when ``sfreq_hz`` cannot feed the 256 Hz pipeline.

    Parameters
    ----------
    sfreq_hz : float
        Sampling rate in Hz.
    what : str
        Names the thing checked, for the message.
    """
    if not np.isfinite(sfreq_hz) or sfreq_hz <= 0:
        raise WrongSamplingRate(
            f"{what} has sampling rate {sfreq_hz!r} Hz, which is not a positive number: "
            "check the file header or the rate given with the data."
        )
    if sfreq_hz < MIN_SFREQ_HZ:
        raise WrongSamplingRate(
            f"{what} is sampled at {sfreq_hz:g} Hz; at least {MIN_SFREQ_HZ:g} Hz is needed so "
            "that the 0.5-45 Hz band analysed at 256 Hz is present in the signal. Record or "
            "export at a higher rate."
        )


def check_finite(data_uv: np.ndarray, ch_names: Sequence[str], what: str = "the signal") -> None:
    """Raise :class:`NonFiniteSamples` naming each channel with NaN/inf and how many samples.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples) or (n_windows, n_channels, n_samples)
        The samples (any unit); channels on the second-to-last axis.
    ch_names : sequence of str
        One name per channel.
    what : str
        Names the thing checked, for the message.
    """
    bad = ~np.isfinite(data_uv)
    if not bad.any():
        return
    # Per channel, over windows and samples alike.
    counts = np.moveaxis(bad, -2, 0).reshape(bad.shape[-2], -1).sum(axis=1)
    listing = ", ".join(f"{ch_names[i]}: {int(c)}" for i, c in enumerate(counts) if c)
    raise NonFiniteSamples(
        f"{what} has NaN or infinite samples ({int(counts.sum())} in all; per channel: "
        f"{listing}). Re-export the recording, or drop or repair those channels before analysis."
    )


def scalp_eeg_channels(ch_names: Sequence[str], what: str) -> tuple[dict[str, str], list[str]]:
    """:func:`~processors.montage.classify_channels`, refusing a list without scalp EEG.

    Parameters
    ----------
    ch_names : sequence of str
        Channel labels as the file or the source writes them.
    what : str
        Names the recording or stream, for the message.

    Returns
    -------
    eeg : dict of str to str
        Original label -> standard name, in input order.
    set_aside : list of str
        The other labels.

    Raises
    ------
    NoEEGChannels
        No label names a scalp electrode (the message lists them all).
    """
    eeg, set_aside = classify_channels(ch_names)
    if not eeg:
        raise NoEEGChannels(
            f"{what} has no recognisable scalp EEG channel among its {len(ch_names)} "
            f"channel(s): {', '.join(ch_names)}. Name the EEG channels in the 10-20/10-10 "
            "system (e.g. 'Fp1', 'EEG Fp1-Ref', 'T3')."
        )
    return eeg, set_aside


def _check_length(n_samples: int, sfreq_hz: float, what: str) -> None:
    needed = round(WINDOW_S * sfreq_hz)
    if n_samples < needed:
        raise RecordingTooShort(
            f"{what} lasts {n_samples / sfreq_hz:.2f} s ({n_samples} samples at {sfreq_hz:g} Hz); "
            f"at least one {WINDOW_S:g} s window ({needed} samples) is needed. Provide a longer "
            "recording."
        )


# ---------------------------------------------------------------------------------------------
# EDF/BDF header
# ---------------------------------------------------------------------------------------------


def _ascii_field(raw: bytes, what: str, path: Path) -> str:
    try:
        return raw.decode("ascii").strip()
    except UnicodeDecodeError:
        # Latin-1 in free-text fields is common in the wild; numbers must be ASCII.
        if what in ("patient", "recording", "label"):
            return raw.decode("latin-1").strip()
        raise NotAnEEGFile(
            f"{path.name}: the header field '{what}' holds non-ASCII bytes; the header is "
            "corrupt. Re-export the recording as EDF/BDF."
        ) from None


def _number(raw: bytes, what: str, path: Path, kind: type[int] | type[float] = int) -> int | float:
    text = _ascii_field(raw, what, path)
    try:
        return kind(text)
    except ValueError:
        raise NotAnEEGFile(
            f"{path.name}: the header field '{what}' is {text!r}, not a number; the header is "
            "corrupt. Re-export the recording as EDF/BDF."
        ) from None


def read_edf_header(path: str | Path) -> EDFHeader:
    """Read and check the header of an EDF, EDF+ or BDF file.

    Parameters
    ----------
    path : str | Path
        The file.

    Returns
    -------
    header : EDFHeader
        Format, identification fields, record layout and channel labels.

    Raises
    ------
    NotAnEEGFile
        Empty file, not EDF/BDF, corrupt header, or a file shorter than its header says.
    AnnotationsOnly
        An EDF+/BDF+ file whose only signals are annotation channels.
    """
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as fid:
        head = fid.read(256)
        if size == 0:
            raise NotAnEEGFile(f"{path.name} is empty (0 bytes): upload the recording again.")
        magic = head[:8]
        if magic not in (_EDF_MAGIC, _BDF_MAGIC) or len(head) < 256:
            raise NotAnEEGFile(
                f"{path.name} is not an EDF or BDF file: an EDF file starts with '0' and 7 "
                "spaces, a BDF file with 0xFF 'BIOSEMI', and the fixed header is 256 bytes "
                f"(this file starts with {head[:8]!r}, {size} bytes in all). Export the "
                "recording as EDF, EDF+ or BDF."
            )
        is_bdf = magic == _BDF_MAGIC
        header_bytes = int(_number(head[184:192], "header size", path))
        reserved = _ascii_field(head[192:236], "reserved", path)
        n_records = int(_number(head[236:244], "number of data records", path))
        record_duration_s = float(_number(head[244:252], "record duration", path, float))
        n_signals = int(_number(head[252:256], "number of signals", path))
        if n_signals < 0 or header_bytes != 256 * (n_signals + 1):
            raise NotAnEEGFile(
                f"{path.name}: the header says {header_bytes} header bytes for {n_signals} "
                f"signals, but EDF needs 256 * (signals + 1) = {256 * (n_signals + 1)}; the "
                "header is corrupt. Re-export the recording."
            )
        signal_head = fid.read(256 * n_signals)
    if len(signal_head) < 256 * n_signals:
        raise NotAnEEGFile(
            f"{path.name} is truncated inside its header ({size} bytes, the header alone needs "
            f"{header_bytes}). Upload the complete file."
        )
    labels = tuple(
        _ascii_field(signal_head[16 * i : 16 * (i + 1)], "label", path) for i in range(n_signals)
    )
    offset = 216 * n_signals  # label 16, transducer 80, unit 8, 4 x min/max 32, prefilter 80
    samples_per_record = tuple(
        int(_number(signal_head[offset + 8 * i : offset + 8 * (i + 1)], "samples per record", path))
        for i in range(n_signals)
    )
    plus = reserved.startswith(("EDF+", "BDF+"))
    file_format = ("BDF" if is_bdf else "EDF") + ("+" if plus else "")
    if n_signals == 0 or all(label in _ANNOTATION_LABELS for label in labels):
        raise AnnotationsOnly(
            f"{path.name} is an {file_format} file with annotations only and no signal "
            f"({n_signals} signal(s): {', '.join(labels) or 'none'}). It is probably the "
            "annotation (e.g. hypnogram) file of a recording: analyse the file that holds the "
            "EEG signals, and read this one as its annotations."
        )
    if record_duration_s <= 0 or any(n <= 0 for n in samples_per_record):
        raise NotAnEEGFile(
            f"{path.name}: record duration {record_duration_s:g} s and samples per record "
            f"{list(samples_per_record)} cannot describe a signal; the header is corrupt."
        )
    bytes_per_record = sum(samples_per_record) * (3 if is_bdf else 2)
    available = (size - header_bytes) // bytes_per_record
    if n_records == -1:  # allowed while recording: the count follows from the file size
        n_records = available
    if n_records <= 0 or available < n_records:
        expected = header_bytes + n_records * bytes_per_record
        raise NotAnEEGFile(
            f"{path.name} is truncated or its header is corrupt: the header announces "
            f"{n_records} data records of {bytes_per_record} bytes ({expected} bytes in all) "
            f"but the file has {size} bytes. Upload the complete file."
        )
    return EDFHeader(
        file_format=file_format,
        patient_field=_ascii_field(head[8:88], "patient", path),
        recording_field=_ascii_field(head[88:168], "recording", path),
        n_records=n_records,
        record_duration_s=record_duration_s,
        labels=labels,
        samples_per_record=samples_per_record,
    )


def _subfield(value: str) -> str | None:
    """One EDF+ subfield: 'X' means unknown and '_' stands for a space."""
    return None if value in ("", "X") else value.replace("_", " ")


def patient_identity_from_header(header: EDFHeader) -> PatientIdentity:
    """Split the EDF(+)/BDF(+) identification fields into a :class:`PatientIdentity`.

    EDF+ writes ``code sex birthdate name`` in the patient field and ``Startdate dd-MMM-yyyy
    admincode technician equipment`` in the recording field. Many plain EDF writers use the same
    subfields, so they are read whenever the field has that shape (sex ``M``/``F``/``X`` and a
    ``dd-MMM-yyyy`` or ``X`` birthdate); other free text is kept whole as the patient code.
    """
    patient = header.patient_field.split()
    recording = header.recording_field.split()
    if (
        len(patient) >= 4
        and patient[1] in ("M", "F", "X")
        and (patient[2] == "X" or _EDF_DATE.fullmatch(patient[2]))
    ):
        code, sex, birthdate, name = (_subfield(v) for v in patient[:4])
    else:
        code, sex, birthdate, name = (_subfield(header.patient_field), None, None, None)
    hospital = technician = equipment = None
    if len(recording) >= 5 and recording[0] == "Startdate":
        hospital, technician = _subfield(recording[2]), _subfield(recording[3])
        equipment = _subfield(" ".join(recording[4:]))
    return PatientIdentity(
        patient_code=code,
        name=name,
        birthdate=birthdate,
        sex=sex,
        hospital_code=hospital,
        technician=technician,
        equipment=equipment,
    )


def _patient_identity_from_info(info: mne.Info) -> PatientIdentity:
    subject = info.get("subject_info") or {}
    names = [subject.get(k) for k in ("first_name", "middle_name", "last_name")]
    birthday = subject.get("birthday")
    sex = {1: "M", 2: "F"}.get(subject.get("sex", 0))
    his_id = subject.get("his_id")
    return PatientIdentity(
        patient_code=str(his_id) if his_id not in (None, "") else None,
        name=" ".join(n for n in names if n) or None,
        birthdate=birthday.isoformat() if birthday is not None else None,
        sex=sex,
        technician=info.get("experimenter") or None,
    )


# ---------------------------------------------------------------------------------------------
# Recordings
# ---------------------------------------------------------------------------------------------


def content_id(path: str | Path) -> str:
    """A stable recording id from the file content: the first 16 hex digits of its sha256."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fid:
        while chunk := fid.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _strip_identity(raw: mne.io.BaseRaw) -> None:
    """Remove what identifies the patient from ``raw.info``, keeping the measurement date."""
    meas_date = raw.info["meas_date"]
    raw.info["subject_info"] = None
    mne.io.anonymize_info(raw.info, daysback=None, keep_his=False, verbose="error")
    # The acquisition time places windows on the clock (alerts, dashboards); it is not the
    # identity, which lives in PatientIdentity.
    raw.set_meas_date(meas_date)
    with raw.info._unlock():
        raw.info["subject_info"] = None
        raw.info["experimenter"] = None  # anonymize_info leaves a placeholder name there


def channel_layout(ch_names: Sequence[str]) -> dict[str, Any] | None:
    """What the result says about cap-numbered channels (:func:`processors.montage.cap_mapping`),
    or None for 10-10 names."""
    cap = cap_mapping(ch_names)
    return cap.describe() if cap is not None else None


def _reduce_to_eeg(raw: mne.io.BaseRaw, what: str) -> tuple[dict[str, str], list[str]]:
    """Keep only scalp EEG, renamed to standard names, with the montage set."""
    eeg, set_aside = scalp_eeg_channels(raw.ch_names, what)
    raw.pick(list(eeg))
    raw.set_channel_types(dict.fromkeys(raw.ch_names, "eeg"), on_unit_change="ignore")
    raw.rename_channels(eeg)
    raw.set_montage(standard_1020_montage(), on_missing="ignore")
    return eeg, set_aside


def _read_raw(path: Path) -> tuple[mne.io.BaseRaw, str, PatientIdentity]:
    suffix = path.suffix.lower()
    if suffix == ".fif" or path.name.lower().endswith((".fif.gz", "_raw.fif", "_eeg.fif")):
        try:
            raw = mne.io.read_raw_fif(path, preload=True, verbose="error")
        except Exception as exc:
            raise NotAnEEGFile(
                f"{path.name} could not be read as FIF ({exc}). Export it again as FIF or EDF."
            ) from exc
        return raw, "FIF", _patient_identity_from_info(raw.info)
    header = read_edf_header(path)
    reader = mne.io.read_raw_bdf if header.file_format.startswith("BDF") else mne.io.read_raw_edf
    try:
        with warnings.catch_warnings():
            # MNE warns about EDF+D gaps, unusual units and omitted annotations; the header
            # was checked above and the rest is handled below.
            warnings.simplefilter("ignore", RuntimeWarning)
            raw = reader(path, preload=True, verbose="error")
    except Exception as exc:
        raise NotAnEEGFile(
            f"{path.name}: MNE could not read this {header.file_format} file ({exc}). The file "
            "is probably corrupt: export it again."
        ) from exc
    return raw, header.file_format, patient_identity_from_header(header)


def read_recording(path: str | Path, recording_id: str | None = None) -> Recording:
    """Read an EDF, EDF+, BDF or FIF file into a :class:`Recording` of scalp EEG.

    Parameters
    ----------
    path : str | Path
        The file. EDF/BDF are recognised from their header, FIF from its extension.
    recording_id : str | None
        The id to give the recording; by default :func:`content_id` of the file, so the same
        file always gets the same id.

    Returns
    -------
    recording : Recording
        EEG channels only (volts, inside ``raw``), standard names, ``standard_1020`` montage;
        the patient identity is in ``recording.patient`` and not in ``raw.info``.

    Raises
    ------
    NotAnEEGFile
        Missing, empty, not EDF/BDF/FIF, corrupt header or truncated file.
    AnnotationsOnly
        EDF+ with annotations and no signal.
    NoEEGChannels
        No channel with a recognisable scalp EEG name (the message lists what was found);
        :class:`~processors.errors.CapNumberingUnknown` for channels numbered by cap position
        that no standard layout holds.
    WrongSamplingRate
        Sampled below :data:`MIN_SFREQ_HZ`.
    RecordingTooShort
        Shorter than one 4 s window.
    NonFiniteSamples
        NaN or infinite samples.
    """
    path = Path(path)
    if not path.is_file():
        raise NotAnEEGFile(f"{path} does not exist or is not a file: check the path.")
    raw, file_format, patient = _read_raw(path)
    what = path.name
    layout = channel_layout(raw.ch_names)
    eeg, set_aside = _reduce_to_eeg(raw, what)
    check_sfreq(raw.info["sfreq"], what)
    _check_length(raw.n_times, raw.info["sfreq"], what)
    check_finite(raw.get_data(), raw.ch_names, what)
    _strip_identity(raw)
    return Recording(
        raw=raw,
        recording_id=recording_id if recording_id is not None else content_id(path),
        source=str(path),
        patient=patient,
        set_aside=set_aside,
        original_names={standard: original for original, standard in eeg.items()},
        file_format=file_format,
        channel_layout=layout,
    )


def recording_from_array(
    data_uv: np.ndarray,
    sfreq_hz: float,
    ch_names: Sequence[str],
    recording_id: str,
    start_time: datetime | None = None,
    source: str = "array",
) -> Recording:
    """Build a :class:`Recording` from samples in microvolts, with the same checks as a file.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Samples in microvolts.
    sfreq_hz : float
        Sampling rate.
    ch_names : sequence of str
        Channel labels as the source writes them; normalised like a file's.
    recording_id : str
        The recording's id.
    start_time : datetime | None
        Time of the first sample (UTC is assumed when naive).
    source : str
        Where the samples came from, for the record.

    Returns
    -------
    recording : Recording
        Scalp EEG only, standard names, montage set, in volts inside ``raw``.

    Raises
    ------
    NoEEGChannels, WrongSamplingRate, RecordingTooShort, NonFiniteSamples
        As :func:`read_recording`; ``ValueError`` when the array's shape does not match
        ``ch_names``.
    """
    data_uv = np.asarray(data_uv)
    if data_uv.ndim != 2 or data_uv.shape[0] != len(ch_names):
        raise ValueError(
            f"data_uv must be (channels, samples) with one row per name: got shape "
            f"{data_uv.shape} for {len(ch_names)} channel names."
        )
    what = f"recording {recording_id}"
    eeg, set_aside = scalp_eeg_channels(ch_names, what)
    check_sfreq(sfreq_hz, what)
    _check_length(data_uv.shape[1], sfreq_hz, what)
    rows = [list(ch_names).index(original) for original in eeg]
    eeg_uv = data_uv[rows]
    check_finite(eeg_uv, list(eeg.values()), what)
    info = mne.create_info(list(eeg.values()), float(sfreq_hz), ch_types="eeg")
    raw = mne.io.RawArray(eeg_uv.astype(np.float64) * 1e-6, info, verbose="error")
    raw.set_montage(standard_1020_montage(), on_missing="ignore")
    if start_time is not None:
        if start_time.tzinfo is None:
            start_time = start_time.replace(tzinfo=UTC)
        raw.set_meas_date(start_time)
    return Recording(
        raw=raw,
        recording_id=recording_id,
        source=source,
        set_aside=set_aside,
        original_names={standard: original for original, standard in eeg.items()},
        file_format="array",
        channel_layout=channel_layout(ch_names),
    )
