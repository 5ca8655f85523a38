"""Sleep is not slowing: a cheap indicator of sleep for the screen, and YASA's for the rest.

The delta and theta of N2 and N3 sleep (and the theta of drowsiness and REM) are normal, yet
by the qEEG ratio they are slowing. An encephalopathy slows the background without sleep's
architecture; sleep has spindles (11-16 Hz bursts of 0.5-2 s over the centre of the head,
the mark of N2). The indicator:

1. finds spindles per window (:func:`spindle_windows`): quarter seconds whose central 11-16 Hz
   RMS is well above the record's median and the rest of its own window (a burst), above the
   alpha and the beta band beside it (so neither an awake alpha burst nor muscle is one),
   not small beside the theta (a seizure's harmonic is) and symmetric between the
   hemispheres (a focal rhythm passing through 11-16 Hz is not), for 0.5-2.5 s;
2. groups windows into 30 s epochs (AASM scoring epochs); a record *sleeps* when spindles
   appear in enough of its windows (:data:`MIN_SPINDLE_WINDOWS`, in the whole record: a
   night is cut by awakenings), and in a record that sleeps each run of consecutive slow
   epochs that holds a spindle is sleep (:func:`sleep_windows`), as is a single slow epoch
   beside wake (drowsiness, N1, at the transition between wake and sleep): N3 and REM
   between N2 epochs belong to the night, while a diffuse slowing with one stray
   spindle-like burst does not become sleep.

In the comprehensive analysis YASA's hypnogram says the same per epoch
(:func:`sleep_windows_from_hypnogram`). In sleep windows the slowing findings are not counted;
asymmetry, suppression and discharges still are.

References
----------
Iber C et al. The AASM Manual for the Scoring of Sleep and Associated Events. AASM, 2007.
Warby SC et al. Sleep-spindle detection: crowdsourcing and evaluating performance of experts,
non-experts and automated methods. Nat Methods 11(4):385-392, 2014.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy import signal

from processors.types import WindowBatch

SIGMA_HZ: tuple[float, float] = (11.0, 16.0)
ALPHA_HZ: tuple[float, float] = (8.0, 10.5)
HIGH_HZ: tuple[float, float] = (20.0, 30.0)
THETA_HZ: tuple[float, float] = (4.0, 8.0)
#: a spindle stands out of the sleep background's theta (a seizure's harmonic does not)...
THETA_RATIO: float = 0.6
#: ...and from the rest of its own window: a burst, not a sustained rhythm
LOCAL_CONTRAST: float = 2.0
#: sigma RMS over the record's median, and over the neighbouring bands, in a spindle
SPINDLE_RATIO: float = 2.0
NEIGHBOUR_RATIO: float = 1.3
SPINDLE_DURATION_S: tuple[float, float] = (0.5, 2.5)
PIECE_S: float = 0.25
#: where spindles are sought (they are largest at the vertex)
SPINDLE_CHANNELS: tuple[str, ...] = ("C3", "Cz", "C4", "FC1", "FC2", "CP1", "CP2", "Fz", "Pz")
LEFT_CENTRAL: tuple[str, ...] = ("C3", "FC1", "CP1")
RIGHT_CENTRAL: tuple[str, ...] = ("C4", "FC2", "CP2")
#: the weaker side's sigma RMS over the stronger's, at least, in a spindle
SYMMETRY_RATIO: float = 0.6
EPOCH_S: float = 30.0
#: a record sleeps when spindles appear in at least this many of its windows (one stray
#: spindle-like burst is not sleep; N2 has several spindles a minute)...
MIN_SPINDLE_WINDOWS: int = 2
#: ...and a run of slow epochs is sleep when spindles appear in at least this share of them
MIN_SPINDLE_EPOCH_SHARE: float = 0.2
#: in a record that sleeps, a run of slow epochs this short beside wake is drowsiness (N1)
MAX_DROWSY_EPOCHS: int = 1
#: sleep stages whose slowing is normal
SLEEP_STAGES: frozenset[str] = frozenset({"N1", "N2", "N3", "R"})


@lru_cache(maxsize=32)
def _bandpass_sos(band_hz: tuple[float, float], sfreq_hz: float) -> np.ndarray:
    """The 4th-order Butterworth band-pass (designed once per band and rate: a live worker
    screens a window of each stream at a time, and the design cost more than the filter)."""
    return signal.butter(4, band_hz, btype="bandpass", fs=sfreq_hz, output="sos")


def _band_rms(x: np.ndarray, sfreq_hz: float, band_hz: tuple[float, float]) -> np.ndarray:
    """RMS per quarter second of a band: (windows, channels, pieces)."""
    y = signal.sosfiltfilt(_bandpass_sos(band_hz, float(sfreq_hz)), x, axis=-1)
    piece = max(1, round(PIECE_S * sfreq_hz))
    n_pieces = y.shape[-1] // piece
    y = y[..., : n_pieces * piece].reshape(*y.shape[:-1], n_pieces, piece)
    return np.sqrt(np.mean(y**2, axis=-1))


def spindle_windows(batch: WindowBatch) -> np.ndarray:
    """Whether each window holds at least one sleep spindle.

    Parameters
    ----------
    batch : WindowBatch
        Windows in microvolts (at least 64 Hz).

    Returns
    -------
    np.ndarray of bool, shape (n_windows,)
    """
    names = list(batch.ch_names)
    left = [names.index(c) for c in LEFT_CENTRAL if c in names]
    right = [names.index(c) for c in RIGHT_CENTRAL if c in names]
    middle = [names.index(c) for c in SPINDLE_CHANNELS if c in names]
    if not (left and right) or batch.n_windows == 0 or batch.sfreq_hz < 2.2 * HIGH_HZ[1]:
        return np.zeros(batch.n_windows, dtype=bool)
    x = batch.data_uv[:, middle, :]
    per_channel = _band_rms(x, batch.sfreq_hz, SIGMA_HZ)
    sigma = per_channel.mean(axis=1)
    alpha = _band_rms(x, batch.sfreq_hz, ALPHA_HZ).mean(axis=1)
    theta = _band_rms(x, batch.sfreq_hz, THETA_HZ).mean(axis=1)
    high = _band_rms(x, batch.sfreq_hz, HIGH_HZ).mean(axis=1)
    base = float(np.median(sigma))
    # spindles are bilateral and symmetric over the centre; a focal rhythm is not
    sides = [
        per_channel[:, [middle.index(i) for i in side], :].mean(axis=1) for side in (left, right)
    ]
    symmetric = np.minimum(*sides) >= SYMMETRY_RATIO * np.maximum(*sides)
    burst = (
        (sigma > SPINDLE_RATIO * max(base, 0.1))
        & (sigma > NEIGHBOUR_RATIO * alpha)
        & (sigma > NEIGHBOUR_RATIO * high)
        & (sigma > THETA_RATIO * theta)
        # a burst that waxes and wanes within its window, not a sustained rhythm
        & (sigma > LOCAL_CONTRAST * np.median(sigma, axis=1, keepdims=True))
        & symmetric
    )
    lo, hi = (round(d / PIECE_S) for d in SPINDLE_DURATION_S)
    found = np.zeros(batch.n_windows, dtype=bool)
    for w in np.flatnonzero(burst.any(axis=1)):
        padded = np.concatenate([[False], burst[w], [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(padded)).reshape(-1, 2)
        lengths = edges[:, 1] - edges[:, 0]
        found[w] = bool(((lengths >= lo) & (lengths <= hi)).any())
    return found


def _epochs_of(batch: WindowBatch) -> np.ndarray:
    """The 30 s epoch of each window (by its start time)."""
    return np.floor(np.asarray(batch.start_s, dtype=float) / EPOCH_S).astype(int)


def sleep_windows(batch: WindowBatch, slow: np.ndarray) -> np.ndarray:
    """Windows that lie in sleep, from spindles and the runs of slow epochs around them.

    Parameters
    ----------
    batch : WindowBatch
    slow : np.ndarray of bool, shape (n_windows,)
        Windows the qEEG finds slow (slowing or a slow posterior rhythm).

    Returns
    -------
    np.ndarray of bool, shape (n_windows,)
        Nothing unless spindles appear in at least :data:`MIN_SPINDLE_WINDOWS` windows of the
        record; then True in every run of slow (or spindle) epochs that holds spindles in at
        least :data:`MIN_SPINDLE_EPOCH_SHARE` of its epochs, and in every run of at most
        :data:`MAX_DROWSY_EPOCHS` slow epochs that borders an awake (not slow) epoch.
    """
    slow = np.asarray(slow, dtype=bool)
    if batch.n_windows < MIN_SPINDLE_WINDOWS:  # too few windows to hold enough spindles
        return np.zeros(batch.n_windows, dtype=bool)
    spindles = spindle_windows(batch)
    if int(spindles.sum()) < MIN_SPINDLE_WINDOWS:
        return np.zeros(batch.n_windows, dtype=bool)
    epoch = _epochs_of(batch)
    ids = np.unique(epoch)
    epoch_slow = np.array([slow[epoch == e].mean() >= 0.5 for e in ids])
    epoch_spindle = np.array([spindles[epoch == e].any() for e in ids])
    member = epoch_slow | epoch_spindle
    sleeping = np.zeros(ids.size, dtype=bool)
    for k, end in _runs_of(member, ids):
        n_epochs = end - k + 1
        n_spindle = int(epoch_spindle[k : end + 1].sum())
        beside_wake = (k > 0 and not member[k - 1]) or (end + 1 < ids.size and not member[end + 1])
        if (n_spindle and n_spindle >= MIN_SPINDLE_EPOCH_SHARE * n_epochs) or (
            n_epochs <= MAX_DROWSY_EPOCHS and beside_wake
        ):
            sleeping[k : end + 1] = True
    return sleeping[np.searchsorted(ids, epoch)]


def _runs_of(member: np.ndarray, ids: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of consecutive member epochs (``ids`` sorted)."""
    out = []
    k = 0
    while k < ids.size:
        if not member[k]:
            k += 1
            continue
        end = k
        while end + 1 < ids.size and member[end + 1] and ids[end + 1] == ids[end] + 1:
            end += 1
        out.append((k, end))
        k = end + 1
    return out


def sleep_windows_from_hypnogram(
    batch: WindowBatch, hypnogram: Sequence[str], epoch_s: float = EPOCH_S
) -> np.ndarray:
    """Windows whose epoch YASA staged N1, N2, N3 or REM."""
    epoch = np.floor(np.asarray(batch.start_s, dtype=float) / epoch_s).astype(int)
    stages = np.array([str(s) for s in hypnogram] or [""])
    inside = epoch < len(hypnogram)
    stage = np.where(inside, stages[np.clip(epoch, 0, stages.size - 1)], "")
    return np.isin(stage, list(SLEEP_STAGES))
