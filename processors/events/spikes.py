"""Epileptiform discharges: spikes (20-70 ms) and sharp waves (70-200 ms).

A half-wave detector in the manner of Gotman & Gloor (1976) and Gotman & Wang (1991): the
signal is band-passed (1-35 Hz), every surface-negative apex is measured by its two
half-waves (amplitude, duration, slope) and compared with the local background (a running
robust standard deviation of the preceding and following seconds), and a discharge must be
seen on at least two neighbouring electrodes at the same time (a field), which rejects
single-electrode artifacts. Isolated spikes and sharp waves (:func:`find_spikes`) are then
candidates found with relaxed criteria and weighed by a small logistic classifier of their
morphology, after-going slow wave and field (:mod:`processors.events.spike_features`).

References
----------
Gotman J, Gloor P. Automatic recognition and quantification of interictal epileptic activity
in the human scalp EEG. Electroencephalogr Clin Neurophysiol 41(5):513-529, 1976.
Gotman J, Wang LY. State-dependent spike detection: concepts and preliminary results.
Electroencephalogr Clin Neurophysiol 79(1):11-19, 1991.
Wilson SB, Turner CA, Emerson RG, Scheuer ML. Spike detection II: automatic, perception-based
detection and clustering. Clin Neurophysiol 110(3):404-411, 1999 (Persyst's detector).
Mukhopadhyay S, Ray GC. A new interpretation of nonlinear energy operator and its efficacy in
spike detection. IEEE Trans Biomed Eng 45(2):180-187, 1998.
Hirsch LJ et al. American Clinical Neurophysiology Society's Standardized Critical Care EEG
Terminology: 2021 Version. J Clin Neurophysiol 38(1):1-29, 2021.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import signal

from processors.events._common import (
    at_samples,
    bandpass,
    block_robust_sd,
    check_signal,
    flat_channels,
)
from processors.events._types import Event
from processors.events.artifacts import muscle_mask
from processors.events.spike_features import candidate_features
from processors.geometry import SUPPRESSION_PP_UV, frontopolar_mask, neighbour_matrix

#: ACNS 2021 durations of the sharp transient itself.
SPIKE_MAX_S = 0.070
SHARP_WAVE_MAX_S = 0.200
MIN_DURATION_S = 0.020
#: durations are measured, not known: accept up to this factor over the nominal maximum
DURATION_TOLERANCE = 1.25
#: half-wave amplitude (mean of the two) over the local background standard deviation, at
#: the strongest channel of the field and at the others
AMPLITUDE_RATIO = 8.0
FIELD_RATIO = 4.0
#: and never under this absolute amplitude, whatever the background
MIN_AMPLITUDE_UV = 40.0
#: mean half-wave slope over the background's slope scale (sharpness)
SLOPE_RATIO = 1.6
#: channels whose apexes fall within this span belong to one discharge
FIELD_TOLERANCE_S = 0.020
#: band in which half-waves are measured: removes drift, line noise and most muscle
BAND_HZ = (1.0, 35.0)
#: a block whose background scale is under this is suppressed (a 10 uV peak-to-trough
#: envelope is about four standard deviations): it is no reference for the record's background
SUPPRESSED_SD_UV = SUPPRESSION_PP_UV / 4.0
#: the record's background: this percentile of a channel's local scales, low enough that a
#: train filling half the record or more does not become the record's background too
RECORD_BACKGROUND_PERCENTILE = 30.0


@dataclass
class DischargeContext:
    """What every pass of :func:`find_discharges` over one record shares: the band-passed
    signal, its local amplitude and slope scales, dead channels and muscle blocks.

    ``bg_record`` is each channel's background over the whole record (the quieter part of
    its local scales, :data:`RECORD_BACKGROUND_PERCENTILE`, suppressed blocks left out): a
    pattern that lasts tens of seconds (a periodic train) fills the running local background
    and would otherwise be measured against itself."""

    y: np.ndarray
    bg: np.ndarray
    bg_slope: np.ndarray
    block: int
    dead: np.ndarray
    muscle: np.ndarray
    muscle_block: int
    bg_record: np.ndarray
    #: the muscle mask without the pieces whose 30-45 Hz power is a cortical transient's
    #: tail (:func:`processors.events.artifacts.muscle_mask` ``spare_cortical``)
    muscle_noncortical: np.ndarray


def prepare_context(x: np.ndarray, sfreq_hz: float) -> DischargeContext:
    """Filter once and measure the background once for every detector pass."""
    y = bandpass(x, sfreq_hz, *BAND_HZ)
    bg, blk = block_robust_sd(y, sfreq_hz)
    slope = np.diff(y, axis=1, prepend=y[:, :1]) * sfreq_hz
    bg_slope, _ = block_robust_sd(slope, sfreq_hz)
    # Muscle bursts are full of sharp, high peaks: no discharge is called inside one.
    muscle, mblk = muscle_mask(x, sfreq_hz)
    spared, _ = muscle_mask(x, sfreq_hz, spare_cortical=True)
    return DischargeContext(
        y, bg, bg_slope, blk, flat_channels(x), muscle, mblk, record_background(bg), spared
    )


def record_background(bg: np.ndarray) -> np.ndarray:
    """Each channel's :data:`RECORD_BACKGROUND_PERCENTILE` of its local scales over the blocks
    that are not suppressed (all of them when every block is)."""
    live = np.where(bg >= SUPPRESSED_SD_UV, bg, np.nan)
    with warnings.catch_warnings():  # a channel suppressed throughout: its median instead
        warnings.simplefilter("ignore", RuntimeWarning)
        out = np.nanpercentile(live, RECORD_BACKGROUND_PERCENTILE, axis=1)
    return np.where(np.isfinite(out), out, np.median(bg, axis=1))


@dataclass
class Discharge:
    """One multichannel sharp transient (before it is called a spike, a sharp wave, or a
    member of a periodic train)."""

    apex_s: float
    onset_s: float
    duration_s: float
    channels: list[str]
    amplitude_uv: float
    amplitude_ratio: float
    slope_ratio: float
    channel_amplitudes_uv: dict[str, float]
    #: the spike classifier's log-odds (:func:`find_spikes`); None for a transient it did not
    #: score (periodic-train candidates)
    score: float | None = None

    @property
    def subtype(self) -> str:
        return "spike" if self.duration_s < SPIKE_MAX_S else "sharp_wave"

    @property
    def confidence(self) -> float:
        """The classifier's probability when it scored the transient; otherwise grows with the
        amplitude over background and the size of the field."""
        if self.score is not None:
            return float(1.0 / (1.0 + np.exp(-self.score)))
        z = 0.35 * (self.amplitude_ratio - AMPLITUDE_RATIO) + 0.3 * (len(self.channels) - 2)
        return float(np.clip(0.55 + 0.45 * np.tanh(z / 2.0), 0.0, 1.0))


def _half_wave_bases(
    y: np.ndarray, apex: np.ndarray, max_len: int, hysteresis: np.ndarray, forward: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Measure the half-wave on one side of each apex.

    Walking away from the apex, the half-wave ends at its highest point before the signal
    falls back by more than ``hysteresis``; smaller reversals are ignored, as Gotman's
    detector merges small interrupting half-waves into the larger one.

    Returns
    -------
    length : ndarray of int
        Samples from the apex to the top of the half-wave.
    top : ndarray of float
        Height of that top.
    half_width : ndarray of float
        Samples from the apex to where the half-wave reaches half its amplitude (linearly
        interpolated): unlike the base, this does not wander with the background.
    """
    n = y.size
    k = np.arange(len(apex))
    steps = np.arange(1, max_len + 1)
    idx = apex[:, None] + steps[None, :] if forward else apex[:, None] - steps[None, :]
    valid = (idx >= 0) & (idx < n)
    seg = np.where(valid, y[np.clip(idx, 0, n - 1)], -np.inf)
    top = np.maximum.accumulate(seg, axis=1)
    fell = seg < top - hysteresis[:, None]
    stop = np.where(fell.any(axis=1), fell.argmax(axis=1), max_len)
    masked = np.where(steps[None, :] <= stop[:, None], seg, -np.inf)
    best = masked.argmax(axis=1)
    top_val = masked[k, best]
    level = 0.5 * (y[apex] + top_val)
    above = seg >= level[:, None]
    j = above.argmax(axis=1)  # first step at or above half amplitude
    prev = np.where(j > 0, seg[k, np.maximum(j - 1, 0)], y[apex])
    cur = seg[k, j]
    frac = np.clip((level - prev) / np.maximum(cur - prev, 1e-9), 0.0, 1.0)
    half_width = j + frac  # steps are 1-based: j=0 means between the apex and step 1
    return best + 1, top_val, half_width


