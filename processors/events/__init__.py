"""Event detection (ACNS 2021 terminology): epileptiform discharges, periodic discharges,
seizures, burst suppression and artifacts, from classic published detectors.

:func:`detect_events` runs them all on a continuous signal and avoids double counting:
discharges inside a seizure belong to the seizure, discharges of a periodic train are
reported as that train (PLED or GPED), and only the rest are isolated epileptiform
discharges. Nothing inside an artifact (muscle, electrode pop, a blink for a frontal
transient) is reported as epileptiform, and rates are given only over at least a minute of
analysable signal. One module per detector: :mod:`.spikes`, :mod:`.periodic`, :mod:`.seizure`,
:mod:`.burst_suppression`, :mod:`.artifacts`; :mod:`.screen` is the fast discharge screen the
abnormality verdict reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from processors.events._common import InvalidSignalError, check_signal, rate_per_min
from processors.events._types import EVENT_TYPES, Event, EventType
from processors.events.artifacts import detect_artifacts
from processors.events.burst_suppression import detect_burst_suppression, suppression_trace
from processors.events.periodic import detect_periodic_discharges
from processors.events.screen import (
    DischargeScreen,
    find_discharge_evidence,
    screen_discharges,
    seizures_with_fast_trains,
)
from processors.events.seizure import detect_seizures, seizure_burden_percent
from processors.events.spikes import detect_spikes, prepare_context

__all__ = [
    "EVENT_TYPES",
    "DischargeScreen",
    "Event",
    "EventReport",
    "EventType",
    "InvalidSignalError",
    "detect_artifacts",
    "detect_burst_suppression",
    "detect_events",
    "detect_periodic_discharges",
    "detect_seizures",
    "detect_spikes",
    "screen_discharges",
]


@dataclass
class EventReport:
    """All events of a record and their summaries.

    ``summaries`` holds ``discharge_rate_per_min`` (isolated epileptiform discharges per
    minute of analysable signal; None under a minute of it), ``periodic_discharge_rate_per_min``
    (discharges inside PLED/GPED trains, likewise), ``discharge_count`` and
    ``periodic_discharge_count``, ``discharges_in_artifacts`` (transients left out),
    ``burst_suppression_ratio`` (suppressed share of the record, 0-1),
    ``seizure_burden_percent`` (share of the record inside seizures), ``counts`` (events per
    type), ``analysed_duration_s`` and ``analysable_duration_s`` (outside muscle, pops and flat
    stretches).
    """

    events: list[Event]
    summaries: dict[str, Any] = field(default_factory=dict)

    def of_type(self, *types: str) -> list[Event]:
        """The events of the given types, in time order."""
        return [e for e in self.events if e.type in types]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping."""
        return {"events": [e.to_dict() for e in self.events], "summaries": dict(self.summaries)}


def _spans(events: Sequence[Event]) -> list[tuple[float, float]]:
    return [(e.onset_s, e.offset_s) for e in events]


def detect_events(data_uv: np.ndarray, sfreq_hz: float, ch_names: Sequence[str]) -> EventReport:
    """Run every event detector on a continuous multichannel signal.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Continuous EEG in microvolts, typically band-passed 0.5-45 Hz at 256 Hz (raw input
        works too: each detector filters for itself).
    sfreq_hz : float
        Sampling rate (at least 100 Hz).
    ch_names : sequence of str
        Standard 10-20 names, one per row (they give fields and hemispheres).

    Returns
    -------
    EventReport
        Events in time order, and summaries.

    Raises
    ------
    InvalidSignalError
        A data array that is not (channels, samples) or does not match ``ch_names``.
    WrongSamplingRate
        A sampling rate under 100 Hz.
    NonFiniteSamples
        NaN or infinite samples.
    """
    ch_names = list(ch_names)
    x = check_signal(data_uv, sfreq_hz, ch_names)
    duration_s = x.shape[1] / sfreq_hz

    ctx = prepare_context(x, sfreq_hz)
    seizures = detect_seizures(x, sfreq_hz, ch_names, filtered=ctx.y)
    seizure_spans = _spans(seizures)

    trace = suppression_trace(x, sfreq_hz, filtered=ctx.y)
    bursts = detect_burst_suppression(x, sfreq_hz, ch_names, trace=trace)
    artifacts = detect_artifacts(x, sfreq_hz, ch_names, muscle=(ctx.muscle, ctx.muscle_block))

    # Transients inside a seizure or a burst-suppression stretch belong to that pattern.
    evidence = find_discharge_evidence(
        x, sfreq_hz, ch_names, ctx, artifacts, exclude=seizure_spans + _spans(bursts)
    )
    seizures = seizures_with_fast_trains(seizures, evidence)
    periodic, isolated = evidence.periodic, evidence.isolated
    events = sorted(
        [*seizures, *periodic, *isolated, *bursts, *artifacts], key=lambda e: (e.onset_s, e.type)
    )
    analysable_s = evidence.analysable_duration_s
    n_periodic = sum(int(e.details.get("n_discharges", 0)) for e in periodic)
    summaries = {
        # Rates only over at least a minute of analysable signal (None otherwise): one
        # discharge in 6 s is a count, not "10 a minute".
        "discharge_rate_per_min": rate_per_min(len(isolated), analysable_s),
        "periodic_discharge_rate_per_min": rate_per_min(n_periodic, analysable_s),
        "discharge_count": len(isolated),
        "periodic_discharge_count": n_periodic,
        "discharges_in_artifacts": evidence.n_in_artifacts,
        "burst_suppression_ratio": round(trace.ratio, 4),
        "seizure_burden_percent": round(seizure_burden_percent(seizures, duration_s), 3),
        "counts": {t: sum(e.type == t for e in events) for t in EVENT_TYPES},
        "analysed_duration_s": round(duration_s, 3),
        "analysable_duration_s": round(analysable_s, 3),
    }
    return EventReport(events=events, summaries=summaries)
