"""The discharge screen: sharp transients and periodic trains, outside artifacts.

Two callers share :func:`find_discharge_evidence`: :func:`processors.events.detect_events`
(which first takes out seizures and burst suppression) and :func:`screen_discharges`, the fast
screen that feeds the abnormality verdict. An EEG with repeated epileptiform discharges or a
periodic pattern is abnormal by definition (it is how the TUH abnormal corpus is labelled), so
the verdict must not depend on the background alone; the event stage then types and locates
what the screen saw.

Evidence inside an artifact is not epileptiform: a transient whose apex lies in a muscle
burst, on an electrode that pops at that moment, or, for a frontal transient, in an eye blink,
is counted apart (``n_in_artifacts``) and never reported as a discharge. A discharge beside a
muscle burst (its field on the burst's neighbours, on clean electrodes, falling off towards the
burst) is not inside it, and is judged as any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from processors.events._common import (
    check_signal,
    flat_channels,
    inside_any,
    rate_per_min,
)
from processors.events._types import Event
from processors.events.artifacts import MUSCLE_RATIO, detect_artifacts, muscle_mask
from processors.events.periodic import (
    detect_periodic_discharges,
    find_periodic_candidates,
    is_seizure_rate,
)
from processors.events.seizure import detect_seizures, join_seizures, periodic_seizure
from processors.events.spikes import (
    Discharge,
    DischargeContext,
    discharge_to_event,
    find_spikes,
    prepare_context,
)
from processors.geometry import frontal_mask, neighbour_matrix

#: Isolated discharges (outside artifacts) that make a record abnormal: repeated, not one.
SCREEN_MIN_DISCHARGES: int = 3
#: How far around a muscle burst or an electrode pop a transient still belongs to it.
MUSCLE_PAD_S: float = 0.25
POP_PAD_S: float = 0.3
#: share of a transient's field on an artifact's channels (and neighbours) that makes it one
FIELD_SHARE_IN_ARTIFACT: float = 0.5
#: in a blink's shadow, a frontal transient must be this much sharper than the background
SHADOW_SLOPE_RATIO: float = 3.0
#: a transient whose field lies beside a muscle burst is the burst's (spread from it, or hidden
#: under it) when the burst's own channels carry it at this share of its size at its strongest
#: electrode or more, on average (a cortical discharge beside the burst falls off towards it)
ON_BURST_GAIN: float = 0.5
#: half-width of the window in which that share is measured (as the field's coherence is,
#: ``processors.events.spike_features.COHERENCE_HALF_S``)
ON_BURST_HALF_S: float = 0.06
#: muscle under the mask's threshold: at this share of it (30-45 Hz RMS over the channel's
#: median), a transient's strongest electrode beside a burst carries the burst's spread
FAINT_MUSCLE_RATIO: float = 0.5 * MUSCLE_RATIO
#: Periodic trains and seizures below this confidence do not make the screen positive.
TRAIN_MIN_CONFIDENCE: float = 0.5


@dataclass
class DischargeEvidence:
    """Periodic trains and isolated discharges of a record, with what artifacts took away."""

    periodic: list[Event]
    isolated: list[Event]
    n_in_artifacts: int
    analysable_duration_s: float


@dataclass
class DischargeScreen:
    """What the fast screen saw: is there a discharge pattern that makes the record abnormal?

    Attributes
    ----------
    n_discharges : int
        Isolated epileptiform discharges outside artifacts.
    periodic_types : list of str
        ``PLED``/``GPED`` of each periodic train found (confident ones).
    n_in_artifacts : int
        Transients left out because they lie inside an artifact.
    analysable_duration_s : float
        Signal outside muscle bursts, electrode pops and flat stretches.
    discharge_rate_per_min : float or None
        Only over at least a minute of analysable signal.
    discharge_times_s : list of float
        Apex of each isolated discharge.
    seizure_onsets_s : list of float
        Onset of each electrographic seizure (:func:`processors.events.detect_seizures`): a
        seizure makes a record abnormal whatever its background (a low-amplitude fast onset
        does not slow it, and its passage through 11-16 Hz may look like spindles).
    """

    n_discharges: int
    periodic_types: list[str]
    n_in_artifacts: int
    analysable_duration_s: float
    discharge_rate_per_min: float | None
    discharge_times_s: list[float] = field(default_factory=list)
    seizure_onsets_s: list[float] = field(default_factory=list)

    @property
    def seizure(self) -> bool:
        return bool(self.seizure_onsets_s)

    @property
    def periodic(self) -> bool:
        return bool(self.periodic_types)

    @property
    def repeated(self) -> bool:
        return self.n_discharges >= SCREEN_MIN_DISCHARGES

    @property
    def positive(self) -> bool:
        """A seizure, a periodic pattern or repeated discharges: abnormal by definition."""
        return self.seizure or self.periodic or self.repeated

    def findings(self) -> list[str]:
        """The evidence names the verdict cites (``discharges:periodic``...)."""
        found = []
        if self.seizure:
            found.append(f"seizure ({len(self.seizure_onsets_s)})")
        if self.periodic:
            found.append(f"discharges:periodic ({', '.join(sorted(set(self.periodic_types)))})")
        if self.repeated:
            found.append(f"discharges:repeated ({self.n_discharges})")
        return found

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "positive": self.positive,
            "n_discharges": self.n_discharges,
            "periodic_types": list(self.periodic_types),
            "n_in_artifacts": self.n_in_artifacts,
            "analysable_duration_s": round(self.analysable_duration_s, 3),
            "discharge_rate_per_min": self.discharge_rate_per_min,
            "discharge_times_s": [round(t, 3) for t in self.discharge_times_s],
            "seizure_onsets_s": [round(t, 3) for t in self.seizure_onsets_s],
        }


def _blink_shadow(artifacts: Sequence[Event]) -> list[tuple[float, float]]:
    """Where a blink and its undershoots lie: a zero-phase high-pass (here the 1 Hz edge of the
    discharge band, or the recording's own 0.5 Hz) leaves a negative lobe on both sides of
    every blink, which looks like a frontal sharp wave."""
    spans = []
    for e in artifacts:
        if e.subtype == "eye_blink":
            spans += [(e.onset_s - 0.4, e.offset_s + 0.5)]
    return spans


@dataclass
class _ArtifactZones:
    """Where transients are artifacts, from the artifact events of one record."""

    #: (onset_s, offset_s, pad_s, channels it reaches, its own channels)
    local: list[tuple[float, float, float, set[str], set[str]]]
    shadow: list[tuple[float, float]]
    frontal: set[str]
    ch_names: list[str] = field(default_factory=list)
    #: the record band-passed as the discharges were found (``DischargeContext.y``), to
    #: measure a transient on a muscle burst's own channels, and the record itself, for
    #: muscle under the mask's threshold; None: not measured (every transient within a
    #: burst's reach is then the burst's)
    filtered: np.ndarray | None = None
    sfreq_hz: float = 0.0
    data_uv: np.ndarray | None = None
    _faint: tuple[np.ndarray, int] | None = field(default=None, init=False, repr=False)

    @classmethod
    def of(
        cls,
        artifacts: Sequence[Event],
        ch_names: Sequence[str],
        filtered: np.ndarray | None = None,
        sfreq_hz: float = 0.0,
        data_uv: np.ndarray | None = None,
    ) -> _ArtifactZones:
        names = list(ch_names)
        near = neighbour_matrix(names)
        local = []
        for e in artifacts:
            if e.subtype == "muscle":  # muscle spreads: its channels and their neighbours
                rows = [names.index(c) for c in e.channels if c in names]
                beside = np.flatnonzero(near[rows].any(axis=0)) if rows else []
                reach = {names[j] for j in beside} | set(e.channels)
                local.append((e.onset_s, e.offset_s, MUSCLE_PAD_S, reach, set(e.channels)))
            elif e.subtype == "electrode_pop":  # one electrode
                own = set(e.channels)
                local.append((e.onset_s, e.offset_s, POP_PAD_S, own, own))
        return cls(
            local,
            _blink_shadow(artifacts),
            {c for c, f in zip(names, frontal_mask(names), strict=True) if f},
            names,
            filtered,
            sfreq_hz,
            data_uv,
        )

    def holds(self, d: Discharge) -> bool:
        """Whether the transient lies inside an artifact: in time, and in place (its strongest
        channel is the muscle burst's or the popping electrode, or at least half its field
        lies on the burst's channels, or on them and their neighbours, where muscle spreads,
        and it does not fall off towards the burst: :meth:`beside_muscle`), or a blunt
        frontal transient in a blink. Then it is not epileptiform evidence."""
        return self._verdict(d) == "artifact"

    def beside_muscle(self, d: Discharge) -> bool:
        """Whether the transient lies beside a muscle burst, not in it: during the burst, at
        least half its field on the burst's channels and their neighbours, but its strongest
        electrode and most of its field off the burst's own channels; on those channels
        (where the muscle mask hides it from the detector) it is under :data:`ON_BURST_GAIN`
        of its size at its strongest electrode, and that electrode carries no muscle even at
        :data:`FAINT_MUSCLE_RATIO`. A transient the burst's channels carry as well, or one on
        an electrode the burst reaches under the event's threshold, may be the burst's; a
        discharge beside it stands on clean electrodes and falls off towards it. No other
        artifact holds it."""
        return self._verdict(d) == "beside_muscle"

    def _verdict(self, d: Discharge) -> str | None:
        """``artifact``, ``beside_muscle`` or None (see :meth:`holds`)."""
        chans = set(d.channels)
        strongest = max(d.channel_amplitudes_uv, key=d.channel_amplitudes_uv.get)
        beside = False
        for onset_s, offset_s, pad_s, reach, own in self.local:
            if not inside_any(d.apex_s, [(onset_s, offset_s)], pad_s=pad_s):
                continue
            # its strongest channel is the artifact's, or most of its field lies on it
            if strongest in own or len(chans & own) >= FIELD_SHARE_IN_ARTIFACT * len(chans):
                return "artifact"
            # most of its field within reach (a pop reaches only its own electrode): the
            # burst's, unless its strongest electrode is free of muscle and the burst's
            # channels, where the muscle mask hides it, carry under ON_BURST_GAIN of it
            if len(chans & reach) >= FIELD_SHARE_IN_ARTIFACT * len(chans):
                if (
                    self._faint_muscle_at(strongest, d.apex_s)
                    or self._gain_on(own, strongest, d.apex_s) >= ON_BURST_GAIN
                ):
                    return "artifact"
                beside = True
        if (
            d.slope_ratio < SHADOW_SLOPE_RATIO
            and inside_any(d.apex_s, self.shadow)
            and strongest in self.frontal
        ):
            return "artifact"
        return "beside_muscle" if beside else None

    def _faint_muscle_at(self, channel: str, t_s: float) -> bool:
        """Whether ``channel`` carries muscle within a quarter second of ``t_s`` at
        :data:`FAINT_MUSCLE_RATIO` (the plain mask's criteria otherwise: three quarter
        seconds in a row, which a discharge's own high frequencies do not fill): a burst
        spreads to its neighbours under the threshold that made it an event. True when it
        cannot be told."""
        if self.data_uv is None or channel not in self.ch_names:
            return True
        if self._faint is None:  # only records with a transient beside a burst pay for it
            self._faint = muscle_mask(self.data_uv, self.sfreq_hz, ratio=FAINT_MUSCLE_RATIO)
        mask, piece = self._faint
        k = int(t_s * self.sfreq_hz) // piece
        row = mask[self.ch_names.index(channel)]
        return bool(row[max(0, k - 1) : k + 2].any()) if row.size else False

    def _gain_on(self, channels: set[str], strongest: str, apex_s: float) -> float:
        """The transient's mean size on ``channels`` relative to its strongest electrode: the
        least-squares gain of each channel's waveform on the strongest one's within
        :data:`ON_BURST_HALF_S` of the apex (muscle, uncorrelated with it, adds no bias).
        Infinite when it cannot be measured (no signal given, or no such channel)."""
        rows = [self.ch_names.index(c) for c in channels if c in self.ch_names]
        if self.filtered is None or not rows or strongest not in self.ch_names:
            return float("inf")
        half = max(1, round(ON_BURST_HALF_S * self.sfreq_hz))
        a = round(apex_s * self.sfreq_hz)
        lo, hi = max(0, a - half), min(self.filtered.shape[1], a + half + 1)
        ref = self.filtered[self.ch_names.index(strongest), lo:hi]
        ref = ref - ref.mean()
        seg = self.filtered[rows, lo:hi]
        seg = seg - seg.mean(axis=1, keepdims=True)
        energy = float(ref @ ref)
        if energy <= 0.0:
            return float("inf")
        return float(np.mean(seg @ ref) / energy)


def analysable_seconds(x: np.ndarray, sfreq_hz: float, artifacts: Sequence[Event]) -> float:
    """Seconds of the record outside muscle bursts and electrode pops, where at least half the
    channels carry signal (a disconnected head box has none)."""
    n = x.shape[1]
    if n == 0 or flat_channels(x).mean() > 0.5:
        return 0.0
    step = max(1, round(0.25 * sfreq_hz))
    keep = np.ones(int(np.ceil(n / step)), dtype=bool)
    for e in artifacts:
        if e.subtype in ("muscle", "electrode_pop"):
            pad = MUSCLE_PAD_S if e.subtype == "muscle" else POP_PAD_S
            a = max(0, int((e.onset_s - pad) * sfreq_hz) // step)
            b = int(np.ceil((e.offset_s + pad) * sfreq_hz / step))
            keep[a:b] = False
    return float(min(keep.sum() * step, n) / sfreq_hz)


def find_discharge_evidence(
    x: np.ndarray,
    sfreq_hz: float,
    ch_names: Sequence[str],
    ctx: DischargeContext,
    artifacts: Sequence[Event],
    *,
    exclude: Sequence[tuple[float, float]] = (),
) -> DischargeEvidence:
    """Periodic trains, then isolated discharges, none inside an artifact or ``exclude``.

    One pass finds every sharp transient up to 0.5 s with the relaxed periodic criteria;
    isolated discharges are the spike classifier's (:func:`processors.events.spikes.find_spikes`,
    up to 0.2 s).

    Parameters
    ----------
    x : ndarray, shape (n_channels, n_samples)
        Checked signal in microvolts.
    sfreq_hz : float
    ch_names : sequence of str
    ctx : DischargeContext
        :func:`processors.events.spikes.prepare_context` of ``x``.
    artifacts : sequence of Event
        :func:`processors.events.artifacts.detect_artifacts` of ``x``.
    exclude : sequence of (onset_s, offset_s)
        Stretches that belong to another pattern (seizures, burst suppression).

    Returns
    -------
    DischargeEvidence
    """
    zones = _ArtifactZones.of(artifacts, ch_names, ctx.y, sfreq_hz, x)
    # Periodic trains are judged by their own regularity, salience and topography
    # (:mod:`.periodic`): an artifact breaking one cycle must not break the train.
    candidates = find_periodic_candidates(x, sfreq_hz, ch_names, ctx)
    periodic = detect_periodic_discharges(
        x, sfreq_hz, ch_names, discharges=candidates, exclude=exclude, prepared=ctx
    )
    periodic_spans = [(e.onset_s, e.offset_s) for e in periodic]
    isolated: list[Event] = []
    n_in_artifacts = 0
    for d in find_spikes(x, sfreq_hz, ch_names, prepared=ctx):
        if inside_any(d.apex_s, exclude, pad_s=2.0) or inside_any(
            d.apex_s, periodic_spans, pad_s=0.5
        ):
            continue
        if zones.holds(d):
            n_in_artifacts += 1
            continue
        isolated.append(discharge_to_event(d))
    return DischargeEvidence(
        periodic=periodic,
        isolated=isolated,
        n_in_artifacts=n_in_artifacts,
        analysable_duration_s=analysable_seconds(x, sfreq_hz, artifacts),
    )


def seizures_with_fast_trains(
    seizures: Sequence[Event], evidence: DischargeEvidence
) -> list[Event]:
    """Discharges faster than 2.5 Hz for 10 s or more are a seizure (ACNS 2021), however
    regular: such trains leave ``evidence.periodic`` and join the seizures they touch."""
    fast = [e for e in evidence.periodic if is_seizure_rate(e)]
    evidence.periodic = [e for e in evidence.periodic if e not in fast]
    return join_seizures(seizures, [periodic_seizure(e) for e in fast])


def screen_discharges(
    data_uv: np.ndarray, sfreq_hz: float, ch_names: Sequence[str]
) -> DischargeScreen:
    """Fast discharge screen of a continuous record, for the abnormality verdict.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Continuous EEG in microvolts (typically the 256 Hz band-passed copy).
    sfreq_hz : float
        Sampling rate (at least 100 Hz).
    ch_names : sequence of str
        Standard names, one per row.

    Returns
    -------
    DischargeScreen
        Positive when there is a seizure, a periodic train, or at least
        :data:`SCREEN_MIN_DISCHARGES` isolated discharges outside artifacts.
    """
    ch_names = list(ch_names)
    x = check_signal(data_uv, sfreq_hz, ch_names)
    ctx = prepare_context(x, sfreq_hz)
    seizures = detect_seizures(x, sfreq_hz, ch_names, filtered=ctx.y)
    artifacts = detect_artifacts(x, sfreq_hz, ch_names, muscle=(ctx.muscle, ctx.muscle_block))
    evidence = find_discharge_evidence(
        x, sfreq_hz, ch_names, ctx, artifacts, exclude=[(e.onset_s, e.offset_s) for e in seizures]
    )
    seizures = seizures_with_fast_trains(seizures, evidence)
    return DischargeScreen(
        n_discharges=len(evidence.isolated),
        periodic_types=[
            str(e.type) for e in evidence.periodic if e.confidence >= TRAIN_MIN_CONFIDENCE
        ],
        n_in_artifacts=evidence.n_in_artifacts,
        analysable_duration_s=evidence.analysable_duration_s,
        discharge_rate_per_min=rate_per_min(len(evidence.isolated), evidence.analysable_duration_s),
        discharge_times_s=[float(e.details["apex_s"]) for e in evidence.isolated],
        seizure_onsets_s=[e.onset_s for e in seizures if e.confidence >= TRAIN_MIN_CONFIDENCE],
    )
