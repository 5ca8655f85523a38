"""The quality report of a recording or a stream chunk: the verdict, the score, the stream QC."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from processors.errors import QCInputError
from processors.geometry import (
    SUPPRESSION_PP_UV,
)
from processors.quality.channels import (
    WindowEvidenceCache,
    _bad_channels_of_batch,
    detect_bad_channels,
)
from processors.quality.repair import (
    autoreject_windows,
    repair_windows,
    unrepairable_channels,
)
from processors.quality.thresholds import (
    ARTIFACT_REASONS,
    QCThresholds,
    _check_batch,
)
from processors.quality.windows import (
    _check_threshold_channels,
    _flags_from_measures,
    _thresholds_from_measures,
    _window_measures,
    calibrate_thresholds,
)
from processors.types import WindowBatch

logger = logging.getLogger("processors.quality")

# --------------------------------------------------------------------------------------
# the quality report


#: What a record without any signal is told (it comes first in the acceptability reason).
NO_SIGNAL_REASON = "no signal: every channel is flat, check the electrodes"


@dataclass
class QualityResult:
    """Quality of a recording (or of one stream chunk).

    ``signal_quality_score = (1 - bad_channel_fraction) * (1 - artifact_window_fraction)``:
    roughly the share of channel-windows usable as recorded, in [0, 1].
    ``is_acceptable`` holds when at most ``max_bad_channel_fraction`` (25 %) of the channels
    are bad and at most ``max_artifact_window_fraction`` (50 %) of the windows hold artifacts.
    Artifact windows are counted after bad channels were interpolated (and, with AutoReject,
    include the windows beyond its repair).
    """

    bad_channels: dict[str, str]
    signal_quality_score: float
    is_acceptable: bool
    artifact_window_percent: float
    window_flags: np.ndarray
    window_reasons: list[list[str]]
    repaired: WindowBatch
    acceptability_reason: str
    thresholds: QCThresholds
    unrepaired_channels: list[str] = field(default_factory=list)
    autoreject_used: bool = False
    autoreject_beyond_repair: np.ndarray | None = None
    autoreject_interpolated: np.ndarray | None = None
    autoreject_error: str | None = None
    duration_s: float = 0.0
    #: 99.9th percentile of the absolute deviation from each channel's median (uV), all channels
    peak_uv: float | None = None

    @property
    def n_windows(self) -> int:
        return int(self.window_flags.size)

    @property
    def n_artifact_windows(self) -> int:
        return int(self.window_flags.sum())

    @property
    def no_signal(self) -> bool:
        """Every channel flat (a disconnected head box, a zeroed export): a technical problem
        for the technician ("check the electrodes"), never a clinical finding. A record with
        bursts above the suppression threshold anywhere (burst suppression, whose suppressed
        stretches look flat) has a signal."""
        names = self.repaired.ch_names
        all_flat = bool(names) and all(
            self.bad_channels.get(c, "").startswith(("flat", "dropout")) for c in names
        )
        quiet = self.peak_uv is None or self.peak_uv < SUPPRESSION_PP_UV
        return all_flat and quiet

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able report."""
        flagged = np.flatnonzero(self.window_flags)
        counts = {k: sum(k in r for r in self.window_reasons) for k in ARTIFACT_REASONS}
        return {
            "bad_channels": list(self.bad_channels),
            "bad_channel_reasons": dict(self.bad_channels),
            "unrepaired_channels": list(self.unrepaired_channels),
            "signal_quality_score": round(float(self.signal_quality_score), 4),
            "is_acceptable": bool(self.is_acceptable),
            "acceptability_reason": (
                f"{NO_SIGNAL_REASON}; {self.acceptability_reason}"
                if self.no_signal
                else self.acceptability_reason
            ),
            "no_signal": self.no_signal,
            "peak_uv": None if self.peak_uv is None else round(float(self.peak_uv), 2),
            "artifact_window_percent": round(float(self.artifact_window_percent), 2),
            "n_windows": self.n_windows,
            "n_artifact_windows": self.n_artifact_windows,
            "n_channels": len(self.repaired.ch_names),
            "artifact_reason_counts": {k: v for k, v in counts.items() if v},
            "artifact_windows": [
                {
                    "index": int(self.repaired.index[w]),
                    "start_s": round(float(self.repaired.start_s[w]), 3),
                    "reasons": list(self.window_reasons[w]),
                }
                for w in flagged
            ],
            "autoreject_used": bool(self.autoreject_used),
            "autoreject_windows_beyond_repair": (
                int(self.autoreject_beyond_repair.sum())
                if self.autoreject_beyond_repair is not None
                else None
            ),
            "autoreject_interpolated_channel_windows": (
                int(self.autoreject_interpolated.sum())
                if self.autoreject_interpolated is not None
                else None
            ),
            "autoreject_error": self.autoreject_error,
            "thresholds_calibrated_s": round(float(self.thresholds.calibrated_s), 1),
            "duration_s": round(float(self.duration_s), 4),
        }


