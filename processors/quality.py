"""Quality control: bad channels, artifact windows, repair and a quality report.

Bad channels follow the noisy-channel criteria of the PREP pipeline (Bigdely-Shamlo et al.
2015) as implemented by PyPREP, re-written here as vectorised numpy so that a 20-minute
19-channel recording is checked in well under a second:

=================  =========================================================================
reason             criterion (defaults in :class:`QCThresholds`)
=================  =========================================================================
``flat``           robust amplitude (IQR / 1.349) or standard deviation under ``flat_uv``
                   (0.5 uV) over the whole stretch.
``dropout``        more than ``dropout_bad_fraction`` (1 %) of its 1 s segments flat.
``deviation``      robust z-score of its robust amplitude across channels beyond
                   ``deviation_z`` (5) in either direction.
``hf_noise``       robust z-score of its noisiness, MAD(signal - lowpass) / MAD(lowpass)
                   with the low-pass at 45 Hz, above ``hf_noise_z`` (5). The part above
                   45 Hz holds 50/60 Hz mains noise and muscle (Nyquist is 128 Hz at 256 Hz).
``low_correlation`` in more than ``correlation_bad_fraction`` (40 %) of its 1 s segments,
                   its 98th-percentile absolute correlation with the other channels
                   (1-45 Hz) is under ``correlation_min`` (0.4). PREP flags from 1 % of the
                   segments; in hours-long clinical recordings a few seconds of a loose
                   electrode are the artifact windows' business, not a reason to replace a
                   channel for the whole recording.
``ransac``         predicted from random subsets of 25 % of the good channels with
                   spherical splines (50 subsets, median prediction), its correlation
                   with the prediction is under 0.75 in more than 40 % of its 4 s windows
                   (at most 20 windows, evenly spread, are used). Only on montages of at
                   least 32 channels with standard_1020 positions: on the 19-channel 10-20
                   montage a quarter of the electrodes is too sparse to predict from, and
                   RANSAC flagged good channels of a real clinical recording.
=================  =========================================================================

A channel meeting several criteria gets them all, joined by ``+`` in the order of the table
(``"deviation+hf_noise"``); the first is the primary reason.

Where PREP divides by the spread across channels, the spread has a floor (10 % of the
median amplitude; 0.05 or 15 % of the median noisiness) so that a recording whose channels
are all alike does not turn small differences into large z-scores, and the centre is always
the median of the data at hand, so that a global change of amplitude (sleep, suppression)
moves every channel alike.

Artifact windows are judged on the repaired windows (bad channels interpolated), per window
and channel, on four measures: peak-to-peak amplitude (blinks, movement), the largest
sample-to-sample step (electrode pops, jumps), the RMS amplitude in 25-45 Hz (muscle, below
the mains frequencies) and flat 1 s stretches. Each threshold is per channel, calibrated on
the recording (or on the first minutes of a stream) by robust statistics of the measure over
windows, bounded by fixed floors and ceilings (see :func:`calibrate_thresholds`).

For a live stream, :func:`calibrate_thresholds` learns on the first minutes the spreads
across channels, each channel's own baseline (relative amplitude, noisiness, rate of
low-correlation seconds) and the per-channel window thresholds; :func:`assess_window_stream`
then judges each new chunk against them (see there).

Repair interpolates bad channels from the good ones with spherical splines (Perrin et al.
1989) on the standard_1020 positions, the interpolation matrix of MNE's formula
(:func:`processors.geometry.spline_interpolation_matrix`, no private MNE call) computed once
per channel set; AutoReject (Jas et al. 2017) optionally repairs local artifacts per window.

References
----------
.. [1] Bigdely-Shamlo N, Mullen T, Kothe C, Su KM, Robbins KA (2015). The PREP pipeline:
       standardized preprocessing for large-scale EEG analysis. Front Neuroinform 9:16.
.. [2] Perrin F, Pernier J, Bertrand O, Echallier JF (1989). Spherical splines for scalp
       potential and current density mapping. Electroencephalogr Clin Neurophysiol
       72(2):184-187.
.. [3] Jas M, Engemann DA, Bekhti Y, Raimondo F, Gramfort A (2017). Autoreject: automated
       artifact rejection for MEG and EEG data. NeuroImage 159:417-429.
.. [4] Fischler MA, Bolles RC (1981). Random sample consensus. Commun ACM 24(6):381-395.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from typing import Any, NamedTuple

import mne
import numpy as np
from scipy import fft as sp_fft

from processors.errors import QCInputError, RecordingTooShort, WrongSamplingRate
from processors.geometry import (
    MIN_SFREQ_HZ,
    SUPPRESSION_PP_UV,
    head_positions_m,
    head_sphere_origin_m,
    spline_interpolation_matrix,
)
from processors.io import check_finite
from processors.types import WINDOW_S, WindowBatch

logger = logging.getLogger(__name__)

__all__ = [
    "ARTIFACT_REASONS",
    "BAD_CHANNEL_REASONS",
    "QCInputError",
    "QCThresholds",
    "QualityResult",
    "StreamQC",
    "StreamWindowQuality",
    "WindowFlags",
    "assess_quality",
    "assess_window_stream",
    "autoreject_windows",
    "calibrate_thresholds",
    "detect_bad_channels",
    "flag_artifact_windows",
    "montage_origin_m",
    "repair_windows",
    "unrepairable_channels",
]

BAD_CHANNEL_REASONS: tuple[str, ...] = (
    "flat", "dropout", "deviation", "hf_noise", "low_correlation", "ransac",
)  # fmt: skip
ARTIFACT_REASONS: tuple[str, ...] = ("amplitude", "jump", "muscle", "flat", "autoreject")

_IQR_TO_SD = 0.7413  # IQR of a normal distribution is 1.349 SD
_MAD_TO_SD = 1.4826
_MIN_SFREQ_HZ = MIN_SFREQ_HZ  # processors.geometry's, one for every stage
_HIGHPASS_HZ = 1.0  # PREP removes trends below 1 Hz before every criterion
_LOWPASS_HZ = 45.0  # PREP's 45-50 Hz transition: mains noise falls in the "noise" part
_SEGMENT_S = 1.0  # correlation / dropout segments (PREP: 1 s)
_MIN_CORRELATION_SEGMENTS = 15  # seconds of evidence before low_correlation can be called
_RANSAC_WINDOW_S = WINDOW_S  # PREP uses 5 s; 4 s matches the analysis windows
_RANSAC_SUBSETS = 50
_RANSAC_SAMPLE_FRACTION = 0.25
_RANSAC_MAX_WINDOWS = 20  # evenly spread: enough to estimate a fraction of bad windows
# Spline predictions from a quarter of the electrodes need a dense montage: on 19-channel
# 10-20 recordings (5-electrode subsets) RANSAC flagged good channels of a real clinical
# recording and of synthetic ones, so it runs from 32 positioned channels up.
_RANSAC_MIN_CHANNELS = 32
_MUSCLE_BAND_HZ = (25.0, 45.0)


# --------------------------------------------------------------------------------------
# thresholds


@dataclass(frozen=True)
class QCThresholds:
    """Thresholds of quality control; per-channel values once calibrated.

    The defaults are fixed, conservative values; :func:`calibrate_thresholds` returns a copy
    whose window thresholds are per channel (arrays aligned with ``ch_names``) and whose
    cross-channel spreads come from the calibration data.

    Attributes
    ----------
    flat_uv : float
        Amplitude under which a channel (or a 1 s stretch) counts as flat.
    deviation_z, hf_noise_z : float
        Robust z-score limits of channel amplitude and noisiness (PREP: 5).
    correlation_min, correlation_bad_fraction : float
        A 1 s segment is bad when the channel's 98th-percentile absolute correlation with the
        others is under ``correlation_min``; the channel is bad when more than
        ``correlation_bad_fraction`` of its segments are.
    dropout_bad_fraction : float
        Fraction of flat 1 s segments above which a channel is bad by dropout.
    ransac_correlation_min, ransac_bad_fraction : float
        RANSAC limits (PREP: 0.75 and 0.4).
    amplitude_spread, noisiness_spread : float or None
        Calibrated robust spread across channels: of amplitude as a fraction of the median
        amplitude, and of noisiness in its own unit. ``None``: taken from the data at hand.
    ch_names : tuple of str or None
        The channels the per-channel thresholds belong to (``None`` before calibration).
    channel_log_rel_amplitude, channel_log_rel_amplitude_sd : ndarray or None
        Per channel, from calibration: median and robust spread over windows of the log of
        its amplitude relative to the window's median channel. NaN for channels that were
        bad during calibration (they are judged across channels instead).
    channel_noisiness, channel_noisiness_sd : ndarray or None
        Per channel: median and robust spread over windows of its noisiness.
    channel_low_corr_fraction : ndarray or None
        Per channel: fraction of calibration seconds with low correlation (at least 0.02).
    ptp_max_uv, jump_max_uv, muscle_max_uv : float or ndarray
        Window artifact limits: peak-to-peak amplitude, largest sample-to-sample step and RMS
        amplitude in 25-45 Hz; scalars or one value per channel.
    max_bad_channel_fraction, max_artifact_window_fraction : float
        The acceptability rule (see :class:`QualityResult`).
    calibrated_s : float
        Seconds of signal the thresholds were calibrated on (0 for the defaults).
    """

    flat_uv: float = 0.5
    deviation_z: float = 5.0
    hf_noise_z: float = 5.0
    correlation_min: float = 0.4
    correlation_bad_fraction: float = 0.4
    dropout_bad_fraction: float = 0.01
    ransac_correlation_min: float = 0.75
    ransac_bad_fraction: float = 0.4
    amplitude_spread: float | None = None
    noisiness_spread: float | None = None
    ch_names: tuple[str, ...] | None = None
    channel_log_rel_amplitude: np.ndarray | None = None
    channel_log_rel_amplitude_sd: np.ndarray | None = None
    channel_noisiness: np.ndarray | None = None
    channel_noisiness_sd: np.ndarray | None = None
    channel_low_corr_fraction: np.ndarray | None = None
    ptp_max_uv: float | np.ndarray = 500.0
    jump_max_uv: float | np.ndarray = 150.0
    muscle_max_uv: float | np.ndarray = 15.0
    max_bad_channel_fraction: float = 0.25
    max_artifact_window_fraction: float = 0.5
    calibrated_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (arrays as lists), e.g. to keep in a stream table."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                v = [float(x) if np.isfinite(x) else None for x in v]
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QCThresholds:
        """The inverse of :meth:`to_dict`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise QCInputError(
                f"unknown QC threshold fields {unknown}; expected a subset of {sorted(known)}"
            )
        kw: dict[str, Any] = dict(d)
        for name in _ARRAY_FIELDS:
            if isinstance(kw.get(name), list):
                kw[name] = np.array([np.nan if x is None else x for x in kw[name]], dtype=float)
        if isinstance(kw.get("ch_names"), list):
            kw["ch_names"] = tuple(kw["ch_names"])
        return cls(**kw)


