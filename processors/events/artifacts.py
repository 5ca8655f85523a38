"""Artifacts: eye blinks, muscle, electrode pops and flat channels.

- **Eye blinks**: the cornea is positive, so a blink moves the frontopolar electrodes
  (Fp1/Fp2) positive by 50-300 uV for 200-500 ms, symmetric and falling off quickly towards
  the back of the head (Hagemann & Naumann 2001; Croft & Barry 2000). Detected as
  simultaneous positive low-frequency (0.5-8 Hz) deflections on both frontopolar channels.
- **Muscle**: electromyogram is broadband above 20 Hz, where cortical EEG power is small;
  quarter seconds whose 30-45 Hz power stays above many times the channel's own median for
  at least 0.75 s are muscle-contaminated (Goncharova et al. 2003; Muthukumaraswamy 2013).
  A cortical sharp transient carries 30-45 Hz power too, but on the tail of a far larger
  rise at 2-20 Hz; muscle raises the high band alone. Where asked (``spare_cortical``), a
  piece whose 30-45 Hz rise is under :data:`MUSCLE_OVER_CORTICAL_RISE` times its 2-20 Hz
  rise is not muscle: a train of polyspikes fills its own field's 30-45 Hz band.
- **Electrode pop**: a sudden step on one electrode only, with no field on its neighbours
  (a change of electrode impedance), far steeper than anything cortical.
- **Flat channel**: a channel carrying under 1 uV of signal for at least 5 s.

References
----------
Croft RJ, Barry RJ. Removal of ocular artifact from the EEG: a review. Neurophysiol Clin
30(1):5-19, 2000.
Goncharova II, McFarland DJ, Vaughan TM, Wolpaw JR. EMG contamination of EEG: spectral and
topographical characteristics. Clin Neurophysiol 114(9):1580-1593, 2003.
Muthukumaraswamy SD. High-frequency brain activity and muscle artifacts in MEG/EEG: a review
and recommendations. Front Hum Neurosci 7:138, 2013.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import signal

from processors.events._common import (
    at_samples,
    bandpass,
    block_robust_sd,
    check_signal,
    merge_runs,
    runs,
)
from processors.events._types import Event
from processors.geometry import (
    frontopolar_mask,
    known,
    neighbour_matrix,
    positions_m,
    posterior_mask,
)

#: muscle: quarter seconds whose 30-45 Hz RMS exceeds this many times the channel's median
MUSCLE_RATIO = 4.0
MUSCLE_BAND_HZ = (30.0, 45.0)
#: muscle raises the 30-45 Hz band many times more than the 2-20 Hz band (on a muscle
#: burst the 30-45 Hz RMS rises about 9x its channel's median, the 2-20 Hz RMS about 1.1x;
#: in a 2.2 Hz polyspike train on its own field about 5x and 2x): with ``spare_cortical``
#: the 30-45 Hz rise must be at least this many times the 2-20 Hz rise to be muscle
MUSCLE_OVER_CORTICAL_RISE = 3.0
CORTICAL_BAND_HZ = (2.0, 20.0)
#: muscle RMS is measured in quarters of this block
MUSCLE_BLOCK_S = 1.0
#: blinks: positive frontopolar deflection of at least this (uV) and this many local SDs
BLINK_MIN_UV = 50.0
BLINK_RATIO = 4.0
BLINK_WIDTH_S = (0.08, 0.6)  # width at half height
#: electrode pop: a one-sample step this many times the channel's local slope scale
POP_RATIO = 12.0
POP_MIN_UV = 60.0
FLAT_UV = 1.0
FLAT_MIN_S = 5.0


def muscle_mask(
    data_uv: np.ndarray,
    sfreq_hz: float,
    *,
    ratio: float = MUSCLE_RATIO,
    spare_cortical: bool = False,
) -> tuple[np.ndarray, int]:
    """Muscle-contaminated quarter-second pieces per channel.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Continuous EEG in microvolts.
    sfreq_hz : float
        Sampling rate (at least 2.2 times the top of :data:`MUSCLE_BAND_HZ`).
    ratio : float
        30-45 Hz RMS over the channel's median that counts as high.
    spare_cortical : bool
        Leave out pieces whose 30-45 Hz rise is under :data:`MUSCLE_OVER_CORTICAL_RISE`
        times their 2-20 Hz rise (each over the channel's median): the high-frequency tail
        of a cortical transient, not muscle.

    Returns
    -------
    mask : ndarray of bool, shape (n_channels, n_pieces)
        True in quarter-second pieces where the 30-45 Hz RMS is over ``ratio`` times the
        channel's median (and over 2 uV, so a quiet channel's noise floor does not count)
        for at least three pieces in a row.
    block : int
        Samples per piece.
    """
    x = np.asarray(data_uv, dtype=float)
    blk = max(4, round(MUSCLE_BLOCK_S * sfreq_hz))
    n_blk = x.shape[1] // blk
    if n_blk == 0 or sfreq_hz < 2.2 * MUSCLE_BAND_HZ[1]:
        return np.zeros((x.shape[0], max(n_blk, 0)), dtype=bool), blk
    hf = bandpass(x, sfreq_hz, *MUSCLE_BAND_HZ)
    # RMS in quarter-second pieces; muscle is sustained (a run of at least 3 pieces), while
    # a spike's own high-frequency content fills one piece at most and must not mask it out
    sub = blk // 4
    n_sub = n_blk * 4
    rms = np.sqrt(np.mean(hf[:, : n_sub * sub].reshape(x.shape[0], n_sub, sub) ** 2, axis=2))
    base = np.median(rms, axis=1, keepdims=True)
    high = (rms > ratio * base) & (rms > 2.0)
    if spare_cortical and high.any():
        rise = rms / np.maximum(base, 1e-9)
        high &= rise >= MUSCLE_OVER_CORTICAL_RISE * _band_rise(x, sfreq_hz, sub, n_sub)
    mask = np.zeros_like(high)
    for c in np.flatnonzero(high.any(axis=1)):
        for a, b in runs(high[c]):
            if b - a >= 3:
                mask[c, a:b] = True
    return mask, sub


def _band_rise(x: np.ndarray, sfreq_hz: float, piece: int, n_pieces: int) -> np.ndarray:
    """2-20 Hz RMS per piece of ``piece`` samples over the channel's median piece."""
    lf = bandpass(x, sfreq_hz, *CORTICAL_BAND_HZ)
    n = n_pieces * piece
    rms = np.sqrt(np.mean(lf[:, :n].reshape(x.shape[0], n_pieces, piece) ** 2, axis=2))
    return rms / np.maximum(np.median(rms, axis=1, keepdims=True), 1e-9)


