"""Live recordings: the hierarchy on a stream that has no end, and urgent alerts.

The file hierarchy, mapped to a stream: every window is scored as it arrives (the window
agent's quality control and score); the recent minute of scores plays the recording's
verdict (abnormal when its mean, or the mean of any 12 s of consecutive windows, reaches
0.5, the rule of ``processors.abnormality``); while it is abnormal, or an episode is open,
the event detectors run on the last 64 s of signal, read back from the segments log after
every window. An urgent finding opens an episode and raises one alert as soon as its
evidence is complete; the episode is updated when it ends; a later one is a new alert.

Urgent findings (the README's triage): a seizure, periodic discharges (PLED, GPED), burst
suppression, an abnormal probability of at least 0.9 sustained over a minute, and at least
6 epileptiform discharges a minute counted over at least a minute of signal.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from connectors.kafka_log import read_records
from processors.events import detect_events
from processors.io import recording_from_array
from processors.preprocessing import prepare_recording
from processors.types import WINDOW_S
from schemas.ids import BRRR_UUID_NAMESPACE, detection_event_id
from schemas.records import AnalysisResult as AnalysisResultRecord
from schemas.records import Detection, EEGSegment, UrgentAlert, WindowFeatures, WindowResult
from streams.segments import segment_samples_uv

#: Windows of recent scores that stand for the recording's verdict (one minute).
RECENT_WINDOWS = 15
#: Windows of signal the event detectors see (64 s: a seizure's 10 s, six slow periods).
CONTEXT_WINDOWS = 16
#: Consecutive windows of the sustained-stretch rule (12 s).
SUSTAINED_WINDOWS = 3
#: An episode with no evidence for this long has ended.
EPISODE_END_S = 16.0
#: Event types that are urgent findings by themselves.
URGENT_EVENTS = ("seizure", "PLED", "GPED", "burst_suppression")
SUSTAINED_PROBABILITY = 0.9
DISCHARGES_PER_MIN = 6.0


@dataclass
class Episode:
    """An urgent finding in progress, alerted once."""

    finding: str
    alert_id: str
    onset_s: float
    confidence: float
    evidence_window: int
    last_seen_s: float


@dataclass
class LiveState:
    """What the result agent keeps of one live recording (a few kB, in its table)."""

    recording_id: str
    device_id: str | None
    patient_ref: str | None
    segments_partition: int
    recording_start: str | None = None
    n_windows: int = 0
    n_artifact_windows: int = 0
    last_index: int = -1
    scores: list[list[float]] = field(default_factory=list)  # [window index, score]
    offsets: list[list[int]] = field(default_factory=list)  # [window index, segment offset]
    episodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    alerts_sent: int = 0
    bad_channels: list[str] = field(default_factory=list)
    n_abnormal_windows: int = 0
    last_seen_wall_s: float = field(default_factory=time.time)
    #: every episode so far: finding, onset_s, end_s (None while open), confidence
    history: list[dict[str, Any]] = field(default_factory=list)
    #: events already published as detections: [type, onset_s, end_s] (the last 200)
    reported: list[list[Any]] = field(default_factory=list)
    #: the stream's QC thresholds once calibrated (QCThresholds.to_dict), for a restart
    qc_calibration: dict[str, Any] | None = None
    #: alerts decided but not yet sent, as encoded UrgentAlert records (base64): stored in
    #: the changelog before they go out, so an alert sent is never decided again after a
    #: restart, and one decided is sent even if the worker dies first (an outbox)
    outbox: list[str] = field(default_factory=list)
    #: the mains frequency (50 or 60 Hz) found on a minute of this recording and kept (a
    #: bedside device's mains does not change): the detectors' context is notched at it
    #: without looking for it again after every window; None until one is found
    line_freq_hz: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> LiveState:
        return cls(**value)

    @property
    def recent_scores(self) -> np.ndarray:
        return np.array([s for _i, s in self.scores], dtype=float)

    def observe(self, window: WindowFeatures) -> bool:
        """Count a window (once); False when it was seen before."""
        index = window["window_index"]
        if index <= self.last_index:
            return False
        self.last_index = index
        self.last_seen_wall_s = time.time()
        self.n_windows += 1
        score = window["provisional_score"]
        self.n_abnormal_windows += int(score is not None and score >= 0.5)
        self.n_artifact_windows += int(window["provisional_artifact"])
        self.bad_channels = list(window["provisional_bad_channels"])
        if window["qc_calibration"] is not None:
            self.qc_calibration = json.loads(window["qc_calibration"])
        if window["provisional_score"] is not None:
            self.scores = [*self.scores, [index, window["provisional_score"]]][-RECENT_WINDOWS:]
        if window["segment_offset"] >= 0:
            keep = CONTEXT_WINDOWS + 2
            self.offsets = [*self.offsets, [index, window["segment_offset"]]][-keep:]
        return True

    def recent_is_abnormal(self) -> bool:
        """The file verdict's rule on the last minute of window scores."""
        scores = self.recent_scores
        if scores.size == 0:
            return False
        if scores.mean() >= 0.5:
            return True
        if scores.size < SUSTAINED_WINDOWS:
            return False
        runs = np.convolve(scores, np.ones(SUSTAINED_WINDOWS) / SUSTAINED_WINDOWS, "valid")
        return bool(runs.max() >= 0.5)

    def wants_events(self) -> bool:
        return bool(self.episodes) or self.recent_is_abnormal()

    def context_offsets(self) -> tuple[int, int] | None:
        """Offsets of the first and the last segment of the detectors' context (the last
        completed the latest window), or None without one."""
        if not self.offsets:
            return None
        first = self.offsets[max(0, len(self.offsets) - CONTEXT_WINDOWS - 1)][1]
        return first, self.offsets[-1][1]

    def wall_time(self, t_s: float) -> datetime | None:
        if self.recording_start is None:
            return None
        return datetime.fromisoformat(self.recording_start) + timedelta(seconds=t_s)


