"""Episodes and alerts of a live recording, without a broker."""

from __future__ import annotations

from streams.device import make_devices
from streams.live import Finding, LiveState, RecentSegments, update_episodes


def _state() -> LiveState:
    return LiveState("live-x", "bed-1", "ref", segments_partition=0)


def test_one_alert_per_episode_then_its_end_and_a_later_one_is_new() -> None:
    state = _state()
    sent = []
    # the detectors see the seizure (100-130 s) in every 64 s context from window 27 on
    for window in range(27, 60):
        now = (window + 1) * 4.0
        found = []
        if now - 64.0 < 130.0:
            found = [Finding("seizure", 100.0, min(130.0, now), 0.9)]
        if now >= 200.0:  # a second seizure from 190 s
            found = [Finding("seizure", 190.0, min(230.0, now), 0.8)]
        sent += [(window, a["status"], a["onset_s"]) for a in update_episodes(state, found, window)]
    assert sent[0] == (27, "onset", 100.0)
    assert sent[1][1:] == ("ended", 100.0) and sent[1][0] == 36  # 130 s + 16 s -> window 36
    assert [s[1:] for s in sent[2:]] == [("onset", 190.0)]
    assert len(state.history) == 2 and state.history[0]["end_s"] == 130.0


def test_no_findings_no_alerts() -> None:
    state = _state()
    assert all(update_episodes(state, [], w) == [] for w in range(100))
    assert state.history == [] and state.alerts_sent == 0


def test_recent_segments_hold_what_the_log_would_return_for_the_context() -> None:
    # Two devices share a partition; the detectors' context of one is its own segments from
    # the context's first offset on, as reading the log back and filtering would give them,
    # and only while this worker received all of them.
    devices = make_devices(count=2, seconds=120, patient_ref_of=lambda name: name, seed=5)
    log = []  # (offset, segment): the partition, both devices interleaved
    for pair in zip(*(d.segments(120) for d in devices), strict=True):
        log += [(len(log) + k, segment) for k, (_due, segment) in enumerate(pair)]
    held = RecentSegments(keep_s=96.0)
    for offset, segment in log[20:]:  # this worker started at offset 20 (a restart)
        held.add(segment, offset)
    first = devices[0].recording_id
    context_offset = log[100][0]  # device 0's segment at 50 s
    from_log = [s for at, s in log if at >= context_offset and s["recording_id"] == first]
    assert held.since(first, context_offset) == from_log
    assert held.since(first, 10) is None  # before this worker's first segment: read the log
    # 96 s are kept: device 0's segments from 24 s (offset 48) to 120 s
    assert held.since(first, 47) is None
    kept = held.since(first, 48)
    assert kept is not None and len(kept) == 96 and kept[0]["first_sample"] == 24 * 256
    held.forget(first)
    assert held.since(first, context_offset) is None
