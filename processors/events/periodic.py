"""Periodic discharges: lateralized (LPD, formerly PLEDs) and generalized (GPD, GPEDs).

ACNS 2021: a periodic pattern is a repetition of a discharge of relatively uniform
morphology at a nearly regular interval, at least 6 cycles in a row, the interval varying by
less than 50 % from one cycle to the next in most cycles. It is *generalized* when bilateral,
synchronous and symmetric, *lateralized* when unilateral or clearly predominant over one
hemisphere.

Implementation: the sharp transients of :func:`processors.events.spikes.find_discharges`
(up to 0.5 s long, field of two or more electrodes) are chained greedily, each link within
25 % of the train's running median interval (0.25-5 s, 0.2-4 Hz), and a chain of at least
6 discharges whose inter-discharge intervals have a coefficient of variation under 0.25 is a
periodic train. Its topography is the peak-to-peak amplitude, per channel, of the
discharge-locked average; a left-right amplitude ratio of at least 2 (lateralization index
|L - R| / (L + R) >= 1/3) makes it lateralized.

References
----------
Hirsch LJ et al. American Clinical Neurophysiology Society's Standardized Critical Care EEG
Terminology: 2021 Version. J Clin Neurophysiol 38(1):1-29, 2021.
Chatrian GE, Shaw CM, Leffman H. The significance of periodic lateralized epileptiform
discharges in EEG: an electrographic, clinical and pathological study.
Electroencephalogr Clin Neurophysiol 17:177-193, 1964.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from processors.events._common import check_signal, hemisphere_sides, inside_any
from processors.events._types import Event
from processors.events.spikes import (
    Discharge,
    DischargeContext,
    find_discharges,
    prepare_context,
)
from processors.geometry import frontopolar_mask

MIN_CYCLES = 6
#: share of all the transients within a train's span that belong to the train: periodic
#: discharges stand out from the background between them, a chain threaded through a
#: crowd of delta or theta waves does not
MIN_PURITY = 0.5
#: link tolerance: a quarter of the period, and never more than this
MAX_LINK_TOLERANCE_S = 0.3
#: phases of one discharge (its after-going slow wave) lie within this of its apex
NMS_S = 0.2
INTERVAL_S = (0.25, 5.0)
LINK_TOLERANCE = 0.25
#: ACNS 2021: epileptiform discharges averaging more than 2.5 Hz for at least 10 s are an
#: electrographic seizure, not a periodic pattern
SEIZURE_RATE_HZ = 2.5
SEIZURE_MIN_S = 10.0
#: a chain whose midpoints hold transients alike its own in this share of its cycles reads
#: every other discharge of a pattern twice as fast
MAX_HALF_PERIOD_FILL = 0.5
#: cycles a chain may skip in a row (the share of missed cycles is bounded by _is_regular)
MAX_MISSED_CYCLES = 2
MAX_CV = 0.25
#: |L - R| / (L + R) at or above this (a 2:1 amplitude ratio) is lateralized
LATERALIZATION_INDEX = 1.0 / 3.0
#: periodic discharges may be blunter and lower than isolated spikes: the regularity of
#: the train is itself strong evidence
DISCHARGE_RATIO = 5.0
#: periodic discharges are often blunt (ACNS 2021 counts blunt waves): sharpness relaxed
DISCHARGE_SLOPE_RATIO = 1.0
MAX_DISCHARGE_S = 0.5
#: discharge-locked amplitude over the activity between discharges (see train_salience)
MIN_SALIENCE = 5.0
#: A sustained train (at least this long; faster than SEIZURE_RATE_HZ it is a seizure, see
#: is_seizure_rate) may have after-going slow waves that fill the cycle, so that the
#: activity between its discharges is not quiet: it is periodic when its discharge-locked
#: amplitude stands this far above the channel's background over the record
#: (see train_standout), with at least MIN_SUSTAINED_SALIENCE. Judged against the record
#: rather than between its own discharges, it needs twice the minimum number of cycles.
MIN_SUSTAINED_S = 10.0
MIN_SUSTAINED_CYCLES = 2 * MIN_CYCLES
MIN_STANDOUT = 5.0
MIN_SUSTAINED_SALIENCE = 2.0


@dataclass
class PeriodicTrain:
    """A chain of regularly repeating discharges."""

    discharges: list[Discharge]

    @property
    def apexes_s(self) -> np.ndarray:
        return np.array([d.apex_s for d in self.discharges])

    @property
    def intervals_s(self) -> np.ndarray:
        return np.diff(self.apexes_s)

    @property
    def period_s(self) -> float:
        """Median inter-discharge interval (a missed cycle counts as two intervals)."""
        return _period(self.apexes_s)

    @property
    def cv(self) -> float:
        """Coefficient of variation of the intervals, each divided by its cycle count."""
        iv = self.intervals_s
        if not iv.size:
            return float("inf")
        iv = iv / np.maximum(np.round(iv / self.period_s), 1)
        return float(iv.std() / iv.mean())


def find_trains(
    discharges: Sequence[Discharge],
    score: Callable[[PeriodicTrain], float] | None = None,
) -> list[PeriodicTrain]:
    """Chain discharges into regular trains of at least 6 cycles.

    From each discharge, every later one 0.25-5 s away is tried as the second cycle and the
    chain is followed (:func:`_extend`). Regular chains (:func:`_is_regular`) are scored,
    by default by their number of discharges (``score`` may weigh in how well they stand
    out; a score of 0 rejects), and the best non-overlapping chains are kept, best first:
    a chain read at a multiple of the true period, or one that strays in from the
    background, loses to the train itself.
    """
    items = sorted(discharges, key=lambda d: d.apex_s)
    t = np.array([d.apex_s for d in items])
    amp = np.array([d.amplitude_uv for d in items])
    free = np.zeros(t.size, dtype=bool)
    found: list[tuple[float, list[int]]] = []
    for i in range(t.size):
        for j in np.flatnonzero((t > t[i] + INTERVAL_S[0]) & (t <= t[i] + INTERVAL_S[1])):
            chain = _extend(t, amp, free, [i, int(j)])
            if not _is_regular(t[chain]) or len(chain) < MIN_PURITY * (chain[-1] - i + 1):
                continue  # irregular, or picked out of a crowd of transients
            value = float(len(chain))
            if score is not None:
                value *= score(PeriodicTrain([items[k] for k in chain]))
            if value > 0:
                found.append((value, chain))
    trains: list[PeriodicTrain] = []
    spans: list[tuple[float, float]] = []
    taken = np.zeros(t.size, dtype=bool)
    for _, chain in sorted(found, key=lambda f: -f[0]):
        a, b = t[chain[0]], t[chain[-1]]
        if any(a <= y and b >= x for x, y in spans) or taken[chain].any():
            continue
        chain = _extend_back(t, amp, taken, chain)
        chain = _extend(t, amp, taken, chain)
        taken[chain] = True
        spans.append((t[chain[0]], t[chain[-1]]))
        trains.append(PeriodicTrain([items[k] for k in chain]))
    return sorted(trains, key=lambda tr: tr.discharges[0].apex_s)


def _strongest_in_reach(discharges: Sequence[Discharge], reach_s: float) -> list[Discharge]:
    """Keep a transient only when no larger one lies within ``reach_s``: the after-going
    slow wave or a later phase of a polyphasic discharge is part of that discharge."""
    order = sorted(discharges, key=lambda d: -d.amplitude_uv)
    kept: list[Discharge] = []
    for d in order:
        if all(abs(d.apex_s - k.apex_s) > reach_s for k in kept):
            kept.append(d)
    return sorted(kept, key=lambda d: d.apex_s)


def _is_regular(times: np.ndarray) -> bool:
    """Regular enough to be periodic: interval CV under ``MAX_CV`` and at most a quarter of
    the cycles missed (otherwise the chain is reading a sub-multiple of the true period)."""
    if times.size < MIN_CYCLES:
        return False
    period = _period(times)
    iv = np.diff(times)
    cycles = np.maximum(np.round(iv / period), 1)
    fill = times.size / (cycles.sum() + 1)
    norm = iv / cycles
    return bool(fill >= 0.75 and norm.std() / norm.mean() <= MAX_CV)


def _period(times: np.ndarray) -> float:
    """Median interval of a chain whose gaps may skip one missed cycle."""
    iv = np.diff(times)
    base = float(np.min(iv)) if iv.size else 1.0
    return float(np.median(iv / np.maximum(np.round(iv / base), 1)))


def _alike(amp: np.ndarray, chain: list[int], k: int) -> bool:
    """Relatively uniform morphology (ACNS): an amplitude within a factor 2.5 of the
    chain's median discharge."""
    ref = float(np.median(amp[chain]))
    return ref / 2.5 <= amp[k] <= 2.5 * ref


