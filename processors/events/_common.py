"""Shared helpers of the event detectors: input checks, filters, geometry, running baselines."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy import ndimage, signal

from processors.errors import InvalidSignalError, NonFiniteSamples, WrongSamplingRate
from processors.geometry import MIN_SFREQ_HZ, hemisphere_sides, neighbour_matrix, positions_m

# The head (positions, neighbours, sides) and the minimum rate are processors.geometry's.
__all__ = ["MIN_SFREQ_HZ", "hemisphere_sides", "neighbour_matrix", "positions_m"]


def check_signal(data_uv: np.ndarray, sfreq_hz: float, ch_names: Sequence[str]) -> np.ndarray:
    """Validate a detector's input and return it as a float64 (channels, samples) array.

    Raises
    ------
    InvalidSignalError
        Not two-dimensional, or a channel count that differs from ``ch_names``.
    WrongSamplingRate
        A rate under 100 Hz.
    NonFiniteSamples
        NaN or infinite samples.
    """
    x = np.asarray(data_uv, dtype=float)
    if x.ndim != 2:
        raise InvalidSignalError(
            f"data_uv must be (n_channels, n_samples) in microvolts, got shape {x.shape}; "
            "pass a 2-D array (e.g. raw.get_data() * 1e6)"
        )
    if x.shape[0] != len(ch_names):
        raise InvalidSignalError(
            f"data_uv has {x.shape[0]} channels but ch_names lists {len(ch_names)}; "
            "give one name per row"
        )
    if not (np.isfinite(sfreq_hz) and sfreq_hz >= MIN_SFREQ_HZ):
        raise WrongSamplingRate(
            f"event detection needs a sampling rate of at least {MIN_SFREQ_HZ:.0f} Hz, got "
            f"{sfreq_hz}; resample the recording to 256 Hz first"
        )
    if not np.all(np.isfinite(x)):
        bad = [ch_names[i] for i in np.flatnonzero(~np.isfinite(x).all(axis=1))]
        raise NonFiniteSamples(
            f"NaN or infinite samples on {bad}; interpolate or drop them before event detection"
        )
    return x


@lru_cache(maxsize=32)
def _sos(lo_hz: float | None, hi_hz: float | None, sfreq_hz: float, order: int) -> np.ndarray:
    nyq = sfreq_hz / 2.0
    hi_hz = None if hi_hz is None else min(hi_hz, 0.9 * nyq)
    if lo_hz and hi_hz:
        return signal.butter(order, [lo_hz, hi_hz], btype="bandpass", fs=sfreq_hz, output="sos")
    if lo_hz:
        return signal.butter(order, lo_hz, btype="highpass", fs=sfreq_hz, output="sos")
    return signal.butter(order, hi_hz, btype="lowpass", fs=sfreq_hz, output="sos")


def bandpass(
    x: np.ndarray, sfreq_hz: float, lo_hz: float | None, hi_hz: float | None, order: int = 4
) -> np.ndarray:
    """Zero-phase Butterworth band-pass (``sosfiltfilt``), so event timing is not shifted."""
    if x.shape[-1] < 3 * (2 * order + 1):
        return x - x.mean(axis=-1, keepdims=True)
    return signal.sosfiltfilt(_sos(lo_hz, hi_hz, float(sfreq_hz), order), x, axis=-1)


def block_robust_sd(
    x: np.ndarray, sfreq_hz: float, block_s: float = 1.0, span_blocks: int = 9
) -> tuple[np.ndarray, int]:
    """Local background scale per channel and block.

    The median absolute deviation of each block (scaled to a Gaussian standard deviation;
    on every fourth sample, which is plenty for a scale and four times cheaper), then a
    running median over ``span_blocks`` blocks, so that neither a transient nor a train of
    them raises its own background much.

    Returns
    -------
    scale : ndarray, shape (n_channels, n_blocks)
    block : int
        Samples per block; the scale at sample ``i`` is ``scale[:, min(i // block, -1)]``.
    """
    n_ch, n = x.shape
    blk = max(1, min(round(block_s * sfreq_hz), n))
    n_blk = max(1, n // blk)
    y = x[:, : n_blk * blk].reshape(n_ch, n_blk, blk)[:, :, ::4]
    med = np.median(y, axis=2, keepdims=True)
    mad = 1.4826 * np.median(np.abs(y - med), axis=2)
    if n_blk > 1:
        mad = ndimage.median_filter(mad, size=(1, min(span_blocks, n_blk)), mode="nearest")
    return mad, blk


def at_samples(scale: np.ndarray, block: int, idx: np.ndarray) -> np.ndarray:
    """Block-level values (channels x blocks, or one channel's blocks) at sample indices."""
    b = np.minimum(np.asarray(idx) // block, scale.shape[-1] - 1)
    return scale[..., b]


def inside_any(t_s: float, spans: Sequence[tuple[float, float]], pad_s: float = 0.0) -> bool:
    """Whether ``t_s`` lies in one of the (onset_s, offset_s) spans, widened by ``pad_s``."""
    return any(a - pad_s <= t_s <= b + pad_s for a, b in spans)


def runs(mask: np.ndarray) -> np.ndarray:
    """(start, stop) index pairs of the runs of True in a 1-D boolean array."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    return edges.reshape(-1, 2)


def merge_runs(pairs: np.ndarray, max_gap: int) -> np.ndarray:
    """Merge (start, stop) runs separated by at most ``max_gap`` units."""
    if len(pairs) == 0:
        return pairs.reshape(0, 2)
    out = [list(pairs[0])]
    for a, b in pairs[1:]:
        if a - out[-1][1] <= max_gap:
            out[-1][1] = b
        else:
            out.append([a, b])
    return np.array(out)


def flat_channels(x: np.ndarray, threshold_uv: float = 1.0) -> np.ndarray:
    """Channels whose robust scale (over the whole record, on every 4th sample) is under
    ``threshold_uv``: no signal."""
    sub = x[:, ::4]
    med = np.median(sub, axis=1, keepdims=True)
    return 1.4826 * np.median(np.abs(sub - med), axis=1) < threshold_uv


#: A rate (discharges a minute) is reported, and used for triage, only over at least this much
#: analysable signal: one discharge in a 6 s record is a count, not "10 a minute".
MIN_RATE_SPAN_S = 60.0


def rate_per_min(count: int, analysable_s: float) -> float | None:
    """``count`` per minute of ``analysable_s``, or None under :data:`MIN_RATE_SPAN_S`."""
    if analysable_s < MIN_RATE_SPAN_S:
        return None
    return round(count / (analysable_s / 60.0), 3)