_ARRAY_FIELDS: tuple[str, ...] = (
    "channel_log_rel_amplitude", "channel_log_rel_amplitude_sd", "channel_noisiness",
    "channel_noisiness_sd", "channel_low_corr_fraction", "ptp_max_uv", "jump_max_uv",
    "muscle_max_uv",
)  # fmt: skip
_LOG_REL_AMPLITUDE_SD_FLOOR = 0.1  # a change by e**(5 * 0.1) = 1.65 times at the least
_LOW_CORR_FRACTION_FLOOR = 0.02
_LOW_CORR_P_VALUE = 0.001  # binomial test of a chunk's low-correlation seconds

# Bounds of calibrated window thresholds: (floor, ceiling, ratio range to the median).
# Floors keep quiet recordings from flagging ordinary activity; ceilings flag whatever is
# past them (e.g. more than 800 uV peak-to-peak) even if the whole calibration was noisy; the
# upper ratio keeps a bimodal measure (frontal channels with and without blinks) from
# stretching the threshold past a large blink.
_WINDOW_BOUNDS: dict[str, tuple[float, float, tuple[float, float]]] = {
    "ptp_max_uv": (100.0, 800.0, (2.5, 4.0)),
    "jump_max_uv": (50.0, 200.0, (5.0, 8.0)),
    "muscle_max_uv": (3.0, 20.0, (3.0, 5.0)),
}
_WINDOW_Z = 5.0  # robust z of the log measure over windows
_AMPLITUDE_SPREAD_FLOOR = 0.10
# Mains noise of 0.5-3 uV differs from channel to channel and moves the noisiness of clean
# channels by +-0.1: the floor (0.05, or 15 % of the median) keeps that from counting.
_NOISINESS_SPREAD_FLOOR = 0.05
_NOISINESS_SPREAD_REL_FLOOR = 0.15


