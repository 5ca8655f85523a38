"""Abnormal or normal: window scores, their aggregation, and the triage decision.

Two window scorers feed one aggregation:

* :func:`score_windows_qeeg`, a transparent quantitative-EEG rule that needs no weights: each
  finding (diffuse slowing, a slow posterior dominant rhythm, hemispheric asymmetry,
  suppression) turns into a probability-like score through a logistic curve centred on the
  edge of the normal adult range, and the findings are combined by a noisy-OR;
* :func:`score_windows_probe`, an adapter around a trained probe on EEGPT features (anything
  with a scikit-learn style ``predict_proba``).

:func:`aggregate_abnormality` turns window scores into a recording verdict with a confidence,
:func:`add_discharge_screen` makes a record with repeated or periodic discharges abnormal
whatever its background (an EEG with repeated epileptiform discharges is abnormal by
definition), and :func:`decide_triage` adds events and signal quality to choose routine,
expedite or urgent.
When scoring fails, :func:`conservative_result` gives the safe answer: abnormal, low confidence,
expedite.

References
----------
.. [1] Nuwer, M. R. (1988). Quantitative EEG: I. Techniques and problems of frequency analysis
   and topographic mapping. Journal of Clinical Neurophysiology, 5(1), 1-43.
.. [2] Lodder, S. S., & van Putten, M. J. A. M. (2013). Quantification of the adult EEG
   background pattern. Clinical Neurophysiology, 124(2), 228-237.
.. [3] van Putten, M. J. A. M. (2007). The revised brain symmetry index. Clinical
   Neurophysiology, 118(11), 2362-2367.
.. [4] Finnigan, S., & van Putten, M. J. A. M. (2013). EEG in ischaemic stroke: quantitative
   EEG can uniquely inform (sub-)acute prognoses and clinical management. Clinical
   Neurophysiology, 124(1), 10-19.
.. [5] Hirsch, L. J., et al. (2021). American Clinical Neurophysiology Society's Standardized
   Critical Care EEG Terminology: 2021 Version. Journal of Clinical Neurophysiology, 38(1), 1-29.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from processors.errors import ModelUnavailable, NonFiniteSamples, WindowScoreError
from processors.qeeg import QEEGFeatures, qeeg_features
from processors.sleep_screen import sleep_windows
from processors.types import TriagePriority, WindowBatch

#: Scorer names, as recorded in results (schemas: AnalysisResult.scorer).
SCORER_QEEG: str = "qeeg-baseline"
SCORER_PROBE: str = "eegpt-probe"

# --- the qEEG rule -------------------------------------------------------------------------
# Each finding's logistic curve is 0.5 at the edge of the normal adult range and saturates
# within about a factor of two beyond it.

#: Slowing ratio (delta+theta)/(alpha+beta) (median over channels away from the eyes) at which
#: slowing counts as even odds. The ratio of a normal background depends on its aperiodic
#: (1/f^b) exponent: alpha-rich awake adults lie near 0.5-1.5 (delta+theta about 40 %,
#: alpha+beta about 60 % of 1-30 Hz power; Nuwer 1988), and unfiltered clinical recordings with
#: a steeper background (b about 1.6, as in processors.synthetic) near 3-5 over the central
#: regions; stroke and encephalopathy raise it well beyond (Finnigan & van Putten 2013). The
#: midpoint of 7 keeps such normal backgrounds below about 0.2. It is a documented choice,
#: not a fitted one: recalibrate it on labelled normal recordings (e.g. TUAB).
SLOWING_RATIO_MIDPOINT: float = 7.0
SLOWING_LOG_SCALE: float = 0.2
#: A PDR below 8 Hz in an adult is abnormal slowing (Lodder & van Putten 2013).
PDR_MIDPOINT_HZ: float = 8.0
PDR_SCALE_HZ: float = 0.35
#: Pair asymmetry |L-R|/(L+R) of 0.6 is an amplitude ratio of 2 (power ratio 4): the usual
#: visual criterion of a significant asymmetry (amplitude differing by more than 50 %), beyond
#: physiological and electrode-impedance differences. The second-largest pair is used so that
#: one bad electrode does not make a window abnormal.
ASYMMETRY_MIDPOINT: float = 0.6
ASYMMETRY_SCALE: float = 0.06
#: Half the window suppressed (below 10 uV, ACNS 2021) is the burst-suppression threshold.
SUPPRESSION_MIDPOINT: float = 0.5
SUPPRESSION_SCALE: float = 0.08

#: How far each finding alone can push a window towards abnormal (noisy-OR weights).
#: Slowing, a slow PDR or asymmetry alone reach at most 0.85 (abnormal, expedite); together,
#: or with suppression, they pass the urgent threshold of 0.9.
FINDING_WEIGHTS: dict[str, float] = {
    "slowing": 0.85,
    "slow_pdr": 0.8,
    "asymmetry": 0.8,
    "suppression": 0.98,
}

# --- aggregation and triage ---------------------------------------------------------------
#: A window counts as abnormal when its score reaches this.
WINDOW_ABNORMAL_THRESHOLD: float = 0.5
#: Below this confidence a verdict is uncertain and never routine.
CONFIDENT_THRESHOLD: float = 0.5
#: P(abnormal) at or above this makes an abnormal recording urgent on its own.
URGENT_PROBABILITY: float = 0.9
#: Epileptiform discharges per minute at or above this are "frequent" (>= 1 per 10 s): urgent.
URGENT_DISCHARGES_PER_MIN: float = 6.0
#: A record shorter than this (of analysable signal) is too short for a confident urgent call
#: from its background or a discharge rate: at most expedite on those grounds.
MIN_URGENT_SPAN_S: float = 60.0
#: P(abnormal) the discharge screen gives a record by itself: a periodic pattern, repeated
#: isolated discharges. Below the urgent threshold: the event stage types them and decides.
SCREEN_PROBABILITY: dict[str, float] = {"seizure": 0.85, "periodic": 0.85, "repeated": 0.75}
#: Event types that are urgent whatever the abnormality score (ACNS 2021 terminology).
URGENT_EVENT_TYPES: frozenset[str] = frozenset({"seizure", "burst_suppression", "PLED", "GPED"})
#: Events below this confidence do not change the triage.
EVENT_MIN_CONFIDENCE: float = 0.5
#: Windows needed before the verdict's confidence can approach its full value.
_PRIOR_WINDOWS: float = 2.0
#: Consecutive windows (3 x 4 s = 12 s) whose mean score makes a recording abnormal even when
#: most of it is normal: a 30 s seizure in a 20-minute record is an abnormal record. 12 s is
#: past the 10 s of the ACNS seizure definition and long enough that one artifact window
#: (scored high) between normal ones does not carry the record.
SUSTAINED_WINDOWS: int = 3


class SupportsPredictProba(Protocol):
    """A trained probe: scikit-learn style ``predict_proba``."""

    def predict_proba(self, features: np.ndarray) -> np.ndarray: ...


@dataclass
class AbnormalityResult:
    """The abnormality verdict of a recording.

    Attributes
    ----------
    is_abnormal : bool
    confidence : float
        Confidence of the verdict (normal or abnormal), 0 to 1: 0 at the decision boundary,
        near 1 for a clear verdict over many windows. Not P(abnormal).
    abnormal_probability : float
        P(abnormal)-like score of the recording, 0 to 1.
    triage_priority : {'routine', 'expedite', 'urgent'}
        From the abnormality alone (:func:`decide_triage` with no events, good quality).
    scorer : str
        What produced the window scores ('qeeg-baseline', 'eegpt-probe').
    n_windows : int
    fraction_abnormal_windows : float
        Share of windows (quality-weighted) whose score is at least 0.5.
    per_window : np.ndarray
        The window scores, shape (n_windows,).
    error : str or None
        Why scoring failed, for a conservative result.
    """

    is_abnormal: bool
    confidence: float
    abnormal_probability: float
    triage_priority: TriagePriority
    scorer: str
    n_windows: int
    fraction_abnormal_windows: float
    per_window: np.ndarray = field(repr=False)
    error: str | None = None
    #: what made the verdict: ``qeeg:slowing``, ``probe``, ``discharges:periodic (PLED)``...
    evidence: list[str] = field(default_factory=list)
    #: :meth:`processors.events.DischargeScreen.to_dict` when the screen ran
    discharge_screen: dict[str, Any] | None = None
    #: why the triage is what it is (set with the triage)
    triage_reason: str | None = None
    #: share of windows taken as sleep, whose slowing did not count (qEEG scorer), or None
    sleep_window_fraction: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "is_abnormal": self.is_abnormal,
            "confidence": round(float(self.confidence), 4),
            "abnormal_probability": round(float(self.abnormal_probability), 4),
            "triage_priority": self.triage_priority,
            "scorer": self.scorer,
            "n_windows": int(self.n_windows),
            "fraction_abnormal_windows": round(float(self.fraction_abnormal_windows), 4),
            "per_window": [round(float(s), 4) for s in self.per_window],
            "error": self.error,
            "evidence": list(self.evidence),
            "discharge_screen": self.discharge_screen,
            "triage_reason": self.triage_reason,
            "sleep_window_fraction": (
                None
                if self.sleep_window_fraction is None
                else round(float(self.sleep_window_fraction), 4)
            ),
        }


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50.0, 50.0)))


def qeeg_findings(features: QEEGFeatures) -> dict[str, np.ndarray]:
    """Each qEEG finding as a score in [0, 1] per window (before weighting).

    Parameters
    ----------
    features : QEEGFeatures

    Returns
    -------
    findings : dict of str to np.ndarray, shape (n_windows,)
        ``slowing``: logistic in log slowing ratio, 0.5 at a ratio of 7; ``slow_pdr``:
        logistic, 0.5 at a PDR of 8 Hz, 0 where no PDR was found (absent alpha is common in
        normal eyes-open EEG; diffuse slowing is caught by the ratio); ``asymmetry``: logistic
        in the second-largest pair asymmetry (the largest when only one pair), 0.5 at 0.6;
        ``suppression``: logistic, 0.5 when half the window is below 10 uV.
    """
    n = features.n_windows
    slowing = _logistic(
        (np.log(np.maximum(features.slowing_ratio, 1e-12)) - np.log(SLOWING_RATIO_MIDPOINT))
        / SLOWING_LOG_SCALE
    )
    pdr = features.pdr_hz
    slow_pdr = np.where(
        np.isfinite(pdr),
        _logistic((PDR_MIDPOINT_HZ - np.nan_to_num(pdr, nan=PDR_MIDPOINT_HZ)) / PDR_SCALE_HZ),
        0.0,
    )
    if features.asymmetry_by_pair:
        asym = np.sort(np.stack(list(features.asymmetry_by_pair.values()), axis=1), axis=1)
        second = asym[:, -2] if asym.shape[1] > 1 else asym[:, -1]
        asymmetry = _logistic((second - ASYMMETRY_MIDPOINT) / ASYMMETRY_SCALE)
    else:
        asymmetry = np.zeros(n)
    suppression = _logistic(
        (features.suppression_fraction - SUPPRESSION_MIDPOINT) / SUPPRESSION_SCALE
    )
    # In a suppressed window the remaining power is mostly noise, so its ratio, PDR and
    # asymmetry mean little: let suppression speak for it.
    quiet = 1.0 - suppression
    return {
        "slowing": slowing * quiet,
        "slow_pdr": slow_pdr * quiet,
        "asymmetry": asymmetry * quiet,
        "suppression": suppression,
    }


def combine_findings(findings: Mapping[str, np.ndarray]) -> np.ndarray:
    """Noisy-OR of weighted findings: 1 - prod(1 - w_k * f_k).

    Each finding alone can make a window abnormal; several weak ones add up.
    """
    keep = np.ones_like(next(iter(findings.values())), dtype=np.float64)
    for name, score in findings.items():
        keep *= 1.0 - FINDING_WEIGHTS[name] * np.clip(score, 0.0, 1.0)
    return 1.0 - keep


def score_windows_qeeg(batch: WindowBatch, *, sleep_mask: np.ndarray | None = None) -> np.ndarray:
    """P(abnormal)-like score per window from a documented rule on qEEG features.

    The rule (no trained weights): four findings, each a logistic curve that is 0.5 at the
    edge of the normal adult range (see :func:`qeeg_findings`):

    * diffuse slowing, (delta + theta) / (alpha + beta) above 7 (Nuwer 1988; Finnigan &
      van Putten 2013);
    * a posterior dominant rhythm below 8 Hz (Lodder & van Putten 2013);
    * hemispheric asymmetry, |L - R| / (L + R) of homologous pairs above 0.6 (van Putten 2007);
    * suppression, more than half the window under 10 uV (Hirsch et al. 2021);

    combined by a noisy-OR with weights :data:`FINDING_WEIGHTS`. Sleep is not slowing: in
    windows of sleep the slowing findings do not count (see :func:`qeeg_assessment`).

    Parameters
    ----------
    batch : WindowBatch
        Windows in microvolts.
    sleep_mask : np.ndarray of bool, optional
        Windows known to be asleep (YASA's hypnogram), besides those the cheap indicator of
        :func:`processors.sleep_screen.sleep_windows` finds.

    Returns
    -------
    scores : np.ndarray, shape (n_windows,)
        In [0, 1].
    """
    return qeeg_assessment(batch, sleep_mask=sleep_mask).scores


@dataclass
class QEEGAssessment:
    """The qEEG window scores, the findings behind them and the windows taken as sleep."""

    scores: np.ndarray
    findings: dict[str, np.ndarray]
    sleep: np.ndarray


#: findings that are normal in sleep (the delta and theta of N2/N3, the absent alpha)
SLEEP_NORMAL_FINDINGS: tuple[str, ...] = ("slowing", "slow_pdr")


def qeeg_assessment(batch: WindowBatch, *, sleep_mask: np.ndarray | None = None) -> QEEGAssessment:
    """:func:`score_windows_qeeg` with its findings and its sleep windows.

    The slowing findings (:data:`SLEEP_NORMAL_FINDINGS`) are set to 0 in sleep windows: the
    windows that :func:`processors.sleep_screen.sleep_windows` finds asleep among the slow
    ones, and those of ``sleep_mask`` (YASA's hypnogram) when given.
    """
    return _assessment(batch, qeeg_findings(qeeg_features(batch)), sleep_mask)


def qeeg_assessments(batches: Sequence[WindowBatch]) -> list[QEEGAssessment]:
    """:func:`qeeg_assessment` of several recordings' windows, one spectral estimate for all.

    The features and findings are per window, so they are computed on the windows of every
    batch at once (a live worker scores one window of each of dozens of streams at a time:
    one call on all of them costs about a third of one call each); the sleep indicator
    reads each recording's own windows (its spindle baseline is the recording's).

    Parameters
    ----------
    batches : sequence of WindowBatch
        Windows of one or more recordings, on the same channels and at the same rate.

    Returns
    -------
    list of QEEGAssessment
        One per batch, in order.
    """
    if not batches:
        return []
    findings = qeeg_findings(qeeg_features(WindowBatch.concat(list(batches))))
    out = []
    start = 0
    for batch in batches:
        own = slice(start, start + batch.n_windows)
        out.append(_assessment(batch, {k: v[own] for k, v in findings.items()}, None))
        start += batch.n_windows
    return out


def _assessment(
    batch: WindowBatch, findings: dict[str, np.ndarray], sleep_mask: np.ndarray | None
) -> QEEGAssessment:
    """The scores of a batch's findings, its slowing findings cleared in sleep windows."""
    slow = combine_findings({k: findings[k] for k in SLEEP_NORMAL_FINDINGS})
    sleep = sleep_windows(batch, slow >= WINDOW_ABNORMAL_THRESHOLD)
    if sleep_mask is not None:
        known = np.asarray(sleep_mask, dtype=bool)
        if known.shape != (batch.n_windows,):
            raise WindowScoreError(
                f"sleep_mask has shape {known.shape} for {batch.n_windows} windows; give one "
                "flag per window."
            )
        sleep = sleep | known
    for name in SLEEP_NORMAL_FINDINGS:
        findings[name] = np.where(sleep, 0.0, findings[name])
    return QEEGAssessment(combine_findings(findings), findings, sleep)


def _abnormal_column(probe: Any, proba: np.ndarray) -> np.ndarray:
    """The P(abnormal) column of a predict_proba answer."""
    if proba.ndim == 1:
        return proba
    if proba.ndim != 2:
        raise ModelUnavailable(
            f"the probe's predict_proba returned an array of shape {proba.shape}; expected "
            "(n_windows,) or (n_windows, n_classes). Retrain or replace the probe."
        )
    classes = list(getattr(probe, "classes_", range(proba.shape[1])))
    for label in (1, True, "abnormal", "1"):
        if label in classes:
            return proba[:, classes.index(label)]
    if proba.shape[1] == 2:
        return proba[:, 1]
    raise ModelUnavailable(
        f"cannot tell which of the probe's classes {classes} is 'abnormal'; label the classes "
        "0/1 or 'normal'/'abnormal' when training the probe."
    )


def score_windows_probe(features: np.ndarray, probe: SupportsPredictProba) -> np.ndarray:
    """P(abnormal) per window from a trained probe on EEGPT features.

    Parameters
    ----------
    features : np.ndarray, shape (n_windows, n_features)
        EEGPT features of the windows (processors.features).
    probe : object with ``predict_proba(features)``
        E.g. processors.probe.AbnormalityProbe or a scikit-learn classifier. It may return
        P(abnormal) per window or one column per class.

    Returns
    -------
    scores : np.ndarray, shape (n_windows,)
        In [0, 1].

    Raises
    ------
    NonFiniteSamples
        NaN or infinite features.
    ModelUnavailable
        The probe has no predict_proba, does not accept the features (e.g. another feature
        width than it was trained on), or answers something that is not one probability per
        window.
    """
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[0] == 0:
        raise ModelUnavailable(
            f"probe features must be a non-empty (n_windows, n_features) array, got shape "
            f"{features.shape}; pass the output of processors.features."
        )
    if not np.isfinite(features).all():
        raise NonFiniteSamples(
            "EEGPT features hold NaN or infinite values; check the windows fed to the encoder "
            "(quality control) and the checkpoint."
        )
    if not callable(getattr(probe, "predict_proba", None)):
        raise ModelUnavailable(
            f"{type(probe).__name__} has no predict_proba; load a trained abnormality probe."
        )
    expected = getattr(probe, "n_features_in_", None)
    if expected is not None and int(expected) != features.shape[1]:
        raise ModelUnavailable(
            f"the probe was trained on {expected} features per window but got "
            f"{features.shape[1]}; retrain it on features of the current EEGPT configuration."
        )
    try:
        proba = np.asarray(probe.predict_proba(features), dtype=np.float64)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ModelUnavailable(
            f"the probe could not score {features.shape} features: {exc}; check that it was "
            "trained on features of the current EEGPT configuration."
        ) from exc
    scores = _abnormal_column(probe, proba)
    if scores.shape != (features.shape[0],):
        raise ModelUnavailable(
            f"the probe returned {scores.shape[0] if scores.ndim else 0} scores for "
            f"{features.shape[0]} windows; it must return one probability per window."
        )
    if not np.isfinite(scores).all() or (scores < 0).any() or (scores > 1).any():
        raise ModelUnavailable(
            "the probe returned values outside [0, 1] or non-finite; it must return "
            "probabilities (use predict_proba, not decision_function)."
        )
    return scores


def aggregate_abnormality(
    window_scores: np.ndarray,
    *,
    scorer: str,
    quality_weights: np.ndarray | None = None,
) -> AbnormalityResult:
    """Recording verdict from window scores.

    ``abnormal_probability`` is the larger of the quality-weighted mean window score
    (recording-level averaging of window probabilities, as in the TUAB evaluations of EEGPT)
    and the highest weighted mean over :data:`SUSTAINED_WINDOWS` consecutive windows when that
    stretch is itself abnormal (at least 0.5), so a focal stretch of abnormality (a seizure in
    a long normal record) is not averaged away;
    the recording is abnormal when it reaches 0.5. The verdict's confidence is ``|2 p - 1|``
    shrunk for short recordings by ``n / (n + 2)`` (n: effective number of windows), so a
    single window never gives a fully confident verdict and p = 0.5 gives none.

    Parameters
    ----------
    window_scores : np.ndarray, shape (n_windows,)
        Scores in [0, 1].
    scorer : str
        Name of the scorer ('qeeg-baseline', 'eegpt-probe').
    quality_weights : np.ndarray, shape (n_windows,), optional
        Non-negative weight per window (e.g. 0 for artifact windows, or the quality score);
        equal weights when None.

    Returns
    -------
    AbnormalityResult

    Raises
    ------
    NonFiniteSamples
        Non-finite scores or weights.
    WindowScoreError
        Empty scores, scores outside [0, 1], negative weights or mismatched lengths.
    """
    scores = np.asarray(window_scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise WindowScoreError(
            "no window scores to aggregate: the recording gave no usable window; score at "
            "least one 4 s window first."
        )
    if not np.isfinite(scores).all():
        raise NonFiniteSamples("window scores hold NaN or infinite values; rescore the windows.")
    if (scores < 0).any() or (scores > 1).any():
        raise WindowScoreError(
            "window scores must lie in [0, 1] (probabilities); pass predict_proba outputs or "
            "score_windows_qeeg scores, not logits or decision values."
        )
    if quality_weights is None:
        weights = np.ones_like(scores)
    else:
        weights = np.asarray(quality_weights, dtype=np.float64).ravel()
        if weights.shape != scores.shape:
            raise WindowScoreError(
                f"{weights.size} quality weights for {scores.size} window scores: give one "
                "weight per window."
            )
        if not np.isfinite(weights).all():
            raise NonFiniteSamples(
                "quality weights hold NaN or infinite values; give each window a finite "
                "weight (0 for an unusable window)."
            )
        if (weights < 0).any():
            raise WindowScoreError(
                "quality weights must be non-negative; give 0 to a window that should not count."
            )
    if weights.sum() <= 0:
        # Every window judged unusable: fall back on equal weights rather than divide by zero.
        weights = np.ones_like(scores)
    w = weights / weights.sum()
    mean_p = float(np.sum(w * scores))
    sustained = sustained_score(scores, weights, SUSTAINED_WINDOWS)
    # A sustained stretch is evidence when it is itself abnormal; below 0.5 it must not make a
    # normal verdict less confident than its windows say (a few louder windows are not a
    # focal abnormality).
    p = max(mean_p, sustained) if sustained >= WINDOW_ABNORMAL_THRESHOLD else mean_p
    n_eff = float(weights.sum() ** 2 / np.sum(weights**2))  # Kish effective sample size
    confidence = abs(2.0 * p - 1.0) * n_eff / (n_eff + _PRIOR_WINDOWS)
    result = AbnormalityResult(
        is_abnormal=p >= 0.5,
        confidence=float(np.clip(confidence, 0.0, 1.0)),
        abnormal_probability=p,
        triage_priority="expedite",
        scorer=scorer,
        n_windows=int(scores.size),
        fraction_abnormal_windows=float(np.sum(w * (scores >= WINDOW_ABNORMAL_THRESHOLD))),
        per_window=scores,
    )
    result.triage_priority = decide_triage(result, None, quality_acceptable=True)
    return result


def sustained_score(scores: np.ndarray, weights: np.ndarray, n_consecutive: int) -> float:
    """Highest weighted mean score over ``n_consecutive`` consecutive windows (0 when the
    recording has fewer windows: a short record is judged on its mean alone)."""
    if scores.size < n_consecutive:
        return 0.0
    kernel = np.ones(n_consecutive)
    weighted = np.convolve(weights * scores, kernel, mode="valid")
    total = np.convolve(weights, kernel, mode="valid")
    means = np.divide(weighted, total, out=np.zeros_like(weighted), where=total > 0)
    return float(means.max())


def _event_field(event: Any, name: str, default: Any = None) -> Any:
    if isinstance(event, Mapping):
        return event.get(name, default)
    return getattr(event, name, default)


def _summary_rate(events: Any) -> float | None:
    """``discharge_rate_per_min`` of an EventReport's summaries (object or dict), if any."""
    summaries = (
        events.get("summaries")
        if isinstance(events, Mapping)
        else getattr(events, "summaries", None)
    )
    if not isinstance(summaries, Mapping):
        return None
    rate = summaries.get("discharge_rate_per_min")
    return float(rate) if rate is not None else None


@dataclass(frozen=True)
class TriageDecision:
    """A triage priority and the rule that chose it."""

    priority: TriagePriority
    reason: str


def _confident_event_types(events: Sequence | Any | None) -> list[str]:
    if isinstance(events, Mapping):  # EventReport.to_dict()
        events = events.get("events", ())
    elif events is not None and not isinstance(events, Sequence):
        events = getattr(events, "events", events)
    return [
        str(_event_field(e, "type", ""))
        for e in (events or ())
        if (conf := _event_field(e, "confidence")) is None or float(conf) >= EVENT_MIN_CONFIDENCE
    ]


def triage_decision(
    abnormality: AbnormalityResult,
    events: Sequence | Any | None,
    quality_acceptable: bool,
    *,
    duration_s: float | None = None,
    discharges_per_min: float | None = None,
    analysable_s: float | None = None,
    no_signal: bool = False,
) -> TriageDecision:
    """Triage priority, with its reason, from the verdict, the events and the signal quality.

    The rule, first match wins:

    1. **expedite** (technical) when there is no signal at all (every channel flat): check the
       electrodes; never a clinical finding;
    2. **expedite** (technical review) when quality is not acceptable: the verdict is limited by
       signal quality, whatever it says;
    3. **urgent** if any event of type seizure, burst_suppression, PLED or GPED has a
       confidence of at least 0.5 (events without a confidence count as confident);
    4. **urgent** if the recording is abnormal with P(abnormal) >= 0.9, over at least a minute
       of analysable signal (``analysable_s``, else ``duration_s``, when given);
    5. **urgent** if epileptiform discharges are frequent: at least 6 per minute, given as
       ``discharges_per_min``, else the EventReport's ``discharge_rate_per_min`` summary, else
       counted from the events over ``duration_s``; a rate exists only over at least a minute
       (a shorter record gives a count, and at most expedite);
    6. **expedite** if the recording is abnormal, the verdict's confidence is below 0.5, the
       verdict carries an error, or there is any confident epileptiform event;
    7. **routine** otherwise: normal, confident, good quality, nothing found.

    Parameters
    ----------
    abnormality : AbnormalityResult
    events : sequence of events, an EventReport, its ``to_dict()``, or None
        Each event has ``type`` and ``confidence`` (attributes or mapping keys). From an
        EventReport (or its dict) the summary ``discharge_rate_per_min`` is read as well.
    quality_acceptable : bool
        The quality report's verdict.
    duration_s : float, optional
        Length of the recording, to turn the epileptiform count into a rate.
    discharges_per_min : float, optional
        The discharge rate when already known (EventReport summaries); overrides the count.
    analysable_s : float, optional
        Signal outside artifacts (the discharge screen's figure); a shorter span than
        :data:`MIN_URGENT_SPAN_S` never makes a rate or a background urgent.
    no_signal : bool
        Every channel flat (:attr:`processors.quality.QualityResult.no_signal`).

    Returns
    -------
    TriageDecision
    """
    span_s = analysable_s if analysable_s is not None else duration_s
    long_enough = span_s is None or span_s >= MIN_URGENT_SPAN_S
    if no_signal:
        return TriageDecision(
            "expedite", "no signal: every channel is flat; check the electrodes (technical)"
        )
    if not quality_acceptable:
        return TriageDecision(
            "expedite", "verdict limited by signal quality: expedite for technical review"
        )
    if discharges_per_min is None:
        discharges_per_min = _summary_rate(events)
    types = _confident_event_types(events)
    urgent = sorted({t for t in types if t in URGENT_EVENT_TYPES})
    if urgent:
        return TriageDecision("urgent", f"urgent event: {', '.join(urgent)}")
    probable = abnormality.is_abnormal and abnormality.abnormal_probability >= URGENT_PROBABILITY
    if probable and long_enough:
        return TriageDecision("urgent", f"P(abnormal) {abnormality.abnormal_probability:.2f}")
    n_discharges = sum(t == "epileptiform" for t in types)
    rate = discharges_per_min
    if rate is None and duration_s is not None and duration_s >= MIN_URGENT_SPAN_S:
        rate = n_discharges / (duration_s / 60.0)
    if rate is not None and rate >= URGENT_DISCHARGES_PER_MIN and long_enough:
        return TriageDecision("urgent", f"frequent discharges: {rate:.1f} a minute")
    short = "" if long_enough else f" (only {span_s:.0f} s analysable: counts, no rates)"
    if abnormality.error is not None:
        return TriageDecision("expedite", f"abnormality scoring failed: {abnormality.error}")
    if abnormality.is_abnormal:
        return TriageDecision("expedite", f"abnormal{short}")
    if n_discharges > 0:
        return TriageDecision("expedite", f"{n_discharges} epileptiform discharge(s){short}")
    if abnormality.confidence < CONFIDENT_THRESHOLD:
        return TriageDecision("expedite", "uncertain verdict")
    return TriageDecision("routine", "normal, confident, good quality, nothing found")


def decide_triage(
    abnormality: AbnormalityResult,
    events: Sequence | Any | None,
    quality_acceptable: bool,
    **options: Any,
) -> TriagePriority:
    """The priority of :func:`triage_decision` (same arguments and keywords, same rule)."""
    return triage_decision(abnormality, events, quality_acceptable, **options).priority


def add_discharge_screen(result: AbnormalityResult, screen: Any | None) -> AbnormalityResult:
    """The verdict with the discharge screen's evidence: a seizure, a periodic pattern or
    repeated discharges make the record abnormal whatever the background says.

    Parameters
    ----------
    result : AbnormalityResult
        The verdict of the window scores (qEEG or probe).
    screen : processors.events.DischargeScreen or None
        None when the screen did not run (the verdict is returned unchanged).

    Returns
    -------
    AbnormalityResult
        With ``discharge_screen`` and ``evidence`` filled in; when the screen is positive,
        ``is_abnormal`` and ``abnormal_probability`` at least :data:`SCREEN_PROBABILITY`.
    """
    if screen is None:
        return result
    result.discharge_screen = screen.to_dict()
    if not screen.positive:
        return result
    p_screen = max(
        SCREEN_PROBABILITY["seizure"] if getattr(screen, "seizure", False) else 0.0,
        SCREEN_PROBABILITY["periodic"] if screen.periodic else 0.0,
        SCREEN_PROBABILITY["repeated"] if screen.repeated else 0.0,
    )
    result.evidence = [*screen.findings(), *result.evidence]
    if p_screen > result.abnormal_probability:
        n = max(result.n_windows, 1)
        result.abnormal_probability = p_screen
        result.confidence = abs(2.0 * p_screen - 1.0) * n / (n + _PRIOR_WINDOWS)
    result.is_abnormal = True
    result.triage_priority = decide_triage(result, None, quality_acceptable=True)
    return result


def qeeg_evidence(findings: Mapping[str, np.ndarray], scores: np.ndarray) -> list[str]:
    """The qEEG findings that carry the abnormal windows: ``qeeg:<finding>`` for each finding
    whose weighted score reaches 0.5 in at least one window scored abnormal, largest first."""
    abnormal = np.asarray(scores) >= WINDOW_ABNORMAL_THRESHOLD
    if not abnormal.any():
        return []
    strength = {
        name: float(np.max(FINDING_WEIGHTS[name] * np.asarray(f)[abnormal]))
        for name, f in findings.items()
    }
    return [f"qeeg:{n}" for n, v in sorted(strength.items(), key=lambda kv: -kv[1]) if v >= 0.5]


def conservative_result(error: str, scorer: str) -> AbnormalityResult:
    """The safe answer when scoring fails: abnormal, low confidence, expedite.

    Parameters
    ----------
    error : str
        What went wrong (shown to the user).
    scorer : str
        The scorer that was attempted.

    Returns
    -------
    AbnormalityResult
        ``is_abnormal=True``, ``confidence=0.0``, ``abnormal_probability=0.5``,
        ``triage_priority='expedite'``, no window scores, carrying ``error``.
    """
    return AbnormalityResult(
        is_abnormal=True,
        confidence=0.0,
        abnormal_probability=0.5,
        triage_priority="expedite",
        scorer=scorer,
        n_windows=0,
        fraction_abnormal_windows=0.0,
        per_window=np.zeros(0),
        error=error,
    )
