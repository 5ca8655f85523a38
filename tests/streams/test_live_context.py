"""The event detectors' context on a live recording ends at the window analysed."""

from __future__ import annotations

from streams.device import make_devices, parse_event
from streams.live import LiveState, RecentSegments, new_detections, recent_events


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


def test_held_segments_are_what_the_log_returns_for_the_context() -> None:
    """Two devices share a partition: the context the worker holds for one is its own
    segments between the context's offsets, as reading the log back and filtering gives
    them, and only while this worker received all of them."""
    devices = make_devices(count=2, seconds=120, patient_ref_of=lambda name: name, seed=5)
    log = []  # (offset, segment): the partition, both devices interleaved
    for pair in zip(*(d.segments(120) for d in devices), strict=True):
        log += [(len(log) + k, segment) for k, (_due, segment) in enumerate(pair)]
    held = RecentSegments(keep_s=96.0)
    for offset, segment in log[20:]:  # this worker started at offset 20 (a restart)
        held.add(segment, 3, offset)
    first_device = devices[0].recording_id
    first, last = log[100][0], log[180][0]  # device 0's segments at 50 s and 90 s
    from_log = [s for at, s in log if first <= at <= last and s["recording_id"] == first_device]
    assert held.between(first_device, first, last) == from_log
    assert len(from_log) == 41
    assert held.between(first_device, 10, last) is None  # before this worker's first segment
    assert held.between(first_device, first, len(log) + 5) is None  # not received yet
    # 96 s are kept: device 0's segments from 24 s (offset 48) to 120 s
    assert held.between(first_device, 47, last) is None
    kept = held.between(first_device, 48, log[-2][0])  # device 0's last segment
    assert kept is not None and len(kept) == 96 and kept[0]["first_sample"] == 24 * 256
    held.forget_partitions({1, 2})
    assert held.between(first_device, first, last) == from_log
    held.forget_partitions({3})  # a rebalance took the partition away
    assert held.between(first_device, first, last) is None


def test_held_segments_start_again_when_the_partition_is_read_again() -> None:
    """After a rebalance the partition is delivered again from the committed offset: what
    was held from before is not mixed with it."""
    segments = _segments(20.0)
    held = RecentSegments(keep_s=96.0)
    for offset, segment in enumerate(segments):
        held.add(segment, 0, offset)
    for offset, segment in list(enumerate(segments))[10:]:  # redelivered from offset 10
        held.add(segment, 0, offset)
    recording_id = segments[0]["recording_id"]
    assert held.between(recording_id, 0, 19) is None
    assert held.between(recording_id, 10, 19) == segments[10:]


def test_the_mains_frequency_is_found_once_and_kept() -> None:
    """The detectors' context is notched at the mains frequency found on the first minute,
    with the same events as when it is looked for again."""
    segments = _segments(96.0, "seizure@30+15")
    state = _state()
    recent_events(segments, state, 40.0)
    assert state.line_freq_hz is None  # under a minute: looked for, not kept
    events, context = recent_events(segments, state, 64.0)
    assert state.line_freq_hz == 50.0  # the generator's mains
    kept_events, kept_context = recent_events(segments, state, 64.0)
    assert kept_context == context and kept_events == events
    assert [e["type"] for e in events if e["type"] == "seizure"] == ["seizure"]