def _peak_uv(x_uv: np.ndarray) -> float:
    """99.9th percentile of |x - channel median| over every channel (on every 4th sample)."""
    x = np.asarray(x_uv, dtype=float)
    x = x.reshape(-1, x.shape[-1]) if x.ndim == 2 else np.moveaxis(x, 1, 0).reshape(x.shape[1], -1)
    sub = x[:, ::4]
    return float(np.percentile(np.abs(sub - np.median(sub, axis=1, keepdims=True)), 99.9))


#: Share of the channels flat or dropping out (more than half) that makes a global suppression.
GLOBAL_SUPPRESSION_SHARE = 0.5


def _globally_suppressed(bads: dict[str, str], names: Sequence[str], peak_uv: float) -> bool:
    """Most channels flat or dropping out together while the record still rises above the
    suppression threshold: a suppressed background with bursts (burst suppression), a
    property of the brain that quality control must not count as bad electrodes."""
    quiet = sum(bads.get(c, "").startswith(("flat", "dropout")) for c in names)
    return quiet >= GLOBAL_SUPPRESSION_SHARE * len(names) and peak_uv >= SUPPRESSION_PP_UV


def _verdict(
    n_bad: int, n_ch: int, n_art: int, n_win: int, thr: QCThresholds
) -> tuple[float, bool, str]:
    bad_frac = n_bad / n_ch
    art_frac = n_art / n_win
    score = float(np.clip((1.0 - bad_frac) * (1.0 - art_frac), 0.0, 1.0))
    problems = []
    if bad_frac > thr.max_bad_channel_fraction:
        problems.append(
            f"{n_bad} of {n_ch} channels bad (more than {thr.max_bad_channel_fraction:.0%})"
        )
    if art_frac > thr.max_artifact_window_fraction:
        problems.append(
            f"{n_art} of {n_win} windows with artifacts "
            f"(more than {thr.max_artifact_window_fraction:.0%})"
        )
    if problems:
        return score, False, "; ".join(problems)
    return score, True, f"{n_bad} of {n_ch} channels bad, {n_art} of {n_win} windows with artifacts"