def _context_sd(y: np.ndarray, apex: np.ndarray, sfreq_hz: float) -> np.ndarray:
    """Robust scale of the second around each apex, leaving out the transient and its
    after-going slow wave: a wave of a waxing rhythm (alpha, mu) has equally large
    neighbours, an epileptiform discharge stands out from them."""
    before = np.arange(-round(1.0 * sfreq_hz), -round(0.15 * sfreq_hz))
    after = np.arange(round(0.4 * sfreq_hz), round(1.0 * sfreq_hz))
    offs = np.concatenate([before, after])
    idx = np.clip(apex[:, None] + offs[None, :], 0, y.size - 1)
    seg = y[idx]
    return 1.2533 * np.mean(np.abs(seg - seg.mean(axis=1, keepdims=True)), axis=1)


#: base-to-base duration of a sharp transient over its width at half amplitude (2 for a
#: triangle, about 2.5 for a Gaussian or a cusp-shaped spike)
DURATION_PER_HALF_WIDTH = 2.3


def find_discharges(
    data_uv: np.ndarray,
    sfreq_hz: float,
    ch_names: Sequence[str],
    *,
    max_duration_s: float = SHARP_WAVE_MAX_S,
    amplitude_ratio: float = AMPLITUDE_RATIO,
    field_ratio: float = FIELD_RATIO,
    slope_ratio: float = SLOPE_RATIO,
    min_amplitude_uv: float = MIN_AMPLITUDE_UV,
    min_channels: int = 2,
    use_context: bool = True,
    sustained: bool = False,
    prepared: DischargeContext | None = None,
) -> list[Discharge]:
    """Surface-negative sharp transients with a field, measured by half-waves.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Continuous EEG in microvolts.
    sfreq_hz : float
        Sampling rate.
    ch_names : sequence of str
        One name per row (standard 10-20 names give the neighbourhood of the field).
    max_duration_s : float
        Longest transient kept (0.2 s for spikes and sharp waves; periodic discharges may
        last up to 0.5 s).
    amplitude_ratio : float
        Mean half-wave amplitude over the local background scale at the field's strongest
        channel; the other channels of the field need ``field_ratio``.
    field_ratio : float
        The same ratio for the other channels of the field.
    slope_ratio : float
        Mean half-wave slope over the background's slope scale (sharpness).
    min_amplitude_uv : float
        Absolute floor of the mean half-wave amplitude at the strongest channel (half of
        it on the others).
    min_channels : int
        Smallest field: at least this many channels, neighbours of one another.
    use_context : bool
        Also measure each transient against its own surrounding second (without the
        transient and its after-going slow wave), so that one wave of a waxing rhythm is not
        taken for a discharge. Periodic discharges turn this off: their neighbours are
        discharges too.
    sustained : bool
        Measure each transient against the lower of its local background and the channel's
        background over the record (``DischargeContext.bg_record``), for
        patterns that last longer than the local background's span: a periodic train at
        2 Hz whose after-going slow waves fill the cycle is otherwise its own background.
        Transients are then set aside only in muscle whose 30-45 Hz power is not the tail
        of a cortical transient (``DischargeContext.muscle_noncortical``): a train of
        polyspikes at 2 Hz fills its own field's 30-45 Hz band.
    prepared : DischargeContext, optional
        From :func:`prepare_context` on the same signal (saves the filtering and background
        estimation when several passes run).

    Returns
    -------
    list of Discharge
        In time order.
    """
    x = check_signal(data_uv, sfreq_hz, ch_names)
    n_ch, n = x.shape
    if n < int(sfreq_hz):
        return []
    ctx = prepare_context(x, sfreq_hz) if prepared is None else prepared
    y, dead, blk = ctx.y, ctx.dead, ctx.muscle_block
    muscle = ctx.muscle_noncortical if sustained else ctx.muscle
    # the duration is estimated from the half-amplitude width, which the background can
    # widen: allow that much measurement error over the nominal longest duration
    max_len = int(np.ceil(DURATION_TOLERANCE * max_duration_s * sfreq_hz))

    cand_t, cand_ch, cand_rows = [], [], []
    for c in range(n_ch):
        if dead[c]:
            continue
        floor = max(0.5 * min_amplitude_uv, field_ratio * float(np.min(ctx.bg[c])))
        apex, _ = signal.find_peaks(-y[c], prominence=floor, wlen=2 * max_len + 1)
        if apex.size == 0:
            continue
        amp_guess = -y[c, apex] + np.maximum(y[c, np.maximum(apex - max_len, 0)], 0)
        hyst = np.maximum(0.15 * np.abs(amp_guess), 3.0)
        d1, top1, w1 = _half_wave_bases(y[c], apex, max_len, hyst, forward=False)
        d2, top2, w2 = _half_wave_bases(y[c], apex, max_len, hyst, forward=True)
        a1, a2 = top1 - y[c, apex], top2 - y[c, apex]
        amp = 0.5 * (a1 + a2)
        dur_s = DURATION_PER_HALF_WIDTH * (w1 + w2) / sfreq_hz
        lead = DURATION_PER_HALF_WIDTH * w1
        mean_slope = 0.5 * (a1 / d1 + a2 / d2) * sfreq_hz
        local_bg = at_samples(ctx.bg[c], ctx.block, apex)
        if sustained:
            local_bg = np.minimum(local_bg, ctx.bg_record[c])
        ratio = amp / np.maximum(local_bg, 0.5)
        if use_context:
            local = amp / np.maximum(_context_sd(y[c], apex, sfreq_hz), 0.5)
            ratio = np.minimum(ratio, local)
        sratio = mean_slope / np.maximum(at_samples(ctx.bg_slope[c], ctx.block, apex), 1.0)
        ok = (
            (ratio >= field_ratio)
            & (amp >= 0.5 * min_amplitude_uv)
            & (sratio >= 0.5 * slope_ratio)
            & (dur_s >= MIN_DURATION_S)
            & (dur_s <= DURATION_TOLERANCE * max_duration_s)
            & (np.minimum(a1, a2) >= 0.3 * np.maximum(a1, a2))
        )
        if muscle.shape[1]:
            ok &= ~at_samples(muscle[c], blk, apex)
        for k in np.flatnonzero(ok):
            cand_t.append(int(apex[k]))
            cand_ch.append(c)
            cand_rows.append((float(lead[k]), float(dur_s[k]), float(amp[k]), float(ratio[k]),
                              float(sratio[k])))  # fmt: skip
    found = _group_field(cand_t, cand_ch, cand_rows, sfreq_hz, list(ch_names), min_channels)
    return [
        d
        for d in found
        if d.amplitude_ratio >= amplitude_ratio
        and d.amplitude_uv >= min_amplitude_uv
        and d.slope_ratio >= slope_ratio
    ]


