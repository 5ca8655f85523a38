"""Quantitative EEG (qEEG) features of analysis windows.

Everything here is vectorised over windows and channels: one Welch spectrum and one analytic
signal are computed for the whole :class:`~processors.types.WindowBatch`, never a Python loop
over windows.

Features per window:

* absolute and relative band powers (delta 1-4, theta 4-8, alpha 8-13, beta 13-30 Hz);
* the slowing ratio (delta + theta) / (alpha + beta), globally and per scalp region;
* the posterior dominant rhythm (PDR): the spectral peak between 6 and 13 Hz over the
  posterior channels, found above a fitted aperiodic (power-law) background;
* hemispheric asymmetry of homologous pairs and the pairwise-derived brain symmetry index;
* suppression: the fraction of the window whose peak-to-peak amplitude is below 10 uV;
* a sharp-transient rate proxy from the nonlinear energy operator.

References
----------
.. [1] Nuwer, M. R. (1988). Quantitative EEG: I. Techniques and problems of frequency analysis
   and topographic mapping. Journal of Clinical Neurophysiology, 5(1), 1-43.
.. [2] Lodder, S. S., & van Putten, M. J. A. M. (2013). Quantification of the adult EEG
   background pattern. Clinical Neurophysiology, 124(2), 228-237.
.. [3] van Putten, M. J. A. M. (2007). The revised brain symmetry index. Clinical
   Neurophysiology, 118(11), 2362-2367.
.. [4] Hirsch, L. J., et al. (2021). American Clinical Neurophysiology Society's Standardized
   Critical Care EEG Terminology: 2021 Version. Journal of Clinical Neurophysiology, 38(1), 1-29.
.. [5] Mukhopadhyay, S., & Ray, G. C. (1998). A new interpretation of nonlinear energy operator
   and its efficacy in spike detection. IEEE Transactions on Biomedical Engineering, 45(2),
   180-187.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sp_fft
from scipy.ndimage import uniform_filter1d
from scipy.signal import get_window, hilbert

from processors.errors import NonFiniteSamples, RecordingTooShort, WrongSamplingRate
from processors.geometry import (
    EYE_PRONE_CHANNELS,
    HOMOLOGOUS_PAIRS,
    POSTERIOR_CHANNELS,
    REGIONS,
    SUPPRESSION_PP_UV,
)
from processors.types import WindowBatch

__all__ = ["EYE_PRONE_CHANNELS", "HOMOLOGOUS_PAIRS", "POSTERIOR_CHANNELS", "REGIONS"]

#: Classic clinical bands in Hz, half-open [low, high) (Nuwer 1988).
BANDS_HZ: dict[str, tuple[float, float]] = {
    "delta": (1.0, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 13.0),
    "beta": (13.0, 30.0),
}

# Regions, eye-prone and posterior channels, homologous pairs: processors.geometry's.
PDR_RANGE_HZ: tuple[float, float] = (6.0, 13.0)
#: A PDR peak must rise at least this far above the aperiodic fit (log10 units: 0.25 = x1.8),
#: after the excess is averaged over 1 Hz.
PDR_MIN_PROMINENCE_LOG10: float = 0.25
PDR_SMOOTHING_HZ: float = 1.0
#: Suppression threshold (ACNS 2021: suppression is activity below 10 uV). Clinical amplitude
#: is peak-to-peak voltage, twice the analytic envelope of a rhythm, so samples count as
#: suppressed where 2 x envelope (the local peak-to-peak amplitude) is below 10 uV.
SUPPRESSION_THRESHOLD_UV: float = SUPPRESSION_PP_UV
#: The envelope is smoothed over this span so that zero crossings of a slow wave do not
#: count as suppression.
ENVELOPE_SMOOTHING_S: float = 0.25
#: Nonlinear energy threshold, in multiples of the channel's median energy in the window.
NEO_THRESHOLD_FACTOR: float = 25.0

_BAND_TOTAL_HZ: tuple[float, float] = (1.0, 30.0)
_APERIODIC_FIT_HZ: tuple[float, float] = (2.0, 30.0)
_EPS = 1e-12
#: FFT threads: the project runs on 2 cores.
_FFT_WORKERS = 2


def _check_batch(batch: WindowBatch) -> None:
    """Refuse batches the spectral features cannot be computed on."""
    if batch.sfreq_hz <= 2 * _BAND_TOTAL_HZ[1]:
        raise WrongSamplingRate(
            f"qEEG features need a sampling rate above {2 * _BAND_TOTAL_HZ[1]:.0f} Hz to measure "
            f"the beta band up to {_BAND_TOTAL_HZ[1]:.0f} Hz, got {batch.sfreq_hz} Hz; resample "
            "the recording to 256 Hz first (processors preprocessing does this)."
        )
    if batch.data_uv.shape[2] < batch.sfreq_hz:
        raise RecordingTooShort(
            f"qEEG windows must last at least 1 s for a 1 Hz spectral resolution, got "
            f"{batch.data_uv.shape[2]} samples at {batch.sfreq_hz} Hz; use 4 s windows."
        )
    if batch.n_windows == 0:
        raise RecordingTooShort("the window batch is empty: there is nothing to measure.")
    if not np.isfinite(batch.data_uv).all():
        raise NonFiniteSamples(
            "the window batch holds NaN or infinite samples; reject or repair those windows "
            "(quality control) before computing qEEG features."
        )


def window_psd(batch: WindowBatch) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density of every window and channel, in one call.

    Segments of 2 s (half the default window) with 50 % overlap, a Hann taper and zero
    padding to 0.25 Hz bins.

    Parameters
    ----------
    batch : WindowBatch
        Windows in microvolts.

    Returns
    -------
    freqs_hz : np.ndarray, shape (n_freqs,)
    psd_uv2_per_hz : np.ndarray, shape (n_windows, n_channels, n_freqs)
    """
    _check_batch(batch)
    sf = float(batch.sfreq_hz)
    x = np.asarray(batch.data_uv, dtype=np.float32)
    nperseg = min(x.shape[-1], round(2 * sf))
    nfft = max(nperseg, int(2 ** math.ceil(math.log2(4 * sf))))
    hop = max(1, nperseg // 2)
    # Welch by hand over a strided view: scipy.signal.welch does the same arithmetic but is
    # slower on (windows, channels, samples) stacks, and this keeps float32 until the end.
    segments = sliding_window_view(x, nperseg, axis=-1)[..., ::hop, :]
    segments = segments - segments.mean(axis=-1, keepdims=True)
    taper = get_window("hann", nperseg).astype(np.float32)
    spectrum = sp_fft.rfft(segments * taper, n=nfft, axis=-1, workers=_FFT_WORKERS)
    psd = (spectrum.real**2 + spectrum.imag**2).mean(axis=-2).astype(np.float64)
    psd /= sf * float(np.sum(taper.astype(np.float64) ** 2))
    # One-sided density: double every bin but DC (and Nyquist for an even nfft).
    psd[..., 1 : nfft // 2 + (nfft % 2)] *= 2.0
    return np.fft.rfftfreq(nfft, 1.0 / sf), psd


def _band_integral(freqs_hz: np.ndarray, psd: np.ndarray, lo_hz: float, hi_hz: float) -> np.ndarray:
    """Integrate the PSD over the half-open band [lo, hi) (rectangle rule, so that adjacent
    bands add up exactly)."""
    df = freqs_hz[1] - freqs_hz[0]
    mask = (freqs_hz >= lo_hz) & (freqs_hz < hi_hz)
    return psd[..., mask].sum(axis=-1) * df


def band_powers_from_psd(freqs_hz: np.ndarray, psd: np.ndarray) -> dict[str, np.ndarray]:
    """Absolute and relative band powers from a PSD (see :func:`band_powers`)."""
    out: dict[str, np.ndarray] = {}
    for name, (lo, hi) in BANDS_HZ.items():
        out[f"{name}_abs_uv2"] = _band_integral(freqs_hz, psd, lo, hi)
    total = sum(out[f"{name}_abs_uv2"] for name in BANDS_HZ)
    out["total_abs_uv2"] = total
    for name in BANDS_HZ:
        out[f"{name}_rel"] = out[f"{name}_abs_uv2"] / np.maximum(total, _EPS)
    return out


def band_powers(batch: WindowBatch) -> dict[str, np.ndarray]:
    """Absolute and relative power in the classic bands, per window and channel.

    Parameters
    ----------
    batch : WindowBatch
        Windows in microvolts.

    Returns
    -------
    powers : dict of str to np.ndarray, each of shape (n_windows, n_channels)
        ``'<band>_abs_uv2'``: the PSD integrated over the band, in uV^2, for the bands delta
        (1-4 Hz), theta (4-8), alpha (8-13) and beta (13-30); ``'total_abs_uv2'``: their sum
        (1-30 Hz); ``'<band>_rel'``: the band's share of that total (unitless, sums to 1).

    References
    ----------
    Nuwer, M. R. (1988). Quantitative EEG: I. Techniques and problems of frequency analysis and
    topographic mapping. J Clin Neurophysiol, 5(1), 1-43.
    """
    freqs_hz, psd = window_psd(batch)
    return band_powers_from_psd(freqs_hz, psd)


@dataclass
class QEEGFeatures:
    """qEEG features, one value per window (arrays of shape (n_windows,)) unless stated.

    Attributes
    ----------
    slowing_ratio : np.ndarray
        (delta + theta) / (alpha + beta): median over channels of each channel's ratio, leaving
        out the eye-prone frontopolar and anterior temporal channels
        (:data:`EYE_PRONE_CHANNELS`: Fp1, Fp2, Fpz, F7, F8, AF7, AF8) whose slow activity is
        mostly blinks and eye movements.
    slowing_ratio_by_region : dict of str to np.ndarray
        The same over the channels of each region present (frontal, central, temporal,
        parietal, occipital).
    pdr_hz : np.ndarray
        Posterior dominant rhythm frequency in Hz; NaN where there is no peak between 6 and
        13 Hz above the aperiodic background, or no posterior channel (None in
        :meth:`to_dict`).
    pdr_prominence_log10 : np.ndarray
        Height of that peak above the aperiodic fit, log10 units (NaN where no peak).
    asymmetry_by_pair : dict of str to np.ndarray
        |L - R| / (L + R) of 1-30 Hz power for each homologous pair present ('F3-F4', ...).
    asymmetry_max : np.ndarray
        Largest pair asymmetry (0 when no pair is present).
    brain_symmetry_index : np.ndarray
        Pairwise-derived brain symmetry index (van Putten 2007): mean over pairs and over
        1-25 Hz of |(R - L) / (R + L)| of the spectra; 0 is perfect symmetry, 1 maximal.
    suppression_fraction : np.ndarray
        Fraction of samples whose peak-to-peak amplitude (twice the smoothed envelope, median
        over channels) is below 10 uV.
    sharp_transients_per_min : np.ndarray
        Rate of brief energy surges (nonlinear energy operator above 25 times its median),
        per channel and minute: a proxy for discharge-like sharp transients, not a detector.
    band_powers : dict of str to np.ndarray
        The per window and channel band powers of :func:`band_powers`.
    ch_names : list of str
        Channels of the batch, in the order of the band power columns.
    """

    slowing_ratio: np.ndarray
    slowing_ratio_by_region: dict[str, np.ndarray]
    pdr_hz: np.ndarray
    pdr_prominence_log10: np.ndarray
    asymmetry_by_pair: dict[str, np.ndarray]
    asymmetry_max: np.ndarray
    brain_symmetry_index: np.ndarray
    suppression_fraction: np.ndarray
    sharp_transients_per_min: np.ndarray
    band_powers: dict[str, np.ndarray] = field(repr=False)
    ch_names: list[str] = field(default_factory=list)

    @property
    def n_windows(self) -> int:
        return int(self.slowing_ratio.shape[0])

    def to_dict(self) -> dict:
        """Per-window features as JSON-ready lists (NaN becomes None); band powers averaged
        over channels."""

        def _list(a: np.ndarray) -> list[float | None]:
            return [None if not np.isfinite(v) else round(float(v), 5) for v in a]

        return {
            "slowing_ratio": _list(self.slowing_ratio),
            "slowing_ratio_by_region": {
                k: _list(v) for k, v in self.slowing_ratio_by_region.items()
            },
            "pdr_hz": _list(self.pdr_hz),
            "asymmetry_by_pair": {k: _list(v) for k, v in self.asymmetry_by_pair.items()},
            "asymmetry_max": _list(self.asymmetry_max),
            "brain_symmetry_index": _list(self.brain_symmetry_index),
            "suppression_fraction": _list(self.suppression_fraction),
            "sharp_transients_per_min": _list(self.sharp_transients_per_min),
            "relative_band_power": {
                name: _list(self.band_powers[f"{name}_rel"].mean(axis=1)) for name in BANDS_HZ
            },
        }


def _log_slowing(bp: dict[str, np.ndarray]) -> np.ndarray:
    """Natural log of (delta + theta) / (alpha + beta) per window and channel."""
    slow = bp["delta_abs_uv2"] + bp["theta_abs_uv2"]
    fast = bp["alpha_abs_uv2"] + bp["beta_abs_uv2"]
    return np.log(np.maximum(slow, _EPS)) - np.log(np.maximum(fast, _EPS))


def _picks(ch_names: list[str], wanted: tuple[str, ...]) -> list[int]:
    lower = {c.lower(): i for i, c in enumerate(ch_names)}
    return [lower[w.lower()] for w in wanted if w.lower() in lower]


def _global_picks(ch_names: list[str]) -> list[int]:
    """Channels for the global slowing ratio: all but the eye-prone ones (all if none left)."""
    eye = {c.lower() for c in EYE_PRONE_CHANNELS}
    picks = [i for i, c in enumerate(ch_names) if c.lower() not in eye]
    return picks or list(range(len(ch_names)))


def posterior_dominant_rhythm(
    freqs_hz: np.ndarray, psd: np.ndarray, ch_names: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior dominant rhythm: the 6-13 Hz peak of the mean posterior spectrum.

    A power law (a line in log-log coordinates) is fitted to the mean posterior spectrum
    over 2-30 Hz, leaving out 6-13 Hz; the PDR is the largest excess over that fit within
    6-13 Hz (averaged over 1 Hz), refined by parabolic interpolation, when it exceeds 0.25
    log10 units and is not on the edge of the range. This follows the idea of Lodder & van
    Putten (2013), who fit a background curve plus a peak to locate the PDR.

    Parameters
    ----------
    freqs_hz : np.ndarray, shape (n_freqs,)
    psd : np.ndarray, shape (n_windows, n_channels, n_freqs)
    ch_names : list of str

    Returns
    -------
    pdr_hz : np.ndarray, shape (n_windows,)
        NaN where there is no peak or no posterior channel.
    prominence_log10 : np.ndarray, shape (n_windows,)
    """
    n_windows = psd.shape[0]
    picks = _picks(ch_names, POSTERIOR_CHANNELS)
    nan = np.full(n_windows, np.nan)
    if not picks:
        return nan, nan.copy()
    log_p = np.log10(np.maximum(psd[:, picks, :].mean(axis=1), _EPS))  # (n_w, n_f)
    log_f = np.log10(np.maximum(freqs_hz, _EPS))
    in_fit = (freqs_hz >= _APERIODIC_FIT_HZ[0]) & (freqs_hz <= _APERIODIC_FIT_HZ[1])
    in_fit &= ~((freqs_hz >= PDR_RANGE_HZ[0]) & (freqs_hz <= PDR_RANGE_HZ[1]))
    design = np.stack([np.ones(in_fit.sum()), log_f[in_fit]], axis=1)
    coef, *_ = np.linalg.lstsq(design, log_p[:, in_fit].T, rcond=None)  # (2, n_w)
    band = np.flatnonzero((freqs_hz >= PDR_RANGE_HZ[0]) & (freqs_hz <= PDR_RANGE_HZ[1]))
    resid_all = log_p - (coef[0][:, None] + coef[1][:, None] * log_f[None, :])
    # Averaged over about 1 Hz: a 4 s window's spectrum has random bumps a bin wide, while an
    # alpha rhythm's peak is about 1 Hz wide.
    width = max(1, round(PDR_SMOOTHING_HZ / (freqs_hz[1] - freqs_hz[0])) | 1)
    resid = uniform_filter1d(resid_all, size=width, axis=-1, mode="nearest")[:, band]
    k = resid.argmax(axis=1)
    rows = np.arange(n_windows)
    peak = resid[rows, k]
    interior = (k > 0) & (k < band.size - 1)
    ok = interior & (peak >= PDR_MIN_PROMINENCE_LOG10)
    # Parabolic interpolation through the peak bin and its neighbours.
    km = np.clip(k - 1, 0, band.size - 1)
    kp = np.clip(k + 1, 0, band.size - 1)
    y0, y1, y2 = resid[rows, km], peak, resid[rows, kp]
    denom = y0 - 2 * y1 + y2
    with np.errstate(divide="ignore", invalid="ignore"):
        delta_bins = np.where(np.abs(denom) > _EPS, 0.5 * (y0 - y2) / denom, 0.0)
    delta_bins = np.clip(delta_bins, -0.5, 0.5)
    df = freqs_hz[1] - freqs_hz[0]
    pdr = freqs_hz[band][k] + delta_bins * df
    return np.where(ok, pdr, np.nan), np.where(ok, peak, np.nan)


def hemispheric_asymmetry(
    freqs_hz: np.ndarray, psd: np.ndarray, ch_names: list[str]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Left/right asymmetry of homologous pairs and the brain symmetry index.

    Parameters
    ----------
    freqs_hz : np.ndarray, shape (n_freqs,)
    psd : np.ndarray, shape (n_windows, n_channels, n_freqs)
    ch_names : list of str

    Returns
    -------
    by_pair : dict of str to np.ndarray, shape (n_windows,)
        |L - R| / (L + R) of 1-30 Hz power, per pair present ('C3-C4', ...).
    bsi : np.ndarray, shape (n_windows,)
        Pairwise-derived brain symmetry index over 1-25 Hz (van Putten 2007); 0 without pairs.

    References
    ----------
    van Putten, M. J. A. M. (2007). The revised brain symmetry index. Clin Neurophysiol,
    118(11), 2362-2367.
    """
    lower = {c.lower(): i for i, c in enumerate(ch_names)}
    pairs = [
        (f"{l_name}-{r_name}", lower[l_name.lower()], lower[r_name.lower()])
        for l_name, r_name in HOMOLOGOUS_PAIRS
        if l_name.lower() in lower and r_name.lower() in lower
    ]
    n_windows = psd.shape[0]
    if not pairs:
        return {}, np.zeros(n_windows)
    left = psd[:, [p[1] for p in pairs], :]
    right = psd[:, [p[2] for p in pairs], :]
    p_left = _band_integral(freqs_hz, left, *_BAND_TOTAL_HZ)
    p_right = _band_integral(freqs_hz, right, *_BAND_TOTAL_HZ)
    asym = np.abs(p_left - p_right) / np.maximum(p_left + p_right, _EPS)
    by_pair = {name: asym[:, j] for j, (name, _, _) in enumerate(pairs)}
    # Spectra summed into 1 Hz bins first: single Welch bins of a 4 s window are too noisy
    # for a bin-by-bin ratio.
    edges = np.arange(1.0, 26.0)
    left_1hz = np.stack([_band_integral(freqs_hz, left, lo, lo + 1) for lo in edges[:-1]], -1)
    right_1hz = np.stack([_band_integral(freqs_hz, right, lo, lo + 1) for lo in edges[:-1]], -1)
    ratio = np.abs(right_1hz - left_1hz) / np.maximum(right_1hz + left_1hz, _EPS)
    bsi = ratio.mean(axis=(1, 2))
    return by_pair, bsi


def suppression_fraction(data_uv: np.ndarray, sfreq_hz: float) -> np.ndarray:
    """Fraction of each window whose amplitude lies below 10 uV.

    The envelope is the magnitude of the analytic signal (Hilbert transform) of each
    mean-removed channel, smoothed over 0.25 s; twice its median over channels (the local
    peak-to-peak amplitude of the whole head, robust to a few noisy channels) is compared with
    the 10 uV suppression threshold of the ACNS terminology (Hirsch et al. 2021).

    Parameters
    ----------
    data_uv : np.ndarray, shape (n_windows, n_channels, n_samples)
    sfreq_hz : float

    Returns
    -------
    fraction : np.ndarray, shape (n_windows,)
    """
    x = np.asarray(data_uv, dtype=np.float32)
    centred = x - x.mean(axis=-1, keepdims=True)
    envelope = np.abs(hilbert(centred, axis=-1))
    size = max(1, round(ENVELOPE_SMOOTHING_S * sfreq_hz))
    envelope = uniform_filter1d(envelope, size=size, axis=-1, mode="nearest")
    # Median over channels with channels last: contiguous, so faster.
    across = np.ascontiguousarray(np.swapaxes(envelope, 1, 2))
    peak_to_peak_uv = 2.0 * np.median(across, axis=-1)  # (n_windows, n_samples)
    return (peak_to_peak_uv < SUPPRESSION_THRESHOLD_UV).mean(axis=-1)


def sharp_transient_rate(data_uv: np.ndarray, sfreq_hz: float) -> np.ndarray:
    """Rate of brief, high-energy transients per channel and minute (a discharge proxy).

    The nonlinear energy operator psi[n] = x[n]^2 - x[n-1] x[n+1] (Mukhopadhyay & Ray 1998)
    weighs amplitude by instantaneous frequency, so spikes and sharp waves stand out against
    the background; onsets of psi above 25 times its median in the channel's window are
    counted. Large slow artifacts also rise, so this is a screening proxy, not a spike
    detector (processors.events has those).

    Parameters
    ----------
    data_uv : np.ndarray, shape (n_windows, n_channels, n_samples)
    sfreq_hz : float

    Returns
    -------
    rate_per_min : np.ndarray, shape (n_windows,)
        Mean over channels of the transient count per minute.
    """
    x = np.asarray(data_uv, dtype=np.float32)
    x = x - x.mean(axis=-1, keepdims=True)
    neo = x[..., 1:-1] ** 2 - x[..., :-2] * x[..., 2:]
    thresh = NEO_THRESHOLD_FACTOR * np.maximum(np.median(np.abs(neo), axis=-1, keepdims=True), _EPS)
    above = neo > thresh
    onsets = above[..., 1:] & ~above[..., :-1]
    # An onset within 100 ms of the previous one belongs to the same transient.
    refractory = max(1, round(0.1 * sfreq_hz))
    csum = np.cumsum(onsets, axis=-1, dtype=np.int32)
    before = np.zeros_like(csum)
    before[..., 1:] = csum[..., :-1]
    lagged = np.zeros_like(csum)
    lagged[..., refractory + 1 :] = csum[..., : -refractory - 1]
    isolated = onsets & ((before - lagged) == 0)
    counts = isolated.sum(axis=-1)
    minutes = data_uv.shape[-1] / sfreq_hz / 60.0
    return counts.mean(axis=1) / minutes


def qeeg_features(batch: WindowBatch) -> QEEGFeatures:
    """All qEEG features of a batch of windows, from one spectral estimate.

    Parameters
    ----------
    batch : WindowBatch
        Windows in microvolts, standard 10-20 channel names.

    Returns
    -------
    QEEGFeatures

    Raises
    ------
    WrongSamplingRate
        Sampling rate too low to measure the beta band.
    RecordingTooShort
        Empty batch or windows shorter than 1 s.
    NonFiniteSamples
        NaN or infinite samples.

    References
    ----------
    Nuwer (1988); Lodder & van Putten (2013); van Putten (2007); Hirsch et al. (2021): see the
    module docstring.
    """
    freqs_hz, psd = window_psd(batch)
    bp = band_powers_from_psd(freqs_hz, psd)
    log_ratio = _log_slowing(bp)
    by_region = {
        region: np.exp(log_ratio[:, picks].mean(axis=1))
        for region, chans in REGIONS.items()
        if (picks := _picks(batch.ch_names, chans))
    }
    pdr_hz, prominence = posterior_dominant_rhythm(freqs_hz, psd, batch.ch_names)
    by_pair, bsi = hemispheric_asymmetry(freqs_hz, psd, batch.ch_names)
    asym_max = (
        np.max(np.stack(list(by_pair.values()), axis=1), axis=1)
        if by_pair
        else np.zeros(batch.n_windows)
    )
    data = batch.data_uv
    return QEEGFeatures(
        slowing_ratio=np.exp(np.median(log_ratio[:, _global_picks(batch.ch_names)], axis=1)),
        slowing_ratio_by_region=by_region,
        pdr_hz=pdr_hz,
        pdr_prominence_log10=prominence,
        asymmetry_by_pair=by_pair,
        asymmetry_max=asym_max,
        brain_symmetry_index=bsi,
        suppression_fraction=suppression_fraction(data, batch.sfreq_hz),
        sharp_transients_per_min=sharp_transient_rate(data, batch.sfreq_hz),
        band_powers=bp,
        ch_names=list(batch.ch_names),
    )