def _link_tolerance_s(period_s: float) -> float:
    """How far from its expected time the next discharge of a chain may fall."""
    return min(LINK_TOLERANCE * period_s, MAX_LINK_TOLERANCE_S)


def _nearest_link(
    t: np.ndarray,
    amp: np.ndarray,
    used: np.ndarray,
    chain: list[int],
    expected_s: float,
    tol_s: float,
) -> int | None:
    """The free discharge alike the chain's that lies nearest ``expected_s``, within
    ``tol_s`` of it (``t`` sorted), or None."""
    lo, hi = np.searchsorted(t, [expected_s - tol_s, expected_s + tol_s])
    cand = [
        k
        for k in range(lo, min(hi, t.size))
        if not used[k] and k not in chain and _alike(amp, chain, k)
    ]
    return min(cand, key=lambda k: abs(t[k] - expected_s)) if cand else None


def _extend_back(t: np.ndarray, amp: np.ndarray, used: np.ndarray, chain: list[int]) -> list[int]:
    """Prepend the discharges that fall one period before the chain's first, one by one,
    allowing missed cycles as :func:`_extend` does (a train's first cycles are
    often the weakest and may start a worse-scored chain)."""
    period = _period(t[chain])
    tol = _link_tolerance_s(period)
    while True:
        prev = None
        for cycles in range(1, MAX_MISSED_CYCLES + 2):  # the previous, or before missed cycles
            prev = _nearest_link(t, amp, used, chain, t[chain[0]] - cycles * period, tol)
            if prev is not None:
                break
        if prev is None:
            return chain
        chain = [prev, *chain]


