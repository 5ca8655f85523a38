"""Artifact windows (amplitude, jumps, muscle, flat stretches) and the stream calibration of
their thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

import numpy as np
from scipy import fft as sp_fft

from processors.errors import QCInputError
from processors.quality.channels import (
    _bad_channels_of_batch,
)
from processors.quality.repair import (
    repair_windows,
)
from processors.quality.thresholds import (
    _AMPLITUDE_SPREAD_FLOOR,
    _IQR_TO_SD,
    _LOG_REL_AMPLITUDE_SD_FLOOR,
    _LOW_CORR_FRACTION_FLOOR,
    _MAD_TO_SD,
    _MUSCLE_BAND_HZ,
    _NOISINESS_SPREAD_FLOOR,
    _NOISINESS_SPREAD_REL_FLOOR,
    _SEGMENT_S,
    _WINDOW_BOUNDS,
    _WINDOW_Z,
    QCThresholds,
    _check_batch,
    _detrend,
    _mad,
)
from processors.types import WindowBatch

# --------------------------------------------------------------------------------------
# artifact windows


class WindowFlags(NamedTuple):
    """Artifact flags of a batch of windows.

    Attributes
    ----------
    flags : ndarray of bool, shape (n_windows,)
        True where a window holds an artifact.
    reasons : list of list of str
        Per window, the kinds found among :data:`ARTIFACT_REASONS`.
    channel_mask : ndarray of bool, shape (n_windows, n_channels)
        Which channels tripped a threshold.
    """

    flags: np.ndarray
    reasons: list[list[str]]
    channel_mask: np.ndarray


def _window_measures(data_uv: np.ndarray, sfreq_hz: float) -> dict[str, np.ndarray]:
    """Per window and channel: peak-to-peak, largest step, 25-45 Hz RMS, flattest second."""
    x = _detrend(data_uv)
    n = x.shape[-1]
    ptp = x.max(axis=-1) - x.min(axis=-1)
    jump = np.abs(np.diff(x, axis=-1)).max(axis=-1)
    spec = sp_fft.rfft(x, axis=-1, workers=2)
    f = np.fft.rfftfreq(n, 1.0 / sfreq_hz)
    band = (f >= _MUSCLE_BAND_HZ[0]) & (f <= min(_MUSCLE_BAND_HZ[1], sfreq_hz / 2))
    # Parseval: mean square of the band-limited signal from its one-sided spectrum.
    muscle = np.sqrt(2.0 * np.sum(np.abs(spec[..., band]) ** 2, axis=-1)) / n
    seg_len = round(_SEGMENT_S * sfreq_hz)
    k = n // seg_len
    seg = x[..., : k * seg_len].reshape(*x.shape[:-1], k, seg_len)
    min_seg_std = seg.std(axis=-1).min(axis=-1)
    return {"ptp_max_uv": ptp, "jump_max_uv": jump, "muscle_max_uv": muscle, "flat": min_seg_std}


def _per_channel(value: float | np.ndarray, n_ch: int, name: str) -> np.ndarray:
    arr = (
        np.broadcast_to(np.asarray(value, dtype=np.float32), (n_ch,))
        if np.ndim(value) == 0
        else np.asarray(value, dtype=np.float32)
    )
    if arr.shape != (n_ch,):
        raise QCInputError(
            f"threshold {name} has {arr.shape[0]} values for {n_ch} channels; calibrate "
            "again on this montage"
        )
    return arr


def _check_threshold_channels(thresholds: QCThresholds, names: Sequence[str]) -> None:
    if thresholds.ch_names is not None and list(thresholds.ch_names) != list(names):
        raise QCInputError(
            f"thresholds were calibrated on channels {list(thresholds.ch_names)} but the "
            f"windows have {list(names)}; calibrate again (calibrate_thresholds) after a "
            "montage change"
        )


def flag_artifact_windows(
    batch: WindowBatch, *, thresholds: QCThresholds | None = None
) -> WindowFlags:
    """Flag windows holding artifacts, vectorised over windows and channels.

    A window is flagged when any channel exceeds its peak-to-peak (``amplitude``: blinks,
    movement), step (``jump``: electrode pops) or 25-45 Hz RMS (``muscle``) threshold, or has a
    1 s stretch flatter than ``flat_uv`` (``flat``). Run it on repaired windows so that a bad
    channel, already interpolated, does not flag every window.

    Parameters
    ----------
    batch : WindowBatch
        Windows in microvolts.
    thresholds : QCThresholds, optional
        Calibrated thresholds (:func:`calibrate_thresholds`); by default calibrated on the
        batch itself.

    Returns
    -------
    WindowFlags
        ``(flags, reasons, channel_mask)``.
    """
    names = _check_batch(batch)
    m = _window_measures(batch.data_uv, batch.sfreq_hz)
    if thresholds is None:
        thresholds = _thresholds_from_measures(m, QCThresholds(), names)
    _check_threshold_channels(thresholds, names)
    return _flags_from_measures(m, thresholds, len(names))


def _flags_from_measures(
    m: dict[str, np.ndarray], thresholds: QCThresholds, n_ch: int
) -> WindowFlags:
    masks = {
        "amplitude": m["ptp_max_uv"] > _per_channel(thresholds.ptp_max_uv, n_ch, "ptp_max_uv"),
        "jump": m["jump_max_uv"] > _per_channel(thresholds.jump_max_uv, n_ch, "jump_max_uv"),
        "muscle": m["muscle_max_uv"]
        > _per_channel(thresholds.muscle_max_uv, n_ch, "muscle_max_uv"),
        "flat": m["flat"] < thresholds.flat_uv,
    }
    channel_mask = np.zeros(m["flat"].shape, dtype=bool)
    per_kind = {}
    for kind, mask in masks.items():
        channel_mask |= mask
        per_kind[kind] = mask.any(axis=1)
    flags = channel_mask.any(axis=1)
    reasons = [[k for k in masks if per_kind[k][w]] for w in range(flags.size)]
    return WindowFlags(flags=flags, reasons=reasons, channel_mask=channel_mask)


def _thresholds_from_measures(
    m: dict[str, np.ndarray], base: QCThresholds, ch_names: Sequence[str]
) -> QCThresholds:
    """Per-channel window thresholds from robust statistics over windows.

    For each measure ``m`` and channel: ``median(m) * clip(exp(5 * 1.4826 * MAD(log m)),
    lo, hi)``, then clipped to a floor and a ceiling (``_WINDOW_BOUNDS``: peak-to-peak
    2.5-4 x median in 100-800 uV, step 5-8 x in 50-200 uV, 25-45 Hz RMS 3-5 x in 3-20 uV).
    The log makes the spread relative; the ratio range keeps a steady channel from getting a
    hair-trigger and a blink-laden one from getting no trigger at all.
    """
    out: dict[str, np.ndarray] = {}
    for name, (floor, ceiling, (lo, hi)) in _WINDOW_BOUNDS.items():
        logm = np.log(np.maximum(m[name], 1e-6))
        med = np.median(logm, axis=0)
        spread = _mad(logm, axis=0) * _MAD_TO_SD
        thr = np.exp(med + np.clip(_WINDOW_Z * spread, np.log(lo), np.log(hi)))
        out[name] = np.clip(thr, floor, ceiling).astype(np.float64)
    return replace(base, ch_names=tuple(ch_names), **out)


# --------------------------------------------------------------------------------------
# calibration for streams


def calibrate_thresholds(
    batch: WindowBatch, *, base: QCThresholds | None = None, seed: int = 0
) -> QCThresholds:
    """Calibrate QC thresholds on the first minutes of a stream (or a whole recording).

    The cross-channel spreads of amplitude and noisiness (robust, as PREP) are taken from
    the calibration windows; bad channels found there are interpolated, and the per-channel
    window thresholds are then set from robust statistics over the repaired windows (see
    :func:`flag_artifact_windows`). Apply the result to each later window with
    :func:`assess_window_stream`.

    Parameters
    ----------
    batch : WindowBatch
        Calibration windows, e.g. the first 2 minutes (30 windows of 4 s).
    base : QCThresholds, optional
        Fixed limits to start from (z-scores, fractions, acceptability rule).
    seed : int
        RANSAC seed.

    Returns
    -------
    QCThresholds
        With ``ch_names``, per-channel window thresholds, spreads and ``calibrated_s``.
    """
    names = _check_batch(batch)
    base = base or QCThresholds()
    bads, ev = _bad_channels_of_batch(batch, base, ransac=True, seed=seed)
    good = np.array([c not in bads for c in names])
    amp, noi = ev.amplitude_uv[good], ev.noisiness[good]
    amp_spread = noi_spread = None
    if good.sum() >= 3:
        q = np.percentile(amp, [25, 75])
        amp_spread = float((q[1] - q[0]) * _IQR_TO_SD / max(np.median(amp), 1e-12))
        amp_spread = max(amp_spread, _AMPLITUDE_SPREAD_FLOOR)
        noi_spread = float(_mad(noi) * _MAD_TO_SD)
    repaired = repair_windows(batch, list(bads))
    m = _window_measures(repaired.data_uv, repaired.sfreq_hz)
    calibrated = _thresholds_from_measures(m, base, names)
    lra, noi_w = ev.log_rel_amplitude_w, ev.noisiness_w
    noi_med = np.median(noi_w, axis=0)
    noi_sd = np.maximum(
        _mad(noi_w, axis=0) * _MAD_TO_SD,
        np.maximum(_NOISINESS_SPREAD_FLOOR, _NOISINESS_SPREAD_REL_FLOOR * noi_med),
    )
    nan = np.where(good, 1.0, np.nan)  # channels bad during calibration have no baseline
    return replace(
        calibrated,
        amplitude_spread=amp_spread,
        noisiness_spread=noi_spread,
        channel_log_rel_amplitude=np.median(lra, axis=0) * nan,
        channel_log_rel_amplitude_sd=np.maximum(
            _mad(lra, axis=0) * _MAD_TO_SD, _LOG_REL_AMPLITUDE_SD_FLOOR
        )
        * nan,
        channel_noisiness=noi_med * nan,
        channel_noisiness_sd=noi_sd * nan,
        channel_low_corr_fraction=np.maximum(ev.low_corr_fraction, _LOW_CORR_FRACTION_FLOOR) * nan,
        calibrated_s=float(ev.duration_s),
    )
