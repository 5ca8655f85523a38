"""What the window agents compute for each window: EEGPT features, micro-batched across
recordings, and for live streams the stream quality control (``StreamQC``) and a
provisional abnormality score.

EEGPT is most of the cost of an analysis; its input is the conditioned windows, before any
repair, and the final, recording-level analysis reuses these features whenever quality
control repairs nothing (``processors.analyze.PrecomputedFeatures``). The stream's quality
control and score are a live stream's verdict window by window (it has no end to wait for):
they are checked apart from EEGPT (``WindowDescriber.check_live``), so a live window's
verdict, its events and its alerts never wait for a transformer whose output they do not
use. A recording with an end (a job) is judged on the whole of it when its last window is
in, so its windows skip the checks: they would be computed and thrown away (about 8 % of a
file's analysis).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from processors import abnormality
from processors.errors import EEGError
from processors.quality import QCThresholds, StreamQC, StreamWindowQuality
from processors.types import WindowBatch
from schemas.records import EEGWindow, WindowFeatures
from streams.pipeline import ModelCache
from streams.segments import window_batch
from streams.worker_metrics import INFERENCE

if TYPE_CHECKING:  # torch is imported when EEGPT is loaded, not with this module
    from processors.features import EEGPTFeatureExtractor

log = logging.getLogger("brrr.worker.windows")


def stream_key(record: EEGWindow | WindowFeatures) -> str:
    """Identity of one run of a recording through the stream: the job, or the recording of
    a live device (which has no job)."""
    return record["job_id"] or record["recording_id"]


@dataclass
class _Group:
    """The windows of one stream in a micro-batch, in order."""

    windows: list[EEGWindow]
    batch: WindowBatch
    features: np.ndarray | None = None
    features_error: str | None = None
    weights_id: str | None = None
    precision: str | None = None
    ms_per_window: float | None = None


def _groups(windows: Sequence[EEGWindow]) -> dict[str, _Group]:
    """The windows of a micro-batch by stream, in order (end markers left out)."""
    pending: dict[str, list[EEGWindow]] = defaultdict(list)
    for window in windows:
        if not window["end_of_recording"]:
            pending[stream_key(window)].append(window)
    return {key: _Group(ws, window_batch(ws)) for key, ws in pending.items()}


class WindowDescriber:
    """Stream QC, provisional scores and EEGPT features for windows of many recordings.

    Holds one ``StreamQC`` per stream in memory (its minute of context is about 1.2 MB,
    too large for a table); after a worker restart a stream's quality control calibrates
    again on the windows that follow, which only affects the provisional verdicts.
    """

    def __init__(
        self, models: ModelCache, batch_size: int = 4, *, parallel_passes: int = 1
    ) -> None:
        self.models = models
        #: windows per EEGPT pass: 4 costs 10-30 % less a window than 8 on these CPUs (bf16
        #: and int8, one torch thread or two), its activations fit the cache
        self.batch_size = batch_size
        self._qc: dict[str, StreamQC] = {}
        #: passes of one micro-batch run side by side (torch leaves the GIL while it computes)
        self._passes = ThreadPoolExecutor(
            max(1, parallel_passes), thread_name_prefix="eegpt-pass", initializer=_lower_priority
        )

    def unknown_streams(self, windows: Sequence[EEGWindow]) -> set[str]:
        """Streams of these windows this describer has no quality control of yet (after a
        restart, their calibration may be in the live table)."""
        return {stream_key(w) for w in windows if stream_key(w) not in self._qc}

    def describe(self, windows: Sequence[EEGWindow]) -> list[WindowFeatures]:
        """EEGPT features of a micro-batch of windows (any recordings, stream order kept per
        stream), end markers passed on.

        Runs in a worker thread: torch, no I/O. The passes run in threads of their own, at a
        lower scheduling priority than the rest of the worker (see :data:`EEGPT_NICENESS`).
        """
        groups = _groups(windows)
        self._extract_features(groups)
        out: list[WindowFeatures] = []
        position: dict[str, int] = defaultdict(int)
        for window in windows:
            key = stream_key(window)
            if window["end_of_recording"]:
                out.append(_features_record(window))
                continue
            out.append(_features_record(window, groups[key], position[key]))
            position[key] += 1
        return out

    def check_live(
        self,
        windows: Sequence[EEGWindow],
        calibrations: Mapping[str, dict[str, Any]] | None = None,
    ) -> list[WindowFeatures]:
        """The stream quality control and provisional score of live windows (a live stream's
        verdict window by window), without their EEGPT features, end markers passed on.

        ``calibrations`` are stored QC thresholds of streams this describer has not seen
        (a restarted worker continues with them). Runs in a worker thread: numpy and MNE,
        no I/O.
        """
        self._calibrations = dict(calibrations or {})
        groups = _groups(windows)
        judged = {key: self._quality(key, group) for key, group in groups.items()}
        scores = _scores({key: j.quality.repaired for key, j in judged.items()})
        out: list[WindowFeatures] = []
        position: dict[str, int] = defaultdict(int)
        for window in windows:
            key = stream_key(window)
            if window["end_of_recording"]:
                self._qc.pop(key, None)  # the stream is over: free its context
                out.append(_features_record(window))
                continue
            i = position[key]
            position[key] += 1
            verdict, score = judged[key], scores[key]
            record = _features_record(
                window,
                score=float(score[i]) if score is not None else None,
                artifact=bool(verdict.quality.window_flags[i]),
                bad_channels=sorted(verdict.quality.bad_channels),
            )
            if verdict.calibrated_now and i == len(groups[key].windows) - 1:
                thresholds = self._qc[key].thresholds
                assert thresholds is not None
                record["qc_calibration"] = json.dumps(thresholds.to_dict())
            out.append(record)
        return out

    def _extract_features(self, groups: dict[str, _Group]) -> None:
        """One EEGPT pass per channel set over every stream in the micro-batch."""
        by_montage: dict[tuple[str, ...], list[_Group]] = defaultdict(list)
        for group in groups.values():
            if group.windows[0]["analysis_type"] == "quick":
                group.features_error = "not part of the quick analysis"
                continue
            by_montage[tuple(group.batch.ch_names)].append(group)
        for ch_names, members in by_montage.items():
            options = self.models.options_for(ch_names, members[0].windows[0]["analysis_type"])
            extractor = options.feature_extractor
            if extractor is None:
                for group in members:
                    group.features_error = options.feature_unavailable_reason
                continue
            batch = WindowBatch.concat(
                [
                    WindowBatch(
                        g.batch.data_uv,
                        g.batch.ch_names,
                        g.batch.sfreq_hz,
                        g.batch.start_s,
                        g.batch.index,
                    )
                    for g in members
                ]
            )
            t0 = time.perf_counter()
            try:
                chunks = [
                    batch.select(slice(start, start + self.batch_size))
                    for start in range(0, batch.n_windows, self.batch_size)
                ]
                passes = self._passes.map(partial(_features_of, extractor), chunks)
                features = np.concatenate(list(passes))
            except (EEGError, RuntimeError) as exc:
                for group in members:
                    group.features_error = f"{type(exc).__name__}: {exc}"
                continue
            elapsed_s = time.perf_counter() - t0
            INFERENCE.labels(model="eegpt").observe(elapsed_s)
            ms_per_window = 1000 * elapsed_s / batch.n_windows
            start = 0
            for group in members:
                n = group.batch.n_windows
                group.features = features[start : start + n]
                group.weights_id, group.precision = extractor.weights_id, extractor.precision
                group.ms_per_window = ms_per_window
                start += n

    def _quality(self, key: str, group: _Group) -> _StreamVerdict:
        """The stream's quality control of the new windows, and whether these windows
        calibrated it."""
        stream_qc = self._qc.get(key)
        if stream_qc is None:
            stream_qc = self._qc[key] = StreamQC()
            stored = self._calibrations.get(key)
            if stored is not None:  # a restarted worker: the calibration survives
                stream_qc.thresholds = QCThresholds.from_dict(stored)
        was_calibrated = stream_qc.calibrated
        qc = stream_qc.push(group.batch)
        return _StreamVerdict(qc, stream_qc.calibrated and not was_calibrated)


#: Scheduling niceness of the EEGPT passes' threads (Linux nice values are per thread).
#: EEGPT is most of the worker's CPU and nothing waits for it on the way to a live window's
#: verdict or an alert: on a machine whose cores it fills, the segment agent, the live
#: checks and the event detectors go first, and EEGPT takes the cycles they leave.
EEGPT_NICENESS = 10


def _lower_priority() -> None:
    """Run the calling thread at :data:`EEGPT_NICENESS` (where the platform allows)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), EEGPT_NICENESS)
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed
        log.info("EEGPT threads keep the worker's priority (%s)", exc)