def assess_quality(
    batch: WindowBatch,
    *,
    continuous_uv: np.ndarray | None = None,
    use_autoreject: bool = False,
    thresholds: QCThresholds | None = None,
    ransac: bool = True,
    seed: int = 0,
    judged_windows: int | None = None,
    stat_samples: int | None = None,
    evidence_cache: WindowEvidenceCache | None = None,
) -> QualityResult:
    """Quality control of a batch of windows: bad channels, repair, artifact windows, score.

    Parameters
    ----------
    batch : WindowBatch
        The windows (microvolts, 256 Hz).
    continuous_uv : ndarray, shape (n_channels, n_samples), optional
        The continuous signal the windows were cut from; when given, bad channels are found
        on it (one filter pass, no window edges) instead of on the windows.
    use_autoreject : bool
        Also repair local artifacts with AutoReject (slow; the 'comprehensive' analysis).
        If AutoReject cannot run (too few windows), the report says why and QC completes.
    thresholds : QCThresholds, optional
        Calibrated thresholds (a stream's first minutes); by default the batch calibrates
        its own window thresholds.
    ransac, seed : bool, int
        RANSAC criterion (dense montages only) and its seed.
    judged_windows : int, optional
        Find the bad channels on the whole batch, but repair, flag and score only its last
        ``judged_windows`` windows (a stream's new windows; the others are their context).
    stat_samples : int, optional
        At most this many samples per channel for the bad-channel robust statistics.
    evidence_cache : WindowEvidenceCache, optional
        Keeps the per-window bad-channel measures of windows judged before (a stream's).

    Returns
    -------
    QualityResult
    """
    t0 = time.perf_counter()
    names = _check_batch(batch)
    base = thresholds or QCThresholds()
    _check_threshold_channels(base, names)
    if continuous_uv is not None:
        bads = detect_bad_channels(
            continuous_uv, batch.sfreq_hz, names, ransac=ransac, seed=seed, thresholds=base
        )
    else:
        bads, _ = _bad_channels_of_batch(
            batch,
            base,
            ransac=ransac,
            seed=seed,
            max_samples=stat_samples,
            cache=evidence_cache,
        )
    signal_uv = continuous_uv if continuous_uv is not None else batch.data_uv
    peak_uv = _peak_uv(signal_uv)
    suppressed = _globally_suppressed(bads, names, peak_uv)
    if suppressed:  # the whole head quiet at once, with bursts: the brain, not the electrodes
        bads = {c: r for c, r in bads.items() if not r.startswith(("flat", "dropout"))}
    judged = batch if judged_windows is None else batch.select(slice(-judged_windows, None))
    repaired = repair_windows(judged, list(bads))
    m = _window_measures(repaired.data_uv, repaired.sfreq_hz)
    win_thr = base if thresholds is not None else _thresholds_from_measures(m, base, names)
    wf = _flags_from_measures(m, win_thr, len(names))
    flags, reasons = wf.flags.copy(), [list(r) for r in wf.reasons]
    if suppressed:  # suppressed windows are the pattern, not artifacts
        reasons = [[r for r in rs if r != "flat"] for rs in reasons]
        flags = np.array([bool(rs) for rs in reasons], dtype=bool)
    ar_used, beyond, interp, ar_error = False, None, None, None
    if use_autoreject:
        try:
            repaired, beyond, interp = autoreject_windows(repaired, seed=seed)
            ar_used = True
            for w in np.flatnonzero(beyond):
                flags[w] = True
                reasons[w].append("autoreject")
        except QCInputError as exc:
            ar_error = str(exc)
            logger.warning("AutoReject skipped: %s", exc)
    score, ok, why = _verdict(len(bads), len(names), int(flags.sum()), judged.n_windows, base)
    if suppressed:
        why += "; the whole head is suppressed at once with bursts: not counted as flat channels"
    return QualityResult(
        bad_channels=bads,
        signal_quality_score=score,
        is_acceptable=ok,
        artifact_window_percent=100.0 * float(flags.mean()),
        window_flags=flags,
        window_reasons=reasons,
        repaired=repaired,
        acceptability_reason=why,
        thresholds=win_thr,
        unrepaired_channels=unrepairable_channels(names, list(bads)),
        autoreject_used=ar_used,
        autoreject_beyond_repair=beyond,
        autoreject_interpolated=interp,
        autoreject_error=ar_error,
        duration_s=time.perf_counter() - t0,
        peak_uv=peak_uv,
    )


#: Samples per channel the robust statistics of a live stream's minute of context read: every
#: 4th sample at 256 Hz, as a 20-minute file is read (``thresholds._thin``), 4x less sorting.
STREAM_STAT_SAMPLES = 4096