def alert_id(recording_id: str, finding: str, onset_s: float) -> str:
    """The id of an episode: the same recording, finding and onset (to 0.1 s) give the same
    id, so an alert delivered twice is recognised as one."""
    return str(uuid.uuid5(BRRR_UUID_NAMESPACE, f"alert|{recording_id}|{finding}|{onset_s:.1f}"))


@dataclass(frozen=True)
class Finding:
    """Evidence of an urgent finding in the recent signal."""

    finding: str
    onset_s: float
    end_s: float
    confidence: float


def findings(state: LiveState, events: list[dict[str, Any]], context_s: float) -> list[Finding]:
    """The urgent findings the recent events and scores show."""
    out = []
    for kind in URGENT_EVENTS:
        of_kind = [e for e in events if e["type"] == kind]
        if of_kind:
            out.append(
                Finding(
                    kind,
                    min(e["onset_s"] for e in of_kind),
                    max(e["onset_s"] + e["duration_s"] for e in of_kind),
                    max(e["confidence"] for e in of_kind),
                )
            )
    scores = state.recent_scores
    if scores.size >= RECENT_WINDOWS and scores.mean() >= SUSTAINED_PROBABILITY:
        first = state.scores[0][0] * WINDOW_S
        out.append(
            Finding(
                "sustained_abnormal", first, (state.last_index + 1) * WINDOW_S, float(scores.mean())
            )
        )
    discharges = [e for e in events if e["type"] == "epileptiform"]
    if context_s >= 60.0 and len(discharges) * 60.0 / context_s >= DISCHARGES_PER_MIN:
        out.append(
            Finding(
                "discharge_rate",
                discharges[0]["onset_s"],
                discharges[-1]["onset_s"] + discharges[-1]["duration_s"],
                float(np.mean([e["confidence"] for e in discharges])),
            )
        )
    return out


def update_episodes(state: LiveState, found: list[Finding], window_index: int) -> list[UrgentAlert]:
    """Open, extend and end episodes from the findings of the window just analysed; the
    alerts to send (one at an episode's onset, one when it ends).

    A finding extends the open episode of its kind; one that was reported before (the
    detectors see the same minute of signal several times) opens nothing; an episode
    whose evidence stopped ``EPISODE_END_S`` ago has ended.
    """
    now_s = (window_index + 1) * WINDOW_S
    alerts: list[UrgentAlert] = []
    for f in found:
        episode = state.episodes.get(f.finding)
        if episode is not None:
            episode["last_seen_s"] = max(episode["last_seen_s"], f.end_s)
            episode["confidence"] = max(episode["confidence"], f.confidence)
            continue
        if any(
            past["finding"] == f.finding
            and past["end_s"] is not None
            and f.onset_s <= past["end_s"]
            for past in state.history
        ):
            continue  # the episode already reported, seen again in the context
        opened = Episode(
            f.finding,
            alert_id(state.recording_id, f.finding, f.onset_s),
            f.onset_s,
            f.confidence,
            window_index,
            f.end_s,
        )
        state.episodes[f.finding] = asdict(opened)
        state.history.append(
            {"finding": f.finding, "onset_s": f.onset_s, "end_s": None, "confidence": f.confidence}
        )
        alerts.append(_alert(state, opened, "onset", window_index, None))
    for name in list(state.episodes):
        episode = Episode(**state.episodes[name])
        if now_s - episode.last_seen_s >= EPISODE_END_S:
            del state.episodes[name]
            for past in state.history:
                if past["finding"] == name and past["end_s"] is None:
                    past["end_s"], past["confidence"] = episode.last_seen_s, episode.confidence
            alerts.append(_alert(state, episode, "ended", window_index, episode.last_seen_s))
    state.alerts_sent += len(alerts)
    return alerts


