"""Burst suppression from amplitude-envelope thresholds.

The signal (0.5-20 Hz, median over channels of the Hilbert envelope, smoothed over 0.25 s)
is *suppressed* where the envelope stays within +-5 uV, that is under 10 uV peak to trough
(ACNS 2021), for at least 0.5 s (Rampil 1998, the burst-suppression ratio of anaesthesia
monitors). Stretches between suppressions are *bursts*, kept when they last 0.5-30 s.

The burst-suppression ratio (BSR) is the suppressed share of the analysed record. A
``burst_suppression`` event is reported for every stretch (in 30 s windows, 5 s step) where
50-99 % of the time is suppressed and bursts occur (ACNS 2021), merged and lasting at least
30 s; a record suppressed over more than half its length with bursts in between is one.

References
----------
Rampil IJ. A primer for EEG signal processing in anesthesia. Anesthesiology 89(4):980-1002,
1998.
Westover MB, Shafi MM, Ching S, et al. Real-time segmentation of burst suppression patterns
in critical care EEG monitoring. J Neurosci Methods 219(1):131-141, 2013.
Hirsch LJ et al. American Clinical Neurophysiology Society's Standardized Critical Care EEG
Terminology: 2021 Version. J Clin Neurophysiol 38(1):1-29, 2021.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

from processors.events._common import bandpass, check_signal, flat_channels, runs
from processors.events._types import Event
from processors.geometry import SUPPRESSION_ENVELOPE_UV

#: half of the ACNS 10 uV peak-to-trough suppression threshold (envelope = half-amplitude)
ENVELOPE_THRESHOLD_UV = SUPPRESSION_ENVELOPE_UV
MIN_SUPPRESSION_S = 0.5
BURST_S = (0.5, 30.0)
WINDOW_S = 30.0
WINDOW_STEP_S = 5.0
SUPPRESSED_SHARE = (0.5, 0.99)
MIN_STRETCH_S = 30.0
SMOOTH_S = 0.25


@dataclass
class SuppressionTrace:
    """Per-sample suppression of a record, and the bursts between suppressions."""

    suppressed: np.ndarray  # bool per sample
    bursts: np.ndarray  # (n, 2) sample index pairs
    sfreq_hz: float

    @property
    def ratio(self) -> float:
        """Burst-suppression ratio: suppressed share of the record, in [0, 1]."""
        return float(self.suppressed.mean()) if self.suppressed.size else 0.0


def suppression_trace(
    data_uv: np.ndarray,
    sfreq_hz: float,
    *,
    threshold_uv: float = ENVELOPE_THRESHOLD_UV,
    filtered: np.ndarray | None = None,
) -> SuppressionTrace:
    """Suppressed samples and bursts of a record (channels with no signal are left out).

    ``filtered``, when given, is the signal band-passed with edges of at most 1 Hz and
    35 Hz (as :mod:`.spikes` filters it); the envelope is then taken at a quarter of the
    rate, which is plenty for a 0.25 s smoothed envelope.
    """
    x = np.asarray(data_uv, dtype=float)
    live = ~flat_channels(x)
    if not live.any():
        live[:] = True
    n = x.shape[1]
    q = 2 if sfreq_hz >= 140.0 else 1
    filtered = bandpass(x[live], sfreq_hz, 0.5, 35.0) if filtered is None else filtered[live]
    fs = sfreq_hz / q
    y = bandpass(filtered[:, ::q], fs, None, 20.0)
    if fs >= 100.0:  # now limited to 20 Hz: every second sample is enough
        y, fs, q = y[:, ::2], fs / 2, q * 2
    env = np.abs(signal.hilbert(y, axis=1))
    env = np.median(env, axis=0)
    env = ndimage.uniform_filter1d(env, size=max(1, round(SMOOTH_S * fs)), mode="nearest")
    env = np.repeat(env, q)[:n]
    if env.size < n:
        env = np.pad(env, (0, n - env.size), mode="edge")
    low = env < threshold_uv
    suppressed = np.zeros_like(low)
    min_len = round(MIN_SUPPRESSION_S * sfreq_hz)
    for a, b in runs(low):
        if b - a >= min_len:
            suppressed[a:b] = True
    bursts = []
    pairs = runs(~suppressed)
    lo, hi = (round(v * sfreq_hz) for v in BURST_S)
    for a, b in pairs:
        # a burst lies between two suppressions (not at the record's edges)
        if a > 0 and b < suppressed.size and lo <= b - a <= hi:
            bursts.append((a, b))
    return SuppressionTrace(suppressed, np.array(bursts, dtype=int).reshape(-1, 2), sfreq_hz)


def detect_burst_suppression(
    data_uv: np.ndarray,
    sfreq_hz: float,
    ch_names: Sequence[str],
    *,
    trace: SuppressionTrace | None = None,
) -> list[Event]:
    """Burst-suppression stretches as ``burst_suppression`` events.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Continuous EEG in microvolts.
    sfreq_hz : float
        Sampling rate (at least 100 Hz).
    ch_names : sequence of str
        Channel names, one per row.
    trace : SuppressionTrace, optional
        A trace already computed by :func:`suppression_trace`.

    Returns
    -------
    list of Event
        ``details`` holds the stretch's suppression ratio, number of bursts, and burst
        onsets and durations in seconds.
    """
    x = check_signal(data_uv, sfreq_hz, ch_names)
    if x.shape[1] < round(MIN_STRETCH_S * sfreq_hz):
        return []
    tr = suppression_trace(x, sfreq_hz) if trace is None else trace
    n = x.shape[1]
    win, step = round(WINDOW_S * sfreq_hz), round(WINDOW_STEP_S * sfreq_hz)
    starts = np.arange(0, max(n - win, 0) + 1, step)
    csum = np.concatenate([[0], np.cumsum(tr.suppressed)])
    share = (csum[starts + win] - csum[starts]) / win
    # a window has a burst when a burst's midpoint lies in [start, start + win)
    burst_mid = np.sort(tr.bursts.mean(axis=1)) if len(tr.bursts) else np.zeros(0)
    has_burst = np.searchsorted(burst_mid, starts + win) > np.searchsorted(burst_mid, starts)
    flagged = (share >= SUPPRESSED_SHARE[0]) & (share <= SUPPRESSED_SHARE[1]) & has_burst
    events = []
    for a, b in runs(flagged):  # runs are maximal: overlapping windows are one stretch
        s0, s1 = starts[a], starts[b - 1] + win
        # trim to the first and last suppressed sample of the stretch
        sup = np.flatnonzero(tr.suppressed[s0:s1])
        if sup.size == 0:
            continue
        s0, s1 = s0 + sup[0], s0 + sup[-1] + 1
        if (s1 - s0) / sfreq_hz < MIN_STRETCH_S:
            continue
        inside = [(p, q) for p, q in tr.bursts if p >= s0 and q <= s1]
        if not inside:
            continue
        ratio = float(tr.suppressed[s0:s1].mean())
        events.append(
            Event(
                type="burst_suppression",
                subtype=None,
                onset_s=float(s0 / sfreq_hz),
                duration_s=float((s1 - s0) / sfreq_hz),
                channels=list(ch_names),
                confidence=float(np.clip(0.6 + 0.4 * min(len(inside), 5) / 5, 0.0, 1.0)),
                details={
                    "suppression_ratio": round(ratio, 3),
                    "n_bursts": len(inside),
                    "burst_onsets_s": [round(p / sfreq_hz, 2) for p, _ in inside],
                    "burst_durations_s": [round((q - p) / sfreq_hz, 2) for p, q in inside],
                },
            )
        )
    return events