def _extend(t: np.ndarray, amp: np.ndarray, used: np.ndarray, chain: list[int]) -> list[int]:
    """Follow the chain while a free discharge falls within 25 % of the expected time,
    allowing up to :data:`MAX_MISSED_CYCLES` missed cycles at a time (a discharge hidden
    under an artifact, or set aside for a larger transient beside it)."""
    while True:
        period = _period(t[chain])
        tol = _link_tolerance_s(period)
        nxt = None
        for cycles in range(1, MAX_MISSED_CYCLES + 2):  # the next, or after missed cycles
            nxt = _nearest_link(t, amp, used, chain, t[chain[-1]] + cycles * period, tol)
            if nxt is not None:
                break
        if nxt is None:
            return chain
        chain = [*chain, int(nxt)]


def train_topography(y: np.ndarray, sfreq_hz: float, train: PeriodicTrain) -> np.ndarray:
    """Peak-to-peak amplitude per channel of the discharge-locked average (-0.1 to 0.3 s)."""
    offs = np.arange(-round(0.1 * sfreq_hz), round(0.3 * sfreq_hz))
    idx = np.clip(
        np.round(train.apexes_s * sfreq_hz).astype(int)[:, None] + offs, 0, y.shape[1] - 1
    )
    avg = y[:, idx].mean(axis=1)  # (channels, lags)
    return np.ptp(avg, axis=1)


def train_salience(y: np.ndarray, sfreq_hz: float, train: PeriodicTrain) -> float:
    """How far the discharges stand out from the activity between them: the largest
    channel's peak-to-peak amplitude of the discharge-locked average over the standard
    deviation of that channel between discharges. A chain picked out of an ongoing rhythm
    (every third alpha wave) scores about 3; real periodic discharges score far higher."""
    topo = train_topography(y, sfreq_hz, train)
    c = int(np.argmax(topo))
    a, b = (round(v * sfreq_hz) for v in (train.apexes_s[0], train.apexes_s[-1]))
    keep = np.ones(b - a, dtype=bool)
    # leave out each discharge and its after-going wave, never more than 3/4 of a cycle
    pre = round(min(0.1, 0.25 * train.period_s) * sfreq_hz)
    post = round(min(0.3, 0.5 * train.period_s) * sfreq_hz)
    for apex in np.round(train.apexes_s * sfreq_hz).astype(int) - a:
        keep[max(apex - pre, 0) : max(apex + post, 0)] = False
    between = y[c, a:b][keep]
    if between.size < round(0.2 * sfreq_hz):
        return float("inf")
    return float(topo[c] / max(between.std(), 0.5))


def train_standout(
    y: np.ndarray, sfreq_hz: float, train: PeriodicTrain, background_uv: np.ndarray
) -> float:
    """The largest channel's discharge-locked peak-to-peak amplitude over that channel's
    background over the record (``background_uv``, one scale per channel, e.g.
    :attr:`processors.events.spikes.DischargeContext.bg_record`)."""
    topo = train_topography(y, sfreq_hz, train)
    c = int(np.argmax(topo))
    return float(topo[c] / max(float(background_uv[c]), 0.5))