def _group_field(
    cand_t: list[int],
    cand_ch: list[int],
    rows: list[tuple[float, float, float, float, float]],
    sfreq_hz: float,
    ch_names: list[str],
    min_channels: int,
) -> list[Discharge]:
    """Group channel detections whose apexes coincide into multichannel discharges."""
    if not cand_t:
        return []
    order = np.argsort(cand_t, kind="stable")
    t = np.asarray(cand_t)[order]
    ch = np.asarray(cand_ch)[order]
    feats = np.asarray(rows)[order]
    tol = max(1, round(FIELD_TOLERANCE_S * sfreq_hz))
    breaks = np.flatnonzero(np.diff(t) > tol) + 1
    adjacency = neighbour_matrix(ch_names)
    ocular = frontopolar_mask(ch_names)
    min_channels = min(min_channels, len(ch_names))
    out: list[Discharge] = []
    for grp in np.split(np.arange(t.size), breaks):
        chans = np.unique(ch[grp])
        if chans.size < min_channels:
            continue
        if min_channels >= 2 and not adjacency[np.ix_(chans, chans)].any():
            continue  # scattered coincidences, not one field
        if ocular[chans].all() and not ocular.all():
            continue  # only at the frontopolar electrodes: eye movement, not cortex
        best = grp[np.argmax(feats[grp, 3])]
        amps: dict[str, float] = {}
        for g in grp:
            name = ch_names[ch[g]]
            amps[name] = max(amps.get(name, 0.0), float(feats[g, 2]))
        apex_s = t[best] / sfreq_hz
        out.append(
            Discharge(
                apex_s=float(apex_s),
                onset_s=float(apex_s - feats[best, 0] / sfreq_hz),
                duration_s=float(feats[best, 1]),
                channels=[ch_names[c] for c in chans],
                amplitude_uv=float(feats[best, 2]),
                amplitude_ratio=float(feats[best, 3]),
                slope_ratio=float(feats[best, 4]),
                channel_amplitudes_uv=amps,
            )
        )
    return out