def _muscle_events(
    x: np.ndarray,
    sfreq_hz: float,
    ch_names: Sequence[str],
    muscle: tuple[np.ndarray, int] | None = None,
) -> list[Event]:
    mask, blk = muscle_mask(x, sfreq_hz) if muscle is None else muscle
    if mask.size == 0:
        return []
    any_blk = mask.any(axis=0)
    events = []
    for a, b in merge_runs(runs(any_blk), max_gap=2):
        chans = np.flatnonzero(mask[:, a:b].any(axis=1))
        frac = mask[:, a:b].mean()
        events.append(
            Event(
                type="artifact",
                subtype="muscle",
                onset_s=a * blk / sfreq_hz,
                duration_s=(b - a) * blk / sfreq_hz,
                channels=[ch_names[c] for c in chans],
                confidence=float(np.clip(0.6 + frac, 0.0, 1.0)),
            )
        )
    return events


def _frontopolar(ch_names: Sequence[str]) -> list[int]:
    names = [c.lower() for c in ch_names]
    fp = [i for i, c in enumerate(names) if c in ("fp1", "fp2", "fpz")]
    if fp:
        return fp
    y = positions_m(ch_names)[:, 1]
    if not np.isfinite(y).any():
        return []
    front = np.argsort(-np.nan_to_num(y, nan=-np.inf))[:2]  # the two most anterior electrodes
    return [int(i) for i in front if frontopolar_mask(ch_names)[i]]


def _blink_events(x: np.ndarray, sfreq_hz: float, ch_names: Sequence[str]) -> list[Event]:
    fp = _frontopolar(ch_names)
    if not fp:
        return []
    posterior = np.flatnonzero(posterior_mask(ch_names) & known(ch_names))
    rows = np.concatenate([fp, posterior]).astype(int)
    low = np.zeros_like(x)
    low[rows] = bandpass(x[rows], sfreq_hz, 0.5, 8.0, order=2)  # only the rows looked at
    frontal = low[fp].mean(axis=0)
    sd_blk, sd_len = block_robust_sd(frontal[None, :], sfreq_hz, block_s=2.0, span_blocks=15)
    w_lo, w_hi = (w * sfreq_hz for w in BLINK_WIDTH_S)
    peaks, props = signal.find_peaks(
        frontal, prominence=BLINK_MIN_UV, width=(w_lo, w_hi), rel_height=0.5,
        distance=max(1, int(0.3 * sfreq_hz)),
    )  # fmt: skip
    sd = at_samples(sd_blk[0], sd_len, peaks)
    half_win = round(1.0 * sfreq_hz)
    events = []
    for k, p in enumerate(peaks):
        prom = props["prominences"][k]
        if prom < BLINK_RATIO * sd[k]:
            continue
        lo, hi = max(p - 2 * half_win, 0), p + 2 * half_win
        if frontal[p] - np.median(frontal[lo:hi]) < 0.6 * prom:
            continue  # a gap between negative waves, not a positive deflection
        if len(fp) > 1 and np.min(low[fp, p]) < 0.4 * np.max(low[fp, p]):
            continue  # not on both frontopolar electrodes: not the eyes
        # blinks fall off steeply behind the frontal electrodes
        if posterior.size and np.max(np.abs(low[posterior, p])) > 0.6 * prom:
            continue
        onset = props["left_ips"][k] / sfreq_hz
        half = (props["right_ips"][k] - props["left_ips"][k]) / sfreq_hz
        # the half-height width is about half the blink's full duration
        events.append(
            Event(
                type="artifact",
                subtype="eye_blink",
                onset_s=max(0.0, onset - 0.5 * half),
                duration_s=2.0 * half,
                channels=[ch_names[i] for i in fp],
                confidence=float(np.clip(0.5 + 0.1 * prom / max(sd[k], 1.0), 0.0, 1.0)),
                details={"amplitude_uv": round(float(prom), 1)},
            )
        )
    return events