# --------------------------------------------------------------------------------------
# validation and filtering


def _check_sfreq(sfreq_hz: float) -> None:
    if not np.isfinite(sfreq_hz) or sfreq_hz < _MIN_SFREQ_HZ:
        raise WrongSamplingRate(
            f"quality control needs at least {_MIN_SFREQ_HZ:.0f} Hz (its filters reach "
            f"{_LOWPASS_HZ:.0f} Hz), got {sfreq_hz} Hz; resample to 256 Hz first"
        )


def _check_names(ch_names: Sequence[str], n_channels: int) -> list[str]:
    names = list(ch_names)
    if len(names) != n_channels:
        raise QCInputError(
            f"{n_channels} channels in the data but {len(names)} channel names; "
            "pass one name per row, in order"
        )
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        raise QCInputError(f"duplicated channel names {dup}; every channel needs its own name")
    return names


def _check_batch(batch: WindowBatch) -> list[str]:
    _check_sfreq(batch.sfreq_hz)
    names = _check_names(batch.ch_names, batch.data_uv.shape[1])
    if batch.n_windows == 0 or batch.data_uv.shape[2] < int(_SEGMENT_S * batch.sfreq_hz):
        raise RecordingTooShort(
            f"quality control needs at least one window of {_SEGMENT_S:.0f} s or more, got "
            f"{batch.n_windows} windows of {batch.data_uv.shape[2]} samples"
        )
    check_finite(batch.data_uv, names, "the windows given to quality control")
    return names


