"""Shared constants and records of the processors.

The records crossing Kafka are defined by the Avro schemas in ``schemas/``; these are the
in-memory forms the processors hand to each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import mne
import numpy as np

#: EEGPT was pretrained at 256 Hz on 4 s windows of 1024 samples, in 64-sample patches.
MODEL_SFREQ_HZ: float = 256.0
WINDOW_S: float = 4.0
WINDOW_SAMPLES: int = round(WINDOW_S * MODEL_SFREQ_HZ)  # 1024
PATCH_SAMPLES: int = 64

TriagePriority = Literal["routine", "expedite", "urgent"]
StageStatus = Literal["completed", "failed", "skipped"]
AnalysisType = Literal["quick", "screening", "comprehensive"]


@dataclass(frozen=True)
class PatientIdentity:
    """Patient identification fields of the EDF header: health data, kept apart from the
    signal and never logged."""

    patient_code: str | None = None
    name: str | None = None
    birthdate: str | None = None
    sex: str | None = None
    hospital_code: str | None = None
    technician: str | None = None
    equipment: str | None = None

    def is_empty(self) -> bool:
        return all(v in (None, "", "X") for v in self.__dict__.values())


@dataclass
class Recording:
    """A recording reduced to its scalp EEG, with standard 10-20/10-10 channel names.

    ``raw`` holds EEG channels only, in volts (MNE's unit), with the standard_1020 montage
    set; channels that are not EEG are listed in ``set_aside`` and not carried.
    """

    raw: mne.io.BaseRaw
    recording_id: str
    source: str
    patient: PatientIdentity = field(default_factory=PatientIdentity)
    set_aside: list[str] = field(default_factory=list)
    original_names: dict[str, str] = field(default_factory=dict)  # standard -> as in file
    file_format: str = "unknown"
    #: how cap-numbered channels were placed on 10-10 sites (processors.caps), or None
    channel_layout: dict[str, Any] | None = None

    @property
    def sfreq_hz(self) -> float:
        return float(self.raw.info["sfreq"])

    @property
    def ch_names(self) -> list[str]:
        return list(self.raw.ch_names)

    @property
    def duration_s(self) -> float:
        return self.raw.n_times / self.sfreq_hz

    @property
    def start_time(self) -> datetime | None:
        return self.raw.info["meas_date"]


@dataclass
class WindowBatch:
    """Consecutive analysis windows of one recording.

    ``data_uv`` has shape (n_windows, n_channels, n_samples), float32, microvolts.
    ``start_s`` is each window's start in seconds from the recording's first sample and
    ``index`` its running number within the recording (stable across streaming chunks).
    """

    data_uv: np.ndarray
    ch_names: list[str]
    sfreq_hz: float
    start_s: np.ndarray
    index: np.ndarray
    recording_start: datetime | None = None

    def __post_init__(self) -> None:
        if self.data_uv.ndim != 3:
            raise ValueError(
                f"data_uv must be (windows, channels, samples), got {self.data_uv.shape}"
            )
        if self.data_uv.shape[1] != len(self.ch_names):
            raise ValueError(
                f"{self.data_uv.shape[1]} channels in data_uv but {len(self.ch_names)} names"
            )
        if not (len(self.start_s) == len(self.index) == self.data_uv.shape[0]):
            raise ValueError("start_s and index need one entry per window")

    @property
    def n_windows(self) -> int:
        return int(self.data_uv.shape[0])

    @property
    def window_s(self) -> float:
        return self.data_uv.shape[2] / self.sfreq_hz

    def select(self, windows: slice | np.ndarray) -> WindowBatch:
        """The windows picked by a slice, index array or boolean mask, as a new batch."""
        return WindowBatch(
            data_uv=self.data_uv[windows],
            ch_names=self.ch_names,
            sfreq_hz=self.sfreq_hz,
            start_s=self.start_s[windows],
            index=self.index[windows],
            recording_start=self.recording_start,
        )

    @classmethod
    def concat(cls, batches: Sequence[WindowBatch]) -> WindowBatch:
        """Consecutive batches of one recording (same channels and rate) as one batch."""
        if not batches:
            raise ValueError("concat needs at least one batch")
        first = batches[0]
        if len(batches) == 1:
            return first
        for other in batches[1:]:
            if other.ch_names != first.ch_names or other.sfreq_hz != first.sfreq_hz:
                raise ValueError("batches to concatenate need the same channels and rate")
        return cls(
            data_uv=np.concatenate([b.data_uv for b in batches]),
            ch_names=first.ch_names,
            sfreq_hz=first.sfreq_hz,
            start_s=np.concatenate([b.start_s for b in batches]),
            index=np.concatenate([b.index for b in batches]),
            recording_start=first.recording_start,
        )


@dataclass
class StageResult:
    """The outcome of one analysis stage."""

    status: StageStatus
    result: dict | None = None
    reason: str | None = None
    error: str | None = None
    duration_s: float = 0.0

    def to_dict(self) -> dict:
        """The stage as one flat object: its outcome (``status``, ``reason``, ``error``,
        ``duration_s``) beside the fields of its result (``bad_channels``, ``is_abnormal``...),
        the shape of the result document (``schemas/brrr.eeg.ResultDocument.avsc``)."""
        body = self.result or {}
        return {
            **body,
            "status": self.status,
            # A stage that degraded inside (quality control) carries its own reason or error.
            "reason": self.reason if self.reason is not None else body.get("reason"),
            "error": self.error if self.error is not None else body.get("error"),
            "duration_s": round(self.duration_s, 4),
        }