def _sustained(train: PeriodicTrain) -> bool:
    """Long enough to be judged against the record's background (MIN_SUSTAINED_S and
    MIN_SUSTAINED_CYCLES)."""
    span_s = train.discharges[-1].apex_s - train.discharges[0].apex_s
    return span_s >= MIN_SUSTAINED_S and len(train.discharges) >= MIN_SUSTAINED_CYCLES


def half_period_fill(train: PeriodicTrain, others: Sequence[Discharge]) -> float:
    """Share of the train's one-cycle intervals whose midpoint holds a transient of
    ``others`` alike the train's (amplitude within a factor 2.5 of its median): near 1, the
    chain reads every other discharge of a pattern twice as fast."""
    t = np.array(sorted(d.apex_s for d in others))
    if t.size == 0:
        return 0.0
    amp = {d.apex_s: d.amplitude_uv for d in others}
    ref = float(np.median([d.amplitude_uv for d in train.discharges]))
    tol = _link_tolerance_s(train.period_s / 2.0)
    iv = train.intervals_s
    single = np.abs(iv / train.period_s - 1.0) < 0.5
    if not single.any():
        return 0.0
    mids = train.apexes_s[:-1][single] + iv[single] / 2.0
    filled = 0
    for m in mids:
        lo, hi = np.searchsorted(t, [m - tol, m + tol])
        filled += any(ref / 2.5 <= amp[t[k]] <= 2.5 * ref for k in range(lo, hi))
    return filled / mids.size


def is_seizure_rate(event: Event) -> bool:
    """A periodic train faster than 2.5 Hz lasting at least 10 s: a seizure (ACNS 2021)."""
    rate = float(event.details.get("frequency_hz", 0.0))
    return (
        event.type in ("PLED", "GPED")
        and rate > SEIZURE_RATE_HZ
        and (event.duration_s >= SEIZURE_MIN_S)
    )


def classify_train(topography: np.ndarray, ch_names: Sequence[str]) -> tuple[str, float, list[str]]:
    """``PLED`` or ``GPED``, the lateralization index (positive = right) and the channels
    carrying at least half the largest amplitude."""
    sides = hemisphere_sides(ch_names)
    left = topography[sides < 0].mean() if (sides < 0).any() else 0.0
    right = topography[sides > 0].mean() if (sides > 0).any() else 0.0
    li = float((right - left) / max(right + left, 1e-9))
    chans = [c for c, a in zip(ch_names, topography, strict=True) if a >= 0.5 * topography.max()]
    kind = "PLED" if abs(li) >= LATERALIZATION_INDEX else "GPED"
    return kind, li, chans


def trains_to_events(
    trains: Sequence[PeriodicTrain], y: np.ndarray, sfreq_hz: float, ch_names: Sequence[str]
) -> list[Event]:
    """PLED/GPED events of periodic trains (``y``: the signal band-passed 1-35 Hz)."""
    events = []
    for train in trains:
        topo = train_topography(y, sfreq_hz, train)
        kind, li, chans = classify_train(topo, ch_names)
        first, last = train.discharges[0], train.discharges[-1]
        conf = 0.55 + 0.2 * min((len(train.discharges) - MIN_CYCLES) / 10, 1.0)
        conf += 0.25 * max(0.0, 1.0 - train.cv / MAX_CV)
        events.append(
            Event(
                type=kind,  # type: ignore[arg-type]
                subtype=None,
                onset_s=first.onset_s,
                duration_s=last.onset_s + last.duration_s - first.onset_s,
                channels=chans,
                confidence=float(np.clip(conf, 0.0, 1.0)),
                details={
                    "n_discharges": len(train.discharges),
                    "frequency_hz": round(float(1.0 / train.period_s), 3),
                    "interval_cv": round(train.cv, 3),
                    "lateralization_index": round(li, 3),
                    "side": "right" if li > 0 else "left",
                    "discharge_onsets_s": [round(d.onset_s, 3) for d in train.discharges],
                },
            )
        )
    return events