# --- the spike classifier --------------------------------------------------------------------
#
# Amplitude alone cannot tell a spike 4-8x its background from an alpha wave or a sleep
# transient of the same size: on tuning seeds a ratio of 7 found 0.83 of the corpus's discharges
# at 15 false detections per clean hour, 6 found 0.87 at 90. So candidates are found with relaxed
# half-wave criteria and then weighed together, morphology (sharpness, duration, curvature,
# Teager energy, half-wave symmetry), after-going slow wave and field (size, coherence,
# posterior share, alpha share), by a logistic model over
# :data:`processors.events.spike_features.FEATURE_NAMES`, in the manner of the candidate-then-
# classify detectors (Gotman & Gloor 1976's half-waves; Wilson et al. 1999, Persyst's
# neural-network stage; Mukhopadhyay & Ray 1998 for the energy operator).
#
# The weights were fitted by ``python -m evaluation.spike_tuning`` on TUNING seeds only
# (evaluation corpus generators at seeds 300-339: spikes, normal awake and normal asleep
# records of 3 minutes; ``evaluation.detectors`` seeds 0-9: event, clean and sleep records)
# with scikit-learn's L2 logistic regression (C=1, discharges weighted 30:1), features
# standardised by the tuning mean and scale below. Measured there: 0.90 of the corpus's
# discharges (0.96 of the detector records') at 0.5 false detections per clean hour; fitted
# on half the seeds, the other half gave 0.90 at 0.35 per clean hour.