@lru_cache(maxsize=16)
def _filter_gains(n: int, sfreq_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Zero-phase gains on the ``rfft`` grid of ``n`` samples: the squared magnitude of a
    Butterworth high-pass (1 Hz, order 4) and low-pass (45 Hz, order 8), i.e. the response
    of those filters applied forwards and backwards (``filtfilt``)."""
    f = np.fft.rfftfreq(n, 1.0 / sfreq_hz)
    with np.errstate(divide="ignore"):
        hp = 1.0 / (1.0 + (_HIGHPASS_HZ / f) ** 8)
    lp = 1.0 / (1.0 + (f / _LOWPASS_HZ) ** 16)
    return hp.astype(np.float32), (hp * lp).astype(np.float32)


def _highpass_lowpass(x_uv: np.ndarray, sfreq_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Detrended (>1 Hz) and band-passed (1-45 Hz) copies along the last axis, float32.

    Filtering in the frequency domain costs one FFT for both outputs (about 20 times faster
    than ``sosfiltfilt`` on a 20-minute recording); the linear detrend first keeps the
    circular wrap-around from adding an edge step.
    """
    n = x_uv.shape[-1]
    x = _detrend(x_uv)
    spec = sp_fft.rfft(x, axis=-1, workers=2)
    g_hp, g_band = _filter_gains(n, float(sfreq_hz))
    detrended = sp_fft.irfft(spec * g_hp, n=n, axis=-1, workers=2)
    band = sp_fft.irfft(spec * g_band, n=n, axis=-1, workers=2)
    return detrended.astype(np.float32, copy=False), band.astype(np.float32, copy=False)


def _segments(x: np.ndarray, seg_len: int) -> np.ndarray:
    """``(..., n_ch, n)`` -> ``(n_seg, n_ch, seg_len)``, consecutive, the remainder dropped.

    A leading window axis is kept apart so that no segment straddles two windows.
    """
    if x.ndim == 2:
        x = x[None]
    n_w, n_ch, n = x.shape
    k = n // seg_len
    y = x[:, :, : k * seg_len].reshape(n_w, n_ch, k, seg_len)
    return y.transpose(0, 2, 1, 3).reshape(n_w * k, n_ch, seg_len)


def _detrend(x_uv: np.ndarray) -> np.ndarray:
    """Remove each row's least-squares line along the last axis (float32; closed form, much
    faster than ``scipy.signal.detrend`` on many short rows)."""
    x = np.asarray(x_uv, dtype=np.float32)
    n = x.shape[-1]
    t = np.arange(n, dtype=np.float32) - (n - 1) / 2.0
    mean = x.mean(axis=-1, keepdims=True)
    slope = (x @ t)[..., None] / float(t @ t) if n > 1 else 0.0
    return x - mean - slope * t


def _thin(x: np.ndarray, max_samples: int = 65536) -> np.ndarray:
    """Every k-th sample of each row, at most about ``max_samples``: robust statistics of a
    20-minute channel (307 200 samples) need not sort all of them."""
    step = max(1, x.shape[-1] // max_samples)
    return x[..., ::step]


def _mad(x: np.ndarray, axis: int = -1) -> np.ndarray:
    med = np.median(x, axis=axis, keepdims=True)
    return np.median(np.abs(x - med), axis=axis)


def _robust_z(values: np.ndarray, spread: float) -> np.ndarray:
    return (values - np.median(values)) / spread


# --------------------------------------------------------------------------------------
# electrode positions and spherical-spline interpolation


def montage_origin_m() -> np.ndarray:
    """The head-sphere origin (m, head frame) the spline interpolation uses."""
    return head_sphere_origin_m()


def _positions(ch_names: Sequence[str]) -> np.ndarray:
    """``(n_ch, 3)`` positions relative to the sphere origin; NaN rows where unknown."""
    return head_positions_m(ch_names) - head_sphere_origin_m()


def _spline_matrix(pos_from: np.ndarray, pos_to: np.ndarray) -> np.ndarray:
    return spline_interpolation_matrix(pos_from, pos_to)


@lru_cache(maxsize=64)
def _repair_plan(
    ch_names: tuple[str, ...], bad: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """(bad rows, good rows, interpolation matrix, bad channels left as they are)."""
    pos = _positions(ch_names)
    known = np.isfinite(pos).all(axis=1)
    bad_set = set(bad)
    bad_idx = np.array([i for i, c in enumerate(ch_names) if c in bad_set and known[i]], int)
    good_idx = np.array([i for i, c in enumerate(ch_names) if c not in bad_set and known[i]], int)
    unrepaired = tuple(c for i, c in enumerate(ch_names) if c in bad_set and not known[i])
    if bad_idx.size and good_idx.size < 4:
        unrepaired = tuple(c for c in ch_names if c in bad_set)
        return np.zeros(0, int), good_idx, np.zeros((0, good_idx.size)), unrepaired
    matrix = _spline_matrix(pos[good_idx], pos[bad_idx]) if bad_idx.size else np.zeros((0, 0))
    return bad_idx, good_idx, matrix.astype(np.float32), unrepaired


# --------------------------------------------------------------------------------------
# bad channels


@dataclass
class _ChannelEvidence:
    """Per-channel measures of the PREP criteria over one stretch of signal."""

    amplitude_uv: np.ndarray
    std_uv: np.ndarray
    noisiness: np.ndarray
    dropout_fraction: np.ndarray
    low_corr_fraction: np.ndarray
    ransac_bad_fraction: np.ndarray | None
    duration_s: float
    log_rel_amplitude_w: np.ndarray  # (n_windows, n_ch), 4 s windows
    noisiness_w: np.ndarray  # (n_windows, n_ch)


def _segment_correlation(band_seg: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """98th percentile of |r| with the other usable channels, per segment and channel."""
    x = band_seg[:, usable, :].astype(np.float64)
    x = x - x.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    x = np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)
    r = np.abs(np.einsum("sit,sjt->sij", x, x))
    idx = np.arange(r.shape[1])
    r[:, idx, idx] = 0.0  # PREP zeroes the diagonal before taking the percentile
    out = np.ones((band_seg.shape[0], band_seg.shape[1]))
    # np.quantile's linear interpolation, from a sort of the few values per row (faster)
    srt = np.sort(r, axis=-1)
    pos = 0.98 * (srt.shape[-1] - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, srt.shape[-1] - 1)
    out[:, usable] = srt[..., lo] + (pos - lo) * (srt[..., hi] - srt[..., lo])
    return out


def _ransac_bad_fraction(
    band_win: np.ndarray,
    names: Sequence[str],
    predictors: np.ndarray,
    thresholds: QCThresholds,
    seed: int,
) -> np.ndarray | None:
    """Fraction of windows where each channel's RANSAC prediction correlates under the limit.

    ``band_win`` is ``(n_windows, n_ch, n_samples)``; ``predictors`` marks the channels
    allowed to predict (good by the other criteria). Returns ``None`` where the montage does
    not allow RANSAC (fewer than 32 positioned channels, see ``_RANSAC_MIN_CHANNELS``; too
    few good ones).
    """
    pos = _positions(names)
    known = np.isfinite(pos).all(axis=1)
    assessed = np.flatnonzero(known)
    n_pred = int(np.around(_RANSAC_SAMPLE_FRACTION * assessed.size))
    good = np.flatnonzero(known & predictors)
    if assessed.size < _RANSAC_MIN_CHANNELS or good.size < n_pred + 1 or band_win.shape[0] == 0:
        return None
    rng = np.random.default_rng(seed)
    mats = np.zeros((_RANSAC_SUBSETS, assessed.size, good.size), dtype=np.float32)
    for s in range(_RANSAC_SUBSETS):
        pick = np.sort(rng.choice(good.size, n_pred, replace=False))
        mats[s][:, pick] = _spline_matrix(pos[good[pick]], pos[assessed])
    if band_win.shape[0] > _RANSAC_MAX_WINDOWS:
        sel = np.unique(
            np.linspace(0, band_win.shape[0] - 1, _RANSAC_MAX_WINDOWS).round().astype(int)
        )
        band_win = band_win[sel]
    corr = np.empty((band_win.shape[0], assessed.size))
    # All subsets' predictions in one BLAS product, laid out (time, channel, subset) so that
    # the median runs along contiguous memory.
    flat_mats = np.ascontiguousarray(mats.transpose(1, 0, 2).reshape(-1, good.size).T)
    # The 1-45 Hz band needs no more than 128 Hz: correlate every 2nd sample (half the work).
    band_win = band_win[..., ::2]
    for start in range(0, band_win.shape[0], 4):  # bounded memory: 4 windows at a time
        chunk = band_win[start : start + 4]
        n_w, _, n_t = chunk.shape
        src = np.ascontiguousarray(chunk[:, good, :].transpose(0, 2, 1)).reshape(-1, good.size)
        pred_all = (src @ flat_mats).reshape(n_w, n_t, assessed.size, _RANSAC_SUBSETS)
        pred = np.median(pred_all, axis=-1).transpose(0, 2, 1)
        act = chunk[:, assessed, :]
        act = act - act.mean(axis=-1, keepdims=True)
        pred = pred - pred.mean(axis=-1, keepdims=True)
        den = np.linalg.norm(act, axis=-1) * np.linalg.norm(pred, axis=-1)
        num = np.sum(act * pred, axis=-1)
        corr[start : start + chunk.shape[0]] = np.divide(
            num, den, out=np.zeros_like(num), where=den > 0
        )
    frac = np.zeros(len(names))
    frac[assessed] = np.mean(corr < thresholds.ransac_correlation_min, axis=0)
    return frac


def _evidence(
    detrended: np.ndarray,
    band: np.ndarray,
    sfreq_hz: float,
    names: Sequence[str],
    thresholds: QCThresholds,
    *,
    ransac: bool,
    seed: int,
) -> tuple[_ChannelEvidence, dict[str, list[str]]]:
    """Measures and verdicts from detrended and band-passed windows ``(n_w, n_ch, n)``."""
    n_ch = detrended.shape[1]
    flat_ch = np.swapaxes(detrended, 0, 1).reshape(n_ch, -1)
    band_ch = np.swapaxes(band, 0, 1).reshape(n_ch, -1)
    std = flat_ch.std(axis=1)
    flat_thin, band_thin = _thin(flat_ch), _thin(band_ch)
    q25, q75 = np.percentile(flat_thin, [25, 75], axis=1)
    amplitude = (q75 - q25) * _IQR_TO_SD
    band_mad = _mad(band_thin)
    noisiness = np.divide(
        _mad(flat_thin - band_thin), band_mad, out=np.zeros(n_ch), where=band_mad > 0
    )
    seg_len = round(_SEGMENT_S * sfreq_hz)
    band_seg = _segments(band, seg_len)
    seg_amp = _mad(band_seg[..., ::4]) * _MAD_TO_SD  # every 4th sample: robust enough, 4x faster
    seg_flat = seg_amp < thresholds.flat_uv
    dropout_fraction = seg_flat.mean(axis=0)

    reasons: dict[str, list[str]] = {c: [] for c in names}
    flat = (amplitude < thresholds.flat_uv) | (std < thresholds.flat_uv)
    dropout = ~flat & (dropout_fraction > thresholds.dropout_bad_fraction)
    usable = ~flat
    deviation = np.zeros(n_ch, bool)
    hf = np.zeros(n_ch, bool)
    low_corr = np.zeros(n_ch, bool)
    corr_frac = np.zeros(n_ch)
    low = np.zeros_like(seg_flat)
    if usable.sum() >= 3:
        amp_u = amplitude[usable]
        med = float(np.median(amp_u))
        spread = thresholds.amplitude_spread
        if spread is None:
            q = np.percentile(amp_u, [25, 75])
            spread = float((q[1] - q[0]) * _IQR_TO_SD) / max(med, 1e-12)
        spread = max(spread, _AMPLITUDE_SPREAD_FLOOR) * med
        deviation[usable] = np.abs(_robust_z(amp_u, spread)) > thresholds.deviation_z
        noi_u = noisiness[usable]
        nspread = thresholds.noisiness_spread
        if nspread is None:
            nspread = float(_mad(noi_u) * _MAD_TO_SD)
        nfloor = max(_NOISINESS_SPREAD_FLOOR, _NOISINESS_SPREAD_REL_FLOOR * float(np.median(noi_u)))
        nspread = max(nspread, nfloor)
        hf[usable] = _robust_z(noi_u, nspread) > thresholds.hf_noise_z
        # Flat stretches say nothing about correlation: count them as dropout only.
        max_corr = _segment_correlation(band_seg, usable)
        low = (max_corr < thresholds.correlation_min) & ~seg_flat
        corr_frac = low.mean(axis=0)
        # A few seconds of low correlation say little (a stream's first windows): require
        # enough segments before calling a channel uncorrelated.
        enough = low.shape[0] >= _MIN_CORRELATION_SEGMENTS
        low_corr = usable & (corr_frac > thresholds.correlation_bad_fraction) & enough
    win = _as_windows(detrended, band, sfreq_hz)
    lra_w, noi_w = _window_amplitude_noisiness(*win, usable)
    if thresholds.channel_log_rel_amplitude is not None and usable.sum() >= 3:
        own = _own_baseline_verdicts(lra_w, noi_w, low, ~seg_flat, thresholds)
        known = np.isfinite(thresholds.channel_log_rel_amplitude) & usable
        # Channels good at calibration are judged against their own baseline (a chunk is
        # too short for cross-channel statistics); the others as across channels above.
        deviation[known], hf[known], low_corr[known] = (m[known] for m in own)
    ransac_frac = None
    ransac_bad = np.zeros(n_ch, bool)
    # RANSAC reads the same 4 s windows, when they hold a whole 4 s.
    band_win = win[1]
    if ransac and usable.sum() >= 3 and band_win.shape[2] >= round(_RANSAC_WINDOW_S * sfreq_hz):
        predictors = usable & ~(dropout | deviation | hf | low_corr)
        ransac_frac = _ransac_bad_fraction(band_win, names, predictors, thresholds, seed)
        if ransac_frac is not None:
            ransac_bad = usable & (ransac_frac > thresholds.ransac_bad_fraction)
    for label, mask in zip(
        BAD_CHANNEL_REASONS, (flat, dropout, deviation, hf, low_corr, ransac_bad), strict=True
    ):
        for i in np.flatnonzero(mask):
            reasons[names[i]].append(label)
    ev = _ChannelEvidence(
        amplitude_uv=amplitude,
        std_uv=std,
        noisiness=noisiness,
        dropout_fraction=dropout_fraction,
        low_corr_fraction=corr_frac,
        ransac_bad_fraction=ransac_frac,
        duration_s=detrended.shape[0] * detrended.shape[2] / sfreq_hz,
        log_rel_amplitude_w=lra_w,
        noisiness_w=noi_w,
    )
    return ev, reasons


def _as_windows(
    detrended: np.ndarray, band: np.ndarray, sfreq_hz: float
) -> tuple[np.ndarray, np.ndarray]:
    """Windows as given, or consecutive 4 s windows of a continuous ``(1, n_ch, n)``."""
    win_len = round(_RANSAC_WINDOW_S * sfreq_hz)
    if detrended.shape[0] == 1 and detrended.shape[2] >= 2 * win_len:
        return _segments(detrended, win_len), _segments(band, win_len)
    return detrended, band


def _window_amplitude_noisiness(
    detrended: np.ndarray, band: np.ndarray, usable: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per window and channel: log amplitude relative to the window's median usable channel,
    and noisiness (the PREP measures, on every 4th sample)."""
    d, b = detrended[..., ::4], band[..., ::4]
    q = np.percentile(d, [25, 75], axis=-1)
    amp = np.maximum((q[1] - q[0]) * _IQR_TO_SD, 1e-6)
    log_amp = np.log(amp)
    ref = usable if usable.any() else np.ones_like(usable)
    lra = log_amp - np.median(log_amp[:, ref], axis=1, keepdims=True)
    bmad = _mad(b)
    noi = np.divide(_mad(d - b), bmad, out=np.zeros_like(bmad), where=bmad > 0)
    return lra, noi


def _own_baseline_verdicts(
    lra_w: np.ndarray,
    noi_w: np.ndarray,
    low_seg: np.ndarray,
    valid_seg: np.ndarray,
    thr: QCThresholds,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deviation, HF noise and low correlation of each channel against its calibration.

    Amplitude and noisiness: the chunk's median over windows, as a z-score against the
    channel's calibrated median and spread over windows. Correlation: more low-correlation
    seconds than the channel's calibrated rate explains (one-sided binomial test, p < 0.001),
    and more than ``correlation_bad_fraction`` of them.
    """
    from scipy.stats import binom

    z_amp = (np.median(lra_w, axis=0) - thr.channel_log_rel_amplitude) / np.maximum(
        thr.channel_log_rel_amplitude_sd, _LOG_REL_AMPLITUDE_SD_FLOOR
    )
    z_noi = (np.median(noi_w, axis=0) - thr.channel_noisiness) / thr.channel_noisiness_sd
    k = (low_seg & valid_seg).sum(axis=0)
    n = np.maximum(valid_seg.sum(axis=0), 1)
    p0 = np.nan_to_num(thr.channel_low_corr_fraction, nan=_LOW_CORR_FRACTION_FLOOR)
    p_value = binom.sf(k - 1, n, np.clip(p0, _LOW_CORR_FRACTION_FLOOR, 1.0))
    low = (k / n > thr.correlation_bad_fraction) & (p_value < _LOW_CORR_P_VALUE)
    with np.errstate(invalid="ignore"):
        return np.abs(z_amp) > thr.deviation_z, z_noi > thr.hf_noise_z, low


def _as_reason_dict(reasons: dict[str, list[str]]) -> dict[str, str]:
    return {c: "+".join(r) for c, r in reasons.items() if r}


def detect_bad_channels(
    data_uv: np.ndarray,
    sfreq_hz: float,
    ch_names: Sequence[str],
    *,
    ransac: bool = True,
    seed: int = 0,
    thresholds: QCThresholds | None = None,
) -> dict[str, str]:
    """Find bad channels of a continuous recording with the PREP criteria.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        The signal in microvolts.
    sfreq_hz : float
        Its sampling rate (at least 100 Hz; 256 Hz in the pipeline).
    ch_names : sequence of str
        One standard 10-20/10-10 name per row (positions for RANSAC and repair).
    ransac : bool
        Also run the RANSAC criterion where the montage allows it (at least 32 channels
        with standard_1020 positions).
    seed : int
        Seed of RANSAC's random channel subsets.
    thresholds : QCThresholds, optional
        Limits and, once calibrated, the cross-channel spreads of a stream's first minutes.

    Returns
    -------
    dict of str to str
        Bad channel -> reason(s) (see the module docstring), in channel order.

    Raises
    ------
    QCInputError
        Not 2-D, or channel names that do not match the rows.
    WrongSamplingRate
        Under 100 Hz.
    RecordingTooShort
        Shorter than 1 s.
    NonFiniteSamples
        NaN or infinite samples.
    """
    data_uv = np.asarray(data_uv)
    if data_uv.ndim != 2:
        raise QCInputError(
            f"data_uv must be (channels, samples), got shape {data_uv.shape}; for windows "
            "use assess_quality(WindowBatch)"
        )
    _check_sfreq(sfreq_hz)
    names = _check_names(ch_names, data_uv.shape[0])
    if data_uv.shape[1] < int(_SEGMENT_S * sfreq_hz):
        raise RecordingTooShort(
            f"bad-channel detection needs at least {_SEGMENT_S:.0f} s, got "
            f"{data_uv.shape[1] / sfreq_hz:.2f} s"
        )
    check_finite(data_uv, names, "the signal given to quality control")
    detrended, band = _highpass_lowpass(data_uv, sfreq_hz)
    _, reasons = _evidence(
        detrended[None], band[None], sfreq_hz, names, thresholds or QCThresholds(),
        ransac=ransac, seed=seed,
    )  # fmt: skip
    return _as_reason_dict(reasons)


def _bad_channels_of_batch(
    batch: WindowBatch, thresholds: QCThresholds, *, ransac: bool, seed: int
) -> tuple[dict[str, str], _ChannelEvidence]:
    detrended, band = _highpass_lowpass(batch.data_uv, batch.sfreq_hz)
    ev, reasons = _evidence(
        detrended, band, batch.sfreq_hz, batch.ch_names, thresholds, ransac=ransac, seed=seed
    )
    return _as_reason_dict(reasons), ev


# --------------------------------------------------------------------------------------
# repair


def repair_windows(batch: WindowBatch, bad_channels: Sequence[str]) -> WindowBatch:
    """Interpolate bad channels from the good ones with spherical splines.

    The interpolation matrix (MNE's formula, Perrin et al. 1989, on standard_1020 positions
    about the fitted head-sphere origin) is computed once per channel set and applied to every
    window with one matrix product. Channels are never dropped: the same names, in the same order,
    come out. A bad channel without a standard position (or with fewer than 4 good
    positioned channels to draw on) is left as it is; :func:`assess_quality` reports it.

    Parameters
    ----------
    batch : WindowBatch
        Windows in microvolts.
    bad_channels : sequence of str
        Channels of ``batch`` to interpolate.

    Returns
    -------
    WindowBatch
        A copy with the bad channels replaced.

    Raises
    ------
    QCInputError
        A bad channel that is not in the batch.
    """
    names = tuple(batch.ch_names)
    unknown = sorted(set(bad_channels) - set(names))
    if unknown:
        raise QCInputError(
            f"bad channels {unknown} are not among the batch's channels {list(names)}"
        )
    bad_idx, good_idx, matrix, _ = _repair_plan(names, tuple(sorted(set(bad_channels))))
    data = np.array(batch.data_uv, dtype=np.float32, copy=True)
    if bad_idx.size:
        data[:, bad_idx, :] = np.matmul(matrix, data[:, good_idx, :])
    return replace(batch, data_uv=data, ch_names=list(names))


def unrepairable_channels(ch_names: Sequence[str], bad_channels: Sequence[str]) -> list[str]:
    """The bad channels :func:`repair_windows` leaves as they are (no position to use)."""
    return list(_repair_plan(tuple(ch_names), tuple(sorted(set(bad_channels))))[3])


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


# --------------------------------------------------------------------------------------
# AutoReject


def autoreject_windows(
    batch: WindowBatch,
    *,
    seed: int = 0,
    n_interpolate: Sequence[int] = (1, 2, 4),
    consensus: Sequence[float] = (0.2, 0.4, 0.6),
    cv: int = 3,
) -> tuple[WindowBatch, np.ndarray, np.ndarray]:
    """Repair local artifacts per window with AutoReject (Jas et al. 2017).

    AutoReject learns a peak-to-peak threshold per channel, then per window interpolates the
    channels above theirs (at most ``n_interpolate``) and marks as beyond repair the windows
    where more than ``consensus`` of the channels are above. Grids are kept small and
    ``cv=3`` so that it runs on a few dozen windows; it is still slow (10-14 s on 300
    windows of 19 channels on this 2-core machine, against under 1 s for the rest of QC),
    hence optional.

    Parameters
    ----------
    batch : WindowBatch
        Windows in microvolts, best with bad channels already interpolated.
    seed : int
        Random state of AutoReject's threshold search and folds.
    n_interpolate, consensus : sequence
        The grids AutoReject cross-validates.
    cv : int
        Number of folds; the batch needs at least ``cv`` windows.

    Returns
    -------
    repaired : WindowBatch
        Same windows and channels; repaired windows hold AutoReject's interpolation, windows
        beyond repair are returned unchanged.
    beyond_repair : ndarray of bool, shape (n_windows,)
    interpolated : ndarray of bool, shape (n_windows, n_channels)
        Channels AutoReject interpolated in each window.

    Raises
    ------
    QCInputError
        Fewer than ``cv`` windows or fewer than 4 channels with standard positions.
    """
    from autoreject import AutoReject

    names = _check_batch(batch)
    if batch.n_windows < max(cv, 2):
        raise QCInputError(
            f"AutoReject needs at least {max(cv, 2)} windows for {cv}-fold cross-validation, "
            f"got {batch.n_windows}; run it on a longer stretch"
        )
    pos = _positions(names)
    picks = np.flatnonzero(np.isfinite(pos).all(axis=1))
    if picks.size < 4:
        raise QCInputError(
            f"AutoReject interpolates from electrode positions; only {picks.size} of the "
            f"channels {names} have standard_1020 positions (at least 4 needed)"
        )
    origin = head_sphere_origin_m()
    montage = mne.channels.make_dig_montage(
        ch_pos={names[i]: pos[i] + origin for i in picks}, coord_frame="head"
    )
    info = mne.create_info(names, batch.sfreq_hz, "eeg")
    epochs = mne.EpochsArray(batch.data_uv.astype(np.float64) * 1e-6, info, verbose="error")
    epochs.set_montage(montage, on_missing="ignore", verbose="error")
    grid = np.array([k for k in n_interpolate if 0 < k < picks.size], dtype=int)
    ar = AutoReject(
        n_interpolate=grid if grid.size else np.array([1]),
        consensus=np.asarray(consensus, dtype=float),
        cv=cv,
        picks=picks,
        random_state=seed,
        n_jobs=1,
        verbose=False,
    )
    with warnings.catch_warnings(), mne.utils.use_log_level("error"):
        warnings.simplefilter("ignore")
        ar.fit(epochs)
        log = ar.get_reject_log(epochs)
        clean = ar.transform(epochs, reject_log=log)
    data = np.array(batch.data_uv, dtype=np.float32, copy=True)
    kept = np.asarray(clean.selection, dtype=int)
    data[kept] = (clean.get_data() * 1e6).astype(np.float32)
    beyond = np.asarray(log.bad_epochs, dtype=bool)
    interpolated = np.nan_to_num(log.labels, nan=0.0) == 2
    return replace(batch, data_uv=data, ch_names=list(names)), beyond, interpolated


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


#: Share of the channels flat or dropping out together that makes a global suppression.
GLOBAL_SUPPRESSION_SHARE = 0.75


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

    Returns
    -------
    QualityResult
    """
    import time

    t0 = time.perf_counter()
    names = _check_batch(batch)
    base = thresholds or QCThresholds()
    _check_threshold_channels(base, names)
    if continuous_uv is not None:
        bads = detect_bad_channels(
            continuous_uv, batch.sfreq_hz, names, ransac=ransac, seed=seed, thresholds=base
        )
    else:
        bads, _ = _bad_channels_of_batch(batch, base, ransac=ransac, seed=seed)
    signal_uv = continuous_uv if continuous_uv is not None else batch.data_uv
    peak_uv = _peak_uv(signal_uv)
    suppressed = _globally_suppressed(bads, names, peak_uv)
    if suppressed:  # the whole head quiet at once, with bursts: the brain, not the electrodes
        bads = {c: r for c, r in bads.items() if not r.startswith(("flat", "dropout"))}
    repaired = repair_windows(batch, list(bads))
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
    score, ok, why = _verdict(len(bads), len(names), int(flags.sum()), batch.n_windows, base)
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


def assess_window_stream(
    batch: WindowBatch, thresholds: QCThresholds, *, ransac: bool = True, seed: int = 0
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

    Returns
    -------
    QualityResult
        For the chunk.

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
    return assess_quality(batch, thresholds=thresholds, ransac=ransac, seed=seed)


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

    @property
    def calibrated(self) -> bool:
        return self.thresholds is not None

    def push(self, batch: WindowBatch) -> StreamWindowQuality:
        """Judge the new windows of ``batch`` (in stream order)."""
        self._context.append(batch)
        context = WindowBatch.concat(self._context)
        if self.thresholds is None:
            qc = assess_quality(context, seed=self.seed)
            if context.n_windows >= self.calibration_windows:
                self.thresholds = calibrate_thresholds(context, seed=self.seed)
        else:
            qc = assess_window_stream(context, self.thresholds, seed=self.seed)
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
