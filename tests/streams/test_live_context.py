"""The event detectors' context on a live recording ends at the window analysed."""

from __future__ import annotations

from streams.device import make_devices, parse_event
from streams.live import LiveState, new_detections, recent_events


def _segments(seconds: float, *events: str) -> list:
    (device,) = make_devices(
        count=1,
        seconds=seconds,
        patient_ref_of=lambda ident: "ref",
        events=[parse_event(e) for e in events],
        seed=7,
    )
    return [segment for _due, segment in device.segments(seconds)]


def _state() -> LiveState:
    return LiveState(recording_id="r", device_id="bed-001", patient_ref="ref", segments_partition=0)


def test_segments_after_the_window_do_not_change_its_events() -> None:
    """A busy worker reads the log when the device is already further on: the segments
    after the window are left out, and the window's events are the same."""
    segments = _segments(80.0, "seizure@30+15")
    window_end_s = 56.0  # window 13: 52-56 s
    upto = [s for s in segments if s["first_sample"] / s["sfreq_hz"] < window_end_s]
    events, context = recent_events(upto, _state(), window_end_s)
    ahead_events, ahead_context = recent_events(segments, _state(), window_end_s)
    assert context == ahead_context == (0.0, window_end_s)
    assert ahead_events == events
    seizures = [e for e in events if e["type"] == "seizure"]
    assert len(seizures) == 1 and abs(seizures[0]["onset_s"] - 30.0) <= 3.0
    detections = new_detections(_state(), events, context)
    assert [d["event_type"] for d in detections if d["event_type"] == "seizure"] == ["seizure"]


def test_clean_background_gives_no_urgent_event() -> None:
    segments = _segments(64.0)
    events, context = recent_events(segments, _state(), 64.0)
    assert context == (0.0, 64.0)
    assert [e for e in events if e["type"] in ("seizure", "PLED", "GPED")] == []