def assess_window_stream(
    batch: WindowBatch,
    thresholds: QCThresholds,
    *,
    ransac: bool = True,
    seed: int = 0,
    new_windows: int | None = None,
    evidence_cache: WindowEvidenceCache | None = None,
) -> QualityResult:
    """QC of new windows of a live stream with thresholds calibrated on its first minutes.

    Flat and dropout are judged as in :func:`assess_quality`. Deviation, HF noise and low
    correlation of a channel that was good during calibration are judged against its own
    calibrated baseline (the chunk's median relative amplitude and noisiness as z-scores
    against their spread over calibration windows; more low-correlation seconds than its
    calibrated rate explains, binomial p < 0.001); channels bad during calibration are
    judged across channels with the calibrated spreads, so they stay bad until they recover.
    Artifact flags use the calibrated per-channel window thresholds.

    A single 4 s window is enough for flat, dropout and a large change of amplitude or
    noisiness (on clean synthetic EEG, 0-2 % of single windows reported a bad channel); a
    channel that merely stops correlating needs more seconds of evidence: pass a rolling
    buffer of the last 15 windows (one minute), which catches it within about 50 s.

    Parameters
    ----------
    batch : WindowBatch
        The new windows.
    thresholds : QCThresholds
        From :func:`calibrate_thresholds` on the same channels.
    ransac, seed : bool, int
        RANSAC criterion (dense montages only) and its seed.
    new_windows : int, optional
        Judge only the last ``new_windows`` windows (repair, artifact flags, score); the
        windows before them are context for the bad-channel verdict. By default all.
    evidence_cache : WindowEvidenceCache, optional
        The stream's per-window measures kept from its earlier verdicts (``StreamQC``'s).

    Returns
    -------
    QualityResult
        For the chunk (its new windows). The robust statistics of the bad-channel verdict
        read at most :data:`STREAM_STAT_SAMPLES` samples per channel.

    Raises
    ------
    QCInputError
        Thresholds not calibrated, or calibrated on other channels.
    """
    if thresholds.ch_names is None:
        raise QCInputError(
            "stream QC needs thresholds calibrated on the stream's first minutes; call "
            "calibrate_thresholds(first_windows) first"
        )
    return assess_quality(
        batch,
        thresholds=thresholds,
        ransac=ransac,
        seed=seed,
        judged_windows=new_windows,
        stat_samples=STREAM_STAT_SAMPLES,
        evidence_cache=evidence_cache,
    )


@dataclass
class StreamWindowQuality:
    """QC of the newest windows of a live stream (see :class:`StreamQC`)."""

    bad_channels: dict[str, str]
    repaired: WindowBatch
    window_flags: np.ndarray
    window_reasons: list[list[str]]
    calibrated: bool


class StreamQC:
    """Quality control of one live stream, window by window.

    Until ``calibration_windows`` windows have arrived, the windows seen so far are judged
    together as a whole recording (:func:`assess_quality`); then thresholds are calibrated
    on them (:func:`calibrate_thresholds`) and each new window is judged with the last
    ``context_windows`` windows as context (:func:`assess_window_stream`). The context is
    what keeps a seizure's sudden, widespread rise in amplitude from reading as a dozen bad
    channels: a channel is judged on a minute of evidence, as in the whole-file path, and the
    verdict applies to the newest windows. Picklable, so it can live in a Faust table.

    Parameters
    ----------
    calibration_windows : int
        Windows used to calibrate (15 x 4 s = the first minute).
    context_windows : int
        Windows of context for each verdict (15: one minute).
    seed : int
        RANSAC seed.
    """

    def __init__(
        self, *, calibration_windows: int = 15, context_windows: int = 15, seed: int = 0
    ) -> None:
        if calibration_windows < 1 or context_windows < 1:
            raise QCInputError("calibration_windows and context_windows must be at least 1")
        self.calibration_windows = calibration_windows
        self.context_windows = context_windows
        self.seed = seed
        self.thresholds: QCThresholds | None = None
        self._context: list[WindowBatch] = []
        self._evidence = WindowEvidenceCache()

    @property
    def calibrated(self) -> bool:
        return self.thresholds is not None

    def push(self, batch: WindowBatch) -> StreamWindowQuality:
        """Judge the new windows of ``batch`` (in stream order)."""
        self._context.append(batch)
        context = WindowBatch.concat(self._context)
        if self.thresholds is None:
            qc = assess_quality(context, seed=self.seed, evidence_cache=self._evidence)
            if context.n_windows >= self.calibration_windows:
                self.thresholds = calibrate_thresholds(context, seed=self.seed)
        else:
            qc = assess_window_stream(
                context,
                self.thresholds,
                seed=self.seed,
                new_windows=batch.n_windows,
                evidence_cache=self._evidence,
            )
        if self.thresholds is not None:
            # Keep only the context the next verdict needs.
            self._context = [context.select(slice(-self.context_windows, None))]
        n_new = batch.n_windows
        return StreamWindowQuality(
            bad_channels=dict(qc.bad_channels),
            repaired=qc.repaired.select(slice(-n_new, None)),
            window_flags=np.asarray(qc.window_flags)[-n_new:],
            window_reasons=list(qc.window_reasons[-n_new:]),
            calibrated=self.calibrated,
        )
