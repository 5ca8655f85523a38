"""Bad channels in the manner of PREP: flat, dropout, deviation, high-frequency noise, low
correlation with the neighbours' prediction, RANSAC."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from processors.errors import QCInputError, RecordingTooShort
from processors.geometry import (
    head_positions_m,
    head_sphere_origin_m,
    spline_interpolation_matrix,
)
from processors.io import check_finite
from processors.quality.thresholds import (
    _AMPLITUDE_SPREAD_FLOOR,
    _IQR_TO_SD,
    _LOG_REL_AMPLITUDE_SD_FLOOR,
    _LOW_CORR_FRACTION_FLOOR,
    _LOW_CORR_P_VALUE,
    _MAD_TO_SD,
    _MIN_CORRELATION_SEGMENTS,
    _NOISINESS_SPREAD_FLOOR,
    _NOISINESS_SPREAD_REL_FLOOR,
    _RANSAC_MAX_WINDOWS,
    _RANSAC_MIN_CHANNELS,
    _RANSAC_SAMPLE_FRACTION,
    _RANSAC_SUBSETS,
    _RANSAC_WINDOW_S,
    _SEGMENT_S,
    BAD_CHANNEL_REASONS,
    QCThresholds,
    _check_names,
    _check_sfreq,
    _highpass_lowpass,
    _mad,
    _robust_z,
    _segments,
    _thin,
)
from processors.types import WindowBatch

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


@dataclass
class _WindowParts:
    """The bad-channel measures that each 4 s window gives on its own (given the usable
    channels): per 1 s segment, amplitude and best correlation with the other channels; per
    window, relative log amplitude and noisiness. Rows follow the windows given."""

    seg_amp_uv: np.ndarray  # (n_segments, n_ch)
    max_corr: np.ndarray | None  # (n_segments, n_ch); None with fewer than 3 usable channels
    log_rel_amplitude_w: np.ndarray  # (n_windows, n_ch)
    noisiness_w: np.ndarray  # (n_windows, n_ch)


def _window_parts(
    detrended: np.ndarray, band: np.ndarray, sfreq_hz: float, usable: np.ndarray
) -> _WindowParts:
    band_seg = _segments(band, round(_SEGMENT_S * sfreq_hz))
    seg_amp = _mad(band_seg[..., ::4]) * _MAD_TO_SD  # every 4th sample: robust enough, 4x faster
    max_corr = _segment_correlation(band_seg, usable) if usable.sum() >= 3 else None
    lra_w, noi_w = _window_amplitude_noisiness(*_as_windows(detrended, band, sfreq_hz), usable)
    return _WindowParts(seg_amp, max_corr, lra_w, noi_w)


class WindowEvidenceCache:
    """The per-window parts of a stream's bad-channel evidence, kept between verdicts.

    A live stream judges each new window on the minute of windows before it: their parts
    (:class:`_WindowParts`) were measured at the previous verdicts and are the same as long
    as the usable channels are, so only the new window's are computed (about 9 ms of 12 for
    a 15-window context of 19 channels). Windows are known by their stream index.
    """

    def __init__(self) -> None:
        self._parts: dict[int, tuple[bytes, _WindowParts]] = {}

    def parts(
        self,
        index: np.ndarray,
        detrended: np.ndarray,
        band: np.ndarray,
        sfreq_hz: float,
        usable: np.ndarray,
    ) -> _WindowParts:
        """The parts of windows ``index`` (``detrended``/``band``: their filtered samples,
        ``(n_windows, n_ch, n)``), measured anew only where not kept for these usable
        channels; windows not in ``index`` are forgotten."""
        key = usable.tobytes()
        ids = [int(i) for i in index]
        missing = [k for k, w in enumerate(ids) if self._parts.get(w, (b"",))[0] != key]
        if missing:
            fresh = _window_parts(detrended[missing], band[missing], sfreq_hz, usable)
            n_seg = fresh.seg_amp_uv.shape[0] // len(missing)
            for j, k in enumerate(missing):
                rows = slice(j * n_seg, (j + 1) * n_seg)
                self._parts[ids[k]] = (
                    key,
                    _WindowParts(
                        fresh.seg_amp_uv[rows],
                        None if fresh.max_corr is None else fresh.max_corr[rows],
                        fresh.log_rel_amplitude_w[j : j + 1],
                        fresh.noisiness_w[j : j + 1],
                    ),
                )
        self._parts = {w: self._parts[w] for w in ids}
        kept = [self._parts[w][1] for w in ids]
        corr = [p.max_corr for p in kept]
        return _WindowParts(
            np.concatenate([p.seg_amp_uv for p in kept]),
            None if any(c is None for c in corr) else np.concatenate(corr),  # type: ignore[arg-type]
            np.concatenate([p.log_rel_amplitude_w for p in kept]),
            np.concatenate([p.noisiness_w for p in kept]),
        )


def _evidence(
    detrended: np.ndarray,
    band: np.ndarray,
    sfreq_hz: float,
    names: Sequence[str],
    thresholds: QCThresholds,
    *,
    ransac: bool,
    seed: int,
    max_samples: int | None = None,
    cache: WindowEvidenceCache | None = None,
    window_index: np.ndarray | None = None,
) -> tuple[_ChannelEvidence, dict[str, list[str]]]:
    """Measures and verdicts from detrended and band-passed windows ``(n_w, n_ch, n)``;
    the per-channel robust statistics read at most about ``max_samples`` samples of each
    channel (``thresholds._thin``'s default when None); with a ``cache`` (and the windows'
    ``window_index``), the per-window measures of windows seen before are reused."""
    n_ch = detrended.shape[1]
    flat_ch = np.swapaxes(detrended, 0, 1).reshape(n_ch, -1)
    band_ch = np.swapaxes(band, 0, 1).reshape(n_ch, -1)
    std = flat_ch.std(axis=1)
    cap = {} if max_samples is None else {"max_samples": max_samples}
    flat_thin, band_thin = _thin(flat_ch, **cap), _thin(band_ch, **cap)
    q25, q75 = np.percentile(flat_thin, [25, 75], axis=1)
    amplitude = (q75 - q25) * _IQR_TO_SD
    band_mad = _mad(band_thin)
    noisiness = np.divide(
        _mad(flat_thin - band_thin), band_mad, out=np.zeros(n_ch), where=band_mad > 0
    )
    flat = (amplitude < thresholds.flat_uv) | (std < thresholds.flat_uv)
    usable = ~flat
    if cache is not None and window_index is not None:
        parts = cache.parts(window_index, detrended, band, sfreq_hz, usable)
    else:
        parts = _window_parts(detrended, band, sfreq_hz, usable)
    seg_flat = parts.seg_amp_uv < thresholds.flat_uv
    dropout_fraction = seg_flat.mean(axis=0)

    reasons: dict[str, list[str]] = {c: [] for c in names}
    dropout = ~flat & (dropout_fraction > thresholds.dropout_bad_fraction)
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
        assert parts.max_corr is not None
        low = (parts.max_corr < thresholds.correlation_min) & ~seg_flat
        corr_frac = low.mean(axis=0)
        # A few seconds of low correlation say little (a stream's first windows): require
        # enough segments before calling a channel uncorrelated.
        enough = low.shape[0] >= _MIN_CORRELATION_SEGMENTS
        low_corr = usable & (corr_frac > thresholds.correlation_bad_fraction) & enough
    lra_w, noi_w = parts.log_rel_amplitude_w, parts.noisiness_w
    if thresholds.channel_log_rel_amplitude is not None and usable.sum() >= 3:
        own = _own_baseline_verdicts(lra_w, noi_w, low, ~seg_flat, thresholds)
        known = np.isfinite(thresholds.channel_log_rel_amplitude) & usable
        # Channels good at calibration are judged against their own baseline (a chunk is
        # too short for cross-channel statistics); the others as across channels above.
        deviation[known], hf[known], low_corr[known] = (m[known] for m in own)
    ransac_frac = None
    ransac_bad = np.zeros(n_ch, bool)
    # RANSAC reads the same 4 s windows, when they hold a whole 4 s.
    band_win = _as_windows(detrended, band, sfreq_hz)[1]
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
    batch: WindowBatch,
    thresholds: QCThresholds,
    *,
    ransac: bool,
    seed: int,
    max_samples: int | None = None,
    cache: WindowEvidenceCache | None = None,
) -> tuple[dict[str, str], _ChannelEvidence]:
    detrended, band = _highpass_lowpass(batch.data_uv, batch.sfreq_hz)
    ev, reasons = _evidence(
        detrended,
        band,
        batch.sfreq_hz,
        batch.ch_names,
        thresholds,
        ransac=ransac,
        seed=seed,
        max_samples=max_samples,
        cache=cache,
        window_index=batch.index,
    )
    return _as_reason_dict(reasons), ev