def close_episodes(state: LiveState) -> list[UrgentAlert]:
    """End every open episode (the recording stopped): their "ended" updates."""
    alerts = []
    for name in list(state.episodes):
        episode = Episode(**state.episodes.pop(name))
        for past in state.history:
            if past["finding"] == name and past["end_s"] is None:
                past["end_s"] = episode.last_seen_s
        alerts.append(_alert(state, episode, "ended", state.last_index, episode.last_seen_s))
    state.alerts_sent += len(alerts)
    return alerts


def silence_marker(state: LiveState) -> WindowFeatures:
    """The end marker the worker queues for a device that went silent (no window count:
    the recording did not say it ended)."""
    return WindowFeatures(
        recording_id=state.recording_id,
        job_id=None,
        attempt=0,
        analysis_type="screening",
        window_index=state.last_index + 1,
        start_s=0.0,
        features=b"",
        features_error=None,
        weights_id=None,
        precision=None,
        eegpt_ms_per_window=None,
        provisional_score=None,
        provisional_artifact=False,
        provisional_bad_channels=[],
        end_of_recording=True,
        n_windows_total=None,
        expected_windows=None,
        segments_partition=state.segments_partition,
        segments_first_offset=-1,
        device_id=state.device_id,
        patient_ref=state.patient_ref,
        segment_offset=-1,
        recording_start=None,
        n_channels=0,
        qc_calibration=None,
    )


def _alert(
    state: LiveState, episode: Episode, status: str, window_index: int, end_s: float | None
) -> UrgentAlert:
    return UrgentAlert(
        alert_id=episode.alert_id,
        status=status,  # type: ignore[typeddict-item]
        recording_id=state.recording_id,
        device_id=state.device_id,
        patient_ref=state.patient_ref,
        finding=episode.finding,  # type: ignore[typeddict-item]
        onset_s=round(episode.onset_s, 3),
        onset_time=state.wall_time(episode.onset_s),
        end_s=None if end_s is None else round(end_s, 3),
        confidence=round(float(episode.confidence), 4),
        evidence_window=window_index,
        evidence_end_s=(window_index + 1) * WINDOW_S,
        emitted_at=datetime.now(UTC),
    )


#: Seconds of each live recording's segments the worker holds for the detectors: their
#: context (``CONTEXT_WINDOWS`` and the window before it, 68 s) and 28 s for the result agent
#: to lag behind the segment agent before the log has to be read.
HELD_SEGMENTS_S = (CONTEXT_WINDOWS + 8) * WINDOW_S


class RecentSegments:
    """The last ``keep_s`` seconds of each live recording's segments, as this worker's
    segment agent received them, with their offsets in the segments log.

    The detectors read their context (about a minute) from here after every window of an
    abnormal recording. Read back from the log instead, that minute is every recording's
    segments of the partition from the context's first offset (a dozen devices share a
    partition), fetched by a new consumer, decoded and filtered: about 1 100 segments a
    window. A recording's segments, windows and features share a partition, so the worker
    that follows a recording has received its segments; after a restart or a rebalance it
    holds less than a context, and the log is read (``recent_segments``).
    """

    def __init__(self, keep_s: float = HELD_SEGMENTS_S) -> None:
        self.keep_s = keep_s
        self._held: dict[str, deque[tuple[int, EEGSegment]]] = {}
        self._partition: dict[str, int] = {}

    def add(self, segment: EEGSegment, partition: int, offset: int) -> None:
        """Keep a live segment (delivered at ``partition``, ``offset``), forgetting what is
        older than ``keep_s`` before it."""
        recording_id = segment["recording_id"]
        held = self._held.setdefault(recording_id, deque())
        if held and offset <= held[-1][0]:
            held.clear()  # the partition is read again from an earlier offset (a rebalance)
        held.append((offset, segment))
        self._partition[recording_id] = partition
        sfreq = segment["sfreq_hz"]
        oldest_kept = segment["first_sample"] + segment["n_samples"] - self.keep_s * sfreq
        while held and held[0][1]["first_sample"] < oldest_kept:
            held.popleft()

    def between(self, recording_id: str, first: int, last: int) -> list[EEGSegment] | None:
        """The recording's segments from offset ``first`` to ``last`` (included), as the log
        holds them; None when this worker did not receive all of them (read the log)."""
        held = self._held.get(recording_id)
        if not held or held[0][0] > first or held[-1][0] < last:
            return None
        return [segment for at, segment in held if first <= at <= last]

    def forget(self, recording_id: str) -> None:
        self._held.pop(recording_id, None)
        self._partition.pop(recording_id, None)

    def forget_partitions(self, partitions: set[int]) -> None:
        """Forget the recordings of partitions this worker no longer reads (a rebalance): if
        they come back, what was delivered meanwhile went to another worker."""
        for recording_id, partition in list(self._partition.items()):
            if partition in partitions:
                self.forget(recording_id)