class _StreamVerdict(NamedTuple):
    quality: StreamWindowQuality
    calibrated_now: bool


def _features_of(extractor: EEGPTFeatureExtractor, batch: WindowBatch) -> np.ndarray:
    """One EEGPT pass over a chunk of a micro-batch."""
    return extractor.extract(batch, batch_size=batch.n_windows)


def _scores(repaired: dict[str, WindowBatch]) -> dict[str, np.ndarray | None]:
    """Provisional qEEG scores of each stream's new windows: one call per channel set for
    every stream of the micro-batch (the features are per window; see
    ``abnormality.qeeg_assessments``)."""
    out: dict[str, np.ndarray | None] = {}
    by_montage: dict[tuple[tuple[str, ...], float], list[str]] = defaultdict(list)
    for key, batch in repaired.items():
        by_montage[(tuple(batch.ch_names), batch.sfreq_hz)].append(key)
    for keys in by_montage.values():
        try:
            assessed = abnormality.qeeg_assessments([repaired[k] for k in keys])
        except EEGError as exc:
            log.warning("provisional scores of %s failed: %s", ", ".join(keys), exc)
            out.update(dict.fromkeys(keys))
            continue
        out.update({k: a.scores for k, a in zip(keys, assessed, strict=True)})
    return out


def _features_record(
    window: EEGWindow,
    group: _Group | None = None,
    i: int = 0,
    *,
    score: float | None = None,
    artifact: bool = False,
    bad_channels: Sequence[str] = (),
) -> WindowFeatures:
    """The ``WindowFeatures`` of window ``i`` of ``group``; without a group, an end marker or
    a live window's checks (``score``, ``artifact``, ``bad_channels``) without features."""
    has_features = group is not None and group.features is not None
    return WindowFeatures(
        recording_id=window["recording_id"],
        job_id=window["job_id"],
        attempt=window["attempt"],
        analysis_type=window["analysis_type"],
        window_index=window["window_index"],
        start_s=window["start_s"],
        features=(
            np.ascontiguousarray(group.features[i], dtype="<f4").tobytes() if has_features else b""
        ),
        features_error=group.features_error if group is not None else None,
        weights_id=group.weights_id if group is not None else None,
        precision=group.precision if group is not None else None,
        eegpt_ms_per_window=group.ms_per_window if group is not None else None,
        provisional_score=score,
        provisional_artifact=artifact,
        provisional_bad_channels=list(bad_channels),
        end_of_recording=window["end_of_recording"],
        n_windows_total=window["n_windows_total"],
        expected_windows=window["expected_windows"],
        segments_partition=window["segments_partition"],
        segments_first_offset=window["segments_first_offset"],
        device_id=window["device_id"],
        patient_ref=window["patient_ref"],
        segment_offset=window["segment_offset"],
        recording_start=window["recording_start"],
        n_channels=len(window["ch_names"]),
        qc_calibration=None,
    )
