"""The event records every detector returns (ACNS 2021 terminology)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

EventType = Literal["epileptiform", "PLED", "GPED", "seizure", "artifact", "burst_suppression"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)


@dataclass
class Event:
    """One detected event.

    Parameters
    ----------
    type : str
        ``epileptiform``, ``PLED``, ``GPED``, ``seizure``, ``artifact`` or
        ``burst_suppression``.
    subtype : str or None
        ``spike`` / ``sharp_wave`` for epileptiform discharges; ``eye_blink``, ``muscle``,
        ``electrode_pop``, ``flat_channel`` for artifacts; None otherwise.
    onset_s, duration_s : float
        Start and length in seconds from the first sample of the analysed signal.
    channels : list of str
        Channels that carry the event.
    confidence : float
        In [0, 1].
    details : dict
        Detector-specific figures (amplitudes, rates, individual discharge times...).
    """

    type: EventType
    subtype: str | None
    onset_s: float
    duration_s: float
    channels: list[str]
    confidence: float
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def offset_s(self) -> float:
        """End of the event in seconds."""
        return self.onset_s + self.duration_s

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping (rounded to milliseconds)."""
        return {
            "type": self.type,
            "subtype": self.subtype,
            "onset_s": round(float(self.onset_s), 3),
            "duration_s": round(float(self.duration_s), 3),
            "channels": list(self.channels),
            "confidence": round(float(min(max(self.confidence, 0.0), 1.0)), 3),
            "details": _plain(self.details),
        }


def _plain(value: Any) -> Any:
    """numpy scalars and arrays to plain Python, floats rounded to 4 decimals."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, float):
        return round(value, 4)
    return value