#: relaxed half-wave criteria of the candidates (recall 0.95 of the tuning discharges)
CANDIDATE_AMPLITUDE_RATIO = 4.0
CANDIDATE_FIELD_RATIO = 3.0
CANDIDATE_SLOPE_RATIO = 1.0
CANDIDATE_MIN_AMPLITUDE_UV = 30.0
#: transients this close to either end of the record are the filter's edge, with no
#: surrounding second to compare with
EDGE_S = 1.0
#: fitted by evaluation.spike_tuning (see above); order of FEATURE_NAMES
SPIKE_FEATURE_MEAN: tuple[float, ...] = (
    1.5986, 1.3886, 0.4089, 4.0772, -1.9451, 1.4578, 0.0176,
    0.0095, 0.5492, 0.8555, 0.7196, 0.1984, 1.8944, 0.1336,
)  # fmt: skip
SPIKE_FEATURE_SCALE: tuple[float, ...] = (
    0.2048, 0.2881, 0.2985, 0.2678, 0.3272, 0.4460, 0.0863,
    0.0838, 0.3771, 0.1546, 0.3620, 0.5038, 1.3535, 0.0722,
)  # fmt: skip
SPIKE_WEIGHTS: tuple[float, ...] = (
    0.9738, 0.5573, -0.5157, 0.2720, -0.7112, -0.3267, -0.0619,
    0.3659, 0.7572, -0.0736, -0.4364, 0.2691, -0.1472, 0.7338,
)  # fmt: skip
SPIKE_BIAS: float = -3.1501
#: log-odds a candidate needs to be reported as a spike or sharp wave: three candidates of the
#: 5.7 clean tuning hours lie above it (0.5 an hour)
SPIKE_SCORE_THRESHOLD: float = 1.6797


