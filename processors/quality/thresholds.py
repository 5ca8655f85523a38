"""Quality-control thresholds (PREP's criteria and the artifact-window limits), input
checks and the shared filters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import fft as sp_fft

from processors.errors import QCInputError, RecordingTooShort, WrongSamplingRate
from processors.geometry import (
    MIN_SFREQ_HZ,
)
from processors.io import check_finite
from processors.types import WINDOW_S, WindowBatch

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
