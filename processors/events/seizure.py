"""Electrographic seizures: rhythmic activity above 2.5 Hz lasting at least 10 s.

Each channel is cut into 2 s epochs (1 s step). An epoch is ictal on a channel when

- its line length (Esteller et al. 2001), the summed absolute first difference that grows
  with both amplitude and frequency, is several times the channel's background (the median
  over the record, in the manner of Gotman 1982 comparing each epoch with the background), and
- its activity is rhythmic: a dominant frequency above 2.5 Hz (ACNS 2021) that carries a
  large share of the 1-20 Hz power, and a waveform that repeats at that frequency (its
  autocorrelation at one period, as autocorrelation pitch detection reads a repetition rate,
  Rabiner 1977).

Ictal epochs on at least two channels make an ictal second; runs of them are merged across
gaps of up to 2 s and kept when they last at least 10 s. The seizure burden is the share of
the record inside seizures.

The first epoch that passes these thresholds is often seconds after the seizure began: a
focal onset is low in amplitude and grows. Once a seizure is confirmed, its onset is tracked
back (:func:`track_onset`) on the channels where it starts: the amplitude envelope of the
detected rhythm (its frequency at onset, +-1.5 Hz) is compared with the channels' background
over the rest of the record, and the onset is the change point of a one-sided CUSUM (Page
1954) run from up to 20 s before the confirmed start, the last time the cumulative excess over
the background was zero (the change-point estimate of Page's test, as used for seizure onset
by Qu and Gotman 1997, who measure each feature against the preceding background). A run
that begins with the posterior alpha rhythm waxing just before the seizure (joined to it across
the 2 s gap) starts at its first epoch that is not alpha (:func:`_after_alpha_lead`).

References
----------
Esteller R, Echauz J, Tcheng T, Litt B, Pless B. Line length: an efficient feature for seizure
onset detection. Proc 23rd IEEE EMBS Conference, 1707-1710, 2001.
Gotman J. Automatic recognition of epileptic seizures in the EEG. Electroencephalogr Clin
Neurophysiol 54(5):530-540, 1982.
Page ES. Continuous inspection schemes. Biometrika 41(1/2):100-115, 1954.
Qu H, Gotman J. A patient-specific algorithm for the detection of seizure onset in long-term
EEG monitoring: possible use as a warning device. IEEE Trans Biomed Eng 44(2):115-122, 1997.
Rabiner LR. On the use of autocorrelation analysis for pitch detection. IEEE Trans Acoust
Speech Signal Process 25(1):24-33, 1977.
Hirsch LJ et al. American Clinical Neurophysiology Society's Standardized Critical Care EEG
Terminology: 2021 Version. J Clin Neurophysiol 38(1):1-29, 2021.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.signal import hilbert

from processors.events._common import (
    bandpass,
    check_signal,
    flat_channels,
    merge_runs,
    runs,
)
from processors.events._types import Event
from processors.geometry import known, posterior_mask

EPOCH_S = 2.0
STEP_S = 1.0
MIN_DURATION_S = 10.0
MAX_GAP_S = 2.0
#: line length over the channel's median line length
LINE_LENGTH_RATIO = 2.5
#: lower ratio that extends a detected seizure back to its onset
ONSET_LL_RATIO = 1.5
ONSET_OFFSET_S = 0.5
#: ACNS 2021: rhythmic activity faster than 2.5 Hz
MIN_FREQUENCY_HZ = 2.5
#: share of the 1-20 Hz power within 1 Hz of the dominant frequency
MIN_RHYTHMICITY = 0.45
#: normalised autocorrelation at one dominant period: a rhythm repeats every period
#: (rhythmic seizures of the tuning corpus: median 0.9, under 0.5 in 0-3 % of their ictal
#: epochs); periodic discharges at 2-2.5 Hz whose discharge and after-going slow wave put
#: their power at the second harmonic, where a spectral subharmonic test finds nothing,
#: repeat every other period of it (median 0.25)
MIN_PERIODICITY = 0.5
#: the test applies where the dominant line may be the second harmonic of a repetition at
#: or under 2.5 Hz (one 0.5 Hz bin of margin), so that the low-amplitude 15-25 Hz onset of
#: a fast seizure, a weak rhythm in the background, is not asked to repeat cleanly
HARMONIC_MAX_HZ = 2 * MIN_FREQUENCY_HZ + 0.5
MIN_CHANNELS = 2
BAND_HZ = (1.0, 20.0)
#: how far before its first confirmed epoch a seizure's onset may be tracked back
ONSET_TRACK_S = 20.0
#: half-width of the band around the rhythm's frequency whose envelope is tracked
ONSET_BAND_HALF_HZ = 1.5
MAX_ONSET_EXTRA_HZ = 6.0
#: the envelope is taken in steps of this, smoothed over ONSET_SMOOTH_S
ONSET_STEP_S = 0.25
ONSET_SMOOTH_S = 1.0
#: CUSUM allowance (robust standard deviations of the log envelope over the background):
#: an excess smaller than this does not accumulate
CUSUM_K = 2.0
#: the start sought is at least this share of the log-envelope excess at the confirmed start
ONSET_SHARE = 0.3
#: background for the CUSUM: at least this much of the record outside seizures
MIN_REFERENCE_S = 10.0
#: the record after a seizure is not its background (postictal slowing or suppression): it
#: is part of the reference only from this long after the seizure's end, and only when the
#: record before the stretch searched is shorter than PREICTAL_REFERENCE_S
POSTICTAL_S = 30.0
PREICTAL_REFERENCE_S = 20.0


def seizure_features(
    data_uv: np.ndarray, sfreq_hz: float, filtered: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Per channel and 2 s epoch: line-length ratio, dominant frequency and rhythmicity.

    ``filtered``, when given, is the signal band-passed 1-35 Hz.

    Returns
    -------
    dict
        ``ll_ratio``, ``dominant_hz``, ``rhythmicity``, ``periodicity`` (autocorrelation at
        one dominant period, :func:`_periodicity`) of shape (n_channels, n_epochs) and
        ``epoch_start_s`` of shape (n_epochs,).
    """
    x = np.asarray(data_uv, dtype=float)
    # Nothing above 20 Hz is used: work at half the rate when the rate allows (the input,
    # band-limited to 35 Hz, can be taken every second sample without aliasing).
    q = 2 if sfreq_hz >= 140.0 else 1
    if filtered is None:
        filtered = bandpass(x, sfreq_hz, BAND_HZ[0], 35.0)
    sfreq_hz = sfreq_hz / q
    y = bandpass(filtered[:, ::q], sfreq_hz, None, BAND_HZ[1])
    win, step = round(EPOCH_S * sfreq_hz), round(STEP_S * sfreq_hz)
    ep = np.lib.stride_tricks.sliding_window_view(y, win, axis=1)[:, ::step]
    ll = np.abs(np.diff(ep, axis=2)).sum(axis=2)
    base = np.median(ll, axis=1, keepdims=True)
    ll_ratio = ll / np.maximum(base, 1e-9)
    spec = np.abs(np.fft.rfft((ep - ep.mean(axis=2, keepdims=True)) * np.hanning(win), axis=2)) ** 2
    freqs = np.fft.rfftfreq(win, 1.0 / sfreq_hz)
    band = (freqs >= BAND_HZ[0]) & (freqs <= BAND_HZ[1])
    p = spec[:, :, band]
    f = freqs[band]
    k = p.argmax(axis=2)
    dominant = _fundamental(p, f, k)
    # power within +-1 Hz of the peak (the Hann main lobe) over the whole band
    near = np.abs(f[None, None, :] - f[k][:, :, None]) <= 1.0
    rhythm = (p * near).sum(axis=2) / np.maximum(p.sum(axis=2), 1e-12)
    return {
        "ll_ratio": ll_ratio,
        "dominant_hz": dominant,
        "rhythmicity": rhythm,
        "periodicity": _periodicity(ep, dominant, sfreq_hz),
        # from the step actually taken: at a rate where 1 s is not a whole number of
        # samples, a nominal 1 s step would drift (4.5 s late at 800 s at 181 Hz)
        "epoch_start_s": np.arange(ll.shape[1]) * (step / sfreq_hz),
    }