async def recent_segments(
    bootstrap_servers: str,
    segments_topic: str,
    state: LiveState,
    held: RecentSegments | None = None,
) -> list[EEGSegment]:
    """The live recording's segments from the start of the detectors' context to the one
    that completed the latest window: those this worker ``held`` when it has all of them,
    else read back from the log.

    Not to the end of the log: the devices run ahead of a busy worker, and a context that
    ended wherever the log ends when the worker gets to the window would make the events
    found depend on the worker's load (and differ after a restart).
    """
    offsets = state.context_offsets()
    if offsets is None:
        return []
    first, last = offsets
    kept = held.between(state.recording_id, first, last) if held is not None else None
    if kept is not None:
        return kept
    out: list[EEGSegment] = []
    async for segment in read_records(
        bootstrap_servers,
        segments_topic,
        state.segments_partition,
        first,
        "EEGSegment",
        last_offset=last,
    ):
        if segment["recording_id"] == state.recording_id:
            out.append(segment)  # type: ignore[arg-type]
    return out


#: An event is published as a detection once the context holds it whole, this far from its
#: edges, so that its onset and length are found as in the whole file.
EDGE_MARGIN_S = 2.0


def new_detections(
    state: LiveState, events: list[dict[str, Any]], context: tuple[float, float]
) -> list[Detection]:
    """Events of the recent signal not published before, as ``Detection`` records of the
    recording's live job: each once, when the context holds it whole."""
    start_s, end_s = context
    out: list[Detection] = []
    job_id = live_job_id(state.recording_id)
    for event in events:
        onset, offset = event["onset_s"], event["onset_s"] + event["duration_s"]
        if onset < start_s + EDGE_MARGIN_S or offset > end_s - EDGE_MARGIN_S:
            continue  # cut by the context's edges: wait until it is whole
        if any(
            kind == event["type"] and onset < r_end and r_on < offset
            for kind, r_on, r_end in state.reported
        ):
            continue  # the same event, seen again in the next context
        state.reported = [*state.reported, [event["type"], onset, offset]][-200:]
        start = state.wall_time(onset) or datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            seconds=onset
        )
        out.append(
            Detection(
                job_id=job_id,
                recording_id=state.recording_id,
                event_id=detection_event_id(job_id, event["type"], onset, event["channels"]),
                event_type=event["type"],
                subtype=event.get("subtype"),
                onset_s=float(onset),
                duration_s=float(event["duration_s"]),
                start_time=start,
                channels=list(event["channels"]),
                confidence=float(event["confidence"]),
            )
        )
    return out


#: Signal on which a live recording's mains frequency is looked for before it is kept.
LINE_SEARCH_S = 60.0


