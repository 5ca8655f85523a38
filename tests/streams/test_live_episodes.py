"""Episodes and alerts of a live recording, without a broker."""

from __future__ import annotations

from streams.live import Finding, LiveState, update_episodes


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