#: a spectral peak at half the dominant frequency with at least this share of its power
#: makes the dominant a harmonic: the pattern repeats at the lower rate
SUBHARMONIC_SHARE = 0.25


def _fundamental(p: np.ndarray, f: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The repetition rate of each epoch's activity: the dominant frequency, or half of it
    when a local spectral peak lies there with :data:`SUBHARMONIC_SHARE` of the dominant's
    power (periodic discharges at 2 Hz put their largest line at 4 Hz; they are not a 4 Hz
    rhythm)."""
    df = float(f[1] - f[0]) if f.size > 1 else 1.0
    half = np.clip(np.round((f[k] / 2.0 - f[0]) / df).astype(int), 1, f.size - 2)
    at = np.take_along_axis(p, half[..., None], axis=2)[..., 0]
    left = np.take_along_axis(p, (half - 1)[..., None], axis=2)[..., 0]
    right = np.take_along_axis(p, (half + 1)[..., None], axis=2)[..., 0]
    peak = np.take_along_axis(p, k[..., None], axis=2)[..., 0]
    sub = (at >= SUBHARMONIC_SHARE * peak) & (at >= left) & (at >= right) & (half < k)
    return np.where(sub, f[half], f[k])


def _periodicity(ep: np.ndarray, dominant_hz: np.ndarray, sfreq_hz: float) -> np.ndarray:
    """Normalised (unbiased) autocorrelation of each epoch (last axis of ``ep``) at one period
    of its dominant frequency: near 1 for a rhythm at that frequency, low for activity whose
    dominant line is a harmonic of a slower repetition."""
    win = ep.shape[-1]
    z = ep - ep.mean(axis=-1, keepdims=True)
    spec = np.fft.rfft(z, n=2 * win, axis=-1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=-1)[..., :win] / np.arange(win, 0, -1)
    ac = ac / np.maximum(ac[..., :1], 1e-12)
    lag = np.round(sfreq_hz / np.maximum(dominant_hz, 1e-3)).astype(int)
    return np.take_along_axis(ac, np.clip(lag, 1, win - 1)[..., None], axis=-1)[..., 0]


def _harmonic_of_slow_repetition(dominant_hz: np.ndarray, periodicity: np.ndarray) -> np.ndarray:
    """Epochs whose dominant line (up to :data:`HARMONIC_MAX_HZ`) does not repeat at its own
    period (:data:`MIN_PERIODICITY`): the harmonic of periodic discharges at 2.5 Hz or
    slower, which are not an electrographic seizure (ACNS 2021)."""
    return (dominant_hz <= HARMONIC_MAX_HZ) & (periodicity < MIN_PERIODICITY)


def detect_seizures(
    data_uv: np.ndarray,
    sfreq_hz: float,
    ch_names: Sequence[str],
    *,
    ll_ratio: float = LINE_LENGTH_RATIO,
    min_duration_s: float = MIN_DURATION_S,
    filtered: np.ndarray | None = None,
) -> list[Event]:
    """Electrographic seizures as ``seizure`` events.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Continuous EEG in microvolts.
    sfreq_hz : float
        Sampling rate (at least 100 Hz).
    ch_names : sequence of str
        Channel names, one per row.
    ll_ratio : float
        Line length over the channel's median needed for an ictal epoch.
    min_duration_s : float
        Shortest seizure (ACNS 2021: 10 s).
    filtered : ndarray, optional
        The signal already band-passed 1-35 Hz (as :mod:`.spikes` filters it).

    Returns
    -------
    list of Event
        ``details`` holds the dominant frequency at onset and at the end (evolution), the
        peak line-length ratio and whether the pattern evolves.
    """
    x = check_signal(data_uv, sfreq_hz, ch_names)
    if x.shape[1] < round(max(EPOCH_S, min_duration_s) * sfreq_hz):
        return []
    if filtered is None:
        filtered = bandpass(x, sfreq_hz, BAND_HZ[0], 35.0)
    feats = seizure_features(x, sfreq_hz, filtered)
    ll_all, dom_all = feats["ll_ratio"], feats["dominant_hz"]
    rhythmic = (dom_all > MIN_FREQUENCY_HZ) & (feats["rhythmicity"] >= MIN_RHYTHMICITY)
    rhythmic &= ~_harmonic_of_slow_repetition(dom_all, feats["periodicity"])
    ictal = rhythmic & (ll_all >= ll_ratio)
    ictal[flat_channels(x)] = False
    n_needed = min(MIN_CHANNELS, x.shape[0])
    per_epoch = ictal.sum(axis=0) >= n_needed
    gap = round(MAX_GAP_S / STEP_S)
    events = []
    # Onset search: the first seconds of a seizure are often low in amplitude; walk back
    # while the same channels stay rhythmic above 2.5 Hz at a lower line-length ratio.
    weak = rhythmic & (ll_all >= ONSET_LL_RATIO)
    merged = merge_runs(runs(per_epoch), max_gap=gap)
    t_ep = feats["epoch_start_s"]
    # every candidate run, as the stretches the onset tracker keeps out of the background
    spans = [(float(t_ep[a]), float(t_ep[b - 1]) + EPOCH_S) for a, b in merged]
    for a, b in merged:
        a = _after_alpha_lead(ictal, dom_all, ch_names, a, b)
        core = ictal[:, a:b].mean(axis=1) >= 0.25
        f0 = _median_where(dom_all[:, a], ictal[:, a])
        while a > 0 and (weak[core, a - 1] & (np.abs(dom_all[core, a - 1] - f0) <= 1.5)).any():
            a -= 1
        duration = float(feats["epoch_start_s"][b - 1] - feats["epoch_start_s"][a]) + EPOCH_S
        if duration < min_duration_s:
            continue
        share = ictal[:, a:b].mean(axis=1)
        if share.max() < 0.4:
            continue  # ictal epochs wander between channels: no consistent rhythm
        chans = [ch_names[c] for c in np.flatnonzero(share >= min(0.5, 0.8 * share.max()))]
        active = ictal[:, a:b]
        dom = np.where(active, dom_all[:, a:b], np.nan)
        has = np.isfinite(dom).any(axis=0)  # epochs of the run with an ictal channel
        f_track = np.nanmedian(dom[:, has], axis=0) if has.any() else np.zeros(1)
        n3 = max(1, min(3, f_track.size // 3))
        f_on, f_off = float(np.median(f_track[:n3])), float(np.median(f_track[-n3:]))
        run_ll = ll_all[:, a:b]
        llr = run_ll[active]
        # line length over the first and last 3 epochs of the run
        amp_on = _median_where(run_ll[:, :3], active[:, :3])
        amp_off = _median_where(run_ll[:, -3:], active[:, -3:])
        evolving = abs(f_off - f_on) >= 1.0 or max(amp_on, amp_off) >= 1.5 * max(
            min(amp_on, amp_off), 1e-9
        )
        if _is_posterior_rhythm(ch_names, chans, f_on, f_off):
            continue
        # an epoch turns ictal once about half of it is: the confirmed start is mid-epoch;
        # the seizure began where its rhythm rose on the channels it starts on
        start_s = float(feats["epoch_start_s"][a] + ONSET_OFFSET_S)
        end_s = start_s + duration
        first = core & weak[:, a : a + 3].any(axis=1)
        onset_s = track_onset(
            filtered, sfreq_hz, np.flatnonzero(first if first.any() else core), f_on,
            start_s, end_s, spans, slowing_hz_per_s=max(0.0, f_on - f_off) / duration,
        )  # fmt: skip
        duration = end_s - onset_s
        conf = 0.5 + 0.15 * np.tanh((np.median(llr) - ll_ratio) / 2) + 0.05 * min(len(chans), 5)
        conf += 0.1 * min(duration / 30.0, 1.0)
        events.append(
            Event(
                type="seizure",
                subtype=None,
                onset_s=onset_s,
                duration_s=float(duration),
                channels=chans,
                confidence=float(np.clip(conf, 0.0, 1.0)),
                details={
                    "onset_frequency_hz": round(f_on, 2),
                    "end_frequency_hz": round(f_off, 2),
                    "peak_line_length_ratio": round(float(llr.max()), 2),
                    "evolving": bool(evolving),
                },
            )
        )
    return events


def track_onset(
    filtered: np.ndarray,
    sfreq_hz: float,
    channels: np.ndarray,
    frequency_hz: float,
    confirmed_s: float,
    end_s: float,
    seizures: Sequence[tuple[float, float]] = (),
    *,
    slowing_hz_per_s: float = 0.0,
) -> float:
    """The onset of a confirmed seizure, tracked back to where its rhythm began rising.

    The amplitude envelope (Hilbert) of ``filtered`` band-passed to ``frequency_hz`` +-
    :data:`ONSET_BAND_HALF_HZ` on ``channels`` is taken in :data:`ONSET_STEP_S` steps,
    log-scaled, smoothed over :data:`ONSET_SMOOTH_S` and standardised per channel by its
    median and median absolute deviation over the background (the record before the
    stretch searched; when that is shorter than :data:`PREICTAL_REFERENCE_S`, also the
    record from :data:`POSTICTAL_S` after the seizure's end; never inside ``seizures``),
    then averaged over the channels and standardised again. A one-sided CUSUM (Page 1954),
    ``S = max(0, S + z - k)`` with ``k`` = :data:`CUSUM_K`, runs from :data:`ONSET_TRACK_S`
    before ``confirmed_s`` to it; the onset is the step after its last zero (Page's
    change-point estimate): the first time the rhythm stood above the background and stayed
    above it up to the confirmed start.

    Parameters
    ----------
    filtered : ndarray, shape (n_channels, n_samples)
        The signal band-passed 1-35 Hz.
    sfreq_hz : float
    channels : ndarray of int
        Rows where the seizure starts.
    frequency_hz : float
        The rhythm's frequency at the confirmed start.
    confirmed_s, end_s : float
        The first confirmed ictal time and the seizure's end.
    seizures : sequence of (onset_s, offset_s)
        Every seizure of the record (kept out of the background).

    Returns
    -------
    float
        The onset (seconds), never later than ``confirmed_s`` nor earlier than
        :data:`ONSET_TRACK_S` before it; ``confirmed_s`` when there is too little background.
    """
    if channels.size == 0 or frequency_hz <= 0:
        return confirmed_s
    lo = max(BAND_HZ[0], frequency_hz - ONSET_BAND_HALF_HZ)
    # a seizure that slows was faster before it was confirmed: the band reaches up to the
    # frequency it had ONSET_TRACK_S earlier at its mean rate of slowing (at most
    # MAX_ONSET_EXTRA_HZ more)
    extra = min(MAX_ONSET_EXTRA_HZ, slowing_hz_per_s * ONSET_TRACK_S)
    hi = frequency_hz + ONSET_BAND_HALF_HZ + extra
    env = np.abs(hilbert(bandpass(filtered[channels], sfreq_hz, lo, hi, order=3), axis=1))
    step = max(1, round(ONSET_STEP_S * sfreq_hz))
    n_steps = env.shape[1] // step
    if n_steps < 4:
        return confirmed_s
    z = np.log(env[:, : n_steps * step].reshape(env.shape[0], n_steps, step).mean(axis=2) + 1e-3)
    z = ndimage.uniform_filter1d(z, size=max(1, round(ONSET_SMOOTH_S / ONSET_STEP_S)), axis=1)
    t = (np.arange(n_steps) + 0.5) * step / sfreq_hz
    i0 = int(np.searchsorted(t, confirmed_s - ONSET_TRACK_S))
    ic = int(np.searchsorted(t, confirmed_s))
    ref = t < confirmed_s - ONSET_TRACK_S - ONSET_SMOOTH_S
    if ref.sum() * ONSET_STEP_S < PREICTAL_REFERENCE_S:
        ref |= t > end_s + POSTICTAL_S
    for a_s, b_s in seizures:
        ref &= (t < a_s - ONSET_SMOOTH_S) | (t > b_s + ONSET_SMOOTH_S)
    if ref.sum() * ONSET_STEP_S < MIN_REFERENCE_S or ic <= i0:
        return confirmed_s
    zc = np.median(_robust_z(z, ref), axis=0)
    zc = _robust_z(zc[None, :], ref)[0]
    # Page's allowance is half the shift to be detected: here a start at ONSET_SHARE of the
    # excess the seizure has when confirmed, and never under CUSUM_K
    ictal = float(np.median(zc[ic : ic + round(EPOCH_S / ONSET_STEP_S)]))
    k = max(CUSUM_K, 0.5 * ONSET_SHARE * ictal)
    s = 0.0
    last_zero = i0 - 1
    for i in range(i0, ic):
        s = max(0.0, s + float(zc[i]) - k)
        if s == 0.0:
            last_zero = i
    if last_zero >= ic - 1:
        return confirmed_s
    return float(min(confirmed_s, t[last_zero + 1] - 0.5 * ONSET_STEP_S))


def _robust_z(z: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Each row minus its median over ``ref``, over its scaled median absolute deviation."""
    med = np.median(z[:, ref], axis=1, keepdims=True)
    mad = 1.4826 * np.median(np.abs(z[:, ref] - med), axis=1, keepdims=True)
    return (z - med) / np.maximum(mad, 1e-6)


#: seizures this close (seconds) are one seizure
JOIN_GAP_S = MAX_GAP_S


def periodic_seizure(train: Event) -> Event:
    """A periodic train faster than 2.5 Hz lasting 10 s or more, as the seizure it is
    (ACNS 2021: epileptiform discharges averaging more than 2.5 Hz for at least 10 s)."""
    rate = float(train.details.get("frequency_hz", 0.0))
    return Event(
        type="seizure",
        subtype=None,
        onset_s=train.onset_s,
        duration_s=train.duration_s,
        channels=list(train.channels),
        confidence=train.confidence,
        details={
            "onset_frequency_hz": round(rate, 2),
            "end_frequency_hz": round(rate, 2),
            "evolving": False,
            "discharges_over_2_5_hz": int(train.details.get("n_discharges", 0)),
        },
    )


def join_seizures(seizures: Sequence[Event], more: Sequence[Event]) -> list[Event]:
    """Seizures of both lists in time order, those that overlap or lie within
    :data:`JOIN_GAP_S` of one another joined into one (the first's details, both channels)."""
    out: list[Event] = []
    for e in sorted([*seizures, *more], key=lambda e: e.onset_s):
        if out and e.onset_s <= out[-1].offset_s + JOIN_GAP_S:
            last = out[-1]
            end = max(last.offset_s, e.offset_s)
            out[-1] = Event(
                type="seizure",
                subtype=last.subtype,
                onset_s=last.onset_s,
                duration_s=end - last.onset_s,
                channels=sorted(set(last.channels) | set(e.channels)),
                confidence=max(last.confidence, e.confidence),
                details={**last.details, "end_frequency_hz": e.details.get("end_frequency_hz")},
            )
        else:
            out.append(e)
    return out


def _after_alpha_lead(
    ictal: np.ndarray, dominant_hz: np.ndarray, ch_names: Sequence[str], a: int, b: int
) -> int:
    """The first epoch of the run ``a:b`` after its lead of alpha: the posterior rhythm waxing
    just before a seizure joins it across the gap, and is no part of it. Epochs are skipped
    while their ictal channels are a posterior rhythm (:func:`_is_posterior_rhythm`) or none
    are ictal; a run that is alpha throughout is kept whole (it is judged as a whole)."""
    for i in range(a, b):
        chans = np.flatnonzero(ictal[:, i])
        if chans.size == 0:
            continue
        f_hz = float(np.median(dominant_hz[chans, i]))
        if not _is_posterior_rhythm(ch_names, [ch_names[c] for c in chans], f_hz, f_hz):
            return i
    return a


def _median_where(values: np.ndarray, mask: np.ndarray) -> float:
    """Median of the values where ``mask`` is True, 0 when it is True nowhere."""
    return float(np.median(values[mask])) if mask.any() else 0.0


#: the posterior dominant (alpha) rhythm band
ALPHA_BAND_HZ = (7.5, 13.0)


def _is_posterior_rhythm(
    ch_names: Sequence[str], chans: Sequence[str], f_on: float, f_off: float
) -> bool:
    """A steady 7.5-13 Hz rhythm over the back of the head is the normal alpha rhythm
    waxing, not a seizure: no evolution in frequency and a posterior field."""
    lo, hi = ALPHA_BAND_HZ
    if not (lo <= f_on <= hi and lo <= f_off <= hi and abs(f_off - f_on) < 1.0):
        return False
    if not chans or not known(chans).all():
        return False
    return bool(np.mean(posterior_mask(chans)) >= 0.5)


def seizure_burden_percent(events: Sequence[Event], duration_s: float) -> float:
    """Share of the record (percent) inside seizure events."""
    if duration_s <= 0:
        return 0.0
    total = sum(e.duration_s for e in events if e.type == "seizure")
    return float(min(100.0, 100.0 * total / duration_s))
