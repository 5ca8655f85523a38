"""What a candidate sharp transient looks like: the features the spike classifier weighs.

Each candidate of :func:`processors.events.spikes.find_discharges` (found with relaxed
thresholds) is measured at its strongest channel, in the detector's 1-35 Hz band, by:

- Gotman's half-wave measures: amplitude over the local background, over the surrounding
  second (a wave of a waxing rhythm has equally large neighbours), sharpness (mean slope
  over the background's slope scale), duration, and how alike the two half-waves are;
- the Teager-Kaiser energy at the apex over the channel's typical energy (Kaiser 1990; used
  for spikes by Mukhopadhyay & Ray 1998): large for a transient that is both tall and fast;
- the curvature at the apex (a spike's apex is pointed, an alpha wave's is round);
- the after-going slow wave: the mean of the 250 ms after the second half-wave, in units of
  the discharge's amplitude (negative when a surface-negative slow wave follows);
- the field: how many channels, how alike the waveform is on them (a cortical discharge is
  one source, scaled), how far back it lies (alpha is posterior, widespread and rhythmic),
  and the alpha-band share of the channel's activity around it.

Feature order is :data:`FEATURE_NAMES`; the classifier's weights in
:mod:`processors.events.spikes` are fitted in that order.

References
----------
Gotman J, Gloor P. Electroencephalogr Clin Neurophysiol 41(5):513-529, 1976.
Kaiser JF. On a simple algorithm to calculate the 'energy' of a signal. ICASSP 1990,
381-384.
Mukhopadhyay S, Ray GC. A new interpretation of nonlinear energy operator and its efficacy in
spike detection. IEEE Trans Biomed Eng 45(2):180-187, 1998.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from processors.events._common import bandpass
from processors.geometry import posterior_mask

if TYPE_CHECKING:
    from processors.events.spikes import Discharge, DischargeContext

FEATURE_NAMES: tuple[str, ...] = (
    "log_amplitude_ratio",
    "log_context_ratio",
    "log_slope_ratio",
    "log_amplitude_uv",
    "log_duration_s",
    "log_n_channels",
    "slow_wave",
    "pre_wave",
    "alpha_share",
    "field_coherence",
    "posterior_share",
    "half_wave_asymmetry",
    "log_teager_ratio",
    "apex_curvature",
)

#: window of the after-going slow wave, from the end of the second half-wave
SLOW_WAVE_S = 0.25
#: half-width of the window whose waveform is compared across the field
COHERENCE_HALF_S = 0.06
#: half-width of the window whose alpha share is measured
ALPHA_HALF_S = 0.5
ALPHA_BAND_HZ = (8.0, 13.0)
#: lag of the apex curvature
CURVATURE_LAG_S = 0.012


def _window_mean(y: np.ndarray, start: np.ndarray, length: int) -> np.ndarray:
    idx = np.clip(start[:, None] + np.arange(length)[None, :], 0, y.shape[-1] - 1)
    return y[idx].mean(axis=1)


def candidate_features(
    ctx: DischargeContext,
    discharges: Sequence[Discharge],
    ch_names: Sequence[str],
    sfreq_hz: float,
) -> np.ndarray:
    """The :data:`FEATURE_NAMES` of each candidate, shape (n_candidates, n_features)."""
    from processors.events.spikes import _context_sd, _half_wave_bases

    names = list(ch_names)
    out = np.zeros((len(discharges), len(FEATURE_NAMES)))
    if not discharges:
        return out
    y = ctx.y
    n = y.shape[1]
    alpha = bandpass(y, sfreq_hz, *ALPHA_BAND_HZ)
    teager = y[:, 1:-1] ** 2 - y[:, :-2] * y[:, 2:]
    teager_scale = np.median(np.abs(teager[:, ::4]), axis=1) + 1e-9
    posterior = posterior_mask(names)
    lag = max(1, round(CURVATURE_LAG_S * sfreq_hz))
    half = round(COHERENCE_HALF_S * sfreq_hz)
    a_half = round(ALPHA_HALF_S * sfreq_hz)
    tol = max(1, round(0.02 * sfreq_hz))
    for i, d in enumerate(discharges):
        c = names.index(max(d.channel_amplitudes_uv, key=d.channel_amplitudes_uv.get))
        guess = round(d.apex_s * sfreq_hz)
        lo, hi = max(0, guess - tol), min(n, guess + tol + 1)
        a = lo + int(np.argmin(y[c, lo:hi]))
        apex = np.array([a])
        max_len = round(0.25 * sfreq_hz)
        hyst = np.array([max(0.15 * d.amplitude_uv, 3.0)])
        d1, top1, _ = _half_wave_bases(y[c], apex, max_len, hyst, forward=False)
        d2, top2, _ = _half_wave_bases(y[c], apex, max_len, hyst, forward=True)
        a1, a2 = float(top1[0] - y[c, a]), float(top2[0] - y[c, a])
        amp = max(0.5 * (a1 + a2), 1.0)
        ctx_sd = float(_context_sd(y[c], apex, sfreq_hz)[0])
        sw_len = round(SLOW_WAVE_S * sfreq_hz)
        slow = float(_window_mean(y[c], apex + d2, sw_len)[0]) / amp
        pre = float(_window_mean(y[c], apex - d1 - sw_len, sw_len)[0]) / amp
        wa, wb = max(0, a - a_half), min(n, a + a_half)
        seg = y[c, wa:wb]
        alpha_share = float(np.std(alpha[c, wa:wb]) / (np.std(seg) + 1e-9))
        rows = [names.index(ch) for ch in d.channels if ch != names[c]]
        ca, cb = max(0, a - half), min(n, a + half + 1)
        ref = y[c, ca:cb] - y[c, ca:cb].mean()
        if rows:
            other = y[rows, ca:cb] - y[rows, ca:cb].mean(axis=1, keepdims=True)
            r = other @ ref / (np.linalg.norm(other, axis=1) * np.linalg.norm(ref) + 1e-9)
            coherence = float(np.mean(r))
        else:
            coherence = 0.0
        te = teager[c, min(max(a - 1, 0), teager.shape[1] - 1)]
        curv = (y[c, max(a - lag, 0)] + y[c, min(a + lag, n - 1)] - 2 * y[c, a]) / (2 * amp)
        out[i] = (
            np.log(max(d.amplitude_ratio, 1e-3)),
            np.log(amp / max(ctx_sd, 0.5)),
            np.log(max(d.slope_ratio, 1e-3)),
            np.log(amp),
            np.log(max(d.duration_s, 1e-3)),
            np.log(len(d.channels)),
            slow,
            pre,
            alpha_share,
            coherence,
            float(np.mean([posterior[names.index(ch)] for ch in d.channels])),
            abs(np.log(max(a1, 1e-3) / max(a2, 1e-3))),
            np.log(max(te, 1e-9) / teager_scale[c]),
            curv,
        )
    return out