def find_periodic_candidates(
    x: np.ndarray,
    sfreq_hz: float,
    ch_names: Sequence[str],
    prepared: DischargeContext,
    *,
    sustained: bool = False,
) -> list[Discharge]:
    """Every sharp transient up to 0.5 s with the relaxed criteria of periodic discharges
    (lower amplitude ratio, blunter, no surrounding-second check: their neighbours are
    discharges too), from :func:`processors.events.spikes.find_discharges`; ``sustained``
    measures them against the record's background as well, as a train lasting tens of
    seconds fills its own local background."""
    return find_discharges(
        x, sfreq_hz, ch_names, max_duration_s=MAX_DISCHARGE_S, amplitude_ratio=DISCHARGE_RATIO,
        slope_ratio=DISCHARGE_SLOPE_RATIO, use_context=False, sustained=sustained,
        prepared=prepared,
    )  # fmt: skip


def detect_periodic_discharges(
    data_uv: np.ndarray,
    sfreq_hz: float,
    ch_names: Sequence[str],
    *,
    discharges: Sequence[Discharge] | None = None,
    exclude: Sequence[tuple[float, float]] = (),
    prepared: DischargeContext | None = None,
) -> list[Event]:
    """Lateralized (``PLED``) and generalized (``GPED``) periodic discharges.

    Two looks: trains of transients that stand out from their local background and from
    the activity between them (salience), then sustained trains (10 s and 12 cycles or
    more) of transients measured against the record's background, whose after-going slow
    waves may fill the cycle: these must stand out from the record's background
    (:func:`train_standout`) and not read every other discharge of a faster pattern
    (:func:`half_period_fill`). A train faster than 2.5 Hz lasting 10 s is a seizure
    (:func:`is_seizure_rate`); :func:`processors.events.detect_events` reports it so.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Continuous EEG in microvolts.
    sfreq_hz : float
        Sampling rate (at least 100 Hz).
    ch_names : sequence of str
        Channel names, one per row.
    discharges : sequence of Discharge, optional
        Candidate discharges already found (:func:`find_periodic_candidates`); found here if
        None. The sustained look always finds its own.
    exclude : sequence of (onset_s, offset_s)
        Intervals (e.g. seizures) whose discharges are not considered.
    prepared : DischargeContext, optional
        From :func:`processors.events.spikes.prepare_context` on the same signal.

    Returns
    -------
    list of Event
        ``details`` holds the number of discharges, their frequency, the interval
        coefficient of variation, the lateralization index and each discharge's onset.
    """
    x = check_signal(data_uv, sfreq_hz, ch_names)
    ctx = prepare_context(x, sfreq_hz) if prepared is None else prepared
    y = ctx.y
    if discharges is None:
        discharges = find_periodic_candidates(x, sfreq_hz, ch_names, ctx)
    ocular = frontopolar_mask(ch_names)

    def cerebral(train: PeriodicTrain) -> bool:
        if ocular.any() and not ocular.all():
            topo = train_topography(y, sfreq_hz, train)
            if topo[ocular].max() > 1.5 * topo[~ocular].max():
                return False  # frontopolar only: eye movements, not cerebral discharges
        return True

    def salient(train: PeriodicTrain) -> float:
        sal = train_salience(y, sfreq_hz, train)
        if sal < MIN_SALIENCE or not cerebral(train):
            return 0.0
        return min(sal, 2 * MIN_SALIENCE)

    def standing_out(train: PeriodicTrain) -> float:
        if not _sustained(train) or half_period_fill(train, longer) >= MAX_HALF_PERIOD_FILL:
            return 0.0
        sal = train_salience(y, sfreq_hz, train)
        if sal < MIN_SUSTAINED_SALIENCE or not cerebral(train):
            return 0.0
        if train_standout(y, sfreq_hz, train, ctx.bg_record) < MIN_STANDOUT:
            return 0.0
        return min(sal, 2 * MIN_SALIENCE)

    def candidates(found: Sequence[Discharge]) -> list[Discharge]:
        return _strongest_in_reach([d for d in found if not inside_any(d.apex_s, exclude)], NMS_S)

    trains = find_trains(candidates(discharges), salient)
    longer = candidates(find_periodic_candidates(x, sfreq_hz, ch_names, ctx, sustained=True))
    for train in find_trains(longer, standing_out):
        # a sustained train replaces the pieces of it the first look found, never more
        pieces = [t for t in trains if _overlap(t, train)]
        if len(train.discharges) > sum(len(t.discharges) for t in pieces):
            trains = [t for t in trains if t not in pieces] + [train]
    trains.sort(key=lambda t: t.apexes_s[0])
    return trains_to_events(trains, y, sfreq_hz, ch_names)


def _overlap(a: PeriodicTrain, b: PeriodicTrain) -> bool:
    return bool(a.apexes_s[0] <= b.apexes_s[-1] and a.apexes_s[-1] >= b.apexes_s[0])