def recent_events(
    segments: list[EEGSegment], state: LiveState, window_end_s: float
) -> tuple[list[dict], tuple[float, float]]:
    """Events of the last contiguous stretch of signal up to ``window_end_s`` (the end of the
    window analysed; CPU: run it in a thread), with onsets in seconds from the recording's
    first sample; and the stretch's bounds. The mains frequency found on the first stretch
    of a minute or more is kept in ``state.line_freq_hz``.

    The stretch ends at the window, never after it, so that the same window gives the same
    events however far the log had grown when it was analysed.
    """
    by_first = {
        s["first_sample"]: s for s in segments if s["first_sample"] < window_end_s * s["sfreq_hz"]
    }
    if not by_first:
        return [], (0.0, 0.0)
    ordered = [by_first[k] for k in sorted(by_first)]
    run = [ordered[-1]]
    for segment in reversed(ordered[:-1]):  # back from now until a gap
        if segment["first_sample"] + segment["n_samples"] != run[0]["first_sample"]:
            break
        run.insert(0, segment)
    first = run[0]
    sfreq = first["sfreq_hz"]
    data = np.concatenate([segment_samples_uv(s) for s in run], axis=1)
    data = data[:, : round(window_end_s * sfreq) - first["first_sample"]]
    data = np.where(np.isfinite(data), data, 0.0)  # a lead off is flat here too
    start_s = first["first_sample"] / sfreq
    context_s = data.shape[1] / sfreq
    if context_s < 2 * WINDOW_S:
        return [], (start_s, start_s + context_s)
    recording = recording_from_array(data, sfreq, first["ch_names"], state.recording_id)
    prepared = prepare_recording(recording, line_freq_hz=state.line_freq_hz)
    if state.line_freq_hz is None and context_s >= LINE_SEARCH_S:
        state.line_freq_hz = prepared.raw.info["line_freq"]
    report = detect_events(prepared.raw.get_data() * 1e6, prepared.sfreq_hz, prepared.ch_names)
    events = []
    for event in report.to_dict()["events"]:
        events.append({**event, "onset_s": event["onset_s"] + start_s})
    return events, (start_s, start_s + context_s)


def live_window_result(window: WindowFeatures) -> WindowResult:
    """A live window's row for ``window_quality``: its score and the stream QC's verdict
    (bad channels, a flat or lead-off one among them, and the artifact flag)."""
    start = window["recording_start"]
    at = (start or datetime(1970, 1, 1, tzinfo=UTC)) + timedelta(seconds=window["start_s"])
    bad = list(window["provisional_bad_channels"])
    return WindowResult(
        job_id=None,
        recording_id=window["recording_id"],
        window_index=window["window_index"],
        start_s=window["start_s"],
        window_start=at,
        abnormal_score=window["provisional_score"],
        quality_score=(
            0.0
            if window["provisional_artifact"]
            else max(0.0, 1.0 - len(bad) / max(1, window["n_channels"]))
        ),
        is_artifact=window["provisional_artifact"],
        bad_channels=bad,
    )


def live_job_id(recording_id: str) -> str:
    """The job a live recording's final summary completes (one per recording)."""
    return str(uuid.uuid5(BRRR_UUID_NAMESPACE, f"live-summary|{recording_id}"))


def live_summary(state: LiveState, *, reason: str) -> AnalysisResultRecord:
    """The final summary of a live recording that stopped: triage, its urgent findings,
    minutes of good signal, as an ``AnalysisResult`` (its job is made by the sink)."""
    good_min = (state.n_windows - state.n_artifact_windows) * WINDOW_S / 60.0
    abnormal_share = state.n_abnormal_windows / state.n_windows if state.n_windows else 0.0
    if state.history:
        triage = "urgent"
    elif abnormal_share >= 0.5 or good_min < 0.5 * state.n_windows * WINDOW_S / 60.0:
        triage = "expedite"  # mostly abnormal, or mostly unusable signal
    else:
        triage = "routine"
    document = {
        "recording_id": state.recording_id,
        "live": True,
        "device_id": state.device_id,
        "closed": reason,
        "duration_s": state.n_windows * WINDOW_S,
        "n_windows": state.n_windows,
        "good_signal_minutes": round(good_min, 2),
        "abnormal_window_share": round(abnormal_share, 4),
        "urgent_findings": state.history,
        "bad_channels": state.bad_channels,
        "triage_priority": triage,
    }
    return AnalysisResultRecord(
        job_id=live_job_id(state.recording_id),
        file_id=None,
        recording_id=state.recording_id,
        analysis_type="screening",
        status="completed",
        created_at=datetime.now(UTC),
        is_abnormal=bool(state.history) or abnormal_share >= 0.5,
        confidence=round(max([abnormal_share, *[h["confidence"] for h in state.history]]), 4),
        triage_priority=triage,  # type: ignore[typeddict-item]
        signal_quality_score=round(good_min * 60.0 / max(WINDOW_S, state.n_windows * WINDOW_S), 4),
        n_events=len(state.history),
        scorer="live-stream",
        model_weights_id=None,
        versions={},
        n_windows=state.n_windows,
        duration_s=state.n_windows * WINDOW_S,
        processing_time_s=0.0,
        inference_time_s=None,
        error=None,
        result_json=json.dumps(document),
    )
