"""Event detection (ACNS 2021 terminology): epileptiform discharges, periodic discharges,
seizures, burst suppression and artifacts, from classic published detectors.

:func:`detect_events` runs them all on a continuous signal and avoids double counting:
discharges inside a seizure belong to the seizure, discharges of a periodic train are
reported as that train (PLED or GPED), and only the rest are isolated epileptiform
discharges. One module per detector: :mod:`.spikes`, :mod:`.periodic`, :mod:`.seizure`,
:mod:`.burst_suppression`, :mod:`.artifacts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from processors.events._common import (
    InvalidSignalError,
    check_signal,
    inside_any,
    positions_m,
)
from processors.events._types import EVENT_TYPES, Event, EventType
from processors.events.artifacts import detect_artifacts
from processors.events.burst_suppression import detect_burst_suppression, suppression_trace
from processors.events.periodic import detect_periodic_discharges, find_periodic_candidates
from processors.events.seizure import detect_seizures, seizure_burden_percent
from processors.events.spikes import (
    SHARP_WAVE_MAX_S,
    Discharge,
    detect_spikes,
    discharge_to_event,
    find_discharges,
    prepare_context,
)

__all__ = [
    "EVENT_TYPES",
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
]


@dataclass
class EventReport:
    """All events of a record and their summaries.

    ``summaries`` holds ``discharge_rate_per_min`` (isolated epileptiform discharges per
    minute), ``periodic_discharge_rate_per_min`` (discharges inside PLED/GPED trains per
    minute), ``burst_suppression_ratio`` (suppressed share of the record, 0-1),
    ``seizure_burden_percent`` (share of the record inside seizures), ``counts`` (events per
    type) and ``analysed_duration_s``.
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


def _frontal_channels(ch_names: Sequence[str]) -> set[str]:
    """Electrodes in front of the coronal midline (Fp, AF, F rows), where blinks show."""
    pos = positions_m(ch_names)
    if pos is None:
        return {c for c in ch_names if c.lower().startswith(("fp", "af", "f"))}
    return {c for c, p in zip(ch_names, pos, strict=True) if p[1] > 0.03}


def _blink_shadow(artifacts: Sequence[Event]) -> list[tuple[float, float]]:
    """Where a blink's undershoots lie: a zero-phase high-pass (here the 1 Hz edge of the
    discharge band, or the recording's own 0.5 Hz) leaves a negative lobe on both sides of
    every blink, which looks like a frontal sharp wave."""
    spans = []
    for e in artifacts:
        if e.subtype == "eye_blink":
            spans += [(e.onset_s - 0.4, e.onset_s + 0.1), (e.offset_s - 0.1, e.offset_s + 0.5)]
    return spans


#: in a blink's shadow, a frontal transient must be this much sharper than the background
SHADOW_SLOPE_RATIO = 3.0


def _ocular(d: Discharge, shadow: Sequence[tuple[float, float]], frontal: set[str]) -> bool:
    """A blunt transient in a blink's shadow whose largest deflection is frontal: the
    filter's undershoot is slow, a spike stays sharp."""
    if d.slope_ratio >= SHADOW_SLOPE_RATIO or not inside_any(d.apex_s, shadow):
        return False
    return max(d.channel_amplitudes_uv, key=d.channel_amplitudes_uv.get) in frontal


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
    burst_spans = _spans(bursts)
    artifacts = detect_artifacts(x, sfreq_hz, ch_names, muscle=(ctx.muscle, ctx.muscle_block))
    shadow, frontal = _blink_shadow(artifacts), _frontal_channels(ch_names)

    # One pass finds every sharp transient up to 0.5 s with the relaxed periodic criteria;
    # isolated discharges must then pass the stricter spike criteria (a second pass with
    # the context check, restricted to 0.2 s). Transients inside a seizure or a
    # burst-suppression stretch belong to that pattern.
    candidates = find_periodic_candidates(x, sfreq_hz, ch_names, ctx)
    periodic = detect_periodic_discharges(
        x, sfreq_hz, ch_names, discharges=candidates, exclude=seizure_spans + burst_spans,
        prepared=ctx,
    )  # fmt: skip
    periodic_spans = _spans(periodic)
    isolated = [
        discharge_to_event(d)
        for d in find_discharges(
            x, sfreq_hz, ch_names, max_duration_s=SHARP_WAVE_MAX_S, prepared=ctx
        )
        if not inside_any(d.apex_s, seizure_spans, pad_s=2.0)
        and not inside_any(d.apex_s, periodic_spans, pad_s=0.5)
        and not inside_any(d.apex_s, burst_spans, pad_s=2.0)
        and not _ocular(d, shadow, frontal)
    ]

    events = sorted(
        [*seizures, *periodic, *isolated, *bursts, *artifacts], key=lambda e: (e.onset_s, e.type)
    )
    minutes = max(duration_s / 60.0, 1e-9)
    n_periodic = sum(int(e.details.get("n_discharges", 0)) for e in periodic)
    summaries = {
        "discharge_rate_per_min": round(len(isolated) / minutes, 3),
        "periodic_discharge_rate_per_min": round(n_periodic / minutes, 3),
        "burst_suppression_ratio": round(trace.ratio, 4),
        "seizure_burden_percent": round(seizure_burden_percent(seizures, duration_s), 3),
        "counts": {t: sum(e.type == t for e in events) for t in EVENT_TYPES},
        "analysed_duration_s": round(duration_s, 3),
    }
    return EventReport(events=events, summaries=summaries)