def _pop_events(x: np.ndarray, sfreq_hz: float, ch_names: Sequence[str]) -> list[Event]:
    d = np.diff(x, axis=1)
    step = np.abs(d)
    hits = step > POP_MIN_UV
    if not hits.any():
        return []
    scale, blk = block_robust_sd(d, sfreq_hz, block_s=2.0, span_blocks=15)
    ch_i, t_i = np.nonzero(hits)
    steep = step[ch_i, t_i] > POP_RATIO * np.maximum(
        scale[ch_i, np.minimum(t_i // blk, scale.shape[1] - 1)], 0.5
    )
    hits = np.zeros_like(hits)
    hits[ch_i[steep], t_i[steep]] = True
    if not hits.any():
        return []
    adjacency = neighbour_matrix(ch_names)
    events = []
    min_gap = int(0.5 * sfreq_hz)
    for c in np.flatnonzero(hits.any(axis=1)):
        times = np.flatnonzero(hits[c])
        keep = np.concatenate([[True], np.diff(times) > min_gap])
        nbrs = np.flatnonzero(adjacency[c])
        for t in times[keep]:
            if nbrs.size and np.max(step[nbrs, t]) > 0.3 * step[c, t]:
                continue  # seen by the neighbours too: a field, not one electrode
            events.append(
                Event(
                    type="artifact",
                    subtype="electrode_pop",
                    onset_s=t / sfreq_hz,
                    duration_s=0.2,
                    channels=[ch_names[c]],
                    confidence=float(np.clip(step[c, t] / (2 * POP_MIN_UV), 0.5, 1.0)),
                    details={"step_uv": round(float(step[c, t]), 1)},
                )
            )
    return events


def _flat_events(x: np.ndarray, sfreq_hz: float, ch_names: Sequence[str]) -> list[Event]:
    blk = max(1, round(1.0 * sfreq_hz))
    n_blk = x.shape[1] // blk
    if n_blk == 0:
        return []
    y = x[:, : n_blk * blk].reshape(x.shape[0], n_blk, blk)
    flat = np.ptp(y, axis=2) < 2 * FLAT_UV * 3  # under ~1 uV SD within each 1 s block
    flat &= y.std(axis=2) < FLAT_UV
    events = []
    for c in range(x.shape[0]):
        for a, b in runs(flat[c]):
            if (b - a) * blk / sfreq_hz >= FLAT_MIN_S:
                events.append(
                    Event(
                        type="artifact",
                        subtype="flat_channel",
                        onset_s=a * blk / sfreq_hz,
                        duration_s=(b - a) * blk / sfreq_hz,
                        channels=[ch_names[c]],
                        confidence=0.95,
                    )
                )
    return events


def detect_artifacts(
    data_uv: np.ndarray,
    sfreq_hz: float,
    ch_names: Sequence[str],
    *,
    muscle: tuple[np.ndarray, int] | None = None,
) -> list[Event]:
    """Eye blinks, muscle bursts, electrode pops and flat channels as ``artifact`` events.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Continuous EEG in microvolts.
    sfreq_hz : float
        Sampling rate (at least 100 Hz).
    ch_names : sequence of str
        Channel names, one per row.
    muscle : (mask, block), optional
        :func:`muscle_mask` of the same signal, when already computed.

    Returns
    -------
    list of Event
        ``artifact`` events with subtype ``eye_blink``, ``muscle``, ``electrode_pop`` or
        ``flat_channel``, in time order.
    """
    x = check_signal(data_uv, sfreq_hz, ch_names)
    if x.shape[1] < int(sfreq_hz):
        return []
    events = (
        _blink_events(x, sfreq_hz, ch_names)
        + _muscle_events(x, sfreq_hz, ch_names, muscle)
        + _pop_events(x, sfreq_hz, ch_names)
        + _flat_events(x, sfreq_hz, ch_names)
    )
    return sorted(events, key=lambda e: e.onset_s)