def find_spike_candidates(
    data_uv: np.ndarray,
    sfreq_hz: float,
    ch_names: Sequence[str],
    *,
    prepared: DischargeContext | None = None,
) -> list[Discharge]:
    """Every sharp transient up to 0.2 s that passes the relaxed candidate criteria, away from
    the record's edges (before the classifier of :func:`find_spikes`)."""
    x = check_signal(data_uv, sfreq_hz, ch_names)
    ctx = prepare_context(x, sfreq_hz) if prepared is None else prepared
    found = find_discharges(
        x, sfreq_hz, ch_names, max_duration_s=SHARP_WAVE_MAX_S,
        amplitude_ratio=CANDIDATE_AMPLITUDE_RATIO, field_ratio=CANDIDATE_FIELD_RATIO,
        slope_ratio=CANDIDATE_SLOPE_RATIO, min_amplitude_uv=CANDIDATE_MIN_AMPLITUDE_UV,
        use_context=False, prepared=ctx,
    )  # fmt: skip
    end_s = x.shape[1] / sfreq_hz
    return [d for d in found if EDGE_S <= d.apex_s <= end_s - EDGE_S]


def spike_scores(
    ctx: DischargeContext, candidates: Sequence[Discharge], ch_names: Sequence[str], sfreq_hz: float
) -> np.ndarray:
    """The classifier's log-odds of each candidate being an epileptiform discharge."""
    feats = candidate_features(ctx, candidates, ch_names, sfreq_hz)
    z = (feats - np.asarray(SPIKE_FEATURE_MEAN)) / np.asarray(SPIKE_FEATURE_SCALE)
    return z @ np.asarray(SPIKE_WEIGHTS) + SPIKE_BIAS


def find_spikes(
    data_uv: np.ndarray,
    sfreq_hz: float,
    ch_names: Sequence[str],
    *,
    prepared: DischargeContext | None = None,
    threshold: float = SPIKE_SCORE_THRESHOLD,
) -> list[Discharge]:
    """Spikes and sharp waves: candidates (:func:`find_spike_candidates`) whose classifier
    log-odds reach ``threshold``, each carrying its ``score``.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Continuous EEG in microvolts.
    sfreq_hz : float
        Sampling rate (at least 100 Hz).
    ch_names : sequence of str
        Channel names, one per row (standard names give the field's neighbours and regions).
    prepared : DischargeContext, optional
        From :func:`prepare_context` on the same signal.
    threshold : float
        Log-odds a candidate needs (:data:`SPIKE_SCORE_THRESHOLD`).

    Returns
    -------
    list of Discharge
        In time order.
    """
    x = check_signal(data_uv, sfreq_hz, ch_names)
    ctx = prepare_context(x, sfreq_hz) if prepared is None else prepared
    candidates = find_spike_candidates(x, sfreq_hz, ch_names, prepared=ctx)
    scores = spike_scores(ctx, candidates, ch_names, sfreq_hz)
    kept = zip(candidates, scores, strict=True)
    return [replace(d, score=float(s)) for d, s in kept if s >= threshold]


def discharge_to_event(d: Discharge) -> Event:
    """An isolated discharge as an ``epileptiform`` event."""
    return Event(
        type="epileptiform",
        subtype=d.subtype,
        onset_s=d.onset_s,
        duration_s=d.duration_s,
        channels=list(d.channels),
        confidence=d.confidence,
        details={
            "apex_s": round(d.apex_s, 4),
            "amplitude_uv": round(d.amplitude_uv, 1),
            "amplitude_ratio": round(d.amplitude_ratio, 2),
            "slope_ratio": round(d.slope_ratio, 2),
            **({} if d.score is None else {"score": round(d.score, 2)}),
        },
    )


def detect_spikes(
    data_uv: np.ndarray,
    sfreq_hz: float,
    ch_names: Sequence[str],
    *,
    prepared: DischargeContext | None = None,
) -> list[Event]:
    """Spikes and sharp waves as ``epileptiform`` events (subtype ``spike`` or ``sharp_wave``).

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Continuous EEG in microvolts (band-passed 0.5-45 Hz or raw).
    sfreq_hz : float
        Sampling rate (at least 100 Hz).
    ch_names : sequence of str
        Channel names, one per row.
    prepared : DischargeContext, optional
        From :func:`prepare_context` on the same signal.

    Returns
    -------
    list of Event
        One per discharge, onset at the start of its first half-wave.
    """
    found = find_spikes(data_uv, sfreq_hz, ch_names, prepared=prepared)
    return [discharge_to_event(d) for d in found]
