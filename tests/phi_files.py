"""An EDF+ file that names a patient everywhere it can: header, signal free text,
annotations; and the check that none of it is left readable in some bytes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import edfio
import numpy as np

NAME = "Zebulon Quixote"
#: What identifies the patient of :func:`write_identified_edf` (searched case-insensitively).
SECRET_WORDS = ["zebulon", "quixote", "MRN-778899", "ADM-STMARY", "TechWanda", "1970-03-01"]


def write_identified_edf(path: Path, duration_s: float = 12.0) -> np.ndarray:
    """An EDF+ file naming Zebulon Quixote in its header, a transducer field and annotations."""
    rng = np.random.default_rng(3)
    data_uv = rng.normal(0.0, 20.0, (3, round(256 * duration_s)))
    signals = [
        edfio.EdfSignal(
            row, 256.0, label=label, physical_dimension="uV", physical_range=(-500.0, 500.0),
            transducer_type="Quixote lab AgAgCl" if label == "Cz" else "AgAgCl electrode",
        )
        for label, row in zip(["Fp1", "Cz", "O2"], data_uv, strict=True)
    ]  # fmt: skip
    edfio.Edf(
        signals,
        patient=edfio.Patient(
            code="MRN-778899", sex="M", birthdate=dt.date(1970, 3, 1), name="Zebulon_Quixote"
        ),
        recording=edfio.Recording(
            startdate=dt.date(2024, 5, 6),
            hospital_administration_code="ADM-STMARY",
            investigator_technician_code="TechWanda",
            equipment_code="AmpX",
        ),
        starttime=dt.time(8, 30, 0),
        annotations=[
            edfio.EdfAnnotation(1.5, None, "Zebulon QUIXOTE awake, eyes closed"),
            edfio.EdfAnnotation(4.0, 2.0, "seizure"),
            edfio.EdfAnnotation(7.25, None, "born 1970-03-01, MRN-778899"),
        ],
    ).write(path)
    return data_uv


def readable_identifiers(data: bytes) -> list[str]:
    """Which of :data:`SECRET_WORDS` ``data`` holds, in any case."""
    lowered = data.lower()
    return [w for w in SECRET_WORDS if w.lower().encode() in lowered]
